/**
 * Shared helpers of the training tests: backend, golden train-step files,
 * and NCHW -> NHWC at the boundary.
 */
import { join } from 'node:path';
import { initBackend } from '../../src/backend/index.js';
import { GOLDEN_DIR } from '../support/cli.js';
import { readSafetensorsFile } from '../../src/data/tensorFile.js';
import type { SafetensorsFile } from '../../src/data/safetensors.js';
import { CONFIG_KEYS, resolveConfig, type ArchConfig } from '../../src/model/config.js';
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
  const file = await readSafetensorsFile(join(GOLDEN_DIR, `${name}.safetensors`));
  const raw = JSON.parse(file.metadata['config']!) as Record<string, unknown>;
  const architecture: Record<string, unknown> = {};
  const training: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw)) {
    if ((CONFIG_KEYS as readonly string[]).includes(key)) architecture[key] = value;
    else training[key] = value;
  }
  return { ...file, config: resolveConfig(architecture), training };
}

export function relativeDifference(actual: number, expected: number): number {
  return Math.abs(actual - expected) / Math.max(Math.abs(expected), 1e-12);
}
