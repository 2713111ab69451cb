/**
 * PIL's nearest-neighbour resampling, exactly (label and instance maps must
 * keep their ids), and the image size bound every decoder checks. Knows
 * nothing of p2phd's resize modes (data/datasets/resize.ts).
 */

export interface Size {
  width: number;
  height: number;
}

/** Largest image p2phd decodes or makes (2^27 pixels: 16384x8192): guards allocations against absurd headers and flags. */
export const MAX_IMAGE_PIXELS = 2 ** 27;

/**
 * Source index of each destination index for nearest sampling by the
 * pixel-centre rule, floor((dst + 0.5) * srcSize / dstSize), computed the way
 * PIL computes it (ImagingScaleAffine): the position starts at scale / 2 and
 * grows by scale = srcSize / dstSize in double precision, truncated at each
 * step. The running sum matters: where the exact value is an integer (a tie,
 * e.g. 2 -> 7 at x = 3, or 292 -> 286 at x = 214) PIL's sum lands just below
 * it and takes the lower index, and the reference's label maps were made by
 * PIL. For power-of-two ratios (2048 -> 1024, 512: 4x + 2) both agree exactly.
 */
export function nearestIndices(srcSize: number, dstSize: number): Int32Array {
  const indices = new Int32Array(dstSize);
  const scale = srcSize / dstSize;
  let position = scale * 0.5;
  for (let dst = 0; dst < dstSize; dst++) {
    indices[dst] = Math.min(srcSize - 1, Math.trunc(position));
    position += scale;
  }
  return indices;
}

/** The pixel-centre rule in exact integer arithmetic (differs from PIL only at ties; see nearestIndices). */
export function exactNearestIndex(dst: number, srcSize: number, dstSize: number): number {
  return Math.floor(((2 * dst + 1) * srcSize) / (2 * dstSize));
}

type IntArray = Uint8Array | Uint16Array | Int32Array;

/**
 * Nearest sampling by precomputed source indices (nearestIndices):
 * out[y * columns.length + x] = source[rowStart + rows[y] * rowStride + columns[x]].
 * `rowStride` and `rowStart` place the source's rows, so rows with a lead
 * byte (a PNG scanline's filter type) are read in place.
 */
export function gatherNearest(
  source: IntArray, rowStride: number, rowStart: number, rows: Int32Array, columns: Int32Array, out: IntArray,
): void {
  const width = columns.length;
  for (let y = 0; y < rows.length; y++) {
    const sourceRow = rowStart + rows[y]! * rowStride;
    const outRow = y * width;
    for (let x = 0; x < width; x++) out[outRow + x] = source[sourceRow + columns[x]!]!;
  }
}

/** Nearest resize of a single-channel map into a new array of the same type. */
export function resizeNearest<T extends IntArray>(source: T, from: Size, to: Size): T {
  if (from.width === to.width && from.height === to.height) return source.slice() as T;
  const out = new (source.constructor as new (length: number) => T)(to.width * to.height);
  gatherNearest(source, from.width, 0, nearestIndices(from.height, to.height), nearestIndices(from.width, to.width), out);
  return out;
}
