/**
 * What training relies on beyond parity: gradients through every network
 * kind (local enhancer, batch norm) with tf.variableGrads over tf.Variables,
 * running statistics updated during the forward pass, and no tensor leaks.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { resolveConfig } from '../../src/families/pix2pixhd/config.js';
import { featureMatchingLoss, ganLoss, stopGradient } from '../../src/model/losses.js';
import { discriminate, generate, modelSpecs, networkSpecs } from '../../src/families/pix2pixhd/networks.js';
import { disposeParams, initParams, toVariables } from '../../src/model/params.js';
import { isTrainable } from '../../src/model/layers.js';
import { optimizerKeys } from '../../src/train/model.js';
import { setUpBackend } from './helpers.js';

describe('training through the networks', () => {
  before(setUpBackend);

  it('local enhancer + batch norm: variableGrads reaches every trainable parameter, running stats move, nothing leaks', () => {
    const config = resolveConfig({
      label_nc: 3, netG: 'local', ngf: 4, n_downsample_global: 1, n_blocks_global: 1, n_local_enhancers: 1, n_blocks_local: 1,
      norm: 'batch', ndf: 4, n_layers_D: 2, num_D: 2,
    });
    const specs = modelSpecs(config, ['G', 'D']);
    const fresh = initParams(specs, 3);
    const variables = toVariables(fresh, specs);
    disposeParams(fresh);
    const label = tf.randomUniform([2, 16, 16, 4]) as tf.Tensor4D;
    const real = tf.randomUniform([2, 16, 16, 3], -1, 1) as tf.Tensor4D;
    const generatorVariables = networkSpecs(config, 'G').filter(isTrainable).map((s) => variables.get(s.key)!);
    const meanBefore = variables.get('G.model.2.running_mean')!.dataSync().slice();
    const countBefore = tf.memory().numTensors;

    const { value, grads } = tf.variableGrads(() => {
      const fake = generate(config, variables, label, { training: true });
      const predFake = discriminate(config, variables, tf.concat([label, fake], 3), { training: true });
      const predReal = discriminate(config, variables, tf.concat([label, real], 3), { training: true });
      return tf.add(ganLoss(predFake, true, 'lsgan'), featureMatchingLoss(predFake, predReal.map((o) => o.map((t) => stopGradient(t))), { nLayersD: 2, numD: 2, lambdaFeat: 10 })) as tf.Scalar;
    }, generatorVariables);
    assert.ok(Number.isFinite(value.dataSync()[0]!));
    assert.equal(Object.keys(grads).length, generatorVariables.length);
    for (const variable of generatorVariables) {
      const norm = tf.tidy(() => tf.sum(tf.abs(grads[variable.name]!)).dataSync()[0]!);
      assert.ok(norm > 0, `gradient of ${variable.name} vanished`);
    }
    tf.dispose([value, ...Object.values(grads)]);
    assert.equal(tf.memory().numTensors, countBefore, 'no tensors leak from a gradient step');
    assert.notDeepEqual(Array.from(variables.get('G.model.2.running_mean')!.dataSync()), Array.from(meanBefore));
    // G ran once, D twice: each batch norm counted its forward passes.
    assert.equal(variables.get('G.model.2.num_batches_tracked')!.dataSync()[0], 1);
    assert.equal(variables.get('D.scale1_layer1.1.num_batches_tracked')!.dataSync()[0], 2);
    assert.ok(!variables.get('G.model.2.running_var')!.trainable);

    // train local updates only the finest enhancer, as the reference's niter_fix_global.
    const local = optimizerKeys('local', networkSpecs(config, 'G')).G;
    assert.ok(local.length > 0 && local.every((k) => k.startsWith('G.model1_')));
    tf.dispose([label, real, ...variables.values()]);
  });
});
