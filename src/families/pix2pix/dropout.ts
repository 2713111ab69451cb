/**
 * Dropout keep masks drawn from p2phd's seeded generator (model/random.ts),
 * so that a run's dropout, like everything else it draws, repeats for a
 * --seed and resumes bit-exactly (the generator's state is four words).
 * PyTorch's own draws cannot be reproduced; the masks' law is the same:
 * each element kept with probability 1 - p.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { DropoutMasks } from '../../model/layers.js';
import type { Random } from '../../model/random.js';

export class SeededDropout implements DropoutMasks {
  constructor(private readonly random: Random) {}

  next(shape: readonly [number, number, number, number], p: number): tf.Tensor4D {
    const size = shape[0] * shape[1] * shape[2] * shape[3];
    const mask = new Float32Array(size);
    // Kept when a uniform 32-bit draw falls below (1 - p) * 2^32.
    const threshold = (1 - p) * 0x100000000;
    for (let i = 0; i < size; i++) mask[i] = this.random.nextUint32() < threshold ? 1 : 0;
    return tf.tensor4d(mask, [...shape]);
  }
}
