/**
 * `p2phd preprocess --aligned`: pix2pix's A|B files -> aligned sample files.
 *
 * The files: every image under DIR/PHASE (recursively; the reference's
 * extensions, case-sensitive, aligned.ts), in Python's sorted() order of
 * their paths, as the reference's make_dataset. Per file, as the reference's
 * AlignedDataset does it, minus the random part:
 *   1. decode to 8-bit RGB (PIL's convert('RGB'): alpha dropped, grey
 *      replicated; image.ts);
 *   2. split: A = columns [0, int(w / 2)), B = [int(w / 2), w);
 *   3. --direction BtoA swaps them, so that A is the network input;
 *   4. a side with 1 channel becomes PIL 'L' luma (before any resize, as
 *      torchvision's Grayscale comes first in get_transform);
 *   5. the deterministic resize (alignedResizeTarget), PIL's BICUBIC
 *      bit for bit (bicubic.ts).
 * The random crop and flip happen per training step (aligned.ts).
 *
 * Odd widths: the reference's B is one column wider than A. The target size
 * comes from A's half (as the reference's get_params uses A's size); each half
 * is resized from its own size to it, so B is exactly the reference's in
 * resize_and_crop, within a resampling of one column otherwise; in crop mode
 * (no resize) B's extra column, which no crop reaches, is dropped.
 */
import { readdirSync, statSync, type Dirent } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { InputError } from '../../errors.js';
import { readRgbImage } from '../formats/image.js';
import { resizeBicubic } from '../formats/bicubic.js';
import { MAX_IMAGE_PIXELS, type Size } from '../formats/nearest.js';
import { prepareOutputFolder, runConcurrently } from './preprocess.js';
import {
  ALIGNED_EXTENSIONS, ALIGNED_SIZE_BASE, alignedResizeTarget, compareCodePoints, isAlignedImageFile, rgbToLuma, splitColumns,
  type AlignedImages, type AlignedResizeSettings, type Direction,
} from './aligned.js';
import { writeAlignedSample, type AlignedSampleMetadata } from './alignedSample.js';

export interface AlignedPreprocessConfig {
  /** A|B files, in order. */
  files: string[];
  /** Output file name of each (same order). */
  outputNames: string[];
  outDir: string;
  direction: Direction;
  /** Channels of the network input (1: grey) and of the target. */
  inputNc: number;
  outputNc: number;
  resize: AlignedResizeSettings;
  concurrency: number;
}

export interface AlignedPreprocessed {
  path: string;
  source: string;
  size: [number, number];
  /** [H, W] of one half of the source. */
  sourceSize: [number, number];
}

function isFileFollowingLinks(path: string, entry: Dirent): boolean {
  if (entry.isFile()) return true;
  if (!entry.isSymbolicLink()) return false;
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** Every image file under `dir` (the reference's make_dataset: recursive, links to folders not descended), sorted by code point. */
export function listAlignedFiles(dir: string): string[] {
  const found: string[] = [];
  const walk = (folder: string): void => {
    let entries: Dirent[];
    try {
      entries = readdirSync(folder, { withFileTypes: true });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      throw new InputError(`${folder}: ${code === 'ENOENT' ? 'no such folder' : code === 'ENOTDIR' ? 'not a folder' : `cannot read (${code})`}`);
    }
    for (const entry of entries) {
      const path = join(folder, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (isAlignedImageFile(entry.name) && isFileFollowingLinks(path, entry)) found.push(path);
    }
  };
  walk(dir);
  if (found.length === 0) throw new InputError(`${dir}: holds no A|B images (looked for ${ALIGNED_EXTENSIONS.filter((e) => e === e.toLowerCase()).map((e) => `*${e}`).join(', ')}, in any sub-folder)`);
  return found.sort(compareCodePoints);
}

/**
 * Output names: the path under `root` without its extension, sub-folders
 * joined by '__' (`train/a/1.jpg` -> `a__1.safetensors`); unique because paths are.
 */
export function alignedOutputNames(files: readonly string[], root: string, suffix: string): string[] {
  const seen = new Map<string, string>();
  return files.map((file) => {
    const path = relative(root, file);
    const dot = path.lastIndexOf('.');
    const name = `${(dot > 0 ? path.slice(0, dot) : path).split(sep).join('__')}${suffix}`;
    const previous = seen.get(name);
    if (previous !== undefined) throw new InputError(`${previous} and ${file}: both would be written as ${name}`);
    seen.set(name, file);
    return name;
  });
}

/** Columns [from, to) of interleaved RGB rows `width` wide. */
function takeColumns(rgb: Uint8Array, width: number, height: number, from: number, to: number): Uint8Array {
  const out = new Uint8Array((to - from) * height * 3);
  for (let y = 0; y < height; y++) out.set(rgb.subarray((y * width + from) * 3, (y * width + to) * 3), y * (to - from) * 3);
  return out;
}

function checkTarget(target: Size, half: Size, source: string, mode: AlignedResizeSettings['mode']): void {
  if (target.width < 1 || target.height < 1) {
    const hint = mode === 'none' ? ` (--resize-or-crop none rounds sides to multiples of ${ALIGNED_SIZE_BASE})` : ' (check --load-size)';
    throw new InputError(`${source}: a ${half.width}x${half.height} half resizes to an empty ${target.width}x${target.height} image${hint}`);
  }
  if (target.width * target.height > MAX_IMAGE_PIXELS) {
    throw new InputError(`${source}: a ${half.width}x${half.height} half resizes to ${target.width}x${target.height}, more than the ${MAX_IMAGE_PIXELS} pixels p2phd handles (check --load-size)`);
  }
}

/** One half: grey if `channels` is 1, then resized (bicubic) to `target`; crop mode trims instead of resizing. */
function prepareHalf(rgb: Uint8Array, half: Size, channels: number, target: Size, trimOnly: boolean): Uint8Array {
  let bytes = channels === 1 ? rgbToLuma(rgb) : rgb;
  if (trimOnly && half.width !== target.width) {
    // Crop mode, odd width: B's last column (outside every crop) is dropped.
    const trimmed = new Uint8Array(target.width * half.height * channels);
    for (let y = 0; y < half.height; y++) trimmed.set(bytes.subarray(y * half.width * channels, (y * half.width + target.width) * channels), y * target.width * channels);
    bytes = trimmed;
  } else if (half.width !== target.width || half.height !== target.height) {
    bytes = resizeBicubic(bytes, half.width, half.height, channels, target.width, target.height);
  }
  return bytes;
}

export interface AlignedSampleOptions {
  direction: Direction;
  inputNc: number;
  outputNc: number;
  resize: AlignedResizeSettings;
}

/** Turns one A|B file into aligned images in memory (no file written). */
export async function buildAlignedSample(path: string, options: AlignedSampleOptions): Promise<{ images: AlignedImages; halfSize: Size; sourceWidth: number }> {
  const image = await readRgbImage(path);
  const { width, height } = image;
  const columns = splitColumns(width);
  if (columns.a[1] < 1) throw new InputError(`${path}: is ${width}x${height}, too narrow to hold an A|B pair side by side`);
  const left = { width: columns.a[1] - columns.a[0], height };
  const right = { width: columns.b[1] - columns.b[0], height };
  const target = alignedResizeTarget(left, options.resize);
  checkTarget(target, left, path, options.resize.mode);
  const trimOnly = options.resize.mode === 'crop';
  const swap = options.direction === 'BtoA';
  const [inputHalf, inputSize] = swap ? [columns.b, right] : [columns.a, left];
  const [targetHalf, targetSize] = swap ? [columns.a, left] : [columns.b, right];
  const a = prepareHalf(takeColumns(image.data, width, height, inputHalf[0], inputHalf[1]), inputSize, options.inputNc, target, trimOnly);
  const b = prepareHalf(takeColumns(image.data, width, height, targetHalf[0], targetHalf[1]), targetSize, options.outputNc, target, trimOnly);
  return {
    images: { height: target.height, width: target.width, a, aChannels: options.inputNc, b, bChannels: options.outputNc },
    halfSize: left,
    sourceWidth: width,
  };
}

/**
 * An A|B file at its own size (no resize; an odd width's extra B column
 * dropped), split, direction applied and grey where a side has 1 channel: what
 * synthesize --aligned renders and compares (scale with aligned.ts's
 * wholeImageSigned or BYTE_TO_SIGNED).
 */
export async function readAlignedPair(path: string, options: Omit<AlignedSampleOptions, 'resize'>): Promise<AlignedImages> {
  const { images } = await buildAlignedSample(path, { ...options, resize: { mode: 'crop', loadSize: 0, cropSize: 0 } });
  return images;
}

export function alignedSampleMetadata(source: string, images: AlignedImages, halfSize: Size, options: AlignedSampleOptions): AlignedSampleMetadata {
  return {
    aligned: true,
    input_nc: options.inputNc,
    output_nc: options.outputNc,
    direction: options.direction,
    size: [images.height, images.width],
    source,
    resize: {
      mode: options.resize.mode,
      load_size: options.resize.loadSize,
      crop_size: options.resize.cropSize,
      size_base: ALIGNED_SIZE_BASE,
      source_size: [halfSize.height, halfSize.width],
      image_filter: 'bicubic',
      scale_width: 'keep_aspect',
    },
  };
}

function oddWidthNote(path: string, width: number): string {
  return `${path} is ${width} wide (odd): its B half is one column wider than A, as in the reference; p2phd resizes both halves to A's size (crop mode drops B's last column)`;
}

/**
 * Preprocesses every file, `concurrency` at a time, writing each sample
 * atomically (a file of the same name is replaced). `onDone` after each file.
 */
export async function preprocessAligned(
  config: AlignedPreprocessConfig,
  onDone: (result: AlignedPreprocessed) => void = () => undefined,
  warn: (line: string) => void = () => undefined,
): Promise<AlignedPreprocessed[]> {
  prepareOutputFolder(config.outDir);
  let warnedOdd = false;
  return runConcurrently(config.files.length, config.concurrency, async (index) => {
    const source = config.files[index]!;
    const { images, halfSize, sourceWidth } = await buildAlignedSample(source, config);
    if (!warnedOdd && sourceWidth % 2 === 1) {
      warnedOdd = true;
      warn(oddWidthNote(source, sourceWidth));
    }
    const path = join(config.outDir, config.outputNames[index]!);
    await writeAlignedSample(path, images, alignedSampleMetadata(source, images, halfSize, config));
    const result: AlignedPreprocessed = { path, source, size: [images.height, images.width], sourceSize: [halfSize.height, halfSize.width] };
    onDone(result);
    return result;
  });
}
