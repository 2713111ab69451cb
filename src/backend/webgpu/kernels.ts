/**
 * p2phd's kernel overrides on webgpu.
 *
 * AddN: tfjs-backend-webgpu 4.22 binds every input as its own storage
 * buffer, one shader for all of them; past the device's
 * maxStorageBuffersPerShaderStage (minus the output) the pipeline is invalid
 * and the result silently wrong (the feature-matching loss sums 8 terms with
 * the default D). Here inputs are summed in chunks that fit, then the
 * partial sums likewise, with tfjs's own kernel.
 *
 * Conv2DBackpropFilter: tiled (conv2d-backprop-filter.ts), on hardware
 * adapters only. On lavapipe (a CPU) tfjs's one-thread-per-weight loop is
 * 2-3x faster than the tiled kernel, whose workgroup barriers are costly
 * there (G's 7x7 layer at 64x32: 0.78 against 1.34 s; D's 4x4x256x512:
 * 0.83 against 1.99 s); on a GPU that loop runs every output pixel in one
 * thread. Not yet measured on a GPU.
 *
 * Conv2DBackpropInput (the transposed conv, and every conv's input
 * gradient): tiled per stride phase (conv2d-backprop-input.ts), on hardware
 * adapters only: tfjs's kernel walks every tap in each output's thread with
 * no reuse between threads (a GPU bottleneck), and on lavapipe the two are
 * close (one lavapipe thread: G's last upsampling, 128 to 64 channels at
 * 32x16, 0.043 against tfjs's 0.049 s; a 3x3 256-channel input gradient at
 * 32x16, 0.36 against 0.21 s). Not yet measured on a GPU.
 */
import * as tf from '@tensorflow/tfjs-core';
import { tiledConv2DBackpropFilter } from './conv2d-backprop-filter';
import { tiledConv2DBackpropInput } from './conv2d-backprop-input';

type KernelFunc = (params: { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend; attrs?: tf.NamedAttrMap }) => tf.TensorInfo | tf.TensorInfo[];

/** Most AddN inputs one shader may bind, given the device's storage-buffer limit (one buffer is the output). */
export function addNChunkSize(maxStorageBuffersPerShaderStage: number): number {
  return Math.max(2, maxStorageBuffersPerShaderStage - 1);
}

let installed = false;

/** Replaces webgpu's AddN with the chunked one, and on a hardware adapter its filter and input gradients with the tiled ones (idempotent). */
export function registerWebgpuKernels(maxStorageBuffersPerShaderStage: number, softwareAdapter: boolean): void {
  if (installed) return;
  const original = tf.getKernel(tf.AddN, 'webgpu');
  if (!original) throw new Error('registerWebgpuKernels: tfjs-backend-webgpu has no AddN kernel');
  const originalFunc = original.kernelFunc as unknown as KernelFunc;
  const chunk = addNChunkSize(maxStorageBuffersPerShaderStage);
  const chunkedAddN: KernelFunc = ({ inputs, backend }) => {
    // tfjs passes AddN its inputs as an array.
    let terms = Object.values(inputs) as tf.TensorInfo[];
    const intermediates: tf.TensorInfo[] = [];
    while (terms.length > chunk) {
      const partial: tf.TensorInfo[] = [];
      for (let start = 0; start < terms.length; start += chunk) {
        const group = terms.slice(start, start + chunk);
        if (group.length === 1) {
          partial.push(group[0]!);
          continue;
        }
        const sum = originalFunc({ inputs: group as unknown as tf.NamedTensorInfoMap, backend }) as tf.TensorInfo;
        intermediates.push(sum);
        partial.push(sum);
      }
      terms = partial;
    }
    const result = originalFunc({ inputs: terms as unknown as tf.NamedTensorInfoMap, backend }) as tf.TensorInfo;
    for (const info of intermediates) backend.disposeData(info.dataId);
    return result;
  };
  tf.unregisterKernel(tf.AddN, 'webgpu');
  tf.registerKernel({ kernelName: tf.AddN, backendName: 'webgpu', kernelFunc: chunkedAddN as unknown as tf.KernelFunc });
  const filterGradient = tf.getKernel(tf.Conv2DBackpropFilter, 'webgpu');
  if (filterGradient && !softwareAdapter) {
    const tiled = tiledConv2DBackpropFilter(filterGradient.kernelFunc as unknown as KernelFunc);
    tf.unregisterKernel(tf.Conv2DBackpropFilter, 'webgpu');
    tf.registerKernel({ kernelName: tf.Conv2DBackpropFilter, backendName: 'webgpu', kernelFunc: tiled as unknown as tf.KernelFunc });
  }
  const inputGradient = tf.getKernel(tf.Conv2DBackpropInput, 'webgpu');
  if (inputGradient && !softwareAdapter) {
    const tiled = tiledConv2DBackpropInput(inputGradient.kernelFunc as unknown as KernelFunc);
    tf.unregisterKernel(tf.Conv2DBackpropInput, 'webgpu');
    tf.registerKernel({ kernelName: tf.Conv2DBackpropInput, backendName: 'webgpu', kernelFunc: tiled as unknown as tf.KernelFunc });
  }
  installed = true;
}
