/**
 * Who owns the arrays that cross the tensor boundary. The wasm backend copies
 * what tf.tensor is given into its heap and returns a fresh copy from
 * dataSync; the other backends may keep the very array tf.tensor is given,
 * and dataSync may return their own storage. These helpers copy only where
 * the backend would otherwise share.
 */
import * as tf from '@tensorflow/tfjs-core';

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
