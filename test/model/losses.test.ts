/**
 * Losses and gradients against the reference's training iteration
 * (train_step*.safetensors): the four loss values from the golden weights
 * and inputs, and the direction of every weight's first Adam update, which
 * for a first step is -lr * sign(gradient) wherever the gradient is not tiny.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { instanceSegments } from '../../src/families/pix2pixhd/encoder.js';
import { featureMatchingLoss, ganLoss, l1Loss, stopGradient } from '../../src/model/losses.js';
import { discriminate, encodeFeatures, generate, modelSpecs, trainingNetworks } from '../../src/families/pix2pixhd/networks.js';
import { disposeParams, loadParams } from '../../src/model/params.js';
import type { Tensor } from '../../src/data/formats/safetensors.js';
import { splitGoldenConfig } from '../support/golden.js';
import { goldenTensor, leakedTensors, nchwToNhwc, readGolden, relativeL2, setUpBackend } from './helpers.js';

const scalarOf = (tensor: Tensor): number => (tensor.data as Float32Array)[0]!;

for (const name of ['train_step', 'train_step_features']) {
  describe(`${name}: losses and gradients of one reference iteration`, () => {
    before(setUpBackend);

    it('reproduces fake, G_GAN, G_GAN_Feat, D_real, D_fake, and the sign of every update', async () => {
      const golden = await readGolden(name);
      const { config, training } = splitGoldenConfig(golden.config);
      const lambdaFeat = training['lambda_feat'] as number;
      const lr = training['lr'] as number;
      const specs = modelSpecs(config, trainingNetworks(config));
      const { params } = loadParams(specs, golden.tensors, { source: name, mode: 'strict' });
      const label = nchwToNhwc(goldenTensor(golden, 'input_label'));
      const real = nchwToNhwc(goldenTensor(golden, 'real'));
      const inst = goldenTensor(golden, 'inst');
      const [n, , h, w] = inst.shape as [number, number, number, number];
      const segments = instanceSegments(inst.data as Int32Array, n, h, w);
      const fmOptions = { nLayersD: config.n_layers_D, numD: config.num_D, lambdaFeat };

      /** The reference's forward(): all four losses from one pass, as functions of the parameter map. */
      const losses = (p: ReadonlyMap<string, tf.Tensor>) => {
        const features = config.instance_feat ? encodeFeatures(config, p, real, segments, { training: true }) : null;
        const fake = generate(config, p, features ? tf.concat([label, features], 3) : label, { training: true });
        const predFakePool = discriminate(config, p, tf.concat([label, stopGradient(fake)], 3), { training: true });
        const predReal = discriminate(config, p, tf.concat([label, real], 3), { training: true });
        const predFake = discriminate(config, p, tf.concat([label, fake], 3), { training: true });
        return {
          fake,
          G_GAN: ganLoss(predFake, true, 'lsgan'),
          G_GAN_Feat: featureMatchingLoss(predFake, predReal, fmOptions),
          D_real: ganLoss(predReal, true, 'lsgan'),
          D_fake: ganLoss(predFakePool, false, 'lsgan'),
        };
      };

      const { fake, ...scalars } = tf.tidy(() => losses(params));
      const fakeError = await relativeL2(fake, goldenTensor(golden, 'fake'));
      const values = { fakeError, ...Object.fromEntries(Object.entries(scalars).map(([k, v]) => [k, v.dataSync()[0]!])) } as Record<string, number>;
      tf.dispose([fake, ...Object.values(scalars)]);
      assert.ok(values['fakeError']! <= 1e-4, `fake: relative L2 ${values['fakeError']}`);
      for (const key of ['G_GAN', 'G_GAN_Feat', 'D_real', 'D_fake']) {
        const expected = scalarOf(goldenTensor(golden, `loss.${key}`));
        const error = Math.abs(values[key]! - expected) / Math.abs(expected);
        process.stdout.write(`# ${name} loss.${key}: ours ${values[key]} reference ${expected} (relative ${error.toExponential(2)})\n`);
        assert.ok(error <= 1e-4, `${key}: ours ${values[key]}, reference ${expected}`);
      }

      // Gradients: G (+ E) from loss_G, D from loss_D, all at the weights before the step.
      const keys = specs.map((s) => s.key);
      const gradientsOf = (objective: (p: Map<string, tf.Tensor>) => tf.Scalar, wanted: string[]): Map<string, tf.Tensor> => {
        const wantedSet = new Set(wanted);
        const f = (...xs: tf.Tensor[]): tf.Scalar => {
          const p = new Map(params);
          wanted.forEach((key, i) => p.set(key, xs[i]!));
          return objective(p);
        };
        const grads = tf.grads(f)(wanted.map((key) => params.get(key)!));
        assert.ok(keys.filter((k) => wantedSet.has(k)).length === grads.length);
        return new Map(wanted.map((key, i) => [key, grads[i]!]));
      };
      // Conv biases followed by an instance norm: every conv bias but those of
      // G's and E's output convs and of D's first and last layers.
      const outputConvBias = (prefix: string): string =>
        keys.filter((k) => k.startsWith(prefix) && k.endsWith('.bias')).sort((a, b) => Number(a.split('.')[2]) - Number(b.split('.')[2])).pop()!;
      const unnormalised = new Set([outputConvBias('G.model.'), outputConvBias('E.model.')]);
      const lastLayer = config.n_layers_D + 1;
      const feedsInstanceNorm = (key: string): boolean =>
        key.endsWith('.bias') && !unnormalised.has(key) && !/_layer0\./.test(key) && !key.includes(`_layer${lastLayer}.`);
      const generatorKeys = keys.filter((k) => !k.startsWith('D.'));
      const discriminatorKeys = keys.filter((k) => k.startsWith('D.'));
      const leaked = leakedTensors(() => {
        const gradG = gradientsOf((p) => tf.tidy(() => {
          const l = losses(p);
          return tf.add(l.G_GAN, l.G_GAN_Feat) as tf.Scalar;
        }), generatorKeys);
        const gradD = gradientsOf((p) => tf.tidy(() => {
          const l = losses(p);
          return tf.mul(0.5, tf.add(l.D_fake, l.D_real)) as tf.Scalar;
        }), discriminatorKeys);
        let compared = 0;
        let disagreements = 0;
        for (const [key, gradient] of [...gradG, ...gradD]) {
          const before = goldenTensor(golden, key).data as Float32Array;
          const after = goldenTensor(golden, `after.${key}`).data as Float32Array;
          const spec = specs.find((s) => s.key === key)!;
          // Compare in the reference layout.
          const g = spec.role === 'convWeight' || spec.role === 'convTransposeWeight'
            ? tf.tidy(() => tf.transpose(gradient, [3, 2, 0, 1]).dataSync())
            : gradient.dataSync();
          if (feedsInstanceNorm(key)) {
            // Zero in exact arithmetic (the norm removes any constant shift);
            // both sides see float noise, which a first Adam step amplifies to
            // about +-lr, so check it is noise instead of comparing signs.
            const largest = Array.from(g as Float32Array).reduce((m, v) => Math.max(m, Math.abs(v)), 0);
            assert.ok(largest < 1e-5, `${key}: gradient ${largest} should vanish before instance norm`);
            continue;
          }
          for (let i = 0; i < before.length; i++) {
            const update = after[i]! - before[i]!;
            if (Math.abs(update) <= lr / 10) continue;
            compared++;
            if (Math.sign(update) !== -Math.sign(g[i]!)) {
              disagreements++;
              if (process.env['P2PHD_DEBUG']) process.stdout.write(`# ${key}[${i}] update ${update} gradient ${g[i]}\n`);
            }
          }
        }
        tf.dispose([...gradG.values(), ...gradD.values()]);
        process.stdout.write(`# ${name}: update signs compared ${compared}, disagreements ${disagreements}\n`);
        assert.ok(compared > 1000);
        assert.equal(disagreements, 0);
      });
      assert.equal(leaked, 0, 'no tensors leak from a whole forward/backward');
      tf.dispose([label, real]);
      disposeParams(params);
    });
  });
}

describe('loss building blocks', () => {
  before(setUpBackend);
  it('vanilla GAN loss is BCE on the sigmoid output with PyTorch log clamp; L1 is a mean', () => {
    tf.tidy(() => {
      const p = tf.tensor4d([0.9, 0.2, 0, 1], [1, 2, 2, 1]);
      const real = ganLoss([[p]], true, 'vanilla').dataSync()[0]!;
      const fake = ganLoss([[p]], false, 'vanilla').dataSync()[0]!;
      assert.ok(Math.abs(real - (-(Math.log(0.9) + Math.log(0.2) - 100 + 0) / 4)) < 1e-4);
      assert.ok(Math.abs(fake - (-(Math.log(0.1) + Math.log(0.8) + 0 - 100) / 4)) < 1e-4);
      assert.ok(Math.abs(l1Loss(tf.tensor([1, -2]), tf.tensor([0, 0])).dataSync()[0]! - 1.5) < 1e-7);
    });
  });
});
