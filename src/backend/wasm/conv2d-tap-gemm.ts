/**
 * Conv2D for small images and large filters, as one XNNPACK matmul per tap.
 *
 * tfjs's wasm Conv2D re-packs its filter whenever the filter tensor is new,
 * which in training is every step. The packing starts with a naive
 * [kh*kw*Ci, Co] -> [Co, kh*kw*Ci] transpose that thrashes the cache: for
 * the reference generator's residual blocks (3x3, 1024 -> 1024 channels on
 * an 8x16 image) it takes ~290 ms of a 370 ms call, against ~75 ms of
 * arithmetic. Here the output is computed transposed,
 *
 *   yT [Co, N*Ho*Wq] = sum over taps (i, j) of  wT[i, j] [Co, Ci]  x  windowT(i, j) [Ci, N*Ho*Wq],
 *
 * with the filter transposed per tap by a blocked JS kernel (~15 ms) and
 * used as the matmul's streamed left operand, which XNNPACK does not pack;
 * only the small windows are packed. Used where the output has few pixels
 * and the filter is large (see `preferTapGemm`).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ConvGeometry } from './conv-geometry';
import { tapWindows } from './conv-taps';
import { batchTranspose } from './js-kernels';

/**
 * Output pixels (N*Ho*Wo) up to which the tap-matmul form is used. Cost
 * model from measurements on [1,10,18,1024] 3x3: XNNPACK spends ~30 ns per
 * filter element re-packing plus its GEMM at ~30 GFLOP/s; the tap form ~4 ns
 * per element transposing plus GEMMs at ~18 GFLOP/s. They break even near
 * 600 output pixels.
 */
const TAP_GEMM_MAX_OUTPUT_PIXELS = 512;
/** Filter elements from which the tap-matmul form is used (smaller filters pack cheaply). */
const TAP_GEMM_MIN_FILTER_ELEMENTS = 65536;

export function preferTapGemm(outputPixels: number, filterElements: number): boolean {
  return outputPixels <= TAP_GEMM_MAX_OUTPUT_PIXELS && filterElements >= TAP_GEMM_MIN_FILTER_ELEMENTS;
}

/**
 * The tap-matmul form of a correlation of `x` with a kh x kw kernel:
 * sum over taps (i, j) of tapFilter(i, j) [Co, Ci] x window(i, j), returned
 * NHWC [N, outHeight, width, Co] where width is outWidth, or with `crop`
 * false the computed width (spare columns on the right). Each tap's operands
 * are freed as soon as they are used.
 */
export function tapGemm(
  x: tf.Tensor4D,
  kernelHeight: number,
  kernelWidth: number,
  outHeight: number,
  outWidth: number,
  geometry: ConvGeometry,
  outChannels: number,
  tapFilter: (i: number, j: number) => tf.Tensor2D,
  crop = true,
): tf.Tensor4D {
  const [batch] = x.shape;
  const windows = tapWindows(x, kernelHeight, kernelWidth, outHeight, outWidth, geometry);
  const products: tf.Tensor2D[] = [];
  for (let i = 0; i < kernelHeight; i++) {
    for (let j = 0; j < kernelWidth; j++) {
      products.push(tf.tidy(() => tf.matMul(tapFilter(i, j), windows.window(i, j))));
    }
  }
  const summed = products.length === 1 ? products[0]! : tf.addN(products); // [Co, N*Ho*Wq]
  const wide = tf.reshape(batchTranspose(tf.reshape(summed, [1, outChannels, windows.columns])), [
    batch,
    outHeight,
    windows.wideWidth,
    outChannels,
  ]);
  if (windows.wideWidth === outWidth || !crop) return wide as tf.Tensor4D;
  return tf.slice(wide, [0, 0, 0, 0], [-1, -1, outWidth, -1]) as tf.Tensor4D;
}

export function conv2dTapGemm(
  x: tf.Tensor4D,
  filter: tf.Tensor4D,
  outHeight: number,
  outWidth: number,
  geometry: ConvGeometry,
): tf.Tensor4D {
  const [kernelHeight, kernelWidth, inChannels, outChannels] = filter.shape;
  // [taps, Ci, Co] -> [taps, Co, Ci]: each tap's filter as a row-major left operand.
  const filterTransposed = batchTranspose(tf.reshape(filter, [kernelHeight * kernelWidth, inChannels, outChannels]));
  return tapGemm(x, kernelHeight, kernelWidth, outHeight, outWidth, geometry, outChannels, (i, j) =>
    tf.reshape(tf.slice(filterTransposed, [i * kernelWidth + j, 0, 0], [1, -1, -1]), [outChannels, inChannels]),
  );
}
