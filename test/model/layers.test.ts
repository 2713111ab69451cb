/**
 * Layer semantics not covered by the golden files (which use instance norm):
 * batch norm in training and eval mode with PyTorch's running statistics;
 * instance-wise average pooling's values, gradient and speed; the seeded
 * PRNG and initialisation.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { instanceAveragePool, instanceSegments } from '../../src/families/pix2pixhd/encoder.js';
import { initialValues } from '../../src/model/init.js';
import { REFERENCE_INFERENCE, runSequential, normLayer, type ParamSpec } from '../../src/model/layers.js';
import { Random } from '../../src/model/random.js';
import { leakedTensors, setUpBackend } from './helpers.js';

describe('batch norm', () => {
  before(setUpBackend);

  it('training: batch statistics, running stats updated (momentum 0.1, unbiased var), counter +1; eval: running stats', () => {
    const values = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16].map((v, i) => (i % 2 === 0 ? v : -v * 0.5));
    const x = tf.tensor4d(values, [2, 2, 2, 2]);
    const params = new Map<string, tf.Tensor>([
      ['N.0.weight', tf.variable(tf.tensor1d([2, 0.5]))],
      ['N.0.bias', tf.variable(tf.tensor1d([0.1, -0.1]))],
      ['N.0.running_mean', tf.variable(tf.tensor1d([0, 0]), false)],
      ['N.0.running_var', tf.variable(tf.tensor1d([1, 1]), false)],
      ['N.0.num_batches_tracked', tf.variable(tf.scalar(0, 'int32'), false)],
    ]);
    const sequential = { name: 'N', layers: [normLayer('batch', 2)] };
    const channel = (c: number): number[] => values.filter((_, i) => i % 2 === c);
    const y = runSequential(sequential, x, params, { training: true });
    const out = y.dataSync();
    for (let c = 0; c < 2; c++) {
      const v = channel(c);
      const mean = v.reduce((a, b) => a + b, 0) / v.length;
      const biased = v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length;
      const unbiased = (biased * v.length) / (v.length - 1);
      const w = [2, 0.5][c]!;
      const b = [0.1, -0.1][c]!;
      v.forEach((value, k) => {
        assert.ok(Math.abs(out[k * 2 + c]! - ((value - mean) / Math.sqrt(biased + 1e-5)) * w - b) < 1e-4);
      });
      assert.ok(Math.abs(params.get('N.0.running_mean')!.dataSync()[c]! - 0.1 * mean) < 1e-5);
      assert.ok(Math.abs(params.get('N.0.running_var')!.dataSync()[c]! - (0.9 + 0.1 * unbiased)) < 1e-4);
    }
    assert.equal(params.get('N.0.num_batches_tracked')!.dataSync()[0], 1);

    const evalOut = runSequential(sequential, x, params, { training: false }).dataSync();
    const rm = params.get('N.0.running_mean')!.dataSync();
    const rv = params.get('N.0.running_var')!.dataSync();
    values.forEach((value, i) => {
      const c = i % 2;
      const expected = ((value - rm[c]!) / Math.sqrt(rv[c]! + 1e-5)) * [2, 0.5][c]! + [0.1, -0.1][c]!;
      assert.ok(Math.abs(evalOut[i]! - expected) < 1e-4);
    });
    assert.equal(params.get('N.0.num_batches_tracked')!.dataSync()[0], 1, 'eval leaves the statistics alone');
    // The reference's test.py never calls eval(): batch statistics, nothing updated.
    const asReference = runSequential(sequential, x, params, REFERENCE_INFERENCE).dataSync();
    assert.deepEqual(Array.from(asReference).map((v) => v.toFixed(4)), Array.from(out).map((v) => v.toFixed(4)));
    assert.equal(params.get('N.0.num_batches_tracked')!.dataSync()[0], 1);
    assert.ok(Math.abs(params.get('N.0.running_mean')!.dataSync()[0]! - rm[0]!) < 1e-7);
    assert.equal(leakedTensors(() => tf.tidy(() => { runSequential(sequential, x, params, { training: true }); })), 0);
    tf.dispose([x, y, ...params.values()]);
  });
});

describe('instance-wise average pooling', () => {
  before(setUpBackend);

  it('means per image, instance and channel; the gradient is the same pooling of dy', () => {
    // Two images, 2x3, two channels; ids differ between the images.
    const ids = Int32Array.from([7, 7, 3, 3, 7, 26, /* image 2 */ 5, 5, 5, 5, 5, 9]);
    const segments = instanceSegments(ids, 2, 2, 3);
    assert.deepEqual(Array.from(segments.instanceIds), [3, 7, 26, 5, 9]);
    assert.deepEqual(Array.from(segments.pixelCounts), [2, 3, 1, 5, 1]);
    const x = tf.tensor4d(Array.from({ length: 24 }, (_, i) => i * 1.5 - 4), [2, 2, 3, 2]);
    const pooled = instanceAveragePool(x, segments).dataSync();
    const data = x.dataSync();
    for (let b = 0; b < 2; b++) {
      for (let c = 0; c < 2; c++) {
        for (let p = 0; p < 6; p++) {
          const same = [...Array(6).keys()].filter((q) => ids[b * 6 + q] === ids[b * 6 + p]);
          const mean = same.reduce((a, q) => a + data[(b * 6 + q) * 2 + c]!, 0) / same.length;
          assert.ok(Math.abs(pooled[(b * 6 + p) * 2 + c]! - mean) < 1e-5);
        }
      }
    }
    // d/dx sum(pool(x) * r) = pool(r): check against that and against finite differences.
    const r = tf.tensor4d(Array.from({ length: 24 }, (_, i) => Math.sin(i)), [2, 2, 3, 2]);
    const gradient = tf.grad((input: tf.Tensor) => tf.sum(tf.mul(instanceAveragePool(input as tf.Tensor4D, segments), r)))(x);
    const expected = instanceAveragePool(r, segments);
    assert.deepEqual(Array.from(gradient.dataSync()).map((v) => v.toFixed(5)), Array.from(expected.dataSync()).map((v) => v.toFixed(5)));
    tf.dispose([x, r, gradient, expected]);
  });

  // Timings belong in `npm run bench`; here the large case checks the gradient by hand:
  // pooling is an orthogonal projection P (symmetric, P^2 = P), so d/dx sum((Px)^2) = 2Px.
  it('at 1024x512 with ~100 instances, the gradient of sum(pool(x)^2) is 2 pool(x)', () => {
    const height = 512;
    const width = 1024;
    const ids = new Int32Array(height * width);
    for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) ids[y * width + x] = 1000 + Math.floor(y / 52) * 10 + Math.floor(x / 103);
    const x = tf.randomNormal([1, height, width, 3], 0, 1, 'float32', 7) as tf.Tensor4D;
    const segments = instanceSegments(ids, 1, height, width);
    assert.ok(segments.pixelCounts.length >= 90);
    const gradient = tf.grad((input: tf.Tensor) => tf.sum(tf.square(instanceAveragePool(input as tf.Tensor4D, segments))))(x);
    const pooled = instanceAveragePool(x, segments);
    const error = tf.max(tf.abs(tf.sub(gradient, tf.mul(pooled, 2)))).dataSync()[0]!;
    assert.ok(error < 1e-4, `max |grad - 2 pool(x)| = ${error}`);
    tf.dispose(pooled);
    tf.dispose([x, gradient]);
  });
});

describe('seeded randomness and initialisation', () => {
  it('the same seed gives the same stream; a saved state resumes it exactly', () => {
    const a = new Random(42);
    const b = new Random(42);
    const first = Array.from({ length: 5 }, () => a.nextUint32());
    assert.deepEqual(Array.from({ length: 5 }, () => b.nextUint32()), first);
    assert.notDeepEqual(Array.from({ length: 5 }, () => new Random(43).nextUint32()), first);
    const state = a.state();
    const resumed = Random.fromState(state);
    assert.deepEqual(Array.from({ length: 10 }, () => resumed.nextFloat()), Array.from({ length: 10 }, () => a.nextFloat()));
  });

  it('normal samples have the right moments; uniform stays in range', () => {
    const random = new Random(1);
    const n = 200_000;
    const samples = random.fillNormal(new Float32Array(n), 1, 0.02);
    const mean = samples.reduce((s, v) => s + v, 0) / n;
    const std = Math.sqrt(samples.reduce((s, v) => s + (v - mean) ** 2, 0) / n);
    assert.ok(Math.abs(mean - 1) < 0.001 && Math.abs(std - 0.02) < 0.001, `${mean} ${std}`);
    const uniform = random.fillUniform(new Float32Array(n), -0.5, 0.5);
    assert.ok(uniform.every((v) => v >= -0.5 && v < 0.5));
  });

  it('initialisation follows the reference: N(0, 0.02) weights, PyTorch-default biases, BN weight N(1, 0.02)', () => {
    const conv: ParamSpec = { key: 'G.model.1.weight', role: 'convWeight', shape: [7, 7, 36, 64], fanIn: 36 * 49 };
    const w = initialValues(conv, 3) as Float32Array;
    const std = Math.sqrt(w.reduce((s, v) => s + v * v, 0) / w.length);
    assert.ok(Math.abs(std - 0.02) < 0.0005);
    assert.deepEqual(initialValues(conv, 3), w, 'deterministic for a seed');
    assert.notDeepEqual(initialValues(conv, 4), w);
    const bias = initialValues({ key: 'G.model.1.bias', role: 'convBias', shape: [64], fanIn: 36 * 49 }, 3);
    const bound = 1 / Math.sqrt(36 * 49);
    assert.ok(Array.from(bias).every((v) => Math.abs(v) <= bound) && Array.from(bias).some((v) => Math.abs(v) > bound / 2));
    const bn = initialValues({ key: 'G.model.2.weight', role: 'normWeight', shape: [64], fanIn: 0 }, 3);
    assert.ok(Array.from(bn).every((v) => Math.abs(v - 1) < 0.1));
    assert.deepEqual(Array.from(initialValues({ key: 'G.model.2.running_var', role: 'runningVar', shape: [2], fanIn: 0 }, 3)), [1, 1]);
  });
});
