/**
 * Initialisation as the reference's weights_init, seeded: conv and
 * transposed-conv weights N(0, 0.02), batch-norm weight N(1, 0.02) and bias
 * 0; conv biases keep PyTorch's default U(-1/sqrt(fan_in), 1/sqrt(fan_in))
 * (weights_init does not touch them). Running statistics start at 0 / 1.
 *
 * Each tensor draws from its own stream, named by its key, so its values
 * depend only on the seed and its name: partially loading a checkpoint
 * initialises the rest exactly as a fresh run would.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ParamSpec } from './layers.js';
import { Random } from './random.js';

export const INIT_WEIGHT_STD = 0.02;

export function initialValues(spec: ParamSpec, seed: number): Float32Array | Int32Array {
  const size = spec.shape.reduce((a, b) => a * b, 1);
  const random = Random.forLabel(seed, spec.key);
  switch (spec.role) {
    case 'convWeight':
    case 'convTransposeWeight':
      return random.fillNormal(new Float32Array(size), 0, INIT_WEIGHT_STD);
    case 'convBias': {
      const bound = 1 / Math.sqrt(spec.fanIn);
      return random.fillUniform(new Float32Array(size), -bound, bound);
    }
    case 'normWeight':
      return random.fillNormal(new Float32Array(size), 1, INIT_WEIGHT_STD);
    case 'normBias':
    case 'runningMean':
      return new Float32Array(size);
    case 'runningVar':
      return new Float32Array(size).fill(1);
    case 'numBatchesTracked':
      return new Int32Array(size);
  }
}

/** A freshly initialised tensor for `spec` (tfjs layout). */
export function initialTensor(spec: ParamSpec, seed: number): tf.Tensor {
  const values = initialValues(spec, seed);
  return values instanceof Int32Array ? tf.tensor(values, [...spec.shape], 'int32') : tf.tensor(values, [...spec.shape], 'float32');
}
