/**
 * Golden tensors from the reference (NCHW, PyTorch layouts): reading a golden
 * file, lookup, the split of a golden config into architecture and training
 * options, and the NCHW -> NHWC conversion at the boundary, shared by the
 * model, synthesis and training tests.
 */
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { readSafetensorsFile } from '../../src/data/files/tensorFile.js';
import type { SafetensorsFile, Tensor } from '../../src/data/formats/safetensors.js';
import { CONFIG_KEYS, resolveConfig, type ArchConfig } from '../../src/families/pix2pixhd/config.js';
import { GOLDEN_DIR } from './cli.js';

export { GOLDEN_DIR } from './cli.js';

/** A golden file from test/golden, with its `config` metadata parsed ({} when it has none). */
export async function readGolden(name: string): Promise<SafetensorsFile & { config: Record<string, unknown> }> {
  const file = await readSafetensorsFile(join(GOLDEN_DIR, `${name}.safetensors`));
  const raw = file.metadata['config'];
  return { ...file, config: raw === undefined ? {} : (JSON.parse(raw) as Record<string, unknown>) };
}

export function goldenTensor(file: Pick<SafetensorsFile, 'tensors'>, name: string): Tensor {
  const tensor = file.tensors.get(name);
  if (tensor === undefined) throw new Error(`golden file has no tensor ${name}`);
  return tensor;
}

/**
 * A golden training config split in two: the architecture options (resolved)
 * and the rest (lsgan, lambda_feat, lr, ...).
 */
export function splitGoldenConfig(raw: Record<string, unknown>): { config: ArchConfig; training: Record<string, unknown> } {
  const architecture: Record<string, unknown> = {};
  const training: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw)) {
    if ((CONFIG_KEYS as readonly string[]).includes(key)) architecture[key] = value;
    else training[key] = value;
  }
  return { config: resolveConfig(architecture), training };
}

/** An NCHW float file tensor as an NHWC tfjs tensor. */
export function nchwToNhwc(tensor: Tensor): tf.Tensor4D {
  const [n, c, h, w] = tensor.shape as [number, number, number, number];
  return tf.tidy(() => tf.transpose(tf.tensor4d(Float32Array.from(tensor.data as Float32Array), [n, c, h, w]), [0, 2, 3, 1]));
}
