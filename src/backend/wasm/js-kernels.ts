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
import { asWasmBackend, copyRuns, wasmMemoryOf } from './heap-views';
import { transposeRows } from './transpose-rows';
import { PARALLEL_TRANSPOSE_MIN_ELEMENTS, transposeHelper } from './transpose-worker';
import { replaceKernel } from './tensor-kernel';

const WASM = 'wasm';

type Shape4 = [number, number, number, number];

function register(kernelName: string, kernelFunc: tf.KernelFunc): void {
  replaceKernel(kernelName, WASM, kernelFunc);
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

/** The output windows [first, last] that cover input index i along one axis. */
function coveringWindows(i: number, pad: number, filter: number, stride: number, outSize: number): [number, number] {
  const first = Math.max(0, Math.ceil((i + pad - filter + 1) / stride));
  const last = Math.min(outSize - 1, Math.floor((i + pad) / stride));
  return [first, last];
}

/**
 * AvgPoolGrad for any 2-D window: dx = the sum of dy / (window area) over the
 * windows covering each input pixel (tfjs divides by the full area in the
 * gradient, as its cpu backend does). The window is a uniform rectangle, so
 * this is done separably: sum along the width into [N, Ho, W, C], then along
 * the height, whole rows at a time. Each pass reads every value about
 * filter / stride times, against filterHeight * filterWidth for a scatter.
 */
function avgPoolGradKernel({ inputs, attrs, backend }: Parameters<tf.KernelFunc>[0]): tf.TensorInfo {
  const dy = inputs['dy']!;
  const input = inputs['input']!;
  const { filterSize, strides, pad, dimRoundingMode } = attrs as unknown as tf.AvgPoolGradAttrs & {
    dimRoundingMode?: 'floor' | 'round' | 'ceil';
  };
  const info = tf.backend_util.computePool2DInfo(input.shape as Shape4, filterSize, strides, 1, pad, dimRoundingMode);
  const [batch, height, width, channels] = input.shape as Shape4;
  const { outHeight, outWidth, strideHeight, strideWidth, filterHeight, filterWidth } = info;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  const multiplier = 1 / (filterHeight * filterWidth);
  const wasm = asWasmBackend(backend);
  const out = wasm.makeOutput(input.shape, 'float32');
  const dyValues = wasm.typedArrayFromHeap(dy) as Float32Array;
  const target = wasm.typedArrayFromHeap(out) as Float32Array;

  // Pass 1, along the width: rows [N, Ho, W, C].
  const rowLength = width * channels;
  const rows = new Float32Array(batch * outHeight * rowLength);
  const columnRanges = Array.from({ length: width }, (_, w) => coveringWindows(w, left, filterWidth, strideWidth, outWidth));
  for (let row = 0; row < batch * outHeight; row++) {
    const dyRow = row * outWidth * channels;
    let to = row * rowLength;
    for (let w = 0; w < width; w++) {
      const [first, last] = columnRanges[w]!;
      for (let o = first; o <= last; o++) {
        const from = dyRow + o * channels;
        for (let c = 0; c < channels; c++) rows[to + c]! += dyValues[from + c]!;
      }
      to += channels;
    }
  }
  // Pass 2, along the height: whole rows.
  for (let n = 0; n < batch; n++) {
    for (let h = 0; h < height; h++) {
      const [first, last] = coveringWindows(h, top, filterHeight, strideHeight, outHeight);
      const to = (n * height + h) * rowLength;
      if (first > last) {
        target.fill(0, to, to + rowLength);
        continue;
      }
      const firstRow = (n * outHeight + first) * rowLength;
      for (let k = 0; k < rowLength; k++) target[to + k] = rows[firstRow + k]!;
      for (let o = first + 1; o <= last; o++) {
        const from = (n * outHeight + o) * rowLength;
        for (let k = 0; k < rowLength; k++) target[to + k]! += rows[from + k]!;
      }
      for (let k = 0; k < rowLength; k++) target[to + k]! *= multiplier;
    }
  }
  return out;
}

/**
 * [B, R, C] -> [B, C, R] in 64x64 tiles, writing sequentially within a tile
 * row (./transpose-rows). tfjs's wasm Transpose walks the output with a
 * stride of R floats; for a [9216, 1024] filter that touches a new page on
 * every write and takes ~200 ms, against ~35 ms tiled. Planes of 1M+
 * elements are split by rows with a helper thread on the threaded build
 * (./transpose-worker): the transpose is bound by memory latency, not by
 * bandwidth, and the pool's other core idles while it runs.
 */
function batchTransposeKernel({ inputs, backend }: Parameters<tf.KernelFunc>[0]): tf.TensorInfo {
  const x = inputs['x']!;
  const [batch, rows, cols] = x.shape as [number, number, number];
  const wasm = asWasmBackend(backend);
  const out = wasm.makeOutput([batch, cols, rows], x.dtype);
  const source = wasm.typedArrayFromHeap(x);
  const target = wasm.typedArrayFromHeap(out);
  const plane = rows * cols;
  const helper = plane >= PARALLEL_TRANSPOSE_MIN_ELEMENTS && x.dtype === 'float32' ? transposeHelper(wasmMemoryOf(backend)) : null;
  for (let b = 0; b < batch; b++) {
    if (helper !== null) {
      helper.transpose(source.byteOffset + 4 * b * plane, target.byteOffset + 4 * b * plane, rows, cols);
    } else {
      transposeRows(source, b * plane, target, b * plane, rows, cols, 0, rows);
    }
  }
  return out;
}

/** [B, R, C] -> [B, C, R] with the blocked kernel. */
export function batchTranspose(x: tf.Tensor3D): tf.Tensor3D {
  return tf.engine().runKernel(P2phdKernel.batchTranspose, { x }, {}) as tf.Tensor3D;
}

/**
 * Identity without a copy: the output shares the input's data (tensors are
 * immutable), as Reshape already does. tfjs's wasm Identity copies, and the
 * gradient machinery calls it on every activation and weight gradient it
 * passes through (~5% of a small model's training step).
 */
function identitySharedKernel({ inputs, backend }: Parameters<tf.KernelFunc>[0]): tf.TensorInfo {
  const x = inputs['x']!;
  (backend as tf.KernelBackend).incRef(x.dataId);
  return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
}

/** A tensor as [outer, inner] around `axis`: the product of the dimensions before it, and of it and those after. */
function outerInner(shape: readonly number[], axis: number): [number, number] {
  return [tf.util.sizeFromShape(shape.slice(0, axis)), tf.util.sizeFromShape(shape.slice(axis))];
}

/**
 * Concat as one strided copy per input. tfjs's wasm kernel copies one
 * subarray per row and input: the discriminator's input (36 label channels
 * and 3 image channels per pixel at 256x128) takes 65K `set` calls.
 */
function concatKernel({ inputs, attrs, backend }: Parameters<tf.KernelFunc>[0]): tf.TensorInfo {
  const tensors = Object.values(inputs) as tf.TensorInfo[];
  const axis = tf.util.parseAxisParam((attrs as unknown as tf.ConcatAttrs).axis, tensors[0]!.shape)[0]!;
  tf.backend_util.assertParamsConsistent(tensors.map((t) => t.shape), axis);
  const outShape = tf.backend_util.computeOutShape(tensors.map((t) => t.shape), axis);
  const wasm = asWasmBackend(backend);
  const out = wasm.makeOutput(outShape, tensors[0]!.dtype);
  const [outer, outInner] = outerInner(outShape, axis);
  const target = wasm.typedArrayFromHeap(out);
  let offset = 0;
  for (const t of tensors) {
    const inner = outerInner(t.shape, axis)[1];
    if (inner > 0) copyRuns(wasm.typedArrayFromHeap(t), 0, inner, target, offset, outInner, outer, inner);
    offset += inner;
  }
  return out;
}

/** SplitV as strided copies (tfjs's wasm SplitV slices through its own Slice, which reads the whole input each time). */
function splitVKernel({ inputs, attrs, backend }: Parameters<tf.KernelFunc>[0]): tf.TensorInfo[] {
  const x = inputs['x']!;
  const { numOrSizeSplits, axis: axisAttr } = attrs as unknown as tf.SplitVAttrs;
  const axis = tf.util.parseAxisParam(axisAttr, x.shape)[0]!;
  const sizes = tf.backend_util.prepareSplitSize(x as tf.Tensor, numOrSizeSplits, axis);
  const wasm = asWasmBackend(backend);
  const outs = sizes.map((size) => wasm.makeOutput(x.shape.map((extent, d) => (d === axis ? size : extent)), x.dtype));
  // Views only after every allocation.
  const source = wasm.typedArrayFromHeap(x);
  const [outer, inInner] = outerInner(x.shape, axis);
  const afterAxis = tf.util.sizeFromShape(x.shape.slice(axis + 1));
  let offset = 0;
  outs.forEach((out, k) => {
    const inner = sizes[k]! * afterAxis;
    if (inner > 0) copyRuns(source, offset, inInner, wasm.typedArrayFromHeap(out), 0, inner, outer, inner);
    offset += inner;
  });
  return outs;
}

/** Wraps a kernel so that string tensors still take tfjs's own (these copy 4-byte or 1-byte numbers only). */
function numericOnly(kernelName: string, kernel: tf.KernelFunc): void {
  const original = tf.getKernel(kernelName, WASM)!.kernelFunc;
  register(kernelName, (args) => (Object.values(args.inputs).some((t) => t?.dtype === 'string') ? original(args) : kernel(args)));
}

export function registerJsKernels(): void {
  numericOnly(tf.Identity, identitySharedKernel);
  numericOnly(tf.Concat, concatKernel);
  numericOnly(tf.SplitV, splitVKernel);
  register(P2phdKernel.batchTranspose, batchTransposeKernel);
  register(P2phdKernel.reflectPad, reflectPadKernel);
  register(P2phdKernel.reflectPadGrad, reflectPadGradKernel);
  register(tf.LeakyRelu, leakyReluKernel);
  register(tf.AvgPoolGrad, avgPoolGradKernel);
}
