/**
 * Conv2DBackpropInput on webgpu, tiled. This kernel is the input gradient of
 * every convolution and the forward pass of every transposed convolution (the
 * generator's upsampling). tfjs 4.22 runs it, by default (its flag
 * WEBGPU_USE_NAIVE_CONV2D_TRANSPOSE is true), as one thread per few outputs that
 * walks every tap of the filter, testing each for stride divisibility with
 * float divisions, with no reuse of dy or the filter between threads. Its
 * matmul form (behind that flag) gathers from the zero-inserted dy, so with
 * stride 2 three quarters of its inner products are with zeros.
 *
 * Here the output is split into its stride phases: rows h with the same
 * (h + padTop) mod stride meet only the taps kh of that residue, so each
 * phase is a dense matrix product with no inserted zeros,
 *
 *   dx[p, ci] = sum over (t, u, co) of dy[i(p, t), j(p, u), co] * w[kh(t), kw(u), ci, co]
 *
 * (p: the phase's output pixels over the batch; kh = residue + t * stride,
 * i = (h + padTop - kh) / stride). A 16x16 workgroup owns a 64x64 tile of
 * (pixels of one phase) x (input channels), 4x4 outputs per thread, and
 * stages 16 columns of K = taps x output channels at a time in workgroup
 * memory: dy gathered on the fly (out-of-range rows and columns read as
 * zero) and the filter. One dispatch covers every phase. The 4x4 blocking
 * matters: with one output per thread (16x16 tiles) the kernel was 4-5x
 * slower on lavapipe, each multiply-add paying two workgroup-memory reads
 * and a share of two barriers. NHWC, dilation 1 (all p2phd convolutions).
 */
import * as tf from '@tensorflow/tfjs-core';

/** Threads per workgroup side; each computes PER_THREAD x PER_THREAD outputs, so a workgroup owns BLOCK x BLOCK. */
const TILE = 16;
const PER_THREAD = 4;
const BLOCK = TILE * PER_THREAD;
/** WebGPU's guaranteed workgroups per dispatch dimension; larger pixel counts fold into z. */
const MAX_WORKGROUPS_PER_DIMENSION = 65535;

type KernelFunc = (params: { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend; attrs?: tf.NamedAttrMap }) => tf.TensorInfo | tf.TensorInfo[];

/** The dispatch for `pixelTiles` tiles of BLOCK pixels per phase: y takes as many as it may, z the phases times the folds. */
function phaseDispatch(pixelTiles: number, maxWorkgroupsPerDimension: number): { tileRows: number; folds: number } {
  const tileRows = Math.max(1, Math.min(pixelTiles, maxWorkgroupsPerDimension));
  return { tileRows, folds: Math.ceil(pixelTiles / tileRows) };
}

/** The program, in tfjs-backend-webgpu's WebGPUProgram shape (its shader prefix declares dy, W, result, uniforms; `filter` is a reserved word in WGSL). */
class TiledInputGradientProgram {
  readonly variableNames = ['dy', 'W'];
  readonly uniforms =
    'pads : vec2<i32>, strides : vec2<i32>, filterDims : vec2<i32>, dxDims : vec2<i32>, dyDims : vec2<i32>, batch : i32, inChannels : i32, outChannels : i32, tileRows : i32, phases : i32,';
  readonly workgroupSize: [number, number, number] = [TILE, TILE, 1];
  readonly outputShape: number[];
  readonly dispatchLayout = { x: [3], y: [1, 2], z: [0] };
  readonly dispatch: [number, number, number];
  readonly shaderKey = 'p2phdConv2DBackpropInputTiled';

  constructor(dxShape: number[], tileRows: number, zGroups: number) {
    this.outputShape = dxShape;
    this.dispatch = [Math.ceil(dxShape[3]! / BLOCK), tileRows, zGroups];
  }

  getUserCode(): string {
    return `
      var<workgroup> tileDy : array<array<f32, ${TILE}>, ${BLOCK}>;
      var<workgroup> tileW : array<array<f32, ${BLOCK}>, ${TILE}>;
      var<workgroup> innerLength : i32;

      fn main() {
        let tx = i32(localId.x);
        let ty = i32(localId.y);
        let ciBase = i32(workgroupId.x) * ${BLOCK};
        let phase = i32(workgroupId.z) % uniforms.phases;
        let pixelBase = (i32(workgroupId.z) / uniforms.phases * uniforms.tileRows + i32(workgroupId.y)) * ${BLOCK};
        let strides = uniforms.strides;
        let pads = uniforms.pads;

        // The phase: output rows h with (h + pads.x) % strides.x == residue.x
        // (likewise columns) meet the taps kh = residue.x + t * strides.x only.
        let residue = vec2<i32>(phase / strides.y, phase % strides.y);
        // The first output of the phase is offset = firstQuotient * stride + residue - pad
        // (0 <= offset < stride); its dy index through tap t is firstQuotient + q - t.
        let firstQuotient = (pads - residue + strides - vec2<i32>(1, 1)) / strides;
        let offset = firstQuotient * strides + residue - pads;
        let count = select(vec2<i32>(0, 0), (uniforms.dxDims - offset + strides - vec2<i32>(1, 1)) / strides, offset < uniforms.dxDims);
        let taps = select(vec2<i32>(0, 0), (uniforms.filterDims - residue + strides - vec2<i32>(1, 1)) / strides, uniforms.filterDims > residue);
        let planePixels = max(count.x * count.y, 1);
        let pixels = uniforms.batch * count.x * count.y;

        // K for this workgroup (zero past the phase's pixels), made
        // workgroup-uniform for the barriers: tfjs hands the builtins over in
        // private variables, which WGSL's uniformity analysis does not trust.
        if (localIndex == 0u) {
          innerLength = select(0, taps.x * taps.y * uniforms.outChannels, pixelBase < pixels);
        }
        let inner = workgroupUniformLoad(&innerLength);

        // This thread's pixels ty + ${TILE} * i (batch, phase row, phase column):
        // it stages their dy rows and writes their dx.
        var pixelCoords : array<vec3<i32>, ${PER_THREAD}>;
        for (var i = 0; i < ${PER_THREAD}; i = i + 1) {
          let pixel = pixelBase + ty + ${TILE} * i;
          let inPlane = pixel % planePixels;
          pixelCoords[i] = vec3<i32>(pixel / planePixels, inPlane / max(count.y, 1), inPlane % max(count.y, 1));
        }

        var sums : array<vec4<f32>, ${PER_THREAD}>;
        for (var k0 = 0; k0 < inner; k0 = k0 + ${TILE}) {
          // Column k = (t, u, co) of K, co fastest: dy and the filter are read along co.
          let k = k0 + tx;
          let co = k % uniforms.outChannels;
          let tap = k / uniforms.outChannels;
          let t = tap / max(taps.y, 1);
          let u = tap % max(taps.y, 1);
          let kh = residue.x + t * strides.x;
          let kw = residue.y + u * strides.y;
          for (var i = 0; i < ${PER_THREAD}; i = i + 1) {
            let coords = pixelCoords[i];
            let row = firstQuotient.x + coords.y - t;
            let col = firstQuotient.y + coords.z - u;
            var dyValue = 0.0;
            if (k < inner && pixelBase + ty + ${TILE} * i < pixels && row >= 0 && row < uniforms.dyDims.x && col >= 0 && col < uniforms.dyDims.y) {
              dyValue = dy[((coords.x * uniforms.dyDims.x + row) * uniforms.dyDims.y + col) * uniforms.outChannels + co];
            }
            tileDy[ty + ${TILE} * i][tx] = dyValue;
            let ci = ciBase + ty + ${TILE} * i;
            var wValue = 0.0;
            if (k < inner && ci < uniforms.inChannels) {
              wValue = W[((kh * uniforms.filterDims.y + kw) * uniforms.inChannels + ci) * uniforms.outChannels + co];
            }
            tileW[tx][ty + ${TILE} * i] = wValue;
          }
          workgroupBarrier();
          for (var kk = 0; kk < ${TILE}; kk = kk + 1) {
            let w = vec4<f32>(tileW[kk][tx], tileW[kk][tx + ${TILE}], tileW[kk][tx + ${2 * TILE}], tileW[kk][tx + ${3 * TILE}]);
            for (var i = 0; i < ${PER_THREAD}; i = i + 1) {
              sums[i] = sums[i] + tileDy[ty + ${TILE} * i][kk] * w;
            }
          }
          workgroupBarrier();
        }
        for (var i = 0; i < ${PER_THREAD}; i = i + 1) {
          let coords = pixelCoords[i];
          if (pixelBase + ty + ${TILE} * i < pixels) {
            let h = offset.x + coords.y * strides.x;
            let w = offset.y + coords.z * strides.y;
            let base = ((coords.x * uniforms.dxDims.x + h) * uniforms.dxDims.y + w) * uniforms.inChannels;
            for (var j = 0; j < ${PER_THREAD}; j = j + 1) {
              let outChannel = ciBase + tx + ${TILE} * j;
              if (outChannel < uniforms.inChannels) {
                result[base + outChannel] = sums[i][j];
              }
            }
          }
        }
      }
    `;
  }
}

interface WebgpuBackendLike extends tf.KernelBackend {
  runWebGPUProgram(program: unknown, inputs: tf.TensorInfo[], outputDtype: tf.DataType, uniforms: Array<{ type: string; data: number[] }>): tf.TensorInfo;
}

/**
 * The tiled kernel, falling back to `original` for layouts p2phd never uses.
 * `maxWorkgroupsPerDimension` is lowered only by tests, to reach the folded
 * dispatch (above a million pixels per phase) at a small size.
 */
export function tiledConv2DBackpropInput(original: KernelFunc, maxWorkgroupsPerDimension = MAX_WORKGROUPS_PER_DIMENSION): KernelFunc {
  return (args) => {
    const { inputs, attrs } = args;
    const backend = args.backend as WebgpuBackendLike;
    const dy = inputs['dy']!;
    const filter = inputs['filter']!;
    const { inputShape, strides, pad, dataFormat, dimRoundingMode } = attrs as unknown as tf.Conv2DBackpropInputAttrs;
    if (dataFormat !== 'NHWC' || dy.dtype !== 'float32' || filter.dtype !== 'float32') return original(args);
    const info = tf.backend_util.computeConv2DInfo(
      inputShape,
      filter.shape as [number, number, number, number],
      strides,
      1,
      pad,
      dimRoundingMode,
      false,
      'channelsLast',
    );
    const phases = info.strideHeight * info.strideWidth;
    const phasePixels = info.batchSize * Math.ceil(info.inHeight / info.strideHeight) * Math.ceil(info.inWidth / info.strideWidth);
    const { tileRows, folds } = phaseDispatch(Math.ceil(phasePixels / BLOCK), maxWorkgroupsPerDimension);
    const program = new TiledInputGradientProgram([...inputShape], tileRows, phases * folds);
    return backend.runWebGPUProgram(program, [dy, filter], 'float32', [
      { type: 'int32', data: [info.padInfo.top, info.padInfo.left] },
      { type: 'int32', data: [info.strideHeight, info.strideWidth] },
      { type: 'int32', data: [info.filterHeight, info.filterWidth] },
      { type: 'int32', data: [info.inHeight, info.inWidth] },
      { type: 'int32', data: [info.outHeight, info.outWidth] },
      { type: 'int32', data: [info.batchSize] },
      { type: 'int32', data: [info.inChannels] },
      { type: 'int32', data: [info.outChannels] },
      { type: 'int32', data: [tileRows] },
      { type: 'int32', data: [phases] },
    ]);
  };
}
