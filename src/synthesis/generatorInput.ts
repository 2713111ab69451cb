/**
 * G's input for one image, HWC float32, channels in the reference's order:
 * one-hot labels (or the colour label map in [-1, 1] when label_nc = 0),
 * the instance-edge map, then the per-instance features.
 */
import { generatorInputChannels, labelChannels, type ArchConfig } from '../families/pix2pixhd/config.js';

export interface GeneratorInputParts {
  readonly height: number;
  readonly width: number;
  /** Class ids (label_nc > 0), already range-checked. */
  readonly labels?: Uint8Array | Uint16Array;
  /** Interleaved RGB (label_nc = 0). */
  readonly labelRgb?: Uint8Array;
  /** 0/1 instance boundaries (config.instance). */
  readonly edges?: Uint8Array;
  /** HWC [height * width * feat_num] (config.instance_feat). */
  readonly features?: Float32Array;
}

export function buildGeneratorInput(config: ArchConfig, parts: GeneratorInputParts): Float32Array {
  const out = buildGeneratorInputWithoutFeatures(config, parts);
  if (config.instance_feat) setFeatureChannels(config, out, parts.features);
  return out;
}

/**
 * G's input with its feature channels (if any) left at zero: the labels and
 * edges, built once for an input whose features change per output
 * (setFeatureChannels).
 */
export function buildGeneratorInputWithoutFeatures(config: ArchConfig, parts: Omit<GeneratorInputParts, 'features'>): Float32Array {
  const pixels = parts.height * parts.width;
  const channels = generatorInputChannels(config);
  const out = new Float32Array(pixels * channels);
  if (config.label_nc > 0) {
    const labels = parts.labels;
    if (!labels || labels.length !== pixels) throw new RangeError(`buildGeneratorInput: expected ${pixels} class ids`);
    for (let p = 0; p < pixels; p++) out[p * channels + labels[p]!] = 1;
  } else {
    const rgb = parts.labelRgb;
    if (!rgb || rgb.length !== pixels * 3) throw new RangeError(`buildGeneratorInput: expected ${pixels} RGB label pixels`);
    // The reference normalises colour label maps like photos: x / 255 * 2 - 1.
    for (let p = 0; p < pixels; p++) {
      for (let c = 0; c < 3; c++) out[p * channels + c] = (rgb[p * 3 + c]! / 255) * 2 - 1;
    }
  }
  if (config.instance) {
    const edges = parts.edges;
    if (!edges || edges.length !== pixels) throw new RangeError(`buildGeneratorInput: expected ${pixels} edge values`);
    const edgeChannel = labelChannels(config);
    for (let p = 0; p < pixels; p++) out[p * channels + edgeChannel] = edges[p]!;
  }
  return out;
}

/**
 * Writes `features` (HWC [pixels * feat_num]) into the feature channels of a
 * G input (the last feat_num of each pixel), in place, whatever they held.
 */
export function setFeatureChannels(config: ArchConfig, input: Float32Array, features: Float32Array | undefined): void {
  if (!config.instance_feat) throw new Error('setFeatureChannels: the config has no instance features');
  const channels = generatorInputChannels(config);
  const pixels = input.length / channels;
  const featNum = config.feat_num;
  const first = channels - featNum;
  if (!features || features.length !== pixels * featNum) throw new RangeError(`buildGeneratorInput: expected ${pixels}x${featNum} feature values`);
  for (let p = 0; p < pixels; p++) {
    for (let c = 0; c < featNum; c++) input[p * channels + first + c] = features[p * featNum + c]!;
  }
}

/** A result image in 8 bits: round((y + 1) / 2 * 255), clipped to 0..255. */
export function toImageBytes(output: Float32Array): Uint8Array {
  const bytes = new Uint8Array(output.length);
  for (let i = 0; i < output.length; i++) {
    const value = Math.round(((output[i]! + 1) / 2) * 255);
    bytes[i] = value < 0 ? 0 : value > 255 ? 255 : value;
  }
  return bytes;
}

/** A photo's bytes as the networks see them: x / 255 * 2 - 1. */
export function photoToUnitRange(rgb: Uint8Array): Float32Array {
  const out = new Float32Array(rgb.length);
  for (let i = 0; i < rgb.length; i++) out[i] = (rgb[i]! / 255) * 2 - 1;
  return out;
}
