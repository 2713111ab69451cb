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
import { totalmem } from 'node:os';
import { UsageError } from '../errors.js';
import { checkWebgpuTensorBytes } from '../backend/index.js';
import type { Stage } from '../families/pix2pixhd/stages.js';
import type { ArchConfig } from '../families/pix2pixhd/config.js';
import { activationFloats } from '../families/pix2pixhd/activations.js';
import { countParameters } from '../model/layers.js';
import { modelSpecs, trainingNetworks } from '../families/pix2pixhd/networks.js';
import { optimizerKeys } from './model.js';

/** The wasm32 heap's hard ceiling (tfjs-backend-wasm's build). */
const WASM_HEAP_BYTES = 4294901760;
/** Tape-held activations plus retained gradients, relative to the forward layer outputs (measured). */
const ACTIVATION_FACTOR = 4;
/** Heap size at its peak relative to the live bytes above (measured: allocator overhead and fragmentation). */
const ALLOCATOR_OVERHEAD = 1.2;

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

/**
 * Fails up front (exit 2) when the machine cannot hold Adam's state (on any
 * backend), or the wasm heap a step of this configuration.
 */
export function checkTrainingMemory(config: ArchConfig, stage: Stage, size: { height: number; width: number }, batchSize: number, backend: string): MemoryEstimate {
  const estimate = estimateTrainingMemory(config, stage, size, batchSize);
  if (estimate.hostBytes > totalmem()) {
    throw new UsageError(
      `this configuration trains ${(estimate.hostBytes / 12 / 1e6).toFixed(0)} M parameters, whose Adam moments and master weights need ` +
        `${(estimate.hostBytes / GIB).toFixed(1)} GiB, more than this machine's ${(totalmem() / GIB).toFixed(0)} GiB: use a smaller --ngf, --n-blocks-global or --n-downsample-global`,
    );
  }
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
