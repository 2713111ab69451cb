/**
 * Finding input files: a quoted glob pattern or a folder (searched
 * recursively for images, as the reference's make_dataset walks its folders),
 * sorted by path, and the pairing of label, instance and photo lists by
 * sorted position. Every failure names the pattern or files involved.
 */
import { readdirSync, realpathSync, statSync, type Dirent, type Stats } from 'node:fs';
import { basename, extname, join, sep } from 'node:path';
import fg from 'fast-glob';
import { InputError } from '../../errors.js';

/** Image file extensions a folder is searched for (the reference's IMG_EXTENSIONS, plus webp/tif). */
export const IMAGE_EXTENSIONS = Object.freeze(['png', 'jpg', 'jpeg', 'ppm', 'bmp', 'tif', 'tiff', 'webp'] as const);

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** Compares paths by code unit, as Python's sorted() on str does for the reference's names. */
function byPath(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function statOrUndefined(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

/** Whether one of two resolved folders holds the other (or they are one). */
function nested(a: string, b: string): boolean {
  const inside = (path: string, folder: string): boolean => path === folder || path.startsWith(folder.endsWith(sep) ? folder : folder + sep);
  return inside(a, b) || inside(b, a);
}

/**
 * Files under `folder` whose names match `wanted`, as paths below it.
 * Symbolic links to files are listed; a link to a folder is followed only
 * when that folder neither holds nor lies in a folder already walked, so no
 * file is listed twice and a cycle (`ln -s . self`, `ln -s .. up`), which
 * would otherwise recurse until memory runs out, ends at once.
 */
function filesUnder(folder: string, wanted: RegExp, walked: string[]): string[] {
  let real: string;
  try {
    real = realpathSync(folder);
  } catch {
    return [];
  }
  if (walked.some((done) => nested(real, done))) return [];
  walked.push(real);
  const found: string[] = [];
  // Walked with readdir, not a glob: glob patterns skip names holding a
  // newline (and any such folder), which would drop inputs without a word.
  // Hidden names (.x) are skipped, as a glob without `dot` does. Links are
  // resolved here, where cycles are caught.
  const walk = (directory: string): void => {
    let entries: Dirent[];
    try {
      entries = readdirSync(directory, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      if (entry.name.startsWith('.')) continue;
      const path = join(directory, entry.name);
      if (entry.isSymbolicLink()) {
        const target = statOrUndefined(path);
        if (target?.isDirectory()) found.push(...filesUnder(path, wanted, walked));
        else if (target?.isFile() && wanted.test(entry.name)) found.push(path);
      } else if (entry.isDirectory()) {
        walk(path);
      } else if (entry.isFile() && wanted.test(entry.name)) {
        found.push(path);
      }
    }
  };
  walk(folder);
  return found;
}

/** The files a glob pattern matches (links to files included; links to folders are not descended, so no cycle can trap `**`). */
export function filesMatching(pattern: string): string[] {
  return fg.sync(pattern, { onlyFiles: false, followSymbolicLinks: false, objectMode: true, dot: false })
    .filter((entry) => entry.dirent.isFile() || (entry.dirent.isSymbolicLink() && statOrUndefined(entry.path)?.isFile() === true))
    .map((entry) => entry.path);
}

/**
 * The files a pattern names, sorted. A path that exists as a file is taken
 * literally, even when it holds glob characters (`label (1).png`,
 * `x [a].png`). A folder means every image file under it; `extensions`
 * narrows a folder search (e.g. ['safetensors']). An empty result is an
 * InputError naming the pattern.
 */
export function listFiles(pattern: string, what: string, extensions: readonly string[] = IMAGE_EXTENSIONS): string[] {
  const stats = statOrUndefined(pattern);
  let files: string[];
  if (stats?.isFile()) {
    files = [pattern];
  } else if (stats?.isDirectory()) {
    const wanted = new RegExp(`\\.(${extensions.map((extension) => extension.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|')})$`, 'i');
    files = filesUnder(pattern, wanted, []);
    if (files.length === 0) throw new InputError(`${pattern}: folder holds no ${what} (looked for *.${extensions.join(', *.')})`);
  } else {
    files = filesMatching(pattern);
    if (files.length === 0) {
      const hint = fg.isDynamicPattern(pattern) ? 'matches no files' : 'no such file or folder';
      throw new InputError(`${pattern}: ${hint} (expected ${what})`);
    }
  }
  return files.sort(byPath);
}

/** One training pair: a label map and, when given, its instance map and photo. */
export interface InputPair {
  label: string;
  inst?: string;
  image?: string;
}

export interface InputLists {
  labels: { pattern: string; files: string[] };
  instances?: { pattern: string; files: string[] };
  images?: { pattern: string; files: string[] };
}

/** The lists that globs (or folders) name: label maps, and instance maps and photos when given. */
export function globInputLists(globs: { labels: string; instances?: string | undefined; images?: string | undefined }): InputLists {
  const lists: InputLists = { labels: { pattern: globs.labels, files: listFiles(globs.labels, 'label maps') } };
  if (globs.instances !== undefined) lists.instances = { pattern: globs.instances, files: listFiles(globs.instances, 'instance maps') };
  if (globs.images !== undefined) lists.images = { pattern: globs.images, files: listFiles(globs.images, 'photos') };
  return lists;
}

/**
 * The suffix that names a list's kind (`_gtFine_labelIds`, `_leftImg8bit`):
 * the suffix all stems share, starting at a separator (a partial word belongs
 * to the base), without leading all-digit segments (a frame number every file
 * happens to share belongs to the base too).
 */
export function kindSuffix(stems: readonly string[]): string {
  let suffix = commonSuffix(stems);
  const isSeparator = (c: string | undefined): boolean => c === '_' || c === '-' || c === '.';
  if (suffix.length > 0 && !isSeparator(suffix[0])) {
    const next = [...suffix].findIndex(isSeparator);
    suffix = next < 0 ? '' : suffix.slice(next);
  }
  for (let digits = /^[_.-]\d+(?=[_.-]|$)/.exec(suffix); digits; digits = /^[_.-]\d+(?=[_.-]|$)/.exec(suffix)) {
    suffix = suffix.slice(digits[0].length);
  }
  return suffix;
}

/** Stems minus their kind suffix: `x_gtFine_labelIds` and `x_leftImg8bit` both give `x`. */
function baseNames(files: readonly string[]): string[] {
  const stems = files.map(fileStem);
  const suffix = kindSuffix(stems);
  return stems.map((stem) => stem.slice(0, stem.length - suffix.length));
}

function describeCountMismatch(a: { pattern: string; files: string[] }, b: { pattern: string; files: string[] }): string {
  const counts = `${a.files.length} files in ${a.pattern} but ${b.files.length} in ${b.pattern}`;
  const [longer, shorter] = a.files.length > b.files.length ? [a, b] : [b, a];
  // Name the files whose base name has no counterpart, when names make that clear.
  const shorterBases = new Set(baseNames(shorter.files));
  const longerBases = baseNames(longer.files);
  const unmatched = longer.files.filter((_, i) => !shorterBases.has(longerBases[i]!));
  if (unmatched.length > 0 && unmatched.length <= longer.files.length - shorter.files.length) {
    const listed = unmatched.slice(0, 3).join(', ') + (unmatched.length > 3 ? ', ...' : '');
    return `${counts}: no counterpart in ${shorter.pattern} for ${listed}`;
  }
  const extra = longer.files.slice(shorter.files.length, shorter.files.length + 3).join(', ');
  return `${counts}; files are paired in sorted order, so ${longer.pattern} has unpaired files from ${extra}` +
    (longer.files.length - shorter.files.length > 3 ? ', ...' : '');
}

/** Pairs the lists by sorted position; differing counts are an InputError naming both patterns and the unpaired files. */
export function pairInputs(lists: InputLists): InputPair[] {
  for (const other of [lists.instances, lists.images]) {
    if (other && other.files.length !== lists.labels.files.length) {
      throw new InputError(describeCountMismatch(lists.labels, other));
    }
  }
  return lists.labels.files.map((label, i) => {
    const pair: InputPair = { label };
    if (lists.instances) pair.inst = lists.instances.files[i]!;
    if (lists.images) pair.image = lists.images.files[i]!;
    return pair;
  });
}

/** A file's name without folder and extension: `a/b/x_labelIds.png` -> `x_labelIds`. */
export function fileStem(path: string): string {
  const name = basename(path);
  return name.slice(0, name.length - extname(name).length);
}

/**
 * Output names, one per file (its stem + suffix); two files with one name are
 * an InputError naming both (`what`: the kind of file, e.g. 'label').
 */
export function uniqueOutputNames(files: readonly string[], suffix: string, what: string): string[] {
  const seen = new Map<string, string>();
  return files.map((file) => {
    const name = `${fileStem(file)}${suffix}`;
    const previous = seen.get(name);
    if (previous !== undefined) {
      throw new InputError(`${previous} and ${file}: both would be written as ${name} (${what} file names must be unique)`);
    }
    seen.set(name, file);
    return name;
  });
}

/** Output names per pair (label stem + suffix); two labels with one stem are an InputError naming both. */
export function outputNames(pairs: readonly InputPair[], suffix: string): string[] {
  return uniqueOutputNames(pairs.map((pair) => pair.label), suffix, 'label');
}

/** Whether `path` is an existing folder (for optional dataroot sub-folders). */
export function folderExists(path: string): boolean {
  return isDirectory(path);
}

/** The longest suffix every string of the list ends with. */
function commonSuffix(names: readonly string[]): string {
  if (names.length === 0) return '';
  let suffix = names[0]!;
  for (const name of names) {
    while (!name.endsWith(suffix)) suffix = suffix.slice(1);
  }
  return suffix;
}

/**
 * A sanity check the reference does not make: pairing is by sorted position
 * only, so a missing file shifts every later pair silently when counts still
 * match. Each list's stems minus the suffix all its stems share (e.g.
 * `_gtFine_labelIds`, `_leftImg8bit`) should agree pair by pair. Returns the
 * first pair whose bases differ, or undefined.
 */
export function findMisnamedPair(pairs: readonly InputPair[]): { label: string; other: string } | undefined {
  const kinds: Array<(pair: InputPair) => string | undefined> = [(pair) => pair.inst, (pair) => pair.image];
  const labelBases = baseNames(pairs.map((pair) => pair.label));
  for (const pick of kinds) {
    const others = pairs.map(pick);
    if (others.some((other) => other === undefined)) continue;
    const otherBases = baseNames(others as string[]);
    const i = labelBases.findIndex((base, k) => base !== otherBases[k]);
    if (i >= 0) return { label: pairs[i]!.label, other: others[i]! };
  }
  return undefined;
}
