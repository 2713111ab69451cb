/**
 * Output sizes of the reference's `--resize_or_crop` modes (the exact
 * nearest-neighbour resampling itself is data/formats/nearest.ts).
 *
 * Sizes follow the reference's data/base_dataset.py:
 * - resize_and_crop: load_size x load_size;
 * - scale_width, scale_width_and_crop: width = load_size, height =
 *   int(load_size * h / w) (float division, truncated), unchanged when the
 *   width already is load_size;
 * - crop: unchanged;
 * - none: each side rounded to a multiple of `base` (2^n_downsample_global,
 *   times 2^n_local_enhancers for the local generator) with Python's round,
 *   which rounds halves to even (`__make_power_2`).
 * The crop itself (fine_size, random position) happens at training time.
 */
import { UsageError } from '../../errors.js';
import { MAX_IMAGE_PIXELS, type Size } from '../formats/nearest.js';

export const RESIZE_MODES = Object.freeze(['resize_and_crop', 'crop', 'scale_width', 'scale_width_and_crop', 'none'] as const);
export type ResizeMode = (typeof RESIZE_MODES)[number];

export interface ResizeSettings {
  mode: ResizeMode;
  loadSize: number;
  /** Side of training's random crop (recorded only). */
  fineSize: number;
  /** Multiple that 'none' rounds sizes to (the reference's 2^n_downsample_global). */
  sizeBase: number;
}

/** Python 3's round(): halves go to the even neighbour. */
export function roundHalfEven(value: number): number {
  const floor = Math.floor(value);
  const fraction = value - floor;
  if (fraction > 0.5) return floor + 1;
  if (fraction < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

/** The size a `width x height` input is resized to before any crop. */
export function targetSize(input: Size, settings: ResizeSettings): Size {
  const { width, height } = input;
  switch (settings.mode) {
    case 'resize_and_crop':
      return { width: settings.loadSize, height: settings.loadSize };
    case 'scale_width':
    case 'scale_width_and_crop':
      if (width === settings.loadSize) return { width, height };
      // int(target_width * oh / ow): a float product and division, then truncation.
      return { width: settings.loadSize, height: Math.trunc((settings.loadSize * height) / width) };
    case 'crop':
      return { width, height };
    case 'none': {
      const base = settings.sizeBase;
      return {
        width: Math.max(base, roundHalfEven(width / base) * base),
        height: Math.max(base, roundHalfEven(height / base) * base),
      };
    }
  }
}

/**
 * Upper bounds of --load-size and --fine-size (8x the reference's largest
 * recipe, 2048; a 2:1 image at this width is MAX_IMAGE_PIXELS) and of
 * --size-base (2^12: four times the size multiple of the deepest G the
 * default recipes build, 2^(4 + 2 enhancers) = 64, many times over).
 */
export const MAX_RESIZE_SIDE = 16384;
export const MAX_SIZE_BASE = 4096;

/** Checks a resize's output is usable (nonzero, within MAX_IMAGE_PIXELS); the message names the input. */
export function checkTargetSize(target: Size, input: Size, source: string): void {
  if (target.width < 1 || target.height < 1) {
    throw new UsageError(`${source}: resizing ${input.width}x${input.height} gives an empty ${target.width}x${target.height} image (check --load-size)`);
  }
  if (target.width * target.height > MAX_IMAGE_PIXELS) {
    throw new UsageError(
      `${source}: resizing ${input.width}x${input.height} gives ${target.width}x${target.height}, more than the ${MAX_IMAGE_PIXELS} pixels p2phd handles (check --load-size and --size-base)`,
    );
  }
}
