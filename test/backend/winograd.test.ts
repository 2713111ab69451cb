/**
 * Winograd F(4x4, 3x3) and F(3x3, 4x4) convolution on wasm against a float64
 * direct convolution: tiles cut by the image border (sizes not multiples of
 * the tile), outputs smaller than one tile, zero padding, batch 2, channel
 * counts that are not multiples of 4 (F(4x4, 3x3)), and the Conv2D kernel's
 * dispatch to them (a 4x4 conv's input gradient included). Everything runs
 * with the generated kernels in both modes: plain SIMD, and fused
 * multiply-adds (relaxed SIMD) where the runtime has them.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { conv2dFilterGradientWinograd, conv2dWinograd, preferWinograd, setWinogradSimdTransforms } from '../../src/backend/wasm/conv2d-winograd';
import { relaxedSimdAvailable, setGeneratedKernelFma } from '../../src/backend/wasm/relaxed-simd';
import { WINOGRAD_F3X3_4X4, WINOGRAD_F4X4_3X3, type WinogradVariant } from '../../src/backend/wasm/winograd-simd';
import { leakedTensors, randomGenerator, randomValues, referenceConv2d, referenceConv2dFilterGradient, referenceConv2dTranspose, relativeError, setUpBackends, useBackend } from './helpers';

type Shape4 = [number, number, number, number];

/** float32 rounding of the inputs plus F(4x4, 3x3)'s own: a few 1e-7 relative; 1e-5 leaves room without hiding a wrong tap. */
const TOLERANCE = 1e-5;

/**
 * conv2dWinograd with `variant` against the float64 direct convolution on
 * each case: shape, values within TOLERANCE, and nothing left but the output.
 */
function checkAgainstDirect(cases: ReadonlyArray<{ xShape: Shape4; outChannels: number; pad: number }>, variant: WinogradVariant, seed: number): void {
  const random = randomGenerator(seed);
  for (const { xShape, outChannels, pad } of cases) {
    const filterShape: Shape4 = [variant.kernel, variant.kernel, xShape[3], outChannels];
    const xValues = randomValues(random, xShape.reduce((a, b) => a * b));
    const filterValues = randomValues(random, filterShape.reduce((a, b) => a * b));
    const expected = referenceConv2d(xValues, xShape, filterValues, filterShape, 1, pad);
    const [, outHeight, outWidth] = expected.shape as Shape4;
    let actual: tf.Tensor4D | undefined;
    const leaked = leakedTensors(() => {
      actual = tf.tidy(() =>
        conv2dWinograd(tf.tensor4d(xValues, xShape), tf.tensor4d(filterValues, filterShape), outHeight, outWidth, pad, pad, variant),
      );
    });
    const label = `x${xShape} -> ${outChannels} pad ${pad}`;
    assert.deepEqual(actual!.shape, expected.shape, label);
    assert.ok(relativeError(actual!.dataSync(), expected.values) < TOLERANCE, label);
    actual!.dispose();
    assert.equal(leaked, 1, `${label}: only the output is left`);
  }
}

/** Runs `body` with the SIMD Winograd transforms allowed or not, restoring the setting after. */
function withSimdTransforms(simd: boolean, body: () => void): void {
  const previous = setWinogradSimdTransforms(simd);
  try {
    body();
  } finally {
    setWinogradSimdTransforms(previous);
  }
}

for (const fma of [false, true]) {
  describe(`Winograd F(4x4, 3x3) convolution (wasm, ${fma ? 'FMA' : 'plain SIMD'} kernels)`, { skip: fma && !relaxedSimdAvailable() ? 'no wasm relaxed SIMD here' : false }, () => {
    let previousFma: boolean | null = null;
    before(async () => {
      await setUpBackends();
      await useBackend('wasm');
      previousFma = setGeneratedKernelFma(fma);
    });
    after(() => setGeneratedKernelFma(previousFma));

    // Channel counts that are multiples of 4 take the wasm SIMD transforms, the
    // others the JavaScript ones; each case runs with SIMD allowed and not.
    // With SIMD, cases with more tiles than output channels run tile-major
    // (x 8 -> 4, 8 -> 12, 32 -> 16), the others channel-major.
    const cases: Array<{ xShape: Shape4; outChannels: number; pad: number }> = [
      { xShape: [1, 10, 13, 8], outChannels: 5, pad: 0 },
      { xShape: [1, 10, 13, 8], outChannels: 4, pad: 0 },
      { xShape: [2, 9, 11, 7], outChannels: 6, pad: 1 },
      { xShape: [2, 9, 11, 8], outChannels: 12, pad: 1 },
      { xShape: [1, 6, 6, 4], outChannels: 4, pad: 0 }, // exactly one tile
      { xShape: [1, 3, 5, 4], outChannels: 8, pad: 0 }, // 1x3 output: less than a tile
      { xShape: [1, 3, 5, 3], outChannels: 2, pad: 0 },
      { xShape: [1, 2, 1, 4], outChannels: 4, pad: 1 }, // 2x1 output, all border
      { xShape: [1, 2, 1, 5], outChannels: 3, pad: 1 },
      { xShape: [1, 18, 22, 32], outChannels: 16, pad: 1 },
      { xShape: [1, 18, 22, 33], outChannels: 17, pad: 1 },
    ];
    // The JavaScript transforms do not depend on the kernels' mode: run once.
    for (const simd of fma ? [true] : [true, false]) {
      it(`matches the direct convolution, padded or not, on any image size (${simd ? 'SIMD' : 'JavaScript'} transforms)`, () => {
        withSimdTransforms(simd, () => checkAgainstDirect(cases, WINOGRAD_F4X4_3X3, 61));
      });
    }

    it('is what tf.conv2d runs for a large enough 3x3 stride-1 conv', () => {
      const random = randomGenerator(62);
      const xShape: Shape4 = [1, 34, 35, 32];
      const filterShape: Shape4 = [3, 3, 32, 40];
      const info = tf.backend_util.computeConv2DInfo(xShape, filterShape, 1, 1, 'valid');
      assert.ok(preferWinograd(info.outHeight * info.outWidth, 32, 40), 'takes the Winograd path');
      const xValues = randomValues(random, xShape.reduce((a, b) => a * b));
      const filterValues = randomValues(random, filterShape.reduce((a, b) => a * b));
      const expected = referenceConv2d(xValues, xShape, filterValues, filterShape, 1, 0);
      const actual = tf.tidy(() => tf.conv2d(tf.tensor4d(xValues, xShape), tf.tensor4d(filterValues, filterShape), 1, 'valid'));
      assert.deepEqual(actual.shape, expected.shape);
      assert.ok(relativeError(actual.dataSync(), expected.values) < TOLERANCE);
      actual.dispose();
    });

    // F(3x3, 4x4): SIMD transforms only (channel counts multiples of 4);
    // tile-major where tiles outnumber output channels.
    const cases4x4: Array<{ xShape: Shape4; outChannels: number; pad: number }> = [
      { xShape: [1, 10, 13, 8], outChannels: 4, pad: 0 }, // 7x10 output: tiles cut on both sides
      { xShape: [2, 9, 11, 8], outChannels: 12, pad: 2 }, // D's padding, batch 2
      { xShape: [1, 6, 6, 4], outChannels: 4, pad: 0 }, // 3x3 output: exactly one tile
      { xShape: [1, 4, 5, 4], outChannels: 8, pad: 0 }, // 1x2 output: less than a tile
      { xShape: [1, 3, 2, 4], outChannels: 4, pad: 2 }, // all border
      { xShape: [1, 17, 20, 32], outChannels: 64, pad: 2 },
    ];
    for (const simd of [true, false]) {
      it(`F(3x3, 4x4) matches the direct 4x4 convolution (SIMD transforms${simd ? '' : ', also when the 3x3 ones are set to JavaScript'})`, () => {
        withSimdTransforms(simd, () => checkAgainstDirect(cases4x4, WINOGRAD_F3X3_4X4, 63));
      });
    }

    it('F(3x3, 4x4) is what tf.conv2d runs for D\'s 4x4 stride-1 conv, and its input gradient', () => {
      const random = randomGenerator(64);
      const xShape: Shape4 = [1, 17, 21, 32];
      const filterShape: Shape4 = [4, 4, 32, 36];
      const info = tf.backend_util.computeConv2DInfo(xShape, filterShape, 1, 1, 2);
      assert.ok(preferWinograd(info.outHeight * info.outWidth, 32, 36, 4), 'takes the Winograd path');
      const xValues = randomValues(random, xShape.reduce((a, b) => a * b));
      const filterValues = randomValues(random, filterShape.reduce((a, b) => a * b));
      const expected = referenceConv2d(xValues, xShape, filterValues, filterShape, 1, 2);
      const actual = tf.tidy(() => tf.conv2d(tf.tensor4d(xValues, xShape), tf.tensor4d(filterValues, filterShape), 1, 2));
      assert.deepEqual(actual.shape, expected.shape);
      assert.ok(relativeError(actual.dataSync(), expected.values) < TOLERANCE, 'forward');
      actual.dispose();
      // The input gradient: a transposed conv of dy, which runs as a 4x4 stride-1 conv with the flipped filter.
      const dyShape = expected.shape as Shape4;
      const dyValues = randomValues(random, dyShape.reduce((a, b) => a * b));
      const expectedDx = referenceConv2dTranspose(dyValues, dyShape, filterValues, filterShape, 1, 2, 0);
      const dx = tf.tidy(() => tf.conv2dTranspose(tf.tensor4d(dyValues, dyShape), tf.tensor4d(filterValues, filterShape), xShape, 1, 2));
      assert.deepEqual(dx.shape, expectedDx.shape);
      assert.ok(relativeError(dx.dataSync(), expectedDx.values) < TOLERANCE, 'input gradient');
      dx.dispose();
    });

    it('the filter-gradient form matches the direct gradient (both variants), and is what the gradient of a large enough conv runs', () => {
      const random = randomGenerator(65);
      const gradientCases: Array<{ xShape: Shape4; outChannels: number; kernel: 3 | 4; pad: number }> = [
        { xShape: [1, 10, 13, 8], outChannels: 4, kernel: 3, pad: 0 },
        { xShape: [2, 9, 11, 8], outChannels: 12, kernel: 3, pad: 1 },
        { xShape: [1, 3, 5, 4], outChannels: 8, kernel: 3, pad: 0 }, // less than a tile
        { xShape: [1, 10, 13, 8], outChannels: 4, kernel: 4, pad: 0 },
        { xShape: [2, 9, 11, 8], outChannels: 12, kernel: 4, pad: 2 },
        { xShape: [1, 3, 2, 4], outChannels: 4, kernel: 4, pad: 2 },
        { xShape: [1, 17, 20, 32], outChannels: 64, kernel: 4, pad: 2 },
      ];
      for (const { xShape, outChannels, kernel, pad } of gradientCases) {
        const filterShape: Shape4 = [kernel, kernel, xShape[3], outChannels];
        const outHeight = xShape[1] + 2 * pad - kernel + 1;
        const outWidth = xShape[2] + 2 * pad - kernel + 1;
        const dyShape: Shape4 = [xShape[0], outHeight, outWidth, outChannels];
        const xValues = randomValues(random, xShape.reduce((a, b) => a * b));
        const dyValues = randomValues(random, dyShape.reduce((a, b) => a * b));
        const expected = referenceConv2dFilterGradient(xValues, xShape, dyValues, dyShape, filterShape, 1, pad);
        const variant = kernel === 4 ? WINOGRAD_F3X3_4X4 : WINOGRAD_F4X4_3X3;
        let actual: tf.Tensor4D | undefined;
        const leaked = leakedTensors(() => {
          actual = tf.tidy(() => conv2dFilterGradientWinograd(tf.tensor4d(xValues, xShape), tf.tensor4d(dyValues, dyShape), pad, pad, variant));
        });
        const label = `${variant.name} x${xShape} -> ${outChannels} pad ${pad}`;
        assert.deepEqual(actual!.shape, filterShape, label);
        assert.ok(relativeError(actual!.dataSync(), expected) < TOLERANCE, label);
        actual!.dispose();
        assert.equal(leaked, 1, `${label}: only the output is left`);
      }
      // Through tf.grad: D's 4x4 stride-1 layer shape (above the threshold), and a 3x3 one.
      for (const { xShape, filterShape, pad } of [
        { xShape: [1, 17, 21, 32] as Shape4, filterShape: [4, 4, 32, 36] as Shape4, pad: 2 },
        { xShape: [1, 18, 20, 32] as Shape4, filterShape: [3, 3, 32, 40] as Shape4, pad: 1 },
      ]) {
        const outHeight = xShape[1] + 2 * pad - filterShape[0] + 1;
        const outWidth = xShape[2] + 2 * pad - filterShape[1] + 1;
        assert.ok(preferWinograd(outHeight * outWidth, xShape[3], filterShape[3], filterShape[0] as 3 | 4), 'takes the Winograd path');
        const dyShape: Shape4 = [1, outHeight, outWidth, filterShape[3]];
        const xValues = randomValues(random, xShape.reduce((a, b) => a * b));
        const dyValues = randomValues(random, dyShape.reduce((a, b) => a * b));
        const expected = referenceConv2dFilterGradient(xValues, xShape, dyValues, dyShape, filterShape, 1, pad);
        const actual = tf.tidy(() =>
          tf.grad((w) => tf.sum(tf.mul(tf.conv2d(tf.tensor4d(xValues, xShape), w as tf.Tensor4D, 1, pad), tf.tensor4d(dyValues, dyShape))))(tf.zeros(filterShape)),
        );
        assert.ok(relativeError(actual.dataSync(), expected) < TOLERANCE, `tf.grad ${filterShape}`);
        actual.dispose();
      }
    });
  });
}

describe('Winograd dispatch', () => {
  it('is left to the direct form for small images and few channels', () => {
    assert.equal(preferWinograd(128, 1024, 1024), false, 'the training bottleneck at 256x128');
    assert.equal(preferWinograd(2048, 1024, 1024), true, 'the synthesis bottleneck at 1024x512');
    assert.equal(preferWinograd(1 << 20, 3, 64), false, 'few input channels');
    assert.equal(preferWinograd(180, 256, 512, 4), true, 'D\'s 4x4 stride-1 layer at scale 2 (256x128 training)');
    assert.equal(preferWinograd(180, 256, 512, 3), false, 'a 3x3 conv of that size');
    assert.equal(preferWinograd(60, 256, 512, 4), false, 'D\'s 4x4 layer at 128x64');
  });
});
