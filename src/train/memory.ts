/**
 * Does a training configuration fit the wasm heap? Checked before the first
 * step, so that a run that cannot fit fails at once with a suggestion, never
 * hours in (and never by tfjs writing past a failed allocation).
 *
 * What lives in the wasm heap during a step, as measured on tfjs 4.22:
 * - every parameter (weights and buffers);
 * - XNNPACK's packed copy of every convolution weight (the wasm conv2d
 *   caches one per filter tensor);
 * - the activations the tape keeps and the gradients the backward pass
 *   computes, which tfjs holds until the whole backward pass ends: about 4x
 *   the forward layer outputs (counted by walking the layer lists at the
 *   training size; D runs three times per step);
 * - allocator overhead and fragmentation: measured peaks were 0.97x to
 *   1.45x the sum above as the compute kernels changed (the default
 *   architecture at 256x128: 3.9 GiB, later 2.5 GiB; the small bench
 *   config at 128x128: 0.55 to 0.65 GiB); 1.2x is used. The peak is
 *   reached in the first step (memory is flat afterwards), so an estimate
 *   that errs low still fails within the first step, through the heap
 *   guard's clear error, not hours in.
 * Weight gradients leave the heap as they are produced, and Adam's moments
 * and master weights live outside it (step.ts, adam.ts): they count toward
 * the process's memory (hostBytes), not the heap.
 */
import { UsageError } from '../errors.js';
import { checkWebgpuTensorBytes } from '../backend/index.js';
import type { Stage } from '../data/stages.js';
import type { ArchConfig } from '../model/config.js';
import { discriminatorInputChannels, encoderInputChannels, generatorInputChannels } from '../model/config.js';
import { singleDiscriminator } from '../model/discriminator.js';
import { encoder } from '../model/encoder.js';
import { globalGenerator } from '../model/globalGenerator.js';
import { countParameters, type Layer } from '../model/layers.js';
import { localEnhancer } from '../model/localEnhancer.js';
import { discriminatorShape, encoderShape, globalGeneratorShape, localEnhancerShape, modelSpecs, trainingNetworks } from '../model/networks.js';
import { optimizerKeys } from './model.js';

/** The wasm32 heap's hard ceiling (tfjs-backend-wasm's build). */
const WASM_HEAP_BYTES = 4294901760;
/** Tape-held activations plus retained gradients, relative to the forward layer outputs (measured). */
const ACTIVATION_FACTOR = 4;
/** Heap size at its peak relative to the live bytes above (measured: allocator overhead and fragmentation). */
const ALLOCATOR_OVERHEAD = 1.2;

interface Activation {
  height: number;
  width: number;
  channels: number;
  /** Floats of every layer output so far. */
  floats: number;
  /** Floats of the largest single layer output so far (a device's per-buffer limit applies to it). */
  largest: number;
}

function walk(layers: readonly Layer[], start: Activation): Activation {
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
      default:
        break;
    }
    // Conv and norm outputs carry a bias add / statistics: count two tensors for them.
    const perOutput = layer.kind === 'conv' || layer.kind === 'convTranspose' || layer.kind === 'norm' ? 2 : 1;
    if (layer.kind !== 'resnetBlock') {
      state.floats += perOutput * state.height * state.width * state.channels;
      state.largest = Math.max(state.largest, state.height * state.width * state.channels);
    }
  }
  return state;
}

/**
 * Forward activation floats of one sample at height x width, per network
 * pass, and the largest single layer output of any network (`largest`).
 */
export function activationFloats(config: ArchConfig, height: number, width: number, networks: { D: boolean; E: boolean } = { D: true, E: true }): { G: number; D: number; E: number; largest: number } {
  const start = (channels: number, h = height, w = width): Activation => ({ height: h, width: w, channels, floats: h * w * channels, largest: h * w * channels });
  let generator = 0;
  let largest = 0;
  const note = (state: Activation): Activation => {
    largest = Math.max(largest, state.largest);
    return state;
  };
  if (config.netG === 'global') {
    generator = note(walk(globalGenerator(globalGeneratorShape(config)).layers, start(generatorInputChannels(config)))).floats;
  } else {
    const { global, enhancers } = localEnhancer(localEnhancerShape(config));
    const n = enhancers.length;
    generator = note(walk(global.layers, start(generatorInputChannels(config), Math.ceil(height / 2 ** n), Math.ceil(width / 2 ** n)))).floats;
    enhancers.forEach(({ frontEnd, backEnd }, index) => {
      const scale = 2 ** (n - 1 - index);
      const front = note(walk(frontEnd.layers, start(generatorInputChannels(config), Math.ceil(height / scale), Math.ceil(width / scale))));
      generator += front.floats + note(walk(backEnd.layers, { ...front, floats: 0 })).floats;
    });
  }
  if (!networks.D) return { G: generator, D: 0, E: 0, largest };
  let discriminator = 0;
  const dShape = discriminatorShape(config);
  let h = height;
  let w = width;
  for (let level = 0; level < config.num_D; level++) {
    let state = start(discriminatorInputChannels(config), h, w);
    for (const group of singleDiscriminator(dShape, 0)) state = note(walk(group.layers, state));
    discriminator += state.floats;
    h = Math.floor((h - 1) / 2) + 1;
    w = Math.floor((w - 1) / 2) + 1;
  }
  const encoderFloats = config.instance_feat && networks.E ? note(walk(encoder(encoderShape(config)).layers, start(encoderInputChannels(config)))).floats : 0;
  return { G: generator, D: discriminator, E: encoderFloats, largest };
}

export interface MemoryEstimate {
  parameterBytes: number;
  /** XNNPACK's packed convolution weights (wasm). */
  packedBytes: number;
  activationBytes: number;
  /** The heap at its peak, overhead included. */
  totalBytes: number;
  /** Outside the tensor heap: Adam's two moments and the master weights of every trained parameter. */
  hostBytes: number;
}

export function estimateTrainingMemory(config: ArchConfig, stage: Stage, size: { height: number; width: number }, batchSize: number): MemoryEstimate {
  const specs = modelSpecs(config, trainingNetworks(config));
  const keys = optimizerKeys(stage, specs);
  const trainedKeys = new Set([...keys.G, ...keys.D]);
  const trained = specs.filter((spec) => trainedKeys.has(spec.key));
  const parameterBytes = 4 * countParameters(specs, 'all');
  const packedBytes = 4 * countParameters(specs.filter((spec) => spec.role === 'convWeight' || spec.role === 'convTransposeWeight'), 'all');
  const floats = activationFloats(config, size.height, size.width);
  const activationBytes = 4 * batchSize * ACTIVATION_FACTOR * (floats.G + floats.E + 3 * floats.D);
  return {
    parameterBytes,
    packedBytes,
    activationBytes,
    totalBytes: ALLOCATOR_OVERHEAD * (parameterBytes + packedBytes + activationBytes),
    hostBytes: 3 * 4 * countParameters(trained, 'all'),
  };
}

const GIB = 1024 ** 3;

/** Fails up front (exit 2) when the wasm heap cannot hold a step of this configuration. */
export function checkTrainingMemory(config: ArchConfig, stage: Stage, size: { height: number; width: number }, batchSize: number, backend: string): MemoryEstimate {
  const estimate = estimateTrainingMemory(config, stage, size, batchSize);
  if (backend === 'webgpu') {
    const largest = 4 * batchSize * activationFloats(config, size.height, size.width).largest;
    checkWebgpuTensorBytes(largest, `training at ${size.width}x${size.height}, batch ${batchSize}`, `try ${batchSize > 1 ? '--batch-size 1, or ' : ''}smaller samples (preprocess with a smaller --load-size or a crop mode)${config.ngf > 32 ? ` or --ngf ${config.ngf / 2}` : ''}`);
  }
  if (backend !== 'wasm') return estimate;
  const budget = WASM_HEAP_BYTES;
  if (estimate.totalBytes > budget) {
    const suggestions: string[] = [];
    const fixedBytes = ALLOCATOR_OVERHEAD * (estimate.parameterBytes + estimate.packedBytes);
    const fittingBatch = Math.floor((batchSize * (budget - fixedBytes)) / (ALLOCATOR_OVERHEAD * estimate.activationBytes));
    if (batchSize > 1 && fittingBatch >= 1) suggestions.push(`--batch-size ${fittingBatch}`);
    suggestions.push('smaller samples (preprocess with a smaller --load-size or a crop mode)');
    if (config.ngf > 32) suggestions.push(`--ngf ${config.ngf / 2}`);
    if (config.n_blocks_global > 3) suggestions.push(`--n-blocks-global ${Math.ceil(config.n_blocks_global / 2)}`);
    suggestions.push('--backend tensorflow (no 4 GB cap) where the native binding installs');
    throw new UsageError(
      `this configuration needs about ${(estimate.totalBytes / GIB).toFixed(1)} GiB of tensor memory per step at ${size.width}x${size.height}, batch ${batchSize} ` +
        `(weights ${(estimate.parameterBytes / GIB).toFixed(2)}, XNNPACK's packed weights ${(estimate.packedBytes / GIB).toFixed(2)}, activations and gradients ${(estimate.activationBytes / GIB).toFixed(2)}, allocator overhead x${ALLOCATOR_OVERHEAD}); ` +
        `the wasm backend's heap stops at 4 GiB. Try: ${suggestions.join('; or ')}`,
    );
  }
  return estimate;
}
