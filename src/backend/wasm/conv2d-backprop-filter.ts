/**
 * Conv2DBackpropFilter for wasm (tfjs 4.22 has none), built on XNNPACK matmul.
 *
 *   dW[i, j, ci, co] = sum over n, oh, ow of
 *                      xPadded[n, oh*sh + i, ow*sw + j, ci] * dy[n, oh, ow, co]
 *
 * For stride s the padded input is split into s*s phases
 * (xPadded[:, a::sh, b::sw]), so tap (i, j) reads phase (i % sh, j % sw) at
 * the unit-stride offset (i // sh, j // sw). Within a phase of width Wq, with
 * dy zero-padded from Wo to Wq columns, the rows a tap needs are one
 * contiguous run of the flattened phase starting at offset*Wq + shift: the
 * columns that run past Wo meet zeros in dy. Each tap is then one matmul
 * windowT [Ci, K] x dy [K, Co] with K = N * Ho * Wq, for about (Wq / Wo) of
 * the ideal work.
 *
 * Operand order matters on wasm: tfjs's BatchMatMul packs its right operand
 * into XNNPACK's weight layout on every call unless that tensor was already
 * packed (the cache is keyed by tensor id). dy is the right operand of every
 * tap, so it is packed once per call; each phase is transposed once so that
 * the taps' left operands are plain column slices.
 */
import * as tf from '@tensorflow/tfjs-core';
import { spatialWindow } from './conv-geometry';

export interface FilterGradientGeometry {
  strideHeight: number;
  strideWidth: number;
  padTop: number;
  padLeft: number;
}

export function conv2dFilterGradient(
  x: tf.Tensor4D,
  dy: tf.Tensor4D,
  filterShape: [number, number, number, number],
  geometry: FilterGradientGeometry,
): tf.Tensor4D {
  const [batch, , , inChannels] = x.shape;
  const [, outHeight, outWidth, outChannels] = dy.shape;
  const [kernelHeight, kernelWidth] = filterShape;
  const { strideHeight: sh, strideWidth: sw, padTop, padLeft } = geometry;

  // Phase grid: Hq rows (one spare so the last tap's flat run stays in range), Wq columns.
  const phaseHeight = outHeight + Math.ceil(kernelHeight / sh);
  const phaseWidth = outWidth + Math.floor((kernelWidth - 1) / sw);
  const padded = spatialWindow(x, -padTop, phaseHeight * sh, -padLeft, phaseWidth * sw);

  // Each phase transposed to [Ci, N, Hq*Wq], so a tap's window is a column range.
  const phases = new Map<string, tf.Tensor3D>();
  const phase = (a: number, b: number): tf.Tensor3D => {
    const key = `${a},${b}`;
    const cached = phases.get(key);
    if (cached != null) return cached;
    const flat: tf.Tensor =
      sh === 1 && sw === 1
        ? tf.reshape(padded, [batch, phaseHeight * phaseWidth, inChannels])
        : tf.reshape(
            tf.slice(
              tf.reshape(padded, [batch * phaseHeight, sh, phaseWidth, sw * inChannels]),
              [0, a, 0, b * inChannels],
              [-1, 1, -1, inChannels],
            ),
            [batch, phaseHeight * phaseWidth, inChannels],
          );
    const transposed = tf.transpose(flat, [2, 0, 1]) as tf.Tensor3D;
    phases.set(key, transposed);
    return transposed;
  };

  const rows = batch * outHeight * phaseWidth;
  const dyWide = tf.reshape(spatialWindow(dy, 0, outHeight, 0, phaseWidth), [rows, outChannels]);

  const taps: tf.Tensor2D[] = [];
  for (let i = 0; i < kernelHeight; i++) {
    for (let j = 0; j < kernelWidth; j++) {
      const start = Math.floor(i / sh) * phaseWidth + Math.floor(j / sw);
      const windowTransposed = tf.reshape(
        tf.slice(phase(i % sh, j % sw), [0, 0, start], [-1, -1, outHeight * phaseWidth]),
        [inChannels, rows],
      );
      taps.push(tf.matMul(windowTransposed, dyWide)); // [Ci, Co]
    }
  }
  // [kh*kw, Ci, Co] is already the filter layout.
  return tf.reshape(tf.stack(taps), filterShape);
}
