/**
 * Who owns the arrays that cross the tensor boundary. The wasm backend copies
 * what tf.tensor is given into its heap and returns a fresh copy from
 * dataSync; the other backends may keep the very array tf.tensor is given,
 * and dataSync may return their own storage. These helpers copy only where
 * the backend would otherwise share.
 */
import * as tf from '@tensorflow/tfjs-core';
import { asWasmBackend } from './wasm/heap-views';

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
