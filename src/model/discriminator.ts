/**
 * The multi-scale PatchGAN discriminator (pix2pixHD, section 3.2): num_D
 * identical n_layers_D discriminators on an image pyramid, each returning the
 * output of every layer for the feature-matching loss.
 *
 * Layer j of the discriminator at state-dict scale s is `D.scale{s}_layer{j}`.
 * The reference wires scale names backwards: the full-resolution input goes
 * through `scale{num_D-1}`, the coarsest through `scale0`. Outputs are
 * returned in pyramid order (index 0 = full resolution), as the reference
 * returns them, so losses index them the same way.
 */
import * as tf from '@tensorflow/tfjs-core';
import { convAddUnit } from '../backend/convUnit.js';
import { avgPoolDownsample, conv2d } from '../backend/ops.js';
import { conv2dLayer, getParam, leakyRelu, normLayer, runSequential, sequentialSpecs, type ForwardOptions, type Layer, type ParamSpec, type Params, type Sequential } from './layers.js';
import type { NormKind } from './layers.js';

export interface DiscriminatorShape {
  readonly inputChannels: number;
  readonly ndf: number;
  readonly nLayers: number;
  readonly numD: number;
  readonly norm: NormKind;
}

const KERNEL = 4;
/** ceil((kernel - 1) / 2), as the reference: outputs grow by one pixel at stride 1. */
const PADDING = 2;
const MAX_CHANNELS = 512;
const LEAKY_SLOPE = 0.2;

/** The n_layers_D + 2 layer groups of one discriminator at state-dict scale `scale`. */
export function singleDiscriminator(shape: DiscriminatorShape, scale: number): Sequential[] {
  const { inputChannels, ndf, nLayers, norm } = shape;
  const groups: Layer[][] = [[conv2dLayer(inputChannels, ndf, KERNEL, 2, PADDING), leakyRelu(LEAKY_SLOPE)]];
  let channels = ndf;
  for (let n = 1; n < nLayers; n++) {
    const previous = channels;
    channels = Math.min(channels * 2, MAX_CHANNELS);
    groups.push([conv2dLayer(previous, channels, KERNEL, 2, PADDING), normLayer(norm, channels), leakyRelu(LEAKY_SLOPE)]);
  }
  const previous = channels;
  channels = Math.min(channels * 2, MAX_CHANNELS);
  groups.push([conv2dLayer(previous, channels, KERNEL, 1, PADDING), normLayer(norm, channels), leakyRelu(LEAKY_SLOPE)]);
  groups.push([conv2dLayer(channels, 1, KERNEL, 1, PADDING)]);
  return groups.map((layers, j) => ({ name: `D.scale${scale}_layer${j}`, layers }));
}

/** Specs in the reference's state_dict order: scale0_layer0, ..., scale0_layer{n+1}, scale1_layer0, ... */
export function discriminatorSpecs(shape: DiscriminatorShape): ParamSpec[] {
  const specs: ParamSpec[] = [];
  for (let scale = 0; scale < shape.numD; scale++) {
    for (const group of singleDiscriminator(shape, scale)) specs.push(...sequentialSpecs(group));
  }
  return specs;
}

/**
 * The name the reference gives a D parameter when it was built without
 * intermediate features (trained with --no_ganFeat_loss): each scale is one
 * flat nn.Sequential `D.layer{s}`, so `D.scale{s}_layer{j}.{m}.{param}`
 * becomes `D.layer{s}.{flat}.{param}`, the groups being 2 (conv, LeakyReLU),
 * then 3 (conv, norm, LeakyReLU) modules long. Null for other keys.
 */
export function flatDiscriminatorKey(key: string): string | null {
  const match = /^D\.scale(\d+)_layer(\d+)\.(\d+)\.(.+)$/.exec(key);
  if (match === null) return null;
  const group = Number(match[2]);
  const flat = (group === 0 ? 0 : 2 + 3 * (group - 1)) + Number(match[3]);
  return `D.layer${match[1]!}.${flat}.${match[4]!}`;
}

export interface DiscriminatorOptions extends ForwardOptions {
  /**
   * The reference's use_sigmoid (training with --no_lsgan): a sigmoid is
   * appended as one more layer, so each scale then returns n_layers_D + 3
   * outputs and feature matching (all but the last) includes the last conv.
   */
  readonly sigmoid?: boolean;
  /**
   * Called with each output as soon as it exists (scale `level`, pyramid
   * order; `index` within the scale): a training step computes its feature
   * matching term there, so that each term's backward pass meets its layer
   * (the frontier holds one layer's gradient, not every layer's at once).
   */
  readonly onOutput?: (level: number, index: number, output: tf.Tensor4D) => void;
}

/**
 * D on an NHWC input (labels [+ edges] concatenated with an image).
 * Returns outputs[i][j]: pyramid level i (0 = full resolution), layer j.
 */
export function discriminatorForward(
  shape: DiscriminatorShape,
  params: Params,
  input: tf.Tensor4D,
  options: DiscriminatorOptions,
): tf.Tensor4D[][] {
  return runScales(shape, params, input, options, (group, x) => runSequential(group, x, params, options));
}

/**
 * Every scale of D on the pyramid of `input`: `firstGroup(group, x, level)`
 * runs a scale's first layer group (training's form splits its conv),
 * then the other groups follow. Returns outputs[i][j], level i, layer j.
 */
function runScales(
  shape: DiscriminatorShape,
  params: Params,
  input: tf.Tensor4D,
  options: DiscriminatorOptions,
  firstGroup: (group: Sequential, x: tf.Tensor4D, level: number) => tf.Tensor4D,
): tf.Tensor4D[][] {
  // tidy frees the pyramid's intermediate inputs and keeps every returned
  // output (never dispose by hand here: under tf.grads the tape needs them).
  return tf.tidy(() => {
    const results: tf.Tensor4D[][] = [];
    let levelInput = input;
    for (let level = 0; level < shape.numD; level++) {
      const [first, ...rest] = singleDiscriminator(shape, shape.numD - 1 - level);
      const outputs: tf.Tensor4D[] = [];
      const output = (y: tf.Tensor4D): tf.Tensor4D => {
        outputs.push(y);
        options.onOutput?.(level, outputs.length - 1, y);
        return y;
      };
      let x = output(firstGroup(first!, levelInput, level));
      for (const group of rest) x = output(runSequential(group, x, params, options));
      if (options.sigmoid) output(tf.sigmoid(x));
      results.push(outputs);
      if (level !== shape.numD - 1) levelInput = avgPoolDownsample(levelInput);
    }
    return results;
  });
}

/**
 * The condition's part of each scale's first conv, pyramid order: D's input
 * is concat(condition, image) and a conv is linear in its input channels, so
 * conv(concat(c, i), W) = conv(c, W[:, :, :Cc]) + conv(i, W[:, :, Cc:]).
 * A training step's three D passes share the condition (one-hot labels and
 * boundaries, which nothing trains): its terms are computed once a step and
 * its filter gradient once, and the input gradients that reach G cover the
 * image's channels only (not 39 channels, 36 of them thrown away).
 */
export function discriminatorConditionTerms(shape: DiscriminatorShape, params: Params, condition: tf.Tensor4D | readonly tf.Tensor4D[]): tf.Tensor4D[] {
  return tf.tidy(() => {
    const levels = Array.isArray(condition) ? (condition as readonly tf.Tensor4D[]) : downsamplingPyramid(condition as tf.Tensor4D, shape.numD);
    const terms: tf.Tensor4D[] = [];
    for (let level = 0; level < shape.numD; level++) {
      const levelCondition = levels[level]!;
      const [first] = singleDiscriminator(shape, shape.numD - 1 - level);
      const { conv, weight } = openingConv(first!, params);
      const wCondition = tf.slice(weight, [0, 0, 0, 0], [-1, -1, levelCondition.shape[3], -1]) as tf.Tensor4D;
      terms.push(conv2d(levelCondition, wCondition, conv.stride, conv.pad));
    }
    return terms;
  });
}

/**
 * `input` and its numD - 1 downsamplings (D's pyramid). A training step
 * takes the condition's before its gradient tape: nothing trains it, and the
 * tape would keep the pooling's inputs to the end of the forward pass.
 */
export function downsamplingPyramid(input: tf.Tensor4D, levels: number): tf.Tensor4D[] {
  return tf.tidy(() => {
    const pyramid: tf.Tensor4D[] = [input.clone()];
    for (let level = 1; level < levels; level++) pyramid.push(avgPoolDownsample(pyramid[level - 1]!));
    return pyramid;
  });
}

/**
 * A scale's opening conv and its weight. The split form needs the group to
 * be that conv followed by parameter-free layers (LeakyReLU), whose indices
 * in the state dict then do not matter.
 */
function openingConv(first: Sequential, params: Params): { conv: Extract<Layer, { kind: 'conv' }>; afterConv: Layer[]; weight: tf.Tensor4D } {
  const [conv, ...afterConv] = first.layers;
  if (conv?.kind !== 'conv' || afterConv.some((layer) => layer.kind !== 'leakyRelu')) throw new Error(`${first.name}: a scale must open with conv + LeakyReLU`);
  return { conv, afterConv, weight: getParam(params, `${first.name}.0.weight`) as tf.Tensor4D };
}

/**
 * discriminatorForward on concat(condition, image), given the condition's
 * terms (discriminatorConditionTerms; the same values whatever weights
 * tensors `params` holds): each scale's first conv adds the image's part.
 */
export function discriminatorForwardOnImage(
  shape: DiscriminatorShape,
  params: Params,
  conditionTerms: readonly tf.Tensor4D[],
  image: tf.Tensor4D,
  options: DiscriminatorOptions,
): tf.Tensor4D[][] {
  const imageChannels = image.shape[3];
  return runScales(shape, params, image, options, (first, levelImage, level) => {
    const { conv, afterConv, weight } = openingConv(first, params);
    const wImage = tf.slice(weight, [0, 0, conv.inChannels - imageChannels, 0], [-1, -1, imageChannels, -1]) as tf.Tensor4D;
    const bias = getParam(params, `${first.name}.0.bias`);
    const [only] = afterConv;
    if (afterConv.length === 1 && only?.kind === 'leakyRelu') {
      // One op that saves the image and the shared condition term, not three outputs (backend/convUnit.ts).
      return convAddUnit(conditionTerms[level]!, levelImage, wImage, bias, conv, { kind: 'leakyRelu', slope: only.slope });
    }
    const imageTerm = conv2d(levelImage, wImage, conv.stride, conv.pad);
    const convolved = tf.add(tf.add(conditionTerms[level]!, imageTerm), bias) as tf.Tensor4D;
    return runSequential({ name: first.name, layers: afterConv }, convolved, params, options);
  });
}
