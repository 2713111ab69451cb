/**
 * How many floats the layer outputs of one forward pass hold, walked over
 * the networks' layer lists at a given input size (no tensor is made). tfjs
 * keeps every output of a tf.tidy scope (and the tape every output of a
 * training step) until the scope ends, so the sum is what a pass holds at
 * its peak: training's memory check (train/memory.ts) and synthesize's
 * image-size check (synthesis/memory.ts) both start from it.
 */
import type { ArchConfig } from './config.js';
import { discriminatorInputChannels, encoderInputChannels, generatorInputChannels } from './config.js';
import { singleDiscriminator } from '../../model/discriminator.js';
import { encoder } from './encoder.js';
import { globalGenerator } from '../../model/globalGenerator.js';
import type { Layer } from '../../model/layers.js';
import { localEnhancer } from './localEnhancer.js';
import { discriminatorShape, encoderShape, globalGeneratorShape, localEnhancerShape } from './networks.js';

export interface Activation {
  height: number;
  width: number;
  channels: number;
  /** Floats of every layer output so far. */
  floats: number;
  /** Floats of the largest single layer output so far. */
  largest: number;
}

export function walk(layers: readonly Layer[], start: Activation): Activation {
  let state = { ...start };
  for (const layer of layers) {
    switch (layer.kind) {
      case 'reflectPad':
        state = { ...state, height: state.height + 2 * layer.pad, width: state.width + 2 * layer.pad };
        break;
      case 'conv':
        state = {
          ...state,
          height: Math.floor((state.height + 2 * layer.pad - layer.kernel) / layer.stride) + 1,
          width: Math.floor((state.width + 2 * layer.pad - layer.kernel) / layer.stride) + 1,
          channels: layer.outChannels,
        };
        break;
      case 'convTranspose':
        state = {
          ...state,
          height: (state.height - 1) * layer.stride - 2 * layer.pad + layer.kernel + layer.outputPadding,
          width: (state.width - 1) * layer.stride - 2 * layer.pad + layer.kernel + layer.outputPadding,
          channels: layer.outChannels,
        };
        break;
      case 'resnetBlock': {
        const inner = walk(layer.convBlock, { ...state, floats: 0 });
        state = { ...state, floats: state.floats + inner.floats, largest: Math.max(state.largest, inner.largest) };
        break;
      }
      case 'unetSkip': {
        const inner = walk(layer.layers, { ...state, floats: 0 });
        state = { ...state, channels: state.channels + inner.channels, floats: state.floats + inner.floats, largest: Math.max(state.largest, inner.largest) };
        break;
      }
      default:
        break;
    }
    // Conv and norm outputs carry a bias add / statistics: count two tensors for them.
    const perOutput = layer.kind === 'conv' || layer.kind === 'convTranspose' || layer.kind === 'norm' ? 2 : 1;
    if (layer.kind !== 'resnetBlock') state.floats += perOutput * state.height * state.width * state.channels;
    state.largest = Math.max(state.largest, state.height * state.width * state.channels);
  }
  return state;
}

export function startAt(channels: number, height: number, width: number): Activation {
  return { height, width, channels, floats: height * width * channels, largest: height * width * channels };
}

/** G's forward walk: every layer output's floats, and the largest one. */
function generatorWalk(config: ArchConfig, height: number, width: number): { floats: number; largest: number } {
  if (config.netG === 'global') return walk(globalGenerator(globalGeneratorShape(config)).layers, startAt(generatorInputChannels(config), height, width));
  const { global, enhancers } = localEnhancer(localEnhancerShape(config));
  const n = enhancers.length;
  const total = walk(global.layers, startAt(generatorInputChannels(config), Math.ceil(height / 2 ** n), Math.ceil(width / 2 ** n)));
  let { floats, largest } = total;
  enhancers.forEach(({ frontEnd, backEnd }, index) => {
    const scale = 2 ** (n - 1 - index);
    const front = walk(frontEnd.layers, startAt(generatorInputChannels(config), Math.ceil(height / scale), Math.ceil(width / scale)));
    const back = walk(backEnd.layers, { ...front, floats: 0 });
    floats += front.floats + back.floats;
    largest = Math.max(largest, back.largest);
  });
  return { floats, largest };
}

/**
 * The largest single layer output (floats) of G, and of E with instance
 * features, at height x width: what an inference pass, which frees each
 * layer's input once its output exists, holds a few of at its peak.
 */
export function largestActivation(config: ArchConfig, height: number, width: number): number {
  const generator = generatorWalk(config, height, width).largest;
  return config.instance_feat ? Math.max(generator, walk(encoder(encoderShape(config)).layers, startAt(encoderInputChannels(config), height, width)).largest) : generator;
}

/**
 * Forward activation floats of one sample at height x width, per network
 * pass, and the largest single layer output of any of them (`largest`: a
 * device's per-buffer limit applies to it).
 */
export function activationFloats(config: ArchConfig, height: number, width: number): { G: number; D: number; E: number; largest: number } {
  const start = (channels: number, h = height, w = width): Activation => startAt(channels, h, w);
  const generator = generatorWalk(config, height, width);
  let largest = generator.largest;
  let discriminator = 0;
  const dShape = discriminatorShape(config);
  let h = height;
  let w = width;
  for (let level = 0; level < config.num_D; level++) {
    let state = start(discriminatorInputChannels(config), h, w);
    for (const group of singleDiscriminator(dShape, 0)) state = walk(group.layers, state);
    discriminator += state.floats;
    largest = Math.max(largest, state.largest);
    h = Math.floor((h - 1) / 2) + 1;
    w = Math.floor((w - 1) / 2) + 1;
  }
  const encoderWalk = config.instance_feat ? walk(encoder(encoderShape(config)).layers, start(encoderInputChannels(config))) : undefined;
  return { G: generator.floats, D: discriminator, E: encoderWalk?.floats ?? 0, largest: Math.max(largest, encoderWalk?.largest ?? 0) };
}
