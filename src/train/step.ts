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
 * loss_G. loss_D reaches G only through fake.detach() (zero), and loss_G
 * reaches D only through the detached copies (zero), so each parameter gets
 * exactly the gradient the reference's separate backward passes give it
 * (PyTorch's loss_G.backward() also fills D's .grad, but optimizer_D
 * zeroes it before loss_D.backward()).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { InstanceSegments } from '../model/encoder.js';
import type { Params } from '../model/layers.js';
import { featureMatchingLoss, ganLoss, stopGradient, vggLoss, type GanMode, type Vgg19 } from '../model/losses.js';
import { discriminate, encodeFeatures, generate } from '../model/networks.js';
import type { Random } from '../model/random.js';
import type { AdamHyperparameters } from './adam.js';
import type { ImagePool } from './imagePool.js';
import { applyAdam, type TrainingModel } from './model.js';

/** The loss names, in the reference's loss_names order. */
export const LOSS_NAMES = Object.freeze(['G_GAN', 'G_GAN_Feat', 'G_VGG', 'D_real', 'D_fake'] as const);
export type LossName = (typeof LOSS_NAMES)[number];
export type LossValues = Record<LossName, number>;

export interface LossSettings {
  readonly gan: GanMode;
  readonly ganFeatLoss: boolean;
  readonly lambdaFeat: number;
  /** The VGG19 weights; without them the VGG loss is off (G_VGG = 0). */
  readonly vgg?: Vgg19;
}

/** A batch as tensors (NHWC). The caller owns and disposes them. */
export interface StepInputs {
  /** concat(one-hot labels, edges). */
  readonly input: tf.Tensor4D;
  /** Photos in [-1, 1]. */
  readonly real: tf.Tensor4D;
  /** Instance segments for E's pooling (--instance-feat). */
  readonly segments?: InstanceSegments;
}

export interface PoolDraw {
  readonly pool: ImagePool;
  readonly random: Random;
}

export interface StepGradients {
  readonly losses: LossValues;
  /** Gradients by parameter key (caller disposes, or applyStep does). */
  readonly gradients: Map<string, tf.Tensor>;
  /** The generated batch, when asked for (for sample strips). */
  readonly fake?: tf.Tensor4D;
}

/** The parameter map with D's trained parameters detached (their buffers stay live, as in PyTorch). */
function withDetachedDiscriminator(model: TrainingModel, params: Params): Map<string, tf.Tensor> {
  const detached = new Map(params);
  for (const key of model.optimizers.D.keys) detached.set(key, stopGradient(params.get(key)!));
  return detached;
}

/**
 * The forward pass and the gradients of every trained parameter. Nothing is
 * updated (except batch-norm running statistics, as in any forward pass).
 */
export function computeStepGradients(
  model: TrainingModel,
  inputs: StepInputs,
  settings: LossSettings,
  options: { pool?: PoolDraw; keepFake?: boolean } = {},
): StepGradients {
  const { config } = model;
  const params: Params = model.variables;
  const forward = { training: true } as const;
  const discriminatorOptions = { training: true, sigmoid: settings.gan === 'vanilla' } as const;
  const trained = [...model.optimizers.G.keys, ...model.optimizers.D.keys].map((key) => model.variables.get(key)!);
  const scalars: Partial<Record<LossName, tf.Scalar>> = {};
  let keptFake: tf.Tensor4D | undefined;

  const { value, grads } = tf.variableGrads(() => {
    let generatorInput = inputs.input;
    if (config.instance_feat) {
      if (!inputs.segments) throw new Error('computeStepGradients: --instance-feat needs the instance segments');
      generatorInput = tf.concat([inputs.input, encodeFeatures(config, params, inputs.real, inputs.segments, forward)], 3);
    }
    const fake = generate(config, params, generatorInput, forward);
    if (options.keepFake) keptFake = tf.keep(fake.clone());

    let poolInput = tf.concat([inputs.input, stopGradient(fake)], 3);
    if (options.pool && options.pool.pool.capacity > 0) {
      const drawn = options.pool.pool.query(poolInput.dataSync() as Float32Array, poolInput.shape[0], options.pool.random);
      poolInput = tf.tensor4d(drawn, poolInput.shape);
    }
    const predFakePool = discriminate(config, params, poolInput, discriminatorOptions);
    const predReal = discriminate(config, params, tf.concat([inputs.input, inputs.real], 3), discriminatorOptions);
    const predFake = discriminate(config, withDetachedDiscriminator(model, params), tf.concat([inputs.input, fake], 3), discriminatorOptions);

    const losses: Record<LossName, tf.Scalar> = {
      D_fake: ganLoss(predFakePool, false, settings.gan),
      D_real: ganLoss(predReal, true, settings.gan),
      G_GAN: ganLoss(predFake, true, settings.gan),
      G_GAN_Feat: settings.ganFeatLoss
        ? featureMatchingLoss(predFake, predReal, { nLayersD: config.n_layers_D, numD: config.num_D, lambdaFeat: settings.lambdaFeat })
        : tf.scalar(0),
      G_VGG: settings.vgg ? vggLoss(settings.vgg, fake, inputs.real, settings.lambdaFeat) : tf.scalar(0),
    };
    for (const name of LOSS_NAMES) scalars[name] = tf.keep(losses[name].clone());
    const lossG = tf.addN([losses.G_GAN, losses.G_GAN_Feat, losses.G_VGG]);
    const lossD = tf.mul(tf.add(losses.D_fake, losses.D_real), 0.5);
    return tf.add(lossG, lossD) as tf.Scalar;
  }, trained);
  value.dispose();

  const losses = {} as LossValues;
  for (const name of LOSS_NAMES) {
    losses[name] = scalars[name]!.dataSync()[0]!;
    scalars[name]!.dispose();
  }
  const gradients = new Map<string, tf.Tensor>();
  for (const [key, variable] of model.variables) {
    const gradient = grads[variable.name];
    if (gradient !== undefined) gradients.set(key, gradient);
  }
  return { losses, gradients, fake: keptFake };
}

/** The first loss that is NaN or infinite, if any. */
export function nonFiniteLoss(losses: LossValues): LossName | undefined {
  return LOSS_NAMES.find((name) => !Number.isFinite(losses[name]));
}

/** Adam on G (+ E) then on D, from one step's gradients (which are disposed). */
export function applyStep(model: TrainingModel, gradients: Map<string, tf.Tensor>, hyper: AdamHyperparameters): void {
  try {
    applyAdam(model, 'G', gradients, hyper);
    applyAdam(model, 'D', gradients, hyper);
  } finally {
    for (const gradient of gradients.values()) gradient.dispose();
    gradients.clear();
  }
}
