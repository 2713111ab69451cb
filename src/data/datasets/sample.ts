/**
 * Sample files (`kind: "sample"`), one per training pair: written by
 * preprocess, read by training, encode and synthesize. Schema (contract):
 *
 *   label      U8 [H, W] class ids (U16 when label_nc > 256)   label_nc > 0
 *   label_rgb  U8 [H, W, 3]                                     label_nc = 0
 *   inst       I32 [H, W] instance ids                          unless --no-instance
 *   edges      U8 [H, W] 4-neighbour instance boundaries        unless --no-instance
 *   image      U8 [H, W, 3] the photo                           when photos are given
 *   onehot     U8 [label_nc, H, W]                              with --onehot
 *
 * Metadata (inside the p2phd entry): label_nc, size [H, W], sources (file
 * names), resize (mode, load_size, fine_size, size_base, source_size, filters).
 */
import { InputError } from '../../errors.js';
import { makeTensor, type DType, type DTypeArrays, type Tensor } from '../formats/safetensors.js';
import { findLabelOutOfRange } from './labels.js';
import { readTensorFile, requireTensor, writeTensorFile, type TensorFile } from '../files/tensorFile.js';
import type { ResizeMode } from './resize.js';

export const SAMPLE_KIND = 'sample';

export const SampleTensorNames = Object.freeze({
  label: 'label',
  labelRgb: 'label_rgb',
  inst: 'inst',
  edges: 'edges',
  image: 'image',
  onehot: 'onehot',
} as const);

export interface SampleSources {
  label: string;
  inst?: string;
  image?: string;
}

export interface SampleResizeRecord {
  mode: ResizeMode;
  load_size: number;
  /** Side of training's random crop (for the *_crop modes). */
  fine_size: number;
  /** Multiple the 'none' mode rounds sizes to (the reference's __make_power_2 base). */
  size_base: number;
  /** [H, W] of the source files. */
  source_size: [number, number];
  /** Filters used: label/instance maps and photos. */
  map_filter: 'nearest';
  image_filter: 'bicubic';
}

export interface SampleMetadata {
  label_nc: number;
  size: [number, number];
  sources: SampleSources;
  resize: SampleResizeRecord;
}

/** A sample in memory. Maps are row-major [H, W]; images interleaved [H, W, 3]. */
export interface Sample {
  height: number;
  width: number;
  labelNc: number;
  /** Class ids (label_nc > 0). */
  label?: Uint8Array | Uint16Array;
  /** The colour label map (label_nc = 0). */
  labelRgb?: Uint8Array;
  inst?: Int32Array;
  edges?: Uint8Array;
  image?: Uint8Array;
  /** [label_nc, H, W]. */
  onehot?: Uint8Array;
}

/** The tensors of a sample file, in schema order. */
export function sampleTensors(sample: Sample): Map<string, Tensor> {
  const { height: h, width: w } = sample;
  const tensors = new Map<string, Tensor>();
  if (sample.label) {
    tensors.set(SampleTensorNames.label, sample.label instanceof Uint16Array
      ? makeTensor('U16', [h, w], sample.label)
      : makeTensor('U8', [h, w], sample.label));
  }
  if (sample.labelRgb) tensors.set(SampleTensorNames.labelRgb, makeTensor('U8', [h, w, 3], sample.labelRgb));
  if (sample.inst) tensors.set(SampleTensorNames.inst, makeTensor('I32', [h, w], sample.inst));
  if (sample.edges) tensors.set(SampleTensorNames.edges, makeTensor('U8', [h, w], sample.edges));
  if (sample.image) tensors.set(SampleTensorNames.image, makeTensor('U8', [h, w, 3], sample.image));
  if (sample.onehot) tensors.set(SampleTensorNames.onehot, makeTensor('U8', [sample.labelNc, h, w], sample.onehot));
  return tensors;
}

/** Writes a sample file atomically. */
export async function writeSample(path: string, sample: Sample, metadata: SampleMetadata): Promise<void> {
  await writeTensorFile(path, SAMPLE_KIND, sampleTensors(sample), { ...metadata });
}

export interface LoadedSample extends Sample {
  source: string;
  metadata: SampleMetadata;
}

function checkShape(file: TensorFile, name: string, tensor: Tensor, expected: readonly number[]): void {
  if (tensor.shape.length !== expected.length || tensor.shape.some((d, i) => d !== expected[i])) {
    throw new InputError(`${file.source}: tensor "${name}" has shape [${tensor.shape.join(', ')}], expected [${expected.join(', ')}]`);
  }
}

/** The data of a schema tensor, after checking it is there, its dtype is one of `dtypes`, and its shape. */
function schemaTensor<D extends DType>(file: TensorFile, name: string, dtypes: readonly D[], shape: readonly number[]): DTypeArrays[D] {
  const tensor = requireTensor(file, name, dtypes);
  checkShape(file, name, tensor, shape);
  return tensor.data as DTypeArrays[D];
}

function readMetadata(file: TensorFile): SampleMetadata {
  if (file.p2phd['aligned'] === true) {
    throw new InputError(`${file.source}: is an aligned A|B (pix2pix) sample, not a label/photo sample (train it with p2phd train pix2pix)`);
  }
  const labelNc = file.p2phd['label_nc'];
  const size = file.p2phd['size'];
  if (!Number.isSafeInteger(labelNc) || (labelNc as number) < 0) {
    throw new InputError(`${file.source}: sample metadata has no valid label_nc (got ${JSON.stringify(labelNc)})`);
  }
  if (!Array.isArray(size) || size.length !== 2 || !size.every((d) => Number.isSafeInteger(d) && d > 0)) {
    throw new InputError(`${file.source}: sample metadata has no valid size [H, W] (got ${JSON.stringify(size)})`);
  }
  return file.p2phd as unknown as SampleMetadata;
}

/**
 * Checks a sample file against the schema: the tensors its label_nc calls
 * for, dtypes, shapes matching `size`, and label ids below label_nc.
 */
export function validateSample(file: TensorFile): LoadedSample {
  const metadata = readMetadata(file);
  const labelNc = metadata.label_nc;
  const [height, width] = metadata.size;
  const sample: LoadedSample = { source: file.source, metadata, height, width, labelNc };
  if (labelNc > 0) {
    const ids = schemaTensor(file, SampleTensorNames.label, ['U8', 'U16'], [height, width]);
    const bad = findLabelOutOfRange(ids, width, labelNc);
    if (bad) throw new InputError(`${file.source}: label id ${bad.id} at pixel (${bad.x}, ${bad.y}) is out of range (label_nc ${labelNc})`);
    sample.label = ids;
  } else {
    sample.labelRgb = schemaTensor(file, SampleTensorNames.labelRgb, ['U8'], [height, width, 3]);
  }
  if (file.tensors.has(SampleTensorNames.inst)) {
    sample.inst = schemaTensor(file, SampleTensorNames.inst, ['I32'], [height, width]);
    sample.edges = schemaTensor(file, SampleTensorNames.edges, ['U8'], [height, width]);
  }
  if (file.tensors.has(SampleTensorNames.image)) sample.image = schemaTensor(file, SampleTensorNames.image, ['U8'], [height, width, 3]);
  if (file.tensors.has(SampleTensorNames.onehot)) sample.onehot = schemaTensor(file, SampleTensorNames.onehot, ['U8'], [labelNc, height, width]);
  return sample;
}

/** Reads and validates a sample file ('-' = stdin). */
export async function readSample(path: string): Promise<LoadedSample> {
  return validateSample(await readTensorFile(path, SAMPLE_KIND));
}
