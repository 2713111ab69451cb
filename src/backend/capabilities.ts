/**
 * What the current backend is good at, for the layers above that must choose
 * between a host path and a device path. One question, answered here only.
 */
import * as tf from '@tensorflow/tfjs-core';

/**
 * Whether training keeps its optimizer on the host (Adam over Float32Arrays,
 * gradients copied out as they are produced, host reads with dataSync).
 *
 * True on wasm only: its 4 GiB heap cannot hold weights, gradients and both
 * moments of the default model, and its reads are plain memory copies. Every
 * other backend (cpu, the native TensorFlow binding, webgpu) keeps weights,
 * gradients and Adam's moments on the device, reads only the losses per
 * step, and reads asynchronously (webgpu under Node has no dataSync).
 */
export function trainsOnHost(backendName: string = tf.getBackend()): boolean {
  return backendName === 'wasm';
}
