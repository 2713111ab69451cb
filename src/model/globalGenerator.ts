/**
 * The global generator G1 (pix2pixHD, section 3.2): a front-end 7x7 conv,
 * stride-2 downsampling convs that double the channels, residual blocks at
 * the coarsest scale, transposed convs back up, and a 7x7 conv with tanh.
 * State-dict prefix `G.model`, as the reference's GlobalGenerator.model.
 */
import type * as tf from '@tensorflow/tfjs-core';
import {
  conv2dLayer,
  convTranspose2dLayer,
  normLayer,
  reflectionPad2d,
  relu,
  resnetBlock,
  runSequential,
  sequentialSpecs,
  tanh,
  type ForwardOptions,
  type Layer,
  type ParamSpec,
  type Params,
  type Sequential,
} from './layers.js';
import type { NormKind } from './layers.js';

export interface GlobalGeneratorShape {
  readonly inputChannels: number;
  readonly outputChannels: number;
  readonly ngf: number;
  readonly nDownsampling: number;
  readonly nBlocks: number;
  readonly norm: NormKind;
}

/** The number of trailing layers (reflect pad, 7x7 conv, tanh) a local enhancer drops from its G1. */
export const GLOBAL_OUTPUT_LAYERS = 3;

/**
 * G1's front end: the 7x7 conv to ngf channels, then nDownsampling stride-2
 * convs that double them. A local enhancer's front end is the same with one
 * downsampling.
 */
export function downsamplingLayers(inputChannels: number, ngf: number, nDownsampling: number, norm: NormKind): Layer[] {
  const layers: Layer[] = [reflectionPad2d(3), conv2dLayer(inputChannels, ngf, 7), normLayer(norm, ngf), relu];
  for (let i = 0; i < nDownsampling; i++) {
    const channels = ngf * 2 ** i;
    layers.push(conv2dLayer(channels, channels * 2, 3, 2, 1), normLayer(norm, channels * 2), relu);
  }
  return layers;
}

/**
 * G1's layers, in the reference's nn.Sequential order. With nBlocks 0 this
 * is also the encoder E's (ngf = nef).
 */
export function globalGeneratorLayers(shape: GlobalGeneratorShape): Layer[] {
  const { inputChannels, outputChannels, ngf, nDownsampling, nBlocks, norm } = shape;
  const layers = downsamplingLayers(inputChannels, ngf, nDownsampling, norm);
  const bottleneck = ngf * 2 ** nDownsampling;
  for (let i = 0; i < nBlocks; i++) layers.push(resnetBlock(bottleneck, norm));
  for (let i = 0; i < nDownsampling; i++) {
    const channels = ngf * 2 ** (nDownsampling - i);
    // The reference writes int(channels / 2); channels is a power-of-two multiple of ngf, so this is exact.
    layers.push(convTranspose2dLayer(channels, channels / 2, 3, 2, 1, 1), normLayer(norm, channels / 2), relu);
  }
  layers.push(reflectionPad2d(3), conv2dLayer(ngf, outputChannels, 7), tanh);
  return layers;
}

export function globalGenerator(shape: GlobalGeneratorShape): Sequential {
  return { name: 'G.model', layers: globalGeneratorLayers(shape) };
}

export function globalGeneratorSpecs(shape: GlobalGeneratorShape): ParamSpec[] {
  return sequentialSpecs(globalGenerator(shape));
}

/** G1 on an NHWC input in [label channels | edges | features] order; output in [-1, 1]. */
export function globalGeneratorForward(
  shape: GlobalGeneratorShape,
  params: Params,
  input: tf.Tensor4D,
  options: ForwardOptions,
): tf.Tensor4D {
  return runSequential(globalGenerator(shape), input, params, options);
}
