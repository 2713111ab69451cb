/**
 * Shared helpers of the pix2pix tests: golden files written by
 * scripts/reference_pix2pix.py (test/golden/pix2pix), their U8 images as the
 * float inputs both sides compute, and their recorded dropout masks.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { SafetensorsFile, Tensor } from '../../../src/data/formats/safetensors.js';
import type { DropoutMasks } from '../../../src/model/layers.js';
import { resolvePix2pixConfig, type Pix2pixConfig } from '../../../src/families/pix2pix/config.js';
import { goldenTensor, readGolden } from '../../support/golden.js';

export { goldenTensor } from '../../support/golden.js';
export { relativeL2, setUpBackend } from '../../model/helpers.js';

export type GoldenFile = SafetensorsFile & { config: Record<string, unknown> };

export async function readPix2pixGolden(name: string): Promise<GoldenFile> {
  return readGolden(`pix2pix/${name}`);
}

/** The golden's architecture config (its other keys, e.g. a D's input_channels, dropped). */
export function goldenPix2pixConfig(golden: GoldenFile, extra: Record<string, unknown> = {}): Pix2pixConfig {
  const architecture: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(golden.config)) if (key !== 'input_channels') architecture[key] = value;
  return resolvePix2pixConfig({ ...architecture, ...extra });
}

/** A U8 NCHW image as the script's float32(u8 / 127.5 - 1), NHWC. */
export function imageOf(tensor: Tensor): tf.Tensor4D {
  const [n, c, h, w] = tensor.shape as [number, number, number, number];
  const values = Float32Array.from(tensor.data as Uint8Array, (v) => v / 127.5 - 1);
  return tf.tidy(() => tf.transpose(tf.tensor4d(values, [n, c, h, w]), [0, 2, 3, 1]));
}

/** output[:, :, ::stride, ::stride] of an NHWC tensor. */
export function strided(x: tf.Tensor4D, stride: number): tf.Tensor4D {
  if (stride === 1) return x.clone();
  const [n, h, w, c] = x.shape;
  return tf.stridedSlice(x, [0, 0, 0, 0], [n, h, w, c], [1, stride, stride, 1]) as tf.Tensor4D;
}

/** The golden's recorded dropout masks, handed out in call order (NCHW U8 -> NHWC float). */
export class GoldenDropout implements DropoutMasks {
  private index = 0;
  constructor(private readonly golden: Pick<SafetensorsFile, 'tensors'>) {}

  next(shape: readonly [number, number, number, number]): tf.Tensor4D {
    const mask = goldenTensor(this.golden, `dropout.${this.index}`);
    const [n, c, h, w] = mask.shape as [number, number, number, number];
    const expected = [n, h, w, c].join('x');
    if (expected !== shape.join('x')) throw new Error(`dropout ${this.index}: the reference's mask is ${expected} (NHWC), asked for ${shape.join('x')}`);
    this.index += 1;
    return tf.tidy(() => tf.transpose(tf.tensor4d(Float32Array.from(mask.data as Uint8Array), [n, c, h, w]), [0, 2, 3, 1]));
  }

  /** How many masks were handed out. */
  get used(): number {
    return this.index;
  }

  get available(): number {
    return [...this.golden.tensors.keys()].filter((key) => key.startsWith('dropout.')).length;
  }
}

/** A float value list of a golden tensor (F32 or I64). */
export function numbersOf(tensor: Tensor): number[] {
  return Array.from(tensor.data as ArrayLike<number | bigint>, (v) => Number(v));
}
