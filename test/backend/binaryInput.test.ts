/**
 * Conv2D over 0/1 inputs (one-hot labels, boundaries) on wasm, computed as
 * sums of filter rows, and its filter gradient, computed as dy rows added to
 * filter rows, against a float64 direct convolution and its gradient: with
 * and without dense channels beside the 0/1 ones, strides, zero padding,
 * batch 2, more output channels than one kernel pass holds.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { conv2dFilterGradient } from '../../src/backend/wasm/conv2d-backprop-filter';
import { binaryChannels, conv2dFilterGradientBinaryInput, mayUseBinaryInput } from '../../src/backend/wasm/conv2d-binary-input';
import { wasmMemoryOf } from '../../src/backend/wasm/heap-views';
import { cachedSourceCount, withDerivedTensorScope } from '../../src/backend/wasm/derived-tensors';
import { randomGenerator, randomInt, randomValues, referenceConv2d, referenceConv2dFilterGradient, relativeError, setUpBackends, useBackend } from './helpers';

type Shape4 = [number, number, number, number];

/** G's input layout: one-hot over `labels` channels, a sparse 0/1 boundary channel, then `dense` real channels. */
function labelLikeInput(random: () => number, pixels: number, labels: number, dense: number): Float32Array {
  const channels = labels + 1 + dense;
  const values = new Float32Array(pixels * channels);
  for (let p = 0; p < pixels; p++) {
    values[p * channels + randomInt(random, 0, labels - 1)] = 1;
    if (random() < 0.2) values[p * channels + labels] = 1;
    for (let c = 0; c < dense; c++) values[p * channels + labels + 1 + c] = random() * 2 - 1;
  }
  return values;
}

interface BinaryCase {
  batch: number;
  height: number;
  width: number;
  labels: number;
  dense: number;
  kernel: number;
  stride: number;
  pad: number;
  outChannels: number;
}

const CASES: readonly BinaryCase[] = [
  { batch: 1, height: 20, width: 23, labels: 35, dense: 0, kernel: 7, stride: 1, pad: 0, outChannels: 64 }, // G1's input layer
  { batch: 2, height: 17, width: 15, labels: 12, dense: 3, kernel: 4, stride: 2, pad: 2, outChannels: 68 }, // D's, with a photo; two passes
  { batch: 1, height: 9, width: 9, labels: 8, dense: 0, kernel: 3, stride: 1, pad: 1, outChannels: 4 },
  { batch: 1, height: 5, width: 6, labels: 35, dense: 3, kernel: 7, stride: 1, pad: 3, outChannels: 32 }, // kernel larger than the image
];

describe('Conv2D over 0/1 input channels (wasm)', () => {
  before(async () => {
    await setUpBackends();
    await useBackend('wasm');
  });

  it('matches the direct convolution', () => {
    const random = randomGenerator(71);
    for (const c of CASES) {
      const xShape: Shape4 = [c.batch, c.height, c.width, c.labels + 1 + c.dense];
      const filterShape: Shape4 = [c.kernel, c.kernel, xShape[3], c.outChannels];
      const xValues = labelLikeInput(random, c.batch * c.height * c.width, c.labels, c.dense);
      const filterValues = randomValues(random, filterShape.reduce((a, b) => a * b));
      const label = JSON.stringify(c);
      assert.ok(mayUseBinaryInput(c.kernel * c.kernel, xShape[3], c.outChannels), `${label} may take the 0/1 path`);
      const flags = binaryChannels(xValues, xShape[3]);
      assert.deepEqual(
        flags,
        Array.from({ length: xShape[3] }, (_, k) => k <= c.labels),
        `${label}: the one-hot and boundary channels are found 0/1, the rest not`,
      );
      const expected = referenceConv2d(xValues, xShape, filterValues, filterShape, c.stride, c.pad);
      const pad: [[number, number], [number, number], [number, number], [number, number]] = [
        [0, 0],
        [c.pad, c.pad],
        [c.pad, c.pad],
        [0, 0],
      ];
      const actual = tf.tidy(() => tf.conv2d(tf.tensor4d(xValues, xShape), tf.tensor4d(filterValues, filterShape), c.stride, pad));
      assert.deepEqual(actual.shape, expected.shape, label);
      assert.ok(relativeError(actual.dataSync(), expected.values) < 1e-6, label);
      actual.dispose();
    }
  });

  it('its filter gradient matches the direct convolution\'s', () => {
    const random = randomGenerator(73);
    for (const c of CASES) {
      const xShape: Shape4 = [c.batch, c.height, c.width, c.labels + 1 + c.dense];
      const filterShape: Shape4 = [c.kernel, c.kernel, xShape[3], c.outChannels];
      const outHeight = Math.floor((c.height + 2 * c.pad - c.kernel) / c.stride) + 1;
      const outWidth = Math.floor((c.width + 2 * c.pad - c.kernel) / c.stride) + 1;
      const dyShape: Shape4 = [c.batch, outHeight, outWidth, c.outChannels];
      const xValues = labelLikeInput(random, c.batch * c.height * c.width, c.labels, c.dense);
      const dyValues = randomValues(random, dyShape.reduce((a, b) => a * b));
      const expected = referenceConv2dFilterGradient(xValues, xShape, dyValues, dyShape, filterShape, c.stride, c.pad);
      const label = JSON.stringify(c);
      // Through the kernel registry (the 0/1 path is chosen from the data) ...
      const dispatched = tf.tidy(() =>
        tf.grad((w) => tf.sum(tf.mul(tf.conv2d(tf.tensor4d(xValues, xShape), w as tf.Tensor4D, c.stride, c.pad), tf.tensor4d(dyValues, dyShape))))(
          tf.zeros(filterShape),
        ),
      );
      assert.deepEqual(dispatched.shape, filterShape, label);
      assert.ok(relativeError(dispatched.dataSync(), expected) < 1e-6, `${label} (tf.grad)`);
      dispatched.dispose();
      // ... and the 0/1 form itself.
      const flags = binaryChannels(xValues, xShape[3])!;
      const geometry = { strideHeight: c.stride, strideWidth: c.stride, padTop: c.pad, padLeft: c.pad };
      const direct = tf.tidy(() =>
        conv2dFilterGradientBinaryInput(tf.tensor4d(xValues, xShape), tf.tensor4d(dyValues, dyShape), filterShape, flags, geometry, wasmMemoryOf(tf.backend())!, (dense, denseShape) =>
          conv2dFilterGradient(dense, tf.tensor4d(dyValues, dyShape), denseShape, geometry),
        ),
      );
      assert.ok(relativeError(direct.dataSync(), expected) < 1e-6, `${label} (direct)`);
      direct.dispose();
    }
  });

  it('leaves real-valued inputs to the dense conv', () => {
    const random = randomGenerator(72);
    assert.equal(binaryChannels(randomValues(random, 64 * 100), 64), null, 'activations');
    // All-zero channels are 0/1, but 7 of them are too few to pay; 8 are enough.
    const mostlyReal = randomValues(random, 16 * 10);
    for (let p = 0; p < 10; p++) for (let c = 0; c < 7; c++) mostlyReal[p * 16 + c] = 0;
    assert.equal(binaryChannels(mostlyReal, 16), null);
    for (let p = 0; p < 10; p++) mostlyReal[p * 16 + 7] = 1;
    assert.deepEqual(binaryChannels(mostlyReal, 16), Array.from({ length: 16 }, (_, c) => c < 8));
    assert.equal(mayUseBinaryInput(1, 36, 64), false, '1x1 kernels');
    assert.equal(mayUseBinaryInput(49, 3, 64), false, 'a photo');
    assert.equal(mayUseBinaryInput(49, 36, 3), false, 'output channels not a multiple of 4');
  });

  it('in a training step, an input\'s 0/1 layout is read once for its forward pass and filter gradient, and freed with the scope', () => {
    const random = randomGenerator(73);
    const c = CASES[1]!;
    const xShape: Shape4 = [c.batch, c.height, c.width, c.labels + 1 + c.dense];
    const filterShape: Shape4 = [c.kernel, c.kernel, xShape[3], c.outChannels];
    const xValues = labelLikeInput(random, c.batch * c.height * c.width, c.labels, c.dense);
    const filterValues = randomValues(random, filterShape.reduce((a, b) => a * b));
    const forward = referenceConv2d(xValues, xShape, filterValues, filterShape, c.stride, c.pad);
    const dyValues = randomValues(random, forward.values.length);
    const expected = referenceConv2dFilterGradient(xValues, xShape, dyValues, forward.shape, filterShape, c.stride, c.pad);
    const pads: [[number, number], [number, number], [number, number], [number, number]] = [[0, 0], [c.pad, c.pad], [c.pad, c.pad], [0, 0]];
    const tensors = tf.memory().numTensors;
    const x = tf.tensor4d(xValues, xShape);
    const filter = tf.tensor4d(filterValues, filterShape);
    const dy = tf.tensor4d(dyValues, forward.shape as Shape4);
    withDerivedTensorScope(() => {
      const y = tf.conv2d(x, filter, c.stride, pads);
      assert.equal(cachedSourceCount(), 1, 'the input\'s ones per pixel are kept');
      const gradient = tf.engine().runKernel(tf.Conv2DBackpropFilter, { x, dy }, { strides: c.stride, pad: pads, dataFormat: 'NHWC', filterShape } as unknown as tf.NamedAttrMap) as tf.Tensor;
      assert.equal(cachedSourceCount(), 1, 'the filter gradient reused them');
      assert.ok(relativeError(y.dataSync(), forward.values) < 1e-6, 'forward');
      assert.ok(relativeError(gradient.dataSync(), expected) < 1e-6, 'filter gradient from the kept layout');
      tf.dispose([y, gradient]);
    });
    assert.equal(cachedSourceCount(), 0, 'freed at the scope\'s end');
    tf.dispose([x, filter, dy]);
    assert.equal(tf.memory().numTensors, tensors);
  });
});
