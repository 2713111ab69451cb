/**
 * Conv2DBackpropInput for wasm as phase-decomposed XNNPACK conv2d.
 *
 * tfjs 4.22's wasm kernel is a naive loop (about 3.4 GFLOP/s here). It is the
 * input gradient of every convolution and the forward pass of every
 * transposed convolution, so it is rebuilt from the fast forward conv2d:
 *
 *   dx[h] = sum over k with (h + padTop - k) divisible by s of dy[(h + padTop - k) / s] * w[k]
 *
 * (per spatial axis). Output rows h with the same residue of h + padTop mod s
 * only meet taps k of that residue, so each of the s*s output phases is a
 * stride-1 correlation of dy with a flipped sub-filter w[r::s] (in and out
 * channels swapped), done as one valid conv2d on a padded/cropped window of
 * dy. No work is spent on the zeros a strided transposed convolution inserts.
 * The phases are then interleaved into dx.
 *
 * For small images with large filters (the generator's bottleneck), a phase
 * is computed as one matmul per tap instead (see ./conv2d-tap-gemm): there
 * each tap's operand is a contiguous [Ci, Co] block of the filter as it is,
 * so neither the JS flip nor XNNPACK's filter packing is needed.
 */
import * as tf from '@tensorflow/tfjs-core';
import { spatialWindow } from './conv-geometry';
import { tapWindows, type ConvGeometry } from './conv-taps';
import { preferTapGemm } from './conv2d-tap-gemm';
import { batchTranspose } from './js-kernels';

/** One output phase along one axis. */
interface AxisPhase {
  /** Tap residue: the phase uses taps k = residue, residue + s, ... */
  residue: number;
  /** Number of taps of that residue (may be 0 when the kernel is smaller than the stride). */
  taps: number;
  /** First dy index the phase's first output reads through its last tap. */
  firstQuotient: number;
  /** Output position of the phase's first element (0 <= offset < s). */
  offset: number;
  /** Number of outputs in the phase: positions offset, offset + s, ... below size. */
  count: number;
}

function axisPhases(size: number, kernel: number, stride: number, pad: number): AxisPhase[] {
  const phases: AxisPhase[] = [];
  for (let residue = 0; residue < stride; residue++) {
    const taps = Math.max(0, Math.ceil((kernel - residue) / stride));
    // Output h belongs to this phase iff (h + pad) % stride === residue, i.e. h = q*stride + residue - pad.
    const firstQuotient = Math.ceil((pad - residue) / stride);
    const offset = firstQuotient * stride + residue - pad;
    const count = offset < size ? Math.ceil((size - offset) / stride) : 0;
    phases.push({ residue, taps, firstQuotient, offset, count });
  }
  return phases;
}

/**
 * Flipped sub-filter w[rh::sh, rw::sw] with channels swapped, [th, tw, outC, inC],
 * built in JS: filters are small, and tfjs's wasm StridedSlice and Reverse are
 * naive loops that cost more than the arithmetic here.
 */
function phaseFilter(
  filterValues: Float32Array,
  filterShape: readonly number[],
  rowPhase: AxisPhase,
  colPhase: AxisPhase,
  sh: number,
  sw: number,
): tf.Tensor4D {
  const [, kernelWidth, inChannels, outChannels] = filterShape as [number, number, number, number];
  const rows = rowPhase.taps;
  const cols = colPhase.taps;
  const out = new Float32Array(rows * cols * outChannels * inChannels);
  for (let m = 0; m < rows; m++) {
    // Flip: output tap m reads filter row residue + s * (taps - 1 - m).
    const kh = rowPhase.residue + sh * (rows - 1 - m);
    for (let n = 0; n < cols; n++) {
      const kw = colPhase.residue + sw * (cols - 1 - n);
      const source = (kh * kernelWidth + kw) * inChannels * outChannels;
      const target = (m * cols + n) * outChannels * inChannels;
      for (let ci = 0; ci < inChannels; ci++) {
        for (let co = 0; co < outChannels; co++) {
          out[target + co * inChannels + ci] = filterValues[source + ci * outChannels + co]!;
        }
      }
    }
  }
  return tf.tensor4d(out, [rows, cols, outChannels, inChannels]);
}

export function conv2dInputGradient(
  dy: tf.Tensor4D,
  filter: tf.Tensor4D,
  inputShape: [number, number, number, number],
  geometry: ConvGeometry,
): tf.Tensor4D {
  const [batch, height, width, inChannels] = inputShape;
  const [kernelHeight, kernelWidth] = filter.shape;
  const { strideHeight: sh, strideWidth: sw, padTop, padLeft } = geometry;
  const outChannels = filter.shape[3];
  const rowPhases = axisPhases(height, kernelHeight, sh, padTop);
  const colPhases = axisPhases(width, kernelWidth, sw, padLeft);
  const useTapGemm = preferTapGemm(batch * Math.ceil(height / sh) * Math.ceil(width / sw), filter.size);
  let filterValues: Float32Array | undefined;

  /** The phase as one stride-1 correlation of a dy window with the flipped sub-filter. */
  const phaseCorrelation = (window: tf.Tensor4D, rows: AxisPhase, cols: AxisPhase): tf.Tensor4D => {
    if (!useTapGemm) {
      filterValues ??= filter.dataSync() as Float32Array;
      return tf.conv2d(window, phaseFilter(filterValues, filter.shape, rows, cols, sh, sw), 1, 'valid');
    }
    const windows = tapWindows(window, rows.taps, cols.taps, rows.count, cols.count, {
      strideHeight: 1,
      strideWidth: 1,
      padTop: 0,
      padLeft: 0,
    });
    const products: tf.Tensor2D[] = [];
    for (let m = 0; m < rows.taps; m++) {
      for (let n = 0; n < cols.taps; n++) {
        // Correlation tap (m, n) is filter tap (residue + s * (taps - 1 - m), ...), read as [Ci, Co].
        const kh = rows.residue + sh * (rows.taps - 1 - m);
        const kw = cols.residue + sw * (cols.taps - 1 - n);
        products.push(
          tf.tidy(() => {
            const tapFilter = tf.reshape(tf.slice(filter, [kh, kw, 0, 0], [1, 1, -1, -1]), [inChannels, outChannels]);
            return tf.matMul(tapFilter, windows.window(m, n));
          }),
        );
      }
    }
    const summed = products.length === 1 ? products[0]! : tf.addN(products); // [Ci, N*count*wide]
    const wide = tf.reshape(batchTranspose(tf.reshape(summed, [1, inChannels, windows.columns])), [
      batch,
      rows.count,
      windows.wideWidth,
      inChannels,
    ]);
    if (windows.wideWidth === cols.count) return wide as tf.Tensor4D;
    return tf.slice(wide, [0, 0, 0, 0], [-1, -1, cols.count, -1]) as tf.Tensor4D;
  };

  const phaseOutput = (rows: AxisPhase, cols: AxisPhase, padToRows: number, padToCols: number): tf.Tensor4D => {
    if (rows.count === 0 || cols.count === 0 || rows.taps === 0 || cols.taps === 0) {
      return tf.zeros([batch, padToRows, padToCols, inChannels]);
    }
    const window = spatialWindow(
      dy,
      rows.firstQuotient - rows.taps + 1,
      rows.count + rows.taps - 1,
      cols.firstQuotient - cols.taps + 1,
      cols.count + cols.taps - 1,
    );
    const out = phaseCorrelation(window, rows, cols);
    if (rows.count === padToRows && cols.count === padToCols) return out;
    return tf.pad(out, [
      [0, 0],
      [0, padToRows - rows.count],
      [0, padToCols - cols.count],
      [0, 0],
    ]);
  };

  if (sh === 1 && sw === 1) return phaseOutput(rowPhases[0]!, colPhases[0]!, height, width);

  // Interleave: phases indexed by output offset; every phase padded to the largest count.
  const rowsPerPhase = Math.ceil(height / sh);
  const colsPerPhase = Math.ceil(width / sw);
  const byOffset = <T extends { offset: number }>(phases: T[]): T[] => [...phases].sort((a, b) => a.offset - b.offset);
  const phaseRows = byOffset(rowPhases).map((rows) => {
    const columns = byOffset(colPhases).map((cols) => phaseOutput(rows, cols, rowsPerPhase, colsPerPhase));
    // [N, R, C, sw, Ci] -> [N, R, C*sw, Ci]: columns of the phases alternate.
    return tf.reshape(tf.stack(columns, 3), [batch, rowsPerPhase, colsPerPhase * sw, inChannels]);
  });
  // [N, R, sh, C*sw, Ci] -> [N, R*sh, C*sw, Ci]: rows alternate.
  const interleaved = tf.reshape(tf.stack(phaseRows, 2), [batch, rowsPerPhase * sh, colsPerPhase * sw, inChannels]);
  if (rowsPerPhase * sh === height && colsPerPhase * sw === width) return interleaved as tf.Tensor4D;
  return tf.slice(interleaved, [0, 0, 0, 0], [-1, height, width, -1]) as tf.Tensor4D;
}
