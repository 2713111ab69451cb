/** Geometry, padding and cropping helpers shared by the convolution kernels. */
import * as tf from '@tensorflow/tfjs-core';

/** Strides and leading (top/left) padding of a conv; the trailing padding follows from the output size. */
export interface ConvGeometry {
  strideHeight: number;
  strideWidth: number;
  padTop: number;
  padLeft: number;
}

/** The geometry of a tfjs conv info. */
export function convGeometry(info: tf.backend_util.Conv2DInfo): ConvGeometry {
  return { strideHeight: info.strideHeight, strideWidth: info.strideWidth, padTop: info.padInfo.top, padLeft: info.padInfo.left };
}

/**
 * Returns rows [start, start + length) and columns likewise of x (NHWC), where
 * indices outside the input read as zeros: a crop where the window is inside,
 * zero padding where it is outside.
 */
export function spatialWindow(
  x: tf.Tensor4D,
  rowStart: number,
  rowCount: number,
  colStart: number,
  colCount: number,
): tf.Tensor4D {
  const [, height, width] = x.shape;
  const cropTop = Math.max(rowStart, 0);
  const cropLeft = Math.max(colStart, 0);
  const cropBottom = Math.min(rowStart + rowCount, height);
  const cropRight = Math.min(colStart + colCount, width);
  if (cropBottom <= cropTop || cropRight <= cropLeft) {
    return tf.zeros([x.shape[0], rowCount, colCount, x.shape[3]]);
  }
  const inside =
    cropTop === 0 && cropLeft === 0 && cropBottom === height && cropRight === width
      ? x
      : tf.slice(x, [0, cropTop, cropLeft, 0], [-1, cropBottom - cropTop, cropRight - cropLeft, -1]);
  const padTop = cropTop - rowStart;
  const padLeft = cropLeft - colStart;
  const padBottom = rowStart + rowCount - cropBottom;
  const padRight = colStart + colCount - cropRight;
  if (padTop === 0 && padLeft === 0 && padBottom === 0 && padRight === 0) return inside;
  return tf.pad(inside, [
    [0, 0],
    [padTop, padBottom],
    [padLeft, padRight],
    [0, 0],
  ]);
}
