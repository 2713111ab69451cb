/**
 * pix2pix's aligned data (the reference's data/aligned_dataset.py and
 * base_dataset.py): the per-step part, pure, for the pix2pix trainer.
 *
 * Preprocess (alignedPreprocess.ts) has already split each A|B file, applied
 * --direction (so `A` is always the network input), converted to grey where a
 * side has 1 channel and done every deterministic resize; what is left for
 * each training step is the random crop and the random flip, one of each
 * shared by A and B, then torchvision's ToTensor + Normalize.
 *
 * The call the trainer makes, once per sample per step:
 *
 *   const random = Random.forLabel(seed, `augment/epoch-${epoch}/position-${position}`);
 *   const { A, B, height, width } = alignedCrop(sample, { mode, cropSize, flip: !noFlip }, random);
 *
 *   sample    AlignedImages: { height, width, a, aChannels, b, bChannels }
 *             (readAlignedSample() in alignedSample.ts returns one; `mode`
 *             and `cropSize` are in its metadata.resize);
 *   settings  AlignedCropSettings: { mode, cropSize, flip };
 *   random    model/random.ts's Random: draws x, y, then the flip coin, in
 *             the reference's get_params order, always (the stream does not
 *             depend on the mode);
 *   returns   AlignedStep: A [height, width, aChannels] and B [height, width,
 *             bChannels] as Float32Array in [-1, 1] (NHWC with N = 1: a batch
 *             is these concatenated), their size, and the crop taken.
 *
 * For a batch, alignedBatch(samples, settings, randoms) does this per sample
 * (one Random each) and stacks the results: A [N, H, W, aChannels], B [N, H,
 * W, bChannels]; samples that crop to different sizes are refused (the
 * reference's DataLoader cannot stack them either).
 *
 * The rest of the kit: alignedSample.ts's openAlignedSampleFolder (a
 * --data folder from its headers: sizes, modes, one input_nc/output_nc/
 * direction) and readAlignedSample (one file, checked); alignedPreprocess.ts's
 * readAlignedPair (an A|B file at its own size, for synthesize --aligned) with
 * wholeImageSigned below.
 *
 * The crop is --crop-size square in the *crop modes (resize_and_crop, crop,
 * scale_width_and_crop), at x in [0, W - crop], y in [0, H - crop] (both
 * inclusive, the reference's random.randint); the whole image otherwise.
 * Deviation: where a side is shorter than the crop, the reference's PIL crop
 * pads with black; here the crop is as long as that side (never padded).
 */
import { InputError } from '../../errors.js';
import type { Random } from '../../model/random.js';
import type { Size } from '../formats/nearest.js';
import { roundHalfEven, type ResizeMode } from './resize.js';

export const DIRECTIONS = Object.freeze(['AtoB', 'BtoA'] as const);
export type Direction = (typeof DIRECTIONS)[number];

/** The reference pix2pix's data defaults (options/base_options.py), which apply with --aligned. */
export const ALIGNED_DEFAULTS = Object.freeze({
  resizeOrCrop: 'resize_and_crop' as ResizeMode,
  loadSize: 286,
  cropSize: 256,
  direction: 'AtoB' as Direction,
  inputNc: 3,
  outputNc: 3,
});

/** The multiple the 'none' mode rounds each side to (the reference's __make_power_2(img, base=4)). */
export const ALIGNED_SIZE_BASE = 4;

/** The image files the reference's make_dataset takes (data/image_folder.py: case-sensitive suffixes). */
export const ALIGNED_EXTENSIONS = Object.freeze(['.jpg', '.JPG', '.jpeg', '.JPEG', '.png', '.PNG', '.ppm', '.PPM', '.bmp', '.BMP', '.tif', '.TIF', '.tiff', '.TIFF'] as const);

export function isAlignedImageFile(name: string): boolean {
  return ALIGNED_EXTENSIONS.some((extension) => name.endsWith(extension));
}

/** Python's str ordering (by code point), which sorted() gives the reference's paths; JS's default sort compares UTF-16 units. */
export function compareCodePoints(a: string, b: string): number {
  let i = 0;
  // Equal prefixes advance both strings alike, so one index serves both.
  while (i < a.length && i < b.length) {
    const left = a.codePointAt(i)!;
    const right = b.codePointAt(i)!;
    if (left !== right) return left - right;
    i += left > 0xffff ? 2 : 1;
  }
  return (a.length - i) - (b.length - i);
}

/** The left (A) and right (B) halves of an A|B image `width` wide: A = [0, int(w / 2)), B = [int(w / 2), w). */
export function splitColumns(width: number): { a: [number, number]; b: [number, number] } {
  const half = Math.floor(width / 2);
  return { a: [0, half], b: [half, width] };
}

/**
 * PIL's convert('L') of 8-bit RGB: ITU-R 601-2 luma in 16-bit fixed point,
 * L = (R * 19595 + G * 38470 + B * 7471 + 0x8000) >> 16 (Pillow's Convert.c,
 * the rounded form of R * 299/1000 + G * 587/1000 + B * 114/1000).
 */
export function rgbToLuma(rgb: Uint8Array): Uint8Array {
  const grey = new Uint8Array(rgb.length / 3);
  for (let i = 0; i < grey.length; i++) {
    grey[i] = (rgb[3 * i]! * 19595 + rgb[3 * i + 1]! * 38470 + rgb[3 * i + 2]! * 7471 + 0x8000) >>> 16;
  }
  return grey;
}

export interface AlignedResizeSettings {
  mode: ResizeMode;
  loadSize: number;
  cropSize: number;
}

/**
 * The size preprocess resizes one half to (bicubic), before the per-step crop:
 * - resize_and_crop: load x load (aspect not kept, as the reference);
 * - crop: unchanged;
 * - scale_width, scale_width_and_crop: width load, height
 *   int(load * h / w); unchanged when the width already is load. Deviation
 *   (the reference's clamp): the reference makes the height at least
 *   crop_size, stretching wide images vertically, in both modes. Here
 *   scale_width keeps the aspect ratio; scale_width_and_crop, where the
 *   height would fall below the crop, scales so that the height is crop_size
 *   and the width int(crop * w / h) (>= load), aspect kept, so the square crop
 *   still fits;
 * - none: each side rounded to a multiple of 4 with Python's round (halves
 *   to even), as __make_power_2; unchanged when already multiples.
 */
export function alignedResizeTarget(input: Size, settings: AlignedResizeSettings): Size {
  const { width, height } = input;
  const { loadSize, cropSize } = settings;
  switch (settings.mode) {
    case 'resize_and_crop':
      return { width: loadSize, height: loadSize };
    case 'crop':
      return { width, height };
    case 'scale_width':
    case 'scale_width_and_crop': {
      const scaled = width === loadSize ? height : Math.trunc((loadSize * height) / width);
      if (settings.mode === 'scale_width_and_crop' && scaled < cropSize) {
        return { width: Math.trunc((cropSize * width) / height), height: cropSize };
      }
      return { width: loadSize, height: scaled };
    }
    case 'none':
      return {
        width: roundHalfEven(width / ALIGNED_SIZE_BASE) * ALIGNED_SIZE_BASE,
        height: roundHalfEven(height / ALIGNED_SIZE_BASE) * ALIGNED_SIZE_BASE,
      };
  }
}

/** Whether the mode leaves a random crop to each training step. */
export function alignedModeCrops(mode: ResizeMode): boolean {
  return mode.endsWith('crop');
}

/** A preprocessed aligned sample's images: interleaved bytes [H, W, C]. */
export interface AlignedImages {
  height: number;
  width: number;
  /** The network input (after --direction). */
  a: Uint8Array;
  aChannels: number;
  /** The target. */
  b: Uint8Array;
  bChannels: number;
}

export interface AlignedCropSettings {
  /** The sample's resize mode (metadata.resize.mode). */
  mode: ResizeMode;
  /** The sample's crop side (metadata.resize.crop_size). */
  cropSize: number;
  /** False with --no-flip (the coin is drawn anyway). */
  flip: boolean;
}

export interface AlignedCropPlan {
  x: number;
  y: number;
  width: number;
  height: number;
  flip: boolean;
}

/** Draws one step's crop and flip for an image of `size` (x, y, then the coin, as get_params). */
export function planAlignedCrop(size: Size, settings: AlignedCropSettings, random: Random): AlignedCropPlan {
  const x = random.nextInt(Math.max(0, size.width - settings.cropSize) + 1);
  const y = random.nextInt(Math.max(0, size.height - settings.cropSize) + 1);
  const coin = random.nextFloat() > 0.5;
  const flip = settings.flip && coin;
  if (!alignedModeCrops(settings.mode)) return { x: 0, y: 0, width: size.width, height: size.height, flip };
  const width = Math.min(settings.cropSize, size.width);
  const height = Math.min(settings.cropSize, size.height);
  return { x: Math.min(x, size.width - width), y: Math.min(y, size.height - height), width, height, flip };
}

/** (v / 255 - 0.5) / 0.5 in float32 steps: torchvision's ToTensor then Normalize((0.5,), (0.5,)). */
export const BYTE_TO_SIGNED: Float32Array = (() => {
  const table = new Float32Array(256);
  for (let value = 0; value < 256; value++) table[value] = Math.fround(Math.fround(Math.fround(value / 255) - 0.5) / 0.5);
  return table;
})();

/** Crops (and mirrors) interleaved bytes into floats in [-1, 1]. */
export function cropToSigned(bytes: Uint8Array, sourceWidth: number, channels: number, plan: AlignedCropPlan): Float32Array {
  const out = new Float32Array(plan.width * plan.height * channels);
  for (let row = 0; row < plan.height; row++) {
    const sourceRow = (plan.y + row) * sourceWidth;
    const outRow = row * plan.width;
    for (let col = 0; col < plan.width; col++) {
      const sourceCol = plan.flip ? plan.x + plan.width - 1 - col : plan.x + col;
      const from = (sourceRow + sourceCol) * channels;
      const to = (outRow + col) * channels;
      for (let c = 0; c < channels; c++) out[to + c] = BYTE_TO_SIGNED[bytes[from + c]!]!;
    }
  }
  return out;
}

export interface AlignedStep {
  /** Network input [height, width, aChannels] in [-1, 1]. */
  A: Float32Array;
  /** Target [height, width, bChannels] in [-1, 1]. */
  B: Float32Array;
  height: number;
  width: number;
  aChannels: number;
  bChannels: number;
  plan: AlignedCropPlan;
}

/** Applies a given crop plan to both images (one crop, one flip for A and B). */
export function applyAlignedCrop(images: AlignedImages, plan: AlignedCropPlan): AlignedStep {
  return {
    A: cropToSigned(images.a, images.width, images.aChannels, plan),
    B: cropToSigned(images.b, images.width, images.bChannels, plan),
    height: plan.height,
    width: plan.width,
    aChannels: images.aChannels,
    bChannels: images.bChannels,
    plan,
  };
}

/** One training step's view of a sample: a crop and flip drawn from `random`, shared by A and B. */
export function alignedCrop(images: AlignedImages, settings: AlignedCropSettings, random: Random): AlignedStep {
  return applyAlignedCrop(images, planAlignedCrop({ width: images.width, height: images.height }, settings, random));
}

/** The whole sample in [-1, 1], unflipped (inference, evaluation). */
export function wholeImageSigned(images: AlignedImages): AlignedStep {
  return applyAlignedCrop(images, { x: 0, y: 0, width: images.width, height: images.height, flip: false });
}

export interface AlignedBatch {
  count: number;
  height: number;
  width: number;
  aChannels: number;
  bChannels: number;
  /** [count, height, width, aChannels] in [-1, 1]. */
  A: Float32Array;
  /** [count, height, width, bChannels] in [-1, 1]. */
  B: Float32Array;
  plans: AlignedCropPlan[];
}

/** One step's batch: each sample cropped and flipped with its own Random, stacked NHWC. `sources` name samples in errors. */
export function alignedBatch(samples: readonly AlignedImages[], settings: AlignedCropSettings, randoms: readonly Random[], sources: readonly string[] = []): AlignedBatch {
  if (samples.length === 0 || randoms.length !== samples.length) throw new RangeError(`alignedBatch: ${samples.length} samples and ${randoms.length} generators`);
  const steps = samples.map((sample, i) => alignedCrop(sample, settings, randoms[i]!));
  const first = steps[0]!;
  steps.forEach((step, i) => {
    if (step.height !== first.height || step.width !== first.width || step.aChannels !== first.aChannels || step.bChannels !== first.bChannels) {
      const name = sources[i] ?? `sample ${i}`;
      throw new InputError(`${name}: crops to ${step.width}x${step.height}x${step.aChannels}|${step.bChannels}, not the ${first.width}x${first.height}x${first.aChannels}|${first.bChannels} of the rest of the batch (a batch above 1 needs one size: preprocess with a crop mode)`);
    }
  });
  const A = new Float32Array(steps.length * first.A.length);
  const B = new Float32Array(steps.length * first.B.length);
  steps.forEach((step, i) => {
    A.set(step.A, i * first.A.length);
    B.set(step.B, i * first.B.length);
  });
  return { count: steps.length, height: first.height, width: first.width, aChannels: first.aChannels, bChannels: first.bChannels, A, B, plans: steps.map((step) => step.plan) };
}
