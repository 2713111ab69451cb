/**
 * Float64 references shared across test areas (no tfjs): NHWC indexing and
 * PyTorch's InstanceNorm2d.
 */

/** NHWC index helper for flat arrays. */
export function nhwcIndex(shape: readonly number[], n: number, h: number, w: number, c: number): number {
  return ((n * shape[1]! + h) * shape[2]! + w) * shape[3]! + c;
}

/** Float64 InstanceNorm2d(affine=False), NHWC. */
export function referenceInstanceNorm(x: ArrayLike<number>, xShape: readonly number[], eps = 1e-5): Float64Array {
  const [batch, height, width, channels] = xShape as [number, number, number, number];
  const out = new Float64Array(x.length);
  const count = height * width;
  for (let n = 0; n < batch; n++)
    for (let c = 0; c < channels; c++) {
      let mean = 0;
      for (let h = 0; h < height; h++) for (let w = 0; w < width; w++) mean += x[nhwcIndex(xShape, n, h, w, c)]!;
      mean /= count;
      let variance = 0;
      for (let h = 0; h < height; h++)
        for (let w = 0; w < width; w++) variance += (x[nhwcIndex(xShape, n, h, w, c)]! - mean) ** 2;
      variance /= count;
      const invStd = 1 / Math.sqrt(variance + eps);
      for (let h = 0; h < height; h++)
        for (let w = 0; w < width; w++) {
          const i = nhwcIndex(xShape, n, h, w, c);
          out[i] = (x[i]! - mean) * invStd;
        }
    }
  return out;
}
