/**
 * Inference as the reference's test.py runs it (it never calls eval()):
 * batch norm on the image's own statistics. One image's batch statistics are
 * its per-channel statistics over H and W, computed with the same precision
 * as instance norm: at Cityscapes sizes a float32 running total over the
 * whole image errs by a grey level of the output, which these tests bound.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { REFERENCE_INFERENCE, runSequential, normLayer } from '../../src/model/layers.js';
import { referenceInstanceNorm } from '../support/reference.js';
import { leakedTensors, setUpBackend } from './helpers.js';

/** Values with a large common offset per channel: the case where a one-pass float32 mean loses digits. */
function offsetImage(height: number, width: number, channels: number, offset: number): Float32Array {
  const values = new Float32Array(height * width * channels);
  let state = 12345;
  for (let i = 0; i < values.length; i++) {
    state = (state * 1103515245 + 12345) % 2147483648;
    values[i] = (state / 2147483648 - 0.5) * 2 + offset + (i % channels) * 0.25;
  }
  return values;
}

describe('batch norm at reference inference, one image', () => {
  before(setUpBackend);

  it('normalises with the image\'s biased per-channel statistics, then weight and bias, to float32 precision at 1024x256', () => {
    const [height, width, channels] = [256, 1024, 3];
    const values = offsetImage(height, width, channels, 30);
    const weight = [1.5, 0.5, -2];
    const bias = [0.1, -0.2, 0.3];
    const params = new Map<string, tf.Tensor>([
      ['N.0.weight', tf.tensor1d(weight)],
      ['N.0.bias', tf.tensor1d(bias)],
      // Running statistics far from the image's: they must not be used.
      ['N.0.running_mean', tf.tensor1d([100, -100, 5])],
      ['N.0.running_var', tf.tensor1d([9, 0.01, 4])],
      ['N.0.num_batches_tracked', tf.scalar(7, 'int32')],
    ]);
    const sequential = { name: 'N', layers: [normLayer('batch', channels)] };
    const x = tf.tensor4d(values, [1, height, width, channels]);
    const out = runSequential(sequential, x, params, REFERENCE_INFERENCE).dataSync();
    const normalised = referenceInstanceNorm(values, [1, height, width, channels]);
    const pixels = height * width;
    for (let c = 0; c < channels; c++) {
      let worst = 0;
      for (let p = 0; p < pixels; p++) {
        const expected = normalised[p * channels + c]! * weight[c]! + bias[c]!;
        worst = Math.max(worst, Math.abs(out[p * channels + c]! - expected));
      }
      // A single float32 running total gave ~3e-3 here (weight 2): a grey level after the network.
      assert.ok(worst < 2e-5, `channel ${c}: max error ${worst}`);
    }
    assert.equal(leakedTensors(() => tf.tidy(() => { runSequential(sequential, x, params, REFERENCE_INFERENCE); })), 0);
    assert.equal(params.get('N.0.num_batches_tracked')!.dataSync()[0], 7, 'nothing updated');
    tf.dispose([x, ...params.values()]);
  });
});
