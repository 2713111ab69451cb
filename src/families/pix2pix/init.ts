/**
 * pix2pix's initialisation, as the reference's init_weights (networks.py),
 * seeded: conv and transposed-conv weights by init_type (normal N(0, gain);
 * xavier normal, std gain * sqrt(2 / (fan_in + fan_out)); kaiming normal,
 * std sqrt(2 / fan_in), gain unused; orthogonal, scaled by gain), their
 * biases 0; batch-norm weights N(1, gain), biases 0; running statistics 0 / 1.
 * fan_in and fan_out are PyTorch's: dims 1 and 0 of the stored weight times
 * the kernel area (a transposed conv's [in, out, kh, kw] thus has fan_in =
 * out * k * k). Each tensor draws from its own stream named by its key, as
 * model/init.ts does.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ParamSpec } from '../../model/layers.js';
import { fromReferenceLayout, referenceShape } from '../../model/params.js';
import { Random } from '../../model/random.js';
import type { Pix2pixConfig } from './config.js';

/**
 * Rows of `rows x cols` (row-major) replaced by an orthonormal set (rows <=
 * cols) or columns (rows > cols), as torch.nn.init.orthogonal_: the Q of a
 * Gaussian matrix's QR decomposition with R's diagonal made positive, which
 * Gram-Schmidt gives directly. Computed in float64.
 */
function orthogonal(random: Random, rows: number, cols: number, gain: number): Float32Array {
  const tall = rows >= cols;
  const [m, n] = tall ? [rows, cols] : [cols, rows];
  // n vectors of length m, orthonormalised (modified Gram-Schmidt, twice for accuracy).
  const vectors: Float64Array[] = [];
  for (let j = 0; j < n; j++) {
    const v = new Float64Array(m);
    for (let i = 0; i < m; i++) v[i] = random.normal();
    for (let pass = 0; pass < 2; pass++) {
      for (const q of vectors) {
        let dot = 0;
        for (let i = 0; i < m; i++) dot += q[i]! * v[i]!;
        for (let i = 0; i < m; i++) v[i]! -= dot * q[i]!;
      }
    }
    let norm = 0;
    for (let i = 0; i < m; i++) norm += v[i]! * v[i]!;
    norm = Math.sqrt(norm);
    for (let i = 0; i < m; i++) v[i]! /= norm;
    vectors.push(v);
  }
  const out = new Float32Array(rows * cols);
  for (let j = 0; j < n; j++) {
    for (let i = 0; i < m; i++) {
      // tall: column j of a rows x cols matrix; wide: row j.
      const index = tall ? i * cols + j : j * cols + i;
      out[index] = gain * vectors[j]![i]!;
    }
  }
  return out;
}

function weightValues(spec: ParamSpec, config: Pick<Pix2pixConfig, 'init_type' | 'init_gain'>, random: Random): Float32Array {
  const shape = referenceShape(spec);
  const [dim0, dim1, kh, kw] = shape as [number, number, number, number];
  const area = kh * kw;
  const size = dim0 * dim1 * area;
  const gain = config.init_gain;
  let reference: Float32Array;
  switch (config.init_type) {
    case 'normal':
      reference = random.fillNormal(new Float32Array(size), 0, gain);
      break;
    case 'xavier':
      reference = random.fillNormal(new Float32Array(size), 0, gain * Math.sqrt(2 / (dim1 * area + dim0 * area)));
      break;
    case 'kaiming':
      reference = random.fillNormal(new Float32Array(size), 0, Math.sqrt(2 / (dim1 * area)));
      break;
    case 'orthogonal':
      reference = orthogonal(random, dim0, dim1 * area, gain);
      break;
  }
  return fromReferenceLayout(spec, reference);
}

/** Initial values of `spec` (tfjs layout). */
export function pix2pixInitialValues(spec: ParamSpec, config: Pick<Pix2pixConfig, 'init_type' | 'init_gain'>, seed: number): Float32Array | Int32Array {
  const size = spec.shape.reduce((a, b) => a * b, 1);
  const random = Random.forLabel(seed, spec.key);
  switch (spec.role) {
    case 'convWeight':
    case 'convTransposeWeight':
      return weightValues(spec, config, random);
    case 'normWeight':
      return random.fillNormal(new Float32Array(size), 1, config.init_gain);
    case 'convBias':
    case 'normBias':
    case 'runningMean':
      return new Float32Array(size);
    case 'runningVar':
      return new Float32Array(size).fill(1);
    case 'numBatchesTracked':
      return new Int32Array(size);
  }
}

export function pix2pixInitialTensor(spec: ParamSpec, config: Pick<Pix2pixConfig, 'init_type' | 'init_gain'>, seed: number): tf.Tensor {
  const values = pix2pixInitialValues(spec, config, seed);
  return values instanceof Int32Array ? tf.tensor(values, [...spec.shape], 'int32') : tf.tensor(values, [...spec.shape], 'float32');
}

/** Fresh parameters for every spec. */
export function initPix2pixParams(specs: readonly ParamSpec[], config: Pick<Pix2pixConfig, 'init_type' | 'init_gain'>, seed: number): Map<string, tf.Tensor> {
  return new Map(specs.map((spec) => [spec.key, pix2pixInitialTensor(spec, config, seed)]));
}
