/**
 * Adam on the device (every backend but wasm): the moments are tf.Variables
 * beside the weights, and each update is a handful of element-wise ops run
 * the moment the backward pass produces a weight's gradient, so gradients
 * never pile up and nothing crosses to the host.
 *
 * The maths is torch.optim.Adam's (PyTorch 1.13, single-tensor path, no
 * weight decay, no amsgrad), op for op in float32:
 *
 *   m = beta1 m + (1 - beta1) g
 *   v = beta2 v + (1 - beta2) g g
 *   denom = sqrt(v) / sqrt(1 - beta2^t) + eps        (eps after the correction)
 *   w = w - (lr / (1 - beta1^t)) m / denom
 *
 * with t the 1-based step count and the bias corrections in double
 * precision, as torch computes them in Python floats. The host Adam
 * (adam.ts) rounds less often; both agree within float noise.
 */
import * as tf from '@tensorflow/tfjs-core';
import { releaseDisposedWebgpuBuffers } from '../backend/index.js';
import type { AdamHyperparameters } from './adam.js';

/** Parameters from this size on (elements; 1 MiB) release their update's temporaries between its stages (webgpu). */
const RELEASE_AT_ELEMENTS = 1 << 18;

/** The moments of one parameter tensor. */
export interface DeviceMoments {
  /** exp_avg */
  readonly m: tf.Variable;
  /** exp_avg_sq */
  readonly v: tf.Variable;
}

export function createDeviceMoments(like: tf.Tensor): DeviceMoments {
  return tf.tidy(() => ({ m: tf.variable(tf.zerosLike(like), false), v: tf.variable(tf.zerosLike(like), false) }));
}

export function disposeDeviceMoments(moments: DeviceMoments): void {
  moments.m.dispose();
  moments.v.dispose();
}

/**
 * The constants of one Adam step (one step count, one lr) as device
 * scalars, made once per step and shared by every parameter's update.
 */
export class DeviceAdamStep {
  private readonly beta1: tf.Scalar;
  private readonly oneMinusBeta1: tf.Scalar;
  private readonly beta2: tf.Scalar;
  private readonly oneMinusBeta2: tf.Scalar;
  private readonly biasCorrection2Sqrt: tf.Scalar;
  private readonly epsilon: tf.Scalar;
  private readonly stepSize: tf.Scalar;

  /** `step`: the 1-based step count after this update (torch increments state['step'] first). */
  constructor(step: number, hyper: AdamHyperparameters) {
    const { lr, beta1, beta2, epsilon } = hyper;
    this.beta1 = tf.keep(tf.scalar(beta1));
    this.oneMinusBeta1 = tf.keep(tf.scalar(1 - beta1));
    this.beta2 = tf.keep(tf.scalar(beta2));
    this.oneMinusBeta2 = tf.keep(tf.scalar(1 - beta2));
    this.biasCorrection2Sqrt = tf.keep(tf.scalar(Math.sqrt(1 - beta2 ** step)));
    this.epsilon = tf.keep(tf.scalar(epsilon));
    this.stepSize = tf.keep(tf.scalar(lr / (1 - beta1 ** step)));
  }

  /** Updates `weights` and `moments` in place (new values assigned) from `gradient`, which stays the caller's. */
  update(weights: tf.Variable, moments: DeviceMoments, gradient: tf.Tensor): void {
    if (gradient.size !== weights.size) {
      throw new RangeError(`DeviceAdamStep: gradient has ${gradient.size} elements, weights ${weights.size}`);
    }
    // The same ops in the same order as torch (the same bits as before), but each temporary is freed
    // as soon as it is used and each moment assigned as soon as it is made, and on webgpu the freed
    // buffers go back to the pool between the stages (tfjs holds a disposed tensor's buffer until its
    // queue is next submitted): a few temporaries of the parameter's size are live at once, not
    // thirteen. That counts twice on webgpu: in the step's peak, and in tfjs's buffer pool, which keeps
    // as many buffers of each parameter size as were ever live at once.
    const release = weights.size >= RELEASE_AT_ELEMENTS ? releaseDisposedWebgpuBuffers : (): void => {};
    tf.tidy(() => {
      const g = tf.reshape(gradient, weights.shape);
      /** op(...) then frees `spent` (temporaries made here). */
      const then = (result: tf.Tensor, ...spent: tf.Tensor[]): tf.Tensor => {
        tf.dispose(spent);
        return result;
      };
      // exp_avg.mul_(beta1).add_(grad, alpha=1 - beta1)
      const decayedM = tf.mul(moments.m, this.beta1);
      const scaledG = tf.mul(g, this.oneMinusBeta1);
      const m = then(tf.add(decayedM, scaledG), decayedM, scaledG);
      moments.m.assign(m);
      release();
      // exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
      const decayedV = tf.mul(moments.v, this.beta2);
      const squared = tf.mul(g, g);
      const scaledSquared = then(tf.mul(squared, this.oneMinusBeta2), squared);
      const v = then(tf.add(decayedV, scaledSquared), decayedV, scaledSquared);
      moments.v.assign(v);
      release();
      // denom = (exp_avg_sq.sqrt() / sqrt(bias_correction2)).add_(eps)
      const root = tf.sqrt(v);
      const corrected = then(tf.div(root, this.biasCorrection2Sqrt), root);
      const denom = then(tf.add(corrected, this.epsilon), corrected);
      release();
      // param.addcdiv_(exp_avg, denom, value=-step_size)
      const ratio = then(tf.div(m, denom), denom);
      const step = then(tf.mul(ratio, this.stepSize), ratio);
      weights.assign(then(tf.sub(weights, step), step));
    });
    release();
  }

  dispose(): void {
    tf.dispose([this.beta1, this.oneMinusBeta1, this.beta2, this.oneMinusBeta2, this.biasCorrection2Sqrt, this.epsilon, this.stepSize]);
  }
}
