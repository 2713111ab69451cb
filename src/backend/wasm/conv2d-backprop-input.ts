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
 * Small images with large filters (the generator's bottleneck) take
 * ./conv2d-column-gemm instead (chosen in ./kernels).
 */
import * as tf from '@tensorflow/tfjs-core';
import { spatialWindow, type ConvGeometry } from './conv-geometry';
import { asWasmBackend } from './heap-views';
import { batchTranspose } from './js-kernels';
import { derivedTensors } from './derived-tensors';

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
 * Flipped sub-filter w[rh::sh, rw::sw] with channels swapped, [th, tw, outC, inC]:
 * the phase's taps gathered in flipped order (slices and a concat, block
 * copies), then transposed per tap by the blocked kernel. (tfjs's wasm
 * StridedSlice and Reverse are naive loops.)
 */
function phaseFilter(filter: tf.Tensor4D, rowPhase: AxisPhase, colPhase: AxisPhase, sh: number, sw: number): tf.Tensor4D {
  const [, , inChannels, outChannels] = filter.shape;
  const rows = rowPhase.taps;
  const cols = colPhase.taps;
  const taps: tf.Tensor[] = [];
  for (let m = 0; m < rows; m++) {
    // Flip: output tap m reads filter row residue + s * (taps - 1 - m).
    const kh = rowPhase.residue + sh * (rows - 1 - m);
    for (let n = 0; n < cols; n++) {
      const kw = colPhase.residue + sw * (cols - 1 - n);
      taps.push(tf.slice(filter, [kh, kw, 0, 0], [1, 1, -1, -1]));
    }
  }
  const joined = taps.length === 1 ? taps[0]! : tf.concat(taps, 0);
  // The slices go before the transpose (the concat copied them).
  if (joined !== taps[0]) tf.dispose(taps);
  const gathered = tf.reshape(joined, [rows * cols, inChannels, outChannels]) as tf.Tensor3D;
  const flipped = tf.reshape(batchTranspose(gathered), [rows, cols, outChannels, inChannels]) as tf.Tensor4D;
  tf.dispose([joined, gathered]);
  return flipped;
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
  const rowPhases = axisPhases(height, kernelHeight, sh, padTop);
  const colPhases = axisPhases(width, kernelWidth, sw, padLeft);

  /**
   * The phase as one stride-1 correlation of a dy window with the flipped
   * sub-filter, which a training step keeps while the filter lives
   * (./derived-tensors: D's filters meet three input gradients a step), and
   * with it the Winograd transform the conv derives from it.
   */
  const phaseCorrelation = (window: tf.Tensor4D, rows: AxisPhase, cols: AxisPhase): tf.Tensor4D => {
    const flipped = derivedTensors(filter, `phase filter s${sh}x${sw} r${rows.residue},${cols.residue}`, () => [phaseFilter(filter, rows, cols, sh, sw)]);
    const correlation = tf.conv2d(window, flipped.tensors[0] as tf.Tensor4D, 1, 'valid');
    if (!flipped.cached) tf.dispose(flipped.tensors);
    return correlation;
  };

  /** The dy rows and columns a phase reads, zero-padded where they run past dy. */
  const phaseWindow = (rows: AxisPhase, cols: AxisPhase): tf.Tensor4D =>
    spatialWindow(
      dy,
      rows.firstQuotient - rows.taps + 1,
      rows.count + rows.taps - 1,
      cols.firstQuotient - cols.taps + 1,
      cols.count + cols.taps - 1,
    );

  // Stride 1: one phase, which covers dx whole.
  if (sh === 1 && sw === 1) return phaseCorrelation(phaseWindow(rowPhases[0]!, colPhases[0]!), rowPhases[0]!, colPhases[0]!);

  // Strided: each phase is computed, written to its interleaved positions of
  // one preallocated output, and freed before the next phase is computed.
  // Stacking the padded phases and reshaping them (as tf ops) would hold every
  // phase, two stacked copies and the final tensor at once: about five times
  // the output, the peak of the whole 1024p generator.
  const dx = tf.zeros([batch, height, width, inChannels]) as tf.Tensor4D;
  const wasm = asWasmBackend(tf.backend());
  for (const rows of rowPhases) {
    for (const cols of colPhases) {
      // Phases without taps or outputs keep dx's zeros.
      if (rows.count === 0 || cols.count === 0 || rows.taps === 0 || cols.taps === 0) continue;
      const phase = tf.tidy(() => {
        // Its own scope: a window that is both cropped and padded frees the crop before the conv.
        const window = tf.tidy(() => phaseWindow(rows, cols));
        return phaseCorrelation(window, rows, cols);
      });
      // Views are taken only now: a heap grown by the phase's own allocations detaches older ones.
      scatterPhase(
        wasm.typedArrayFromHeap(phase) as Float32Array,
        phase.shape[1],
        phase.shape[2],
        wasm.typedArrayFromHeap(dx) as Float32Array,
        { batch, height, width, channels: inChannels },
        rows,
        cols,
        sh,
        sw,
      );
      phase.dispose();
    }
  }
  return dx;
}

/**
 * Writes a phase's [N, phaseRows, phaseCols, C] values to output rows
 * rows.offset + m * sh and columns cols.offset + n * sw of the NHWC output.
 * Only the first rows.count x cols.count entries are the phase's outputs.
 */
function scatterPhase(
  phase: Float32Array,
  phaseRows: number,
  phaseCols: number,
  out: Float32Array,
  outShape: { batch: number; height: number; width: number; channels: number },
  rows: AxisPhase,
  cols: AxisPhase,
  sh: number,
  sw: number,
): void {
  const { batch, height, width, channels } = outShape;
  const outPixelStep = sw * channels;
  for (let n = 0; n < batch; n++) {
    for (let m = 0; m < rows.count; m++) {
      let source = ((n * phaseRows + m) * phaseCols) * channels;
      let target = ((n * height + rows.offset + m * sh) * width + cols.offset) * channels;
      for (let j = 0; j < cols.count; j++) {
        for (let c = 0; c < channels; c++) out[target + c] = phase[source + c]!;
        source += channels;
        target += outPixelStep;
      }
    }
  }
}
