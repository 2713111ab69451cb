/** Shared helpers for the synthesis tests: golden files, temporary folders, checkpoints, PNGs. */
import { writeFileSync } from 'node:fs';
import sharp from 'sharp';
import { encodePng } from '../../src/data/formats/pngEncode.js';
import { PngColorType } from '../../src/data/formats/png.js';
import { makeTensor, type Tensor } from '../../src/data/formats/safetensors';
import { writeTensorFile } from '../../src/data/files/tensorFile';
import type { ArchConfig } from '../../src/families/pix2pixhd/config';
import { modelSpecs, type NetworkName } from '../../src/families/pix2pixhd/networks';
import { referenceDtype, referenceShape } from '../../src/model/params';
import { Random } from '../../src/model/random';
export { temporaryFolder } from '../support/cli';
export { goldenTensor, readGolden } from '../support/golden';

/** NCHW (batch 1) -> HWC. */
export function nchwToHwc(data: Float32Array, channels: number, height: number, width: number): Float32Array {
  const out = new Float32Array(channels * height * width);
  for (let c = 0; c < channels; c++) {
    for (let p = 0; p < height * width; p++) out[p * channels + c] = data[c * height * width + p]!;
  }
  return out;
}

/** A checkpoint of random weights for `config`'s `networks` (N(0, 0.2), so outputs are far from flat). */
export async function writeRandomCheckpoint(path: string, config: ArchConfig, seed: number, networks: NetworkName[] = ['G']): Promise<void> {
  const random = new Random(seed);
  const tensors = new Map<string, Tensor>();
  for (const spec of modelSpecs(config, networks)) {
    const shape = referenceShape(spec);
    const count = shape.reduce((a, b) => a * b, 1);
    if (referenceDtype(spec) === 'I64') {
      tensors.set(spec.key, makeTensor('I64', shape, new BigInt64Array(count)));
      continue;
    }
    tensors.set(spec.key, makeTensor('F32', shape, random.fillNormal(new Float32Array(count), 0, 0.2)));
  }
  await writeTensorFile(path, 'checkpoint', tensors, { stage: 'global', epoch: 0, step: 0, lr: 0.0002, config });
}

/** Writes an id map as a gray PNG (16-bit when an id needs it). */
export async function writeIdPng(path: string, ids: ArrayLike<number>, width: number, height: number): Promise<void> {
  let maxId = 0;
  for (let i = 0; i < ids.length; i++) maxId = Math.max(maxId, ids[i]!);
  writeFileSync(path, encodePng({ width, height, bitDepth: maxId > 255 ? 16 : 8, colorType: PngColorType.gray, samples: ids }));
}

/** Decodes a PNG to raw interleaved 8-bit pixels. */
export async function readPngPixels(path: string): Promise<{ data: Uint8Array; width: number; height: number; channels: number }> {
  const { data, info } = await sharp(path).raw().toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height, channels: info.channels };
}
