/**
 * p2phd's kernels for the wasm backend, registered over (or beside) tfjs's
 * own by `registerWasmKernels()` when the wasm backend is selected.
 */
import * as tf from '@tensorflow/tfjs-core';
import { conv2dFilterGradient } from './conv2d-backprop-filter';
import { conv2dInputGradient } from './conv2d-backprop-input';
import { binaryChannels, conv2dBinaryInput, conv2dFilterGradientBinaryInput, mayUseBinaryInput } from './conv2d-binary-input';
import { columnConvShape, conv2dColumnGemm, conv2dFilterGradientColumnGemm, conv2dInputGradientColumnGemm, preferColumnGemm } from './conv2d-column-gemm';
import { conv2dFilterGradientWinograd, conv2dWinograd, preferWinograd } from './conv2d-winograd';
import { asWasmBackend, copyBox, wasmMemoryOf } from './heap-views';
import { cacheableSource, derivedValue } from './derived-tensors';
import { WINOGRAD_F3X3_4X4, WINOGRAD_F4X4_3X3, type WinogradVariant } from './winograd-simd';
import { registerInstanceNormKernels } from './instance-norm';
import { registerJsKernels } from './js-kernels';
import { registerTensorKernel, runTensorKernel, wrapKernel } from './tensor-kernel';
import { convGeometry } from './conv-geometry';
import { conv2dFilterGradientNativeColumn, conv2dInputGradientNativeColumn, conv2dNativeColumn, preferNativeColumn } from './conv2d-native-column';
import { NATIVE_MATMUL_MIN_MACS, nativeMatMulSession } from './native-matmul';
import type { MatMulSession } from '../onnxruntime/matmul-session';

/**
 * The native GEMM when there is one and the conv's shape suits it (see
 * ./conv2d-native-column), else null. Where it is taken it carries all
 * three products, ahead of Winograd: measured on 2 cores, the small config's
 * step took 1.38-1.40 s with the column form everywhere against 1.49-1.52 s
 * with Winograd's batched products on MLAS too (its transforms are
 * single-threaded passes), the default architecture's 3.91 against 4.55 s.
 */
function nativeColumnGemm(info: tf.backend_util.Conv2DInfo): MatMulSession | null {
  const gemm = nativeMatMulSession();
  if (gemm === null) return null;
  const taps = info.filterHeight * info.filterWidth;
  const macs = info.batchSize * info.outHeight * info.outWidth * taps * info.inChannels * info.outChannels;
  return preferNativeColumn(info.inChannels, info.outChannels, taps) && macs >= NATIVE_MATMUL_MIN_MACS ? gemm : null;
}

const WASM = 'wasm';

/** The 0/1 channels of a conv input (./conv2d-binary-input), read once a training step per input: its forward pass and filter gradient both ask. */
function binaryChannelsOf(x: tf.TensorInfo, channels: number): boolean[] | null {
  return derivedValue(x, 'binary channels', () => binaryChannels(asWasmBackend(tf.backend()).typedArrayFromHeap(x) as Float32Array, channels));
}

/**
 * Conv2DBackpropFilter: for inputs whose channels are mostly 0/1, dy rows
 * added to filter rows (./conv2d-binary-input); with the GEMMs on MLAS, one
 * GEMM over the columns (./conv2d-native-column); otherwise, for 3x3 and
 * 4x4 stride-1 convs where the forward pass would take Winograd, its
 * filter-gradient form (./conv2d-winograd), the column form for small
 * images with large filters, per-tap XNNPACK matmuls (./conv2d-backprop-filter).
 */
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
    const geometry = convGeometry(info);
    const memory = wasmMemoryOf(tf.backend());
    const binary =
      memory !== null && mayUseBinaryInput(info.filterHeight * info.filterWidth, info.inChannels, info.outChannels)
        ? binaryChannelsOf(x, info.inChannels)
        : null;
    if (memory !== null && binary !== null) {
      return conv2dFilterGradientBinaryInput(x, dy, attrs.filterShape, binary, geometry, memory, (dense, denseShape) =>
        conv2dFilterGradient(dense, dy, denseShape, geometry),
      );
    }
    const native = nativeColumnGemm(info);
    if (native !== null) return conv2dFilterGradientNativeColumn(native, x, dy, columnConvShape(info, geometry));
    const variant = winogradVariant(info, memory !== null);
    if (memory !== null && variant !== null && info.inChannels % 4 === 0 && info.outChannels % 4 === 0 && preferWinograd(info.batchSize * info.outHeight * info.outWidth, info.inChannels, info.outChannels, variant.kernel === 4 ? 4 : 3)) {
      return conv2dFilterGradientWinograd(x, dy, geometry.padTop, geometry.padLeft, variant);
    }
    if (preferColumnGemm(info.batchSize * info.outHeight * info.outWidth, tf.util.sizeFromShape(attrs.filterShape))) {
      return conv2dFilterGradientColumnGemm(x, dy, columnConvShape(info, geometry));
    }
    return conv2dFilterGradient(x, dy, attrs.filterShape, geometry);
  });
}

function registerConv2dBackpropInput(): void {
  registerTensorKernel<tf.Conv2DBackpropInputAttrs>(tf.Conv2DBackpropInput, WASM, (inputs, attrs) => {
    const dy = inputs['dy'] as tf.Tensor4D;
    const filter = inputs['filter'] as tf.Tensor4D;
    if (attrs.dataFormat === 'NCHW') throw new Error('wasm Conv2DBackpropInput: only NHWC is supported');
    const inputShape = attrs.inputShape as [number, number, number, number];
    const info = tf.backend_util.computeConv2DInfo(inputShape, filter.shape, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode);
    const native = nativeColumnGemm(info);
    if (native !== null) {
      // Filters whose flipped phases a step keeps (./derived-tensors): the phases, each a stride-1 conv that takes the
      // native column form in turn, with no col2im. Larger ones (G1's 1024-channel blocks): the column form reads W as stored.
      return cacheableSource(filter.size)
        ? conv2dInputGradient(dy, filter, inputShape, convGeometry(info))
        : conv2dInputGradientNativeColumn(native, dy, filter, columnConvShape(info, convGeometry(info)));
    }
    if (preferColumnGemm(info.batchSize * info.outHeight * info.outWidth, filter.size)) {
      return conv2dInputGradientColumnGemm(dy, filter, columnConvShape(info, convGeometry(info)));
    }
    return conv2dInputGradient(dy, filter, inputShape, convGeometry(info));
  });
}

/**
 * Slice without tfjs's full copy of the input (its wasm Slice reads the whole
 * tensor out of the heap on every call): views and one `set` per contiguous run.
 */
function registerSlice(): void {
  wrapKernel(tf.Slice, WASM, (original) => (args) => {
    const x = args.inputs['x']!;
    if (x.dtype === 'string') return original(args);
    const attrs = args.attrs as unknown as tf.SliceAttrs;
    const [begin, size] = tf.slice_util.parseSliceParams(x, attrs.begin, attrs.size) as [number[], number[]];
    const backend = asWasmBackend(args.backend);
    const out = backend.makeOutput(size, x.dtype);
    if (size.every((extent) => extent > 0)) {
      copyBox(backend.typedArrayFromHeap(x), x.shape, begin, size, backend.typedArrayFromHeap(out));
    }
    return out;
  });
}

/**
 * Whether XNNPACK may keep its operator for each filter between calls
 * (see `setConv2dOperatorCaching`).
 */
let cacheConv2dOperators = true;
/** The largest indirection buffer a cached XNNPACK operator may keep (see registerConv2d). */
const MAX_CACHED_INDIRECTION_BYTES = 64 * 2 ** 20;

/**
 * tfjs's XNNPACK Conv2D keeps one operator per filter tensor until that
 * tensor is disposed: a packed copy of the filter plus an indirection buffer
 * of one pointer per output pixel and tap (400 MB for a 7x7 conv at
 * 2048x1024). Model weights are never disposed, so for a large generator that
 * is the weights a second time plus the largest indirection buffers, held for
 * the whole run. With caching off, each call runs XNNPACK on a fresh copy of
 * the filter, freed right after, which frees its operator too: the same
 * arithmetic (same kernel, same packing), at the cost of packing the filter
 * again on every call. Returns the previous setting.
 */
/** Whether XNNPACK may keep operators (with packed copies of filters) between calls. */
export function conv2dOperatorCaching(): boolean {
  return cacheConv2dOperators;
}

export function setConv2dOperatorCaching(enabled: boolean): boolean {
  const previous = cacheConv2dOperators;
  cacheConv2dOperators = enabled;
  return previous;
}

/** Runs `conv` with `args.inputs.filter` replaced by a private copy, disposed afterwards. */
function withFilterCopy(args: Parameters<tf.KernelFunc>[0], conv: tf.KernelFunc): tf.TensorInfo {
  const filter = args.inputs['filter']!;
  const backend = asWasmBackend(args.backend);
  const copy = backend.makeOutput([...filter.shape], filter.dtype);
  try {
    backend.typedArrayFromHeap(copy).set(backend.typedArrayFromHeap(filter));
    return conv({ ...args, inputs: { ...args.inputs, filter: copy } }) as tf.TensorInfo;
  } finally {
    (args.backend as tf.KernelBackend).disposeData(copy.dataId);
  }
}

/**
 * Conv2D: tfjs's XNNPACK kernel, except for
 * - inputs whose channels are mostly 0/1 (one-hot labels, boundaries): sums
 *   of filter rows (./conv2d-binary-input);
 * - with the GEMMs on MLAS, convs whose channels suit a GEMM: one GEMM over
 *   im2col columns (./conv2d-native-column);
 * - 3x3 stride-1 convs on large enough images, computed by Winograd's
 *   F(4x4, 3x3) with 4x fewer multiply-adds (./conv2d-winograd); 4x4
 *   stride-1 ones (D's last layers, and their input gradients, which run
 *   here as convs with the flipped filter) by F(3x3, 4x4), also 4x fewer,
 *   where the channel counts are multiples of 4;
 * - small outputs with large filters, where re-packing the filter costs more
 *   than the arithmetic (./conv2d-column-gemm).
 */
function registerConv2d(): void {
  wrapKernel(tf.Conv2D, WASM, (xnnpackConv2d) => (args) => {
    const attrs = args.attrs as unknown as tf.Conv2DAttrs;
    const x = args.inputs['x']!;
    const filter = args.inputs['filter']!;
    const info = tf.backend_util.computeConv2DInfo(
      x.shape as [number, number, number, number],
      filter.shape as [number, number, number, number],
      attrs.strides,
      attrs.dilations,
      attrs.pad,
      attrs.dimRoundingMode,
    );
    const usable = attrs.dataFormat !== 'NCHW' && info.dilationHeight === 1 && info.dilationWidth === 1;
    const outputPixels = info.batchSize * info.outHeight * info.outWidth;
    const geometry = convGeometry(info);
    const memory = usable ? wasmMemoryOf(args.backend) : null;
    const binary =
      memory !== null && mayUseBinaryInput(info.filterHeight * info.filterWidth, info.inChannels, info.outChannels)
        ? binaryChannelsOf(x, info.inChannels)
        : null;
    if (memory !== null && binary !== null) {
      const { top, bottom, left, right } = info.padInfo;
      const strides: [number, number] = [info.strideHeight, info.strideWidth];
      const denseConv = (dense: tf.Tensor4D, denseFilter: tf.Tensor4D): tf.Tensor4D =>
        tf.conv2d(dense, denseFilter, strides, [
          [0, 0],
          [top, bottom],
          [left, right],
          [0, 0],
        ]);
      return runTensorKernel<tf.Conv2DAttrs>(args, (inputs) =>
        conv2dBinaryInput(inputs['x'] as tf.Tensor4D, inputs['filter'] as tf.Tensor4D, binary, info.outHeight, info.outWidth, geometry, memory, denseConv),
      );
    }
    // XNNPACK builds an indirection buffer of a pointer per output pixel and tap for every call
    // (400 MB for a 7x7 conv at 2048x1024, at the top of the heap): past 64 MiB, MLAS's banded
    // columns take any shape instead.
    const indirectionBytes = 4 * outputPixels * info.filterHeight * info.filterWidth;
    const native = usable ? (nativeColumnGemm(info) ?? (indirectionBytes > MAX_CACHED_INDIRECTION_BYTES ? nativeMatMulSession() : null)) : null;
    if (native !== null) {
      return runTensorKernel<tf.Conv2DAttrs>(args, (inputs) =>
        conv2dNativeColumn(native, inputs['x'] as tf.Tensor4D, inputs['filter'] as tf.Tensor4D, columnConvShape(info, geometry)),
      );
    }
    const variant = winogradVariant(info, memory !== null);
    if (usable && variant !== null && preferWinograd(outputPixels, info.inChannels, info.outChannels, variant.kernel === 4 ? 4 : 3)) {
      return runTensorKernel<tf.Conv2DAttrs>(args, (inputs) =>
        conv2dWinograd(inputs['x'] as tf.Tensor4D, inputs['filter'] as tf.Tensor4D, info.outHeight, info.outWidth, geometry.padTop, geometry.padLeft, variant),
      );
    }
    if (!usable || !preferColumnGemm(outputPixels, tf.util.sizeFromShape(filter.shape))) {
      // A cached operator's indirection buffer stays in the heap as long as the filter: past 64 MiB it is not kept.
      return cacheConv2dOperators && indirectionBytes <= MAX_CACHED_INDIRECTION_BYTES ? xnnpackConv2d(args) : withFilterCopy(args, xnnpackConv2d);
    }
    return runTensorKernel<tf.Conv2DAttrs>(args, (inputs) =>
      conv2dColumnGemm(inputs['x'] as tf.Tensor4D, inputs['filter'] as tf.Tensor4D, columnConvShape(info, geometry)),
    );
  });
}

/**
 * The Winograd variant for a conv's shape: F(4x4, 3x3) for 3x3 stride-1
 * filters, F(3x3, 4x4) for 4x4 ones (its transforms are SIMD only: `simd`,
 * channel counts multiples of 4); null otherwise. Dilation is the caller's.
 */
function winogradVariant(info: tf.backend_util.Conv2DInfo, simd: boolean): WinogradVariant | null {
  if (info.filterHeight !== info.filterWidth || info.strideHeight !== 1 || info.strideWidth !== 1) return null;
  if (info.filterHeight === 3) return WINOGRAD_F4X4_3X3;
  if (info.filterHeight === 4 && simd && info.inChannels % 4 === 0 && info.outChannels % 4 === 0) return WINOGRAD_F3X3_4X4;
  return null;
}

let registered = false;

/** Registers p2phd's wasm kernels once. */
export function registerWasmKernels(): void {
  if (registered) return;
  registered = true;
  registerSlice();
  registerConv2d();
  registerConv2dBackpropFilter();
  registerConv2dBackpropInput();
  registerJsKernels();
  registerInstanceNormKernels(WASM);
}
