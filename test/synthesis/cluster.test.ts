import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFile } from 'node:fs/promises';
import { createLogger } from '../../src/log';
import { readClustersFile } from '../../src/data/files/clusters';
import { concatFeatureTables, writeFeaturesFile, type FeatureTable } from '../../src/data/files/features';
import { clusterFeatures } from '../../src/synthesis/clustering';
import { runClusterStage } from '../../src/synthesis/clusterStage';
import { Random } from '../../src/model/random';
import { temporaryFolder } from './helpers';

const quiet = createLogger({ quiet: true });

interface Row {
  classId: number;
  features: number[];
  area?: number;
}

function table(rows: readonly Row[], sampleName = 'sample'): FeatureTable {
  const featNum = rows[0]?.features.length ?? 2;
  return {
    featNum,
    features: Float32Array.from(rows.flatMap((row) => row.features)),
    classes: Int32Array.from(rows.map((row) => row.classId)),
    instances: Int32Array.from(rows.map((row, i) => row.classId * 1000 + i)),
    areas: Float32Array.from(rows.map((row) => row.area ?? 1)),
    samples: new Int32Array(rows.length),
    sampleNames: [sampleName],
  };
}

/** Points scattered (±0.1) around each centre. */
function blobs(classId: number, centres: number[][], perBlob: number, random: Random): Row[] {
  const rows: Row[] = [];
  for (let i = 0; i < perBlob; i++) {
    for (const centre of centres) rows.push({ classId, features: centre.map((v) => v + random.uniform(-0.1, 0.1)) });
  }
  return rows;
}

function sortedCentres(values: Float32Array, featNum: number): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < values.length; i += featNum) out.push([...values.subarray(i, i + featNum)]);
  return out.sort((a, b) => a[0]! - b[0]! || a[1]! - b[1]!);
}

describe('clusterFeatures', () => {
  it('finds well-separated blobs per class', () => {
    const random = new Random(1);
    const truth = [[-5, 0], [0, 5], [5, 0]];
    const rows = [...blobs(7, truth, 20, random), ...blobs(26, [[10, 10], [-10, -10]], 15, random)];
    const { set } = clusterFeatures(table(rows), { k: 3, minArea: 0.5, seed: 0 });
    const found = sortedCentres(set.centers.get(7)!.values, 2);
    assert.equal(found.length, 3);
    found.forEach((centre, i) => centre.forEach((v, d) => assert.ok(Math.abs(v - truth[i]![d]!) < 0.1, `class 7 centre ${i}: ${centre} vs ${truth[i]}`)));
    // k_c = min(k, rows) = 3 even though class 26 has two blobs: 30 rows.
    assert.equal(set.centers.get(26)!.count, 3);
  });

  it('caps k_c at the number of rows and leaves out classes with no large instance', () => {
    const rows: Row[] = [
      { classId: 1, features: [0, 0] },
      { classId: 1, features: [1, 1] },
      { classId: 1, features: [9, 9], area: 0.5 }, // not > 0.5: left out
      { classId: 2, features: [3, 3], area: 0.2 },
    ];
    const { set } = clusterFeatures(table(rows), { k: 10, minArea: 0.5, seed: 0 });
    assert.deepEqual([...set.centers.keys()], [1]);
    assert.deepEqual(sortedCentres(set.centers.get(1)!.values, 2), [[0, 0], [1, 1]]);
  });

  it('gives k_c centres even when rows coincide', () => {
    const rows: Row[] = [0, 1, 2].map(() => ({ classId: 4, features: [2, 2] }));
    const { set, report } = clusterFeatures(table(rows), { k: 2, minArea: 0.5, seed: 0 });
    assert.equal(set.centers.get(4)!.count, 2);
    assert.deepEqual([...set.centers.get(4)!.values], [2, 2, 2, 2]);
    assert.equal(report[0]!.duplicated, true);
  });

  it('is deterministic for a seed', () => {
    const random = new Random(5);
    const rows = Array.from({ length: 200 }, () => ({ classId: 3, features: [random.normal(), random.normal(), random.normal()] }));
    const a = clusterFeatures(table(rows), { k: 6, minArea: 0.5, seed: 42 }).set.centers.get(3)!.values;
    const b = clusterFeatures(table(rows), { k: 6, minArea: 0.5, seed: 42 }).set.centers.get(3)!.values;
    assert.deepEqual([...a], [...b]);
  });
});

describe('p2phd cluster (stage)', () => {
  it('gives the same clusters file for encode shards as for the single file', async () => {
    const folder = temporaryFolder('cluster');
    try {
      const random = new Random(9);
      const first = table([...blobs(5, [[0, 0], [4, 4]], 10, random), ...blobs(8, [[1, -1]], 5, random)], 'a');
      const second = table(blobs(5, [[0, 0], [4, 4], [-4, 4]], 10, random), 'b');
      const paths = { first: join(folder.path, 'f0.safetensors'), second: join(folder.path, 'f1.safetensors'), whole: join(folder.path, 'all.safetensors') };
      await writeFeaturesFile(paths.first, first);
      await writeFeaturesFile(paths.second, second);
      await writeFeaturesFile(paths.whole, concatFeatureTables([first, second]));
      const merged = join(folder.path, 'merged.safetensors');
      const single = join(folder.path, 'single.safetensors');
      await runClusterStage({ features: [paths.first, paths.second], k: 3, minArea: 0.5, seed: 3, out: merged }, quiet);
      await runClusterStage({ features: [paths.whole], k: 3, minArea: 0.5, seed: 3, out: single }, quiet);
      assert.deepEqual(await readFile(merged), await readFile(single));
      const clusters = await readClustersFile(merged);
      assert.deepEqual([...clusters.centers.keys()], [5, 8]);
      assert.equal(clusters.centers.get(5)!.count, 3);
      assert.equal(clusters.centers.get(8)!.count, 3);
      assert.equal(clusters.k, 3);
      assert.equal(clusters.minArea, 0.5);
      assert.equal(clusters.seed, 3);
    } finally {
      folder.remove();
    }
  });

  it('refuses a file of another kind with exit 3', async () => {
    const folder = temporaryFolder('cluster-kind');
    try {
      const clustersPath = join(folder.path, 'c.safetensors');
      await writeFeaturesFile(join(folder.path, 'f.safetensors'), table([{ classId: 1, features: [0, 0] }]));
      await runClusterStage({ features: [join(folder.path, 'f.safetensors')], k: 2, minArea: 0.5, seed: 0, out: clustersPath }, quiet);
      await assert.rejects(
        runClusterStage({ features: [clustersPath], k: 2, minArea: 0.5, seed: 0, out: join(folder.path, 'x.safetensors') }, quiet),
        (error: Error & { exitCode?: number }) => error.exitCode === 3 && /clusters file, expected a features file/.test(error.message),
      );
    } finally {
      folder.remove();
    }
  });
});
