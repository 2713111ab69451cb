/**
 * Device memory of the device step on webgpu (Mesa's lavapipe in CI): the
 * estimate's device figure (estimateTrainingMemory(...).deviceBytes) against
 * the high-water mark of the bytes in live GPU buffers over two steps
 * (backend/webgpu/buffer-accounting.ts), within 15%, for small
 * configurations; and Adam's update on the device releasing its temporaries
 * as it goes without changing a bit. Skipped without a WebGPU adapter.
 */
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { poolWebgpuBuffersBelow, releaseDisposedWebgpuBuffers, webgpuBufferAccounting } from '../../src/backend/index.js';
import { DEFAULT_CONFIG, generatorInputChannels, resolveConfig, type ArchConfig } from '../../src/families/pix2pixhd/config.js';
import { modelSpecs, trainingNetworks } from '../../src/families/pix2pixhd/networks.js';
import { initParams } from '../../src/model/params.js';
import { createDeviceMoments, DeviceAdamStep, disposeDeviceMoments } from '../../src/train/deviceAdam.js';
import { runDeviceStep } from '../../src/train/deviceStep.js';
import type { Batch } from '../../src/train/data.js';
import { ImagePool } from '../../src/train/imagePool.js';
import { estimateTrainingMemory } from '../../src/train/memory.js';
import { createTrainingModel, disposeTrainingModel } from '../../src/train/model.js';
import { onWebgpu } from '../support/webgpu.js';
import { setUpBackend } from './helpers.js';

const MIB = 2 ** 20;
const HYPER = { lr: 0.0002, beta1: 0.5, beta2: 0.999, epsilon: 1e-8 };

/** Label bands (one-hot, no instance edges) and a smooth photo: the step's memory depends on the sizes only. */
function bandedBatch(config: ArchConfig, height: number, width: number, seed: number): Batch {
  const channels = generatorInputChannels(config);
  const input = new Float32Array(height * width * channels);
  const image = new Float32Array(height * width * 3);
  for (let p = 0; p < height * width; p++) {
    input[p * channels + ((Math.floor(p / width / 8) + seed) % (channels - 1))] = 1;
    for (let c = 0; c < 3; c++) image[p * 3 + c] = Math.sin(p * 0.01 + c + seed);
  }
  return { count: 1, height, width, input, inputChannels: channels, image, firstLabel: {} };
}

/** Two device steps from fresh weights; the live buffers' high-water mark over both. */
async function measuredLivePeak(config: ArchConfig, width: number, height: number): Promise<number> {
  const accounting = webgpuBufferAccounting();
  assert.ok(accounting, 'webgpu is the backend');
  const model = createTrainingModel(config, 'global', initParams(modelSpecs(config, trainingNetworks(config)), 1));
  try {
    accounting.resetPeak();
    const pool = new ImagePool<tf.Tensor>(0);
    for (let step = 0; step < 2; step++) {
      await runDeviceStep(model, bandedBatch(config, height, width, step), { gan: 'lsgan', ganFeatLoss: true, lambdaFeat: 10 }, pool, 1, step, false, HYPER);
    }
    return accounting.figures().livePeakBytes;
  } finally {
    accounting.stop();
    disposeTrainingModel(model);
  }
}

onWebgpu('device memory on webgpu: the estimate against the live buffers\' peak', (setUp) => {
  before(setUp);
  after(setUpBackend);

  const cases: [string, ArchConfig, number, number][] = [
    ['G1 ngf 16, 2 down, 2 blocks; D 2 x 2 layers, ndf 16', resolveConfig({ ...DEFAULT_CONFIG, ngf: 16, n_downsample_global: 2, n_blocks_global: 2, ndf: 16, n_layers_D: 2 }), 64, 32],
    ['G1 ngf 16, 3 down, 3 blocks; D 2 x 3 layers, ndf 16', resolveConfig({ ...DEFAULT_CONFIG, ngf: 16, n_downsample_global: 3, n_blocks_global: 3, ndf: 16, n_layers_D: 3 }), 128, 64],
  ];
  for (const [title, config, width, height] of cases) {
    it(`${title} at ${width}x${height}: within 15%`, async () => {
      const measured = await measuredLivePeak(config, width, height);
      const estimated = estimateTrainingMemory(config, 'global', { height, width }, 1).deviceBytes;
      process.stdout.write(`# ${width}x${height}: live peak ${(measured / MIB).toFixed(1)} MiB, estimate ${(estimated / MIB).toFixed(1)} MiB (${(estimated / measured).toFixed(3)}x)\n`);
      assert.ok(Math.abs(estimated / measured - 1) <= 0.15, `estimate ${estimated} vs measured ${measured}`);
    });
  }

  it('Adam on the device: the same bits as the plain formulation, and its temporaries released as it goes', async () => {
    const size = 1 << 20;
    const values = (seed: number): Float32Array => Float32Array.from({ length: size }, (_, i) => Math.sin(seed * 1000 + i * 0.37) * 0.5);
    const weights: tf.Variable = tf.variable(tf.tensor1d(values(1)));
    const plain: tf.Variable = tf.variable(tf.tensor1d(values(1)));
    const moments = createDeviceMoments(weights);
    const plainMoments = createDeviceMoments(plain);
    const accounting = webgpuBufferAccounting()!;
    try {
      let updatePeak = 0;
      for (let step = 1; step <= 2; step++) {
        const gradient = tf.tensor1d(values(step + 5));
        const adam = new DeviceAdamStep(step, HYPER);
        accounting.resetPeak();
        const live = accounting.figures().liveBytes;
        adam.update(weights, moments, gradient);
        updatePeak = Math.max(updatePeak, accounting.figures().livePeakBytes - live);
        adam.dispose();
        // torch.optim.Adam's maths, op for op, in one tf.tidy (what deviceAdam.ts did before).
        tf.tidy(() => {
          const m = tf.add(tf.mul(plainMoments.m, HYPER.beta1), tf.mul(gradient, 1 - HYPER.beta1));
          const v = tf.add(tf.mul(plainMoments.v, HYPER.beta2), tf.mul(tf.mul(gradient, gradient), 1 - HYPER.beta2));
          const denom = tf.add(tf.div(tf.sqrt(v), Math.sqrt(1 - HYPER.beta2 ** step)), HYPER.epsilon);
          const updated = tf.sub(plain, tf.mul(tf.div(m, denom), HYPER.lr / (1 - HYPER.beta1 ** step)));
          plainMoments.m.assign(m);
          plainMoments.v.assign(v);
          plain.assign(updated);
        });
        gradient.dispose();
      }
      assert.deepEqual(await weights.data(), await plain.data());
      assert.deepEqual(await moments.v.data(), await plainMoments.v.data());
      // Held to the end of one tf.tidy, the update's thirteen temporaries and the new moments and
      // weights (sixteen buffers of the parameter's size); now the new moments beside the old ones
      // (freed at the next release) and at most four temporaries.
      process.stdout.write(`# Adam update of ${size} floats: ${(updatePeak / (4 * size)).toFixed(1)} parameter-sized buffers above what was live\n`);
      assert.ok(updatePeak <= 6.5 * 4 * size, `the update held ${updatePeak} bytes above what was live`);
    } finally {
      accounting.stop();
      tf.dispose([weights, plain]);
      disposeDeviceMoments(moments);
      disposeDeviceMoments(plainMoments);
    }
  });

  it('poolWebgpuBuffersBelow: a freed buffer at or above the size goes back to the device, a smaller one stays pooled', async () => {
    const accounting = webgpuBufferAccounting()!;
    const freed = async (elements: number): Promise<number> => {
      const input = tf.fill([elements], 2);
      const doubled = tf.add(input, input);
      assert.equal((await doubled.data())[elements - 1], 4);
      const before = accounting.figures().poolBytes;
      tf.dispose([input, doubled]);
      releaseDisposedWebgpuBuffers();
      return before - accounting.figures().poolBytes;
    };
    try {
      poolWebgpuBuffersBelow(1 << 20);
      assert.equal(await freed(1 << 19), 2 * 4 * (1 << 19), 'two 2 MiB buffers given back');
      assert.equal(await freed(1 << 16), 0, 'two 256 KiB buffers kept in the pool');
      poolWebgpuBuffersBelow(0);
      assert.equal(await freed((1 << 19) + 16), 0, 'tfjs pooling again');
    } finally {
      poolWebgpuBuffersBelow(0);
      accounting.stop();
    }
  });
});
