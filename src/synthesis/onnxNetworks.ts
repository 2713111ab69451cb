/**
 * G and E of a checkpoint run as ONNX graphs in ONNX Runtime (--backend
 * onnxruntime): the graphs are built in memory from the checkpoint
 * (onnxExport.ts), and take the same inputs, padding and outputs as the tfjs
 * path (networks.ts): HWC arrays in, reflect-padded to a size the network
 * takes, NCHW across the graph boundary, cropped back, HWC out.
 */
import { createGraphSession, type GraphSession } from '../backend/index.js';
import type { Checkpoint } from '../families/checkpoint.js';
import { generatorInputChannels, type ArchConfig } from '../families/pix2pixhd/config.js';
import { instanceSegments, poolValues } from '../families/pix2pixhd/encoder.js';
import { photoToUnitRange } from './generatorInput.js';
import { encoderPadding, generatorPadding } from './networks.js';
import { onnxModelBytes, type OnnxNetwork } from './onnxExport.js';
import { cropPadding, padReflect, type Padding } from './padding.js';

/** HWC -> CHW (one image). */
export function hwcToChw(data: Float32Array, height: number, width: number, channels: number): Float32Array {
  const pixels = height * width;
  const out = new Float32Array(data.length);
  for (let p = 0; p < pixels; p++) {
    const from = p * channels;
    for (let c = 0; c < channels; c++) out[c * pixels + p] = data[from + c]!;
  }
  return out;
}

/** CHW -> HWC (one image). */
export function chwToHwc(data: Float32Array, height: number, width: number, channels: number): Float32Array {
  const pixels = height * width;
  const out = new Float32Array(data.length);
  for (let c = 0; c < channels; c++) {
    const from = c * pixels;
    for (let p = 0; p < pixels; p++) out[p * channels + c] = data[from + p]!;
  }
  return out;
}

/** A graph session for one of the checkpoint's networks. */
export async function onnxSession(checkpoint: Checkpoint, network: OnnxNetwork): Promise<GraphSession> {
  // The model bytes are dropped once the session holds its own copy of the weights.
  return createGraphSession(onnxModelBytes(checkpoint, network));
}

/** Runs a graph on an HWC input padded by `padding`; returns the cropped HWC output. */
async function runPadded(
  session: GraphSession,
  input: Float32Array,
  height: number,
  width: number,
  channels: number,
  outputChannels: number,
  padding: Padding,
): Promise<Float32Array> {
  const paddedHeight = height + padding.top + padding.bottom;
  const paddedWidth = width + padding.left + padding.right;
  const padded = padReflect(input, height, width, channels, padding);
  const output = await session.run({ data: hwcToChw(padded, paddedHeight, paddedWidth, channels), dims: [1, channels, paddedHeight, paddedWidth] });
  const expected = [1, outputChannels, paddedHeight, paddedWidth];
  if (output.dims.length !== 4 || output.dims.some((dim, i) => dim !== expected[i])) {
    throw new Error(`onnxruntime: ${session.outputName} has shape [${output.dims.join(', ')}], expected [${expected.join(', ')}]`);
  }
  return cropPadding(chwToHwc(output.data, paddedHeight, paddedWidth, outputChannels), paddedHeight, paddedWidth, outputChannels, padding);
}

/** G on an HWC input of any size, as runGenerator: HWC output_nc values in [-1, 1]. */
export function runGeneratorGraph(session: GraphSession, config: ArchConfig, input: Float32Array, height: number, width: number): Promise<Float32Array> {
  return runPadded(session, input, height, width, generatorInputChannels(config), config.output_nc, generatorPadding(config, height, width));
}

/** E's per-instance features for a photo and its instance map, as encodeInstanceFeatures. */
export async function encodeInstanceFeaturesGraph(
  session: GraphSession,
  config: ArchConfig,
  photo: Uint8Array,
  instanceMap: Int32Array,
  height: number,
  width: number,
): Promise<Float32Array> {
  const raw = await runPadded(session, photoToUnitRange(photo), height, width, 3, config.feat_num, encoderPadding(config, height, width));
  return poolValues(raw, instanceSegments(instanceMap, 1, height, width), config.feat_num);
}
