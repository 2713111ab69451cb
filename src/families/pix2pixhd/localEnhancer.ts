/**
 * The local enhancer G2 (pix2pixHD, section 3.2). The global part is a G1
 * with ngf * 2^n_local_enhancers minus its output layers (prefix `G.model`),
 * run on the input downsampled n_local_enhancers times. Enhancer n (1 = the
 * coarsest) has a front end `G.model{n}_1` (7x7 conv, stride-2 conv) on its
 * own input scale, whose output is summed element-wise with the coarser
 * stage's output, then a back end `G.model{n}_2` (residual blocks, a
 * transposed conv, and on the last enhancer only, 7x7 conv + tanh).
 *
 * Because the global part keeps G1's layer indices, a G1 checkpoint trained
 * with ngf 2n loads into it by name (see params.ts).
 */
import * as tf from '@tensorflow/tfjs-core';
import { avgPoolDownsample } from '../../backend/ops.js';
import { GLOBAL_OUTPUT_LAYERS, downsamplingLayers, globalGeneratorLayers } from '../../model/globalGenerator.js';
import {
  conv2dLayer,
  convTranspose2dLayer,
  normLayer,
  reflectionPad2d,
  relu,
  resnetBlock,
  runSequential,
  withoutConstantInput,
  sequentialSpecs,
  tanh,
  type ForwardOptions,
  type Layer,
  type ParamSpec,
  type Params,
  type Sequential,
} from '../../model/layers.js';
import type { NormKind } from './config.js';

export interface LocalEnhancerShape {
  readonly inputChannels: number;
  readonly outputChannels: number;
  /** The finest enhancer's channel count; the global part has ngf * 2^nLocalEnhancers. */
  readonly ngf: number;
  readonly nDownsamplingGlobal: number;
  readonly nBlocksGlobal: number;
  readonly nLocalEnhancers: number;
  readonly nBlocksLocal: number;
  readonly norm: NormKind;
}

export interface LocalEnhancerStructure {
  /** `G.model`: G1 without its output layers. */
  readonly global: Sequential;
  /** Per enhancer, coarsest first: front end `G.model{n}_1`, back end `G.model{n}_2`. */
  readonly enhancers: ReadonlyArray<{ readonly frontEnd: Sequential; readonly backEnd: Sequential }>;
}

export function localEnhancer(shape: LocalEnhancerShape): LocalEnhancerStructure {
  const { inputChannels, outputChannels, ngf, nLocalEnhancers, nBlocksLocal, norm } = shape;
  const globalLayers = globalGeneratorLayers({
    inputChannels,
    outputChannels,
    ngf: ngf * 2 ** nLocalEnhancers,
    nDownsampling: shape.nDownsamplingGlobal,
    nBlocks: shape.nBlocksGlobal,
    norm,
  });
  const global: Sequential = { name: 'G.model', layers: globalLayers.slice(0, globalLayers.length - GLOBAL_OUTPUT_LAYERS) };
  const enhancers: Array<{ frontEnd: Sequential; backEnd: Sequential }> = [];
  for (let n = 1; n <= nLocalEnhancers; n++) {
    const channels = ngf * 2 ** (nLocalEnhancers - n);
    const frontEnd = downsamplingLayers(inputChannels, channels, 1, norm);
    const backEnd: Layer[] = [];
    for (let i = 0; i < nBlocksLocal; i++) backEnd.push(resnetBlock(channels * 2, norm));
    backEnd.push(convTranspose2dLayer(channels * 2, channels, 3, 2, 1, 1), normLayer(norm, channels), relu);
    if (n === nLocalEnhancers) backEnd.push(reflectionPad2d(3), conv2dLayer(ngf, outputChannels, 7), tanh);
    enhancers.push({ frontEnd: { name: `G.model${n}_1`, layers: frontEnd }, backEnd: { name: `G.model${n}_2`, layers: backEnd } });
  }
  return { global, enhancers };
}

/** Specs in the reference's state_dict order: model, then model1_1, model1_2, model2_1, ... */
export function localEnhancerSpecs(shape: LocalEnhancerShape): ParamSpec[] {
  const { global, enhancers } = localEnhancer(shape);
  return [global, ...enhancers.flatMap((e) => [e.frontEnd, e.backEnd])].flatMap(sequentialSpecs);
}

/** The input pyramid: [input, input / 2, ..., input / 2^count], by AvgPool(3, 2, 1, count_include_pad false). */
export function downsamplePyramid(input: tf.Tensor4D, count: number): tf.Tensor4D[] {
  const pyramid = [input];
  for (let i = 0; i < count; i++) pyramid.push(avgPoolDownsample(pyramid[pyramid.length - 1]!));
  return pyramid;
}

export function localEnhancerForward(
  shape: LocalEnhancerShape,
  params: Params,
  input: tf.Tensor4D,
  options: ForwardOptions,
): tf.Tensor4D {
  const { global, enhancers } = localEnhancer(shape);
  // Every intermediate is freed as soon as its consumer has run (the tidy
  // only cleans up after an error): at 2048x1024 the stage outputs are
  // hundreds of MB each, and holding them to the end of the forward does not
  // fit the wasm heap. Each pyramid level is consumed once, coarsest first.
  return tf.tidy(() => {
    const pyramid = downsamplePyramid(input, enhancers.length);
    const release = (level: tf.Tensor4D): void => {
      if (level !== input) level.dispose();
    };
    let output = runSequential(global, pyramid[enhancers.length]!, params, options);
    release(pyramid[enhancers.length]!);
    enhancers.forEach(({ frontEnd, backEnd }, index) => {
      const scaleInput = pyramid[enhancers.length - 1 - index]!;
      const front = runSequential(frontEnd, scaleInput, params, options);
      release(scaleInput);
      const sum = tf.add(front, output) as tf.Tensor4D;
      front.dispose();
      output.dispose();
      output = runSequential(backEnd, sum, params, withoutConstantInput(options));
      sum.dispose();
    });
    return output;
  });
}
