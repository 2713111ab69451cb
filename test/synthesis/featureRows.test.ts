import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { classOfInstance, instanceFeatureRows } from '../../src/synthesis/featureRows';
import { goldenTensor, nchwToHwc, readGolden } from './helpers';

describe('instanceFeatureRows', () => {
  it('reproduces the reference rows of golden encode_features (class, id, area exact; features to 1e-6)', async () => {
    const golden = await readGolden('encode_features');
    const featMap = goldenTensor(golden, 'feat_map');
    const inst = goldenTensor(golden, 'inst');
    const expected = goldenTensor(golden, 'rows');
    const [, featNum, height, width] = featMap.shape as [number, number, number, number];
    const rows = instanceFeatureRows(
      nchwToHwc(featMap.data as Float32Array, featNum, height, width),
      inst.data as Int32Array,
      height,
      width,
      featNum,
    );
    const [rowCount, columns] = expected.shape as [number, number];
    const reference = expected.data as Float64Array;
    assert.equal(rows.instances.length, rowCount);
    for (let r = 0; r < rowCount; r++) {
      const row = reference.subarray(r * columns, (r + 1) * columns);
      assert.equal(rows.classes[r], row[0], `row ${r} class`);
      assert.equal(rows.instances[r], row[1], `row ${r} instance id`);
      assert.equal(rows.areas[r], row[columns - 1], `row ${r} area`);
      for (let f = 0; f < featNum; f++) {
        assert.ok(Math.abs(rows.features[r * featNum + f]! - row[2 + f]!) <= 1e-6, `row ${r} feature ${f}: ${rows.features[r * featNum + f]} vs ${row[2 + f]}`);
      }
    }
  });

  it('reads the middle pixel in raster order, not the first', () => {
    // One instance (id 7) over 4 pixels of a 1x5 map; its raster list is
    // pixels 0, 1, 3, 4, so the middle (index 2) is pixel 3.
    const inst = Int32Array.of(7, 7, 2, 7, 7);
    const featureMap = Float32Array.of(10, 11, 12, 13, 14);
    const rows = instanceFeatureRows(featureMap, inst, 1, 5, 1);
    assert.deepEqual([...rows.instances], [2, 7]);
    assert.deepEqual([...rows.features], [12, 13]);
  });

  it('maps instance ids to classes as the Cityscapes convention', () => {
    assert.equal(classOfInstance(0), 0);
    assert.equal(classOfInstance(999), 999);
    assert.equal(classOfInstance(1000), 1);
    assert.equal(classOfInstance(26012), 26);
  });
});
