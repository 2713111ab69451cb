/**
 * pix2pix's initialisation schemes (the reference's init_weights) by their
 * laws: normal N(0, gain); xavier std gain * sqrt(2 / (fan_in + fan_out));
 * kaiming std sqrt(2 / fan_in); orthogonal rows (or columns) orthonormal
 * times gain; conv biases 0; batch-norm weights N(1, gain), biases 0;
 * running statistics 0 / 1; the same seed gives the same values.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { resolvePix2pixConfig, type Pix2pixInit } from '../../../src/families/pix2pix/config.js';
import { pix2pixInitialValues } from '../../../src/families/pix2pix/init.js';
import { pix2pixSpecs } from '../../../src/families/pix2pix/networks.js';
import { referenceShape, toReferenceLayout } from '../../../src/model/params.js';

function std(values: ArrayLike<number>): number {
  let sum = 0;
  let squares = 0;
  for (let i = 0; i < values.length; i++) {
    sum += values[i]!;
    squares += values[i]! ** 2;
  }
  const mean = sum / values.length;
  return Math.sqrt(squares / values.length - mean * mean);
}

const config = (init: Pix2pixInit, gain = 0.02) => resolvePix2pixConfig({ netG: 'resnet_6blocks', ngf: 16, init_type: init, init_gain: gain });

describe('pix2pix initialisation', () => {
  // G.model.5.weight: the second downsampling conv, [64, 32, 3, 3] in PyTorch's layout (fan_in 288, fan_out 576).
  const spec = pix2pixSpecs(config('normal'), ['G']).find((s) => s.key === 'G.model.7.weight')!;
  it('normal, xavier and kaiming weights have their laws\' standard deviations', () => {
    assert.deepEqual(referenceShape(spec), [64, 32, 3, 3]);
    const cases: Array<[Pix2pixInit, number, number]> = [
      ['normal', 0.02, 0.02],
      ['xavier', 0.5, 0.5 * Math.sqrt(2 / (288 + 576))],
      ['kaiming', 0.02, Math.sqrt(2 / 288)],
    ];
    for (const [init, gain, expected] of cases) {
      const values = pix2pixInitialValues(spec, config(init, gain), 1) as Float32Array;
      const measured = std(values);
      assert.ok(Math.abs(measured - expected) < 0.05 * expected, `${init}: std ${measured}, expected ${expected}`);
    }
  });
  it('orthogonal: the rows of the [out, in * k * k] matrix are orthogonal with norm gain', () => {
    const values = toReferenceLayout(spec, pix2pixInitialValues(spec, config('orthogonal', 0.7), 1) as Float32Array);
    const rows = 64;
    const cols = 288;
    for (let a = 0; a < rows; a += 7) {
      for (let b = a; b < rows; b += 5) {
        let dot = 0;
        for (let i = 0; i < cols; i++) dot += values[a * cols + i]! * values[b * cols + i]!;
        assert.ok(Math.abs(dot - (a === b ? 0.49 : 0)) < 1e-5, `rows ${a}, ${b}: ${dot}`);
      }
    }
  });
  it('biases 0, batch-norm weights N(1, gain), running statistics 0 / 1; seeded', () => {
    const batch = resolvePix2pixConfig({ ngf: 8, ndf: 8 });
    for (const s of pix2pixSpecs(batch)) {
      const values = pix2pixInitialValues(s, batch, 3);
      if (s.role === 'convBias' || s.role === 'normBias' || s.role === 'runningMean') assert.ok(values.every((v) => v === 0), s.key);
      if (s.role === 'runningVar') assert.ok(values.every((v) => v === 1), s.key);
      if (s.role === 'normWeight') assert.ok(values.every((v) => Math.abs(v - 1) < 0.2) && values.some((v) => v !== 1), s.key);
      assert.deepEqual(pix2pixInitialValues(s, batch, 3), values, `${s.key} repeats for a seed`);
    }
  });
});
