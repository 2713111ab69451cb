/**
 * pix2pix's networks as layer lists (model/layers.ts), in the reference's
 * module order, so that parameter names are its state_dict keys with `G.` /
 * `D.` in front:
 *
 * - U-Net (UnetGenerator): `G.model.model.<i>`, the nested blocks'
 *   layers `...<i>.model.<j>`; built from the innermost block outwards.
 * - ResNet generator: `G.model.<i>`, blocks `G.model.<i>.conv_block.<j>`.
 * - NLayerDiscriminator (basic, n_layers): `D.model.<i>`; PixelDiscriminator:
 *   `D.net.<i>`.
 *
 * Bias rule (the reference's use_bias): a conv has a bias only when the norm
 * is instance norm, except the convs the reference builds with PyTorch's
 * default bias: the U-Net's outermost transposed conv, the ResNet G's last
 * conv, and D's first and last convs (not PixelGAN's last). With norm none
 * the reference's check is false too, so those networks have no other biases.
 * Norm none is an Identity module, which holds its place in the numbering.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  conv2dLayer,
  convTranspose2dLayer,
  dropoutLayer,
  leakyRelu,
  normLayer,
  reflectionPad2d,
  relu,
  runSequential,
  sequentialSpecs,
  tanh,
  type ForwardOptions,
  type Layer,
  type ParamSpec,
  type Params,
  type Sequential,
} from '../../model/layers.js';
import { unetLevels, type Pix2pixConfig, type Pix2pixNorm } from './config.js';

const LEAKY_SLOPE = 0.2;
const DROPOUT_P = 0.5;

function withBias(layer: Layer, bias: boolean): Layer {
  return bias ? layer : { ...layer, bias: false } as Layer;
}

function conv(inChannels: number, outChannels: number, kernel: number, stride: number, pad: number, bias: boolean): Layer {
  return withBias(conv2dLayer(inChannels, outChannels, kernel, stride, pad), bias);
}

function convTranspose(inChannels: number, outChannels: number, kernel: number, stride: number, pad: number, outputPadding: number, bias: boolean): Layer {
  return withBias(convTranspose2dLayer(inChannels, outChannels, kernel, stride, pad, outputPadding), bias);
}

/** The reference's use_bias: true only under instance norm. */
export function usesBias(norm: Pix2pixNorm): boolean {
  return norm === 'instance';
}

/**
 * One UnetSkipConnectionBlock's layers (not the outermost: that one is G's
 * top Sequential). `inner` is the submodule's block, absent for the innermost.
 */
function unetBlock(outer: number, innerChannels: number, norm: Pix2pixNorm, dropout: boolean, inner: Layer | undefined): Layer {
  const bias = usesBias(norm);
  const down = conv(outer, innerChannels, 4, 2, 1, bias);
  if (inner === undefined) {
    return {
      kind: 'unetSkip',
      layers: [leakyRelu(LEAKY_SLOPE), down, relu, convTranspose(innerChannels, outer, 4, 2, 1, 0, bias), normLayer(norm, outer)],
    };
  }
  const layers: Layer[] = [
    leakyRelu(LEAKY_SLOPE),
    down,
    normLayer(norm, innerChannels),
    inner,
    relu,
    convTranspose(innerChannels * 2, outer, 4, 2, 1, 0, bias),
    normLayer(norm, outer),
  ];
  if (dropout) layers.push(dropoutLayer(DROPOUT_P));
  return { kind: 'unetSkip', layers };
}

function unetGenerator(config: Pix2pixConfig, levels: number): Sequential {
  const { ngf, norm, input_nc: inputNc, output_nc: outputNc } = config;
  const dropout = !config.no_dropout;
  let block = unetBlock(ngf * 8, ngf * 8, norm, false, undefined);
  for (let i = 0; i < levels - 5; i++) block = unetBlock(ngf * 8, ngf * 8, norm, dropout, block);
  block = unetBlock(ngf * 4, ngf * 8, norm, false, block);
  block = unetBlock(ngf * 2, ngf * 4, norm, false, block);
  block = unetBlock(ngf, ngf * 2, norm, false, block);
  // The outermost block: no skip, no norm; its transposed conv keeps PyTorch's default bias.
  return {
    name: 'G.model.model',
    layers: [conv(inputNc, ngf, 4, 2, 1, usesBias(norm)), block, relu, convTranspose(ngf * 2, outputNc, 4, 2, 1, 0, true), tanh],
  };
}

function resnetGenerator(config: Pix2pixConfig, blocks: number): Sequential {
  const { ngf, norm, input_nc: inputNc, output_nc: outputNc } = config;
  const bias = usesBias(norm);
  const layers: Layer[] = [reflectionPad2d(3), conv(inputNc, ngf, 7, 1, 0, bias), normLayer(norm, ngf), relu];
  for (let i = 0; i < 2; i++) {
    const channels = ngf * 2 ** i;
    layers.push(conv(channels, channels * 2, 3, 2, 1, bias), normLayer(norm, channels * 2), relu);
  }
  const dim = ngf * 4;
  for (let i = 0; i < blocks; i++) {
    const convBlock: Layer[] = [reflectionPad2d(1), conv(dim, dim, 3, 1, 0, bias), normLayer(norm, dim), relu];
    if (!config.no_dropout) convBlock.push(dropoutLayer(DROPOUT_P));
    convBlock.push(reflectionPad2d(1), conv(dim, dim, 3, 1, 0, bias), normLayer(norm, dim));
    layers.push({ kind: 'resnetBlock', convBlock });
  }
  for (let i = 0; i < 2; i++) {
    const channels = ngf * 2 ** (2 - i);
    // The reference writes int(channels / 2); channels is ngf times 4 or 2, so this is exact.
    layers.push(convTranspose(channels, channels / 2, 3, 2, 1, 1, bias), normLayer(norm, channels / 2), relu);
  }
  layers.push(reflectionPad2d(3), conv(ngf, outputNc, 7, 1, 0, true), tanh);
  return { name: 'G.model', layers };
}

/** G as one Sequential. */
export function pix2pixGenerator(config: Pix2pixConfig): Sequential {
  const levels = unetLevels(config);
  if (levels !== undefined) return unetGenerator(config, levels);
  return resnetGenerator(config, config.netG === 'resnet_9blocks' ? 9 : 6);
}

/** D as one Sequential; its input is concat(A, B): input_nc + output_nc channels. */
export function pix2pixDiscriminator(config: Pix2pixConfig): Sequential {
  const { ndf, norm } = config;
  const inputChannels = config.input_nc + config.output_nc;
  const bias = usesBias(norm);
  const slope = leakyRelu(LEAKY_SLOPE);
  if (config.netD === 'pixel') {
    return {
      name: 'D.net',
      layers: [conv(inputChannels, ndf, 1, 1, 0, true), slope, conv(ndf, ndf * 2, 1, 1, 0, bias), normLayer(norm, ndf * 2), slope, conv(ndf * 2, 1, 1, 1, 0, bias)],
    };
  }
  const nLayers = config.netD === 'basic' ? 3 : config.n_layers_D;
  const layers: Layer[] = [conv(inputChannels, ndf, 4, 2, 1, true), slope];
  let mult = 1;
  for (let n = 1; n < nLayers; n++) {
    const previous = mult;
    mult = Math.min(2 ** n, 8);
    layers.push(conv(ndf * previous, ndf * mult, 4, 2, 1, bias), normLayer(norm, ndf * mult), slope);
  }
  const previous = mult;
  mult = Math.min(2 ** nLayers, 8);
  layers.push(conv(ndf * previous, ndf * mult, 4, 1, 1, bias), normLayer(norm, ndf * mult), slope);
  layers.push(conv(ndf * mult, 1, 4, 1, 1, true));
  return { name: 'D.model', layers };
}

export type Pix2pixNetwork = 'G' | 'D';

/** Parameter specs of the named networks, in state_dict order (G's, then D's). */
export function pix2pixSpecs(config: Pix2pixConfig, networks: readonly Pix2pixNetwork[] = ['G', 'D']): ParamSpec[] {
  const specs: ParamSpec[] = [];
  if (networks.includes('G')) specs.push(...sequentialSpecs(pix2pixGenerator(config)));
  if (networks.includes('D')) specs.push(...sequentialSpecs(pix2pixDiscriminator(config)));
  return specs;
}

/** G on an NHWC input (input_nc channels in [-1, 1]); output in [-1, 1]. Sides must fit (pix2pixSizeMultiple). */
export function pix2pixGenerate(config: Pix2pixConfig, params: Params, input: tf.Tensor4D, options: ForwardOptions): tf.Tensor4D {
  return runSequential(pix2pixGenerator(config), input, params, options);
}

/** D's logits (one channel) on an NHWC concat(A, B). */
export function pix2pixDiscriminate(config: Pix2pixConfig, params: Params, input: tf.Tensor4D, options: ForwardOptions): tf.Tensor4D {
  return runSequential(pix2pixDiscriminator(config), input, params, options);
}
