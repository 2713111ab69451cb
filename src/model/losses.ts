/**
 * pix2pixHD's losses (section 3.2, eq. 4), as the reference computes them:
 * the GAN loss (LSGAN or vanilla) summed over the discriminator's scales,
 * discriminator feature matching, and the VGG19 perceptual loss.
 *
 * All return scalars and are differentiable; tensors they create are freed.
 */
import * as tf from '@tensorflow/tfjs-core';
import { conv2d, detach } from '../backend/ops.js';
import { InputError } from '../errors.js';
import type { Tensor } from '../data/formats/tensor.js';

/** GAN objectives: the reference's default (LSGAN) and --no_lsgan (vanilla). */
export const GAN_MODES = Object.freeze({
  lsgan: 'least squares: mean squared error to 1 (real) or 0 (fake)',
  vanilla: 'binary cross-entropy on a sigmoid output (D built with sigmoid: true)',
} as const);
export type GanMode = keyof typeof GAN_MODES;

/** PyTorch's BCELoss clamps log at -100 so that a saturated sigmoid stays finite. */
const BCE_LOG_FLOOR = -100;

/** `x` forward, no gradient backward: the reference's `.detach()` (backend/ops.ts detach). */
export function stopGradient<T extends tf.Tensor>(x: T): T {
  return detach(x);
}

/** Mean absolute difference: torch.nn.L1Loss. */
export function l1Loss(a: tf.Tensor, b: tf.Tensor): tf.Scalar {
  return tf.tidy(() => tf.mean(tf.abs(tf.sub(a, b))) as tf.Scalar);
}

/**
 * The reference's GANLoss: for each scale, the loss of its last output
 * against the all-real (1) or all-fake (0) target, summed over scales.
 */
export function ganLoss(predictions: ReadonlyArray<readonly tf.Tensor[]>, targetIsReal: boolean, mode: GanMode): tf.Scalar {
  return tf.tidy(() => {
    const perScale = predictions.map((outputs) => {
      const prediction = outputs[outputs.length - 1];
      if (prediction === undefined) throw new Error('ganLoss: a scale has no outputs');
      if (mode === 'lsgan') {
        return tf.mean(tf.square(targetIsReal ? tf.sub(prediction, 1) : prediction));
      }
      const probability = targetIsReal ? prediction : tf.sub(1, prediction);
      return tf.neg(tf.mean(tf.maximum(tf.log(probability), BCE_LOG_FLOOR)));
    });
    return tf.addN(perScale) as tf.Scalar;
  });
}

export interface FeatureMatchingOptions {
  readonly nLayersD: number;
  readonly numD: number;
  /** lambda_feat (10 in the reference). */
  readonly lambdaFeat: number;
}

/**
 * Discriminator feature matching: L1 between the fake's and the (detached)
 * real's outputs of every layer but the last, on every scale, weighted
 * (4 / (n_layers_D + 1)) * (1 / num_D) * lambda_feat.
 */
export function featureMatchingLoss(
  fake: ReadonlyArray<readonly tf.Tensor[]>,
  real: ReadonlyArray<readonly tf.Tensor[]>,
  options: FeatureMatchingOptions,
): tf.Scalar {
  return tf.tidy(() => {
    const terms: tf.Scalar[] = [];
    fake.forEach((fakeOutputs, i) => {
      const realOutputs = real[i];
      if (realOutputs === undefined || realOutputs.length !== fakeOutputs.length) {
        throw new Error('featureMatchingLoss: fake and real outputs differ in structure');
      }
      for (let j = 0; j < fakeOutputs.length - 1; j++) terms.push(featureMatchingTerm(fakeOutputs[j]!, realOutputs[j]!, options));
    });
    return featureMatchingSum(terms);
  });
}

/** One layer's term of featureMatchingLoss (a layer's output on the fake and on the real photo; the real one detached). */
export function featureMatchingTerm(fake: tf.Tensor, real: tf.Tensor, options: FeatureMatchingOptions): tf.Scalar {
  const weight = (4 / (options.nLayersD + 1)) * (1 / options.numD) * options.lambdaFeat;
  return tf.tidy(() => tf.mul(l1Loss(fake, stopGradient(real)), weight) as tf.Scalar);
}

/** featureMatchingLoss from its terms, in featureMatchingLoss's order (scales, then layers). */
export function featureMatchingSum(terms: readonly tf.Scalar[]): tf.Scalar {
  return (terms.length === 0 ? tf.scalar(0) : tf.addN(terms as tf.Scalar[])) as tf.Scalar;
}

// ---------------------------------------------------------------------------
// VGG19 perceptual loss.

/**
 * torchvision's vgg19().features up to relu5_1 (index 29): the channel plan
 * of VGG configuration "E", 'M' a 2x2 max pool. Each number is a 3x3 conv
 * (padding 1) at index i followed by a ReLU at i + 1.
 */
const VGG19_PLAN: ReadonlyArray<number | 'M'> = Object.freeze([64, 64, 'M', 128, 128, 'M', 256, 256, 256, 256, 'M', 512, 512, 512, 512, 'M', 512]);
/** The `features` indices of relu1_1, relu2_1, relu3_1, relu4_1, relu5_1: the reference's five slices end there. */
const VGG19_TAPS: readonly number[] = Object.freeze([1, 6, 11, 20, 29]);
/** The reference's weights of the five feature levels. */
export const VGG_LAYER_WEIGHTS: readonly number[] = Object.freeze([1 / 32, 1 / 16, 1 / 8, 1 / 4, 1]);

type VggStep = { kind: 'conv'; index: number; inChannels: number; outChannels: number } | { kind: 'pool' };

function vggSteps(): VggStep[] {
  const steps: VggStep[] = [];
  let index = 0;
  let channels = 3;
  for (const item of VGG19_PLAN) {
    if (item === 'M') {
      steps.push({ kind: 'pool' });
      index += 1;
    } else {
      steps.push({ kind: 'conv', index, inChannels: channels, outChannels: item });
      channels = item;
      index += 2;
    }
  }
  return steps;
}

/** The VGG19 weights (tfjs layout, frozen: plain tensors, never variables). */
export interface Vgg19 {
  readonly weights: ReadonlyMap<string, tf.Tensor>;
}

/** The tensor names the VGG loss needs from a torchvision vgg19().features state_dict. */
export function vgg19TensorNames(): string[] {
  return vggSteps().flatMap((step) => (step.kind === 'conv' ? [`features.${step.index}.weight`, `features.${step.index}.bias`] : []));
}

/**
 * VGG19 from file tensors named `features.N.weight` / `features.N.bias`
 * (a `vgg19.`/`vgg.` prefix is accepted, as exported state_dicts often carry
 * one). A missing or misshapen tensor is exit 3 naming it.
 */
export function loadVgg19(tensors: ReadonlyMap<string, Tensor>, source: string): Vgg19 {
  const find = (name: string): Tensor | undefined => tensors.get(name) ?? tensors.get(`vgg19.${name}`) ?? tensors.get(`vgg.${name}`);
  const weights = new Map<string, tf.Tensor>();
  try {
    for (const step of vggSteps()) {
      if (step.kind !== 'conv') continue;
      const weightName = `features.${step.index}.weight`;
      const biasName = `features.${step.index}.bias`;
      const weight = find(weightName);
      const bias = find(biasName);
      const expected = [step.outChannels, step.inChannels, 3, 3];
      if (weight === undefined) throw new InputError(`${source}: has no tensor "${weightName}" (VGG19 features weights expected)`);
      if (bias === undefined) throw new InputError(`${source}: has no tensor "${biasName}" (VGG19 features weights expected)`);
      if (weight.dtype !== 'F32' || weight.shape.join() !== expected.join()) {
        throw new InputError(`${source}: tensor "${weightName}" is ${weight.dtype} [${weight.shape.join(', ')}], expected F32 [${expected.join(', ')}]`);
      }
      if (bias.dtype !== 'F32' || bias.shape.join() !== String(step.outChannels)) {
        throw new InputError(`${source}: tensor "${biasName}" is ${bias.dtype} [${bias.shape.join(', ')}], expected F32 [${step.outChannels}]`);
      }
      weights.set(weightName, tf.tidy(() => tf.transpose(tf.tensor4d(weight.data as Float32Array, expected as [number, number, number, number]), [2, 3, 1, 0])));
      weights.set(biasName, tf.tensor1d(Float32Array.from(bias.data as Float32Array)));
    }
  } catch (error) {
    tf.dispose([...weights.values()]);
    throw error;
  }
  return { weights };
}

export function disposeVgg19(vgg: Vgg19): void {
  tf.dispose([...vgg.weights.values()]);
}

/** relu1_1 ... relu5_1 of an NHWC image batch, fed as is ([-1, 1], as the reference does). */
export function vgg19Features(vgg: Vgg19, images: tf.Tensor4D): tf.Tensor4D[] {
  return tf.tidy(() => {
    const taps: tf.Tensor4D[] = [];
    let x = images;
    for (const step of vggSteps()) {
      if (step.kind === 'pool') {
        x = tf.maxPool(x, 2, 2, 'valid');
        continue;
      }
      const w = vgg.weights.get(`features.${step.index}.weight`) as tf.Tensor4D;
      const b = vgg.weights.get(`features.${step.index}.bias`)!;
      x = tf.relu(tf.add(conv2d(x, w, 1, 1), b)) as tf.Tensor4D;
      if (VGG19_TAPS.includes(step.index + 1)) taps.push(x);
    }
    return taps;
  });
}

/**
 * The reference's VGGLoss times lambda_feat: sum over the five levels of
 * weight * L1(features(fake), detached features(real)).
 */
export function vggLoss(vgg: Vgg19, fake: tf.Tensor4D, real: tf.Tensor4D, lambdaFeat: number): tf.Scalar {
  return tf.tidy(() => vggLossFromFeatures(vgg, fake, vgg19Features(vgg, stopGradient(real)), lambdaFeat));
}

/**
 * vggLoss with the real images' features given (vgg19Features of them),
 * detached: training computes them before its gradient tape, which then
 * holds none of their activations.
 */
export function vggLossFromFeatures(vgg: Vgg19, fake: tf.Tensor4D, realFeatures: readonly tf.Tensor4D[], lambdaFeat: number): tf.Scalar {
  return tf.tidy(() => {
    const terms = vgg19Features(vgg, fake).map((features, i) =>
      tf.mul(l1Loss(features, stopGradient(realFeatures[i]!)), VGG_LAYER_WEIGHTS[i]!),
    );
    return tf.mul(tf.addN(terms), lambdaFeat) as tf.Scalar;
  });
}
