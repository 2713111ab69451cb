/**
 * Names of label classes, and which of them are "things" (classes whose
 * objects have their own instance ids, class x 1000 + n): Cityscapes' table
 * for label_nc 35, or a user's file (`p2phd edit --class-names FILE`).
 */
import { readInputText } from '../formats/inputFile.js';
import { InputError } from '../../errors.js';

export interface ClassInfo {
  readonly name: string;
  /** Objects of this class get instance ids class x 1000 + n. */
  readonly thing: boolean;
}

/** Cityscapes label ids 0..33 and the licence plate (34), as its labels table names them; 24-33 have instances. */
const CITYSCAPES_NAMES: readonly string[] = Object.freeze([
  'unlabeled', 'ego vehicle', 'rectification border', 'out of roi', 'static',
  'dynamic', 'ground', 'road', 'sidewalk', 'parking',
  'rail track', 'building', 'wall', 'fence', 'guard rail',
  'bridge', 'tunnel', 'pole', 'polegroup', 'traffic light',
  'traffic sign', 'vegetation', 'terrain', 'sky', 'person',
  'rider', 'car', 'truck', 'bus', 'caravan',
  'trailer', 'train', 'motorcycle', 'bicycle', 'license plate',
]);
const CITYSCAPES_THINGS: ReadonlySet<number> = new Set([24, 25, 26, 27, 28, 29, 30, 31, 32, 33]);

/** Cityscapes' classes for label_nc 35; "class N" (no things) for any other label_nc. */
export function defaultClasses(labelNc: number): ClassInfo[] {
  if (labelNc === CITYSCAPES_NAMES.length) return CITYSCAPES_NAMES.map((name, id) => ({ name, thing: CITYSCAPES_THINGS.has(id) }));
  return Array.from({ length: labelNc }, (_, id) => ({ name: `class ${id}`, thing: false }));
}

/** Longest class name accepted (they are shown in a palette). */
const MAX_NAME_LENGTH = 64;

/**
 * Parses a class-names file: one line per class id from 0, its name; a
 * leading `*` marks a thing class (objects with instance ids). Blank lines
 * and lines starting with `#` are skipped. Exactly `labelNc` names.
 */
export function parseClassNames(text: string, labelNc: number, source: string): ClassInfo[] {
  const classes: ClassInfo[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const thing = line.startsWith('*');
    const name = (thing ? line.slice(1) : line).trim();
    if (name === '' || name.length > MAX_NAME_LENGTH || /[\u0000-\u001f\u007f]/.test(name)) {
      throw new InputError(`--class-names ${source}: line for class ${classes.length} is not a name of 1-${MAX_NAME_LENGTH} printable characters`);
    }
    classes.push({ name, thing });
  }
  if (classes.length !== labelNc) throw new InputError(`--class-names ${source}: ${classes.length} names, but the model has label_nc ${labelNc}`);
  return classes;
}

/** Reads a class-names file (exit 3 when unreadable or wrong). */
export async function readClassNames(path: string, labelNc: number): Promise<ClassInfo[]> {
  let text: string;
  try {
    text = await readInputText(path, 'a class-names file');
  } catch (error) {
    throw new InputError(`--class-names ${(error as Error).message}`);
  }
  return parseClassNames(text, labelNc, path);
}
