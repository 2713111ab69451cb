/**
 * The pix2pix learning-rate policies against PyTorch's schedulers made by the
 * reference's get_scheduler and stepped as its train.py steps them
 * (test/golden/pix2pix/data/lr_policies.safetensors, from
 * scripts/reference_pix2pix_data.py with torch 1.13).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readSafetensorsFile } from '../../src/data/files/tensorFile.js';
import { lastEpoch, LR_POLICY_DEFAULTS, PlateauScheduler, policyLearningRate, type LrPolicy, type LrPolicySettings } from '../../src/train/lrPolicies.js';
import { learningRateForEpoch } from '../../src/train/schedule.js';
import { GOLDEN_DIR } from '../support/cli.js';

interface GoldenConfig {
  name: string;
  lr_policy: LrPolicy;
  lr: number;
  n_epochs: number;
  n_epochs_decay: number;
  lr_decay_iters: number;
  epoch_count: number;
}

const golden = readSafetensorsFile(join(GOLDEN_DIR, 'pix2pix', 'data', 'lr_policies.safetensors'));

test("each policy's rate per epoch equals PyTorch's (exact; cosine within 1e-15 relative: math.cos vs V8's)", async () => {
  const file = await golden;
  const configs = JSON.parse(file.metadata['configs']!) as GoldenConfig[];
  assert.deepEqual(new Set(configs.map((c) => c.lr_policy)), new Set(['linear', 'step', 'plateau', 'cosine']));
  for (const c of configs) {
    const settings: LrPolicySettings = {
      policy: c.lr_policy, lr: c.lr, nEpochs: c.n_epochs, nEpochsDecay: c.n_epochs_decay, lrDecayIters: c.lr_decay_iters, epochCount: c.epoch_count,
    };
    const expected = file.tensors.get(c.name)!.data as Float64Array;
    assert.equal(expected.length, lastEpoch(settings) - c.epoch_count + 1, c.name);
    expected.forEach((want, i) => {
      const epoch = c.epoch_count + i;
      const got = policyLearningRate(settings, epoch);
      if (c.lr_policy === 'cosine') {
        assert.ok(Math.abs(got - want) <= 1e-15 * c.lr, `${c.name} epoch ${epoch}: ${got} vs ${want}`);
      } else {
        assert.equal(got, want, `${c.name} epoch ${epoch}`);
      }
    });
  }
});

test('hand-computed points: linear 1 - max(0, e - 100) / 101, step x0.1 every 50, plateau x0.2 after 6 bad epochs; pix2pixHD schedule untouched', () => {
  const base: LrPolicySettings = { ...LR_POLICY_DEFAULTS };
  assert.equal(policyLearningRate(base, 100), 0.0002);
  assert.equal(policyLearningRate(base, 101), 0.0002 * (1 - 1 / 101));
  assert.equal(policyLearningRate(base, 200), 0.0002 * (1 - 100 / 101));
  const step = { ...base, policy: 'step' as const };
  assert.equal(policyLearningRate(step, 50), 0.0002);
  assert.equal(policyLearningRate(step, 51), 0.0002 * 0.1);
  assert.equal(policyLearningRate(step, 101), 0.0002 * 0.1 * 0.1);
  const plateau = { ...base, policy: 'plateau' as const };
  assert.equal(policyLearningRate(plateau, 7), 0.0002);
  assert.equal(policyLearningRate(plateau, 8), 0.0002 * 0.2);
  assert.equal(policyLearningRate(plateau, 14), 0.0002 * 0.2 * 0.2);
  // A real metric that improves keeps the rate.
  const scheduler = new PlateauScheduler(0.0002);
  for (let i = 0; i < 20; i++) scheduler.step(1 / (i + 1));
  assert.equal(scheduler.lr, 0.0002);
  assert.throws(() => policyLearningRate({ ...base, epochCount: 5 }, 4), RangeError);
  // pix2pixHD's own linear decay (schedule.ts) is a different rule and stays so.
  assert.equal(learningRateForEpoch({ lr: 0.0002, epochs: 100, decayEpochs: 100 }, 102), 0.0002 - 0.0002 / 100);
});
