/**
 * pix2pix's G on one image of any size. Output size = input size: the input
 * is padded by reflection to G's size multiple (256 for unet_256, 128 for
 * unet_128, 4 for the ResNet G; at least its minimum side) and the output
 * cropped back, by padding.ts's rule, as for pix2pixHD (the reference
 * resizes to 256x256 and returns that). Padding changes batch statistics a
 * little in the two batch-statistics test modes; an input that already
 * fits is not padded. Test modes: families/pix2pix/inference.ts.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ForwardOptions, Params } from '../model/layers.js';
import { pix2pixMinimumSide, pix2pixSizeMultiple, type Pix2pixConfig } from '../families/pix2pix/config.js';
import { pix2pixGenerate } from '../families/pix2pix/networks.js';
import { cropPadding, padReflect, paddingFor } from './padding.js';
import { promises as fsp } from 'node:fs';
import { UsageError } from '../errors.js';
import { createGraphSession, type GraphSession } from '../backend/index.js';
import { pix2pixOnnxBytes } from './pix2pixOnnx.js';
import { join } from 'node:path';
import type { Logger } from '../log.js';
import { writeFileAtomically } from '../data/formats/atomicWrite.js';
import { resolveCheckpointPath } from '../families/checkpoint.js';
import { readRgbImage, type RgbImage } from '../data/formats/image.js';
import { listFiles, uniqueOutputNames } from '../data/datasets/inputs.js';
import { PngColorType } from '../data/formats/png.js';
import { encodePng } from '../data/formats/pngEncode.js';
import { readTensorFile } from '../data/files/tensorFile.js';
import { BYTE_TO_SIGNED, rgbToLuma, splitColumns } from '../data/datasets/aligned.js';
import { disposeParams, loadParams } from '../model/params.js';
import { pix2pixCheckpointFromFile } from '../families/pix2pix/checkpoint.js';
import { PIX2PIX_TEST_MODES, testModeOptions, testRandom, type Pix2pixTestMode } from '../families/pix2pix/inference.js';
import { pix2pixSpecs } from '../families/pix2pix/networks.js';
import { PAGE_IMAGES_DIR, writeResultsPage, type ResultRow } from '../report/resultsPage.js';

/** [-1, 1] to bytes as the reference's tensor2im: (x + 1) / 2 * 255, clipped, truncated. */
function signedToBytes(values: Float32Array): Uint8Array {
  const bytes = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) bytes[i] = Math.trunc(Math.min(255, Math.max(0, ((values[i]! + 1) / 2) * 255)));
  return bytes;
}

export interface TranslateInput {
  /** [height, width, input_nc] in [-1, 1]. */
  readonly image: Float32Array;
  readonly height: number;
  readonly width: number;
}

/** G(image): [height, width, output_nc] in [-1, 1], the input's size whatever it is. */
export function translate(config: Pix2pixConfig, params: Params, input: TranslateInput, options: ForwardOptions): Float32Array {
  const { height, width } = input;
  const padding = paddingFor(height, width, pix2pixSizeMultiple(config), pix2pixMinimumSide(config));
  const padded = padReflect(input.image, height, width, config.input_nc, padding);
  const paddedHeight = height + padding.top + padding.bottom;
  const paddedWidth = width + padding.left + padding.right;
  const output = tf.tidy(() => {
    const x = tf.tensor4d(padded, [1, paddedHeight, paddedWidth, config.input_nc]);
    return pix2pixGenerate(config, params, x, options);
  });
  try {
    const values = output.dataSync() as Float32Array;
    return cropPadding(Float32Array.from(values), paddedHeight, paddedWidth, config.output_nc, padding);
  } finally {
    output.dispose();
  }
}

/** translate's padding and cropping around G as an ONNX Runtime graph (NCHW). */
export async function translateOnGraph(config: Pix2pixConfig, session: GraphSession, input: TranslateInput): Promise<Float32Array> {
  const { height, width } = input;
  const padding = paddingFor(height, width, pix2pixSizeMultiple(config), pix2pixMinimumSide(config));
  const padded = padReflect(input.image, height, width, config.input_nc, padding);
  const h = height + padding.top + padding.bottom;
  const w = width + padding.left + padding.right;
  const toPlanes = (hwc: Float32Array, channels: number): Float32Array => {
    const out = new Float32Array(hwc.length);
    for (let p = 0; p < h * w; p++) for (let c = 0; c < channels; c++) out[c * h * w + p] = hwc[p * channels + c]!;
    return out;
  };
  const result = await session.run({ data: toPlanes(padded, config.input_nc), dims: [1, config.input_nc, h, w] });
  const channels = config.output_nc;
  const hwc = new Float32Array(h * w * channels);
  for (let p = 0; p < h * w; p++) for (let c = 0; c < channels; c++) hwc[p * channels + c] = result.data[c * h * w + p]!;
  return cropPadding(hwc, h, w, channels, padding);
}

// ---------------------------------------------------------------------------
// `p2phd synthesize --inputs GLOB` for a pix2pix checkpoint.

export interface Pix2pixSynthesizeOptions {
  readonly checkpoint: string;
  /** A images (or A|B files with `aligned`): a glob or a folder. */
  readonly inputs: string;
  readonly aligned: boolean;
  /** Which half is the network input of an A|B file; default the checkpoint's (its samples' --direction). */
  readonly direction?: 'AtoB' | 'BtoA';
  readonly mode: Pix2pixTestMode;
  readonly seed: number;
  readonly out: string;
  /** onnxruntime: G runs as an ONNX graph (the deterministic modes only); tfjs by default. */
  readonly engine?: 'tfjs' | 'onnxruntime';
}

export interface Pix2pixSynthesizeSummary {
  readonly checkpoint: string;
  readonly out: string;
  readonly outputs: number;
  readonly mode: Pix2pixTestMode;
  readonly seconds: number;
}

/** [H*W*C] bytes in the network's channel count: grey as PIL's 'L' (ITU-R 601-2 luma), or RGB. */
function channelsOf(rgb: Uint8Array, channels: number): Uint8Array {
  return channels === 1 ? rgbToLuma(rgb) : rgb;
}

/** Columns [start, start + width) of an RGB image. */
function columnsOf(image: RgbImage, start: number, width: number): Uint8Array {
  const end = start + width;
  const out = new Uint8Array(width * image.height * 3);
  for (let y = 0; y < image.height; y++) out.set(image.data.subarray((y * image.width + start) * 3, (y * image.width + end) * 3), y * width * 3);
  return out;
}

function pngOf(bytes: Uint8Array, width: number, height: number, channels: number): Buffer {
  return encodePng({ width, height, bitDepth: 8, colorType: channels === 1 ? PngColorType.gray : PngColorType.rgb, samples: bytes });
}

export async function runPix2pixSynthesis(options: Pix2pixSynthesizeOptions, log: Logger): Promise<Pix2pixSynthesizeSummary> {
  const started = Date.now();
  const source = await resolveCheckpointPath(options.checkpoint);
  const checkpoint = pix2pixCheckpointFromFile(await readTensorFile(source, 'checkpoint'));
  const { config } = checkpoint.meta;
  const direction = options.direction ?? checkpoint.meta.direction;
  const files = listFiles(options.inputs, '--inputs');
  const names = uniqueOutputNames(files, '', '--inputs');
  if (options.engine === 'onnxruntime' && options.mode === 'reference') {
    throw new UsageError('--backend onnxruntime runs the deterministic test modes (--dropout off, --eval); the default mode draws dropout masks: run it on a tfjs backend (auto, wasm)');
  }
  const session = options.engine === 'onnxruntime' ? await createGraphSession(pix2pixOnnxBytes(checkpoint, options.mode === 'eval' ? 'eval' : 'no-dropout')) : undefined;
  const { params } = loadParams(pix2pixSpecs(config, ['G']), checkpoint.tensors, { source: checkpoint.source, mode: 'strict' });
  await fsp.mkdir(join(options.out, PAGE_IMAGES_DIR), { recursive: true });
  log.info(`synthesize pix2pix: ${files.length} input(s), G ${config.netG} (${config.norm} norm), test mode ${options.mode}: ${PIX2PIX_TEST_MODES[options.mode]}${options.aligned ? `; A|B files, ${direction}` : ''}`);
  const rows: ResultRow[] = [];
  try {
    for (const [index, file] of files.entries()) {
      const image = await readRgbImage(file);
      let inputRgb = image.data;
      let width = image.width;
      let real: Uint8Array | undefined;
      if (options.aligned) {
        // A = [0, int(w / 2)), B = [int(w / 2), w), as the reference splits; an odd width's extra column of B is dropped.
        const split = splitColumns(image.width);
        width = split.a[1];
        const left = columnsOf(image, 0, width);
        const right = columnsOf(image, split.b[0], width);
        [inputRgb, real] = direction === 'AtoB' ? [left, right] : [right, left];
      }
      const height = image.height;
      const input = channelsOf(inputRgb, config.input_nc);
      const signed = Float32Array.from(input, (v) => BYTE_TO_SIGNED[v]!);
      const output = session
        ? await translateOnGraph(config, session, { image: signed, height, width })
        : translate(config, params, { image: signed, height, width }, testModeOptions(options.mode, testRandom(options.seed, index)));
      const outputName = `${names[index]!}.png`;
      await writeFileAtomically(join(options.out, outputName), pngOf(signedToBytes(output), width, height, config.output_nc));
      const inputName = `${PAGE_IMAGES_DIR}/${names[index]!}_input.png`;
      await writeFileAtomically(join(options.out, inputName), pngOf(input, width, height, config.input_nc));
      const row: ResultRow = { stem: names[index]!, label: inputName, outputs: [outputName] };
      if (real !== undefined) {
        const realName = `${PAGE_IMAGES_DIR}/${names[index]!}_real.png`;
        await writeFileAtomically(join(options.out, realName), pngOf(channelsOf(real, config.output_nc), width, height, config.output_nc));
        row.real = realName;
      }
      rows.push(row);
    }
  } finally {
    disposeParams(params);
    await session?.release();
  }
  await writeResultsPage(options.out, { checkpoint: checkpoint.source, style: `pix2pix, test mode ${options.mode}`, rows });
  return { checkpoint: checkpoint.source, out: options.out, outputs: rows.length, mode: options.mode, seconds: (Date.now() - started) / 1000 };
}
