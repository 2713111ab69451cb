/**
 * Conv2D over inputs whose channels are mostly 0/1, as G's and D's inputs
 * are: one-hot labels plus the instance-boundary map (label_nc + 1 of their
 * channels; instance features and photos are the rest).
 *
 * With 0/1 values, a tap's product with the filter is the sum of the filter
 * rows of the input pixel's channels that are 1, usually one (its label),
 * sometimes two (a boundary). So the 7x7 input conv of the default G1
 * (36 -> 64 channels at 1024x512, 118 GFLOP dense, ~3.3 s on XNNPACK) is
 * about 49 row additions per output pixel: ~25x less work. The sums are the
 * same as the dense conv's (products with 1 are exact; only the order of
 * additions differs). Channels holding any other value (features, a photo)
 * go through XNNPACK as a dense conv over just those channels, added after.
 *
 * Which channels are 0/1 is read from the data on every call: a scan that
 * stops as soon as too few channels could qualify, which for activations
 * (real values from the first pixels on) is a handful of pixels.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ConvGeometry } from './conv-geometry';
import { derivedTensors } from './derived-tensors';
import { asWasmBackend, emptyHeapTensor, heapAddress } from './heap-views';
import { FunctionBuilder, instantiateOnMemory, perMemory, type Local } from './wasm-assembler';

/** 0/1 channels from which the sparse form is used. */
const BINARY_INPUT_MIN_CHANNELS = 8;
/** Kernel taps (kh * kw) from which the sparse form is used (the 7x7 input convs, D's 4x4). */
const BINARY_INPUT_MIN_TAPS = 9;
/** Output channels per kernel pass, held in 16 f32x4 accumulators. */
const CHANNELS_PER_PASS = 64;

/**
 * Whether a conv's shape could profit (the data decides the rest): enough
 * taps and input channels, output channels a multiple of 4 (f32x4 lanes).
 */
export function mayUseBinaryInput(taps: number, inChannels: number, outChannels: number): boolean {
  return taps >= BINARY_INPUT_MIN_TAPS && inChannels >= BINARY_INPUT_MIN_CHANNELS && outChannels % 4 === 0;
}

/**
 * The 0/1 channels of an NHWC tensor's values, or null when fewer than
 * BINARY_INPUT_MIN_CHANNELS are (found out as early as possible).
 */
export function binaryChannels(values: Float32Array, channels: number): boolean[] | null {
  const binary = new Array<boolean>(channels).fill(true);
  let remaining = channels;
  for (let i = 0; i < values.length; i += channels) {
    for (let c = 0; c < channels; c++) {
      const v = values[i + c]!;
      if (v !== 0 && v !== 1 && binary[c]) {
        binary[c] = false;
        if (--remaining < BINARY_INPUT_MIN_CHANNELS) return null;
      }
    }
  }
  return binary;
}

/**
 * The ones of each pixel as compressed rows: pixel p's 0/1 channels that are
 * 1 are entries starts[p] .. starts[p + 1] - 1, each stored as the byte
 * offset of that channel's row in a tap's [Ci, Co] filter matrix.
 */
function onesPerPixel(
  values: Float32Array,
  pixels: number,
  channels: number,
  binary: readonly boolean[],
  rowBytes: number,
  starts: Int32Array,
): Int32Array {
  const binaryList = binary.flatMap((isBinary, c) => (isBinary ? [c] : []));
  let entries = new Int32Array(pixels + 16);
  let count = 0;
  for (let p = 0; p < pixels; p++) {
    starts[p] = count;
    const base = p * channels;
    for (const c of binaryList) {
      if (values[base + c] === 1) {
        if (count === entries.length) {
          const grown = new Int32Array(entries.length * 2);
          grown.set(entries);
          entries = grown;
        }
        entries[count++] = c * rowBytes;
      }
    }
  }
  starts[pixels] = count;
  return entries.subarray(0, count);
}

/**
 * What a binary-input kernel computes over the same loops (output pixel, tap
 * in range, the input pixel's ones):
 * - `forward`: kernel(out, filter, ...): each output pixel's channels are the
 *   sum of the filter rows of its taps' ones;
 * - `filterGradient`: kernel(dFilter, dy, ...): each output pixel's dy row is
 *   added to the dFilter rows of its taps' ones (dFilter accumulates: the
 *   caller zeroes it).
 */
type BinaryKernelKind = 'forward' | 'filterGradient';

/**
 * kernel(target, source, starts, entries, H, W, outH, outW, kh, kw,
 * strideH, strideW, padTop, padLeft, Ci, Co, coStart): one image, output
 * channels coStart .. coStart + 4 * vectors - 1, every output pixel. The
 * output pixel's row is `target` (forward) or `source` (filterGradient);
 * the filter is the other.
 */
function binaryConvKernel(vectors: number, kind: BinaryKernelKind): FunctionBuilder {
  const f = new FunctionBuilder(17);
  const [
    target,
    source,
    starts,
    entries,
    height,
    width,
    outHeight,
    outWidth,
    kernelHeight,
    kernelWidth,
    strideHeight,
    strideWidth,
    padTop,
    padLeft,
    inChannels,
    outChannels,
    coStart,
  ] = f.params();
  const filter = kind === 'forward' ? source! : target!;
  const pixelRows = kind === 'forward' ? target! : source!;
  const [oy, ox, i, j, iy0, ix0, iMin, iMax, jMin, jMax, tapBytes, pixelOutBytes, coBytes, p, e, eEnd, row, address, limit] =
    f.i32Locals(19);
  const vectorLocals = f.v128Locals(vectors);
  f.get(inChannels!).get(outChannels!).mul().i32(4).mul().set(tapBytes!);
  f.product(pixelOutBytes!, outChannels!, 4);
  f.product(coBytes!, coStart!, 4);
  /** origin = out * stride - pad; taps [first, last) are those with origin + tap in [0, size). */
  const tapRange = (out: Local, stride: Local, pad: Local, size: Local, kernel: Local, origin: Local, first: Local, last: Local): void => {
    f.get(out).get(stride).mul().get(pad).sub().set(origin);
    f.i32(0).get(origin).sub().set(limit!);
    f.max(first, 0, limit!);
    f.get(size).get(origin).sub().set(limit!);
    f.min(last, kernel, limit!);
  };
  /** address = the output pixel's row, at this pass's first channel. */
  const pixelRow = (): void => {
    f.get(oy!).get(outWidth!).mul().get(ox!).add().get(pixelOutBytes!).mul().get(pixelRows).add().get(coBytes!).add().set(address!);
  };
  f.forRange(oy!, 0, outHeight!, 1, () => {
    tapRange(oy!, strideHeight!, padTop!, height!, kernelHeight!, iy0!, iMin!, iMax!);
    f.forRange(ox!, 0, outWidth!, 1, () => {
      tapRange(ox!, strideWidth!, padLeft!, width!, kernelWidth!, ix0!, jMin!, jMax!);
      if (kind === 'forward') {
        for (const accumulator of vectorLocals) f.v128Zero().set(accumulator);
      } else {
        pixelRow();
        vectorLocals.forEach((gradient, v) => {
          f.get(address!).v128Load(16 * v).set(gradient);
        });
      }
      f.forRange(i!, iMin!, iMax!, 1, () => {
        f.forRange(j!, jMin!, jMax!, 1, () => {
          // p: the input pixel; its ones are entries[starts[p] .. starts[p + 1]).
          f.get(iy0!).get(i!).add().get(width!).mul().get(ix0!).add().get(j!).add().i32(4).mul().get(starts!).add().set(p!);
          f.get(p!).i32Load().set(e!);
          f.get(p!).i32Load(4).set(eEnd!);
          // The tap's filter matrix, at this pass's first output channel.
          f.get(i!).get(kernelWidth!).mul().get(j!).add().get(tapBytes!).mul().get(filter).add().get(coBytes!).add().set(address!);
          f.forRange(e!, e!, eEnd!, 1, () => {
            f.get(e!).i32(4).mul().get(entries!).add().i32Load().get(address!).add().set(row!);
            vectorLocals.forEach((local, v) => {
              if (kind === 'forward') {
                f.get(local).get(row!).v128Load(16 * v).f32x4Add().set(local);
              } else {
                f.get(row!).get(row!).v128Load(16 * v).get(local).f32x4Add().v128Store(16 * v);
              }
            });
          });
        });
      });
      if (kind === 'forward') {
        pixelRow();
        vectorLocals.forEach((accumulator, v) => {
          f.get(address!).get(accumulator).v128Store(16 * v);
        });
      }
    });
  });
  return f;
}

type BinaryConvKernel = (...args: number[]) => void;


/** Kernels by kind and vector count, compiled when first needed, once per memory. */
const kernelsOf = perMemory(() => new Map<string, BinaryConvKernel>());

/** The `kind` kernel for `vectors` f32x4 registers. */
function kernelFor(memory: { buffer: ArrayBufferLike }, vectors: number, kind: BinaryKernelKind): BinaryConvKernel {
  const kernels = kernelsOf(memory);
  const key = `${kind}/${vectors}`;
  let kernel = kernels.get(key);
  if (kernel === undefined) {
    kernel = instantiateOnMemory([{ name: 'conv', builder: binaryConvKernel(vectors, kind) }], memory)['conv'] as BinaryConvKernel;
    kernels.set(key, kernel);
  }
  return kernel;
}

/** The shapes a binary-input kernel runs over (one conv). */
interface BinaryConvShape {
  batch: number;
  height: number;
  width: number;
  inChannels: number;
  outHeight: number;
  outWidth: number;
  kernelHeight: number;
  kernelWidth: number;
  outChannels: number;
}

/**
 * Runs the `kind` kernel on every image of `x` (whose `binary` channels are
 * 0/1): `target(n)` and `source(n)` are the kernel's first two addresses for
 * image n (see binaryConvKernel).
 */
function runBinaryKernel(
  kind: BinaryKernelKind,
  x: tf.Tensor4D,
  binary: readonly boolean[],
  shape: BinaryConvShape,
  geometry: ConvGeometry,
  memory: { buffer: ArrayBufferLike },
  target: (n: number) => number,
  source: (n: number) => number,
): void {
  const backend = tf.backend();
  const wasm = asWasmBackend(backend);
  const { batch, height, width, inChannels, outChannels } = shape;
  const pixels = height * width;
  const imageSize = pixels * inChannels;
  for (let n = 0; n < batch; n++) {
    // The forward pass and the filter gradient read the same input (and D's passes share theirs): kept for the step (./derived-tensors).
    const ones = derivedTensors(x, `ones per pixel, image ${n}, row bytes ${outChannels * 4}`, () => {
      const starts = emptyHeapTensor(backend, [pixels + 1], 'int32');
      const values = (wasm.typedArrayFromHeap(x) as Float32Array).subarray(n * imageSize, (n + 1) * imageSize);
      const list = onesPerPixel(values, pixels, inChannels, binary, outChannels * 4, wasm.typedArrayFromHeap(starts) as Int32Array);
      const entries = emptyHeapTensor(backend, [Math.max(1, list.length)], 'int32');
      (wasm.typedArrayFromHeap(entries) as Int32Array).set(list);
      return [starts, entries];
    });
    // Addresses stay put while the tensors live; only views must be re-taken after an allocation.
    const [startsAddress, entriesAddress] = ones.tensors.map((t) => heapAddress(backend, t)) as [number, number];
    for (let coStart = 0; coStart < outChannels; coStart += CHANNELS_PER_PASS) {
      const vectors = Math.min(CHANNELS_PER_PASS, outChannels - coStart) / 4;
      kernelFor(memory, vectors, kind)(
        target(n),
        source(n),
        startsAddress,
        entriesAddress,
        height,
        width,
        shape.outHeight,
        shape.outWidth,
        shape.kernelHeight,
        shape.kernelWidth,
        geometry.strideHeight,
        geometry.strideWidth,
        geometry.padTop,
        geometry.padLeft,
        inChannels,
        outChannels,
        coStart,
      );
    }
    if (!ones.cached) tf.dispose(ones.tensors);
  }
}

/** The channels of `binary` that are not 0/1. */
function denseChannels(binary: readonly boolean[]): number[] {
  return binary.flatMap((isBinary, c) => (isBinary ? [] : [c]));
}

/**
 * Conv2D (NHWC, filter [kh, kw, Ci, Co], no dilation) of `x` with the
 * channels flagged in `binary` holding only 0/1 values; zero padding of
 * `padTop`/`padLeft` before the input; `denseConv` convolves the other
 * channels (same stride and padding). `memory` is tfjs's heap
 * (`wasmMemoryOf`). Call inside a tidy scope, on wasm.
 */
export function conv2dBinaryInput(
  x: tf.Tensor4D,
  filter: tf.Tensor4D,
  binary: readonly boolean[],
  outHeight: number,
  outWidth: number,
  geometry: ConvGeometry,
  memory: { buffer: ArrayBufferLike },
  denseConv: (x: tf.Tensor4D, filter: tf.Tensor4D) => tf.Tensor4D,
): tf.Tensor4D {
  const backend = tf.backend();
  const [batch, height, width, inChannels] = x.shape;
  const [kernelHeight, kernelWidth, , outChannels] = filter.shape;
  const outImageBytes = outHeight * outWidth * outChannels * 4;
  const y = emptyHeapTensor(backend, [batch, outHeight, outWidth, outChannels]);
  const outAddress = heapAddress(backend, y);
  const filterAddress = heapAddress(backend, filter);
  const shape = { batch, height, width, inChannels, outHeight, outWidth, kernelHeight, kernelWidth, outChannels };
  runBinaryKernel('forward', x, binary, shape, geometry, memory, (n) => outAddress + n * outImageBytes, () => filterAddress);

  const dense = denseChannels(binary);
  if (dense.length === 0) return y as tf.Tensor4D;
  const denseInput = tf.gather(x, dense, 3) as tf.Tensor4D;
  const denseFilter = tf.gather(filter, dense, 2) as tf.Tensor4D;
  const sum = tf.add(y, denseConv(denseInput, denseFilter)) as tf.Tensor4D;
  tf.dispose([y, denseInput, denseFilter]);
  return sum;
}

/**
 * Conv2DBackpropFilter of a conv whose input `x` has the channels flagged in
 * `binary` holding only 0/1 values: a 0/1 channel's filter row at a tap is
 * the sum of the dy rows of the output pixels whose tap reads a 1 there, so
 * each output pixel's dy row is added to about one filter row per tap (the
 * 7x7 input conv of G1 at 256x128: 49 row additions per pixel instead of a
 * [36, 33K] x [33K, 64] matmul per tap). The sums are the dense gradient's
 * (products with 1 are exact; only the order of additions differs).
 * `denseGradient` computes the other channels' rows (same geometry). Call
 * inside a tidy scope, on wasm.
 */
export function conv2dFilterGradientBinaryInput(
  x: tf.Tensor4D,
  dy: tf.Tensor4D,
  filterShape: [number, number, number, number],
  binary: readonly boolean[],
  geometry: ConvGeometry,
  memory: { buffer: ArrayBufferLike },
  denseGradient: (x: tf.Tensor4D, filterShape: [number, number, number, number]) => tf.Tensor4D,
): tf.Tensor4D {
  const backend = tf.backend();
  const wasm = asWasmBackend(backend);
  const [batch, height, width, inChannels] = x.shape;
  const [, outHeight, outWidth, outChannels] = dy.shape;
  const [kernelHeight, kernelWidth] = filterShape;
  const dyImageBytes = outHeight * outWidth * outChannels * 4;
  const gradient = emptyHeapTensor(backend, filterShape);
  // The kernel adds into it.
  wasm.typedArrayFromHeap(gradient).fill(0);
  const gradientAddress = heapAddress(backend, gradient);
  const dyAddress = heapAddress(backend, dy);
  const shape = { batch, height, width, inChannels, outHeight, outWidth, kernelHeight, kernelWidth, outChannels };
  runBinaryKernel('filterGradient', x, binary, shape, geometry, memory, () => gradientAddress, (n) => dyAddress + n * dyImageBytes);

  const dense = denseChannels(binary);
  if (dense.length === 0) return gradient as tf.Tensor4D;
  // The dense channels' rows (the binary kernel left them zero), put in place
  // by a gather whose other indices read an appended zero row.
  const denseInput = tf.gather(x, dense, 3) as tf.Tensor4D;
  const denseRows = denseGradient(denseInput, [kernelHeight, kernelWidth, dense.length, outChannels]);
  const withZeroRow = tf.concat([denseRows, tf.zeros([kernelHeight, kernelWidth, 1, outChannels])], 2);
  const rowOf = binary.map((isBinary, c) => (isBinary ? dense.length : dense.indexOf(c)));
  const sum = tf.add(gradient, tf.gather(withZeroRow, rowOf, 2)) as tf.Tensor4D;
  tf.dispose([gradient, denseInput, denseRows, withZeroRow]);
  return sum;
}
