/**
 * Conv2DBackpropFilter on webgpu, tiled: tfjs 4.22's kernel runs one thread
 * per filter weight, each looping over every output pixel, so a layer with
 * few weights and many pixels (G's 7x7 layers at 1024x512) has little
 * parallelism and no reuse. Here the weight gradient is computed as the
 * matrix product it is, im2col done on the fly:
 *
 *   dW[(kh, kw, ci), co] = sum over output pixels p of X_p[kh, kw, ci] * dY[p, co]
 *
 * A 16x16 workgroup owns a 16x16 tile of dW for one slice of the pixels,
 * staging 16 pixels of X and dY at a time in workgroup memory; the slices'
 * partial tiles (split-K, so that large images keep every core busy) are
 * summed by tfjs's Sum. NHWC, dilation 1 (all p2phd convolutions).
 */
import * as tf from '@tensorflow/tfjs-core';

const TILE = 16;
/** Output pixels per slice (a multiple of TILE), before the cap below. */
const PIXELS_PER_SLICE = 2048;
/** Most floats the partial sums may take (128 MiB). */
const MAX_PARTIAL_FLOATS = 32 * 1024 * 1024;

type KernelFunc = (params: { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend; attrs?: tf.NamedAttrMap }) => tf.TensorInfo | tf.TensorInfo[];

/** The slice count and pixels per slice for `pixels` output pixels and a filter of `weights` values. */
export function sliceSplit(pixels: number, weights: number): { slices: number; chunk: number } {
  const maxSlices = Math.max(1, Math.floor(MAX_PARTIAL_FLOATS / weights));
  let slices = Math.max(1, Math.min(maxSlices, Math.ceil(pixels / PIXELS_PER_SLICE)));
  let chunk = Math.ceil(pixels / slices / TILE) * TILE;
  slices = Math.ceil(pixels / chunk);
  return { slices, chunk };
}

/** The program, in tfjs-backend-webgpu's WebGPUProgram shape (its shader prefix declares x, dy, result, uniforms). */
class TiledFilterGradientProgram {
  readonly variableNames = ['x', 'dy'];
  readonly uniforms =
    'pads : vec2<i32>, strides : vec2<i32>, inDims : vec2<i32>, outDims : vec2<i32>, filterWidth : i32, inChannels : i32, outChannels : i32, pixels : i32, rows : i32, chunk : i32,';
  readonly workgroupSize: [number, number, number] = [TILE, TILE, 1];
  readonly outputShape: number[];
  readonly dispatchLayout = { x: [2], y: [1], z: [0] };
  readonly dispatch: [number, number, number];
  readonly shaderKey = 'p2phdConv2DBackpropFilterTiled';

  constructor(slices: number, rows: number, outChannels: number) {
    this.outputShape = [slices, rows, outChannels];
    this.dispatch = [Math.ceil(outChannels / TILE), Math.ceil(rows / TILE), slices];
  }

  getUserCode(): string {
    return `
      var<workgroup> tileX : array<array<f32, ${TILE}>, ${TILE}>;
      var<workgroup> tileDy : array<array<f32, ${TILE}>, ${TILE}>;
      var<workgroup> sliceBounds : vec2<i32>;

      fn main() {
        let tx = i32(localId.x);
        let ty = i32(localId.y);
        let rowBase = i32(workgroupId.y) * ${TILE};
        let colBase = i32(workgroupId.x) * ${TILE};
        let slice = i32(workgroupId.z);
        // The slice's pixel range, made workgroup-uniform for the barriers
        // (tfjs hands the builtins over in private variables, which WGSL's
        // uniformity analysis does not trust).
        if (localIndex == 0u) {
          sliceBounds = vec2<i32>(slice * uniforms.chunk, min(uniforms.pixels, (slice + 1) * uniforms.chunk));
        }
        let bounds = workgroupUniformLoad(&sliceBounds);
        let first = bounds.x;
        let last = bounds.y;
        let outPlane = uniforms.outDims[0] * uniforms.outDims[1];

        // The dW row this thread stages from X: (kh, kw, ci).
        let loadRow = rowBase + tx;
        let ci = loadRow % uniforms.inChannels;
        let tap = loadRow / uniforms.inChannels;
        let kw = tap % uniforms.filterWidth;
        let kh = tap / uniforms.filterWidth;
        let loadCol = colBase + tx;

        var sum = 0.0;
        for (var p0 = first; p0 < last; p0 = p0 + ${TILE}) {
          let p = p0 + ty;
          var xValue = 0.0;
          var dyValue = 0.0;
          if (p < last) {
            let b = p / outPlane;
            let inPlane = p % outPlane;
            let row = (inPlane / uniforms.outDims[1]) * uniforms.strides[0] + kh - uniforms.pads[0];
            let col = (inPlane % uniforms.outDims[1]) * uniforms.strides[1] + kw - uniforms.pads[1];
            if (loadRow < uniforms.rows && row >= 0 && row < uniforms.inDims[0] && col >= 0 && col < uniforms.inDims[1]) {
              xValue = x[((b * uniforms.inDims[0] + row) * uniforms.inDims[1] + col) * uniforms.inChannels + ci];
            }
            if (loadCol < uniforms.outChannels) {
              dyValue = dy[p * uniforms.outChannels + loadCol];
            }
          }
          tileX[ty][tx] = xValue;
          tileDy[ty][tx] = dyValue;
          workgroupBarrier();
          for (var k = 0; k < ${TILE}; k = k + 1) {
            sum = sum + tileX[k][ty] * tileDy[k][tx];
          }
          workgroupBarrier();
        }
        let outRow = rowBase + ty;
        let outCol = colBase + tx;
        if (outRow < uniforms.rows && outCol < uniforms.outChannels) {
          result[(slice * uniforms.rows + outRow) * uniforms.outChannels + outCol] = sum;
        }
      }
    `;
  }
}

interface WebgpuBackendLike extends tf.KernelBackend {
  runWebGPUProgram(program: unknown, inputs: tf.TensorInfo[], outputDtype: tf.DataType, uniforms: Array<{ type: string; data: number[] }>): tf.TensorInfo;
}

/** The tiled kernel, falling back to `original` for layouts p2phd never uses. */
export function tiledConv2DBackpropFilter(original: KernelFunc): KernelFunc {
  const sum = tf.getKernel(tf.Sum, 'webgpu')!.kernelFunc as unknown as KernelFunc;
  const reshape = tf.getKernel(tf.Reshape, 'webgpu')!.kernelFunc as unknown as KernelFunc;
  return (args) => {
    const { inputs, attrs } = args;
    const backend = args.backend as WebgpuBackendLike;
    const x = inputs['x']!;
    const dy = inputs['dy']!;
    const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs as unknown as tf.Conv2DBackpropFilterAttrs;
    if (dataFormat !== 'NHWC' || x.dtype !== 'float32') return original(args);
    const info = tf.backend_util.computeConv2DInfo(
      x.shape as [number, number, number, number],
      filterShape as [number, number, number, number],
      strides,
      1,
      pad,
      dimRoundingMode,
      false,
      'channelsLast',
    );
    const rows = info.filterHeight * info.filterWidth * info.inChannels;
    const pixels = info.batchSize * info.outHeight * info.outWidth;
    const { slices, chunk } = sliceSplit(pixels, rows * info.outChannels);
    const program = new TiledFilterGradientProgram(slices, rows, info.outChannels);
    const partial = backend.runWebGPUProgram(program, [x, dy], 'float32', [
      { type: 'int32', data: [info.padInfo.top, info.padInfo.left] },
      { type: 'int32', data: [info.strideHeight, info.strideWidth] },
      { type: 'int32', data: [info.inHeight, info.inWidth] },
      { type: 'int32', data: [info.outHeight, info.outWidth] },
      { type: 'int32', data: [info.filterWidth] },
      { type: 'int32', data: [info.inChannels] },
      { type: 'int32', data: [info.outChannels] },
      { type: 'int32', data: [pixels] },
      { type: 'int32', data: [rows] },
      { type: 'int32', data: [chunk] },
    ]);
    let summed = partial;
    if (slices > 1) {
      summed = sum({ inputs: { x: partial }, backend, attrs: { axis: [0], keepDims: false } }) as tf.TensorInfo;
      backend.disposeData(partial.dataId);
    }
    const result = reshape({ inputs: { x: summed }, backend, attrs: { shape: [...filterShape] } }) as tf.TensorInfo;
    backend.disposeData(summed.dataId);
    return result;
  };
}
