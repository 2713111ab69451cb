/**
 * Shared helpers of the model tests: backend set-up, golden files, layout
 * transposes at the NCHW <-> NHWC boundary, relative L2 error.
 */
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../src/backend/index.js';
import { readSafetensorsFile } from '../../src/data/tensorFile.js';
import type { SafetensorsFile, Tensor } from '../../src/data/safetensors.js';
import { resolveConfig, type ArchConfig } from '../../src/model/config.js';
export { goldenTensor, nchwToNhwc } from '../support/golden.js';

/**
 * wasm: the product's default CPU backend, with p2phd's kernels.
 * P2PHD_TEST_BACKEND=cpu reruns the model tests on tfjs's reference backend.
 */
export async function setUpBackend(): Promise<void> {
  await initBackend(process.env['P2PHD_TEST_BACKEND'] === 'cpu' ? 'cpu' : 'wasm', { log: () => {} });
}

/** The golden files sit in test/golden, two levels above dist/test/model. */
export const GOLDEN_DIR = join(__dirname, '..', '..', '..', 'test', 'golden');

export async function readGolden(name: string): Promise<SafetensorsFile & { config: Record<string, unknown> }> {
  const file = await readSafetensorsFile(join(GOLDEN_DIR, `${name}.safetensors`));
  const raw = file.metadata['config'];
  return { ...file, config: raw === undefined ? {} : (JSON.parse(raw) as Record<string, unknown>) };
}

/** ||ours - reference|| / ||reference||, ours NHWC, reference NCHW. */
export function relativeL2(oursNhwc: tf.Tensor, reference: Tensor): number {
  const ours = tf.tidy(() => tf.transpose(oursNhwc, [0, 3, 1, 2]).dataSync() as Float32Array);
  const expected = reference.data as Float32Array;
  if (ours.length !== expected.length) {
    throw new Error(`size mismatch: ours ${ours.length}, reference ${expected.length} [${reference.shape.join(', ')}]`);
  }
  let difference = 0;
  let norm = 0;
  for (let i = 0; i < ours.length; i++) {
    difference += (ours[i]! - expected[i]!) ** 2;
    norm += expected[i]! ** 2;
  }
  return Math.sqrt(difference / norm);
}

/**
 * The architecture config of a golden file. The golden configs give the
 * networks' input channels directly (input_nc); with instance boundaries on,
 * label_nc = input_nc - 1 reproduces them.
 */
export function configFor(overrides: Partial<Record<keyof ArchConfig, unknown>>): ArchConfig {
  return resolveConfig(overrides);
}

/** The live tensor count after `run`, minus before: 0 when nothing leaked. */
export function leakedTensors(run: () => void): number {
  const before = tf.memory().numTensors;
  run();
  return tf.memory().numTensors - before;
}
