/**
 * Direct access to tensors on the wasm heap, for kernels written in
 * TypeScript. tfjs's own `readSync` copies the whole tensor out of the heap
 * (its Slice kernel does that on every call, for any slice size); views do not.
 */
import * as tf from '@tensorflow/tfjs-core';

/** The part of tfjs-backend-wasm's BackendWasm these kernels use. */
export interface WasmBackendLike {
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
}

export function asWasmBackend(backend: unknown): WasmBackendLike {
  return backend as WasmBackendLike;
}

/** A fresh tensor on the wasm heap, its contents undefined until written (for kernels that fill it in place). */
export function emptyHeapTensor(backend: tf.KernelBackend, shape: number[], dtype: 'float32' | 'int32' = 'float32'): tf.Tensor {
  return tf.engine().makeTensorFromTensorInfo(asWasmBackend(backend).makeOutput(shape, dtype), backend);
}

/** A tensor's byte address on the wasm heap (stable while it lives, unlike views, which heap growth detaches). */
export function heapAddress(backend: tf.KernelBackend, tensor: tf.TensorInfo): number {
  return asWasmBackend(backend).typedArrayFromHeap(tensor).byteOffset;
}

/**
 * The WebAssembly.Memory behind tfjs's heap, for p2phd's own wasm kernels to
 * import: exported as `memory` by the single-threaded build; the threaded
 * build creates it in its glue and keeps it as `wasmMemory`. Null if neither
 * is there (another tfjs version).
 */
export function wasmMemoryOf(backend: unknown): { buffer: ArrayBufferLike } | null {
  const module = (backend as { wasm?: { asm?: { memory?: unknown }; wasmMemory?: unknown } }).wasm;
  const memory = module?.asm?.memory ?? module?.wasmMemory;
  const isMemory = (value: unknown): value is { buffer: ArrayBufferLike } =>
    typeof value === 'object' && value !== null && 'buffer' in value && 'grow' in value;
  return isMemory(memory) ? memory : null;
}

/** Runs shorter than this are copied element by element: a subarray and a `set` per run cost more. */
const SHORT_RUN = 32;

type HeapArray = Float32Array | Int32Array | Uint8Array;

/**
 * Copies `rows` runs of `length` elements, run r from source[sourceOffset +
 * r * sourceStride] to target[targetOffset + r * targetStride] (concat,
 * split and slice along an inner axis).
 */
export function copyRuns(
  source: HeapArray,
  sourceOffset: number,
  sourceStride: number,
  target: HeapArray,
  targetOffset: number,
  targetStride: number,
  rows: number,
  length: number,
): void {
  if (length >= SHORT_RUN) {
    for (let r = 0; r < rows; r++) {
      const from = sourceOffset + r * sourceStride;
      target.set(source.subarray(from, from + length), targetOffset + r * targetStride);
    }
    return;
  }
  for (let r = 0; r < rows; r++) {
    const from = sourceOffset + r * sourceStride;
    const to = targetOffset + r * targetStride;
    for (let k = 0; k < length; k++) target[to + k] = source[from + k]!;
  }
}

/**
 * Copies the box `begin`..`begin + size` of a row-major array of shape
 * `shape` into `out`. Trailing dimensions taken whole are merged into one
 * contiguous run, so the inner loop is a single `set` per run.
 */
export function copyBox(
  source: Float32Array | Int32Array | Uint8Array,
  shape: readonly number[],
  begin: readonly number[],
  size: readonly number[],
  out: Float32Array | Int32Array | Uint8Array,
): void {
  const rank = shape.length;
  if (rank === 0) {
    out[0] = source[0]!;
    return;
  }
  const strides = new Array<number>(rank);
  strides[rank - 1] = 1;
  for (let d = rank - 2; d >= 0; d--) strides[d] = strides[d + 1]! * shape[d + 1]!;
  // Innermost dimension of the run: everything after it is taken whole.
  let runDim = rank - 1;
  while (runDim > 0 && size[runDim] === shape[runDim] && begin[runDim] === 0) runDim--;
  const runLength = size[runDim]! * strides[runDim]!;
  let start = 0;
  for (let d = 0; d < rank; d++) start += begin[d]! * strides[d]!;
  if (runDim === 0) {
    out.set(source.subarray(start, start + runLength));
    return;
  }
  if (runDim === 1) {
    // One level of runs (a slice along the second axis, or an inner one merged into it): strided runs.
    copyRuns(source, start, strides[0]!, out, 0, runLength, size[0]!, runLength);
    return;
  }
  // Odometer over the dimensions before runDim.
  const index = new Array<number>(runDim).fill(0);
  let outOffset = 0;
  let sourceOffset = start;
  for (;;) {
    copyRuns(source, sourceOffset, 0, out, outOffset, 0, 1, runLength);
    outOffset += runLength;
    let d = runDim - 1;
    for (; d >= 0; d--) {
      index[d]!++;
      sourceOffset += strides[d]!;
      if (index[d]! < size[d]!) break;
      sourceOffset -= index[d]! * strides[d]!;
      index[d] = 0;
    }
    if (d < 0) return;
  }
}
