/**
 * Aligned sample files (pix2pix): `kind: "sample"` like pix2pixHD's, told
 * apart by `aligned: true` in the metadata. One per A|B file, written by
 * `p2phd preprocess --aligned`, read by `p2phd train pix2pix`.
 *
 *   A  U8 [H, W, input_nc]   the network input (after --direction)
 *   B  U8 [H, W, output_nc]  the target
 *
 * Metadata (inside the p2phd entry): aligned: true, input_nc, output_nc,
 * direction, size [H, W], source (the A|B file), resize (mode, load_size,
 * crop_size, size_base, source_size [H, W] of one half, image_filter,
 * scale_width: 'keep_aspect', see aligned.ts).
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { InputError, UsageError } from '../../errors.js';
import { makeTensor, type Tensor } from '../formats/safetensors.js';
import { readTensorFile, readTensorFileHeader, requireTensor, writeTensorFile, type TensorFile } from '../files/tensorFile.js';
import { RESIZE_MODES, type ResizeMode } from './resize.js';
import { DIRECTIONS, type AlignedImages, type Direction } from './aligned.js';

export const ALIGNED_SAMPLE_KIND = 'sample';

export const AlignedTensorNames = Object.freeze({ a: 'A', b: 'B' } as const);

export interface AlignedResizeRecord {
  mode: ResizeMode;
  load_size: number;
  /** Side of training's random crop (the *crop modes). */
  crop_size: number;
  /** Multiple the 'none' mode rounds sides to (4, the reference's __make_power_2 base). */
  size_base: number;
  /** [H, W] of one half of the source file, before any resize. */
  source_size: [number, number];
  image_filter: 'bicubic';
  /** How scale_width* treats images that come out shorter than crop_size (the reference stretches them; see aligned.ts). */
  scale_width: 'keep_aspect';
}

export interface AlignedSampleMetadata {
  aligned: true;
  input_nc: number;
  output_nc: number;
  direction: Direction;
  size: [number, number];
  source: string;
  resize: AlignedResizeRecord;
}

export interface LoadedAlignedSample extends AlignedImages {
  source: string;
  metadata: AlignedSampleMetadata;
}

export function alignedSampleTensors(images: AlignedImages): Map<string, Tensor> {
  const { height: h, width: w } = images;
  return new Map<string, Tensor>([
    [AlignedTensorNames.a, makeTensor('U8', [h, w, images.aChannels], images.a)],
    [AlignedTensorNames.b, makeTensor('U8', [h, w, images.bChannels], images.b)],
  ]);
}

/** Writes an aligned sample file atomically. */
export async function writeAlignedSample(path: string, images: AlignedImages, metadata: AlignedSampleMetadata): Promise<void> {
  await writeTensorFile(path, ALIGNED_SAMPLE_KIND, alignedSampleTensors(images), { ...metadata });
}

/** Whether a sample file's metadata marks it aligned (pix2pix) rather than a pix2pixHD label/photo sample. */
export function isAlignedMetadata(p2phd: Record<string, unknown>): boolean {
  return p2phd['aligned'] === true;
}

/** The metadata's source and p2phd entry: all the metadata checks read (a header will do). */
type MetadataOf = Pick<TensorFile, 'source' | 'p2phd'>;

function channelCount(file: MetadataOf, key: string): number {
  const value = file.p2phd[key];
  if (value !== 1 && value !== 3) throw new InputError(`${file.source}: aligned sample metadata has no valid ${key} (1 or 3; got ${JSON.stringify(value)})`);
  return value;
}

function readAlignedMetadata(file: MetadataOf): AlignedSampleMetadata {
  const p2phd = file.p2phd;
  if (!isAlignedMetadata(p2phd)) {
    throw new InputError(`${file.source}: is a pix2pixHD label/photo sample, not an aligned A|B sample (make those with p2phd preprocess --aligned)`);
  }
  channelCount(file, 'input_nc');
  channelCount(file, 'output_nc');
  const size = p2phd['size'];
  if (!Array.isArray(size) || size.length !== 2 || !size.every((d) => Number.isSafeInteger(d) && d > 0)) {
    throw new InputError(`${file.source}: sample metadata has no valid size [H, W] (got ${JSON.stringify(size)})`);
  }
  if (!(DIRECTIONS as readonly unknown[]).includes(p2phd['direction'])) {
    throw new InputError(`${file.source}: aligned sample metadata has no valid direction (got ${JSON.stringify(p2phd['direction'])})`);
  }
  const resize = p2phd['resize'] as Record<string, unknown> | undefined;
  if (typeof resize !== 'object' || resize === null || !(RESIZE_MODES as readonly unknown[]).includes(resize['mode'])
    || !Number.isSafeInteger(resize['crop_size']) || (resize['crop_size'] as number) < 1) {
    throw new InputError(`${file.source}: aligned sample metadata has no valid resize record (mode, crop_size)`);
  }
  return p2phd as unknown as AlignedSampleMetadata;
}

/** Checks an aligned sample file against the schema (metadata, tensors, dtypes, shapes). */
export function validateAlignedSample(file: TensorFile): LoadedAlignedSample {
  const metadata = readAlignedMetadata(file);
  const [height, width] = metadata.size;
  const tensor = (name: string, channels: number): Uint8Array => {
    const found = requireTensor(file, name, ['U8']);
    const expected = [height, width, channels];
    if (found.shape.length !== 3 || found.shape.some((d, i) => d !== expected[i])) {
      throw new InputError(`${file.source}: tensor "${name}" has shape [${found.shape.join(', ')}], expected [${expected.join(', ')}]`);
    }
    return found.data as Uint8Array;
  };
  return {
    source: file.source,
    metadata,
    height,
    width,
    a: tensor(AlignedTensorNames.a, metadata.input_nc),
    aChannels: metadata.input_nc,
    b: tensor(AlignedTensorNames.b, metadata.output_nc),
    bChannels: metadata.output_nc,
  };
}

/** Reads and validates an aligned sample file ('-' = stdin). */
export async function readAlignedSample(path: string): Promise<LoadedAlignedSample> {
  return validateAlignedSample(await readTensorFile(path, ALIGNED_SAMPLE_KIND));
}

/** What training needs to know about one aligned sample before reading it whole. */
export interface AlignedSampleInfo {
  path: string;
  height: number;
  width: number;
  /** The resize mode and crop side recorded by preprocess (alignedCrop's settings). */
  mode: ResizeMode;
  cropSize: number;
}

export interface AlignedSampleFolder {
  dir: string;
  samples: AlignedSampleInfo[];
  inputNc: number;
  outputNc: number;
  direction: Direction;
}

/**
 * Lists and checks the aligned samples of a preprocess output folder from
 * their headers (sorted by name): every file aligned, with one input_nc,
 * output_nc and direction. A folder of label/photo samples, or a mix, is an
 * input error naming the file.
 */
export async function openAlignedSampleFolder(dir: string, flag = '--data'): Promise<AlignedSampleFolder> {
  let entries: string[];
  try {
    entries = await fsp.readdir(dir);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new UsageError(`${flag} ${dir}: ${code === 'ENOENT' ? 'no such folder' : code === 'ENOTDIR' ? 'not a folder' : `cannot read (${code})`}`);
  }
  const files = entries.filter((name) => name.endsWith('.safetensors') && !name.startsWith('.')).sort();
  if (files.length === 0) throw new InputError(`${flag} ${dir}: holds no .safetensors sample files (write them with p2phd preprocess --aligned)`);
  const samples: AlignedSampleInfo[] = [];
  let first: { path: string; inputNc: number; outputNc: number; direction: Direction } | undefined;
  for (const name of files) {
    const path = join(dir, name);
    const header = await readTensorFileHeader(path, ALIGNED_SAMPLE_KIND);
    const metadata = readAlignedMetadata(header);
    const current = { path, inputNc: metadata.input_nc, outputNc: metadata.output_nc, direction: metadata.direction };
    first ??= current;
    for (const [key, label] of [['inputNc', 'input_nc'], ['outputNc', 'output_nc'], ['direction', 'direction']] as const) {
      if (current[key] !== first[key]) {
        throw new InputError(`${path}: ${label} ${current[key]} differs from ${first.path}'s ${first[key]}; one run trains on one kind of pair`);
      }
    }
    samples.push({ path, height: metadata.size[0], width: metadata.size[1], mode: metadata.resize.mode, cropSize: metadata.resize.crop_size });
  }
  return { dir, samples, inputNc: first!.inputNc, outputNc: first!.outputNc, direction: first!.direction };
}
