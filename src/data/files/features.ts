/**
 * features files (`kind: "features"`), written by `p2phd encode` and read by
 * `p2phd cluster`: one row per instance of each encoded sample.
 *
 * | tensor     | dtype, shape        |
 * |------------|---------------------|
 * | `features` | F32 [N, feat_num]   |
 * | `class`    | I32 [N]             |
 * | `instance` | I32 [N]             |
 * | `area`     | F32 [N] pixels / (H*W // 32), the reference's ratio |
 * | `sample`   | I32 [N] index into the metadata's `samples` list    |
 *
 * Metadata: `feat_num`, `samples` (the sample names, in encoding order).
 */
import { InputError } from '../../errors.js';
import { makeTensor, type Tensor } from '../formats/safetensors.js';
import { readTensorFile, requireTensor, writeTensorFile } from './tensorFile.js';

/** Per-instance feature rows of one or more samples, column by column. */
export interface FeatureTable {
  readonly featNum: number;
  /** Row-major [rows, featNum]. */
  readonly features: Float32Array;
  readonly classes: Int32Array;
  readonly instances: Int32Array;
  readonly areas: Float32Array;
  /** Index into `sampleNames` for each row. */
  readonly samples: Int32Array;
  readonly sampleNames: readonly string[];
}

export function featureRowCount(table: FeatureTable): number {
  return table.classes.length;
}

/** The feature vector of one row (a view, not a copy). */
export function featureRow(table: FeatureTable, row: number): Float32Array {
  return table.features.subarray(row * table.featNum, (row + 1) * table.featNum);
}

function concatTyped<T extends Float32Array | Int32Array>(parts: readonly T[], make: (length: number) => T): T {
  const out = make(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/**
 * Concatenates tables in order; sample indices are shifted so that each row
 * still names its own sample. This is how encode shards are merged, so the
 * result is the table a single unsharded run would hold when the shards are
 * given in order.
 */
export function concatFeatureTables(tables: readonly FeatureTable[], featNum?: number): FeatureTable {
  const width = featNum ?? tables[0]?.featNum;
  if (width === undefined) throw new Error('concatFeatureTables: no tables and no feat_num');
  for (const table of tables) {
    if (table.featNum !== width) throw new Error(`concatFeatureTables: feat_num ${table.featNum} differs from ${width}`);
  }
  const sampleNames: string[] = [];
  const shiftedSamples: Int32Array[] = [];
  for (const table of tables) {
    const shift = sampleNames.length;
    shiftedSamples.push(table.samples.map((index) => index + shift));
    sampleNames.push(...table.sampleNames);
  }
  return {
    featNum: width,
    features: concatTyped(tables.map((t) => t.features), (n) => new Float32Array(n)),
    classes: concatTyped(tables.map((t) => t.classes), (n) => new Int32Array(n)),
    instances: concatTyped(tables.map((t) => t.instances), (n) => new Int32Array(n)),
    areas: concatTyped(tables.map((t) => t.areas), (n) => new Float32Array(n)),
    samples: concatTyped(shiftedSamples, (n) => new Int32Array(n)),
    sampleNames,
  };
}

/** Writes a features file atomically ('-' = stdout). */
export async function writeFeaturesFile(path: string, table: FeatureTable, extraMeta: Record<string, unknown> = {}): Promise<void> {
  const rows = featureRowCount(table);
  const tensors = new Map<string, Tensor>([
    ['features', makeTensor('F32', [rows, table.featNum], table.features)],
    ['class', makeTensor('I32', [rows], table.classes)],
    ['instance', makeTensor('I32', [rows], table.instances)],
    ['area', makeTensor('F32', [rows], table.areas)],
    ['sample', makeTensor('I32', [rows], table.samples)],
  ]);
  await writeTensorFile(path, 'features', tensors, { ...extraMeta, feat_num: table.featNum, samples: [...table.sampleNames] });
}

/**
 * Reads and validates a features file ('-' = stdin): shapes agree, classes
 * and instance ids are non-negative, areas finite and non-negative, sample
 * indices inside the metadata's list. Any violation is exit 3 naming the file.
 */
export async function readFeaturesFile(path: string): Promise<FeatureTable> {
  const file = await readTensorFile(path, 'features');
  const source = file.source;
  const features = requireTensor(file, 'features', ['F32']);
  const classes = requireTensor(file, 'class', ['I32']);
  const instances = requireTensor(file, 'instance', ['I32']);
  const areas = requireTensor(file, 'area', ['F32']);
  const samples = requireTensor(file, 'sample', ['I32']);
  if (features.shape.length !== 2) {
    throw new InputError(`${source}: tensor "features" has shape [${features.shape.join(', ')}], expected [rows, feat_num]`);
  }
  const [rows, featNum] = features.shape as [number, number];
  if (featNum < 1) throw new InputError(`${source}: tensor "features" has no feature columns`);
  for (const [name, tensor] of [['class', classes], ['instance', instances], ['area', areas], ['sample', samples]] as const) {
    if (tensor.shape.length !== 1 || tensor.shape[0] !== rows) {
      throw new InputError(`${source}: tensor "${name}" has shape [${tensor.shape.join(', ')}], expected [${rows}] (one per feature row)`);
    }
  }
  const metaFeatNum = file.p2phd['feat_num'];
  if (metaFeatNum !== undefined && metaFeatNum !== featNum) {
    throw new InputError(`${source}: metadata feat_num ${JSON.stringify(metaFeatNum)} disagrees with the features tensor's ${featNum} columns`);
  }
  const names = file.p2phd['samples'];
  if (!Array.isArray(names) || !names.every((name): name is string => typeof name === 'string')) {
    throw new InputError(`${source}: metadata "samples" must be a list of sample names`);
  }
  const classData = classes.data as Int32Array;
  const instanceData = instances.data as Int32Array;
  const areaData = areas.data as Float32Array;
  const sampleData = samples.data as Int32Array;
  for (let row = 0; row < rows; row++) {
    if (classData[row]! < 0) throw new InputError(`${source}: row ${row} has a negative class ${classData[row]}`);
    if (instanceData[row]! < 0) throw new InputError(`${source}: row ${row} has a negative instance id ${instanceData[row]}`);
    const area = areaData[row]!;
    if (!Number.isFinite(area) || area < 0) throw new InputError(`${source}: row ${row} has an invalid area ${area}`);
    const sample = sampleData[row]!;
    if (sample < 0 || sample >= names.length) {
      throw new InputError(`${source}: row ${row} names sample ${sample}, but the metadata lists ${names.length} samples`);
    }
  }
  const featureData = features.data as Float32Array;
  for (let i = 0; i < featureData.length; i++) {
    if (!Number.isFinite(featureData[i]!)) {
      throw new InputError(`${source}: row ${Math.floor(i / featNum)} has a non-finite feature value`);
    }
  }
  return {
    featNum,
    features: featureData,
    classes: classData,
    instances: instanceData,
    areas: areaData,
    samples: sampleData,
    sampleNames: names,
  };
}
