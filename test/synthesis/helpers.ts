/** Shared helpers for the synthesis tests: golden files, temporary folders. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import sharp from 'sharp';
import { encodePng } from '../../src/data/pngEncode.js';
import { PngColorType } from '../../src/data/png.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readSafetensorsFile } from '../../src/data/tensorFile';
import type { Tensor } from '../../src/data/safetensors';

export const GOLDEN_DIR = join(__dirname, '..', '..', '..', 'test', 'golden');

export async function readGolden(name: string): Promise<{ tensors: Map<string, Tensor>; metadata: Record<string, string> }> {
  return readSafetensorsFile(join(GOLDEN_DIR, `${name}.safetensors`));
}

export function goldenTensor(file: { tensors: Map<string, Tensor> }, name: string): Tensor {
  const tensor = file.tensors.get(name);
  if (!tensor) throw new Error(`golden file has no tensor ${name}`);
  return tensor;
}

/** NCHW (batch 1) -> HWC. */
export function nchwToHwc(data: Float32Array, channels: number, height: number, width: number): Float32Array {
  const out = new Float32Array(channels * height * width);
  for (let c = 0; c < channels; c++) {
    for (let p = 0; p < height * width; p++) out[p * channels + c] = data[c * height * width + p]!;
  }
  return out;
}

/** A fresh temporary folder, removed by the returned function. */
export function temporaryFolder(prefix: string): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), `p2phd-${prefix}-`));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
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
