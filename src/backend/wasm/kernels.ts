/**
 * p2phd's kernels for the wasm backend, registered over (or beside) tfjs's
 * own by `registerWasmKernels()` when the wasm backend is selected.
 */
import * as tf from '@tensorflow/tfjs-core';
import { conv2dFilterGradient } from './conv2d-backprop-filter';
import { conv2dInputGradient } from './conv2d-backprop-input';
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

let registered = false;

/** Registers p2phd's wasm kernels once. */
export function registerWasmKernels(): void {
  if (registered) return;
  registered = true;
  registerConv2dBackpropFilter();
  registerConv2dBackpropInput();
}
