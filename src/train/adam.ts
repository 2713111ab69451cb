/**
 * Adam, as torch.optim.Adam (PyTorch 1.13, single-tensor path, no weight
 * decay, no amsgrad), over plain Float32Arrays.
 *
 * Why in JavaScript and not as tfjs ops: for the reference's default
 * architecture the weights, gradients and two moments are ~2.9 GB, and the
 * wasm backend's heap stops at 4 GB. Keeping the moments (and the master copy
 * of the weights) in ordinary ArrayBuffers, outside the wasm heap, leaves
 * the heap for the weights the networks read and the activations (the
 * gradients leave the heap as they are produced: see step.ts). The update
 * is a single pass per tensor.
 *
 * Arithmetic: each moment is computed in double precision from the stored
 * float32 values and rounded once when stored, so moments agree with torch's
 * (which rounds after each float32 operation) to the last bit or two; the
 * parameter update likewise, within the golden README's rule. Fewer
 * roundings keep the loop at ~10 ns per parameter (1.9 s for the default
 * architecture's 188M), against ~22 ns rounding every operation.
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

/**
 * A slot in SharedArrayBuffers, so that an Adam worker thread can update it
 * in place while the main thread reads it for uploads and saves.
 */
export function createSharedSlot(initial: Float32Array): AdamSlot {
  const shared = (): Float32Array => new Float32Array(new SharedArrayBuffer(initial.length * Float32Array.BYTES_PER_ELEMENT));
  const weights = shared();
  weights.set(initial);
  return { weights, m: shared(), v: shared() };
}

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
  const oneMinusBeta1 = 1 - beta1;
  const oneMinusBeta2 = 1 - beta2;
  // torch computes the bias corrections and the step size as Python floats (double).
  const stepSize = lr / (1 - beta1 ** step);
  const biasCorrection2Sqrt = Math.sqrt(1 - beta2 ** step);
  for (let i = 0; i < weights.length; i++) {
    const g = gradient[i]!;
    // exp_avg.mul_(beta1).add_(grad, alpha=1 - beta1)
    const mi = Math.fround(beta1 * m[i]! + oneMinusBeta1 * g);
    // exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
    const vi = Math.fround(beta2 * v[i]! + oneMinusBeta2 * g * g);
    m[i] = mi;
    v[i] = vi;
    // param.addcdiv_(exp_avg, (exp_avg_sq.sqrt() / sqrt(bias_correction2)).add_(eps), value=-step_size)
    weights[i] = weights[i]! - (stepSize * mi) / (Math.sqrt(vi) / biasCorrection2Sqrt + epsilon);
  }
}
