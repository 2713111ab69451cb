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
 * dyT [Co, K] x window [K, Ci], with K = N * Ho * Wq, for about
 * (Wq / Wo) of the ideal work.
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

  const phases = new Map<string, tf.Tensor3D>();
  const phase = (a: number, b: number): tf.Tensor3D => {
    const key = `${a},${b}`;
    let found = phases.get(key);
    if (found == null) {
      found =
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
      phases.set(key, found);
    }
    return found;
  };

  const rows = batch * outHeight * phaseWidth;
  const dyWide = spatialWindow(dy, 0, outHeight, 0, phaseWidth);
  const dyTransposed = tf.transpose(tf.reshape(dyWide, [rows, outChannels])); // [Co, K]

  const taps: tf.Tensor2D[] = [];
  for (let i = 0; i < kernelHeight; i++) {
    for (let j = 0; j < kernelWidth; j++) {
      const start = Math.floor(i / sh) * phaseWidth + Math.floor(j / sw);
      const window = tf.reshape(
        tf.slice(phase(i % sh, j % sw), [0, start, 0], [-1, outHeight * phaseWidth, -1]),
        [rows, inChannels],
      );
      taps.push(tf.matMul(dyTransposed, window)); // [Co, Ci]
    }
  }
  // [kh*kw, Co, Ci] -> [kh, kw, Ci, Co]
  const stacked = tf.stack(taps) as tf.Tensor3D;
  return tf.reshape(tf.transpose(stacked, [0, 2, 1]), filterShape);
}
