/**
 * Does a pix2pix training configuration fit? Checked before the weights are
 * made, as memory.ts does for pix2pixHD, so that a run that cannot fit fails
 * at once with one line and the flags that would shrink it.
 *
 * The estimate follows memory.ts's model (tfjs 4.22), with pix2pix's own
 * activation factor:
 * - every parameter and buffer of G and D;
 * - on wasm, XNNPACK's packed copy of every convolution weight;
 * - every trained parameter's gradient: pix2pix's step takes D's and then
 *   G's gradients as whole sets (families/pix2pix/step.ts);
 * - about 3x the forward layer outputs (the tape's activations and the
 *   backward pass's intermediates), counted by walking the layer lists at
 *   the training size: G once, D three times (fake, real, fake through the
 *   updated D);
 * - x1.2 for the allocator.
 * Measured (wasm heap size after one step, the reference's defaults at
 * 256x256, batch 1): unet_256 1.15 GiB (estimate 1.50), resnet_9blocks
 * 2.86 GiB (estimate 3.11). pix2pixHD's factor 4 would put resnet_9blocks at
 * 4.08 GiB and refuse a run that fits.
 * On wasm Adam's moments and master weights live outside the heap (3 floats
 * per trained parameter, hostBytes); on the device path they are two more
 * device tensors per trained weight.
 */
import { totalmem } from 'node:os';
import { UsageError } from '../errors.js';
import { checkWebgpuTensorBytes } from '../backend/index.js';
import { startAt, walk } from '../families/pix2pixhd/activations.js';
import { countParameters, isTrainable } from '../model/layers.js';
import { pix2pixDiscriminator, pix2pixGenerator, pix2pixSpecs } from '../families/pix2pix/networks.js';
import type { Pix2pixConfig } from '../families/pix2pix/config.js';

/** The wasm32 heap's hard ceiling (tfjs-backend-wasm's build), as memory.ts. */
const WASM_HEAP_BYTES = 4294901760;
/** Tape-held activations plus backward intermediates, relative to the forward layer outputs (measured above: about 2 to 2.8). */
export const PIX2PIX_ACTIVATION_FACTOR = 3;
/** Peak heap relative to the live bytes (memory.ts's measurement). */
export const PIX2PIX_ALLOCATOR_OVERHEAD = 1.2;

export interface Pix2pixMemoryEstimate {
  /** Every parameter and buffer. */
  parameterBytes: number;
  /** XNNPACK's packed convolution weights (wasm only; 0 elsewhere). */
  packedBytes: number;
  /** One gradient per trained parameter. */
  gradientBytes: number;
  /** Tape and backward intermediates: G's walk once, D's three times, times the batch. */
  activationBytes: number;
  /** Adam's moments where they live beside the weights (the device path; 0 on wasm). */
  momentBytes: number;
  /** The tensor memory at its peak, overhead included. */
  totalBytes: number;
  /** Outside the tensor heap (wasm): Adam's moments and master weights. */
  hostBytes: number;
  /** The largest single activation of one sample, in floats (webgpu's buffer limit). */
  largestFloats: number;
}

/** Floats of G's and D's forward layer outputs for one sample at height x width. */
export function pix2pixActivationFloats(config: Pix2pixConfig, height: number, width: number): { G: number; D: number; largest: number } {
  const g = walk(pix2pixGenerator(config).layers, startAt(config.input_nc, height, width));
  const d = walk(pix2pixDiscriminator(config).layers, startAt(config.input_nc + config.output_nc, height, width));
  return { G: g.floats, D: d.floats, largest: Math.max(g.largest, d.largest) };
}

export function estimatePix2pixTrainingMemory(config: Pix2pixConfig, size: { height: number; width: number }, batchSize: number, onHost: boolean): Pix2pixMemoryEstimate {
  const specs = pix2pixSpecs(config);
  const trained = countParameters(specs.filter(isTrainable), 'all');
  const parameterBytes = 4 * countParameters(specs, 'all');
  const packedBytes = onHost ? 4 * countParameters(specs.filter((spec) => spec.role === 'convWeight' || spec.role === 'convTransposeWeight'), 'all') : 0;
  const gradientBytes = 4 * trained;
  const floats = pix2pixActivationFloats(config, size.height, size.width);
  const activationBytes = 4 * batchSize * PIX2PIX_ACTIVATION_FACTOR * (floats.G + 3 * floats.D);
  const momentBytes = onHost ? 0 : 2 * 4 * trained;
  return {
    parameterBytes,
    packedBytes,
    gradientBytes,
    activationBytes,
    momentBytes,
    totalBytes: PIX2PIX_ALLOCATOR_OVERHEAD * (parameterBytes + packedBytes + gradientBytes + activationBytes + momentBytes),
    hostBytes: onHost ? 3 * 4 * trained : 0,
    largestFloats: floats.largest,
  };
}

const GIB = 1024 ** 3;

function shrinkingFlags(config: Pix2pixConfig, batchSize: number, fittingBatch: number): string[] {
  const suggestions: string[] = [];
  if (batchSize > 1 && fittingBatch >= 1) suggestions.push(`--batch-size ${fittingBatch}`);
  else if (batchSize > 1) suggestions.push('--batch-size 1');
  suggestions.push('smaller samples (preprocess --aligned with a smaller --load-size / --crop-size)');
  if (config.ngf > 8) suggestions.push(`--ngf ${config.ngf / 2}`);
  if (config.ndf > 8) suggestions.push(`--ndf ${config.ndf / 2}`);
  if (config.netG === 'resnet_9blocks') suggestions.push('--net-g resnet_6blocks');
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
      `train pix2pix: Adam's moments and master weights need ${(estimate.hostBytes / GIB).toFixed(1)} GiB, more than this machine's ${(totalmem() / GIB).toFixed(0)} GiB: try ${shrinkingFlags(config, batchSize, 0).slice(-3).join('; or ')}`,
    );
  }
  if (backend === 'webgpu') {
    checkWebgpuTensorBytes(4 * batchSize * estimate.largestFloats, `training pix2pix ${at}`, `try ${shrinkingFlags(config, batchSize, 0).join('; or ')}`);
  }
  if (backend !== 'wasm') return estimate;
  if (estimate.totalBytes > WASM_HEAP_BYTES) {
    const fixed = PIX2PIX_ALLOCATOR_OVERHEAD * (estimate.parameterBytes + estimate.packedBytes + estimate.gradientBytes + estimate.momentBytes);
    const fittingBatch = Math.floor((batchSize * (WASM_HEAP_BYTES - fixed)) / (PIX2PIX_ALLOCATOR_OVERHEAD * estimate.activationBytes));
    throw new UsageError(
      `train pix2pix: this configuration needs about ${(estimate.totalBytes / GIB).toFixed(1)} GiB of tensor memory per step ${at} ` +
        `(weights ${(estimate.parameterBytes / GIB).toFixed(2)}, packed weights ${(estimate.packedBytes / GIB).toFixed(2)}, gradients ${(estimate.gradientBytes / GIB).toFixed(2)}, activations ${(estimate.activationBytes / GIB).toFixed(2)}, allocator x${PIX2PIX_ALLOCATOR_OVERHEAD}); ` +
        `the wasm backend's heap stops at 4 GiB. Try: ${[...shrinkingFlags(config, batchSize, fittingBatch), '--backend tensorflow or webgpu (no 4 GiB cap)'].join('; or ')}`,
    );
  }
  return estimate;
}
