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
import { convUnitAt, type Layer } from '../../model/layers.js';
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

// ---------------------------------------------------------------------------
// What a lean training step saves for its backward pass.

interface Saved {
  height: number;
  width: number;
  channels: number;
  /** Whether the current tensor is already saved (by the layer that made it, or for a later one). */
  saved: boolean;
  /** Floats saved so far. */
  floats: number;
  largest: number;
}

function sizeAfter(layer: Layer, state: Saved): { height: number; width: number; channels: number } {
  const walked = walk([layer], { height: state.height, width: state.width, channels: state.channels, floats: 0, largest: 0 });
  return { height: walked.height, width: walked.width, channels: walked.channels };
}

/**
 * The floats a layer list saves for backward under the lean step's rules
 * (layers.ts runs each conv as a unit that saves its input, conv
 * units recompute the activation and padding before them; instance norm
 * saves its output, which the next unit's input shares; a lone ReLU or
 * LeakyReLU saves its input; tanh its output; a residual block's sum saves
 * its two inputs, which its layers saved already).
 */
function savedWalk(layers: readonly Layer[], start: Saved, checkpoint = false): Saved {
  let state = { ...start };
  const floatsOf = (s: { height: number; width: number; channels: number }): number => s.height * s.width * s.channels;
  const save = (): void => {
    if (!state.saved) state.floats += floatsOf(state);
    state.saved = true;
  };
  let index = 0;
  while (index < layers.length) {
    const unit = convUnitAt(layers, index);
    if (unit !== undefined) {
      save();
      let size = { height: state.height, width: state.width, channels: state.channels };
      for (let j = index; j <= unit.convIndex; j++) size = sizeAfter(layers[j]!, { ...state, ...size });
      state = { ...state, ...size, saved: false };
      index = unit.convIndex + 1;
    } else {
      const layer = layers[index]!;
      switch (layer.kind) {
        case 'norm':
          state.floats += floatsOf(state);
          state.saved = true;
          break;
        case 'relu':
        case 'leakyRelu':
          save();
          state.saved = false;
          break;
        case 'tanh':
          state.floats += floatsOf(state);
          state.saved = true;
          break;
        case 'resnetBlock': {
          if (checkpoint) {
            // Recomputed in backward: the block keeps its input alone.
            save();
            state.saved = false;
            break;
          }
          const inner = savedWalk(layer.convBlock, state);
          state = { ...state, floats: inner.floats, largest: Math.max(state.largest, inner.largest), saved: false };
          break;
        }
        default:
          state = { ...state, ...sizeAfter(layer, state), saved: false };
      }
      index++;
    }
    state.largest = Math.max(state.largest, floatsOf(state));
  }
  return state;
}

function savedStart(channels: number, height: number, width: number): Saved {
  return { height, width, channels, saved: false, floats: 0, largest: height * width * channels };
}

/**
 * The floats one sample's lean training step (train/step.ts on
 * backend/leanGradients.ts) keeps for its backward pass at the end of the
 * forward pass, per network: G (and E), and D's three passes with the
 * feature-matching and GAN losses; plus the largest single activation (the
 * backward pass's frontier holds a few of those at a time).
 */
export function savedStepFloats(config: ArchConfig, height: number, width: number, options: { checkpoint?: boolean } = {}): { G: number; E: number; D: number; largest: number } {
  const checkpoint = options.checkpoint === true;
  let G: number;
  let largest: number;
  const inputChannels = generatorInputChannels(config);
  if (config.netG === 'global') {
    const walked = savedWalk(globalGenerator(globalGeneratorShape(config)).layers, savedStart(inputChannels, height, width), checkpoint);
    G = walked.floats + height * width * inputChannels;
    largest = walked.largest;
  } else {
    const { global, enhancers } = localEnhancer(localEnhancerShape(config));
    const n = enhancers.length;
    const globalWalk = savedWalk(global.layers, savedStart(inputChannels, Math.ceil(height / 2 ** n), Math.ceil(width / 2 ** n)), checkpoint);
    G = globalWalk.floats;
    largest = globalWalk.largest;
    enhancers.forEach(({ frontEnd, backEnd }, index) => {
      const scale = 2 ** (n - 1 - index);
      const front = savedWalk(frontEnd.layers, savedStart(inputChannels, Math.ceil(height / scale), Math.ceil(width / scale)));
      // The back end starts from front + global (a sum nothing saves): its first unit saves it.
      const back = savedWalk(backEnd.layers, { ...front, saved: false, floats: 0 }, checkpoint);
      G += front.floats + back.floats + (height / scale) * (width / scale) * inputChannels;
      largest = Math.max(largest, front.largest, back.largest);
    });
  }
  let E = 0;
  if (config.instance_feat) {
    const walked = savedWalk(encoder(encoderShape(config)).layers, savedStart(encoderInputChannels(config), height, width));
    E = walked.floats + height * width * encoderInputChannels(config);
    largest = Math.max(largest, walked.largest);
  }
  // D, three passes. A scale's opening (the condition's part, shared by the
  // passes, plus the image's conv, bias and LeakyReLU) saves the shared term
  // once and the small image; its output is saved by the next group's unit;
  // feature matching saves one difference per output of the pass on the
  // fake; the condition's pyramid lives through the step.
  const dShape = discriminatorShape(config);
  const conditionChannels = discriminatorInputChannels(config) - config.output_nc;
  let D = 0;
  let h = height;
  let w = width;
  for (let level = 0; level < config.num_D; level++) {
    const [first, ...rest] = singleDiscriminator(dShape, 0);
    const firstSize = walk(first!.layers, { height: h, width: w, channels: discriminatorInputChannels(config), floats: 0, largest: 0 });
    const firstFloats = firstSize.height * firstSize.width * firstSize.channels;
    let state: Saved = { height: firstSize.height, width: firstSize.width, channels: firstSize.channels, saved: false, floats: 0, largest: firstFloats };
    let outputs = firstFloats;
    for (const group of rest) {
      state = savedWalk(group.layers, state);
      outputs += state.height * state.width * state.channels;
    }
    D += 3 * state.floats + firstFloats + outputs + 3 * 3 * h * w;
    largest = Math.max(largest, state.largest, firstFloats);
    if (level !== 0) D += conditionChannels * h * w;
    h = Math.floor((h - 1) / 2) + 1;
    w = Math.floor((w - 1) / 2) + 1;
  }
  return { G, E, D, largest };
}
