/**
 * p2phd's kernels for the wasm backend, registered over (or beside) tfjs's
 * own by `registerWasmKernels()` when the wasm backend is selected.
 */
import * as tf from '@tensorflow/tfjs-core';
import { conv2dFilterGradient } from './conv2d-backprop-filter';
import { conv2dInputGradient } from './conv2d-backprop-input';
import { asWasmBackend, copyBox } from './heap-views';
import { registerInstanceNormKernels } from './instance-norm';
import { registerJsKernels } from './js-kernels';
import { registerTensorKernel } from './tensor-kernel';

const WASM = 'wasm';

function registerConv2dBackpropFilter(): void {
  registerTensorKernel<tf.Conv2DBackpropFilterAttrs>(tf.Conv2DBackpropFilter, WASM, (inputs, attrs) => {
    const x = inputs['x'] as tf.Tensor4D;
    const dy = inputs['dy'] as tf.Tensor4D;
    if (attrs.dataFormat === 'NCHW') throw new Error('wasm Conv2DBackpropFilter: only NHWC is supported');
    const info = tf.backend_util.computeConv2DInfo(
      x.shape,
      attrs.filterShape,
      attrs.strides,
      1,
      attrs.pad,
      attrs.dimRoundingMode,
    );
    return conv2dFilterGradient(x, dy, attrs.filterShape, {
      strideHeight: info.strideHeight,
      strideWidth: info.strideWidth,
      padTop: info.padInfo.top,
      padLeft: info.padInfo.left,
    });
  });
}

function registerConv2dBackpropInput(): void {
  registerTensorKernel<tf.Conv2DBackpropInputAttrs>(tf.Conv2DBackpropInput, WASM, (inputs, attrs) => {
    const dy = inputs['dy'] as tf.Tensor4D;
    const filter = inputs['filter'] as tf.Tensor4D;
    if (attrs.dataFormat === 'NCHW') throw new Error('wasm Conv2DBackpropInput: only NHWC is supported');
    const inputShape = attrs.inputShape as [number, number, number, number];
    const info = tf.backend_util.computeConv2DInfo(inputShape, filter.shape, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode);
    return conv2dInputGradient(dy, filter, inputShape, {
      strideHeight: info.strideHeight,
      strideWidth: info.strideWidth,
      padTop: info.padInfo.top,
      padLeft: info.padInfo.left,
    });
  });
}

/**
 * Slice without tfjs's full copy of the input (its wasm Slice reads the whole
 * tensor out of the heap on every call): views and one `set` per contiguous run.
 */
function registerSlice(): void {
  const original = tf.getKernel(tf.Slice, WASM);
  if (original == null) throw new Error('tfjs-backend-wasm has no Slice kernel to replace');
  const originalKernel = original.kernelFunc;
  tf.unregisterKernel(tf.Slice, WASM);
  tf.registerKernel({
    kernelName: tf.Slice,
    backendName: WASM,
    kernelFunc: (args) => {
      const x = args.inputs['x']!;
      if (x.dtype === 'string') return originalKernel(args);
      const attrs = args.attrs as unknown as tf.SliceAttrs;
      const [begin, size] = tf.slice_util.parseSliceParams(x, attrs.begin, attrs.size) as [number[], number[]];
      const backend = asWasmBackend(args.backend);
      const out = backend.makeOutput(size, x.dtype);
      if (size.every((extent) => extent > 0)) {
        copyBox(backend.typedArrayFromHeap(x), x.shape, begin, size, backend.typedArrayFromHeap(out));
      }
      return out;
    },
  });
}

let registered = false;

/** Registers p2phd's wasm kernels once. */
export function registerWasmKernels(): void {
  if (registered) return;
  registered = true;
  registerSlice();
  registerConv2dBackpropFilter();
  registerConv2dBackpropInput();
  registerJsKernels();
  registerInstanceNormKernels(WASM);
}
