/**
 * Adam, as torch.optim.Adam (PyTorch 1.13, single-tensor path, no weight
 * decay, no amsgrad), over plain Float32Arrays.
 *
 * Why outside tfjs: for the reference's default architecture the weights,
 * gradients and two moments are ~2.9 GB, and the wasm backend's heap stops
 * at 4 GB. Keeping the moments (and the master copy of the weights) in
 * memory of their own, outside tfjs's heap, leaves the heap for the weights
 * the networks read and the activations (the gradients leave the heap as
 * they are produced: see step.ts). The update is a single pass per tensor.
 *
 * Arithmetic: each moment is computed in double precision from the stored
 * float32 values and rounded once when stored, so moments agree with torch's
 * (which rounds after each float32 operation) to the last bit or two; the
 * parameter update likewise, within the golden README's rule. Fewer
 * roundings kept the JavaScript loop at ~7 ns per parameter, against ~22 ns
 * rounding every operation.
 *
 * Speed: slots from createSharedSlots live in shared wasm memories, where
 * a generated wasm SIMD kernel (src/backend/wasm/adam-simd.ts: f64x2, the
 * same operations in the same order, so the same bits) updates them in
 * place. One 9.4M-element tensor, one thread, CPU time on the 2-core
 * development machine under load (best of 4, three runs): JavaScript loop
 * 6.9-7.4 ns per parameter, kernel 4.9-5.2 ns (1.3 -> 0.95 s a step for the
 * default architecture's 188M). A tensor that large streams from DRAM (28
 * bytes a parameter), which bounds the kernel; within the caches (up to
 * ~1M elements) it takes 2.9-3.2 ns against the loop's 5.8-6.7, bound by
 * the two double divisions and one square root per element. The loop stays
 * as the reference (adamSimd.test.ts compares the two bit for bit) and runs
 * slots outside wasm memory (createSlot; runtimes without wasm SIMD).
 */
import { adamUpdateSimd, createAdamArrays, type AdamCoefficients, type AdamMemory } from '../backend/wasm/adam-simd.js';

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
  /**
   * The shared wasm memory that holds weights, m and v where the SIMD
   * kernel updates them (createSharedSlots); absent: the JavaScript loop.
   */
  readonly memory?: AdamMemory;
}

export function createSlot(weights: Float32Array): AdamSlot {
  return { weights, m: new Float32Array(weights.length), v: new Float32Array(weights.length) };
}

/**
 * Zeroed slots for tensors of `lengths` elements in shared memory, so that
 * an Adam worker thread can update them in place while the main thread
 * reads them for uploads and saves: in wasm memories that the SIMD kernel
 * updates where the runtime has WebAssembly SIMD, else in
 * SharedArrayBuffers.
 */
export function createSharedSlots(lengths: readonly number[]): AdamSlot[] {
  const inWasm = createAdamArrays(lengths);
  const shared = (length: number): Float32Array => new Float32Array(new SharedArrayBuffer(length * Float32Array.BYTES_PER_ELEMENT));
  return lengths.map((length, index) => inWasm?.[index] ?? { weights: shared(length), m: shared(length), v: shared(length) });
}

/** One slot from createSharedSlots, with its weights set to `initial`. */
export function createSharedSlot(initial: Float32Array): AdamSlot {
  const [slot] = createSharedSlots([initial.length]);
  slot!.weights.set(initial);
  return slot!;
}

/** Bias-corrected coefficients of step `step` (torch computes them as Python floats: doubles). */
function coefficientsForStep(step: number, hyper: AdamHyperparameters): AdamCoefficients {
  const { lr, beta1, beta2, epsilon } = hyper;
  return {
    beta1,
    oneMinusBeta1: 1 - beta1,
    beta2,
    oneMinusBeta2: 1 - beta2,
    stepSize: lr / (1 - beta1 ** step),
    biasCorrection2Sqrt: Math.sqrt(1 - beta2 ** step),
    epsilon,
  };
}

function checkLengths(slot: AdamSlot, gradient: Float32Array): void {
  if (gradient.length !== slot.weights.length) {
    throw new RangeError(`adamUpdate: gradient has ${gradient.length} elements, weights ${slot.weights.length}`);
  }
}

/**
 * One Adam update of `slot` with `gradient`; `step` is the 1-based step
 * count after this update (torch increments state['step'] before using it).
 * Runs the wasm SIMD kernel on slots in wasm memory (createSharedSlots),
 * else the JavaScript loop; both give the same bits.
 */
export function adamUpdate(slot: AdamSlot, gradient: Float32Array, step: number, hyper: AdamHyperparameters): void {
  if (slot.memory === undefined) {
    adamUpdateJs(slot, gradient, step, hyper);
  } else {
    checkLengths(slot, gradient);
    adamUpdateSimd({ weights: slot.weights, m: slot.m, v: slot.v, memory: slot.memory }, gradient, coefficientsForStep(step, hyper));
  }
}

/** adamUpdate's JavaScript loop: the reference the SIMD kernel reproduces bit for bit, and the fallback without wasm SIMD. */
export function adamUpdateJs(slot: AdamSlot, gradient: Float32Array, step: number, hyper: AdamHyperparameters): void {
  checkLengths(slot, gradient);
  const { weights, m, v } = slot;
  const { beta1, oneMinusBeta1, beta2, oneMinusBeta2, stepSize, biasCorrection2Sqrt, epsilon } = coefficientsForStep(step, hyper);
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
