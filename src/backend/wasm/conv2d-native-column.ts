/**
 * A convolution's three products as GEMMs on ONNX Runtime's MLAS (see
 * ../onnxruntime/matmul-session.ts), over row-major im2col columns in NHWC
 * order, all in place on the wasm heap:
 *
 *   forward          y    [P, Co]  = col [P, K]  · W [K, Co]
 *   input gradient   dcol [P, K]   = dy [P, Co]  · Wᵀ            (then col2im)
 *   filter gradient  dW   [K, Co]  = colᵀ        · dy [P, Co]
 *
 * with P = N*Ho*Wo output pixels, K = kh*kw*Ci, W the filter as tfjs stores
 * it ([kh, kw, Ci, Co] is already [K, Co]) and row p of col the input window
 * of output pixel p, tap-major then channel (zero outside the image). MLAS
 * reads Wᵀ and colᵀ transposed where they lie, so unlike the XNNPACK column
 * form (./conv2d-column-gemm) nothing is transposed: a window row of one tap
 * row is kw*Ci contiguous floats in NHWC, one memory.copy in the generated
 * im2col loop (./add-runs-simd), one SIMD add back in col2im.
 *
 * Large convs run in bands of output pixels so that the columns stay under
 * 64 MB: a band's output rows are a contiguous slice of y (and
 * of dy), so each band's product is written where it belongs; the filter
 * gradient sums its bands' products.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { MatMulSession } from '../onnxruntime/matmul-session';
import type { ColumnConvShape } from './conv2d-column-gemm';
import { addRunOn, im2colBandOn } from './add-runs-simd';
import { asWasmBackend, emptyHeapTensor, wasmMemoryOf } from './heap-views';

/** Columns per band, in floats (64 MB): large enough that MLAS runs at full speed, small enough for the heap. */
let maxBandElements = 16 * 1024 * 1024;

/** Sets the band size in floats (tests make bands small); returns the previous one. */
export function setNativeColumnBandElements(elements: number): number {
  const previous = maxBandElements;
  maxBandElements = elements;
  return previous;
}

/**
 * Whether the native column form should carry a conv: channel counts large
 * enough for GEMM to be efficient on both sides (a 3-channel product is a
 * memory pass, not arithmetic).
 */
export function preferNativeColumn(inChannels: number, outChannels: number, taps: number): boolean {
  return outChannels >= 16 && inChannels * taps >= 64;
}

/** tfjs's heap, which the generated kernels import. */
function heapMemory(): { buffer: ArrayBufferLike } {
  const memory = wasmMemoryOf(tf.backend());
  if (memory === null) throw new Error('native column conv: the wasm heap is not reachable');
  return memory;
}

/** Float index of a tensor on the heap. */
function floatIndex(t: tf.Tensor): number {
  return (asWasmBackend(tf.backend()).typedArrayFromHeap(t) as Float32Array).byteOffset >> 2;
}

interface Band {
  first: number;
  count: number;
}

function bands(pixels: number, k: number): Band[] {
  const perBand = Math.max(1, Math.min(pixels, Math.floor(maxBandElements / k)));
  const result: Band[] = [];
  for (let first = 0; first < pixels; first += perBand) result.push({ first, count: Math.min(perBand, pixels - first) });
  return result;
}

/**
 * Visits the window runs of output pixels [band.first, band.first + band.count)
 * that lie inside the image: `visit(colIndex, xIndex, length)` for each run
 * of `length` floats (col offsets relative to the band's first row; the rest
 * of a window reads zeros). The im2col kernel walks the same runs in wasm.
 */
function walkInsideRuns(shape: ColumnConvShape, band: Band, visit: (colIndex: number, xIndex: number, length: number) => void): void {
  const { height, width, inChannels: ci, kernelHeight: kh, kernelWidth: kw, outHeight, outWidth, geometry } = shape;
  const { strideHeight: sh, strideWidth: sw, padTop, padLeft } = geometry;
  const k = kh * kw * ci;
  const rowLength = kw * ci;
  for (let q = 0; q < band.count; q++) {
    const p = band.first + q;
    const ow = p % outWidth;
    const rest = (p - ow) / outWidth;
    const oh = rest % outHeight;
    const n = (rest - oh) / outHeight;
    const left = ow * sw - padLeft;
    // Taps j in [j0, j1) read inside the image's columns.
    const j0 = Math.max(0, -left);
    const j1 = Math.min(kw, width - left);
    if (j1 <= j0) continue;
    for (let i = 0; i < kh; i++) {
      const ih = oh * sh + i - padTop;
      if (ih < 0 || ih >= height) continue;
      visit(q * k + i * rowLength + j0 * ci, ((n * height + ih) * width + left + j0) * ci, (j1 - j0) * ci);
    }
  }
}

/** The band's columns [count, K], written into `col` (a heap tensor of at least that size). */
function fillColumns(x: tf.Tensor4D, col: tf.Tensor, shape: ColumnConvShape, band: Band): void {
  const { height, width, inChannels, kernelHeight, kernelWidth, outHeight, outWidth, geometry } = shape;
  im2colBandOn(heapMemory())(
    floatIndex(col) * 4,
    floatIndex(x) * 4,
    band.first,
    band.count,
    height,
    width,
    inChannels * 4,
    kernelHeight,
    kernelWidth,
    outHeight,
    outWidth,
    geometry.strideHeight,
    geometry.strideWidth,
    geometry.padTop,
    geometry.padLeft,
  );
}

/** Adds the band's column gradients back into dx (col2im). */
function addColumns(dcol: tf.Tensor, dx: tf.Tensor4D, shape: ColumnConvShape, band: Band): void {
  const addRun = addRunOn(heapMemory());
  const colBase = floatIndex(dcol) * 4;
  const dxBase = floatIndex(dx) * 4;
  walkInsideRuns(shape, band, (colIndex, xIndex, length) => {
    const vectorLength = length & ~3;
    addRun(dxBase + xIndex * 4, colBase + colIndex * 4, vectorLength * 4, (length - vectorLength) * 4);
  });
}

function subarrayOf(t: tf.Tensor, offset: number, length: number): Float32Array {
  return (asWasmBackend(tf.backend()).typedArrayFromHeap(t) as Float32Array).subarray(offset, offset + length);
}

function pixelsOf(shape: ColumnConvShape): number {
  return shape.batch * shape.outHeight * shape.outWidth;
}

function taps(shape: ColumnConvShape): number {
  return shape.kernelHeight * shape.kernelWidth * shape.inChannels;
}

/**
 * Calls `body(scratch, band, index)` for each band of output pixels, with a
 * scratch heap tensor of the first (largest) band's columns, freed after.
 */
function forEachBand(shape: ColumnConvShape, body: (scratch: tf.Tensor, band: Band, index: number) => void): void {
  const all = bands(pixelsOf(shape), taps(shape));
  const scratch = emptyHeapTensor(tf.backend(), [all[0]!.count, taps(shape)]);
  try {
    all.forEach((band, index) => body(scratch, band, index));
  } finally {
    scratch.dispose();
  }
}

/** The correlation of x with `filter` [kh, kw, Ci, Co]: NHWC [N, Ho, Wo, Co]. */
export function conv2dNativeColumn(gemm: MatMulSession, x: tf.Tensor4D, filter: tf.Tensor4D, shape: ColumnConvShape): tf.Tensor4D {
  const { batch, outHeight, outWidth, outChannels: co } = shape;
  const k = taps(shape);
  const out = emptyHeapTensor(tf.backend(), [batch, outHeight, outWidth, co]) as tf.Tensor4D;
  forEachBand(shape, (col, band) => {
    fillColumns(x, col, shape, band);
    gemm.gemm(false, false, subarrayOf(col, 0, band.count * k), subarrayOf(filter, 0, k * co), subarrayOf(out, band.first * co, band.count * co), band.count, co, k);
  });
  return out;
}

/** The input gradient of that correlation: dx NHWC [N, H, W, Ci] from dy [N, Ho, Wo, Co]. */
export function conv2dInputGradientNativeColumn(gemm: MatMulSession, dy: tf.Tensor4D, filter: tf.Tensor4D, shape: ColumnConvShape): tf.Tensor4D {
  const { batch, height, width, inChannels, outChannels: co } = shape;
  const k = taps(shape);
  const backend = tf.backend();
  const dx = emptyHeapTensor(backend, [batch, height, width, inChannels]) as tf.Tensor4D;
  asWasmBackend(backend).typedArrayFromHeap(dx).fill(0);
  forEachBand(shape, (dcol, band) => {
    gemm.gemm(false, true, subarrayOf(dy, band.first * co, band.count * co), subarrayOf(filter, 0, k * co), subarrayOf(dcol, 0, band.count * k), band.count, k, co);
    addColumns(dcol, dx, shape, band);
  });
  return dx;
}

/** The filter gradient of that correlation: dW [kh, kw, Ci, Co]; the bands' products summed. */
export function conv2dFilterGradientNativeColumn(gemm: MatMulSession, x: tf.Tensor4D, dy: tf.Tensor4D, shape: ColumnConvShape): tf.Tensor4D {
  const { kernelHeight, kernelWidth, inChannels, outChannels: co } = shape;
  const k = taps(shape);
  const backend = tf.backend();
  const dW = emptyHeapTensor(backend, [kernelHeight, kernelWidth, inChannels, co]) as tf.Tensor4D;
  let partial: tf.Tensor | null = null;
  try {
    forEachBand(shape, (col, band, index) => {
      fillColumns(x, col, shape, band);
      if (index > 0) partial ??= emptyHeapTensor(backend, [k, co]);
      const target = index === 0 ? dW : partial!;
      gemm.gemm(true, false, subarrayOf(col, 0, band.count * k), subarrayOf(dy, band.first * co, band.count * co), subarrayOf(target, 0, k * co), k, co, band.count);
      if (target !== dW) {
        const sum = subarrayOf(dW, 0, k * co);
        const add = subarrayOf(target, 0, k * co);
        for (let e = 0; e < sum.length; e++) sum[e]! += add[e]!;
      }
    });
  } finally {
    (partial as tf.Tensor | null)?.dispose();
  }
  return dW;
}
