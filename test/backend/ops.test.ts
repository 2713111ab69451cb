/**
 * The public ops against float64 references with PyTorch semantics, on both
 * the wasm backend (with p2phd's kernels) and the cpu backend.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { avgPoolDownsample, conv2d, conv2dConstantPrefix, conv2dTranspose, instanceNorm, reflectPad } from '../../src/backend/ops';
import { parseSafetensors } from '../../src/data/formats/safetensors';
import { requireTensor } from '../../src/data/files/tensorFile';
import { GOLDEN_DIR } from '../support/cli';
import {
  dot,
  finiteDifferenceGradient,
  leakedTensors,
  nchwToNhwc,
  randomGenerator,
  randomInt,
  randomValues,
  referenceConv2d,
  referenceConv2dFilterGradient,
  referenceConv2dTranspose,
  referenceInstanceNorm,
  referenceReflectPad,
  relativeError,
  setUpBackends,
  useBackend,
} from './helpers';

const BACKENDS = ['wasm', 'cpu'] as const;

before(setUpBackends);

for (const backend of BACKENDS) {
  describe(`ops on ${backend}`, () => {
    before(() => useBackend(backend));

    it('reflectPad matches ReflectionPad2d', () => {
      const random = randomGenerator(1);
      const cases: Array<[number[], number]> = [
        [[1, 5, 7, 3], 1],
        [[2, 6, 4, 2], 3],
        [[1, 4, 9, 1], 3],
      ];
      for (const [shape, pad] of cases) {
        const values = randomValues(random, shape.reduce((a, b) => a * b));
        const expected = referenceReflectPad(values, shape, pad);
        const actual = tf.tidy(() => reflectPad(tf.tensor4d(values, shape as [number, number, number, number]), pad));
        assert.deepEqual(actual.shape, expected.shape);
        assert.ok(relativeError(actual.dataSync(), expected.values) === 0);
        actual.dispose();
      }
    });

    it("reflectPad's gradient folds the borders back (the issue's example and random weights)", () => {
      // 1-D example from the issue along the width: x = [1,2,3,4], pad 2, weights 0..7 -> [2, 11, 10, 5].
      // The height is padded too; with weights constant over rows, row sums triple the middle
      // row's share... so test the width alone on a 3-row input and sum the rows' gradients.
      const weightsRow = [0, 1, 2, 3, 4, 5, 6, 7];
      const x = tf.tensor4d([1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4], [1, 3, 4, 1]);
      const weights = tf.tensor4d(
        Array.from({ length: 7 }, (_, row) => weightsRow.map((w) => (row === 3 ? w : 0))).flat(),
        [1, 7, 8, 1],
      );
      const gradient = tf.grad((input: tf.Tensor) => tf.sum(tf.mul(reflectPad(input as tf.Tensor4D, 2), weights)))(x);
      // Row 3 of the padded output is input row 1, and only it carries weight.
      assert.deepEqual(Array.from(gradient.dataSync()), [0, 0, 0, 0, 2, 11, 10, 5, 0, 0, 0, 0]);
      tf.dispose([x, weights, gradient]);

      const random = randomGenerator(2);
      const cases: Array<[number[], number]> = [
        [[1, 4, 5, 2], 1],
        [[2, 5, 4, 1], 3],
      ];
      for (const [shape, pad] of cases) {
        const xValues = randomValues(random, shape.reduce((a, b) => a * b));
        const padded = referenceReflectPad(xValues, shape, pad);
        const w = randomValues(random, padded.values.length);
        const loss = (point: Float64Array): number => dot(referenceReflectPad(point, shape, pad).values, w);
        const expected = finiteDifferenceGradient(loss, xValues);
        const actual = tf.tidy(() =>
          tf.grad((input: tf.Tensor) => tf.sum(tf.mul(reflectPad(input as tf.Tensor4D, pad), tf.tensor(w, padded.shape))))(
            tf.tensor4d(xValues, shape as [number, number, number, number]),
          ),
        );
        assert.ok(relativeError(actual.dataSync(), expected) < 1e-5, `shape ${shape} pad ${pad}`);
        actual.dispose();
      }
    });

    it('instanceNorm matches InstanceNorm2d and its gradient matches finite differences', () => {
      const random = randomGenerator(3);
      const shapes: number[][] = [
        [1, 3, 5, 2],
        [2, 4, 3, 3],
      ];
      for (const shape of shapes) {
        const xValues = randomValues(random, shape.reduce((a, b) => a * b));
        const y = tf.tidy(() => instanceNorm(tf.tensor4d(xValues, shape as [number, number, number, number])));
        assert.ok(relativeError(y.dataSync(), referenceInstanceNorm(xValues, shape)) < 1e-5);
        y.dispose();

        const w = randomValues(random, xValues.length);
        const expected = finiteDifferenceGradient((point) => dot(referenceInstanceNorm(point, shape), w), xValues, 1e-5);
        const actual = tf.tidy(() =>
          tf.grad((input: tf.Tensor) => tf.sum(tf.mul(instanceNorm(input as tf.Tensor4D), tf.tensor(w, shape))))(
            tf.tensor4d(xValues, shape as [number, number, number, number]),
          ),
        );
        // The float32 forward pass limits the agreement to a few 1e-6.
        assert.ok(relativeError(actual.dataSync(), expected) < 1e-4, `shape ${shape}`);
        actual.dispose();
      }
    });

    it('avgPoolDownsample matches the reference (golden AvgPool2d, odd size)', () => {
      const file = parseSafetensors(readFileSync(join(GOLDEN_DIR, 'downsample.safetensors')), 'downsample.safetensors');
      const x = requireTensor(file, 'x', ['F32']);
      const y = requireTensor(file, 'y', ['F32']);
      const input = nchwToNhwc(x.data as Float32Array, x.shape);
      const expected = nchwToNhwc(y.data as Float32Array, y.shape);
      const actual = tf.tidy(() => avgPoolDownsample(tf.tensor4d(input.values, input.shape as [number, number, number, number])));
      assert.deepEqual(actual.shape, expected.shape);
      assert.ok(relativeError(actual.dataSync(), expected.values) < 1e-6);
      actual.dispose();
    });

    it('avgPoolDownsample on even sizes pads like PyTorch (one pixel on top and left)', () => {
      // 4x4 ones -> every output 1 (count_include_pad=False); a ramp checks the window placement.
      const ramp = tf.tensor4d([0, 1, 2, 3], [1, 1, 4, 1]);
      const pooled = tf.tidy(() => avgPoolDownsample(tf.tile(ramp, [1, 2, 1, 1]) as tf.Tensor4D));
      // Windows over columns {0,1} and {1,2,3}: means 0.5 and 2.
      assert.deepEqual(Array.from(pooled.dataSync()), [0.5, 2]);
      tf.dispose([ramp, pooled]);
    });

    it('conv2d matches Conv2d with zero padding (strides 1-3, kernels 1-7)', () => {
      const random = randomGenerator(4);
      for (let trial = 0; trial < 12; trial++) {
        const kernel = randomInt(random, 1, 7);
        const stride = randomInt(random, 1, 3);
        const pad = randomInt(random, 0, Math.min(3, kernel));
        const xShape = [randomInt(random, 1, 2), randomInt(random, kernel, 11), randomInt(random, kernel, 11), randomInt(random, 1, 5)];
        const wShape = [kernel, kernel, xShape[3]!, randomInt(random, 1, 5)];
        const xValues = randomValues(random, xShape.reduce((a, b) => a * b));
        const wValues = randomValues(random, wShape.reduce((a, b) => a * b));
        const expected = referenceConv2d(xValues, xShape, wValues, wShape, stride, pad);
        const actual = tf.tidy(() =>
          conv2d(tf.tensor4d(xValues, xShape as [number, number, number, number]), tf.tensor4d(wValues, wShape as [number, number, number, number]), stride, pad),
        );
        assert.deepEqual(actual.shape, expected.shape, `trial ${trial}`);
        assert.ok(relativeError(actual.dataSync(), expected.values) < 1e-5, `trial ${trial}: k${kernel} s${stride} p${pad}`);
        actual.dispose();
      }
    });

    it('conv2dConstantPrefix: the forward pass and filter gradient of conv2d, an input gradient of zeros over the constant channels', () => {
      const random = randomGenerator(6);
      for (const [kernel, stride, pad] of [[7, 1, 3], [3, 2, 1], [4, 2, 2]] as const) {
        const xShape: [number, number, number, number] = [1, 9, 9, 7];
        const constant = 5;
        const wShape: [number, number, number, number] = [kernel, kernel, 7, 4];
        const xValues = randomValues(random, xShape.reduce((a, b) => a * b));
        const wValues = randomValues(random, wShape.reduce((a, b) => a * b));
        const forward = referenceConv2d(xValues, xShape, wValues, wShape, stride, pad);
        const dyValues = randomValues(random, forward.values.length);
        // The loss sum(y * dy): its input gradient is conv2d's transpose applied to dy, its filter gradient x (x) dy.
        const outputPadding = xShape[1] - ((forward.shape[1]! - 1) * stride - 2 * pad + kernel);
        const inputGradient = referenceConv2dTranspose(dyValues, forward.shape, wValues, wShape, stride, pad, outputPadding).values;
        const filterGradient = referenceConv2dFilterGradient(xValues, xShape, dyValues, forward.shape, wShape, stride, pad);
        const label = `k${kernel} s${stride} p${pad}`;
        const x = tf.tensor4d(xValues, xShape);
        const w = tf.tensor4d(wValues, wShape);
        const dy = tf.tensor4d(dyValues, forward.shape as [number, number, number, number]);
        const y = conv2dConstantPrefix(x, w, stride, pad, constant);
        assert.ok(relativeError(y.dataSync(), forward.values) < 1e-5, `forward ${label}`);
        const [dx, dw] = tf.grads((xIn: tf.Tensor, wIn: tf.Tensor) => tf.sum(tf.mul(conv2dConstantPrefix(xIn as tf.Tensor4D, wIn as tf.Tensor4D, stride, pad, constant), dy)))([x, w]);
        const dxValues = dx!.dataSync();
        const expectedDx = inputGradient.map((value, index) => (index % 7 < constant ? 0 : value));
        assert.ok(dxValues.every((value, index) => index % 7 >= constant || value === 0), `zeros over the constant channels ${label}`);
        assert.ok(relativeError(dxValues, expectedDx) < 1e-5, `input gradient ${label}`);
        assert.ok(relativeError(dw!.dataSync(), filterGradient) < 1e-5, `filter gradient ${label}`);
        tf.dispose([x, w, dy, y, dx!, dw!]);
      }
    });

    it('conv2dTranspose matches ConvTranspose2d (output padding, odd sizes)', () => {
      const random = randomGenerator(5);
      const cases: Array<[number, number, number, number]> = [
        [3, 2, 1, 1], // the generator's upsampling layer
        [4, 2, 1, 0],
        [3, 1, 1, 0],
        [5, 3, 2, 2],
        [1, 2, 0, 1],
        [7, 3, 0, 1],
      ];
      for (const [kernel, stride, pad, outputPadding] of cases) {
        const xShape = [randomInt(random, 1, 2), randomInt(random, 2, 7), randomInt(random, 2, 7), randomInt(random, 1, 4)];
        const wShape = [kernel, kernel, randomInt(random, 1, 4), xShape[3]!];
        const xValues = randomValues(random, xShape.reduce((a, b) => a * b));
        const wValues = randomValues(random, wShape.reduce((a, b) => a * b));
        const expected = referenceConv2dTranspose(xValues, xShape, wValues, wShape, stride, pad, outputPadding);
        const actual = tf.tidy(() =>
          conv2dTranspose(
            tf.tensor4d(xValues, xShape as [number, number, number, number]),
            tf.tensor4d(wValues, wShape as [number, number, number, number]),
            stride,
            pad,
            outputPadding,
          ),
        );
        const label = `k${kernel} s${stride} p${pad} op${outputPadding}`;
        assert.deepEqual(actual.shape, expected.shape, label);
        assert.ok(relativeError(actual.dataSync(), expected.values) < 1e-5, label);
        actual.dispose();
      }
    });

    it('leaves no tensors behind, forward or backward', () => {
      const x = tf.randomNormal([1, 6, 5, 3]) as tf.Tensor4D;
      const w = tf.randomNormal([3, 3, 3, 4]) as tf.Tensor4D;
      const wt = tf.randomNormal([3, 3, 2, 3]) as tf.Tensor4D;
      const leaked = leakedTensors(() => {
        const { value, grads } = tf.valueAndGrads((input: tf.Tensor, weight: tf.Tensor, weightT: tf.Tensor) =>
          tf.add(
            tf.sum(instanceNorm(conv2d(reflectPad(input as tf.Tensor4D, 1), weight as tf.Tensor4D, 1, 0))),
            tf.add(
              tf.sum(avgPoolDownsample(input as tf.Tensor4D)),
              tf.sum(conv2dTranspose(input as tf.Tensor4D, weightT as tf.Tensor4D, 2, 1, 1)),
            ),
          ),
        )([x, w, wt]);
        tf.dispose([value, ...grads]);
      });
      assert.equal(leaked, 0);
      tf.dispose([x, w, wt]);
    });
  });
}
