/**
 * Golden tensors from the reference (NCHW, PyTorch layouts): lookup and the
 * NCHW -> NHWC conversion at the boundary, shared by the model and training tests.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { SafetensorsFile, Tensor } from '../../src/data/safetensors.js';

export function goldenTensor(file: SafetensorsFile, name: string): Tensor {
  const tensor = file.tensors.get(name);
  if (tensor === undefined) throw new Error(`golden file has no tensor ${name}`);
  return tensor;
}

/** An NCHW float file tensor as an NHWC tfjs tensor. */
export function nchwToNhwc(tensor: Tensor): tf.Tensor4D {
  const [n, c, h, w] = tensor.shape as [number, number, number, number];
  return tf.tidy(() => tf.transpose(tf.tensor4d(Float32Array.from(tensor.data as Float32Array), [n, c, h, w]), [0, 2, 3, 1]));
}
