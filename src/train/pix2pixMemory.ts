/**
 * Does a pix2pix training configuration fit? Checked before the weights are
 * made, as memory.ts does for pix2pixHD, so that a run that cannot fit fails
 * at once with one line and the flags that would shrink it.
 *
 * What the heap holds at the lean step's peak (families/pix2pix/step.ts):
 * the end of D's forward passes inside G's forward pass, or G's backward
 * walk recomputing a batch-norm layer (checkpointed):
 * - every parameter and buffer of G and D;
 * - what G's pass saved for its backward pass (held until G's backward pass
 *   ends), and what D's two passes saved for D's, or D's third pass and six
 *   tensors of the largest batch-norm layer (families/pix2pix/activations.ts),
 *   times the batch;
 * - the backward walk's frontier: a few activations of the largest size and
 *   the largest conv's column buffer (p2phd's GEMM convs, at most 64 MB);
 * - D's gradients, which come as one set (G's leave the heap as they are
 *   produced, through gradient sinks);
 * - on wasm where the products run on XNNPACK, its packed copy of every
 *   convolution weight; on the device path Adam's two moments per trained
 *   weight;
 * - the allocator's overhead (memory.ts's measurement: 1.3x at its largest).
 * Checked against the wasm heap's measured tensor peak (HeapAccounting)
 * within 15% (test/train/pix2pixMemory.test.ts). On wasm Adam's moments and
 * master weights live outside the heap (3 floats per trained parameter,
 * hostBytes).
 */
import { totalmem } from 'node:os';
import { UsageError } from '../errors.js';
import { checkWebgpuTensorBytes, wasmPacksConvWeights } from '../backend/index.js';
import { countParameters, isTrainable } from '../model/layers.js';
import { pix2pixSavedStepFloats } from '../families/pix2pix/activations.js';
import { pix2pixSpecs } from '../families/pix2pix/networks.js';
import { discriminatorMinimumSide, pix2pixMinimumSide, pix2pixSizeMultiple, type Pix2pixConfig } from '../families/pix2pix/config.js';

/** The wasm32 heap's hard ceiling (tfjs-backend-wasm's build), as memory.ts. */
const WASM_HEAP_BYTES = 4294901760;
/** Peak heap relative to the tensor bytes (memory.ts's measurement at 1024x512). */
export const PIX2PIX_ALLOCATOR_OVERHEAD = 1.3;
/**
 * The backward walks' frontier, in activations of the largest size (a
 * gradient, its contribution, the recomputed input of a unit; D's norms'
 * gradients a few more): fitted to the measured peaks (see the test).
 */
const FRONTIER_ACTIVATIONS = { G: 3, D: 5 } as const;
/** Tensors of a batch-norm layer's size its recomputation in backward holds at once (six, and the incoming gradient). */
const NORM_RECOMPUTED = 7;
/** p2phd's GEMM convs make their columns in bands of at most 16M floats (backend/wasm/conv2d-native-column.ts). */
const MAX_COLUMN_FLOATS = 16 * 1024 * 1024;

export interface Pix2pixMemoryEstimate {
  /** Every parameter and buffer. */
  parameterBytes: number;
  /** XNNPACK's packed convolution weights (wasm, where the products run on XNNPACK; 0 elsewhere). */
  packedBytes: number;
  /** D's gradients (one set; G's leave the heap as they are produced). */
  gradientBytes: number;
  /** What G's pass and D's two passes save, and the backward walk's frontier, for the batch. */
  activationBytes: number;
  /** Adam's moments where they live beside the weights (the device path; 0 on wasm). */
  momentBytes: number;
  /** The tensors at the step's peak: what HeapAccounting measures on wasm. */
  tensorBytes: number;
  /** The tensor memory at its peak, overhead included. */
  totalBytes: number;
  /** Outside the tensor heap (wasm): Adam's moments and master weights. */
  hostBytes: number;
  /** The largest single activation of one sample, in floats (webgpu's buffer limit). */
  largestFloats: number;
}

export function estimatePix2pixTrainingMemory(
  config: Pix2pixConfig,
  size: { height: number; width: number },
  batchSize: number,
  onHost: boolean,
  options: { packed?: boolean } = {},
): Pix2pixMemoryEstimate {
  const specs = pix2pixSpecs(config);
  const trained = countParameters(specs.filter(isTrainable), 'all');
  const parameterBytes = 4 * countParameters(specs, 'all');
  const packed = onHost && (options.packed ?? wasmPacksConvWeights());
  const packedBytes = packed ? 4 * countParameters(specs.filter((spec) => spec.role === 'convWeight' || spec.role === 'convTransposeWeight'), 'all') : 0;
  const gradientBytes = 4 * countParameters(pix2pixSpecs(config, ['D']).filter(isTrainable), 'all');
  const saved = pix2pixSavedStepFloats(config, size.height, size.width);
  const frontier = (network: 'G' | 'D', largest: number, columns: number): number =>
    FRONTIER_ACTIVATIONS[network] * batchSize * largest + Math.min(MAX_COLUMN_FLOATS, batchSize * columns);
  // D's two passes as D's backward walk starts (its frontier D-sized), or D's
  // third pass in G's backward walk: a recomputed batch norm, or G's frontier.
  const dStep = batchSize * (saved.G + 2 * saved.D) + frontier('D', saved.largestD, saved.columnsD);
  const gStep = batchSize * (saved.G + saved.D + NORM_RECOMPUTED * saved.largestNorm);
  const gFrontier = batchSize * (saved.G + saved.D) + frontier('G', saved.largestG, saved.columnsG);
  const activationBytes = 4 * Math.max(dStep, gStep, gFrontier);
  const momentBytes = onHost ? 0 : 2 * 4 * trained;
  const tensorBytes = parameterBytes + gradientBytes + activationBytes + momentBytes;
  return {
    parameterBytes,
    packedBytes,
    gradientBytes,
    activationBytes,
    momentBytes,
    tensorBytes,
    totalBytes: PIX2PIX_ALLOCATOR_OVERHEAD * (tensorBytes + packedBytes),
    hostBytes: onHost ? 3 * 4 * trained : 0,
    largestFloats: saved.largest,
  };
}

const GIB = 1024 ** 3;

/** Generic ways to shrink a step, for the refusals that are not about the wasm heap. */
function shrinkingFlags(config: Pix2pixConfig, batchSize: number): string[] {
  const suggestions: string[] = [];
  if (batchSize > 1) suggestions.push('--batch-size 1');
  suggestions.push('smaller samples (preprocess --aligned with a smaller --load-size / --crop-size)');
  if (config.ngf > 8) suggestions.push(`--ngf ${config.ngf / 2}`);
  if (config.ndf > 8) suggestions.push(`--ndf ${config.ndf / 2}`);
  if (config.netG === 'resnet_9blocks') suggestions.push('--net-g resnet_6blocks');
  return suggestions;
}

/**
 * The changes that make a step fit `budget` bytes (totalBytes), each
 * estimated again: the largest smaller batch, the largest smaller samples
 * (halved, at G's size multiple), the largest halved --ngf or --ndf,
 * resnet_6blocks for resnet_9blocks. Only those that fit are named.
 */
export function pix2pixFittingSuggestions(config: Pix2pixConfig, size: { height: number; width: number }, batchSize: number, onHost: boolean, budget: number): string[] {
  const fits = (changed: Pix2pixConfig, height = size.height, width = size.width, batch = batchSize): boolean =>
    estimatePix2pixTrainingMemory(changed, { height, width }, batch, onHost).totalBytes <= budget;
  const suggestions: string[] = [];
  for (let batch = batchSize - 1; batch >= 1; batch--) {
    if (fits(config, size.height, size.width, batch)) {
      suggestions.push(`--batch-size ${batch}`);
      break;
    }
  }
  const multiple = pix2pixSizeMultiple(config);
  const minimum = Math.max(pix2pixMinimumSide(config), discriminatorMinimumSide(config), multiple);
  const shrink = (side: number): number => Math.floor(side / 2 / multiple) * multiple;
  for (let [height, width] = [shrink(size.height), shrink(size.width)]; height >= minimum && width >= minimum; [height, width] = [shrink(height), shrink(width)]) {
    if (fits(config, height, width)) {
      suggestions.push(`samples of ${width}x${height} or smaller (preprocess --aligned with a smaller --load-size / --crop-size)`);
      break;
    }
  }
  for (const flag of ['ngf', 'ndf'] as const) {
    for (let value = config[flag] / 2; value >= 1 && Number.isInteger(value); value /= 2) {
      if (fits({ ...config, [flag]: value })) {
        suggestions.push(`--${flag} ${value}`);
        break;
      }
    }
  }
  if (config.netG === 'resnet_9blocks' && fits({ ...config, netG: 'resnet_6blocks' })) suggestions.push('--net-g resnet_6blocks');
  return suggestions;
}

/**
 * Fails up front (exit 2, one line) where the machine cannot hold Adam's
 * state, where one activation is past webgpu's buffer limit, or where a
 * step cannot fit the wasm heap (4 GiB).
 */
export function checkPix2pixTrainingMemory(config: Pix2pixConfig, size: { height: number; width: number }, batchSize: number, backend: string, onHost: boolean): Pix2pixMemoryEstimate {
  const estimate = estimatePix2pixTrainingMemory(config, size, batchSize, onHost);
  const at = `at ${size.width}x${size.height}, batch ${batchSize}`;
  if (estimate.hostBytes > totalmem()) {
    throw new UsageError(
      `train pix2pix: Adam's moments and master weights need ${(estimate.hostBytes / GIB).toFixed(1)} GiB, more than this machine's ${(totalmem() / GIB).toFixed(0)} GiB: try ${shrinkingFlags(config, batchSize).slice(-3).join('; or ')}`,
    );
  }
  if (backend === 'webgpu') {
    checkWebgpuTensorBytes(4 * batchSize * estimate.largestFloats, `training pix2pix ${at}`, `try ${shrinkingFlags(config, batchSize).join('; or ')}`);
  }
  if (backend !== 'wasm') return estimate;
  if (estimate.totalBytes > WASM_HEAP_BYTES) {
    const suggestions = [...pix2pixFittingSuggestions(config, size, batchSize, onHost, WASM_HEAP_BYTES), '--backend tensorflow or webgpu (no 4 GiB cap)'];
    throw new UsageError(
      `train pix2pix: this configuration needs about ${(estimate.totalBytes / GIB).toFixed(1)} GiB of tensor memory per step ${at} ` +
        `(weights ${(estimate.parameterBytes / GIB).toFixed(2)}, ${estimate.packedBytes > 0 ? `XNNPACK's packed weights ${(estimate.packedBytes / GIB).toFixed(2)}, ` : ''}D's gradients ${(estimate.gradientBytes / GIB).toFixed(2)}, ` +
        `activations kept for the backward passes ${(estimate.activationBytes / GIB).toFixed(2)}, allocator x${PIX2PIX_ALLOCATOR_OVERHEAD}); ` +
        `the wasm backend's heap stops at 4 GiB. Try: ${suggestions.join('; or ')}`,
    );
  }
  return estimate;
}
