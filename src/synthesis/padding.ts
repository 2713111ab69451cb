/**
 * Making any input size fit the networks. G's stride-2 steps need H and W to
 * be multiples of 2^(downsamplings) for its output to have the input's size
 * (and a local enhancer's sum to line up). The reference resizes inputs to
 * such a size and returns images of another size (NVIDIA/pix2pixHD issues 10
 * and 144); p2phd instead pads the network input by reflection to the next
 * valid size and crops the result back, so the output always has the input's
 * size and no pixel is resampled.
 *
 * Reflection (PyTorch's ReflectionPad2d: the edge pixel is not repeated)
 * keeps every original pixel's 4-neighbourhood, so instance edges near the
 * border are the same as without padding. Padding is split evenly between
 * the two sides so that neither border alone carries the made-up context.
 */

export interface Padding {
  readonly top: number;
  readonly bottom: number;
  readonly left: number;
  readonly right: number;
}

/** The smallest multiple of `multiple` that is >= size. */
export function nextMultiple(size: number, multiple: number): number {
  return Math.ceil(size / multiple) * multiple;
}

/**
 * The padding that brings height x width to multiples of `multiple` of at
 * least `minimum` pixels, split evenly (the extra pixel after).
 */
export function paddingFor(height: number, width: number, multiple: number, minimum = 1): Padding {
  const extraH = nextMultiple(Math.max(height, minimum), multiple) - height;
  const extraW = nextMultiple(Math.max(width, minimum), multiple) - width;
  const top = Math.floor(extraH / 2);
  const left = Math.floor(extraW / 2);
  return { top, bottom: extraH - top, left, right: extraW - left };
}

export function isNoPadding(padding: Padding): boolean {
  return padding.top === 0 && padding.bottom === 0 && padding.left === 0 && padding.right === 0;
}

/**
 * The source index of padded index `i` (which may lie outside [0, size)) by
 * reflection about the edge pixels; pads wider than the image reflect again
 * (period 2(size - 1)). A size-1 axis can only repeat its pixel.
 */
export function reflectIndex(i: number, size: number): number {
  if (size === 1) return 0;
  const period = 2 * (size - 1);
  let j = ((i % period) + period) % period;
  if (j >= size) j = period - j;
  return j;
}

type PixelArray = Float32Array | Int32Array | Uint8Array | Uint16Array;

/** Reflect-pads an HWC array into a new array of the same type. */
export function padReflect<T extends PixelArray>(data: T, height: number, width: number, channels: number, padding: Padding): T {
  if (isNoPadding(padding)) return data;
  const outH = height + padding.top + padding.bottom;
  const outW = width + padding.left + padding.right;
  const out = new (data.constructor as new (length: number) => T)(outH * outW * channels);
  const sourceColumn = new Int32Array(outW);
  for (let x = 0; x < outW; x++) sourceColumn[x] = reflectIndex(x - padding.left, width);
  for (let y = 0; y < outH; y++) {
    const sourceRow = reflectIndex(y - padding.top, height) * width;
    const outRow = y * outW;
    for (let x = 0; x < outW; x++) {
      const from = (sourceRow + sourceColumn[x]!) * channels;
      const to = (outRow + x) * channels;
      for (let c = 0; c < channels; c++) out[to + c] = data[from + c]!;
    }
  }
  return out;
}

/** Crops the padding off an HWC array (the inverse of padReflect on the original pixels). */
export function cropPadding<T extends PixelArray>(data: T, paddedHeight: number, paddedWidth: number, channels: number, padding: Padding): T {
  if (isNoPadding(padding)) return data;
  const height = paddedHeight - padding.top - padding.bottom;
  const width = paddedWidth - padding.left - padding.right;
  const out = new (data.constructor as new (length: number) => T)(height * width * channels);
  const rowLength = width * channels;
  for (let y = 0; y < height; y++) {
    const from = ((y + padding.top) * paddedWidth + padding.left) * channels;
    out.set(data.subarray(from, from + rowLength), y * rowLength);
  }
  return out;
}
