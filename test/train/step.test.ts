/**
 * One training step against the reference: from the golden weights and
 * inputs, the four loss values (1e-4 relative) and the Adam update of every
 * weight (golden README: >= 99% of elements within 1e-6 of the reference's
 * update, no sign disagreement where the reference moves by more than lr/10),
 * through the same step functions `p2phd train` runs.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { instanceSegments } from '../../src/model/encoder.js';
import { modelSpecs, trainingNetworks } from '../../src/model/networks.js';
import { loadParams } from '../../src/model/params.js';
import { ADAM_BETA2, ADAM_EPSILON } from '../../src/train/settings.js';
import { checkpointTensors, createTrainingModel, disposeTrainingModel } from '../../src/train/model.js';
import { applyStep, computeStepGradients } from '../../src/train/step.js';
import { nchwToNhwc, readGoldenStep, relativeDifference, setUpBackend, tensorOf } from './helpers.js';

const GOLDEN_LOSSES = ['G_GAN', 'G_GAN_Feat', 'D_real', 'D_fake'] as const;

async function checkGoldenStep(name: string): Promise<void> {
  const golden = await readGoldenStep(name);
  const { config } = golden;
  const lr = golden.training['lr'] as number;
  const specs = modelSpecs(config, trainingNetworks(config));
  const { params } = loadParams(specs, golden.tensors, { source: name, mode: 'strict' });
  const model = createTrainingModel(config, 'global', params);
  const input = nchwToNhwc(tensorOf(golden, 'input_label'));
  const real = nchwToNhwc(tensorOf(golden, 'real'));
  const inst = tensorOf(golden, 'inst');
  const [n, , h, w] = inst.shape as [number, number, number, number];
  const segments = instanceSegments(inst.data as Int32Array, n, h, w);
  try {
    const step = computeStepGradients(model, { input, real, segments }, { gan: 'lsgan', ganFeatLoss: true, lambdaFeat: golden.training['lambda_feat'] as number });
    for (const loss of GOLDEN_LOSSES) {
      const expected = (tensorOf(golden, `loss.${loss}`).data as Float32Array)[0]!;
      const difference = relativeDifference(step.losses[loss], expected);
      process.stdout.write(`# ${name} ${loss}: ours ${step.losses[loss]} reference ${expected} (relative ${difference.toExponential(2)})\n`);
      assert.ok(difference <= 1e-4, `${loss}: ${step.losses[loss]} vs ${expected}`);
    }
    assert.equal(step.losses.G_VGG, 0);
    // Biases of convolutions followed by instance norm have a gradient that
    // is zero in exact arithmetic (the norm subtracts the mean); both sides
    // get float noise there, which Adam's first step blows up to +-lr with a
    // random sign. The sign rule cannot apply to them; they are found by
    // their gradient (noise, far below any real gradient).
    const structurallyZero = new Set<string>();
    for (const [key, gradient] of step.gradients) {
      const largest = gradient.reduce((max, value) => Math.max(max, Math.abs(value)), 0);
      if (largest < 1e-4) structurallyZero.add(key);
    }
    applyStep(model, step.gradients, { lr, beta1: golden.training['beta1'] as number, beta2: ADAM_BETA2, epsilon: ADAM_EPSILON });

    const after = checkpointTensors(model);
    let total = 0;
    let close = 0;
    let worst = 0;
    for (const spec of specs) {
      const before = tensorOf(golden, spec.key).data as Float32Array;
      const expectedAfter = tensorOf(golden, `after.${spec.key}`).data as Float32Array;
      const ours = after.get(spec.key)!.data as Float32Array;
      for (let i = 0; i < before.length; i++) {
        const expectedUpdate = expectedAfter[i]! - before[i]!;
        const ourUpdate = ours[i]! - before[i]!;
        const difference = Math.abs(ourUpdate - expectedUpdate);
        worst = Math.max(worst, difference);
        total++;
        if (difference <= 1e-6) close++;
        if (Math.abs(expectedUpdate) > lr / 10 && !structurallyZero.has(spec.key)) {
          assert.equal(Math.sign(ourUpdate), Math.sign(expectedUpdate), `${spec.key}[${i}]: update ${ourUpdate} vs reference ${expectedUpdate}`);
        }
      }
    }
    process.stdout.write(`# ${name} updates: ${close}/${total} within 1e-6 (worst ${worst.toExponential(2)}); sign rule skipped on ${structurallyZero.size} zero-gradient biases\n`);
    assert.ok([...structurallyZero].every((key) => key.endsWith('.bias')), `only biases may have a zero gradient: ${[...structurallyZero].join(', ')}`);
    assert.ok(close / total >= 0.99, `${close}/${total} updates within 1e-6`);
  } finally {
    tf.dispose([input, real]);
    disposeTrainingModel(model);
  }
}

describe('train step parity with the reference', () => {
  before(setUpBackend);

  it('G1 + multi-scale D, LSGAN + feature matching (train_step)', async () => {
    await checkGoldenStep('train_step');
  });

  it('with the instance-feature encoder in G\'s optimizer (train_step_features)', async () => {
    await checkGoldenStep('train_step_features');
  });
});
