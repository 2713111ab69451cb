/**
 * Per-instance feature rows, as the reference extracts them for clustering
 * (pix2pixHD_model.encode_features): for every instance of a sample, in
 * ascending instance id, its class, its id, the feature vector read at its
 * middle pixel in raster order (after E's instance-wise pooling every pixel of
 * an instance holds the same vector, so any pixel would do; the middle one
 * reproduces the reference exactly should they differ), and its area ratio.
 *
 * Pure maths over typed arrays: no tfjs, so it is tested without a backend.
 */

/** Instance ids below this are class ids themselves ("stuff"); above, id // 1000 is the class ("things"). */
export const INSTANCE_ID_CLASS_FACTOR = 1000;

/** The reference's divisor for area ratios: pixels / (H * W // 32). */
export const AREA_BLOCK_COUNT = 32;

/** Class of an instance id: the id if < 1000, else id // 1000 (Cityscapes convention). */
export function classOfInstance(instanceId: number): number {
  return instanceId < INSTANCE_ID_CLASS_FACTOR ? instanceId : Math.floor(instanceId / INSTANCE_ID_CLASS_FACTOR);
}

export interface InstanceRows {
  readonly featNum: number;
  /** Row-major [rows, featNum]. */
  readonly features: Float32Array;
  readonly classes: Int32Array;
  readonly instances: Int32Array;
  readonly areas: Float32Array;
}

/** The distinct ids of an instance map, ascending. */
export function distinctInstanceIds(instanceMap: Int32Array): number[] {
  return [...new Set(instanceMap)].sort((a, b) => a - b);
}

/**
 * Feature rows of one sample.
 *
 * @param featureMap HWC [height, width, featNum] (p2phd computes in NHWC)
 * @param instanceMap [height, width] instance ids
 */
export function instanceFeatureRows(
  featureMap: Float32Array,
  instanceMap: Int32Array,
  height: number,
  width: number,
  featNum: number,
): InstanceRows {
  const pixels = height * width;
  if (instanceMap.length !== pixels) {
    throw new RangeError(`instance map has ${instanceMap.length} pixels, expected ${height}x${width}`);
  }
  if (featureMap.length !== pixels * featNum) {
    throw new RangeError(`feature map has ${featureMap.length} values, expected ${height}x${width}x${featNum}`);
  }
  const counts = new Map<number, number>();
  for (const id of instanceMap) counts.set(id, (counts.get(id) ?? 0) + 1);

  // Second raster pass: the pixel whose rank within its instance is count // 2.
  const middlePixel = new Map<number, number>();
  const seen = new Map<number, number>();
  for (let pixel = 0; pixel < pixels; pixel++) {
    const id = instanceMap[pixel]!;
    const rank = seen.get(id) ?? 0;
    if (rank === Math.floor(counts.get(id)! / 2)) middlePixel.set(id, pixel);
    seen.set(id, rank + 1);
  }

  const ids = [...counts.keys()].sort((a, b) => a - b);
  const rows = ids.length;
  const features = new Float32Array(rows * featNum);
  const classes = new Int32Array(rows);
  const instances = new Int32Array(rows);
  const areas = new Float32Array(rows);
  // Integer division as the reference's h * w // block_num; at least 1 so
  // that maps smaller than 32 pixels give finite ratios.
  const areaUnit = Math.max(1, Math.floor(pixels / AREA_BLOCK_COUNT));
  ids.forEach((id, row) => {
    const pixel = middlePixel.get(id)!;
    features.set(featureMap.subarray(pixel * featNum, (pixel + 1) * featNum), row * featNum);
    classes[row] = classOfInstance(id);
    instances[row] = id;
    areas[row] = counts.get(id)! / areaUnit;
  });
  return { featNum, features, classes, instances, areas };
}
