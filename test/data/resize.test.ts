import { test } from 'node:test';
import assert from 'node:assert/strict';
import { roundHalfEven, targetSize, type ResizeSettings } from '../../src/data/datasets/resize.js';
import { exactNearestIndex, nearestIndices, resizeNearest } from '../../src/data/formats/nearest.js';

const settings = (mode: ResizeSettings['mode'], loadSize = 1024): ResizeSettings => ({ mode, loadSize, fineSize: 512, sizeBase: 16 });

test('nearest indices follow the pixel-centre rule floor((dst + 0.5) * src / dst)', () => {
  // Downscale by 4: PIL's 2048 -> 512 samples column 4x + 2.
  const byFour = nearestIndices(2048, 512);
  for (let x = 0; x < 512; x++) assert.equal(byFour[x], 4 * x + 2);
  // Non-integer ratios, by hand: 5 -> 3: (0.5, 1.5, 2.5) * 5/3 = 0.83, 2.5, 4.17.
  assert.deepEqual([...nearestIndices(5, 3)], [0, 2, 4]);
  // 3 -> 2: (0.5, 1.5) * 1.5 = 0.75, 2.25.
  assert.deepEqual([...nearestIndices(3, 2)], [0, 2]);
  // 1024 -> 600 (ratio 1.7067): x = 1 -> 2.56 -> 2; x = 299 -> 511.15 -> 511; x = 599 -> 1023.15 -> 1023.
  const odd = nearestIndices(1024, 600);
  assert.deepEqual([odd[0], odd[1], odd[299], odd[599]], [0, 2, 511, 1023]);
  // Upscale 2 -> 5: (0.5 .. 4.5) * 0.4 = 0.2, 0.6, 1.0 (exactly on the boundary: 1), 1.4, 1.8.
  assert.deepEqual([...nearestIndices(2, 5)], [0, 0, 1, 1, 1]);
  // Upscale by 2 repeats each index twice.
  assert.deepEqual([...nearestIndices(3, 6)], [0, 0, 1, 1, 2, 2]);
});

test("at exact ties the indices follow PIL's running double sum, not exact arithmetic", () => {
  // 2 -> 7, x = 3: (3.5) * 2/7 = 1 exactly, but PIL's sum of 2/7 steps is 0.9999999999999999 -> 0.
  assert.equal(exactNearestIndex(3, 2, 7), 1);
  assert.equal(nearestIndices(2, 7)[3], 0);
  // A downscale (resize_and_crop to 286): 292 -> 286, x = 214: exact 219, PIL 218.
  assert.equal(exactNearestIndex(214, 292, 286), 219);
  assert.equal(nearestIndices(292, 286)[214], 218);
  // Away from ties the two agree everywhere.
  for (const [src, dst] of [[2048, 1024], [2048, 512], [1024, 256], [5, 3], [3, 8]] as const) {
    const indices = nearestIndices(src, dst);
    for (let x = 0; x < dst; x++) assert.equal(indices[x], exactNearestIndex(x, src, dst), `${src} -> ${dst} at ${x}`);
  }
});

test('resizeNearest picks rows and columns by those indices and keeps the array type', () => {
  // 4x4 -> 2x2 by 2: source (1, 1), (3, 1), (1, 3), (3, 3).
  const source = Uint16Array.from({ length: 16 }, (_, i) => 1000 + i);
  const out = resizeNearest(source, { width: 4, height: 4 }, { width: 2, height: 2 });
  assert.ok(out instanceof Uint16Array);
  assert.deepEqual([...out], [1005, 1007, 1013, 1015]);
  // 3x2 -> 2x3: columns [0, 2] of 3; rows (0.5, 1.5, 2.5) * 2/3 = 0.33, 1.0, 1.67 -> [0, 1, 1] of 2.
  const small = Int32Array.from([1, 2, 3, 4, 5, 6]);
  assert.deepEqual([...resizeNearest(small, { width: 3, height: 2 }, { width: 2, height: 3 })], [1, 3, 4, 6, 4, 6]);
  // Same size: an equal copy, not the same array.
  const copy = resizeNearest(small, { width: 3, height: 2 }, { width: 3, height: 2 });
  assert.notEqual(copy, small);
  assert.deepEqual([...copy], [...small]);
});

test('target sizes follow the reference base_dataset arithmetic', () => {
  const cityscapes = { width: 2048, height: 1024 };
  assert.deepEqual(targetSize(cityscapes, settings('scale_width', 1024)), { width: 1024, height: 512 });
  assert.deepEqual(targetSize(cityscapes, settings('scale_width_and_crop', 512)), { width: 512, height: 256 });
  // int(512 * 333 / 1000) = int(170.496) = 170.
  assert.deepEqual(targetSize({ width: 1000, height: 333 }, settings('scale_width', 512)), { width: 512, height: 170 });
  // A width already at load_size is left alone.
  assert.deepEqual(targetSize({ width: 512, height: 301 }, settings('scale_width', 512)), { width: 512, height: 301 });
  assert.deepEqual(targetSize(cityscapes, settings('resize_and_crop', 286)), { width: 286, height: 286 });
  assert.deepEqual(targetSize(cityscapes, settings('crop', 286)), cityscapes);
  // none: rounded to multiples of 16 with Python's round (halves to even).
  assert.deepEqual(targetSize({ width: 250, height: 130 }, settings('none')), { width: 256, height: 128 });
  assert.deepEqual(targetSize({ width: 24, height: 40 }, settings('none')), { width: 32, height: 32 });
  assert.deepEqual(targetSize({ width: 256, height: 128 }, settings('none')), { width: 256, height: 128 });
});

test('roundHalfEven is Python 3 round()', () => {
  assert.deepEqual([0.5, 1.5, 2.5, 2.4, 2.6, 3, 15.625].map(roundHalfEven), [0, 2, 2, 2, 3, 3, 16]);
});
