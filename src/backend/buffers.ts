/**
 * Who owns the arrays that cross the tensor boundary. The wasm backend copies
 * what tf.tensor is given into its heap and returns a fresh copy from
 * dataSync; the other backends may keep the very array tf.tensor is given,
 * and dataSync may return their own storage. These helpers copy only where
 * the backend would otherwise share.
 */
import * as tf from '@tensorflow/tfjs-core';
import { asWasmBackend } from './wasm/heap-views';
import { conv2dOperatorCaching } from './wasm/kernels';

function backendCopies(): boolean {
  return tf.getBackend() === 'wasm';
}

/** `values` for tf.tensor when the caller goes on changing them: as is where the backend copies them, else a copy. */
export function valuesForUpload(values: Float32Array): Float32Array {
  return backendCopies() ? values : values.slice();
}

/** A tensor's values as an array the caller owns (may keep, change, or transfer to another thread). */
export function ownedValues(tensor: tf.Tensor): Float32Array {
  const data = tensor.dataSync() as Float32Array;
  return backendCopies() ? data : data.slice();
}

/**
 * A float32 tensor's values copied into `target` (of the tensor's size), which
 * the caller owns: on wasm straight from the heap. Reusing targets matters for
 * large tensors: a fresh array costs a page fault per 4 KB on first write
 * (reading a 9.4M-float gradient into a new array: ~27 ms; into a reused one,
 * a few ms).
 */
export function copyValuesInto(tensor: tf.Tensor, target: Float32Array): Float32Array {
  if (target.length !== tensor.size) throw new RangeError(`copyValuesInto: target has ${target.length} elements, the tensor ${tensor.size}`);
  target.set((backendCopies() ? asWasmBackend(tf.backend()).typedArrayFromHeap(tensor) : tensor.dataSync()) as Float32Array);
  return target;
}

/**
 * Writes `values` into `tensor`'s own storage where that is safe: on wasm,
 * when no other tensor shares its data and no XNNPACK operator may keep a
 * packed copy of it (operator caching off). Returns false otherwise (the
 * caller makes a new tensor). A weight rewritten in place after every step
 * keeps its heap block: a new one each step lands wherever a gap fits and,
 * over a long run at 2048x1024, scatters the weights through the heap that
 * the step's large blocks need whole.
 */
export function overwriteInPlace(tensor: tf.Tensor, values: Float32Array): boolean {
  if (!backendCopies() || conv2dOperatorCaching() || tensor.dtype !== 'float32' || values.length !== tensor.size) return false;
  const backend = tf.backend();
  if (backend.refCount(tensor.dataId) !== 1) return false;
  (asWasmBackend(backend).typedArrayFromHeap(tensor) as Float32Array).set(values);
  return true;
}
