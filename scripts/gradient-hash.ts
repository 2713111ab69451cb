/**
 * Dev script: a hash of every gradient and loss of the golden training steps
 * (wasm, lean schedule), to show that a change to the step's structure
 * keeps the bits: run before and after, compare the lines.
 *
 *   node dist/scripts/gradient-hash.js [--offload]
 */
import { createHash } from 'node:crypto';
import * as tf from '@tensorflow/tfjs-core';
import { SavedTensorOffload } from '../src/backend/index.js';
import { instanceSegments } from '../src/families/pix2pixhd/encoder.js';
import { modelSpecs, trainingNetworks } from '../src/families/pix2pixhd/networks.js';
import { loadParams } from '../src/model/params.js';
import { createTrainingModel, disposeTrainingModel } from '../src/train/model.js';
import { computeStepGradients } from '../src/train/step.js';
import { nchwToNhwc, readGoldenStep, setUpBackend, tensorOf } from '../test/train/helpers.js';

async function main(): Promise<void> {
  await setUpBackend();
  const offload = process.argv.includes('--offload') ? new SavedTensorOffload(1024) : undefined;
  for (const name of ['train_step', 'train_step_features']) {
    const golden = await readGoldenStep(name);
    const { config } = golden;
    const input = nchwToNhwc(tensorOf(golden, 'input_label'));
    const [n, h, w] = input.shape;
    const model = createTrainingModel(config, 'global', loadParams(modelSpecs(config, trainingNetworks(config)), golden.tensors, { source: 'golden', mode: 'strict' }).params, { adamOnHost: true });
    const real = nchwToNhwc(tensorOf(golden, 'real'));
    const segments = instanceSegments(tensorOf(golden, 'inst').data as Int32Array, n, h, w);
    const result = computeStepGradients(model, { input, real, segments }, { gan: 'lsgan', ganFeatLoss: true, lambdaFeat: golden.training['lambda_feat'] as number, offload }, { keepFake: true });
    const hash = createHash('sha256');
    hash.update(JSON.stringify(result.losses));
    for (const key of [...result.gradients.keys()].sort()) {
      const gradient = result.gradients.get(key)!;
      hash.update(key);
      hash.update(Buffer.from(gradient.buffer, gradient.byteOffset, gradient.byteLength));
    }
    hash.update(Buffer.from(result.fake!.buffer));
    process.stdout.write(`${name}: ${hash.digest('hex')} (${result.gradients.size} gradients)\n`);
    tf.dispose([input, real]);
    disposeTrainingModel(model);
  }
}

void main();
