/**
 * One training iteration, as the reference's Pix2PixHDModel.forward plus the
 * two optimizer steps of train.py:
 *
 *   features = E(real) pooled per instance            (--instance-feat)
 *   fake     = G(concat(input, features))
 *   D_fake   = GAN(D(concat(input, fake.detach()) through the pool), false)
 *   D_real   = GAN(D(concat(input, real)), true)
 *   G_GAN    = GAN(D(concat(input, fake)), true)
 *   G_GAN_Feat = feature matching(D(fake) layers, D(real) layers detached)
 *   G_VGG    = VGG(fake, real) * lambda_feat          (--vgg-weights)
 *   loss_G = G_GAN + G_GAN_Feat + G_VGG;  loss_D = 0.5 (D_fake + D_real)
 *   Adam on G (+ E) with d loss_G, then Adam on D with d loss_D.
 *
 * Both gradients come from one forward pass and one backward pass: we
 * differentiate loss_G + loss_D with respect to G's, E's and D's trained
 * parameters, with D's parameters detached in the forward pass that feeds
 * loss_G (they enter it outside the gradient sinks below). loss_D reaches G only through fake.detach() (zero), and loss_G
 * reaches D only through the detached copies (zero), so each parameter gets
 * exactly the gradient the reference's separate backward passes give it
 * (PyTorch's loss_G.backward() also fills D's .grad, but optimizer_D
 * zeroes it before loss_D.backward()).
 *
 * Two exact rewrites save work (same sums, other order): D's input is
 * concat(condition, image), so each scale's first conv is the condition's
 * part (computed once for the three passes when the image pool is off) plus
 * the image's; and with instance features, G's first convs return no input
 * gradient for the label channels before the features (conv2dConstantPrefix).
 *
 * Memory: the backward pass is the lean schedule (backend/leanGradients.ts):
 * it frees each tensor the forward pass saved, and each gradient, at its
 * last use, and the layers save little (conv units, D's opening unit:
 * backend/convUnit.ts); --checkpoint-activations recomputes the residual
 * blocks (ForwardOptions.checkpointResidualBlocks). tfjs's own walk
 * (schedule 'tape') gives the same bits and holds everything to the end.
 * Weight gradients never pile up either way: each trained weight enters
 * the forward pass through a "gradient sink", an identity whose backward
 * copies the incoming gradient out (to JavaScript memory, or to Adam on the
 * device) and frees it at once. The sinks take a shared scalar anchor as a
 * second input; differentiating with respect to the anchor alone puts every
 * sink on the backward path, so the weights' gradients are produced, moved
 * out, and never accumulate on the heap (model/gradientSinks.ts).
 */
import * as tf from '@tensorflow/tfjs-core';
import { copyValuesInto, ownedValues } from '../backend/buffers.js';
import { leanVariableGrads, withDerivedTensorScope, type SavedTensorOffload } from '../backend/index.js';
import type { InstanceSegments } from '../families/pix2pixhd/encoder.js';
import type { ForwardOptions } from '../model/layers.js';
import { SinkingParams } from '../model/gradientSinks.js';
import { featureMatchingSum, featureMatchingTerm, ganLoss, stopGradient, vgg19Features, vggLossFromFeatures, type GanMode, type Vgg19 } from '../model/losses.js';
import { discriminate, discriminateImage, discriminatorCondition, discriminatorConditionPyramid, encodeFeatures, generate } from '../families/pix2pixhd/networks.js';
import type { Random } from '../model/random.js';
import type { AdamHyperparameters } from './adam.js';
import { PIX2PIXHD_LOSS_NAMES } from '../families/pix2pixhd/index.js';
import type { Batch } from './data.js';
import type { ImagePool } from './imagePool.js';
import { applyAdam, type TrainingModel } from './model.js';

/** The loss names pix2pixHD's card declares (the reference's loss_names order). */
export const LOSS_NAMES = PIX2PIXHD_LOSS_NAMES;
export type LossName = (typeof LOSS_NAMES)[number];
export type LossValues = Record<LossName, number>;

/** What one step reports: its losses and, when asked for, the first image of a sample strip. */
export interface StepOutcome {
  losses: LossValues;
  strip?: { width: number; height: number; label: Batch['firstLabel']; synthesized: Float32Array; real: Float32Array };
}

export interface LossSettings {
  readonly gan: GanMode;
  readonly ganFeatLoss: boolean;
  readonly lambdaFeat: number;
  /** The VGG19 weights; without them the VGG loss is off (G_VGG = 0). */
  readonly vgg?: Vgg19;
  /** Not a loss: how the step runs. Recompute the residual blocks in backward (--checkpoint-activations; same bits, less memory). */
  readonly checkpointActivations?: boolean;
  /** Not a loss either: where large saved tensors wait out of the wasm heap between the passes (same bits; wasm only). */
  readonly offload?: SavedTensorOffload;
}

/** A batch as tensors (NHWC). The caller owns and disposes them. */
export interface StepInputs {
  /** concat(one-hot labels, edges). */
  readonly input: tf.Tensor4D;
  /** Photos in [-1, 1]. */
  readonly real: tf.Tensor4D;
  /** Instance segments for E's pooling (--instance-feat; per label with --label-feat). */
  readonly segments?: InstanceSegments;
  /** Precomputed feature maps (--load-features): G takes them and E does not run. */
  readonly features?: tf.Tensor4D;
}

export interface PoolDraw {
  readonly pool: ImagePool;
  readonly random: Random;
}

export interface StepGradients {
  readonly losses: LossValues;
  /**
   * Gradients by parameter key, in JavaScript memory (tfjs layout); empty
   * when they went to `onGradient`, or when a loss is not finite (the step
   * must then not be applied).
   */
  readonly gradients: Map<string, Float32Array>;
  /** The first generated image, [H * W * 3] (NHWC), when asked for (for sample strips). */
  readonly fake?: Float32Array;
}

/**
 * How the backward pass is scheduled: `lean` (the default) walks the
 * recorded operations itself and frees every saved tensor and gradient at
 * its last use (backend/leanGradients.ts); `tape` is tfjs's own
 * variableGrads, which holds them all until the pass ends. Both call the
 * same gradient functions in the same order and sum in the same order: the
 * same bits (test/train/lean.test.ts), at a fraction of the memory.
 */
export type StepSchedule = 'lean' | 'tape';

/** What differs between the host step and the device step, around the one shared pass. */
interface PassHooks {
  readonly schedule: StepSchedule;
  /** Each trained weight's gradient as the backward pass produces it; freed right after. */
  readonly receive: (key: string, gradient: tf.Tensor) => void;
  /** D's fake input after the image pool. */
  readonly throughPool: (poolInput: tf.Tensor4D) => tf.Tensor4D;
  /** Whether the pool may swap the fake for an older one (capacity > 0); otherwise throughPool is the identity. */
  readonly poolActive: boolean;
  /** The loss scalars, at the end of the forward pass (before the backward pass). */
  readonly onLosses: (scalars: Readonly<Record<LossName, tf.Scalar>>) => void;
  readonly keepFake: boolean;
}

/**
 * The forward pass and the backward pass; gradients go to `hooks.receive`.
 * Returns the first generated image (kept) when asked for.
 */
function forwardBackward(model: TrainingModel, inputs: StepInputs, settings: LossSettings, hooks: PassHooks): tf.Tensor4D | undefined {
  const { config } = model;
  const forward: ForwardOptions = { training: true, checkpointResidualBlocks: settings.checkpointActivations === true };
  const discriminatorOptions = { training: true, sigmoid: settings.gan === 'vanilla' } as const;
  let keptFake: tf.Tensor4D | undefined;
  const anchor = tf.tidy(() => tf.variable(tf.scalar(0), true));
  // The real photos' VGG features are constants of the loss: computed before
  // the tape, which then keeps none of their activations until backward ends.
  const realVgg = settings.vgg ? vgg19Features(settings.vgg, inputs.real) : undefined;
  // Likewise the condition's pyramid for D (labels and boundaries, which nothing trains).
  const conditionPyramid = discriminatorConditionPyramid(config, inputs.input);
  try {
    const differentiate =
      hooks.schedule === 'tape' ? tf.variableGrads : (f: () => tf.Scalar, xs: tf.Variable[]) => leanVariableGrads(f, xs, { offload: settings.offload });
    const { value, grads } = differentiate(() => {
      const params = new SinkingParams(model.variables, model.optimizerOf, anchor, hooks.receive);
      let generatorInput = inputs.input;
      let generatorOptions: ForwardOptions = forward;
      if (config.instance_feat && inputs.features) {
        generatorInput = tf.concat([inputs.input, inputs.features], 3);
      } else if (config.instance_feat) {
        if (!inputs.segments) throw new Error('computeStepGradients: --instance-feat needs the instance segments');
        generatorInput = tf.concat([inputs.input, encodeFeatures(config, params, inputs.real, inputs.segments, forward)], 3);
        // E's features come after the labels: only their channels of G's input need a gradient.
        generatorOptions = { ...forward, constantInputChannels: inputs.input.shape[3] };
      }
      const fake = generate(config, params, generatorInput, generatorOptions);
      if (hooks.keepFake) keptFake = tf.keep(tf.slice(fake, [0, 0, 0, 0], [1, -1, -1, -1]));

      // The condition's part of D's first convs, once for the three passes
      // (see discriminatorConditionTerms), with D's weights behind their sinks.
      const conditionTerms = discriminatorCondition(config, params, conditionPyramid);
      // A drawn pool image comes with the labels it was generated from: that pass takes the concatenated form.
      const predFakePool = hooks.poolActive
        ? discriminate(config, params, hooks.throughPool(tf.concat([inputs.input, stopGradient(fake)], 3)), discriminatorOptions)
        : discriminateImage(config, params, conditionTerms, stopGradient(fake), discriminatorOptions);
      // Only this pass's loss is needed later: its layer outputs go now (what the tape saved of them
      // can then leave the heap), not at the end of the forward pass. Same ops, same bits.
      const lossDFake = ganLoss(predFakePool, false, settings.gan);
      tf.dispose(predFakePool.flat());
      const predReal = discriminateImage(config, params, conditionTerms, inputs.real, discriminatorOptions);
      const lossDReal = ganLoss(predReal, true, settings.gan);
      // Feature matching, term by term as the fake's pass makes each layer's
      // output: each real output goes once matched, and the backward pass
      // meets each term beside its layer instead of holding every layer's
      // gradient from its start. Each output's gradient sums two terms
      // either way (the next layer's, the match's), and a + b = b + a: same bits.
      const matchingTerms: tf.Scalar[] = [];
      const matching = { nLayersD: config.n_layers_D, numD: config.num_D, lambdaFeat: settings.lambdaFeat };
      const matchOutput = (level: number, index: number, output: tf.Tensor4D): void => {
        const real = predReal[level]!;
        if (index >= real.length - 1) return;
        matchingTerms.push(tf.keep(featureMatchingTerm(output, real[index]!, matching)));
        real[index]!.dispose();
      };
      // D's weights enter this pass directly, not through sinks: they are off
      // the backward path, so loss_G reaches G (through fake) but not D; the
      // shared condition terms enter detached for the same reason.
      const predFake = discriminateImage(config, model.variables, conditionTerms.map((term) => stopGradient(term)), fake, {
        ...discriminatorOptions,
        ...(settings.ganFeatLoss ? { onOutput: matchOutput } : {}),
      });

      // Kept past D's tidy by matchOutput: theirs to free once summed (the tape needs only their shapes).
      const featureMatching = settings.ganFeatLoss ? featureMatchingSum(matchingTerms) : tf.scalar(0);
      tf.dispose(matchingTerms);
      const scalars: Record<LossName, tf.Scalar> = {
        D_fake: lossDFake,
        D_real: lossDReal,
        G_GAN: ganLoss(predFake, true, settings.gan),
        G_GAN_Feat: featureMatching,
        G_VGG: settings.vgg && realVgg ? vggLossFromFeatures(settings.vgg, fake, realVgg, settings.lambdaFeat) : tf.scalar(0),
      };
      hooks.onLosses(scalars);
      const lossG = tf.addN([scalars.G_GAN, scalars.G_GAN_Feat, scalars.G_VGG]);
      const lossD = tf.mul(tf.add(scalars.D_fake, scalars.D_real), 0.5);
      return tf.add(lossG, lossD) as tf.Scalar;
    }, [anchor]);
    value.dispose();
    tf.dispose(Object.values(grads));
  } catch (error) {
    keptFake?.dispose();
    throw error;
  } finally {
    anchor.dispose();
    tf.dispose(conditionPyramid);
    if (realVgg) tf.dispose(realVgg);
  }
  return keptFake;
}

/**
 * The forward pass and the gradients of every trained parameter, read to
 * the host (the wasm path). Nothing is updated (except batch-norm running
 * statistics, as in any forward pass).
 */
export function computeStepGradients(
  model: TrainingModel,
  inputs: StepInputs,
  settings: LossSettings,
  options: {
    pool?: PoolDraw;
    keepFake?: boolean;
    /** Receives each weight gradient as soon as the backward pass produces it (instead of the returned map). */
    onGradient?: (key: string, gradient: Float32Array) => void;
    /** Where to read a gradient of `length` floats (the caller's reused arrays); a new array otherwise. */
    gradientArray?: (length: number) => Float32Array;
    schedule?: StepSchedule;
  } = {},
): StepGradients {
  const losses = {} as LossValues;
  const gradients = new Map<string, Float32Array>();
  // Set at the end of the forward pass when a loss is NaN or infinite: the
  // backward pass still runs, but its gradients go nowhere.
  let discard = false;
  // D's filters meet three passes and three input gradients: its kernels keep what they derive from them until the step ends.
  const keptFake = withDerivedTensorScope(() => forwardBackward(model, inputs, settings, {
    schedule: options.schedule ?? 'lean',
    keepFake: options.keepFake === true,
    receive: (key, tensor) => {
      if (discard) return;
      // Ours to keep (and to transfer to another thread).
      const gradient = options.gradientArray ? copyValuesInto(tensor, options.gradientArray(tensor.size)) : ownedValues(tensor);
      if (options.onGradient) options.onGradient(key, gradient);
      else gradients.set(key, gradient);
    },
    poolActive: options.pool !== undefined && options.pool.pool.capacity > 0,
    throughPool: (poolInput) => {
      if (!options.pool || options.pool.pool.capacity === 0) return poolInput;
      const drawn = options.pool.pool.query(poolInput.dataSync() as Float32Array, poolInput.shape[0], options.pool.random);
      return tf.tensor4d(drawn, poolInput.shape);
    },
    onLosses: (scalars) => {
      for (const name of LOSS_NAMES) losses[name] = scalars[name].dataSync()[0]!;
      discard = nonFiniteLoss(losses) !== undefined;
    },
  }));
  let fake: Float32Array | undefined;
  if (keptFake) {
    fake = ownedValues(keptFake);
    keptFake.dispose();
  }
  return { losses, gradients, fake };
}

/** A device step's results, still on the device (kept: the caller disposes them). */
export interface DeviceStepResult {
  /** The five losses in LOSS_NAMES order. */
  readonly losses: tf.Tensor1D;
  /** The first generated image [1, H, W, 3], when asked for. */
  readonly fake?: tf.Tensor4D;
}

/**
 * The same pass for a device-resident step: nothing is read back. Each
 * gradient goes to `onGradient` as a tensor (Adam on the device consumes it
 * before the sink frees it); the pool holds tensors; the losses come back
 * as one tensor to read asynchronously. A non-finite loss is known only
 * after the step: the caller stops without saving, so the updated weights
 * are never kept.
 */
export function computeDeviceStep(
  model: TrainingModel,
  inputs: StepInputs,
  settings: LossSettings,
  options: {
    pool?: { readonly pool: ImagePool<tf.Tensor>; readonly random: Random };
    keepFake?: boolean;
    onGradient: (key: string, gradient: tf.Tensor) => void;
    schedule?: StepSchedule;
  },
): DeviceStepResult {
  let losses: tf.Tensor1D | undefined;
  const fake = forwardBackward(model, inputs, settings, {
    schedule: options.schedule ?? 'lean',
    keepFake: options.keepFake === true,
    receive: options.onGradient,
    poolActive: options.pool !== undefined && options.pool.pool.capacity > 0,
    throughPool: (poolInput) => {
      const pool = options.pool;
      if (!pool || pool.pool.capacity === 0) return poolInput;
      const count = poolInput.shape[0];
      // Flat per-image tensors: the pool's saved form, whatever the shape.
      const images = tf.split(poolInput, count, 0).map((image) => tf.reshape(image, [-1]));
      const { shown, stored, released } = pool.pool.draw(images, pool.random);
      for (const image of stored) tf.keep(image);
      const drawn = tf.reshape(tf.concat(shown, 0), poolInput.shape) as tf.Tensor4D;
      // Images leaving the pool were kept by it: concat copied them.
      for (const image of released) image.dispose();
      return drawn;
    },
    onLosses: (scalars) => {
      losses = tf.keep(tf.stack(LOSS_NAMES.map((name) => scalars[name]))) as tf.Tensor1D;
    },
  });
  return { losses: losses!, fake };
}

/** The first loss that is NaN or infinite, if any. */
export function nonFiniteLoss(losses: LossValues): LossName | undefined {
  return LOSS_NAMES.find((name) => !Number.isFinite(losses[name]));
}

/** Adam on G (+ E) then on D, from one step's gradients. */
export function applyStep(model: TrainingModel, gradients: ReadonlyMap<string, Float32Array>, hyper: AdamHyperparameters): void {
  applyAdam(model, 'G', gradients, hyper);
  applyAdam(model, 'D', gradients, hyper);
}
