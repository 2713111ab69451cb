/**
 * Memory-bound kernels for wasm written as single JavaScript passes over the
 * wasm heap. tfjs's wasm versions of these are naive C++ loops (MirrorPad,
 * AvgPoolGrad, LeakyRelu) or chains of several passes (the reflection pad's
 * gradient as slices, reverses, pads and adds); one pass in V8 beats both.
 * (Where XNNPACK can do the arithmetic, as for instance norm, it wins: a V8
 * loop is scalar.)
 *
 * Views of the heap are taken only after every output has been allocated:
 * an allocation may grow the heap, which detaches earlier views.
 */
import * as tf from '@tensorflow/tfjs-core';
import { P2phdKernel, type ReflectPadAttrs } from '../kernel-names';
import { asWasmBackend } from './heap-views';

const WASM = 'wasm';

type Shape4 = [number, number, number, number];

function register(kernelName: string, kernelFunc: tf.KernelFunc): void {
  if (tf.getKernel(kernelName, WASM) != null) tf.unregisterKernel(kernelName, WASM);
  tf.registerKernel({ kernelName, backendName: WASM, kernelFunc });
}

/** Source index along one axis for ReflectionPad2d output index i. */
function reflectIndex(i: number, pad: number, size: number): number {
  const k = i - pad;
  if (k < 0) return -k;
  if (k >= size) return 2 * (size - 1) - k;
  return k;
}

function reflectPadKernel({ inputs, attrs, backend }: Parameters<tf.KernelFunc>[0]): tf.TensorInfo {
  const x = inputs['x']!;
  const { pad } = attrs as unknown as ReflectPadAttrs;
  const [batch, height, width, channels] = x.shape as Shape4;
  const outHeight = height + 2 * pad;
  const outWidth = width + 2 * pad;
  const wasm = asWasmBackend(backend);
  const out = wasm.makeOutput([batch, outHeight, outWidth, channels], 'float32');
  const source = wasm.typedArrayFromHeap(x);
  const target = wasm.typedArrayFromHeap(out);
  const rowLength = width * channels;
  let offset = 0;
  for (let n = 0; n < batch; n++) {
    const sampleBase = n * height * rowLength;
    for (let h = 0; h < outHeight; h++) {
      const rowBase = sampleBase + reflectIndex(h, pad, height) * rowLength;
      // Left border, the row itself in one copy, right border.
      for (let w = 0; w < pad; w++) {
        const from = rowBase + (pad - w) * channels;
        target.set(source.subarray(from, from + channels), offset);
        offset += channels;
      }
      target.set(source.subarray(rowBase, rowBase + rowLength), offset);
      offset += rowLength;
      for (let w = 0; w < pad; w++) {
        const from = rowBase + (width - 2 - w) * channels;
        target.set(source.subarray(from, from + channels), offset);
        offset += channels;
      }
    }
  }
  return out;
}

function reflectPadGradKernel({ inputs, attrs, backend }: Parameters<tf.KernelFunc>[0]): tf.TensorInfo {
  const dy = inputs['dy']!;
  const { pad } = attrs as unknown as ReflectPadAttrs;
  const [batch, paddedHeight, paddedWidth, channels] = dy.shape as Shape4;
  const height = paddedHeight - 2 * pad;
  const width = paddedWidth - 2 * pad;
  const wasm = asWasmBackend(backend);
  const out = wasm.makeOutput([batch, height, width, channels], 'float32');
  const source = wasm.typedArrayFromHeap(dy) as Float32Array;
  const target = wasm.typedArrayFromHeap(out) as Float32Array;
  target.fill(0);
  const rowLength = width * channels;
  let offset = 0;
  for (let n = 0; n < batch; n++) {
    const sampleBase = n * height * rowLength;
    for (let h = 0; h < paddedHeight; h++) {
      const rowBase = sampleBase + reflectIndex(h, pad, height) * rowLength;
      for (let w = 0; w < paddedWidth; w++) {
        const to = rowBase + reflectIndex(w, pad, width) * channels;
        for (let c = 0; c < channels; c++) target[to + c]! += source[offset + c]!;
        offset += channels;
      }
    }
  }
  return out;
}

/** tfjs's LeakyRelu semantics: x where x > 0 (NaN passes through), else alpha * x. */
function leakyReluKernel({ inputs, attrs, backend }: Parameters<tf.KernelFunc>[0]): tf.TensorInfo {
  const x = inputs['x']!;
  const { alpha } = attrs as unknown as tf.LeakyReluAttrs;
  const wasm = asWasmBackend(backend);
  const out = wasm.makeOutput(x.shape, 'float32');
  const source = wasm.typedArrayFromHeap(x) as Float32Array;
  const target = wasm.typedArrayFromHeap(out) as Float32Array;
  // leaky(v) = ((1 + alpha) v + (1 - alpha) |v|) / 2: branch-free, so random
  // signs cost no mispredictions (3x faster than a conditional here).
  const linear = (1 + alpha) / 2;
  const absolute = (1 - alpha) / 2;
  for (let i = 0; i < source.length; i++) {
    const v = source[i]!;
    target[i] = linear * v + absolute * Math.abs(v);
  }
  return out;
}

/**
 * AvgPoolGrad for any 2-D window: each dy spreads dy / (window area) over its
 * window, clipped to the input (tfjs divides by the full area in the gradient,
 * as its cpu backend does).
 */
function avgPoolGradKernel({ inputs, attrs, backend }: Parameters<tf.KernelFunc>[0]): tf.TensorInfo {
  const dy = inputs['dy']!;
  const input = inputs['input']!;
  const { filterSize, strides, pad, dimRoundingMode } = attrs as unknown as tf.AvgPoolGradAttrs & {
    dimRoundingMode?: 'floor' | 'round' | 'ceil';
  };
  const info = tf.backend_util.computePool2DInfo(input.shape as Shape4, filterSize, strides, 1, pad, dimRoundingMode);
  const [batch, height, width, channels] = input.shape as Shape4;
  const wasm = asWasmBackend(backend);
  const out = wasm.makeOutput(input.shape, 'float32');
  const dyValues = wasm.typedArrayFromHeap(dy) as Float32Array;
  const target = wasm.typedArrayFromHeap(out) as Float32Array;
  target.fill(0);
  const multiplier = 1 / (info.filterHeight * info.filterWidth);
  const { outHeight, outWidth, strideHeight, strideWidth } = info;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  let dyOffset = 0;
  for (let n = 0; n < batch; n++) {
    for (let oh = 0; oh < outHeight; oh++) {
      const h0 = Math.max(oh * strideHeight - top, 0);
      const h1 = Math.min(oh * strideHeight - top + info.filterHeight, height);
      for (let ow = 0; ow < outWidth; ow++) {
        const w0 = Math.max(ow * strideWidth - left, 0);
        const w1 = Math.min(ow * strideWidth - left + info.filterWidth, width);
        for (let h = h0; h < h1; h++) {
          for (let w = w0; w < w1; w++) {
            const to = ((n * height + h) * width + w) * channels;
            for (let c = 0; c < channels; c++) target[to + c]! += dyValues[dyOffset + c]! * multiplier;
          }
        }
        dyOffset += channels;
      }
    }
  }
  return out;
}

export function registerJsKernels(): void {
  register(P2phdKernel.reflectPad, reflectPadKernel);
  register(P2phdKernel.reflectPadGrad, reflectPadGradKernel);
  register(tf.LeakyRelu, leakyReluKernel);
  register(tf.AvgPoolGrad, avgPoolGradKernel);
}
