/**
 * Every kernel p2phd registers for wasm, against the cpu backend on random
 * shapes: strides 1-3, kernels 1-7, same/valid/explicit padding, batch 1-2,
 * odd sizes. Relative L2 error < 1e-5.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { conv2d, conv2dTranspose, instanceNorm, reflectPad } from '../../src/backend/ops';
import { P2phdKernel } from '../../src/backend/kernel-names';
import { preferColumnGemm } from '../../src/backend/wasm/conv2d-column-gemm';
import { setConv2dOperatorCaching } from '../../src/backend/wasm/kernels';
import { nativeMatMulSession, registerNativeMatMul } from '../../src/backend/wasm/native-matmul';
import type { MatMulSession } from '../../src/backend/onnxruntime/matmul-session';
import { cachedSourceCount, withDerivedTensorScope } from '../../src/backend/wasm/derived-tensors';
import { leakedTensors, randomGenerator, randomInt, randomValues, relativeError, setUpBackends, useBackend } from './helpers';

type Padding = 'same' | 'valid' | [[number, number], [number, number], [number, number], [number, number]];
type Shape4 = [number, number, number, number];

interface ConvCase {
  label: string;
  xShape: Shape4;
  filterShape: Shape4;
  stride: number;
  pad: Padding;
  dyShape: Shape4;
}

/** Random conv geometry; the output shape comes from tfjs's own shape logic. */
function randomConvCases(seed: number, count: number): ConvCase[] {
  const random = randomGenerator(seed);
  const cases: ConvCase[] = [];
  while (cases.length < count) {
    const kernel = randomInt(random, 1, 7);
    const stride = randomInt(random, 1, 3);
    const choice = randomInt(random, 0, 2);
    let pad: Padding;
    if (choice === 0) pad = 'same';
    else if (choice === 1) pad = 'valid';
    else {
      const p = (): number => randomInt(random, 0, kernel);
      pad = [[0, 0], [p(), p()], [p(), p()], [0, 0]];
    }
    const xShape: Shape4 = [randomInt(random, 1, 2), randomInt(random, 1, 13), randomInt(random, 1, 13), randomInt(random, 1, 6)];
    const filterShape: Shape4 = [kernel, kernel, xShape[3], randomInt(random, 1, 6)];
    let info: tf.backend_util.Conv2DInfo;
    try {
      info = tf.backend_util.computeConv2DInfo(xShape, filterShape, stride, 1, pad);
    } catch {
      continue;
    }
    if (info.outHeight <= 0 || info.outWidth <= 0) continue;
    const padLabel = typeof pad === 'string' ? pad : `[${pad[1]}],[${pad[2]}]`;
    cases.push({
      label: `x${xShape} k${kernel} s${stride} ${padLabel}`,
      xShape,
      filterShape,
      stride,
      pad,
      dyShape: info.outShape as Shape4,
    });
  }
  return cases;
}

/** tfjs-core does not export conv2DBackpropFilter; run its kernel directly. */
function filterGradient(x: tf.Tensor4D, dy: tf.Tensor4D, filterShape: Shape4, stride: number, pad: Padding): tf.Tensor {
  const attrs = { strides: stride, pad, dataFormat: 'NHWC', filterShape };
  return tf.engine().runKernel(tf.Conv2DBackpropFilter, { x, dy }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
}

async function onBoth(fn: () => tf.Tensor): Promise<{ wasm: tf.TypedArray; cpu: tf.TypedArray; shape: number[] }> {
  await useBackend('cpu');
  const expected = fn();
  const cpu = expected.dataSync() as tf.TypedArray;
  const shape = expected.shape;
  expected.dispose();
  await useBackend('wasm');
  const actual = fn();
  assert.deepEqual(actual.shape, shape);
  const wasm = actual.dataSync() as tf.TypedArray;
  actual.dispose();
  return { wasm, cpu, shape };
}

before(setUpBackends);

describe('wasm kernels match the cpu backend', () => {
  // The XNNPACK forms (Winograd, column form, stride phases, per-tap
  // products): ONNX Runtime's GEMM is set aside here; native-gemm.test.ts covers it.
  let nativeGemm: MatMulSession | null = null;
  before(() => {
    nativeGemm = nativeMatMulSession();
    registerNativeMatMul(null);
  });
  after(() => registerNativeMatMul(nativeGemm));

  it('Conv2DBackpropFilter', async () => {
    const random = randomGenerator(11);
    for (const c of randomConvCases(12, 40)) {
      const xValues = randomValues(random, c.xShape.reduce((a, b) => a * b));
      const dyValues = randomValues(random, c.dyShape.reduce((a, b) => a * b));
      const { wasm, cpu } = await onBoth(() =>
        tf.tidy(() => filterGradient(tf.tensor4d(xValues, c.xShape), tf.tensor4d(dyValues, c.dyShape), c.filterShape, c.stride, c.pad)),
      );
      assert.ok(relativeError(wasm, cpu) < 1e-5, c.label);
    }
  });

  it('Conv2DBackpropInput', async () => {
    const random = randomGenerator(13);
    for (const c of randomConvCases(14, 40)) {
      const filterValues = randomValues(random, c.filterShape.reduce((a, b) => a * b));
      const dyValues = randomValues(random, c.dyShape.reduce((a, b) => a * b));
      const { wasm, cpu } = await onBoth(() =>
        tf.tidy(() => tf.conv2dTranspose(tf.tensor4d(dyValues, c.dyShape), tf.tensor4d(filterValues, c.filterShape), c.xShape, c.stride, c.pad)),
      );
      assert.ok(relativeError(wasm, cpu) < 1e-5, c.label);
    }
  });

  it('Conv2D', async () => {
    const random = randomGenerator(15);
    for (const c of randomConvCases(16, 40)) {
      const xValues = randomValues(random, c.xShape.reduce((a, b) => a * b));
      const filterValues = randomValues(random, c.filterShape.reduce((a, b) => a * b));
      const { wasm, cpu } = await onBoth(() =>
        tf.tidy(() => tf.conv2d(tf.tensor4d(xValues, c.xShape), tf.tensor4d(filterValues, c.filterShape), c.stride, c.pad)),
      );
      assert.ok(relativeError(wasm, cpu) < 1e-5, c.label);
    }
  });

  it('Conv2D, Conv2DBackpropInput and Conv2DBackpropFilter on small images with large filters', async () => {
    const random = randomGenerator(27);
    const cases: Array<{ xShape: Shape4; filterShape: Shape4; stride: number; pad: Padding }> = [
      { xShape: [1, 6, 9, 96], filterShape: [3, 3, 96, 96], stride: 1, pad: [[0, 0], [1, 1], [1, 1], [0, 0]] },
      { xShape: [2, 5, 4, 96], filterShape: [3, 3, 96, 80], stride: 1, pad: 'valid' },
      { xShape: [1, 9, 11, 72], filterShape: [3, 3, 72, 112], stride: 2, pad: 'same' },
      { xShape: [1, 7, 8, 64], filterShape: [4, 4, 64, 80], stride: 1, pad: [[0, 0], [2, 2], [2, 2], [0, 0]] },
      { xShape: [2, 8, 7, 64], filterShape: [4, 4, 64, 80], stride: 2, pad: [[0, 0], [2, 2], [2, 2], [0, 0]] },
      // Output rows 40 wide: im2col copies its runs with set (narrower ones element by element).
      { xShape: [1, 3, 40, 64], filterShape: [3, 3, 64, 128], stride: 1, pad: 'same' },
      // Uneven padding, kernel wider than the image, a row of the output reading only padding.
      { xShape: [1, 5, 3, 48], filterShape: [3, 5, 48, 96], stride: 2, pad: [[0, 0], [3, 1], [0, 4], [0, 0]] },
    ];
    for (const c of cases) {
      const info = tf.backend_util.computeConv2DInfo(c.xShape, c.filterShape, c.stride, 1, c.pad);
      const label = `x${c.xShape} w${c.filterShape} s${c.stride} ${JSON.stringify(c.pad)}`;
      const filterSize = c.filterShape.reduce((a, b) => a * b);
      assert.ok(preferColumnGemm(info.batchSize * info.outHeight * info.outWidth, filterSize), `${label} takes the column path`);
      const xValues = randomValues(random, c.xShape.reduce((a, b) => a * b));
      const filterValues = randomValues(random, filterSize);
      const dyValues = randomValues(random, info.outShape.reduce((a, b) => a * b));
      const forward = await onBoth(() =>
        tf.tidy(() => tf.conv2d(tf.tensor4d(xValues, c.xShape), tf.tensor4d(filterValues, c.filterShape), c.stride, c.pad)),
      );
      assert.ok(relativeError(forward.wasm, forward.cpu) < 1e-5, `forward ${label}`);
      const inputGrad = await onBoth(() =>
        tf.tidy(() =>
          tf.conv2dTranspose(tf.tensor4d(dyValues, info.outShape as Shape4), tf.tensor4d(filterValues, c.filterShape), c.xShape, c.stride, c.pad),
        ),
      );
      assert.ok(relativeError(inputGrad.wasm, inputGrad.cpu) < 1e-5, `input gradient ${label}`);
      // Few output pixels, many channels: the filter gradient's single-matmul branch.
      const filterGrad = await onBoth(() =>
        tf.tidy(() =>
          filterGradient(tf.tensor4d(xValues, c.xShape), tf.tensor4d(dyValues, info.outShape as Shape4), c.filterShape, c.stride, c.pad),
        ),
      );
      assert.ok(relativeError(filterGrad.wasm, filterGrad.cpu) < 1e-5, `filter gradient ${label}`);
    }
  });

  it('P2phdBatchTranspose (tiled) against tfjs transpose', async () => {
    const random = randomGenerator(29);
    // Multiples of 4 take the SIMD kernel (partial tiles included); the rest the JS one.
    for (const shape of [[1, 1, 1], [2, 3, 5], [1, 64, 64], [3, 65, 130], [1, 200, 7], [2, 8, 12], [1, 36, 100], [1, 260, 36], [1, 4, 4]] as Array<[number, number, number]>) {
      const values = randomValues(random, shape[0] * shape[1] * shape[2]);
      await useBackend('cpu');
      const expected = tf.tidy(() => tf.transpose(tf.tensor3d(values, shape), [0, 2, 1]).dataSync());
      await useBackend('wasm');
      const actual = tf.tidy(() => (tf.engine().runKernel(P2phdKernel.batchTranspose, { x: tf.tensor3d(values, shape) }, {}) as tf.Tensor).dataSync());
      assert.deepEqual(Array.from(actual), Array.from(expected), `shape ${shape}`);
    }
  });

  it('Slice (ranks 1-5, partial and whole dimensions, int32 too)', async () => {
    const random = randomGenerator(17);
    for (let trial = 0; trial < 60; trial++) {
      const rank = randomInt(random, 1, 5);
      const shape = Array.from({ length: rank }, () => randomInt(random, 1, 6));
      const begin = shape.map((extent) => randomInt(random, 0, extent - 1));
      const size = shape.map((extent, d) => (random() < 0.3 ? -1 : randomInt(random, 0, extent - begin[d]!)));
      const dtype = random() < 0.2 ? 'int32' : 'float32';
      const values = Array.from(randomValues(random, shape.reduce((a, b) => a * b)), (v) => (dtype === 'int32' ? Math.round(v * 100) : v));
      const { wasm, cpu } = await onBoth(() => tf.tidy(() => tf.slice(tf.tensor(values, shape, dtype), begin, size)));
      assert.deepEqual(Array.from(wasm), Array.from(cpu), `shape ${shape} begin ${begin} size ${size}`);
    }
  });

  it('Slice with long runs (copied with set) and short ones (element by element)', async () => {
    const random = randomGenerator(31);
    const shape = [3, 7, 40];
    const values = Array.from(randomValues(random, 3 * 7 * 40));
    for (const [begin, size] of [[[0, 2, 0], [-1, 3, -1]], [[1, 0, 5], [2, -1, 33]], [[0, 0, 3], [-1, -1, 4]], [[2, 6, 0], [1, 1, 40]]] as Array<[number[], number[]]>) {
      const { wasm, cpu } = await onBoth(() => tf.tidy(() => tf.slice(tf.tensor(values, shape), begin, size)));
      assert.deepEqual(Array.from(wasm), Array.from(cpu), `begin ${begin} size ${size}`);
    }
  });

  it('Concat and SplitV on every axis (short and long runs, int32 and bool too)', async () => {
    const random = randomGenerator(33);
    for (const dtype of ['float32', 'int32', 'bool'] as const) {
      for (let axis = 0; axis < 4; axis++) {
        const base = [2, 3, 5, 36];
        const extents = [1, 3, 40];
        const parts = extents.map((extent) => {
          const shape = base.map((d, k) => (k === axis ? extent : d));
          const count = shape.reduce((a, b) => a * b);
          const values = Array.from(randomValues(random, count), (v) => (dtype === 'float32' ? v : dtype === 'int32' ? Math.round(v * 100) + 0 : v > 0 ? 1 : 0));
          return { values, shape };
        });
        const joined = await onBoth(() => tf.tidy(() => tf.concat(parts.map((p) => tf.tensor(p.values, p.shape, dtype)), axis)));
        assert.deepEqual(Array.from(joined.wasm), Array.from(joined.cpu), `concat ${dtype} axis ${axis}`);
        const whole = Array.from(joined.cpu);
        for (let k = 0; k < extents.length; k++) {
          const split = await onBoth(() => tf.tidy(() => tf.split(tf.tensor(whole, joined.shape, dtype), extents, axis)[k]!.clone()));
          assert.deepEqual(Array.from(split.wasm), Array.from(split.cpu), `split ${dtype} axis ${axis} part ${k}`);
          assert.deepEqual(Array.from(split.wasm), Array.from(parts[k]!.values), `split ${dtype} axis ${axis} part ${k} (the concatenated input)`);
        }
      }
    }
  });

  it('Identity shares the data: a clone outlives its source and reads the same values', async () => {
    await useBackend('wasm');
    const before = tf.memory().numDataBuffers;
    const source = tf.tensor([1.5, -2, 3], [3]);
    const copy = tf.clone(source);
    assert.equal(tf.memory().numDataBuffers - before, 1, 'no second buffer');
    source.dispose();
    assert.deepEqual(Array.from(copy.dataSync()), [1.5, -2, 3]);
    copy.dispose();
    assert.equal(tf.memory().numDataBuffers, before);
  });

  it('LeakyRelu (tfjs LeakyRelu kernel replaced)', async () => {
    const random = randomGenerator(19);
    for (const alpha of [0.2, 0, 1.5]) {
      const values = Array.from(randomValues(random, 257));
      values[3] = 0;
      const { wasm, cpu } = await onBoth(() => tf.tidy(() => tf.leakyRelu(tf.tensor(values), alpha)));
      // The branch-free form may give +0 where tfjs gives -0: compare values, not bits.
      assert.ok(relativeError(wasm, cpu) < 1e-7, `alpha ${alpha}`);
    }
  });

  it('AvgPoolGrad (windows 1-5, strides 1-3, same/valid/explicit padding)', async () => {
    const random = randomGenerator(21);
    let done = 0;
    while (done < 30) {
      const window = randomInt(random, 1, 5);
      const stride = randomInt(random, 1, 3);
      const xShape: Shape4 = [randomInt(random, 1, 2), randomInt(random, window, 12), randomInt(random, window, 12), randomInt(random, 1, 5)];
      const choice = randomInt(random, 0, 2);
      const pad: Padding =
        choice === 0 ? 'same' : choice === 1 ? 'valid' : [[0, 0], [randomInt(random, 0, 1), randomInt(random, 0, 1)], [randomInt(random, 0, 1), randomInt(random, 0, 1)], [0, 0]];
      let outShape: number[];
      try {
        outShape = tf.backend_util.computePool2DInfo(xShape, window, stride, 1, pad).outShape;
      } catch {
        continue;
      }
      if (outShape.some((extent) => extent <= 0)) continue;
      done++;
      const xValues = randomValues(random, xShape.reduce((a, b) => a * b));
      const dyValues = randomValues(random, outShape.reduce((a, b) => a * b));
      const { wasm, cpu } = await onBoth(() =>
        tf.tidy(() => {
          const attrs = { filterSize: window, strides: stride, pad } as unknown as tf.NamedAttrMap;
          return tf.engine().runKernel(tf.AvgPoolGrad, { dy: tf.tensor(dyValues, outShape), input: tf.tensor(xValues, xShape) }, attrs) as tf.Tensor;
        }),
      );
      assert.ok(relativeError(wasm, cpu) < 1e-5, `x${xShape} w${window} s${stride} ${JSON.stringify(pad)}`);
    }
  });

  it('fused reflectPad and instanceNorm, forward and backward, match the cpu compositions', async () => {
    const random = randomGenerator(23);
    for (let trial = 0; trial < 12; trial++) {
      const shape: Shape4 = [randomInt(random, 1, 2), randomInt(random, 2, 11), randomInt(random, 2, 11), randomInt(random, 1, 7)];
      const pad = randomInt(random, 1, Math.min(shape[1], shape[2]) - 1);
      const xValues = randomValues(random, shape.reduce((a, b) => a * b));
      const paddedShape = [shape[0], shape[1] + 2 * pad, shape[2] + 2 * pad, shape[3]];
      const dyPadded = randomValues(random, paddedShape.reduce((a, b) => a * b));
      const dy = randomValues(random, xValues.length);
      const label = `x${shape} pad ${pad}`;
      const pads = await onBoth(() => tf.tidy(() => reflectPad(tf.tensor4d(xValues, shape), pad)));
      assert.ok(relativeError(pads.wasm, pads.cpu) === 0, label);
      const padGrads = await onBoth(() =>
        tf.tidy(() => tf.grad((x: tf.Tensor) => reflectPad(x as tf.Tensor4D, pad))(tf.tensor4d(xValues, shape), tf.tensor(dyPadded, paddedShape))),
      );
      assert.ok(relativeError(padGrads.wasm, padGrads.cpu) < 1e-6, label);
      const norms = await onBoth(() => tf.tidy(() => instanceNorm(tf.tensor4d(xValues, shape))));
      assert.ok(relativeError(norms.wasm, norms.cpu) < 1e-5, label);
      const normGrads = await onBoth(() =>
        tf.tidy(() => tf.grad((x: tf.Tensor) => instanceNorm(x as tf.Tensor4D))(tf.tensor4d(xValues, shape), tf.tensor(dy, shape))),
      );
      assert.ok(relativeError(normGrads.wasm, normGrads.cpu) < 1e-5, label);
    }
  });

  it('gradients of conv2d and conv2dTranspose (input and weights) through autodiff', async () => {
    const random = randomGenerator(25);
    const layers: Array<{ label: string; transposed: boolean; k: number; s: number; p: number; op: number }> = [
      { label: 'G downsample 3x3/2', transposed: false, k: 3, s: 2, p: 1, op: 0 },
      { label: 'G 7x7', transposed: false, k: 7, s: 1, p: 0, op: 0 },
      { label: 'D 4x4/2 pad 2', transposed: false, k: 4, s: 2, p: 2, op: 0 },
      { label: 'D 4x4 pad 2', transposed: false, k: 4, s: 1, p: 2, op: 0 },
      { label: 'G upsample 3x3/2 op 1', transposed: true, k: 3, s: 2, p: 1, op: 1 },
    ];
    for (const layer of layers) {
      const xShape: Shape4 = [2, randomInt(random, 7, 11), randomInt(random, 7, 11), 3];
      const wShape: Shape4 = [layer.k, layer.k, layer.transposed ? 4 : 3, layer.transposed ? 3 : 4];
      const xValues = randomValues(random, xShape.reduce((a, b) => a * b));
      const wValues = randomValues(random, wShape.reduce((a, b) => a * b));
      const f = (x: tf.Tensor, w: tf.Tensor): tf.Tensor => {
        const y = layer.transposed
          ? conv2dTranspose(x as tf.Tensor4D, w as tf.Tensor4D, layer.s, layer.p, layer.op)
          : conv2d(x as tf.Tensor4D, w as tf.Tensor4D, layer.s, layer.p);
        // A non-uniform upstream gradient: sum(y^2) / 2.
        return tf.mul(tf.sum(tf.square(y)), 0.5);
      };
      for (const which of [0, 1]) {
        const { wasm, cpu } = await onBoth(() =>
          tf.tidy(() => tf.grads(f)([tf.tensor4d(xValues, xShape), tf.tensor4d(wValues, wShape)])[which]!),
        );
        assert.ok(relativeError(wasm, cpu) < 1e-5, `${layer.label}: d/d${which === 0 ? 'x' : 'w'}`);
      }
    }
  });

  it('Conv2D with operator caching off: the same bits as with caching on, matches cpu, frees its filter copies', async () => {
    const random = randomGenerator(21);
    for (const c of randomConvCases(22, 30)) {
      const xValues = randomValues(random, c.xShape.reduce((a, b) => a * b));
      const filterValues = randomValues(random, c.filterShape.reduce((a, b) => a * b));
      const run = (): tf.Tensor => tf.tidy(() => tf.conv2d(tf.tensor4d(xValues, c.xShape), tf.tensor4d(filterValues, c.filterShape), c.stride, c.pad));
      const { wasm: cached, cpu } = await onBoth(run);
      const previous = setConv2dOperatorCaching(false);
      try {
        const bytesBefore = tf.memory().numBytes;
        const uncached = await onBoth(run);
        assert.equal(tf.memory().numBytes, bytesBefore, `${c.label}: bytes left behind`);
        assert.deepEqual(Array.from(uncached.wasm), Array.from(cached), c.label);
        // tfjs's own wasm Conv2D (caching on or off) disagrees with cpu on 'same'
        // padding with a stride above the kernel size (XNNPACK pads such
        // convolutions its own way); p2phd's layers always pad explicitly.
        const sameWithWideStride = c.pad === 'same' && c.stride > c.filterShape[0];
        if (!sameWithWideStride) assert.ok(relativeError(uncached.wasm, cpu) < 1e-5, c.label);
      } finally {
        setConv2dOperatorCaching(previous);
      }
    }
  });

  it('strided Conv2DBackpropInput holds at most its output, one phase and that phase\'s window at a time', async () => {
    await useBackend('wasm');
    const dy = tf.randomNormal([1, 24, 32, 16]) as tf.Tensor4D;
    const w = tf.randomNormal([3, 3, 8, 16]) as tf.Tensor4D;
    const startBytes = tf.memory().numBytes;
    // peakBytes: the engine's byte count at its highest, tensors made inside kernels included.
    const profile = await tf.profile(() => tf.conv2dTranspose(dy, w, [1, 48, 64, 8], 2, 'same'));
    (profile.result as tf.Tensor).dispose();
    const bytes = (shape: number[]): number => 4 * shape.reduce((a, b) => a * b);
    // 2x2 phases of 24x32 outputs; the largest window is one row and column more than dy.
    // The engine counts bytes per tensor, so the kernel's wrappers of dy and w (shared data) count once more.
    const wrappedInputs = bytes([1, 24, 32, 16]) + bytes([3, 3, 8, 16]);
    // A phase filter's taps are sliced and concatenated (the engine counts the reshaped concat a second
    // time, though it shares the data), then transposed: three phase filters' bytes at the peak.
    const bound = wrappedInputs + bytes([1, 48, 64, 8]) + bytes([1, 24, 32, 8]) + bytes([1, 25, 33, 16]) + 3 * bytes([2, 2, 8, 16]);
    assert.ok(profile.peakBytes - startBytes <= bound, `peak ${profile.peakBytes - startBytes} B over the inputs, bound ${bound} B`);
    tf.dispose([dy, w]);
  });

  it('kernels leave no tensors behind', async () => {
    await useBackend('wasm');
    // Inputs made and freed inside: what kernels derive from a filter lives until the filter is freed.
    const leaked = leakedTensors(() => {
      const x = tf.randomNormal([2, 9, 7, 3]) as tf.Tensor4D;
      const w = tf.randomNormal([3, 3, 3, 5]) as tf.Tensor4D;
      const dy = tf.randomNormal([2, 5, 4, 5]) as tf.Tensor4D;
      filterGradient(x, dy, [3, 3, 3, 5], 2, 'same').dispose();
      tf.conv2dTranspose(dy, w, [2, 9, 7, 3], 2, 'same').dispose();
      tf.slice(x, [0, 1, 1, 0], [1, 3, 3, 2]).dispose();
      tf.leakyRelu(x, 0.2).dispose();
      const { value, grads } = tf.valueAndGrads((input: tf.Tensor) => instanceNorm(reflectPad(input as tf.Tensor4D, 2)))([x]);
      tf.dispose([value, ...grads]);
      tf.dispose([x, w, dy]);
    });
    assert.equal(leaked, 0);
  });

  it('in a derived-tensor scope, a filter\'s derived forms (Winograd transform, flipped phases) are computed once, freed with the filter or at the scope\'s end', async () => {
    await useBackend('cpu');
    const random = randomGenerator(35);
    const xValues = randomValues(random, 1 * 20 * 20 * 32);
    const wValues = randomValues(random, 3 * 3 * 32 * 32);
    const expected = tf.tidy(() => tf.conv2d(tf.tensor4d(xValues, [1, 20, 20, 32]), tf.tensor4d(wValues, [3, 3, 32, 32]), 1, 'same').dataSync());
    await useBackend('wasm');
    const tensors = tf.memory().numTensors;
    const x = tf.tensor4d(xValues, [1, 20, 20, 32]);
    const w = tf.tensor4d(wValues, [3, 3, 32, 32]);
    // Outside a scope nothing is kept.
    tf.conv2d(x, w, 1, 'same').dispose();
    assert.equal(cachedSourceCount(), 0, 'no scope, no cache');
    withDerivedTensorScope(() => {
      const first = tf.conv2d(x, w, 1, 'same'); // Winograd: U derived from w
      assert.equal(cachedSourceCount(), 1, 'w has a cached transform');
      const again = tf.conv2d(x, w, 1, 'same');
      assert.deepEqual(Array.from(again.dataSync()), Array.from(first.dataSync()), 'the cached transform gives the same bits');
      assert.ok(relativeError(again.dataSync() as tf.TypedArray, expected as tf.TypedArray) < 1e-5, 'a second conv with the cached transform is right');
      const gradient = tf.conv2dTranspose(first, w, [1, 20, 20, 32], 1, 'same'); // flipped w, and its own transform
      assert.equal(cachedSourceCount(), 2, 'the flipped filter is cached under w and transformed under itself');
      tf.dispose([first, again, gradient]);
      w.dispose();
      assert.equal(cachedSourceCount(), 0, 'freeing w frees everything derived from it');
      const other = tf.tensor4d(wValues, [3, 3, 32, 32]);
      tf.conv2d(x, other, 1, 'same').dispose();
      assert.equal(cachedSourceCount(), 1);
      other.dispose();
      const kept = tf.tensor4d(wValues, [3, 3, 32, 32]);
      tf.conv2d(x, kept, 1, 'same').dispose();
      tf.keep(kept);
      return kept;
    }).dispose();
    assert.equal(cachedSourceCount(), 0, 'the scope\'s end frees what its filters still held');
    x.dispose();
    assert.equal(tf.memory().numTensors, tensors);
  });
});
