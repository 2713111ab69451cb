/**
 * Shared helpers for the backend tests: deterministic random data, float64
 * reference implementations, and comparison with a relative tolerance.
 * The mulberry32 generator, leak count and instance-norm reference live in
 * scripts/random.ts and test/support, re-exported here.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { initBackend } from '../../src/backend';
import { nhwcIndex } from '../support/reference';
export { createRandom as randomGenerator } from '../../scripts/random';
export { leakedTensors } from '../support/tensors';
export { nhwcIndex, referenceInstanceNorm } from '../support/reference';

/** Both backends every test compares: wasm with p2phd's kernels, and cpu as the reference. */
export async function setUpBackends(): Promise<void> {
  await initBackend('cpu', { log: () => {} });
  await initBackend('wasm', { log: () => {} });
}

export async function useBackend(name: 'wasm' | 'cpu'): Promise<void> {
  if (tf.getBackend() !== name) await tf.setBackend(name);
}

/** Uniform values in [-1, 1). */
export function randomValues(random: () => number, count: number): Float32Array {
  const values = new Float32Array(count);
  for (let i = 0; i < count; i++) values[i] = random() * 2 - 1;
  return values;
}

export function randomInt(random: () => number, low: number, high: number): number {
  return low + Math.floor(random() * (high - low + 1));
}

/** ||actual - expected|| / ||expected|| (L2), 0 when both are zero. */
export function relativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) {
    throw new Error(`length mismatch: ${actual.length} vs ${expected.length}`);
  }
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < expected.length; i++) {
    const d = actual[i]! - expected[i]!;
    diff += d * d;
    norm += expected[i]! * expected[i]!;
  }
  if (norm === 0) return Math.sqrt(diff);
  return Math.sqrt(diff / norm);
}

/**
 * Every (output position, in-bounds tap) pair of a zero-padded conv over x
 * [batch, height, width, C]: n, oh, ow, the tap i, j, and the input row h and
 * column v it reads. The float64 references below share this walk.
 */
function forEachConvTap(
  xShape: readonly number[],
  kernel: readonly [number, number],
  output: readonly [number, number],
  stride: number,
  pad: number,
  visit: (n: number, oh: number, ow: number, i: number, j: number, h: number, v: number) => void,
): void {
  const [batch, height, width] = xShape as [number, number, number, number];
  const [kh, kw] = kernel;
  for (let n = 0; n < batch; n++)
    for (let oh = 0; oh < output[0]; oh++)
      for (let ow = 0; ow < output[1]; ow++)
        for (let i = 0; i < kh; i++)
          for (let j = 0; j < kw; j++) {
            const h = oh * stride - pad + i;
            const v = ow * stride - pad + j;
            if (h >= 0 && h < height && v >= 0 && v < width) visit(n, oh, ow, i, j, h, v);
          }
}

/** Float64 PyTorch Conv2d (zero padding, no bias), NHWC, w [kh, kw, in, out]. */
export function referenceConv2d(
  x: ArrayLike<number>,
  xShape: readonly number[],
  w: ArrayLike<number>,
  wShape: readonly number[],
  stride: number,
  pad: number,
): { values: Float64Array; shape: number[] } {
  const [batch, height, width, inChannels] = xShape as [number, number, number, number];
  const [kh, kw, , outChannels] = wShape as [number, number, number, number];
  const outHeight = Math.floor((height + 2 * pad - kh) / stride) + 1;
  const outWidth = Math.floor((width + 2 * pad - kw) / stride) + 1;
  const shape = [batch, outHeight, outWidth, outChannels];
  const values = new Float64Array(batch * outHeight * outWidth * outChannels);
  forEachConvTap(xShape, [kh, kw], [outHeight, outWidth], stride, pad, (n, oh, ow, i, j, h, v) => {
    for (let ci = 0; ci < inChannels; ci++) {
      const xv = x[nhwcIndex(xShape, n, h, v, ci)]!;
      for (let co = 0; co < outChannels; co++) {
        values[nhwcIndex(shape, n, oh, ow, co)]! += xv * w[((i * kw + j) * inChannels + ci) * outChannels + co]!;
      }
    }
  });
  return { values, shape };
}

/**
 * Float64 gradient of referenceConv2d's output with respect to w, given the
 * output's gradient dy: dw[i, j, ci, co] = sum over n, oh, ow of
 * x[n, oh * stride - pad + i, ow * stride - pad + j, ci] * dy[n, oh, ow, co].
 */
export function referenceConv2dFilterGradient(
  x: ArrayLike<number>,
  xShape: readonly number[],
  dy: ArrayLike<number>,
  dyShape: readonly number[],
  wShape: readonly number[],
  stride: number,
  pad: number,
): Float64Array {
  const inChannels = xShape[3]!;
  const [, outHeight, outWidth, outChannels] = dyShape as [number, number, number, number];
  const [kh, kw] = wShape as [number, number, number, number];
  const values = new Float64Array(kh * kw * inChannels * outChannels);
  forEachConvTap(xShape, [kh, kw], [outHeight, outWidth], stride, pad, (n, oh, ow, i, j, h, v) => {
    for (let ci = 0; ci < inChannels; ci++) {
      const xv = x[nhwcIndex(xShape, n, h, v, ci)]!;
      if (xv === 0) continue;
      for (let co = 0; co < outChannels; co++) {
        values[((i * kw + j) * inChannels + ci) * outChannels + co]! += xv * dy[nhwcIndex(dyShape, n, oh, ow, co)]!;
      }
    }
  });
  return values;
}

/** Float64 PyTorch ConvTranspose2d (no bias), NHWC, w [kh, kw, out, in]. */
export function referenceConv2dTranspose(
  x: ArrayLike<number>,
  xShape: readonly number[],
  w: ArrayLike<number>,
  wShape: readonly number[],
  stride: number,
  pad: number,
  outputPadding: number,
): { values: Float64Array; shape: number[] } {
  const [batch, height, width, inChannels] = xShape as [number, number, number, number];
  const [kh, kw, outChannels] = wShape as [number, number, number, number];
  const outHeight = (height - 1) * stride - 2 * pad + kh + outputPadding;
  const outWidth = (width - 1) * stride - 2 * pad + kw + outputPadding;
  const shape = [batch, outHeight, outWidth, outChannels];
  const values = new Float64Array(batch * outHeight * outWidth * outChannels);
  for (let n = 0; n < batch; n++)
    for (let ih = 0; ih < height; ih++)
      for (let iw = 0; iw < width; iw++)
        for (let i = 0; i < kh; i++)
          for (let j = 0; j < kw; j++) {
            const oh = ih * stride - pad + i;
            const ow = iw * stride - pad + j;
            if (oh < 0 || oh >= outHeight || ow < 0 || ow >= outWidth) continue;
            for (let ci = 0; ci < inChannels; ci++) {
              const xv = x[nhwcIndex(xShape, n, ih, iw, ci)]!;
              for (let co = 0; co < outChannels; co++) {
                values[nhwcIndex(shape, n, oh, ow, co)]! += xv * w[((i * kw + j) * outChannels + co) * inChannels + ci]!;
              }
            }
          }
  return { values, shape };
}

/** Float64 PyTorch ReflectionPad2d, NHWC. */
export function referenceReflectPad(
  x: ArrayLike<number>,
  xShape: readonly number[],
  pad: number,
): { values: Float64Array; shape: number[] } {
  const [batch, height, width, channels] = xShape as [number, number, number, number];
  const shape = [batch, height + 2 * pad, width + 2 * pad, channels];
  const reflect = (i: number, size: number): number => {
    const k = i - pad;
    if (k < 0) return -k;
    if (k >= size) return 2 * (size - 1) - k;
    return k;
  };
  const values = new Float64Array(batch * shape[1]! * shape[2]! * channels);
  for (let n = 0; n < batch; n++)
    for (let h = 0; h < shape[1]!; h++)
      for (let w = 0; w < shape[2]!; w++)
        for (let c = 0; c < channels; c++) {
          values[nhwcIndex(shape, n, h, w, c)] = x[nhwcIndex(xShape, n, reflect(h, height), reflect(w, width), c)]!;
        }
  return { values, shape };
}

/** Central finite-difference gradient of the scalar f at x, in float64. */
export function finiteDifferenceGradient(f: (x: Float64Array) => number, x: ArrayLike<number>, step = 1e-4): Float64Array {
  const point = Float64Array.from(x);
  const gradient = new Float64Array(point.length);
  for (let i = 0; i < point.length; i++) {
    const saved = point[i]!;
    point[i] = saved + step;
    const up = f(point);
    point[i] = saved - step;
    const down = f(point);
    point[i] = saved;
    gradient[i] = (up - down) / (2 * step);
  }
  return gradient;
}

export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i]! * b[i]!;
  return sum;
}

/** NCHW -> NHWC for a flat array. */
export function nchwToNhwc(values: ArrayLike<number>, shape: readonly number[]): { values: Float32Array; shape: number[] } {
  const [n, c, h, w] = shape as [number, number, number, number];
  const out = new Float32Array(values.length);
  for (let b = 0; b < n; b++)
    for (let ch = 0; ch < c; ch++)
      for (let y = 0; y < h; y++)
        for (let x = 0; x < w; x++) out[((b * h + y) * w + x) * c + ch] = values[((b * c + ch) * h + y) * w + x]!;
  return { values: out, shape: [n, h, w, c] };
}
