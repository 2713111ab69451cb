/**
 * Running the loaded networks on one image at any size: G over a prepared
 * input (padded to a size G takes, cropped back), and E over a photo, pooled
 * per instance. The only module of synthesis that touches tfjs.
 */
import * as tf from '@tensorflow/tfjs-core';
import { checkWebgpuErrors, checkWebgpuTensorBytes, setConv2dOperatorCaching } from '../backend/index.js';
import { largestActivation } from '../families/pix2pixhd/activations.js';
import { encoderSizeMultiple, generatorInputChannels, generatorMinimumSide, generatorSizeMultiple, type ArchConfig } from '../families/pix2pixhd/config.js';
import { REFERENCE_INFERENCE, type Params } from '../model/layers.js';
import { encodeFeaturesRaw, generate } from '../families/pix2pixhd/networks.js';
import { instanceSegments, poolValues } from '../families/pix2pixhd/encoder.js';
import { cropPadding, padReflect, paddingFor, type Padding } from './padding.js';
import { photoToUnitRange } from './generatorInput.js';

/**
 * As the reference's test.py, which never calls eval(): batch norm
 * normalises with the image's own statistics, not the running ones (instance
 * norm is the same either way). On a padded input those statistics include
 * the padding, as they would include the reference's resized pixels.
 */
const INFERENCE = REFERENCE_INFERENCE;

/** Reflection pads need more pixels than they add: ReflectionPad2d(p) takes sides > p. */
const FIRST_LAYER_PAD = 3;

/** The backend the passes run on (tfjs's name: wasm, cpu, tensorflow), for memory checks. */
export function activeBackendName(): string {
  return tf.getBackend();
}

/** The padding that brings an input to a size G takes (any engine pads the same). */
export function generatorPadding(config: ArchConfig, height: number, width: number): Padding {
  return paddingFor(height, width, generatorSizeMultiple(config), generatorMinimumSide(config));
}

/** The padding that brings a photo to a size E takes: E's first and last layers reflect 3 pixels; it has no residual blocks. */
export function encoderPadding(config: ArchConfig, height: number, width: number): Padding {
  return paddingFor(height, width, encoderSizeMultiple(config), FIRST_LAYER_PAD + 1);
}

/** Largest input (pixels) for which XNNPACK's conv operators stay cached between calls. */
const OPERATOR_CACHE_MAX_PIXELS = 1024 * 512;

/**
 * G on an HWC input of any size: reflect-padded to the next multiple of
 * 2^(downsamplings), run, cropped back. Returns HWC output_nc values in [-1, 1].
 * `input` has G's input channels (the default for `channels`); it is only read.
 */
export async function runGenerator(
  config: ArchConfig,
  params: Params,
  input: Float32Array,
  height: number,
  width: number,
  channels = generatorInputChannels(config),
): Promise<Float32Array> {
  const padding = generatorPadding(config, height, width);
  const paddedHeight = height + padding.top + padding.bottom;
  const paddedWidth = width + padding.left + padding.right;
  checkWebgpuTensorBytes(
    4 * largestActivation(config, paddedHeight, paddedWidth),
    `the generator at ${width}x${height}`,
    'use smaller label maps (preprocess with a smaller --load-size)',
  );
  const padded = padReflect(input, height, width, channels, padding);
  // XNNPACK's per-filter operators (a packed copy of every weight, plus
  // per-pixel indirection buffers) stay on the wasm heap while cached: with
  // the 1024p generator's 700 MB of weights that keeps 2048x1024 from fitting
  // in 4 GB, so above 1024x512 pixels they are rebuilt per call (same
  // values). Below it caching stays on. (It used to matter most for the
  // residual blocks' 1024-channel filters, ~40% of a default G1 forward on 2
  // threads; those now run as Winograd matmuls without an XNNPACK conv
  // operator, and at 1024x512 both settings take 8.8 s with a 1.6 GB heap.)
  const cacheOperators = paddedHeight * paddedWidth <= OPERATOR_CACHE_MAX_PIXELS;
  const previousCaching = setConv2dOperatorCaching(cacheOperators);
  let output: tf.Tensor4D;
  try {
    output = tf.tidy(() => generate(config, params, tf.tensor4d(padded, [1, paddedHeight, paddedWidth, channels]), INFERENCE));
  } finally {
    setConv2dOperatorCaching(previousCaching);
  }
  try {
    // Asynchronous: the only read WebGPU has under Node (as fast on wasm).
    const values = (await output.data()) as Float32Array;
    await checkWebgpuErrors();
    return cropPadding(values, paddedHeight, paddedWidth, config.output_nc, padding);
  } finally {
    output.dispose();
  }
}

/**
 * E's per-instance features for a photo (interleaved RGB bytes) and its
 * instance map, HWC [height * width * feat_num]. The photo is padded only
 * for E's convolutions; E's raw output is cropped back before pooling, so
 * each instance's vector is the mean over its own pixels, as the reference's
 * Encoder at a size it takes.
 */
export async function encodeInstanceFeatures(
  config: ArchConfig,
  params: Params,
  photo: Uint8Array,
  instanceMap: Int32Array,
  height: number,
  width: number,
): Promise<Float32Array> {
  const padding = encoderPadding(config, height, width);
  const paddedHeight = height + padding.top + padding.bottom;
  const paddedWidth = width + padding.left + padding.right;
  const padded = padReflect(photoToUnitRange(photo), height, width, 3, padding);
  const raw = tf.tidy(() => encodeFeaturesRaw(config, params, tf.tensor4d(padded, [1, paddedHeight, paddedWidth, 3]), INFERENCE));
  let rawValues: Float32Array;
  try {
    const values = (await raw.data()) as Float32Array;
    await checkWebgpuErrors();
    rawValues = cropPadding(values, paddedHeight, paddedWidth, config.feat_num, padding);
  } finally {
    raw.dispose();
  }
  return poolValues(rawValues, instanceSegments(instanceMap, 1, height, width), config.feat_num);
}
