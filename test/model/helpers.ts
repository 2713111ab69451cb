/**
 * Shared helpers of the model tests: backend set-up, golden files, layout
 * transposes at the NCHW <-> NHWC boundary, relative L2 error.
 */
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../src/backend/index.js';
import type { Tensor } from '../../src/data/formats/safetensors.js';
export { goldenTensor, nchwToNhwc, readGolden } from '../support/golden.js';
export { leakedTensors } from '../support/tensors.js';

/**
 * wasm: the product's default CPU backend, with p2phd's kernels.
 * P2PHD_TEST_BACKEND=cpu reruns the model tests on tfjs's reference backend.
 */
export async function setUpBackend(): Promise<void> {
  await initBackend(process.env['P2PHD_TEST_BACKEND'] === 'cpu' ? 'cpu' : 'wasm', { log: () => {} });
}

/** ||ours - reference|| / ||reference||, ours NHWC, reference NCHW (read asynchronously: webgpu has no dataSync). */
export async function relativeL2(oursNhwc: tf.Tensor, reference: Tensor): Promise<number> {
  const transposed = tf.transpose(oursNhwc, [0, 3, 1, 2]);
  const ours = (await transposed.data()) as Float32Array;
  transposed.dispose();
  const expected = reference.data as Float32Array;
  if (ours.length !== expected.length) {
    throw new Error(`size mismatch: ours ${ours.length}, reference ${expected.length} [${reference.shape.join(', ')}]`);
  }
  let difference = 0;
  let norm = 0;
  for (let i = 0; i < ours.length; i++) {
    difference += (ours[i]! - expected[i]!) ** 2;
    norm += expected[i]! ** 2;
  }
  return Math.sqrt(difference / norm);
}
