/**
 * overwriteInPlace: a weight rewritten after a step keeps its heap block on
 * wasm, only where that is safe (no other tensor shares the data, XNNPACK
 * keeps no packed copy); and the tape-invisible detach shares data without
 * a gradient path.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, setConv2dOperatorCaching } from '../../src/backend/index.js';
import { overwriteInPlace } from '../../src/backend/buffers.js';
import { detach } from '../../src/backend/ops.js';

describe('overwriteInPlace (wasm)', () => {
  let previousCaching = true;
  before(async () => {
    await initBackend('wasm', { log: () => {} });
  });
  after(() => {
    setConv2dOperatorCaching(previousCaching);
  });

  it('writes into the variable\'s own block with operator caching off, and only then', () => {
    const initial = tf.tensor1d([1, 2, 3]);
    const variable = tf.variable(initial);
    // As createTrainingModel does: the variable alone holds its data.
    initial.dispose();
    const before = variable.dataId;
    try {
      previousCaching = setConv2dOperatorCaching(true);
      assert.equal(overwriteInPlace(variable, new Float32Array([4, 5, 6])), false, 'XNNPACK may hold a packed copy');
      setConv2dOperatorCaching(false);
      assert.equal(overwriteInPlace(variable, new Float32Array([4, 5, 6])), true);
      assert.equal(variable.dataId, before, 'the same block');
      assert.deepEqual([...variable.dataSync()], [4, 5, 6]);
      const sharing = variable.clone();
      assert.equal(overwriteInPlace(variable, new Float32Array([7, 8, 9])), false, 'a clone shares the data');
      assert.deepEqual([...sharing.dataSync()], [4, 5, 6]);
      sharing.dispose();
      assert.equal(overwriteInPlace(variable, new Float32Array([1, 2])), false, 'wrong length');
    } finally {
      variable.dispose();
    }
  });

  it('detach: same data, no gradient through it', () => {
    const x = tf.tensor1d([1, 2, 3]);
    try {
      const gradient = tf.grad((input: tf.Tensor) => tf.add(tf.sum(tf.mul(input, input)), tf.sum(detach(input))))(x);
      assert.deepEqual([...gradient.dataSync()], [2, 4, 6], 'd/dx (x^2 + stop(x)) = 2x');
      gradient.dispose();
      const alias = detach(x);
      assert.equal(alias.dataId, x.dataId);
      alias.dispose();
      assert.deepEqual([...x.dataSync()], [1, 2, 3], 'the alias\'s dispose leaves x alive');
    } finally {
      x.dispose();
    }
  });
});
