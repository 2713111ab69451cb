/**
 * The conv units (backend/convUnit.ts) against the same layers run op by op
 * under tfjs's tape: the same output and the same gradients for every input,
 * bit for bit, for each kind of unit (ReLU or LeakyReLU or none, reflection
 * pad or none, conv with zero padding and stride, transposed conv, constant
 * leading channels; without bias, as pix2pix's convs before batch norm;
 * the opening unit with its added term), on wasm and cpu.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../src/backend/index.js';
import { convAddUnit, convUnit, type ConvUnitShape } from '../../src/backend/convUnit.js';
import { conv2d, conv2dConstantPrefix, conv2dTranspose, reflectPad } from '../../src/backend/ops.js';
import { Random } from '../../src/model/random.js';

function randomTensor(shape: number[], seed: number): tf.Tensor {
  const random = new Random(seed);
  return tf.tensor(random.fillNormal(new Float32Array(shape.reduce((a, b) => a * b, 1)), 0, 1), shape);
}

/** The layers one by one, as layers.ts ran them before the units. */
function opByOp(x: tf.Tensor4D, w: tf.Tensor4D, b: tf.Tensor | undefined, shape: ConvUnitShape): tf.Tensor4D {
  let y = x;
  if (shape.activation?.kind === 'relu') y = tf.relu(y);
  if (shape.activation?.kind === 'leakyRelu') y = tf.leakyRelu(y, shape.activation.slope);
  if (shape.reflectPad > 0) y = reflectPad(y, shape.reflectPad);
  const { conv } = shape;
  if (conv.kind === 'convTranspose') y = conv2dTranspose(y, w, conv.stride, conv.pad, conv.outputPadding);
  else y = conv.constantChannels > 0 ? conv2dConstantPrefix(y, w, conv.stride, conv.pad, conv.constantChannels) : conv2d(y, w, conv.stride, conv.pad);
  return b === undefined ? y : tf.add(y, b);
}

function sameBits(a: tf.Tensor, b: tf.Tensor, what: string): void {
  assert.deepEqual(a.shape, b.shape, `${what}: shape`);
  const x = a.dataSync() as Float32Array;
  const y = b.dataSync() as Float32Array;
  assert.ok(Buffer.from(x.buffer, x.byteOffset, x.byteLength).equals(Buffer.from(y.buffer, y.byteOffset, y.byteLength)), `${what}: bits differ`);
}

const UNITS: ReadonlyArray<readonly [string, ConvUnitShape, number[], number[]]> = [
  ['ReLU, reflect pad 1, conv 3x3', { activation: { kind: 'relu' }, reflectPad: 1, conv: { kind: 'conv', stride: 1, pad: 0, constantChannels: 0 } }, [2, 7, 9, 5], [3, 3, 5, 4]],
  ['ReLU, conv 3x3 stride 2 pad 1', { activation: { kind: 'relu' }, reflectPad: 0, conv: { kind: 'conv', stride: 2, pad: 1, constantChannels: 0 } }, [1, 8, 10, 4], [3, 3, 4, 6]],
  ['reflect pad 3, conv 7x7, constant leading channels', { reflectPad: 3, conv: { kind: 'conv', stride: 1, pad: 0, constantChannels: 3 } }, [1, 9, 8, 5], [7, 7, 5, 4]],
  ['LeakyReLU 0.2, conv 4x4 stride 2 pad 2', { activation: { kind: 'leakyRelu', slope: 0.2 }, reflectPad: 0, conv: { kind: 'conv', stride: 2, pad: 2, constantChannels: 0 } }, [1, 9, 11, 4], [4, 4, 4, 3]],
  ['ReLU, transposed conv 3x3 stride 2', { activation: { kind: 'relu' }, reflectPad: 0, conv: { kind: 'convTranspose', stride: 2, pad: 1, outputPadding: 1 } }, [1, 5, 6, 6], [3, 3, 3, 6]],
  ['LeakyReLU 0.2, transposed conv 4x4 stride 2 (U-Net up)', { activation: { kind: 'leakyRelu', slope: 0.2 }, reflectPad: 0, conv: { kind: 'convTranspose', stride: 2, pad: 1, outputPadding: 0 } }, [2, 4, 4, 6], [4, 4, 3, 6]],
  ['conv alone', { reflectPad: 0, conv: { kind: 'conv', stride: 1, pad: 1, constantChannels: 0 } }, [1, 6, 6, 3], [3, 3, 3, 2]],
];

for (const backend of ['wasm', 'cpu'] as const) {
  describe(`conv units (${backend}): the same bits as the layers op by op`, () => {
    before(async () => {
      await initBackend(backend, { log: () => {} });
    });
    after(async () => {
      await initBackend('wasm', { log: () => {} });
    });
    UNITS.forEach(([title, shape, xShape, wShape], index) => {
      it(title, () => {
        const x = randomTensor(xShape, 10 + index) as tf.Tensor4D;
        const w = randomTensor(wShape, 20 + index) as tf.Tensor4D;
        const outChannels = shape.conv.kind === 'convTranspose' ? wShape[2]! : wShape[3]!;
        const b = randomTensor([outChannels], 30 + index);
        const reference = opByOp(x, w, b, shape);
        const dy = randomTensor(reference.shape, 40 + index);
        const loss = (run: typeof opByOp) => (xIn: tf.Tensor, wIn: tf.Tensor, bIn: tf.Tensor) => tf.sum(tf.mul(run(xIn as tf.Tensor4D, wIn as tf.Tensor4D, bIn, shape), dy));
        const expected = tf.grads(loss(opByOp))([x, w, b]);
        const actual = tf.grads(loss(convUnit))([x, w, b]);
        const output = convUnit(x, w, b, shape);
        try {
          sameBits(output, reference, 'output');
          ['x', 'w', 'b'].forEach((name, i) => sameBits(actual[i]!, expected[i]!, `d${name}`));
        } finally {
          tf.dispose([x, w, b, reference, dy, output, ...expected, ...actual]);
        }
      });
    });

    // pix2pix's convs before batch norm: no bias (the U-Net's LeakyReLU + down conv and ReLU + up conv among them).
    const WITHOUT_BIAS: ReadonlyArray<readonly [string, ConvUnitShape, number[], number[]]> = [
      ['LeakyReLU 0.2, conv 4x4 stride 2 pad 1 (U-Net down)', { activation: { kind: 'leakyRelu', slope: 0.2 }, reflectPad: 0, conv: { kind: 'conv', stride: 2, pad: 1, constantChannels: 0 } }, [2, 8, 8, 4], [4, 4, 4, 6]],
      ['ReLU, transposed conv 4x4 stride 2 pad 1 (U-Net up)', { activation: { kind: 'relu' }, reflectPad: 0, conv: { kind: 'convTranspose', stride: 2, pad: 1, outputPadding: 0 } }, [2, 4, 4, 6], [4, 4, 3, 6]],
      ['ReLU, reflect pad 1, conv 3x3 (ResNet block)', UNITS[0]![1], UNITS[0]![2], UNITS[0]![3]],
      ['transposed conv 3x3 stride 2 alone (ResNet up)', { reflectPad: 0, conv: { kind: 'convTranspose', stride: 2, pad: 1, outputPadding: 1 } }, [1, 5, 6, 6], [3, 3, 3, 6]],
    ];
    WITHOUT_BIAS.forEach(([title, shape, xShape, wShape], index) => {
      it(`without bias: ${title}`, () => {
        const x = randomTensor(xShape, 50 + index) as tf.Tensor4D;
        const w = randomTensor(wShape, 60 + index) as tf.Tensor4D;
        const reference = opByOp(x, w, undefined, shape);
        const dy = randomTensor(reference.shape, 70 + index);
        const loss = (run: typeof opByOp) => (xIn: tf.Tensor, wIn: tf.Tensor) => tf.sum(tf.mul(run(xIn as tf.Tensor4D, wIn as tf.Tensor4D, undefined, shape), dy));
        const expected = tf.grads(loss(opByOp))([x, w]);
        const actual = tf.grads(loss(convUnit))([x, w]);
        const output = convUnit(x, w, undefined, shape);
        try {
          sameBits(output, reference, 'output');
          ['x', 'w'].forEach((name, i) => sameBits(actual[i]!, expected[i]!, `d${name}`));
        } finally {
          tf.dispose([x, w, reference, dy, output, ...expected, ...actual]);
        }
      });
    });

    it("the opening unit: LeakyReLU(term + conv(x) + b), D's split first conv", () => {
      const term = randomTensor([1, 5, 6, 4], 1) as tf.Tensor4D;
      const x = randomTensor([1, 8, 10, 3], 2) as tf.Tensor4D;
      const w = randomTensor([4, 4, 3, 4], 3) as tf.Tensor4D;
      const b = randomTensor([4], 4);
      const conv = { stride: 2, pad: 2 };
      const opByOpOpening = (t: tf.Tensor, xIn: tf.Tensor, wIn: tf.Tensor, bIn: tf.Tensor): tf.Tensor =>
        tf.leakyRelu(tf.add(tf.add(t, conv2d(xIn as tf.Tensor4D, wIn as tf.Tensor4D, conv.stride, conv.pad)), bIn), 0.2);
      const unit = (t: tf.Tensor, xIn: tf.Tensor, wIn: tf.Tensor, bIn: tf.Tensor): tf.Tensor =>
        convAddUnit(t as tf.Tensor4D, xIn as tf.Tensor4D, wIn as tf.Tensor4D, bIn, conv, { kind: 'leakyRelu', slope: 0.2 });
      const dy = randomTensor([1, 5, 6, 4], 5);
      const loss = (run: typeof unit) => (t: tf.Tensor, xIn: tf.Tensor, wIn: tf.Tensor, bIn: tf.Tensor) => tf.sum(tf.mul(run(t, xIn, wIn, bIn), dy));
      const expected = tf.grads(loss(opByOpOpening))([term, x, w, b]);
      const actual = tf.grads(loss(unit))([term, x, w, b]);
      try {
        ['term', 'x', 'w', 'b'].forEach((name, i) => sameBits(actual[i]!, expected[i]!, `d${name}`));
      } finally {
        tf.dispose([term, x, w, b, dy, ...expected, ...actual]);
      }
    });
  });
}
