import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cropPadding, padReflect, paddingFor, reflectIndex } from '../../src/synthesis/padding';

describe('reflect padding to a size G takes', () => {
  it('pads to the next multiple, split evenly', () => {
    assert.deepEqual(paddingFor(130, 250, 16), { top: 7, bottom: 7, left: 3, right: 3 });
    assert.deepEqual(paddingFor(128, 256, 16), { top: 0, bottom: 0, left: 0, right: 0 });
    assert.deepEqual(paddingFor(1, 3, 4), { top: 1, bottom: 2, left: 0, right: 1 });
  });

  it('reflects like ReflectionPad2d, again and again for wide pads', () => {
    assert.deepEqual([-3, -2, -1, 0, 1, 2, 3, 4, 5, 6].map((i) => reflectIndex(i, 3)), [1, 2, 1, 0, 1, 2, 1, 0, 1, 2]);
    assert.equal(reflectIndex(5, 1), 0);
  });

  it('crop undoes pad, channels kept together', () => {
    const data = Float32Array.from({ length: 3 * 5 * 2 }, (_, i) => i);
    const padding = paddingFor(3, 5, 4);
    const padded = padReflect(data, 3, 5, 2, padding);
    assert.equal(padded.length, 4 * 8 * 2);
    // Padding top 0, bottom 1, left 1, right 2: padded pixel (0, 0) reflects source pixel (0, 1).
    assert.deepEqual([...padded.subarray(0, 2)], [...data.subarray((0 * 5 + 1) * 2, (0 * 5 + 1) * 2 + 2)]);
    assert.deepEqual([...cropPadding(padded, 4, 8, 2, padding)], [...data]);
  });
});
