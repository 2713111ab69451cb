/**
 * 3x3 stride-1 Conv2D by Winograd's minimal filtering F(4x4, 3x3) (Lavin &
 * Gray, "Fast Algorithms for Convolutional Neural Networks", CVPR 2016).
 *
 * Each 4x4 block of outputs ("tile") is computed from the 6x6 input patch
 * around it as
 *
 *   Y = A^T [ (G g G^T) (.) (B^T d B) ] A
 *
 * per channel pair, where (.) is the element-wise product of 6x6 matrices.
 * Summed over input channels, each of the 36 positions of the 6x6 product is
 * an independent matmul:
 *
 *   M_t [Co, tiles] = U_t [Co, Ci] x V_t [Ci, tiles],   t = 0..35
 *
 * that is 36 multiply-adds per 16 outputs and channel pair against the direct
 * form's 144: 4x fewer. The matmuls run on XNNPACK; the transforms (U from the filter, V from the
 * input, the output from M) are single JavaScript passes over the wasm heap.
 *
 * This is the generator's hot spot: the reference's default G1 spends 2/3 of
 * its direct-convolution time in its 18 residual 3x3 convs (1024 -> 1024
 * channels), and the local enhancer's residual blocks are 3x3 convs too.
 * Orientation: V_t is the matmul's right operand, which XNNPACK packs on every
 * call (cheap: Ci x tiles); U_t is the streamed left operand, which it does
 * not pack. Rounding: F(4x4, 3x3) in float32 differs from the direct sum by
 * a few 1e-7 relative (tested in test/backend/winograd.test.ts).
 */
import * as tf from '@tensorflow/tfjs-core';
import { asWasmBackend, wasmMemoryOf } from './heap-views';
import { batchTranspose } from './js-kernels';
import { winogradSimdKernels, type RowKernel } from './winograd-simd';

/** Positions of the 6x6 transformed tile. */
const POSITIONS = 36;
/** Output tile side. */
const TILE = 4;
/** Input patch side. */
const PATCH = 6;

/** Output pixels from which Winograd pays for its filter transform (see `preferWinograd`). */
export const WINOGRAD_MIN_OUTPUT_PIXELS = 256;
/** Channels (in and out) from which the matmuls are large enough to run near XNNPACK's peak. */
export const WINOGRAD_MIN_CHANNELS = 32;

let simdTransformsEnabled = true;

/**
 * Whether the transforms may run as wasm SIMD kernels (the default) rather
 * than in JavaScript; for tests and benchmarks of both. Returns the previous
 * setting.
 */
export function setWinogradSimdTransforms(enabled: boolean): boolean {
  const previous = simdTransformsEnabled;
  simdTransformsEnabled = enabled;
  return previous;
}

/**
 * Whether a 3x3 stride-1 conv is worth computing by Winograd. Its filter
 * transform (~55 ns per channel pair) costs what the direct form spends on
 * ~120 output pixels; measured on 1024 -> 1024 channels (1 / 2 threads,
 * direct against Winograd): 128 px 127/93 against 91/88 ms, 256 px 219/144
 * against 107/100, 512 px 394/248 against 157/110. From 256 pixels the gain
 * is clear; below, small images (the training bottleneck at 256x128 is 128
 * pixels) keep the direct form.
 */
export function preferWinograd(outputPixels: number, inChannels: number, outChannels: number): boolean {
  return (
    outputPixels >= WINOGRAD_MIN_OUTPUT_PIXELS && inChannels >= WINOGRAD_MIN_CHANNELS && outChannels >= WINOGRAD_MIN_CHANNELS
  );
}

/** G's entries, as multiplications (a division per use would cost more than the rest of the transform). */
const SIXTH = 1 / 6;
const TWELFTH = 1 / 12;
const TWENTY_FOURTH = 1 / 24;

/**
 * U_t = G g G^T for every channel pair, written as 36 row-major [Co, Ci]
 * matrices (one per position t). `filter` is [3, 3, Ci, Co].
 */
function transformFilter(filter: Float32Array, inChannels: number, outChannels: number, u: Float32Array[]): void {
  const tap = inChannels * outChannels;
  // Blocks of input channels: the 36 rows are written in runs of BLOCK
  // floats, the filter read from the 9 * BLOCK lines kept in cache.
  const BLOCK = 16;
  // T[r][b] = (g G^T)[r][b] at 3b + r; float64, as JavaScript computes anyway.
  const rowTransformed = new Float64Array(18);
  for (let ciStart = 0; ciStart < inChannels; ciStart += BLOCK) {
    const ciEnd = Math.min(ciStart + BLOCK, inChannels);
    for (let co = 0; co < outChannels; co++) {
      for (let ci = ciStart; ci < ciEnd; ci++) {
        const at = ci * outChannels + co;
        const out = co * inChannels + ci;
        // G along the kernel's columns (k0..k2 of row r), then along its rows.
        for (let r = 0; r < 3; r++) {
          const rowAt = at + 3 * r * tap;
          const g0 = filter[rowAt]!;
          const g1 = filter[rowAt + tap]!;
          const g2 = filter[rowAt + 2 * tap]!;
          const s = -(g0 + g2) * SIXTH;
          const p = g0 * TWENTY_FOURTH + g2 * SIXTH;
          const q = g1 * TWELFTH;
          const h = g1 * SIXTH;
          rowTransformed[r] = g0 * 0.25;
          rowTransformed[3 + r] = s - h;
          rowTransformed[6 + r] = s + h;
          rowTransformed[9 + r] = p + q;
          rowTransformed[12 + r] = p - q;
          rowTransformed[15 + r] = g2;
        }
        for (let j = 0; j < PATCH; j++) {
          const g0 = rowTransformed[3 * j]!;
          const g1 = rowTransformed[3 * j + 1]!;
          const g2 = rowTransformed[3 * j + 2]!;
          const s = -(g0 + g2) * SIXTH;
          const p = g0 * TWENTY_FOURTH + g2 * SIXTH;
          const q = g1 * TWELFTH;
          const h = g1 * SIXTH;
          u[j]![out] = g0 * 0.25;
          u[6 + j]![out] = s - h;
          u[12 + j]![out] = s + h;
          u[18 + j]![out] = p + q;
          u[24 + j]![out] = p - q;
          u[30 + j]![out] = g2;
        }
      }
    }
  }
}

/**
 * V_t = B^T d B for every tile and input channel, written as 36 row-major
 * [Ci, tiles] matrices. `x` is [N, H, W, Ci] and covers every tile's patch
 * (H >= 4 * tileRows + 2, W >= 4 * tileCols + 2).
 */
function transformInput(
  x: Float32Array,
  [batch, height, width, channels]: readonly number[],
  tileRows: number,
  tileCols: number,
  v: Float32Array[],
): void {
  const tiles = batch * tileRows * tileCols;
  const rowStride = width * channels;
  const d = new Float64Array(POSITIONS);
  for (let n = 0; n < batch; n++) {
    for (let ty = 0; ty < tileRows; ty++) {
      const tileBase = (n * tileRows + ty) * tileCols;
      const patchBase = (n * height + ty * TILE) * rowStride;
      for (let c = 0; c < channels; c++) {
        const vRow = c * tiles + tileBase;
        for (let tx = 0; tx < tileCols; tx++) {
          const origin = patchBase + tx * TILE * channels + c;
          // B^T along each of the 6 columns of the patch.
          for (let j = 0; j < PATCH; j++) {
            const at = origin + j * channels;
            const d0 = x[at]!;
            const d1 = x[at + rowStride]!;
            const d2 = x[at + 2 * rowStride]!;
            const d3 = x[at + 3 * rowStride]!;
            const d4 = x[at + 4 * rowStride]!;
            const d5 = x[at + 5 * rowStride]!;
            const a = d4 - 4 * d2;
            const b = d3 - 4 * d1;
            const e = d4 - d2;
            const f = 2 * (d3 - d1);
            d[j] = 4 * d0 - 5 * d2 + d4;
            d[6 + j] = a + b;
            d[12 + j] = a - b;
            d[18 + j] = e + f;
            d[24 + j] = e - f;
            d[30 + j] = 4 * d1 - 5 * d3 + d5;
          }
          // B along each of the 6 rows.
          const at = vRow + tx;
          for (let i = 0; i < PATCH; i++) {
            const r = 6 * i;
            const d0 = d[r]!;
            const d1 = d[r + 1]!;
            const d2 = d[r + 2]!;
            const d3 = d[r + 3]!;
            const d4 = d[r + 4]!;
            const d5 = d[r + 5]!;
            const a = d4 - 4 * d2;
            const b = d3 - 4 * d1;
            const e = d4 - d2;
            const f = 2 * (d3 - d1);
            v[r]![at] = 4 * d0 - 5 * d2 + d4;
            v[r + 1]![at] = a + b;
            v[r + 2]![at] = a - b;
            v[r + 3]![at] = e + f;
            v[r + 4]![at] = e - f;
            v[r + 5]![at] = 4 * d1 - 5 * d3 + d5;
          }
        }
      }
    }
  }
}

/**
 * Y = A^T M A for every tile and output channel, from 36 row-major
 * [Co, tiles] matrices into y [N, Ho, Wo, Co] (tiles overhanging the output
 * are cut).
 */
function transformOutput(
  m: Float32Array[],
  y: Float32Array,
  [batch, outHeight, outWidth, channels]: readonly number[],
  tileRows: number,
  tileCols: number,
): void {
  const tiles = batch * tileRows * tileCols;
  const rowStride = outWidth * channels;
  const s = new Float64Array(24);
  for (let n = 0; n < batch; n++) {
    for (let ty = 0; ty < tileRows; ty++) {
      const tileBase = (n * tileRows + ty) * tileCols;
      const rows = Math.min(TILE, outHeight - ty * TILE);
      const outBase = (n * outHeight + ty * TILE) * rowStride;
      for (let c = 0; c < channels; c++) {
        const mRow = c * tiles + tileBase;
        for (let tx = 0; tx < tileCols; tx++) {
          const at = mRow + tx;
          // A^T along each of the 6 columns.
          for (let j = 0; j < PATCH; j++) {
            const m0 = m[j]![at]!;
            const m1 = m[6 + j]![at]!;
            const m2 = m[12 + j]![at]!;
            const m3 = m[18 + j]![at]!;
            const m4 = m[24 + j]![at]!;
            const m5 = m[30 + j]![at]!;
            const s12 = m1 + m2;
            const d12 = m1 - m2;
            const s34 = m3 + m4;
            const d34 = m3 - m4;
            s[j] = m0 + s12 + s34;
            s[6 + j] = d12 + 2 * d34;
            s[12 + j] = s12 + 4 * s34;
            s[18 + j] = d12 + 8 * d34 + m5;
          }
          // A along each of the 4 rows, cut to the output.
          const cols = Math.min(TILE, outWidth - tx * TILE);
          for (let i = 0; i < rows; i++) {
            const r = 6 * i;
            const m0 = s[r]!;
            const m1 = s[r + 1]!;
            const m2 = s[r + 2]!;
            const m3 = s[r + 3]!;
            const m4 = s[r + 4]!;
            const m5 = s[r + 5]!;
            const s12 = m1 + m2;
            const d12 = m1 - m2;
            const s34 = m3 + m4;
            const d34 = m3 - m4;
            const o = outBase + i * rowStride + tx * TILE * channels + c;
            y[o] = m0 + s12 + s34;
            if (cols > 1) y[o + channels] = d12 + 2 * d34;
            if (cols > 2) y[o + 2 * channels] = s12 + 4 * s34;
            if (cols > 3) y[o + 3 * channels] = d12 + 8 * d34 + m5;
          }
        }
      }
    }
  }
}

/** A fresh heap tensor of `shape` (contents undefined until written). */
function emptyTensor(backend: tf.KernelBackend, shape: number[]): tf.Tensor {
  const info = asWasmBackend(backend).makeOutput(shape, 'float32');
  return tf.engine().makeTensorFromTensorInfo(info, backend);
}

function heapView(backend: tf.KernelBackend, t: tf.Tensor): Float32Array {
  return asWasmBackend(backend).typedArrayFromHeap(t) as Float32Array;
}

/**
 * Conv2D with a [3, 3, Ci, Co] filter, stride 1, no dilation, NHWC; `padTop`
 * and `padLeft` zeros before the input (the rest of 'same' padding follows
 * from the output size). Call inside a tidy scope.
 */
export function conv2dWinograd(
  x: tf.Tensor4D,
  filter: tf.Tensor4D,
  outHeight: number,
  outWidth: number,
  padTop: number,
  padLeft: number,
): tf.Tensor4D {
  const backend = tf.backend();
  const [batch, height, width, inChannels] = x.shape;
  const outChannels = filter.shape[3];
  const tileRows = Math.ceil(outHeight / TILE);
  const tileCols = Math.ceil(outWidth / TILE);
  const tiles = batch * tileRows * tileCols;

  // Zero padding (the conv's own, plus the overhang of the last tiles).
  const needHeight = TILE * tileRows + 2;
  const needWidth = TILE * tileCols + 2;
  const padded =
    padTop === 0 && padLeft === 0 && height >= needHeight && width >= needWidth
      ? x
      : tf.pad(
          tf.slice(x, [0, 0, 0, 0], [-1, Math.min(height, needHeight - padTop), Math.min(width, needWidth - padLeft), -1]),
          [
            [0, 0],
            [padTop, Math.max(0, needHeight - padTop - height)],
            [padLeft, Math.max(0, needWidth - padLeft - width)],
            [0, 0],
          ],
        );

  const simd = simdTransformsEnabled && inChannels % 4 === 0 && outChannels % 4 === 0 ? simdKernels(backend) : null;
  // XNNPACK packs the matmul's right operand on every call: make it the
  // smaller of V_t (Ci x tiles) and U_t (Ci x Co). Channel-major (U_t on the
  // left) suits few tiles and many channels, the generator's bottleneck;
  // tile-major (V_t on the left) large images with few channels, as in the
  // local enhancer. The JavaScript transforms are channel-major only.
  const tileMajor = simd !== null && tiles > outChannels;
  const u: tf.Tensor[] = [];
  const v: tf.Tensor[] = [];
  for (let t = 0; t < POSITIONS; t++) {
    u.push(emptyTensor(backend, tileMajor ? [inChannels, outChannels] : [outChannels, inChannels]));
    v.push(emptyTensor(backend, tileMajor ? [tiles, inChannels] : [inChannels, tiles]));
  }
  if (simd !== null) {
    simd.transformFilter(filter, u, tileMajor);
    simd.transformInput(padded, tileRows, tileCols, v, tileMajor);
  } else {
    // Views only after every allocation: growing the heap detaches them.
    transformFilter(
      heapView(backend, filter),
      inChannels,
      outChannels,
      u.map((t) => heapView(backend, t)),
    );
    transformInput(
      heapView(backend, padded),
      padded.shape,
      tileRows,
      tileCols,
      v.map((t) => heapView(backend, t)),
    );
  }
  if (padded !== x) padded.dispose();

  const m: tf.Tensor[] = [];
  for (let t = 0; t < POSITIONS; t++) {
    m.push(tileMajor ? tf.matMul(v[t]! as tf.Tensor2D, u[t]! as tf.Tensor2D) : tf.matMul(u[t]! as tf.Tensor2D, v[t]! as tf.Tensor2D));
    u[t]!.dispose();
    v[t]!.dispose();
  }
  let y: tf.Tensor4D;
  if (simd !== null) {
    y = simd.transformOutput(m, batch, outHeight, outWidth, outChannels, tileRows, tileCols, tileMajor);
  } else {
    y = emptyTensor(backend, [batch, outHeight, outWidth, outChannels]) as tf.Tensor4D;
    transformOutput(
      m.map((t) => heapView(backend, t)),
      heapView(backend, y),
      y.shape,
      tileRows,
      tileCols,
    );
  }
  tf.dispose(m);
  return y;
}

/** Filter-transform calls cover this many rows each (V8 optimises a kernel between calls, not within one). */
const FILTER_ROWS_PER_CALL = 64;

interface SimdTransforms {
  transformFilter(filter: tf.Tensor4D, u: tf.Tensor[], tileMajor: boolean): void;
  transformInput(padded: tf.Tensor4D, tileRows: number, tileCols: number, v: tf.Tensor[], tileMajor: boolean): void;
  transformOutput(
    m: tf.Tensor[],
    batch: number,
    outHeight: number,
    outWidth: number,
    outChannels: number,
    tileRows: number,
    tileCols: number,
    tileMajor: boolean,
  ): tf.Tensor4D;
}

/**
 * Calls a row kernel of ./winograd-simd once per row of tiles (V8 optimises
 * a kernel between calls, not within one): `image` is the byte address of
 * an NHWC [batch, height, width, channels] image, input or output, whose
 * tile row ty starts at image row 4 * ty.
 */
function runPerTileRow(
  kernel: RowKernel,
  image: number,
  height: number,
  width: number,
  channels: number,
  batch: number,
  tileRows: number,
  tileCols: number,
  table: number,
): void {
  const tiles = batch * tileRows * tileCols;
  for (let n = 0; n < batch; n++) {
    for (let ty = 0; ty < tileRows; ty++) {
      const rowStart = image + (n * height + TILE * ty) * width * channels * 4;
      kernel(rowStart, channels, width, tileCols, tiles, (n * tileRows + ty) * tileCols, table);
    }
  }
}

/**
 * The wasm SIMD transforms (./winograd-simd) over tensors on `backend`'s
 * heap, or null when its memory is not reachable (then the JavaScript
 * transforms run).
 */
function simdKernels(backend: tf.KernelBackend): SimdTransforms | null {
  const memory = wasmMemoryOf(backend);
  if (memory === null) return null;
  const kernels = winogradSimdKernels(memory);
  const address = (t: tf.Tensor): number => asWasmBackend(backend).typedArrayFromHeap(t).byteOffset;
  /** Writes the 36 matrices' addresses to a fresh int32 table tensor; returns it and its address. */
  const table = (matrices: tf.Tensor[]): { tensor: tf.Tensor; at: number } => {
    const tensor = tf.engine().makeTensorFromTensorInfo(asWasmBackend(backend).makeOutput([POSITIONS], 'int32'), backend);
    const view = asWasmBackend(backend).typedArrayFromHeap(tensor) as Int32Array;
    matrices.forEach((matrix, t) => (view[t] = address(matrix)));
    return { tensor, at: view.byteOffset };
  };
  return {
    transformFilter(filter, u, tileMajor) {
      const [, , inChannels, outChannels] = filter.shape;
      // Per tap, U_t's layout: [Ci, Co] as the filter is, or [Co, Ci].
      const source = tileMajor ? filter : batchTranspose(tf.reshape(filter, [9, inChannels, outChannels]));
      const [rows, cols] = tileMajor ? [inChannels, outChannels] : [outChannels, inChannels];
      const { tensor, at } = table(u);
      const from = address(source);
      for (let row = 0; row < rows; row += FILTER_ROWS_PER_CALL) {
        kernels.filter(from, rows, cols, at, row, Math.min(row + FILTER_ROWS_PER_CALL, rows));
      }
      tensor.dispose();
      if (source !== filter) source.dispose();
    },
    transformInput(padded, tileRows, tileCols, v, tileMajor) {
      const [batch, height, width, channels] = padded.shape;
      const { tensor, at } = table(v);
      runPerTileRow(tileMajor ? kernels.inputTileMajor : kernels.input, address(padded), height, width, channels, batch, tileRows, tileCols, at);
      tensor.dispose();
    },
    transformOutput(m, batch, outHeight, outWidth, outChannels, tileRows, tileCols, tileMajor) {
      // Whole tiles are written; an output that is not a multiple of 4 is cut after.
      const fullHeight = TILE * tileRows;
      const fullWidth = TILE * tileCols;
      const full = emptyTensor(backend, [batch, fullHeight, fullWidth, outChannels]) as tf.Tensor4D;
      const { tensor, at } = table(m);
      const kernel = tileMajor ? kernels.outputTileMajor : kernels.output;
      runPerTileRow(kernel, address(full), fullHeight, fullWidth, outChannels, batch, tileRows, tileCols, at);
      tensor.dispose();
      if (fullHeight === outHeight && fullWidth === outWidth) return full;
      const cut = tf.slice(full, [0, 0, 0, 0], [-1, outHeight, outWidth, -1]);
      full.dispose();
      return cut;
    },
  };
}
