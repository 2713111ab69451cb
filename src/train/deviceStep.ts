/**
 * The training step on the device (every backend but wasm; see
 * backend/capabilities.ts): weights, gradients, Adam's moments and the image
 * pool stay on the device; Adam updates each weight as the backward pass
 * produces its gradient (deviceAdam.ts); the only read per step is the five
 * losses, asynchronous (plus the sample image on sample steps).
 */
import * as tf from '@tensorflow/tfjs-core';
import { checkWebgpuErrors } from '../backend/index.js';
import { instanceSegments } from '../families/pix2pixhd/encoder.js';
import { Random } from '../model/random.js';
import type { AdamHyperparameters } from './adam.js';
import { DeviceAdamStep } from './deviceAdam.js';
import { ImagePool } from './imagePool.js';
import type { TrainingModel } from './model.js';
import type { Batch } from './data.js';
import { computeDeviceStep, LOSS_NAMES, type LossSettings, type LossValues, type StepOutcome } from './step.js';

/**
 * One step on one batch, on the device. The image pool holds flat device
 * tensors (a pool restored from a file is uploaded by restoreStepPool).
 * A non-finite loss is found only after the update: the caller stops
 * without saving, so the damaged weights are never kept.
 */
export async function runDeviceStep(
  model: TrainingModel,
  batch: Batch,
  losses: LossSettings,
  pool: ImagePool<tf.Tensor>,
  seed: number,
  stepDone: number,
  keepFake: boolean,
  hyper: AdamHyperparameters,
): Promise<StepOutcome> {
  const { count, height, width } = batch;
  const input = tf.tensor4d(batch.input, [count, height, width, batch.inputChannels]);
  const real = tf.tensor4d(batch.image, [count, height, width, 3]);
  const nextStep = { G: model.optimizers.G.step + 1, D: model.optimizers.D.step + 1 };
  const adamSteps = { G: new DeviceAdamStep(nextStep.G, hyper), D: new DeviceAdamStep(nextStep.D, hyper) };
  let updated = 0;
  try {
    const segments = model.config.instance_feat && batch.inst ? instanceSegments(batch.inst, count, height, width) : undefined;
    const result = computeDeviceStep(model, { input, real, segments }, losses, {
      pool: { pool, random: Random.forLabel(seed, `image-pool/step-${stepDone + 1}`) },
      keepFake,
      onGradient: (key, gradient) => {
        const name = model.optimizerOf.get(key)!;
        adamSteps[name].update(model.variables.get(key)!, model.optimizers[name].moments.get(key)!, gradient);
        updated += 1;
      },
    });
    // Every trained parameter lies on the loss's path; a missing gradient is a bug.
    if (updated !== model.optimizerOf.size) {
      tf.dispose([result.losses, ...(result.fake ? [result.fake] : [])]);
      throw new Error(`runDeviceStep: ${updated} gradients for ${model.optimizerOf.size} trained parameters`);
    }
    model.optimizers.G.step = nextStep.G;
    model.optimizers.D.step = nextStep.D;
    let values: Float32Array;
    let synthesized: Float32Array | undefined;
    try {
      values = (await result.losses.data()) as Float32Array;
      if (result.fake) synthesized = (await result.fake.data()) as Float32Array;
      // Dawn's validation and out-of-memory errors are silent in tfjs: raised here, once per step.
      await checkWebgpuErrors();
    } finally {
      tf.dispose([result.losses, ...(result.fake ? [result.fake] : [])]);
    }
    const outcome: StepOutcome = { losses: Object.fromEntries(LOSS_NAMES.map((name, i) => [name, values[i]!])) as LossValues };
    if (synthesized) outcome.strip = { width, height, label: batch.firstLabel, synthesized, real: batch.image.subarray(0, height * width * 3) };
    return outcome;
  } finally {
    adamSteps.G.dispose();
    adamSteps.D.dispose();
    tf.dispose([input, real]);
  }
}

/** The image pool of either step: Float32Arrays on the host path, flat tensors on the device path. */
export type StepPool = { readonly onHost: true; readonly pool: ImagePool } | { readonly onHost: false; readonly pool: ImagePool<tf.Tensor> };

export function createStepPool(capacity: number, onHost: boolean): StepPool {
  return onHost ? { onHost, pool: new ImagePool(capacity) } : { onHost, pool: new ImagePool<tf.Tensor>(capacity) };
}

/** Restores a saved pool (uploading the images on the device path). */
export function restoreStepPool(pool: StepPool, images: Float32Array[]): void {
  if (pool.onHost) pool.pool.restore(images);
  else pool.pool.restore(images.map((image) => tf.tensor1d(image, 'float32')));
}

/** The pool's images, read back for the optimizer file. */
export async function readStepPool(pool: StepPool): Promise<readonly Float32Array[]> {
  if (pool.onHost) return pool.pool.stored();
  const images: Float32Array[] = [];
  for (const image of pool.pool.stored()) images.push((await image.data()) as Float32Array);
  return images;
}

export function disposeStepPool(pool: StepPool): void {
  if (!pool.onHost) tf.dispose([...pool.pool.stored()]);
}
