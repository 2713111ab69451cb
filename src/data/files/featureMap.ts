/**
 * feature_map files (`kind: "feature_map"`), written by `p2phd encode
 * --maps DIR` (one per sample, under the sample's file name) and read by
 * `train local|joint --load-features DIR`: the reference's
 * precompute_feature_maps.py + --load_features, its recipe for training the
 * 1024p feature model without running E.
 *
 * | tensor     | dtype, shape                 |
 * |------------|------------------------------|
 * | `features` | F32 [H, W, feat_num]: E's output pooled per instance (or per label with label_feat) |
 *
 * Metadata: `feat_num`, `size` [H, W], `label_feat`, `checkpoint`. Unlike
 * the reference's PNGs (8-bit), the values are E's float32 outputs.
 *
 * A map may be an integer fraction of its sample's size (the reference
 * encodes at 512p and trains at 1024p): it is then upsampled by nearest
 * neighbour, as the reference's nn.Upsample(scale_factor=2, 'nearest').
 */
import { basename, join } from 'node:path';
import { InputError } from '../../errors.js';
import { makeTensor, type Tensor } from '../formats/safetensors.js';
import { readTensorFile, requireTensor, writeTensorFile } from './tensorFile.js';

export interface FeatureMap {
  readonly height: number;
  readonly width: number;
  readonly featNum: number;
  /** HWC. */
  readonly values: Float32Array;
}

/** The map file of `samplePath` in `dir`: the same file name. */
export function featureMapPath(dir: string, samplePath: string): string {
  return join(dir, basename(samplePath));
}

export async function writeFeatureMap(path: string, map: FeatureMap, meta: { labelFeat: boolean; checkpoint: string }): Promise<void> {
  const tensors = new Map<string, Tensor>([['features', makeTensor('F32', [map.height, map.width, map.featNum], map.values)]]);
  await writeTensorFile(path, 'feature_map', tensors, { feat_num: map.featNum, size: [map.height, map.width], label_feat: meta.labelFeat, checkpoint: meta.checkpoint });
}

export async function readFeatureMap(path: string): Promise<FeatureMap> {
  const file = await readTensorFile(path, 'feature_map');
  const tensor = requireTensor(file, 'features', ['F32']);
  if (tensor.shape.length !== 3 || tensor.shape.some((side) => side < 1)) {
    throw new InputError(`${file.source}: tensor "features" has shape [${tensor.shape.join(', ')}], expected [H, W, feat_num]`);
  }
  const [height, width, featNum] = tensor.shape as [number, number, number];
  const values = tensor.data as Float32Array;
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i]!)) throw new InputError(`${file.source}: holds a non-finite feature value`);
  }
  return { height, width, featNum, values };
}

/**
 * The map at the sample's size `height` x `width`: as stored, or upsampled
 * by nearest neighbour when the sample is an integer multiple of it (the same
 * factor on both sides). Any other size is exit 3 naming the file.
 */
export function featureMapAtSize(map: FeatureMap, height: number, width: number, source: string): Float32Array {
  if (map.height === height && map.width === width) return map.values;
  const factor = height / map.height;
  if (!Number.isInteger(factor) || factor < 1 || width !== map.width * factor) {
    throw new InputError(`${source}: feature map is ${map.width}x${map.height}, which is neither the sample's ${width}x${height} nor an integer fraction of it`);
  }
  const { featNum } = map;
  const out = new Float32Array(height * width * featNum);
  for (let y = 0; y < height; y++) {
    const sourceRow = Math.floor(y / factor) * map.width;
    for (let x = 0; x < width; x++) {
      const from = (sourceRow + Math.floor(x / factor)) * featNum;
      out.set(map.values.subarray(from, from + featNum), (y * width + x) * featNum);
    }
  }
  return out;
}
