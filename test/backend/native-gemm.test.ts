/**
 * The wasm backend's products on ONNX Runtime's MLAS (onnxruntime-node, an
 * optional dependency): the hand-encoded ONNX models, the GEMM session's
 * transpositions against hand-computed products, BatchMatMul with batch
 * broadcasting, and the native column form of Conv2D, its input gradient
 * and its filter gradient against float64 references (one band and many).
 * Skipped, saying so, where onnxruntime-node cannot load.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { decodeOnnxModel } from '../../src/data/formats/onnx';
import { createMatMulSession, gemmModelBytes, matMulModelBytes, type MatMulSession } from '../../src/backend/onnxruntime/matmul-session';
import { onnxRuntimeAvailable } from '../../src/backend/onnxruntime/index';
import { nativeMatMulSession, registerNativeMatMul } from '../../src/backend/wasm/native-matmul';
import { conv2dInputGradientNativeColumn, setNativeColumnBandElements } from '../../src/backend/wasm/conv2d-native-column';
import { columnConvShape } from '../../src/backend/wasm/conv2d-column-gemm';
import { convGeometry } from '../../src/backend/wasm/conv-geometry';
import {
  randomGenerator,
  randomValues,
  referenceConv2d,
  referenceConv2dFilterGradient,
  referenceConv2dTranspose,
  relativeError,
  setUpBackends,
  useBackend,
} from './helpers';

const skip = onnxRuntimeAvailable() ? false : 'skipped: onnxruntime-node is not installed (optional dependency)';

describe('ONNX models of the native GEMM', () => {
  it('MatMul: one node c = MatMul(a, b), float inputs of any shape, opset 17, IR 8', () => {
    const model = decodeOnnxModel(matMulModelBytes());
    assert.equal(model.ir_version, 8);
    assert.deepEqual(model.opset_import.map((o) => o.version), [17]);
    assert.equal(model.graph.node.length, 1);
    assert.equal(model.graph.node[0]!.op_type, 'MatMul');
    assert.deepEqual(model.graph.node[0]!.input, ['a', 'b']);
    assert.deepEqual(model.graph.node[0]!.output, ['c']);
    assert.deepEqual(model.graph.input.map((v) => v.name), ['a', 'b']);
    assert.deepEqual(model.graph.output.map((v) => v.name), ['c']);
  });

  it('Gemm: transA and transB as INT attributes', () => {
    const node = decodeOnnxModel(gemmModelBytes(true, false)).graph.node[0]!;
    assert.equal(node.op_type, 'Gemm');
    assert.deepEqual(
      (node.attribute ?? []).map((a) => [a.name, a.type, Number(a.i ?? 0)]),
      [
        ['transA', 2, 1],
        ['transB', 2, 0],
      ],
    );
  });
});

describe('native GEMM session (ONNX Runtime MLAS)', { skip }, () => {
  let session: MatMulSession;
  before(() => {
    session = createMatMulSession(2);
  });

  it('gemm with each transposition matches hand-computed products', () => {
    // a = [[1, 2, 3], [4, 5, 6]], b = [[1, 0], [0, 1], [2, -1]]: a·b = [[7, -1], [16, -1]].
    const a = Float32Array.of(1, 2, 3, 4, 5, 6);
    const aT = Float32Array.of(1, 4, 2, 5, 3, 6);
    const b = Float32Array.of(1, 0, 0, 1, 2, -1);
    const bT = Float32Array.of(1, 0, 2, 0, 1, -1);
    const expected = [7, -1, 16, -1];
    for (const [transposeA, transposeB] of [[false, false], [true, false], [false, true], [true, true]] as const) {
      const c = new Float32Array(4);
      session.gemm(transposeA, transposeB, transposeA ? aT : a, transposeB ? bT : b, c, 2, 2, 3);
      assert.deepEqual([...c], expected, `transA ${transposeA} transB ${transposeB}`);
    }
  });

  it('run broadcasts a batch of one against a batch of three', () => {
    // a [1, 1, 2] = [1, 2]; b [3, 2, 1] = [[3], [4]], [[0], [1]], [[-1], [1]]: [11], [2], [1].
    const c = new Float32Array(3);
    session.run(Float32Array.of(1, 2), [1, 1, 2], Float32Array.of(3, 4, 0, 1, -1, 1), [3, 2, 1], c, [3, 1, 1]);
    assert.deepEqual([...c], [11, 2, 1]);
  });
});

describe('wasm convs and matmuls on the native GEMM', { skip }, () => {
  let calls = 0;
  let previous: MatMulSession | null = null;
  before(async () => {
    await setUpBackends();
    previous = nativeMatMulSession();
    const inner = previous ?? createMatMulSession(2);
    // Counts the products that reach MLAS, so each case can check it took this path.
    registerNativeMatMul({
      threads: inner.threads,
      run: (...args) => {
        calls++;
        inner.run(...args);
      },
      gemm: (...args) => {
        calls++;
        inner.gemm(...args);
      },
    });
  });
  after(() => {
    registerNativeMatMul(previous);
  });

  it('BatchMatMul with a broadcast batch matches the cpu backend', async () => {
    const random = randomGenerator(41);
    const aValues = randomValues(random, 1 * 96 * 64);
    const bValues = randomValues(random, 5 * 64 * 80);
    const product = (): tf.Tensor => tf.tidy(() => tf.matMul(tf.tensor3d(aValues, [1, 96, 64]), tf.tensor3d(bValues, [5, 64, 80])));
    await useBackend('cpu');
    const expected = product();
    const cpu = expected.dataSync();
    expected.dispose();
    await useBackend('wasm');
    const before = calls;
    const actual = product();
    assert.deepEqual(actual.shape, [5, 96, 80]);
    assert.ok(calls > before, 'the product went to MLAS');
    assert.ok(relativeError(actual.dataSync(), cpu) < 1e-5);
    actual.dispose();
  });

  const cases: Array<{ x: [number, number, number, number]; w: [number, number, number, number]; stride: number; pad: number; bandElements?: number }> = [
    { x: [1, 12, 10, 16], w: [3, 3, 16, 24], stride: 1, pad: 1 },
    { x: [2, 9, 11, 24], w: [3, 3, 24, 32], stride: 2, pad: 1 },
    { x: [1, 13, 13, 16], w: [4, 4, 16, 32], stride: 2, pad: 2 },
    { x: [1, 7, 9, 32], w: [4, 4, 32, 16], stride: 1, pad: 2 },
    { x: [1, 8, 9, 8], w: [7, 7, 8, 16], stride: 1, pad: 3 },
    // Bands of 7 output pixels: rows split mid-row, and the filter gradient sums its bands.
    { x: [2, 10, 9, 16], w: [3, 3, 16, 20], stride: 1, pad: 1, bandElements: 7 * 3 * 3 * 16 },
    { x: [1, 15, 15, 16], w: [4, 4, 16, 24], stride: 2, pad: 1, bandElements: 5 * 4 * 4 * 16 },
  ];
  for (const c of cases) {
    const label = `x${c.x} w${c.w} stride ${c.stride} pad ${c.pad}${c.bandElements ? ` bands of ${c.bandElements / (c.w[0] * c.w[1] * c.w[2])} pixels` : ''}`;
    it(`conv, input gradient and filter gradient against float64: ${label}`, async () => {
      await useBackend('wasm');
      const random = randomGenerator(c.x[1] * 100 + c.w[3]);
      const xValues = randomValues(random, c.x.reduce((a, b) => a * b));
      const wValues = randomValues(random, c.w.reduce((a, b) => a * b));
      const forward = referenceConv2d(xValues, c.x, wValues, c.w, c.stride, c.pad);
      const dyValues = randomValues(random, forward.values.length);
      const dyShape = forward.shape as [number, number, number, number];
      const pads: [[number, number], [number, number], [number, number], [number, number]] = [[0, 0], [c.pad, c.pad], [c.pad, c.pad], [0, 0]];
      // ConvTranspose's output padding that gives back the input's size.
      const outputPadding = c.x[1] - ((dyShape[1] - 1) * c.stride - 2 * c.pad + c.w[0]);
      const [kh, kw, ci, co] = c.w;
      // The conv's filter [kh, kw, Ci, Co] is its transpose's [kh, kw, out, in].
      const inputGradient = referenceConv2dTranspose(dyValues, dyShape, wValues, c.w, c.stride, c.pad, outputPadding);
      const filterGradient = referenceConv2dFilterGradient(xValues, c.x, dyValues, dyShape, c.w, c.stride, c.pad);

      const previousBand = c.bandElements !== undefined ? setNativeColumnBandElements(c.bandElements) : undefined;
      const before = calls;
      try {
        const x = tf.tensor4d(xValues, c.x);
        const w = tf.tensor4d(wValues, c.w);
        const dy = tf.tensor4d(dyValues, dyShape);
        const y = tf.conv2d(x, w, c.stride, pads);
        assert.deepEqual(y.shape, forward.shape);
        assert.ok(relativeError(y.dataSync(), forward.values) < 1e-5, `forward ${label}`);
        const dw = tf.engine().runKernel(tf.Conv2DBackpropFilter, { x, dy }, { strides: c.stride, pad: pads, dataFormat: 'NHWC', filterShape: c.w } as unknown as tf.NamedAttrMap) as tf.Tensor;
        assert.ok(relativeError(dw.dataSync(), filterGradient) < 1e-5, `filter gradient ${label}`);
        const bands = c.bandElements !== undefined ? Math.ceil(forward.values.length / co / Math.floor(c.bandElements / (kh * kw * ci))) : 1;
        assert.equal(calls - before, 2 * bands, 'the forward and filter-gradient products (one per band) went to MLAS');
        // The input gradient's column form (taken for filters too large to keep flipped phases of), called directly...
        const info = tf.backend_util.computeConv2DInfo(c.x, c.w, c.stride, 1, pads);
        const dxColumns = tf.tidy(() => conv2dInputGradientNativeColumn(nativeMatMulSession()!, dy, w, columnConvShape(info, convGeometry(info))));
        assert.ok(relativeError(dxColumns.dataSync(), inputGradient.values) < 1e-5, `input gradient, column form ${label}`);
        assert.equal(calls - before, 3 * bands, 'its product (one per band) went to MLAS');
        // ...and as the kernel chooses it (stride phases, each a conv that may take the column form).
        const dx = tf.conv2dTranspose(dy, w, c.x, c.stride, pads);
        assert.ok(relativeError(dx.dataSync(), inputGradient.values) < 1e-5, `input gradient ${label}`);
        tf.dispose([x, w, dy, y, dx, dxColumns, dw]);
      } finally {
        if (previousBand !== undefined) setNativeColumnBandElements(previousBand);
      }
    });
  }
});
