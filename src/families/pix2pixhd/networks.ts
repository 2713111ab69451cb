/**
 * The networks of one architecture config: their parameter specs (names are
 * the reference's state_dict keys) and their forward passes, chosen by the
 * config. This is the entry point training, encode and synthesize use.
 */
import type * as tf from '@tensorflow/tfjs-core';
import { UsageError } from '../../errors.js';
import {
  discriminatorInputChannels,
  encoderInputChannels,
  generatorInputChannels,
  resolveConfig,
  type ArchConfig,
} from './config.js';
import {
  discriminatorConditionTerms,
  discriminatorForward,
  discriminatorForwardOnImage,
  discriminatorSpecs,
  downsamplingPyramid,
  type DiscriminatorOptions,
  type DiscriminatorShape,
} from '../../model/discriminator.js';
import { encoderForward, encoderRawForward, encoderSpecs, type EncoderShape, type InstanceSegments } from './encoder.js';
import { globalGeneratorForward, globalGeneratorSpecs, type GlobalGeneratorShape } from '../../model/globalGenerator.js';
import { countParameters, type ForwardOptions, type ParamSpec, type Params } from '../../model/layers.js';
import { localEnhancerForward, localEnhancerSpecs, type LocalEnhancerShape } from './localEnhancer.js';

/** The three networks, by their checkpoint prefix letter. */
export const NETWORKS = Object.freeze({
  G: 'generator',
  D: 'multi-scale discriminator',
  E: 'instance-feature encoder',
} as const);
export type NetworkName = keyof typeof NETWORKS;

export function globalGeneratorShape(config: ArchConfig): GlobalGeneratorShape {
  return {
    inputChannels: generatorInputChannels(config),
    outputChannels: config.output_nc,
    ngf: config.ngf,
    nDownsampling: config.n_downsample_global,
    nBlocks: config.n_blocks_global,
    norm: config.norm,
  };
}

export function localEnhancerShape(config: ArchConfig): LocalEnhancerShape {
  return {
    inputChannels: generatorInputChannels(config),
    outputChannels: config.output_nc,
    ngf: config.ngf,
    nDownsamplingGlobal: config.n_downsample_global,
    nBlocksGlobal: config.n_blocks_global,
    nLocalEnhancers: config.n_local_enhancers,
    nBlocksLocal: config.n_blocks_local,
    norm: config.norm,
  };
}

export function discriminatorShape(config: ArchConfig): DiscriminatorShape {
  return {
    inputChannels: discriminatorInputChannels(config),
    ndf: config.ndf,
    nLayers: config.n_layers_D,
    numD: config.num_D,
    norm: config.norm,
  };
}

export function encoderShape(config: ArchConfig): EncoderShape {
  return {
    inputChannels: encoderInputChannels(config),
    outputChannels: config.feat_num,
    nef: config.nef,
    nDownsampling: config.n_downsample_E,
    norm: config.norm,
  };
}

/** Parameter specs of one network (the encoder's exist whatever instance_feat says; callers decide whether they need E). */
export function networkSpecs(config: ArchConfig, network: NetworkName): ParamSpec[] {
  switch (network) {
    case 'G':
      return config.netG === 'global' ? globalGeneratorSpecs(globalGeneratorShape(config)) : localEnhancerSpecs(localEnhancerShape(config));
    case 'D':
      return discriminatorSpecs(discriminatorShape(config));
    case 'E':
      return encoderSpecs(encoderShape(config));
  }
}

/** Specs of several networks, in G, D, E order. */
export function modelSpecs(config: ArchConfig, networks: readonly NetworkName[]): ParamSpec[] {
  return (['G', 'D', 'E'] as const).filter((n) => networks.includes(n)).flatMap((n) => networkSpecs(config, n));
}

/** The networks a training run of this config has: G and D, and E with instance features. */
export function trainingNetworks(config: ArchConfig): NetworkName[] {
  return config.instance_feat ? ['G', 'D', 'E'] : ['G', 'D'];
}

/**
 * The most parameters (G, D and E together) an architecture may have: 2^31,
 * 8 GiB of float32 weights. The reference's 1024p model has about 0.2 G
 * (G 0.18 G, D 0.006 G per scale), so this is ten times that; training keeps
 * three more copies (Adam's moments and master weights), and the wasm
 * backend holds at most 4 GiB, so no run beyond it could start anyway.
 */
export const MAX_PARAMETERS = 2 ** 31;

/**
 * Every architecture (from flags, a checkpoint's metadata or options.json)
 * comes through here: the options validated and bounded (resolveConfig), then
 * the parameter count, from the layer shapes alone, checked against
 * MAX_PARAMETERS before any tensor is allocated. Failures go through `fail`
 * (which names the flag or file).
 */
export function resolveArchitecture(overrides: unknown, fail?: (message: string) => Error): ArchConfig {
  const config = resolveConfig(overrides, fail);
  const parameters = countParameters(modelSpecs(config, trainingNetworks(config)), 'all');
  if (parameters > MAX_PARAMETERS) {
    const message =
      `the architecture has ${(parameters / 1e9).toFixed(1)} G parameters (${((4 * parameters) / 2 ** 30).toFixed(0)} GiB of weights), ` +
      `more than p2phd's limit of ${(MAX_PARAMETERS / 1e9).toFixed(1)} G: ngf ${config.ngf}, n_downsample_global ${config.n_downsample_global}, ` +
      `n_blocks_global ${config.n_blocks_global}, ndf ${config.ndf}, n_layers_D ${config.n_layers_D}, nef ${config.nef}, n_downsample_E ${config.n_downsample_E}, label_nc ${config.label_nc}`;
    throw fail ? fail(message) : new UsageError(message);
  }
  return config;
}

/** Input layout errors are caller bugs; name them instead of letting a conv fail obscurely. */
function checkInput(what: string, input: tf.Tensor4D, channels: number): void {
  if (input.rank !== 4 || input.shape[3] !== channels) {
    throw new Error(`${what}: expected an NHWC input with ${channels} channels, got shape [${input.shape.join(', ')}]`);
  }
}

/** G (global or local, per the config) on NHWC input [labels | edges | features]; output NHWC in [-1, 1]. */
export function generate(config: ArchConfig, params: Params, input: tf.Tensor4D, options: ForwardOptions): tf.Tensor4D {
  checkInput('generate', input, generatorInputChannels(config));
  return config.netG === 'global'
    ? globalGeneratorForward(globalGeneratorShape(config), params, input, options)
    : localEnhancerForward(localEnhancerShape(config), params, input, options);
}

/** D on NHWC [labels | edges | image]; outputs[i][j], level i (0 = full resolution), layer j. */
export function discriminate(config: ArchConfig, params: Params, input: tf.Tensor4D, options: DiscriminatorOptions): tf.Tensor4D[][] {
  checkInput('discriminate', input, discriminatorInputChannels(config));
  return discriminatorForward(discriminatorShape(config), params, input, options);
}

/** The condition's part of D's first convs, shared by the passes of a step (see discriminatorConditionTerms). */
export function discriminatorCondition(config: ArchConfig, params: Params, condition: tf.Tensor4D | readonly tf.Tensor4D[]): tf.Tensor4D[] {
  checkInput('discriminatorCondition', Array.isArray(condition) ? (condition as readonly tf.Tensor4D[])[0]! : (condition as tf.Tensor4D), discriminatorInputChannels(config) - config.output_nc);
  return discriminatorConditionTerms(discriminatorShape(config), params, condition);
}

/** The condition's pyramid for discriminatorCondition, made ahead (outside a gradient tape). */
export function discriminatorConditionPyramid(config: ArchConfig, condition: tf.Tensor4D): tf.Tensor4D[] {
  return downsamplingPyramid(condition, config.num_D);
}

/** discriminate(concat(condition, image)) from the condition's terms. */
export function discriminateImage(
  config: ArchConfig,
  params: Params,
  conditionTerms: readonly tf.Tensor4D[],
  image: tf.Tensor4D,
  options: DiscriminatorOptions,
): tf.Tensor4D[][] {
  checkInput('discriminateImage', image, config.output_nc);
  return discriminatorForwardOnImage(discriminatorShape(config), params, conditionTerms, image, options);
}

/** E on an NHWC photo in [-1, 1], pooled per instance. */
export function encodeFeatures(
  config: ArchConfig,
  params: Params,
  image: tf.Tensor4D,
  segments: InstanceSegments,
  options: ForwardOptions,
): tf.Tensor4D {
  checkInput('encodeFeatures', image, encoderInputChannels(config));
  return encoderForward(encoderShape(config), params, image, segments, options);
}

/** E's output before pooling. */
export function encodeFeaturesRaw(config: ArchConfig, params: Params, image: tf.Tensor4D, options: ForwardOptions): tf.Tensor4D {
  checkInput('encodeFeaturesRaw', image, encoderInputChannels(config));
  return encoderRawForward(encoderShape(config), params, image, options);
}
