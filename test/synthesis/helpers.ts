/** Shared helpers for the synthesis tests: golden files, temporary folders. */
import { mkdtempSync, rmSync } from 'node:fs';
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
