/**
 * Adam's per-element update (torch.optim.Adam's single-tensor step, in the
 * arithmetic of src/train/adam.ts's JavaScript loop) as a generated wasm
 * SIMD kernel: two elements per f64x2 operation, bit for bit the results of
 * the JavaScript loop.
 *
 * Why here: it is a pure numeric kernel over Float32Arrays, built with this
 * folder's assembler; it knows nothing of training (src/train/adam.ts owns
 * the optimizer and calls it) and imports no tfjs.
 *
 * Why it is exact: the JavaScript loop computes in doubles from float32
 * values and rounds to float32 only in Math.fround and the Float32Array
 * stores. f64x2 add/sub/mul/div/sqrt are IEEE double operations rounded
 * once each, like JavaScript's (no fused multiply-add: relaxed SIMD is not
 * used), f64x2.promote_low_f32x4 is exact, and f32x4.demote_f64x2_zero
 * rounds to nearest even like Math.fround; the kernel applies the
 * operations in the loop's order. Only a NaN's payload could differ; a NaN
 * stays a NaN.
 *
 * Memory: the weights and moments live in the kernel's memory, shared
 * WebAssembly memories ("arenas", up to 2 GiB each) that hold whole
 * optimizers' slots, so the kernel streams through them in place; only the
 * gradient is copied in, a chunk at a time, into the arena's staging area.
 * A first version kept the slots in SharedArrayBuffers and copied weights,
 * moments and gradient through a private memory in 16K-element chunks: 6.2-
 * 7.0 ns per parameter on a 9.4M-element tensor, against 4.9-5.2 in place
 * and 6.9-7.4 for the JavaScript loop: the copies are extra passes over
 * memory that the arithmetic does not overlap. (Touching the next lines ahead of the
 * arithmetic, or a chunk before it, did not help: the stream is bound by
 * DRAM.) The staging area is one per arena, taken under a lock (the
 * arena's first word), so that the main thread and the Adam worker may both
 * update slots of one arena.
 */
import { FunctionBuilder, assembleModule, instantiateOnMemory, perMemory, webAssembly, type Local } from './wasm-assembler';

/** The per-step coefficients, all doubles, as adam.ts computes them. */
export interface AdamCoefficients {
  beta1: number;
  oneMinusBeta1: number;
  beta2: number;
  oneMinusBeta2: number;
  stepSize: number;
  biasCorrection2Sqrt: number;
  epsilon: number;
}

const COEFFICIENT_ORDER = ['beta1', 'oneMinusBeta1', 'beta2', 'oneMinusBeta2', 'stepSize', 'biasCorrection2Sqrt', 'epsilon'] as const;

/** A shared WebAssembly.Memory holding Adam slots (posted to the Adam worker as it is). */
export interface AdamMemory {
  readonly buffer: ArrayBufferLike;
}

/** One parameter tensor's arrays in an arena. */
export interface AdamArrays {
  readonly weights: Float32Array;
  readonly m: Float32Array;
  readonly v: Float32Array;
  readonly memory: AdamMemory;
}

/** Gradient elements staged per kernel call (a multiple of 4; 64 KB). */
const STAGING_ELEMENTS = 16384;
/** Arena layout (bytes): the lock word, the coefficients (7 f64), the staging area, then the slots. */
const LOCK_BYTE = 0;
const COEFFICIENTS_BYTE = 16;
const STAGING_BYTE = 128;
const SLOTS_BYTE = STAGING_BYTE + STAGING_ELEMENTS * Float32Array.BYTES_PER_ELEMENT;
const WASM_PAGE_BYTES = 65536;
/** Bytes per arena at most (a wasm32 memory stops at 4 GiB; half keeps every offset a positive i32). */
const ARENA_BYTES = 2 ** 31 - WASM_PAGE_BYTES;

/**
 * adam(coefficients, weights, m, v, gradient, byteLength), byte addresses:
 * updates `byteLength / 4` elements (a multiple of 4; slots are allocated
 * padded to 4 elements, so the padding lanes are nobody's).
 */
function buildAdamFunction(): FunctionBuilder {
  const f = new FunctionBuilder(6);
  const [coefficientsAt, weightsAt, mAt, vAt, gradientAt, byteLength] = f.params() as [Local, Local, Local, Local, Local, Local];
  const weightsEnd = f.i32Local();
  const [g, mNew, vNew] = f.v128Locals(3) as [Local, Local, Local];
  const coefficient = {} as Record<(typeof COEFFICIENT_ORDER)[number], Local>;
  COEFFICIENT_ORDER.forEach((key, index) => {
    coefficient[key] = f.v128Local();
    f.get(coefficientsAt).v128Load64Splat(index * 8).set(coefficient[key]);
  });
  const { beta1, oneMinusBeta1, beta2, oneMinusBeta2, stepSize, biasCorrection2Sqrt, epsilon } = coefficient;
  // Two elements (one f64x2) per half; two halves per iteration.
  const half = (at: number): void => {
    const load = (address: Local): FunctionBuilder => f.get(address).v128Load64Zero(at).f64x2PromoteLowF32x4();
    load(gradientAt).set(g);
    // m = fround(beta1 * m + (1 - beta1) * g)
    f.get(mAt);
    f.get(beta1);
    load(mAt).f64x2Mul();
    f.get(oneMinusBeta1).get(g).f64x2Mul().f64x2Add().f32x4DemoteF64x2Zero().tee(mNew);
    f.v128Store64Lane(0, at);
    // v = fround(beta2 * v + ((1 - beta2) * g) * g)
    f.get(vAt);
    f.get(beta2);
    load(vAt).f64x2Mul();
    f.get(oneMinusBeta2).get(g).f64x2Mul().get(g).f64x2Mul().f64x2Add().f32x4DemoteF64x2Zero().tee(vNew);
    f.v128Store64Lane(0, at);
    // w = fround(w - (stepSize * m) / (sqrt(v) / sqrt(bias_correction2) + eps))
    f.get(weightsAt);
    load(weightsAt);
    f.get(stepSize).get(mNew).f64x2PromoteLowF32x4().f64x2Mul();
    f.get(vNew).f64x2PromoteLowF32x4().f64x2Sqrt().get(biasCorrection2Sqrt).f64x2Div().get(epsilon).f64x2Add();
    f.f64x2Div().f64x2Sub().f32x4DemoteF64x2Zero();
    f.v128Store64Lane(0, at);
  };
  f.get(weightsAt).get(byteLength).add().set(weightsEnd);
  f.forRange(weightsAt, weightsAt, weightsEnd, 16, () => {
    half(0);
    half(8);
    f.increment(mAt, 16).increment(vAt, 16).increment(gradientAt, 16);
  });
  return f;
}

let simd: boolean | undefined;

/** Whether this runtime compiles the kernel (WebAssembly with SIMD and shared memory). */
export function adamSimdAvailable(): boolean {
  simd ??=
    typeof webAssembly?.validate === 'function' &&
    typeof SharedArrayBuffer === 'function' &&
    webAssembly.validate(assembleModule([{ name: 'adam', builder: buildAdamFunction() }], true));
  return simd;
}

/** Elements rounded up to a multiple of 4 (the kernel's step). */
function padded(length: number): number {
  return Math.ceil(length / 4) * 4;
}

/**
 * Weights and moments for tensors of `lengths` elements, zeroed, in as few
 * arenas as fit; null for a tensor too large for an arena (over ~178M
 * elements) or whose arena could not be allocated: the caller keeps it in
 * plain shared memory. Null altogether
 * where the kernel does not compile.
 */
export function createAdamArrays(lengths: readonly number[]): Array<AdamArrays | null> | null {
  if (!adamSimdAvailable()) return null;
  const slotBytes = (length: number): number => 3 * padded(length) * Float32Array.BYTES_PER_ELEMENT;
  // Greedy packing, in order: a tensor that does not fit starts a new arena.
  const arenas: number[][] = [];
  let used = Infinity;
  lengths.forEach((length, index) => {
    if (SLOTS_BYTE + slotBytes(length) > ARENA_BYTES) return;
    if (used + slotBytes(length) > ARENA_BYTES) {
      arenas.push([]);
      used = SLOTS_BYTE;
    }
    arenas[arenas.length - 1]!.push(index);
    used += slotBytes(length);
  });
  const result: Array<AdamArrays | null> = lengths.map(() => null);
  for (const indices of arenas) {
    const bytes = indices.reduce((sum, index) => sum + slotBytes(lengths[index]!), SLOTS_BYTE);
    const pages = Math.ceil(bytes / WASM_PAGE_BYTES);
    let memory: AdamMemory;
    try {
      memory = new webAssembly.Memory({ initial: pages, maximum: pages, shared: true });
    } catch (error) {
      // Out of (address) space for another memory: these tensors stay null, in plain shared memory.
      if (error instanceof RangeError) continue;
      throw error;
    }
    let at = SLOTS_BYTE;
    const take = (length: number): Float32Array => {
      const array = new Float32Array(memory.buffer, at, length);
      at += padded(length) * Float32Array.BYTES_PER_ELEMENT;
      return array;
    };
    for (const index of indices) {
      const length = lengths[index]!;
      result[index] = { weights: take(length), m: take(length), v: take(length), memory };
    }
  }
  return result;
}

interface ArenaKernel {
  run: (coefficients: number, weights: number, m: number, v: number, gradient: number, byteLength: number) => void;
  lock: Int32Array;
  coefficients: Float64Array;
  staging: Float32Array;
}

/** This thread's kernel on one arena (compiled on first use: well under a millisecond). */
const kernelOn = perMemory((memory): ArenaKernel => {
  const exports = instantiateOnMemory([{ name: 'adam', builder: buildAdamFunction() }], memory);
  return {
    run: exports['adam'] as ArenaKernel['run'],
    lock: new Int32Array(memory.buffer, LOCK_BYTE, 1),
    coefficients: new Float64Array(memory.buffer, COEFFICIENTS_BYTE, COEFFICIENT_ORDER.length),
    staging: new Float32Array(memory.buffer, STAGING_BYTE, STAGING_ELEMENTS),
  };
});

/**
 * Updates `arrays` (from createAdamArrays; the Adam worker gets them by
 * message) in place from `gradient`, of the same length.
 */
export function adamUpdateSimd(arrays: AdamArrays, gradient: Float32Array, coefficients: AdamCoefficients): void {
  const { weights, m, v, memory } = arrays;
  for (const array of [weights, m, v]) {
    if (array.buffer !== memory.buffer) throw new Error('adamUpdateSimd: weights and moments are not in their arena');
  }
  const kernel = kernelOn(memory);
  const { lock, staging } = kernel;
  // Take the arena's staging area (1: held); Atomics.wait is allowed on Node's main thread too.
  while (Atomics.compareExchange(lock, 0, 0, 1) !== 0) Atomics.wait(lock, 0, 1);
  try {
    COEFFICIENT_ORDER.forEach((key, index) => {
      kernel.coefficients[index] = coefficients[key];
    });
    const bytes = Float32Array.BYTES_PER_ELEMENT;
    for (let start = 0; start < weights.length; start += STAGING_ELEMENTS) {
      const end = Math.min(start + STAGING_ELEMENTS, weights.length);
      staging.set(gradient.subarray(start, end));
      const offset = start * bytes;
      kernel.run(COEFFICIENTS_BYTE, weights.byteOffset + offset, m.byteOffset + offset, v.byteOffset + offset, STAGING_BYTE, padded(end - start) * bytes);
    }
  } finally {
    Atomics.store(lock, 0, 0);
    Atomics.notify(lock, 0, 1);
  }
}
