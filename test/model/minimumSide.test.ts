/**
 * generatorMinimumSide is exact: G runs on a square input of that side and
 * fails (a reflection pad wider than what it pads) one size multiple below,
 * for the global generator and a local enhancer, with and without residual
 * blocks. Training refuses samples below it; synthesize pads up to it.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { generatorInputChannels, generatorMinimumSide, generatorSizeMultiple, resolveConfig } from '../../src/families/pix2pixhd/config.js';
import { REFERENCE_INFERENCE } from '../../src/model/layers.js';
import { generate, modelSpecs } from '../../src/families/pix2pixhd/networks.js';
import { disposeParams, initParams } from '../../src/model/params.js';
import { setUpBackend } from './helpers.js';

describe('generatorMinimumSide', () => {
  before(async () => {
    await setUpBackend();
  });

  const cases: Array<[Record<string, unknown>, number]> = [
    [{ n_downsample_global: 2, n_blocks_global: 1 }, 8], // bottleneck 2x2: twice the multiple 4
    [{ n_downsample_global: 2, n_blocks_global: 0 }, 4], // no residual blocks: the multiple itself
    [{ netG: 'local', n_downsample_global: 1, n_blocks_global: 1 }, 8],
    [{ netG: 'local', n_downsample_global: 0, n_blocks_global: 0 }, 8], // G1's 7x7 layer needs 4 at half size
  ];
  for (const [overrides, expected] of cases) {
    it(`${JSON.stringify(overrides)}: ${expected}`, () => {
      const config = resolveConfig({ label_nc: 2, instance: false, ngf: 2, n_blocks_local: 1, ...overrides });
      assert.equal(generatorMinimumSide(config), expected);
      const params = initParams(modelSpecs(config, ['G']), 1);
      const run = (side: number): void => {
        tf.tidy(() => {
          generate(config, params, tf.zeros([1, side, side, generatorInputChannels(config)]), REFERENCE_INFERENCE).dataSync();
        });
      };
      try {
        run(expected);
        assert.throws(() => run(expected - generatorSizeMultiple(config)), Error, `one multiple below ${expected}`);
      } finally {
        disposeParams(params);
      }
    });
  }
});
