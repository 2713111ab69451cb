/**
 * Conv2DBackpropFilter for wasm (tfjs 4.22 has none), built on XNNPACK matmul.
 *
 *   dW[i, j, ci, co] = sum over n, oh, ow of
 *                      xPadded[n, oh*sh + i, ow*sw + j, ci] * dy[n, oh, ow, co]
 *
 * Each tap is one matmul windowT [Ci, K] x dy [K, Co] with the tap windows of
 * ./conv-taps (K = N * Ho * Wq, dy zero-padded from Wo to Wq columns so the
 * extra window columns contribute nothing).
 *
 * Operand order matters on wasm: tfjs's BatchMatMul packs its right operand
 * into XNNPACK's weight layout on every call unless that tensor was already
 * packed (the cache is keyed by tensor id). dy is the right operand of every
 * tap, so it is packed once per call.
 */
import * as tf from '@tensorflow/tfjs-core';
import { spatialWindow } from './conv-geometry';
import type { ConvGeometry } from './conv-geometry';
import { tapWindows } from './conv-taps';

export function conv2dFilterGradient(
  x: tf.Tensor4D,
  dy: tf.Tensor4D,
  filterShape: [number, number, number, number],
  geometry: ConvGeometry,
): tf.Tensor4D {
  const [, outHeight, outWidth, outChannels] = dy.shape;
  const [kernelHeight, kernelWidth] = filterShape;
  const windows = tapWindows(x, kernelHeight, kernelWidth, outHeight, outWidth, geometry);
  const dyWide = tf.reshape(spatialWindow(dy, 0, outHeight, 0, windows.wideWidth), [windows.columns, outChannels]);
  if (windows.columns <= outChannels) {
    // Small images: the windows are smaller than the per-tap results, so stack
    // the windows instead and do one matmul [kh*kw*Ci, K] x [K, Co], whose
    // result is already the filter layout.
    const stacked: tf.Tensor2D[] = [];
    for (let i = 0; i < kernelHeight; i++) {
      for (let j = 0; j < kernelWidth; j++) stacked.push(windows.window(i, j));
    }
    return tf.reshape(tf.matMul(tf.concat(stacked, 0), dyWide), filterShape);
  }
  const taps: tf.Tensor2D[] = [];
  for (let i = 0; i < kernelHeight; i++) {
    for (let j = 0; j < kernelWidth; j++) {
      // Each window is freed as soon as it is used: 49 windows of a large image would not fit the heap.
      taps.push(tf.tidy(() => tf.matMul(windows.window(i, j), dyWide))); // [Ci, Co]
    }
  }
  // [kh*kw, Ci, Co] is already the filter layout.
  return tf.reshape(tf.stack(taps), filterShape);
}
