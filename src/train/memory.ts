/**
 * Does a training configuration fit the wasm heap? Checked before the first
 * step, so that a run that cannot fit fails at once with a suggestion, never
 * hours in (and never by tfjs writing past a failed allocation).
 *
 * What lives in the wasm heap during a lean step (step.ts: the backward walk
 * of backend/leanGradients.ts frees each saved tensor and gradient at its
 * last use), at its peak, the end of the forward pass:
 * - every parameter (weights and buffers), and the batch's inputs;
 * - what the forward pass saved for the backward pass, walked over the layer
 *   lists (model/activations.ts savedStepFloats: a conv unit's input, an
 *   instance norm's output, D's outputs for feature matching, ...);
 * - the backward pass's frontier: about one more activation of the largest
 *   size (a gradient beside what it consumes);
 * - the forms D's kernels derive from its filters for the step (transposes,
 *   stride phases; backend/wasm/derived-tensors.ts): about two copies of D;
 * - XNNPACK's packed copy of every conv weight, where the products run on
 *   XNNPACK (P2PHD_NATIVE_GEMM=0, or onnxruntime-node missing);
 * - allocator overhead and what the wasm module allocates for itself: 1.3x.
 * Measured against the heap's tensor high-water mark (HeapAccounting) at
 * several sizes: within 15% (test/train/memory.test.ts). Weight gradients
 * leave the heap as they are produced, and Adam's moments and master
 * weights live outside it (step.ts, adam.ts): they count toward the
 * process's memory (hostBytes), not the heap.
 */
import { totalmem } from 'node:os';
import { UsageError } from '../errors.js';
import { checkWebgpuTensorBytes, wasmPacksConvWeights } from '../backend/index.js';
import type { Stage } from '../families/pix2pixhd/stages.js';
import { generatorInputChannels, type ArchConfig } from '../families/pix2pixhd/config.js';
import { activationFloats, savedStepFloats } from '../families/pix2pixhd/activations.js';
import { countParameters, type ParamSpec } from '../model/layers.js';
import { modelSpecs, networkSpecs, trainingNetworks } from '../families/pix2pixhd/networks.js';
import { optimizerKeys } from './model.js';

/** The wasm32 heap's hard ceiling (tfjs-backend-wasm's build). */
const WASM_HEAP_BYTES = 4294901760;
/**
 * The heap's size at its peak relative to the tensor bytes: the heap grows
 * in steps and also holds the wasm module's own allocations and the
 * allocator's fragmentation. Measured: 1.08x for the default architecture at
 * 256x128 (928 MiB), 1.29x at 1024x512 (3045 MiB against 2354 MiB of
 * estimated tensors; bench train, docs/memory.md).
 */
const ALLOCATOR_OVERHEAD = 1.3;
/** D's derived filter forms kept through a step, in copies of D's conv weights. */
const DERIVED_D_COPIES = 2;
/**
 * deviceAdam.ts's update of the largest parameter, in copies of it: three
 * temporaries, the gradient and its last summand, the moment being replaced
 * (measured at the peak of a small configuration on lavapipe, where Adam's
 * update is the peak; at larger sizes the end of the forward pass is).
 */
const ADAM_TEMPORARIES = 6;
/**
 * With --offload-activations (backend/leanGradients.ts SavedTensorOffload)
 * the heap holds, besides the weights and the batch, a working set that
 * moves with the walk: a layer's input and output, what is restored for
 * the operation at hand, the gradient frontier, the feature-matching
 * terms of the layer D is at. Measured at its peak in units of the step's
 * largest activation: 7.2 (G1 ngf 16 at 1024x512), 7.6 (train local, the
 * 1024p model at 1024x512), 4.7 (the same at 2048x1024, where the
 * enhancer's 256 MiB activation outweighs D's): 7 is an upper bound.
 */
const OFFLOAD_WORKING_SET = 5;
/**
 * The heap's size over its tensors with offloading: blocks of every size
 * freed out of order leave gaps the next large block does not fit.
 * Measured: 3430 MiB of heap for a 2761 MiB tensor peak (1.24x; train
 * joint, the 1024p model at 2048x1024, one step).
 */
const OFFLOAD_ALLOCATOR_OVERHEAD = 1.35;

export interface MemoryEstimate {
  parameterBytes: number;
  /** XNNPACK's packed convolution weights (wasm, when the products run on XNNPACK). */
  packedBytes: number;
  /** What the forward pass saves for the backward pass, the inputs, and the backward frontier. */
  activationBytes: number;
  /** The tensors at the step's peak (parameters, derived forms, activations): what HeapAccounting measures. */
  tensorBytes: number;
  /** The heap at its peak, overhead included. */
  totalBytes: number;
  /** Outside the tensor heap: Adam's two moments and the master weights of every trained parameter. */
  hostBytes: number;
  /** Saved tensors waiting outside the heap between the passes, at most (with offload; else 0). */
  offloadBytes: number;
  /** Whether the figures are for the offloaded step (--offload-activations, or chosen by checkTrainingMemory). */
  offload: boolean;
  /** On a device backend (webgpu, tensorflow): see deviceTrainingBytes (never offloaded). */
  deviceBytes: number;
}

/**
 * Device memory at a device step's peak (deviceStep.ts, every backend but
 * wasm): the parameters, Adam's two moments of every trained parameter (as
 * device tensors), what the forward pass saves (the same walk as the heap's),
 * and Adam's update of one parameter in flight (deviceAdam.ts: the gradient
 * and a few element-wise temporaries of the largest trained tensor's size). No packed
 * or derived weight forms (those are the wasm kernels'), no allocator factor:
 * this is the live tensors' high-water mark; tfjs-webgpu's buffer pool holds
 * more (freed buffers wait there for a tensor of the same size), measured in
 * docs/memory.md.
 */
function deviceTrainingBytes(parameterBytes: number, activationBytes: number, trained: readonly ParamSpec[]): number {
  const momentBytes = 2 * 4 * countParameters(trained, 'all');
  const largestTrained = Math.max(0, ...trained.map((spec) => countParameters([spec], 'all')));
  return parameterBytes + momentBytes + activationBytes + ADAM_TEMPORARIES * 4 * largestTrained;
}

function convWeightFloats(specs: readonly ParamSpec[]): number {
  return countParameters(specs.filter((spec) => spec.role === 'convWeight' || spec.role === 'convTransposeWeight'), 'all');
}

export function estimateTrainingMemory(
  config: ArchConfig,
  stage: Stage,
  size: { height: number; width: number },
  batchSize: number,
  options: { packed?: boolean; checkpoint?: boolean; offload?: boolean } = {},
): MemoryEstimate {
  const specs = modelSpecs(config, trainingNetworks(config));
  const keys = optimizerKeys(stage, specs);
  const trainedKeys = new Set([...keys.G, ...keys.D]);
  const trained = specs.filter((spec) => trainedKeys.has(spec.key));
  const parameterBytes = 4 * countParameters(specs, 'all');
  const packed = options.packed ?? wasmPacksConvWeights();
  const packedBytes = packed ? 4 * convWeightFloats(specs) : 0;
  const saved = savedStepFloats(config, size.height, size.width, { checkpoint: options.checkpoint === true });
  const activationBytes = 4 * batchSize * (saved.G + saved.E + saved.D + saved.largest);
  const derivedBytes = 4 * DERIVED_D_COPIES * convWeightFloats(networkSpecs(config, 'D'));
  const hostBytes = 3 * 4 * countParameters(trained, 'all');
  const deviceBytes = deviceTrainingBytes(parameterBytes, activationBytes, trained);
  if (options.offload === true) {
    // The batch and D's condition pyramid stay in the heap (the forward pass holds them throughout).
    const pixels = size.height * size.width;
    let pyramid = 0;
    for (let level = 1; level < config.num_D; level++) pyramid += pixels / 4 ** level;
    const inputBytes = 4 * batchSize * (generatorInputChannels({ ...config, instance_feat: false }) * (pixels + pyramid) + config.output_nc * pixels);
    // With instance features G's input is concat(labels, features), held through the forward pass,
    // and its gradient (for E) is formed whole in the backward pass: two more input-sized tensors.
    const featureInputBytes = config.instance_feat ? 2 * 4 * batchSize * generatorInputChannels(config) * pixels : 0;
    const workingBytes = inputBytes + featureInputBytes + 4 * batchSize * OFFLOAD_WORKING_SET * saved.largest;
    const tensorBytes = parameterBytes + derivedBytes + workingBytes;
    return {
      parameterBytes,
      packedBytes,
      activationBytes: workingBytes,
      tensorBytes,
      totalBytes: OFFLOAD_ALLOCATOR_OVERHEAD * (tensorBytes + packedBytes),
      hostBytes,
      offloadBytes: Math.max(0, activationBytes - workingBytes),
      offload: true,
      deviceBytes,
    };
  }
  const tensorBytes = parameterBytes + derivedBytes + activationBytes;
  return {
    parameterBytes,
    packedBytes,
    activationBytes,
    tensorBytes,
    totalBytes: ALLOCATOR_OVERHEAD * (tensorBytes + packedBytes),
    hostBytes,
    offloadBytes: 0,
    offload: false,
    deviceBytes,
  };
}

const GIB = 1024 ** 3;

/**
 * Fails up front (exit 2) when the machine cannot hold Adam's state (on any
 * backend), or the wasm heap a step of this configuration.
 */
export function checkTrainingMemory(
  config: ArchConfig,
  stage: Stage,
  size: { height: number; width: number },
  batchSize: number,
  backend: string,
  options: { checkpoint?: boolean; offload?: boolean } = {},
): MemoryEstimate {
  if (options.checkpoint === true && config.norm !== 'instance') {
    throw new UsageError('--checkpoint-activations: needs --norm instance (a recomputed block would move batch norm\'s running statistics twice)');
  }
  const estimate = estimateTrainingMemory(config, stage, size, batchSize, { checkpoint: options.checkpoint, offload: options.offload });
  if (estimate.hostBytes + estimate.offloadBytes > totalmem()) {
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
  if (estimate.totalBytes > budget && options.offload !== true) {
    // Offloading costs two copies per step: chosen only where the heap cannot hold the step without it.
    const offloaded = estimateTrainingMemory(config, stage, size, batchSize, { checkpoint: options.checkpoint, offload: true });
    if (offloaded.totalBytes <= budget && offloaded.hostBytes + offloaded.offloadBytes <= totalmem()) return offloaded;
  }
  if (estimate.totalBytes > budget) {
    // Only suggestions that fit when followed (each estimated again).
    // What follows a suggestion may run offloaded (chosen then as here): it fits if either form does.
    const fits = (changed: ArchConfig, height = size.height, width = size.width, batch = batchSize): boolean =>
      [false, true].some((offload) => estimateTrainingMemory(changed, stage, { height, width }, batch, { checkpoint: options.checkpoint, offload }).totalBytes <= budget);
    const suggestions: string[] = [];
    for (let batch = batchSize - 1; batch >= 1; batch--) {
      if (fits(config, size.height, size.width, batch)) {
        suggestions.push(`--batch-size ${batch}`);
        break;
      }
    }
    let [height, width] = [size.height, size.width];
    while (height >= 64 && !fits(config, height, width)) [height, width] = [Math.round(height / 2), Math.round(width / 2)];
    if (fits(config, height, width)) suggestions.push(`samples of ${width}x${height} or smaller (preprocess with --load-size ${width} or a crop mode)`);
    if (config.ngf > 32 && fits({ ...config, ngf: config.ngf / 2 })) suggestions.push(`--ngf ${config.ngf / 2}`);
    if (config.n_blocks_global > 3 && fits({ ...config, n_blocks_global: Math.ceil(config.n_blocks_global / 2) })) suggestions.push(`--n-blocks-global ${Math.ceil(config.n_blocks_global / 2)}`);
    suggestions.push('--backend tensorflow (no 4 GB cap) where the native binding installs');
    throw new UsageError(
      `this configuration needs about ${(estimate.totalBytes / GIB).toFixed(1)} GiB of tensor memory per step at ${size.width}x${size.height}, batch ${batchSize} ` +
        `(weights ${(estimate.parameterBytes / GIB).toFixed(2)}, ${estimate.packedBytes > 0 ? `XNNPACK's packed weights ${(estimate.packedBytes / GIB).toFixed(2)}, ` : ''}${options.offload === true ? 'the batch and the working set of the offloaded step' : 'activations kept for the backward pass'} ${(estimate.activationBytes / GIB).toFixed(2)}, allocator overhead x${options.offload === true ? OFFLOAD_ALLOCATOR_OVERHEAD : ALLOCATOR_OVERHEAD}); ` +
        `the wasm backend's heap stops at 4 GiB. Try: ${suggestions.join('; or ')}`,
    );
  }
  return estimate;
}
