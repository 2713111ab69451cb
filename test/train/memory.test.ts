/**
 * Memory stays flat over a run: the live tensor count after step 2 equals
 * the count after step 20, through the step the command runs (data loader,
 * encoder features, image pool, sample-strip fake, Adam), and the up-front
 * wasm memory check refuses what cannot fit with a suggestion.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs-core';
import { UsageError } from '../../src/errors.js';
import { DEFAULT_CONFIG, generatorInputChannels, inputSizeMultiple, resolveConfig, type ArchConfig } from '../../src/families/pix2pixhd/config.js';
import { Random } from '../../src/model/random.js';
import type { Batch } from '../../src/train/data.js';
import { modelSpecs, trainingNetworks } from '../../src/families/pix2pixhd/networks.js';
import { initParams, loadParams } from '../../src/model/params.js';
import { BatchLoader, openSampleFolder } from '../../src/train/data.js';
import { AdamThread } from '../../src/train/adamThread.js';
import { createSharedSlots } from '../../src/train/adam.js';
import { ImagePool } from '../../src/train/imagePool.js';
import { checkTrainingMemory, estimateTrainingMemory } from '../../src/train/memory.js';
import { createTrainingModel, disposeTrainingModel, readCheckpointTensors, readOptimizerTensors, restoreOptimizers, type TrainingModel } from '../../src/train/model.js';
import { runStep } from '../../src/train/trainer.js';
import { readStepPool, restoreStepPool, runDeviceStep } from '../../src/train/deviceStep.js';
import { heapAccounting, initBackend, SavedTensorOffload, stopHeapAccounting } from '../../src/backend/index.js';
import { instanceSegments } from '../../src/families/pix2pixhd/encoder.js';
import { computeStepGradients } from '../../src/train/step.js';
import { onWebgpu } from '../support/webgpu.js';
import { fixtureSamples } from './cli.js';
import { setUpBackend } from './helpers.js';

describe('training memory', () => {
  let root = '';
  let samples = '';
  before(async () => {
    await setUpBackend();
    ({ root, samples } = await fixtureSamples());
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('tf.memory().numTensors is the same after step 2 and step 20', async () => {
    await flatMemoryRun(samples, 20, true);
  });

  it('the device-resident step (cpu) stays flat too: device Adam, device image pool', async () => {
    await initBackend('cpu', { log: () => {} });
    try {
      // tfjs's cpu backend is slow: small synthetic batches instead of the 256x128 samples.
      await flatMemoryRun(samples, 3, false, { height: 16, width: 16 });
    } finally {
      await setUpBackend();
    }
  });

  it('the device-resident step (cpu) resumes bit-equal: weights, moments, step counts and pool through their saved forms', async () => {
    await initBackend('cpu', { log: () => {} });
    const config = resolveConfig({ ngf: 4, n_downsample_global: 2, n_blocks_global: 1, ndf: 4, n_layers_D: 2, num_D: 1, instance_feat: true, nef: 4, n_downsample_E: 1 });
    const specs = modelSpecs(config, trainingNetworks(config));
    const hyper = { lr: 2e-4, beta1: 0.5, beta2: 0.999, epsilon: 1e-8 };
    const losses = { gan: 'lsgan', ganFeatLoss: true, lambdaFeat: 10 } as const;
    const steps = async (model: TrainingModel, pool: ImagePool<tf.Tensor>, from: number, to: number): Promise<void> => {
      for (let step = from; step < to; step++) await runDeviceStep(model, syntheticBatch(config, 16, 16, step), losses, pool, 1, step, false, hyper);
    };
    const straight = createTrainingModel(config, 'global', initParams(specs, 5), { adamOnHost: false });
    const straightPool = new ImagePool<tf.Tensor>(3);
    const first = createTrainingModel(config, 'global', initParams(specs, 5), { adamOnHost: false });
    const firstPool = new ImagePool<tf.Tensor>(3);
    let resumed: TrainingModel | undefined;
    const resumedPool = new ImagePool<tf.Tensor>(3);
    try {
      await steps(straight, straightPool, 0, 3);
      await steps(first, firstPool, 0, 2);
      // What a save writes and --resume reads back.
      const saved = await readCheckpointTensors(first);
      const moments = await readOptimizerTensors(first);
      const poolImages = [...(await readStepPool({ onHost: false, pool: firstPool }))];
      resumed = createTrainingModel(config, 'global', loadParams(specs, saved, { source: 'saved', mode: 'strict' }).params, { adamOnHost: false });
      restoreOptimizers(resumed, moments, { G: first.optimizers.G.step, D: first.optimizers.D.step }, 'saved');
      restoreStepPool({ onHost: false, pool: resumedPool }, poolImages);
      await steps(resumed, resumedPool, 2, 3);
      const expected = await readCheckpointTensors(straight);
      const actual = await readCheckpointTensors(resumed);
      for (const [key, tensor] of expected) assert.deepEqual(Buffer.from(actual.get(key)!.data.buffer), Buffer.from(tensor.data.buffer), key);
      const expectedMoments = await readOptimizerTensors(straight);
      const actualMoments = await readOptimizerTensors(resumed);
      for (const [key, tensor] of expectedMoments) assert.deepEqual(Buffer.from(actualMoments.get(key)!.data.buffer), Buffer.from(tensor.data.buffer), key);
    } finally {
      for (const pool of [straightPool, firstPool, resumedPool]) tf.dispose([...pool.stored()]);
      disposeTrainingModel(straight);
      disposeTrainingModel(first);
      if (resumed) disposeTrainingModel(resumed);
      await setUpBackend();
    }
  });

  it('the Adam worker gives the same bits as the in-thread update', async () => {
    const config = resolveConfig({ ngf: 4, n_downsample_global: 2, n_blocks_global: 1, ndf: 4, n_layers_D: 2 });
    const models = [0, 1].map(() => createTrainingModel(config, 'global', initParams(modelSpecs(config, trainingNetworks(config)), 3)));
    const folder = await openSampleFolder(samples);
    const loader = new BatchLoader(folder, { seed: 2, batchSize: 1, serial: true, flip: true, multiple: inputSizeMultiple(config), worker: false });
    const hyper = { lr: 2e-4, beta1: 0.5, beta2: 0.999, epsilon: 1e-8 };
    const adam = new AdamThread(new Map([...models[1]!.optimizers.G.slots, ...models[1]!.optimizers.D.slots]));
    try {
      for (let step = 0; step < 3; step++) {
        const batch = await loader.batch(1, step);
        await runStep(models[0]!, batch, { gan: 'lsgan', ganFeatLoss: true, lambdaFeat: 10 }, new ImagePool(0), 1, step, false, hyper);
        await runStep(models[1]!, batch, { gan: 'lsgan', ganFeatLoss: true, lambdaFeat: 10 }, new ImagePool(0), 1, step, false, hyper, adam);
      }
      for (const name of ['G', 'D'] as const) {
        assert.equal(models[0]!.optimizers[name].step, models[1]!.optimizers[name].step);
        for (const [key, slot] of models[0]!.optimizers[name].slots) {
          const other = models[1]!.optimizers[name].slots.get(key)!;
          assert.deepEqual([...other.weights], [...slot.weights], `${key} weights`);
          assert.deepEqual([...other.v], [...slot.v], `${key} second moment`);
          assert.deepEqual([...models[1]!.variables.get(key)!.dataSync()], [...slot.weights], `${key} uploaded`);
        }
      }
    } finally {
      await adam.close();
      await loader.close();
      for (const model of models) disposeTrainingModel(model);
    }
  });

  it('the Adam worker hands each gradient array back, and the next gradient of that size is read into it', async () => {
    const slot = createSharedSlots([3])[0]!;
    const adam = new AdamThread(new Map([['w', slot]]));
    try {
      const gradient = adam.gradientArray(3);
      assert.deepEqual([...gradient], [0, 0, 0], 'nothing handed back yet: a new array');
      gradient.set([0.5, -1, 2]);
      adam.update('w', gradient, 1, { lr: 0.1, beta1: 0.9, beta2: 0.999, epsilon: 1e-8 });
      await adam.drain();
      // The handed-back array still holds the gradient it carried: it is that array, not a new one.
      assert.deepEqual([...adam.gradientArray(3)], [0.5, -1, 2]);
      assert.deepEqual([...adam.gradientArray(3)], [0, 0, 0], 'one array handed back, one reused');
    } finally {
      await adam.close();
    }
  });

  it('the default architecture at 256x128 fits the wasm heap; 2048x1024 is refused up front with suggestions', () => {
    const config = resolveConfig({ ...DEFAULT_CONFIG });
    const fits = checkTrainingMemory(config, 'global', { height: 128, width: 256 }, 1, 'wasm');
    assert.ok(fits.totalBytes < 4 * 1024 ** 3, `estimate ${fits.totalBytes}`);
    assert.ok(fits.hostBytes > 2e9, 'Adam moments and master weights of 182.5M parameters live outside the heap');
    assert.throws(() => checkTrainingMemory(config, 'global', { height: 1024, width: 2048 }, 1, 'wasm'), (error: unknown) => {
      assert.ok(error instanceof UsageError);
      assert.match(error.message, /GiB/);
      assert.match(error.message, /Try:/);
      return true;
    });
    const local = estimateTrainingMemory(resolveConfig({ ...DEFAULT_CONFIG, netG: 'local', ngf: 32 }), 'local', { height: 512, width: 1024 }, 1);
    assert.ok(local.hostBytes < local.parameterBytes, 'train local keeps Adam state for the enhancer (and D) only');
  });

  it('the paper\'s 512p step (default G1 + 2-scale D at 1024x512) fits the wasm heap; a refused one\'s suggestions fit when followed', () => {
    const config = resolveConfig({ ...DEFAULT_CONFIG });
    const fits = checkTrainingMemory(config, 'global', { height: 512, width: 1024 }, 1, 'wasm');
    assert.ok(fits.totalBytes < 4 * 1024 ** 3, `estimate ${fits.totalBytes}`);
    let message = '';
    assert.throws(() => checkTrainingMemory(config, 'global', { height: 1024, width: 2048 }, 2, 'wasm'), (error: unknown) => {
      assert.ok(error instanceof UsageError);
      message = error.message;
      return true;
    });
    const heap = 4294901760;
    const suggestions = message.slice(message.indexOf('Try: ') + 5).split('; or ');
    let followed = 0;
    for (const suggestion of suggestions) {
      const samples = /^samples of (\d+)x(\d+)/.exec(suggestion);
      const flag = /^--(ngf|n-blocks-global|batch-size) (\d+)$/.exec(suggestion);
      // A followed suggestion may run offloaded (checkTrainingMemory chooses that when only it fits).
      const either = (changed: typeof config, size: { height: number; width: number }, batch: number): number =>
        Math.min(...[false, true].map((offload) => estimateTrainingMemory(changed, 'global', size, batch, { offload }).totalBytes));
      let estimate: number;
      if (samples) estimate = either(config, { width: Number(samples[1]), height: Number(samples[2]) }, 2);
      else if (flag?.[1] === 'batch-size') estimate = either(config, { height: 1024, width: 2048 }, Number(flag[2]));
      else if (flag) estimate = either(resolveConfig({ ...DEFAULT_CONFIG, [flag[1] === 'ngf' ? 'ngf' : 'n_blocks_global']: Number(flag[2]) }), { height: 1024, width: 2048 }, 2);
      else continue;
      followed++;
      assert.ok(estimate <= heap, `"${suggestion}" does not fit: ${estimate}`);
    }
    assert.ok(followed >= 1, `suggestions: ${message}`);
  });

  // The estimate against the heap's measured tensor high-water mark (every
  // allocation the wasm backend makes for tensors, from before the model
  // exists to the end of one lean step).
  const MEASURED = [
    ['G1 ngf 16, 3 downsamplings, 3 blocks, D ndf 16 at 256x128', { ngf: 16, n_downsample_global: 3, n_blocks_global: 3, ndf: 16 }, 128, 256, 1],
    ['the same at 512x256', { ngf: 16, n_downsample_global: 3, n_blocks_global: 3, ndf: 16 }, 256, 512, 1],
    ['G1 ngf 32, 2 downsamplings, 2 blocks, default D, instance features, batch 2, 192x96', { ngf: 32, n_downsample_global: 2, n_blocks_global: 2, instance_feat: true }, 96, 192, 2],
  ] as const;
  for (const [title, overrides, height, width, count] of MEASURED) {
    it(`the estimate is within 15% of the measured peak: ${title}`, () => {
      const config = resolveConfig({ ...DEFAULT_CONFIG, ...overrides });
      stopHeapAccounting();
      const accounting = heapAccounting();
      const model = createTrainingModel(config, 'global', initParams(modelSpecs(config, trainingNetworks(config)), 1), { adamOnHost: true });
      const batch = syntheticBatch(config, height, width, 1, count);
      const input = tf.tensor4d(batch.input, [count, height, width, batch.inputChannels]);
      const real = tf.tensor4d(batch.image, [count, height, width, 3]);
      try {
        const segments = config.instance_feat ? instanceSegments(batch.inst!, count, height, width) : undefined;
        computeStepGradients(model, { input, real, segments }, { gan: 'lsgan', ganFeatLoss: true, lambdaFeat: 10 }, { onGradient: () => {} });
        const estimate = estimateTrainingMemory(config, 'global', { height, width }, count, { packed: false });
        const ratio = estimate.tensorBytes / accounting.peak;
        process.stdout.write(`# ${title}: estimated ${(estimate.tensorBytes / 1e6).toFixed(1)} MB, measured ${(accounting.peak / 1e6).toFixed(1)} MB (${ratio.toFixed(3)}x)\n`);
        assert.ok(Math.abs(ratio - 1) <= 0.15, `estimate ${estimate.tensorBytes} vs measured ${accounting.peak}`);
      } finally {
        tf.dispose([input, real]);
        disposeTrainingModel(model);
        stopHeapAccounting();
      }
    });
  }
});

describe('training memory with --offload-activations (wasm)', () => {
  before(setUpBackend);
  it('the estimate is within 15% of the measured heap peak: train local, small 1024p-style model at 512x256', () => {
    const config = resolveConfig({ ...DEFAULT_CONFIG, netG: 'local', ngf: 16, n_downsample_global: 3, n_blocks_global: 3, ndf: 16 });
    const [height, width] = [256, 512];
    stopHeapAccounting();
    const accounting = heapAccounting();
    const model = createTrainingModel(config, 'local', initParams(modelSpecs(config, trainingNetworks(config)), 1), { adamOnHost: true });
    const batch = syntheticBatch(config, height, width, 1, 1);
    const input = tf.tensor4d(batch.input, [1, height, width, batch.inputChannels]);
    const real = tf.tensor4d(batch.image, [1, height, width, 3]);
    const offload = new SavedTensorOffload();
    try {
      computeStepGradients(model, { input, real }, { gan: 'lsgan', ganFeatLoss: true, lambdaFeat: 10, offload }, { onGradient: () => {} });
      const estimate = estimateTrainingMemory(config, 'local', { height, width }, 1, { packed: false, offload: true });
      const ratio = estimate.tensorBytes / accounting.peak;
      process.stdout.write(`# offloaded: estimated ${(estimate.tensorBytes / 1e6).toFixed(1)} MB, measured ${(accounting.peak / 1e6).toFixed(1)} MB (${ratio.toFixed(3)}x); ${(offload.lastPeakBytes / 1e6).toFixed(1)} MB out of the heap\n`);
      assert.ok(offload.lastPeakBytes > 0, 'nothing was offloaded');
      assert.ok(Math.abs(ratio - 1) <= 0.15, `estimate ${estimate.tensorBytes} vs measured ${accounting.peak}`);
    } finally {
      offload.clear();
      tf.dispose([input, real]);
      disposeTrainingModel(model);
      stopHeapAccounting();
    }
  });

  it('a step the heap holds only offloaded is offloaded; one it cannot hold either way is refused', () => {
    // train global, G1 ngf 32 at 2048x1024: about 6.5 GiB of heap in the heap, 3.9 offloaded.
    const config = resolveConfig({ ...DEFAULT_CONFIG, ngf: 32 });
    const plain = estimateTrainingMemory(config, 'global', { height: 1024, width: 2048 }, 1, { packed: false });
    assert.ok(plain.totalBytes > 4294901760, `without offloading: ${plain.totalBytes}`);
    const chosen = checkTrainingMemory(config, 'global', { height: 1024, width: 2048 }, 1, 'wasm');
    assert.ok(chosen.offload && chosen.offloadBytes > 0 && chosen.totalBytes <= 4294901760, `chosen: ${JSON.stringify(chosen)}`);
    // Not offloaded where the heap holds the step as it is.
    assert.equal(checkTrainingMemory(config, 'global', { height: 128, width: 256 }, 1, 'wasm').offload, false);
    // The 1024p model's joint stage with instance features at 2048x1024 does not fit either way (measured: the heap runs out).
    const feat = resolveConfig({ ...DEFAULT_CONFIG, netG: 'local', ngf: 32, num_D: 3, instance_feat: true });
    assert.throws(() => checkTrainingMemory(feat, 'joint', { height: 1024, width: 2048 }, 1, 'wasm'), UsageError);
  });
});

onWebgpu('training memory on webgpu', (setUp) => {
  let root = '';
  let samples = '';
  before(async () => {
    await setUp();
    ({ root, samples } = await fixtureSamples());
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('a short run through the device step keeps the live tensor count flat', async () => {
    await flatMemoryRun(samples, 4, false);
  });
});

/**
 * `steps` steps through the step the command runs (data loader, encoder
 * features, image pool, sample-strip fake, Adam), host or device path; the
 * live tensor count after step 2 must equal the count after the last.
 */
async function flatMemoryRun(samples: string, steps: number, adamOnHost: boolean, synthetic?: { height: number; width: number }): Promise<void> {
  const config = resolveConfig({ ngf: 4, n_downsample_global: 2, n_blocks_global: 1, ndf: 4, n_layers_D: 2, instance_feat: true, nef: 4, n_downsample_E: 1 });
  const model = createTrainingModel(config, 'global', initParams(modelSpecs(config, trainingNetworks(config)), 1), { adamOnHost });
  const folder = await openSampleFolder(samples);
  const loader = new BatchLoader(folder, { seed: 1, batchSize: 2, serial: false, flip: true, multiple: inputSizeMultiple(config) });
  const hyper = { lr: 2e-4, beta1: 0.5, beta2: 0.999, epsilon: 1e-8 };
  const losses = { gan: 'lsgan', ganFeatLoss: true, lambdaFeat: 10 } as const;
  const hostPool = new ImagePool(3);
  const devicePool = new ImagePool<tf.Tensor>(3);
  const adam = adamOnHost ? new AdamThread(new Map([...model.optimizers.G.slots, ...model.optimizers.D.slots])) : undefined;
  const counts: number[] = [];
  try {
    for (let step = 0; step < steps; step++) {
      const batch = synthetic ? syntheticBatch(config, synthetic.height, synthetic.width, step) : await loader.batch(1 + Math.floor(step / 12), step % 12);
      const outcome = adam
        ? await runStep(model, batch, losses, hostPool, 1, step, step % 3 === 0, hyper, adam)
        : await runDeviceStep(model, batch, losses, devicePool, 1, step, step % 3 === 0, hyper);
      assert.ok(Number.isFinite(outcome.losses.G_GAN));
      if (step % 3 === 0) assert.ok(outcome.strip && outcome.strip.synthesized.length === batch.height * batch.width * 3);
      counts.push(tf.memory().numTensors);
    }
  } finally {
    await adam?.close();
    await loader.close();
    tf.dispose([...devicePool.stored()]);
    disposeTrainingModel(model);
  }
  assert.equal(counts[steps - 1], counts[1], `live tensors: ${counts.join(', ')}`);
}

/** Two samples of stripes: label and instance change every few pixels, the photo is noise. */
function syntheticBatch(config: ArchConfig, height: number, width: number, seed: number, count = 2): Batch {
  const random = new Random(seed);
  const channels = generatorInputChannels({ ...config, instance_feat: false });
  const pixels = count * height * width;
  const input = new Float32Array(pixels * channels);
  const inst = new Int32Array(pixels);
  for (let p = 0; p < pixels; p++) {
    const label = Math.floor((p % width) / 5 + seed) % config.label_nc;
    input[p * channels + label] = 1;
    inst[p] = label;
  }
  const image = random.fillNormal(new Float32Array(pixels * 3), 0, 0.5);
  return { count, height, width, input, inputChannels: channels, image, inst, firstLabel: {} };
}
