/**
 * Does one image fit the backend? Checked on each input's size before its
 * network input is built, so that a small PNG declaring 11585x11585 is
 * refused naming the file instead of crashing an allocation (or, on wasm,
 * failing deep inside a convolution).
 *
 * Counted: G's weights (and E's with --use-encoded), and the layer outputs
 * of one pass at the padded size (model/activations.ts; tfjs keeps them all
 * until the pass's tidy scope ends), all float32; plus the arrays built in
 * JavaScript around the pass (G's input, its padded copy, the output).
 * Nothing is added for allocator overhead: an image refused here could not
 * run, one let through may still be near the limit.
 */
import { totalmem } from 'node:os';
import { InputError } from '../errors.js';
import { WASM_HEAP_MAX_BYTES } from '../backend/heap-guard.js';
import { activationFloats } from '../model/activations.js';
import { generatorInputChannels, generatorMinimumSide, inputSizeMultiple, type ArchConfig } from '../model/config.js';
import { nextMultiple } from './padding.js';

const GIB = 1024 ** 3;

export interface ImageMemory {
  /** On the backend's tensor memory (the wasm heap, or the host's memory). */
  readonly tensorBytes: number;
  /** JavaScript arrays around the pass. */
  readonly hostBytes: number;
}

export function estimateImageMemory(config: ArchConfig, height: number, width: number, weights: number, encoded: boolean): ImageMemory {
  const side = (size: number): number => nextMultiple(Math.max(size, generatorMinimumSide(config)), inputSizeMultiple(config));
  const paddedHeight = side(height);
  const paddedWidth = side(width);
  const floats = activationFloats(config, paddedHeight, paddedWidth);
  const pixels = paddedHeight * paddedWidth;
  return {
    // E and G run one after the other: the larger pass is the peak.
    tensorBytes: 4 * (weights + Math.max(floats.G, encoded ? floats.E : 0)),
    hostBytes: 4 * pixels * (2 * generatorInputChannels(config) + config.output_nc),
  };
}

/** Refuses (exit 3, naming the input) an image whose pass cannot fit the backend's memory. */
export function checkImageMemory(
  config: ArchConfig,
  input: { readonly source: string; readonly height: number; readonly width: number },
  model: { readonly weights: number; readonly encoded: boolean; readonly backend: string },
): void {
  const need = estimateImageMemory(config, input.height, input.width, model.weights, model.encoded);
  const host = totalmem();
  // wasm keeps tensors in its own heap; the other backends in the host's memory (a GPU's is not known here).
  const [tensorLimit, tensorPlace] = model.backend === 'wasm' ? [WASM_HEAP_MAX_BYTES, "the wasm backend's 4 GiB heap"] : [host, "the machine's memory"];
  const tensorsFit = need.tensorBytes <= tensorLimit;
  const allFit = (model.backend === 'wasm' ? need.hostBytes : need.hostBytes + need.tensorBytes) <= host;
  if (tensorsFit && allFit) return;
  const total = need.tensorBytes + need.hostBytes;
  throw new InputError(
    `${input.source}: ${input.width}x${input.height} is too large to synthesize: about ${(total / GIB).toFixed(1)} GiB ` +
      `(${(need.tensorBytes / GIB).toFixed(1)} GiB of tensors) against ${tensorsFit ? `${(host / GIB).toFixed(0)} GiB of memory` : tensorPlace}; ` +
      'give a smaller image (synthesize --load-size resizes inputs)',
  );
}
