/**
 * Per-tap input windows of a convolution, as matmul operands.
 *
 * For stride s the padded input is split into s*s phases
 * (xPadded[:, a::sh, b::sw]), so tap (i, j) reads phase (i % sh, j % sw) at
 * the unit-stride offset (i // sh, j // sw). Within a phase of width Wq, the
 * rows a tap needs are one contiguous run of the flattened phase starting at
 * offset*Wq + shift; the Wq - Wo extra columns per row are computed and
 * discarded (or meet zeros in a zero-padded dy), for about Wq / Wo of the
 * ideal work. Each phase is transposed once to [Ci, N * Hq * Wq], so a tap's
 * window [Ci, N * Ho * Wq] is a plain column slice.
 */
import * as tf from '@tensorflow/tfjs-core';
import { spatialWindow, type ConvGeometry } from './conv-geometry';
import { batchTranspose } from './js-kernels';

export interface TapWindows {
  /** Width of the computed rows: the output width plus the discarded columns. */
  wideWidth: number;
  /** N * Ho * wideWidth: columns of every window. */
  columns: number;
  /** Window of tap (i, j), transposed: [Ci, columns]. */
  window(i: number, j: number): tf.Tensor2D;
}

export function tapWindows(
  x: tf.Tensor4D,
  kernelHeight: number,
  kernelWidth: number,
  outHeight: number,
  outWidth: number,
  geometry: ConvGeometry,
): TapWindows {
  const [batch, , , inChannels] = x.shape;
  const { strideHeight: sh, strideWidth: sw, padTop, padLeft } = geometry;
  // Phase grid: Hq rows (one spare so the last tap's flat run stays in range), Wq columns.
  const phaseHeight = outHeight + Math.ceil(kernelHeight / sh);
  const phaseWidth = outWidth + Math.floor((kernelWidth - 1) / sw);
  const padded = spatialWindow(x, -padTop, phaseHeight * sh, -padLeft, phaseWidth * sw);
  const phaseSize = phaseHeight * phaseWidth;

  // Built eagerly, in the caller's scope: windows are often taken inside
  // per-tap tidy() scopes, which must not free a phase other taps still read.
  const makePhase = (a: number, b: number): tf.Tensor3D => {
    const flat =
      sh === 1 && sw === 1
        ? tf.reshape(padded, [batch, phaseSize, inChannels])
        : tf.reshape(
            tf.slice(
              tf.reshape(padded, [batch * phaseHeight, sh, phaseWidth, sw * inChannels]),
              [0, a, 0, b * inChannels],
              [-1, 1, -1, inChannels],
            ),
            [batch, phaseSize, inChannels],
          );
    // [Ci, N, Hq*Wq]: the blocked transpose when N = 1 (the usual case), tfjs's otherwise.
    return batch === 1
      ? (tf.reshape(batchTranspose(flat as tf.Tensor3D), [inChannels, 1, phaseSize]) as tf.Tensor3D)
      : (tf.transpose(flat, [2, 0, 1]) as tf.Tensor3D);
  };
  const phases = new Map<string, tf.Tensor3D>();
  for (let a = 0; a < Math.min(sh, kernelHeight); a++) {
    for (let b = 0; b < Math.min(sw, kernelWidth); b++) phases.set(`${a},${b}`, makePhase(a, b));
  }
  const phase = (a: number, b: number): tf.Tensor3D => phases.get(`${a},${b}`)!;

  const columns = batch * outHeight * phaseWidth;
  return {
    wideWidth: phaseWidth,
    columns,
    window: (i, j) => {
      const start = Math.floor(i / sh) * phaseWidth + Math.floor(j / sw);
      return tf.reshape(tf.slice(phase(i % sh, j % sw), [0, 0, start], [-1, -1, outHeight * phaseWidth]), [
        inChannels,
        columns,
      ]);
    },
  };
}
