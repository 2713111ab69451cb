/**
 * synthesize and encode run the networks as the reference's test.py does:
 * it never calls eval(), so batch norm uses each image's own statistics, not
 * the running ones. (Instance norm has no running statistics.)
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { generatorInputChannels, resolveConfig } from '../../src/families/pix2pixhd/config.js';
import { REFERENCE_INFERENCE } from '../../src/model/layers.js';
import { encodeFeaturesRaw, generate, modelSpecs } from '../../src/families/pix2pixhd/networks.js';
import { disposeParams, initParams } from '../../src/model/params.js';
import { runGenerator } from '../../src/synthesis/networks.js';
import { setUpBackend } from '../model/helpers.js';

const config = resolveConfig({
  label_nc: 3, instance: true, instance_feat: true, feat_num: 2, netG: 'global', ngf: 4,
  n_downsample_global: 2, n_blocks_global: 1, norm: 'batch', nef: 4, n_downsample_E: 2,
});

function maxAbsDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
}

describe('synthesis networks: batch norm as the reference runs it', () => {
  before(setUpBackend);

  it('runGenerator uses batch statistics (not the running ones)', async () => {
    const params = initParams(modelSpecs(config, ['G']), 3);
    // Running statistics that are not the defaults, so that the two modes differ.
    for (const [key, value] of params) {
      if (key.endsWith('running_mean')) { params.set(key, tf.fill(value.shape, 0.7)); value.dispose(); }
      if (key.endsWith('running_var')) { params.set(key, tf.fill(value.shape, 3)); value.dispose(); }
    }
    const [height, width] = [16, 24];
    const channels = generatorInputChannels(config);
    const input = new Float32Array(height * width * channels);
    for (let p = 0; p < height * width; p++) {
      input[p * channels + (p % 3)] = 1;
      input[p * channels + 3] = p % 7 === 0 ? 1 : 0;
      input[p * channels + 4] = Math.sin(p);
      input[p * channels + 5] = Math.cos(p * 0.3);
    }
    const output = await runGenerator(config, params, input, height, width, channels);
    const x = tf.tensor4d(input, [1, height, width, channels]);
    const asReference = tf.tidy(() => generate(config, params, x, REFERENCE_INFERENCE).dataSync());
    const withRunning = tf.tidy(() => generate(config, params, x, { training: false, batchNormStatistics: 'running' }).dataSync());
    assert.ok(maxAbsDifference(output, asReference) < 1e-5, 'as the reference');
    assert.ok(maxAbsDifference(output, withRunning) > 1e-2, 'not the running statistics');
    tf.dispose(x);
    disposeParams(params);
  });

  it('E (for --use-encoded) also uses batch statistics', async () => {
    const { encodeInstanceFeatures } = await import('../../src/synthesis/networks.js');
    const params = initParams(modelSpecs(config, ['E']), 4);
    for (const [key, value] of params) {
      if (key.endsWith('running_mean')) { params.set(key, tf.fill(value.shape, -0.5)); value.dispose(); }
    }
    const [height, width] = [8, 12];
    const photo = Uint8Array.from({ length: height * width * 3 }, (_, i) => (i * 37) % 256);
    const ids = new Int32Array(height * width); // one instance: every pixel gets E's mean
    const pooled = await encodeInstanceFeatures(config, params, photo, ids, height, width);
    const image = tf.tensor4d(Float32Array.from(photo, (v) => (v / 255) * 2 - 1), [1, height, width, 3]);
    const mean = (options: typeof REFERENCE_INFERENCE): number[] =>
      tf.tidy(() => Array.from(tf.mean(encodeFeaturesRaw(config, params, image, options), [0, 1, 2]).dataSync()));
    const asReference = mean(REFERENCE_INFERENCE);
    const withRunning = mean({ training: false, batchNormStatistics: 'running' });
    assert.ok(maxAbsDifference(pooled.subarray(0, config.feat_num), asReference) < 1e-5);
    assert.ok(maxAbsDifference(asReference, withRunning) > 1e-3);
    tf.dispose(image);
    disposeParams(params);
  });
});
