/**
 * Shared helpers of the training tests: backend, golden train-step files,
 * and NCHW -> NHWC at the boundary.
 */
import { initBackend } from '../../src/backend/index.js';
import type { SafetensorsFile } from '../../src/data/formats/safetensors.js';
import type { ArchConfig } from '../../src/families/pix2pixhd/config.js';
import { readGolden, splitGoldenConfig } from '../support/golden.js';
export { goldenTensor as tensorOf, nchwToNhwc } from '../support/golden.js';

export async function setUpBackend(): Promise<void> {
  await initBackend('wasm', { log: () => {} });
}


export interface GoldenStep extends SafetensorsFile {
  config: ArchConfig;
  /** The non-architecture part of the golden config (lsgan, lambda_feat, lr, ...). */
  training: Record<string, unknown>;
}

export async function readGoldenStep(name: string): Promise<GoldenStep> {
  const { config: raw, ...file } = await readGolden(name);
  return { ...file, ...splitGoldenConfig(raw) };
}

export function relativeDifference(actual: number, expected: number): number {
  return Math.abs(actual - expected) / Math.max(Math.abs(expected), 1e-12);
}
