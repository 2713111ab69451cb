/**
 * Does one image fit the backend? Checked on each input's size before its
 * pixels are decoded, so that a small PNG declaring 11585x11585 is refused
 * naming the file instead of crashing an allocation (or, on wasm, failing
 * deep inside a convolution).
 *
 * Counted, as float32: G's weights twice (XNNPACK keeps a packed copy of
 * each convolution weight on wasm), and three times the largest layer
 * output at the padded size (a layer's input and output, and a residual or
 * enhancer skip held meanwhile); on the JavaScript side, G's input, its
 * padded copy and the output. This errs low (the default G1 at 1024x512
 * peaks at a 1.6 GB heap; this counts 1.8 GB), so only images that cannot
 * run are refused.
 */
import { totalmem } from 'node:os';
import { InputError } from '../errors.js';
import { WASM_HEAP_MAX_BYTES } from '../backend/heap-guard.js';
import { largestActivation } from '../families/pix2pixhd/activations.js';
import { generatorInputChannels, generatorMinimumSide, inputSizeMultiple, type ArchConfig } from '../families/pix2pixhd/config.js';
import { nextMultiple } from './padding.js';

const GIB = 1024 ** 3;
/** A JavaScript typed array holds fewer than 2^32 elements. */
const MAX_ARRAY_ELEMENTS = 2 ** 32 - 1;

export interface ImageMemory {
  /** On the backend's tensor memory (the wasm heap, or the host's memory). */
  readonly tensorBytes: number;
  /** JavaScript arrays around the pass. */
  readonly hostBytes: number;
  /** The largest of them, in elements (G's input). */
  readonly largestArray: number;
}

export function estimateImageMemory(config: ArchConfig, height: number, width: number, weights: number): ImageMemory {
  const side = (size: number): number => nextMultiple(Math.max(size, generatorMinimumSide(config)), inputSizeMultiple(config));
  const pixels = side(height) * side(width);
  return {
    tensorBytes: 4 * (2 * weights + 3 * largestActivation(config, side(height), side(width))),
    hostBytes: 4 * pixels * (2 * generatorInputChannels(config) + config.output_nc),
    largestArray: pixels * generatorInputChannels(config),
  };
}

/** Refuses (exit 3, naming the input) an image whose pass cannot fit the backend's memory. */
export function checkImageMemory(
  config: ArchConfig,
  input: { readonly source: string; readonly height: number; readonly width: number },
  model: { readonly weights: number; readonly backend: string },
): void {
  const need = estimateImageMemory(config, input.height, input.width, model.weights);
  const host = totalmem();
  // wasm keeps tensors in its own heap; the other backends in the host's memory (a GPU's is not known here).
  const [tensorLimit, tensorPlace] = model.backend === 'wasm' ? [WASM_HEAP_MAX_BYTES, "the wasm backend's 4 GiB heap"] : [host, "the machine's memory"];
  const tensorsFit = need.tensorBytes <= tensorLimit;
  const allFit = (model.backend === 'wasm' ? need.hostBytes : need.hostBytes + need.tensorBytes) <= host && need.largestArray <= MAX_ARRAY_ELEMENTS;
  if (tensorsFit && allFit) return;
  const total = need.tensorBytes + need.hostBytes;
  throw new InputError(
    `${input.source}: ${input.width}x${input.height} is too large to synthesize: about ${(total / GIB).toFixed(1)} GiB ` +
      `(${(need.tensorBytes / GIB).toFixed(1)} GiB of tensors) against ${tensorsFit ? `${(host / GIB).toFixed(0)} GiB of memory` : tensorPlace}; ` +
      'give a smaller image (synthesize --load-size resizes inputs)',
  );
}
