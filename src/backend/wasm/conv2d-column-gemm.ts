/**
 * A convolution's three products for small images with large filters, each
 * as ONE XNNPACK matmul over the filter in its own layout W [kh*kw*Ci, Co]
 * (the generator's bottleneck: 3x3, 1024 -> 1024 channels on 8x16 pixels;
 * the coarse discriminator's 4x4 layers):
 *
 *   forward         yT    [Co, P]      = WT [Co, kh*kw*Ci]  x  colT [kh*kw*Ci, P]
 *   input gradient  dcolT [kh*kw*Ci, P] = W                 x  dyT [Co, P]      (then col2im)
 *   filter gradient dW    [kh*kw*Ci, Co] = colT             x  dy [P, Co]
 *
 * where P = N*Ho*Wo is the output pixels and colT the transposed im2col of
 * the input (row (i, j, ci), column (n, oh, ow) = x[n, oh*sh + i - padTop,
 * ow*sw + j - padLeft, ci], zero outside). Why this shape: tfjs's wasm
 * BatchMatMul hands XNNPACK its RIGHT operand as the weights to pack (about
 * 13 ns per element for a new tensor: 120 ms for a 9.4M-weight filter),
 * while its left operand is streamed as is. So the large filter is always
 * the left operand and only P-column matrices are packed; the input
 * gradient needs W exactly as stored (no flip, no transpose), the forward
 * one blocked transpose. Any stride and padding: col2im scatters the
 * columns back whatever the geometry. Against the per-tap form this
 * replaced, no work is spent on discarded columns and there are no
 * per-tap filter slices or sums.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ConvGeometry } from './conv-geometry';
import { asWasmBackend, copyRuns, emptyHeapTensor } from './heap-views';
import { batchTranspose } from './js-kernels';
import { derivedTensors } from './derived-tensors';

/**
 * Output pixels (N*Ho*Wo) up to which the column form is used, and the
 * filter size from which (smaller filters pack cheaply and XNNPACK's conv
 * wins). Measured at 2 threads: above ~512 pixels the scalar col2im makes
 * the input gradient slower than the stride phases (D's [1,33,65,128] 4x4
 * stride 2, 561 pixels: 86-93 against 58-75 ms), while at 512 and below the
 * column form wins all three products (G's [1,32,64,256] 3x3 stride 2:
 * input gradient 53-61 against ~180 ms by phases).
 */
const COLUMN_GEMM_MAX_OUTPUT_PIXELS = 512;
const COLUMN_GEMM_MIN_FILTER_ELEMENTS = 65536;

export function preferColumnGemm(outputPixels: number, filterElements: number): boolean {
  return outputPixels <= COLUMN_GEMM_MAX_OUTPUT_PIXELS && filterElements >= COLUMN_GEMM_MIN_FILTER_ELEMENTS;
}

/** Shape of a convolution as the column form sees it. */
export interface ColumnConvShape {
  batch: number;
  height: number;
  width: number;
  inChannels: number;
  kernelHeight: number;
  kernelWidth: number;
  outHeight: number;
  outWidth: number;
  outChannels: number;
  geometry: ConvGeometry;
}

/** Columns [first, last) of an output row whose input column ow*s + offset lies inside [0, size). */
function insideRange(outSize: number, stride: number, offset: number, size: number): [number, number] {
  const first = Math.min(outSize, Math.max(0, Math.ceil(-offset / stride)));
  const last = Math.max(first, Math.min(outSize, Math.floor((size - 1 - offset) / stride) + 1));
  return [first, last];
}

/**
 * Walks every run of colT: for tap (i, j), channel ci, image n and output
 * row oh, `visit(rowStart, inputRowStart, first, last, columnOffset)` where
 * colT's run is [rowStart + first, rowStart + last) (the rest of the output
 * row reads zeros) and xT's elements are inputRowStart + ow*sw + columnOffset.
 * inputRowStart is -1 where the whole row lies in the padding.
 */
function walkColumnRuns(
  shape: ColumnConvShape,
  visit: (rowStart: number, inputRowStart: number, first: number, last: number, columnOffset: number) => void,
): void {
  const { batch, height, width, inChannels, kernelHeight, kernelWidth, outHeight, outWidth, geometry } = shape;
  const { strideHeight: sh, strideWidth: sw, padTop, padLeft } = geometry;
  const pixels = batch * outHeight * outWidth;
  const planeSize = batch * height * width;
  for (let i = 0; i < kernelHeight; i++) {
    for (let j = 0; j < kernelWidth; j++) {
      const columnOffset = j - padLeft;
      const [first, last] = insideRange(outWidth, sw, columnOffset, width);
      for (let ci = 0; ci < inChannels; ci++) {
        const rowBase = ((i * kernelWidth + j) * inChannels + ci) * pixels;
        for (let n = 0; n < batch; n++) {
          for (let oh = 0; oh < outHeight; oh++) {
            const ih = oh * sh + i - padTop;
            const inputRowStart = ih >= 0 && ih < height ? ci * planeSize + (n * height + ih) * width : -1;
            visit(rowBase + (n * outHeight + oh) * outWidth, inputRowStart, first, last, columnOffset);
          }
        }
      }
    }
  }
}

/** The transposed im2col of x: [kh*kw*Ci, N*Ho*Wo]. */
export function columnsTransposed(x: tf.Tensor4D, shape: ColumnConvShape): tf.Tensor2D {
  const { batch, height, width, inChannels, kernelHeight, kernelWidth, outHeight, outWidth, geometry } = shape;
  // [Ci, N*H*W]: each channel's pixels contiguous, so every colT run is a strided (stride 1: contiguous) copy.
  const xT = batchTranspose(tf.reshape(x, [1, batch * height * width, inChannels]));
  const backend = tf.backend();
  const columns = emptyHeapTensor(backend, [kernelHeight * kernelWidth * inChannels, batch * outHeight * outWidth]) as tf.Tensor2D;
  const wasm = asWasmBackend(backend);
  // Views only after every allocation (a grown heap detaches older views).
  const source = wasm.typedArrayFromHeap(xT) as Float32Array;
  const target = wasm.typedArrayFromHeap(columns) as Float32Array;
  const sw = geometry.strideWidth;
  walkColumnRuns(shape, (rowStart, inputRowStart, first, last, columnOffset) => {
    if (inputRowStart < 0) {
      target.fill(0, rowStart, rowStart + outWidth);
      return;
    }
    if (first > 0) target.fill(0, rowStart, rowStart + first);
    if (sw === 1) {
      // One contiguous run (copyRuns copies short ones element by element: the bottleneck's rows are 16 wide).
      copyRuns(source, inputRowStart + first + columnOffset, 0, target, rowStart + first, 0, 1, last - first);
    } else {
      let from = inputRowStart + first * sw + columnOffset;
      for (let ow = first; ow < last; ow++, from += sw) target[rowStart + ow] = source[from]!;
    }
    if (last < outWidth) target.fill(0, rowStart + last, rowStart + outWidth);
  });
  xT.dispose();
  return columns;
}

/** col2im of colT-shaped columns: the NHWC tensor whose columns they are, overlapping taps summed. */
function imageFromColumnsTransposed(columns: tf.Tensor2D, shape: ColumnConvShape): tf.Tensor4D {
  const { batch, height, width, inChannels, geometry } = shape;
  const backend = tf.backend();
  // Summed as [Ci, N*H*W] (runs along a channel's pixels), transposed once at the end.
  const imageT = emptyHeapTensor(backend, [1, inChannels, batch * height * width]) as tf.Tensor3D;
  const wasm = asWasmBackend(backend);
  const source = wasm.typedArrayFromHeap(columns) as Float32Array;
  const target = wasm.typedArrayFromHeap(imageT) as Float32Array;
  target.fill(0);
  const sw = geometry.strideWidth;
  walkColumnRuns(shape, (rowStart, inputRowStart, first, last, columnOffset) => {
    if (inputRowStart < 0) return;
    let to = inputRowStart + first * sw + columnOffset;
    for (let ow = first; ow < last; ow++, to += sw) target[to]! += source[rowStart + ow]!;
  });
  const image = batchTranspose(imageT);
  imageT.dispose();
  return tf.reshape(image, [batch, height, width, inChannels]) as tf.Tensor4D;
}

/** [N, H, W, C] -> [C, N*H*W] (a matmul's right operand). */
function pixelsTransposed(t: tf.Tensor4D): tf.Tensor2D {
  const [batch, height, width, channels] = t.shape;
  return tf.reshape(batchTranspose(tf.reshape(t, [1, batch * height * width, channels])), [channels, batch * height * width]);
}

/** The correlation of x with `filter` [kh, kw, Ci, Co]: NHWC [N, Ho, Wo, Co]. */
export function conv2dColumnGemm(x: tf.Tensor4D, filter: tf.Tensor4D, shape: ColumnConvShape): tf.Tensor4D {
  const { batch, outHeight, outWidth, outChannels } = shape;
  const taps = filter.shape[0] * filter.shape[1] * filter.shape[2];
  // Kept for the training step where the filter is small enough (./derived-tensors): D's filters meet three forward passes a step.
  const transposed = derivedTensors(filter, 'column transpose', () => [
    tf.reshape(batchTranspose(tf.reshape(filter, [1, taps, outChannels])), [outChannels, taps]),
  ]);
  const filterT = transposed.tensors[0]!;
  const columns = columnsTransposed(x, shape);
  const outT = tf.matMul(filterT, columns); // [Co, P]
  if (!transposed.cached) filterT.dispose();
  columns.dispose();
  const out = batchTranspose(tf.reshape(outT, [1, outChannels, batch * outHeight * outWidth]));
  outT.dispose();
  return tf.reshape(out, [batch, outHeight, outWidth, outChannels]) as tf.Tensor4D;
}

/** The input gradient of that correlation: dx NHWC [N, H, W, Ci] from dy [N, Ho, Wo, Co]. */
export function conv2dInputGradientColumnGemm(dy: tf.Tensor4D, filter: tf.Tensor4D, shape: ColumnConvShape): tf.Tensor4D {
  const dyT = pixelsTransposed(dy);
  const filter2d = tf.reshape(filter, [filter.shape[0] * filter.shape[1] * filter.shape[2], filter.shape[3]]);
  const columns = tf.matMul(filter2d, dyT); // [kh*kw*Ci, P]
  dyT.dispose();
  const dx = imageFromColumnsTransposed(columns as tf.Tensor2D, shape);
  columns.dispose();
  return dx;
}

/** The filter gradient of that correlation: dW [kh, kw, Ci, Co]. */
export function conv2dFilterGradientColumnGemm(x: tf.Tensor4D, dy: tf.Tensor4D, shape: ColumnConvShape): tf.Tensor4D {
  const { batch, outHeight, outWidth, outChannels, kernelHeight, kernelWidth, inChannels } = shape;
  const columns = columnsTransposed(x, shape);
  const dW = tf.matMul(columns, tf.reshape(dy, [batch * outHeight * outWidth, outChannels]));
  columns.dispose();
  return tf.reshape(dW, [kernelHeight, kernelWidth, inChannels, outChannels]) as tf.Tensor4D;
}

/** The column form's view of a tfjs conv info. */
export function columnConvShape(info: tf.backend_util.Conv2DInfo, geometry: ConvGeometry): ColumnConvShape {
  return {
    batch: info.batchSize,
    height: info.inHeight,
    width: info.inWidth,
    inChannels: info.inChannels,
    kernelHeight: info.filterHeight,
    kernelWidth: info.filterWidth,
    outHeight: info.outHeight,
    outWidth: info.outWidth,
    outChannels: info.outChannels,
    geometry,
  };
}
