/**
 * Kernels written as compositions of tfjs ops.
 *
 * Inside a kernel, tfjs ops dispatch to the current backend and are not
 * recorded on the gradient tape (the engine only tapes at kernel depth 0), so
 * a kernel can be built from the wasm backend's fast primitives (XNNPACK
 * conv2d and matmul) plus cheap reshapes and copies. This module hides the
 * bookkeeping: inputs arrive as TensorInfo and are wrapped as Tensors that
 * hold their own reference, and everything but the returned tensor is freed.
 */
import * as tf from '@tensorflow/tfjs-core';

export type TensorKernelBody<Attrs> = (inputs: Record<string, tf.Tensor>, attrs: Attrs) => tf.Tensor | tf.Tensor[];

/** Wraps a TensorInfo as a Tensor that shares (and references) its data. */
function wrapInput(info: tf.TensorInfo, backend: tf.KernelBackend): tf.Tensor {
  // The wrapper's disposal drops exactly the reference taken here.
  backend.incRef(info.dataId);
  return tf.engine().makeTensorFromTensorInfo(info, backend);
}

/** Runs `body` as the kernel for `args`: inputs wrapped as Tensors, everything but the outputs freed. */
export function runTensorKernel<Attrs>(args: Parameters<tf.KernelFunc>[0], body: TensorKernelBody<Attrs>): tf.Tensor | tf.Tensor[] {
  const { inputs, attrs, backend } = args;
  return tf.tidy(() => {
    const wrapped: Record<string, tf.Tensor> = {};
    for (const [name, info] of Object.entries(inputs)) {
      if (info != null) wrapped[name] = wrapInput(info, backend as tf.KernelBackend);
    }
    return body(wrapped, attrs as unknown as Attrs);
  });
}

/** Registers `kernelFunc` as `kernelName` on `backendName`, replacing any existing kernel. */
export function replaceKernel(kernelName: string, backendName: string, kernelFunc: tf.KernelFunc, setupFunc?: tf.KernelSetupFunc): void {
  if (tf.getKernel(kernelName, backendName) != null) tf.unregisterKernel(kernelName, backendName);
  tf.registerKernel({ kernelName, backendName, kernelFunc, ...(setupFunc ? { setupFunc } : {}) });
}

/**
 * Replaces the backend's own `kernelName` by `wrap(original)`, which may fall
 * back to the original kernel; the original's set-up function is kept.
 */
export function wrapKernel(kernelName: string, backendName: string, wrap: (original: tf.KernelFunc) => tf.KernelFunc): void {
  const original = tf.getKernel(kernelName, backendName);
  if (original == null) throw new Error(`tfjs-backend-${backendName} has no ${kernelName} kernel to wrap`);
  replaceKernel(kernelName, backendName, wrap(original.kernelFunc), original.setupFunc);
}

/** Registers `body` as `kernelName` on `backendName`, replacing any existing kernel. `body` may return several outputs. */
export function registerTensorKernel<Attrs>(kernelName: string, backendName: string, body: TensorKernelBody<Attrs>): void {
  replaceKernel(kernelName, backendName, (args) => runTensorKernel(args, body));
}
