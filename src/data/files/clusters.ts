/**
 * clusters files (`kind: "clusters"`), written by `p2phd cluster` and read by
 * `p2phd synthesize`: `centers.<class>` F32 [k_c, feat_num] for every class
 * that had at least one row with area > min_area. Metadata: k, min_area,
 * seed (and feat_num).
 */
import { InputError } from '../../errors.js';
import { makeTensor, type Tensor } from '../formats/safetensors.js';
import { readTensorFile, writeTensorFile } from './tensorFile.js';

/** The style centres of one class: k_c rows of feat_num values. */
export interface ClassCenters {
  readonly count: number;
  /** Row-major [count, featNum]. */
  readonly values: Float32Array;
}

export interface ClusterSet {
  /** Columns of every centre; 0 for a file with no centres that does not say (its readers use their model's feat_num). */
  readonly featNum: number;
  /** Class id -> its centres; classes without rows are absent. */
  readonly centers: ReadonlyMap<number, ClassCenters>;
  readonly k: number;
  readonly minArea: number;
  readonly seed: number;
}

export const CENTERS_PREFIX = 'centers.';

/** One centre of a class (a view). */
export function centerOf(centers: ClassCenters, featNum: number, index: number): Float32Array {
  return centers.values.subarray(index * featNum, (index + 1) * featNum);
}

/** The largest k_c over all classes: how many outputs `--style all` writes. */
export function maxClusterCount(set: ClusterSet): number {
  let most = 0;
  for (const centers of set.centers.values()) most = Math.max(most, centers.count);
  return most;
}

/** Writes a clusters file atomically ('-' = stdout); classes in ascending order. */
export async function writeClustersFile(path: string, set: ClusterSet): Promise<void> {
  const tensors = new Map<string, Tensor>();
  for (const classId of [...set.centers.keys()].sort((a, b) => a - b)) {
    const centers = set.centers.get(classId)!;
    tensors.set(`${CENTERS_PREFIX}${classId}`, makeTensor('F32', [centers.count, set.featNum], centers.values));
  }
  await writeTensorFile(path, 'clusters', tensors, { k: set.k, min_area: set.minArea, seed: set.seed, feat_num: set.featNum });
}

/**
 * Reads and validates a clusters file: every tensor is `centers.<class id>`,
 * F32 [k_c >= 1, feat_num] with one feat_num for all, finite values.
 */
export async function readClustersFile(path: string): Promise<ClusterSet> {
  const file = await readTensorFile(path, 'clusters');
  const source = file.source;
  const centers = new Map<number, ClassCenters>();
  const declared = file.p2phd['feat_num'];
  if (declared !== undefined && !(typeof declared === 'number' && Number.isSafeInteger(declared) && declared >= 1)) {
    throw new InputError(`${source}: metadata feat_num must be a positive integer, got ${JSON.stringify(declared)}`);
  }
  let featNum: number | undefined = declared;
  for (const [name, tensor] of file.tensors) {
    const match = /^centers\.(\d+)$/.exec(name);
    if (!match) throw new InputError(`${source}: unexpected tensor "${name}" (a clusters file holds only centers.<class id>)`);
    const classId = Number(match[1]);
    if (tensor.dtype !== 'F32') throw new InputError(`${source}: tensor "${name}" is ${tensor.dtype}, expected F32`);
    if (tensor.shape.length !== 2 || tensor.shape[0]! < 1 || tensor.shape[1]! < 1) {
      throw new InputError(`${source}: tensor "${name}" has shape [${tensor.shape.join(', ')}], expected [k_c >= 1, feat_num]`);
    }
    const width = tensor.shape[1]!;
    if (featNum === undefined) featNum = width;
    if (width !== featNum) {
      throw new InputError(`${source}: tensor "${name}" has ${width} feature columns, expected ${featNum} like the others`);
    }
    const values = tensor.data as Float32Array;
    if (!values.every(Number.isFinite)) throw new InputError(`${source}: tensor "${name}" holds non-finite values`);
    centers.set(classId, { count: tensor.shape[0]!, values });
  }
  const numberMeta = (key: string): number => {
    const value = file.p2phd[key];
    return typeof value === 'number' ? value : Number.NaN;
  };
  return { featNum: featNum ?? 0, centers, k: numberMeta('k'), minArea: numberMeta('min_area'), seed: numberMeta('seed') };
}
