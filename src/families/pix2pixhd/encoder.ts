/**
 * The instance-feature encoder E (pix2pixHD, section 3.3): a G1-shaped
 * encoder-decoder without residual blocks, ending in feat_num channels with
 * tanh, followed by instance-wise average pooling, so that every pixel of an
 * instance carries that instance's mean feature. State-dict prefix `E.model`.
 */
import * as tf from '@tensorflow/tfjs-core';
import { trainsOnHost } from '../../backend/capabilities.js';
import { globalGeneratorLayers } from '../../model/globalGenerator.js';
import {
  runSequential,
  sequentialSpecs,
  type ForwardOptions,
  type ParamSpec,
  type Params,
  type Sequential,
} from '../../model/layers.js';
import type { NormKind } from './config.js';

export interface EncoderShape {
  readonly inputChannels: number;
  /** feat_num. */
  readonly outputChannels: number;
  /** nef. */
  readonly nef: number;
  readonly nDownsampling: number;
  readonly norm: NormKind;
}

/** G1's layers without residual blocks (ngf = nef), ending in feat_num channels and tanh. */
export function encoder(shape: EncoderShape): Sequential {
  const { inputChannels, outputChannels, nef, nDownsampling, norm } = shape;
  return { name: 'E.model', layers: globalGeneratorLayers({ inputChannels, outputChannels, ngf: nef, nDownsampling, nBlocks: 0, norm }) };
}

export function encoderSpecs(shape: EncoderShape): ParamSpec[] {
  return sequentialSpecs(encoder(shape));
}

/**
 * An instance map turned into dense per-image segment indices, computed once
 * per batch on the CPU (instance maps are data, never differentiated).
 */
export interface InstanceSegments {
  readonly batch: number;
  readonly height: number;
  readonly width: number;
  /** For each pixel (N, H, W raster order), its segment: an index into `pixelCounts`, global over the batch. */
  readonly segmentOfPixel: Int32Array;
  /** Pixels per segment. */
  readonly pixelCounts: Int32Array;
  /** Per segment, its instance id (for callers that read features per instance). */
  readonly instanceIds: Int32Array;
  /** Per segment, the image it lies in. */
  readonly imageOfSegment: Int32Array;
}

/**
 * Groups the pixels of each image by instance id. `ids` holds N*H*W ids in
 * raster order (an [N, H, W] or [N, 1, H, W] or [N, H, W, 1] map: the same
 * thing for one channel). Segments are numbered per image in ascending id
 * order, images in order.
 */
export function instanceSegments(ids: ArrayLike<number>, batch: number, height: number, width: number): InstanceSegments {
  const pixels = height * width;
  if (ids.length !== batch * pixels) {
    throw new RangeError(`instanceSegments: ${ids.length} ids for a ${batch}x${height}x${width} map`);
  }
  const segmentOfPixel = new Int32Array(batch * pixels);
  const counts: number[] = [];
  const instanceIds: number[] = [];
  const images: number[] = [];
  for (let b = 0; b < batch; b++) {
    const base = b * pixels;
    const unique = new Set<number>();
    for (let p = 0; p < pixels; p++) unique.add(ids[base + p]!);
    const sorted = [...unique].sort((a, c) => a - c);
    const firstSegment = counts.length;
    const segmentOfId = new Map<number, number>();
    sorted.forEach((id, k) => {
      segmentOfId.set(id, firstSegment + k);
      counts.push(0);
      instanceIds.push(id);
      images.push(b);
    });
    for (let p = 0; p < pixels; p++) {
      const segment = segmentOfId.get(ids[base + p]!)!;
      segmentOfPixel[base + p] = segment;
      counts[segment]!++;
    }
  }
  return {
    batch,
    height,
    width,
    segmentOfPixel,
    pixelCounts: Int32Array.from(counts),
    instanceIds: Int32Array.from(instanceIds),
    imageOfSegment: Int32Array.from(images),
  };
}

/**
 * Instance-wise average pooling on raw NHWC data (host memory): per segment
 * and channel, the mean, written back to every pixel. What
 * instanceAveragePool computes, for callers whose features are already on
 * the host.
 */
export function poolValues(values: Float32Array, segments: InstanceSegments, channels: number): Float32Array {
  const { segmentOfPixel, pixelCounts } = segments;
  const sums = new Float64Array(pixelCounts.length * channels);
  const pixelTotal = segmentOfPixel.length;
  for (let p = 0; p < pixelTotal; p++) {
    const row = segmentOfPixel[p]! * channels;
    const at = p * channels;
    for (let c = 0; c < channels; c++) sums[row + c]! += values[at + c]!;
  }
  for (let s = 0; s < pixelCounts.length; s++) {
    for (let c = 0; c < channels; c++) sums[s * channels + c]! /= pixelCounts[s]!;
  }
  const out = new Float32Array(values.length);
  for (let p = 0; p < pixelTotal; p++) {
    const row = segmentOfPixel[p]! * channels;
    const at = p * channels;
    for (let c = 0; c < channels; c++) out[at + c] = sums[row + c]!;
  }
  return out;
}

/**
 * Instance-wise average pooling of NHWC features, differentiable.
 *
 * The pooling is a linear projection P (averaging within each instance) that
 * is symmetric, P = P^T, so its gradient is the same pooling applied to dy.
 * Computed on the host in one pass over the pixels: O(N H W C) whatever the
 * instance count (a one-hot matmul would be O(N H W C K), and tfjs's
 * UnsortedSegmentSum is missing on wasm).
 */
export function instanceAveragePool(features: tf.Tensor4D, segments: InstanceSegments): tf.Tensor4D {
  const [batch, height, width, channels] = features.shape;
  if (batch !== segments.batch || height !== segments.height || width !== segments.width) {
    throw new RangeError(
      `instanceAveragePool: features ${batch}x${height}x${width} do not match the instance map ${segments.batch}x${segments.height}x${segments.width}`,
    );
  }
  if (!trainsOnHost()) return devicePool(features, segments);
  const pool = tf.customGrad((...inputs) => {
    const x = inputs[0] as tf.Tensor4D;
    const value = tf.tensor4d(poolValues(x.dataSync() as Float32Array, segments, channels), x.shape);
    const gradFunc = (dy: tf.Tensor4D): tf.Tensor4D =>
      tf.tensor4d(poolValues(dy.dataSync() as Float32Array, segments, channels), dy.shape);
    return { value, gradFunc };
  });
  return pool(features) as tf.Tensor4D;
}

/**
 * instanceAveragePool on the device (every backend but wasm): per-segment
 * sums as a matmul with the one-hot segment matrix (deterministic, unlike
 * UnsortedSegmentSum, which sums with float atomics on webgpu), divided by
 * the pixel counts, gathered back to the pixels. Float32 sums (the host pass
 * sums in double). The one-hot matrix takes pixels x segments floats while
 * it lives (about 200 MB for 1024x512 pixels and 100 instances).
 */
function devicePool(features: tf.Tensor4D, segments: InstanceSegments): tf.Tensor4D {
  const channels = features.shape[3];
  const segmentCount = segments.pixelCounts.length;
  const average = (x: tf.Tensor4D): tf.Tensor4D =>
    tf.tidy(() => {
      const ids = tf.tensor1d(segments.segmentOfPixel, 'int32');
      const counts = tf.tensor2d(Float32Array.from(segments.pixelCounts), [segmentCount, 1]);
      const membership = tf.oneHot(ids, segmentCount, 1, 0, 'float32');
      const means = tf.div(tf.matMul(membership, tf.reshape(x, [-1, channels]), true, false), counts);
      return tf.reshape(tf.gather(means, ids), x.shape);
    });
  const pool = tf.customGrad((...inputs) => {
    const x = inputs[0] as tf.Tensor4D;
    return { value: average(x), gradFunc: (dy: tf.Tensor4D) => average(dy) };
  });
  return pool(features) as tf.Tensor4D;
}

/** E's raw output (before pooling), NHWC in [-1, 1]. */
export function encoderRawForward(shape: EncoderShape, params: Params, image: tf.Tensor4D, options: ForwardOptions): tf.Tensor4D {
  return runSequential(encoder(shape), image, params, options);
}

/** E as the reference's Encoder.forward: the network, then instance-wise average pooling. */
export function encoderForward(
  shape: EncoderShape,
  params: Params,
  image: tf.Tensor4D,
  segments: InstanceSegments,
  options: ForwardOptions,
): tf.Tensor4D {
  return tf.tidy(() => instanceAveragePool(encoderRawForward(shape, params, image, options), segments));
}
