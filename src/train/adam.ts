/**
 * Adam, as torch.optim.Adam (PyTorch 1.13, single-tensor path, no weight
 * decay, no amsgrad), over plain Float32Arrays.
 *
 * Why in JavaScript and not as tfjs ops: for the reference's default
 * architecture the weights, gradients and two moments are ~2.9 GB, and the
 * wasm backend's heap stops at 4 GB. Keeping the moments (and the master copy
 * of the weights) in ordinary ArrayBuffers, outside the wasm heap, leaves
 * the heap for the weights the networks read, their gradients and the
 * activations. The update is a single pass per tensor, cheap next to a step.
 *
 * Arithmetic: torch computes each operation in float32 with rounding between
 * operations; the moment updates below round the same way (Math.fround), so
 * moments match torch's bit for bit on the same gradients. The parameter
 * update may differ from torch's in the last bit (the golden README's rule
 * allows for that).
 */

export interface AdamHyperparameters {
  lr: number;
  beta1: number;
  beta2: number;
  epsilon: number;
}

/** The state of one parameter tensor. */
export interface AdamSlot {
  /** The master copy of the weights, updated in place. */
  readonly weights: Float32Array;
  /** First moment (exp_avg). */
  readonly m: Float32Array;
  /** Second moment (exp_avg_sq). */
  readonly v: Float32Array;
}

export function createSlot(weights: Float32Array): AdamSlot {
  return { weights, m: new Float32Array(weights.length), v: new Float32Array(weights.length) };
}

const f32 = Math.fround;

/**
 * One Adam update of `slot` with `gradient`; `step` is the 1-based step
 * count after this update (torch increments state['step'] before using it).
 */
export function adamUpdate(slot: AdamSlot, gradient: Float32Array, step: number, hyper: AdamHyperparameters): void {
  const { weights, m, v } = slot;
  if (gradient.length !== weights.length) {
    throw new RangeError(`adamUpdate: gradient has ${gradient.length} elements, weights ${weights.length}`);
  }
  const { lr, beta1, beta2, epsilon } = hyper;
  const oneMinusBeta1 = f32(1 - beta1);
  const oneMinusBeta2 = f32(1 - beta2);
  const b1 = f32(beta1);
  const b2 = f32(beta2);
  // torch computes the bias corrections and step size as Python floats (double).
  const biasCorrection1 = 1 - beta1 ** step;
  const biasCorrection2Sqrt = Math.sqrt(1 - beta2 ** step);
  const negativeStepSize = f32(-lr / biasCorrection1);
  const correction2 = f32(biasCorrection2Sqrt);
  const eps = f32(epsilon);
  for (let i = 0; i < weights.length; i++) {
    const g = gradient[i]!;
    // exp_avg.mul_(beta1).add_(grad, alpha=1 - beta1)
    const mi = f32(f32(m[i]! * b1) + f32(g * oneMinusBeta1));
    // exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
    const vi = f32(f32(v[i]! * b2) + f32(f32(g * g) * oneMinusBeta2));
    m[i] = mi;
    v[i] = vi;
    // denom = (exp_avg_sq.sqrt() / sqrt(bias_correction2)).add_(eps)
    const denom = f32(f32(f32(Math.sqrt(vi)) / correction2) + eps);
    // param.addcdiv_(exp_avg, denom, value=-step_size): param + (value * exp_avg) / denom
    weights[i] = f32(weights[i]! + f32(f32(negativeStepSize * mi) / denom));
  }
}
