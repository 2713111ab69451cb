import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { initBackend } from '../../src/backend/index';
import { createLogger } from '../../src/log';
import { readFeaturesFile } from '../../src/data/files/features';
import { instanceEdges } from '../../src/data/datasets/labels';
import { writeSample } from '../../src/data/datasets/sample';
import { resolveConfig } from '../../src/families/pix2pixhd/config';
import { Random } from '../../src/model/random';
import { runEncodeStage } from '../../src/synthesis/encodeStage';
import { runClusterStage } from '../../src/synthesis/clusterStage';
import { CLI } from '../support/cli';
import { temporaryFolder, writeRandomCheckpoint } from './helpers';

const quiet = createLogger({ quiet: true });

describe('p2phd encode', () => {
  const folder = temporaryFolder('encode');
  const config = resolveConfig({
    label_nc: 4, instance: true, instance_feat: true, feat_num: 3, ngf: 4, n_downsample_global: 1, n_blocks_global: 1,
    nef: 4, n_downsample_E: 2, norm: 'instance',
  });
  const samples = join(folder.path, 'samples');
  const withEncoder = join(folder.path, 'ge.safetensors');
  const withoutEncoder = join(folder.path, 'g.safetensors');
  // Sizes E cannot take directly (not multiples of 4) on purpose.
  const sizes: Array<[number, number]> = [[30, 45], [26, 38], [33, 33]];

  before(async () => {
    await initBackend('wasm', { log: () => {} });
    mkdirSync(samples, { recursive: true });
    await writeRandomCheckpoint(withEncoder, config, 3, ['G', 'E']);
    await writeRandomCheckpoint(withoutEncoder, config, 3, ['G']);
    const random = new Random(11);
    for (const [index, [height, width]] of sizes.entries()) {
      const label = new Uint8Array(height * width);
      const inst = new Int32Array(height * width);
      for (let y = 0; y < height; y++) {
        for (let x = 0; x < width; x++) {
          const p = y * width + x;
          label[p] = x < width / 3 ? 1 : y < height / 2 ? 2 : 3;
          inst[p] = label[p] === 2 ? 2000 + (x < (2 * width) / 3 ? 0 : 1) : label[p]!;
        }
      }
      const image = Uint8Array.from({ length: height * width * 3 }, () => random.nextInt(256));
      await writeSample(join(samples, `s${index}.safetensors`), { height, width, labelNc: 4, label, inst, edges: instanceEdges(inst, width, height), image }, {
        label_nc: 4, size: [height, width], sources: { label: `s${index}.png` },
        resize: { mode: 'none', load_size: 0, fine_size: 0, size_base: 1, source_size: [height, width], map_filter: 'nearest', image_filter: 'bicubic' },
      });
    }
  });
  after(() => folder.remove());

  it('writes one row per instance of each sample, with the reference\'s area ratio', async () => {
    const out = join(folder.path, 'features.safetensors');
    const summary = await runEncodeStage({ checkpoint: withEncoder, data: samples, out }, quiet);
    assert.equal(summary.samples, 3);
    const table = await readFeaturesFile(out);
    assert.deepEqual(table.sampleNames, ['s0', 's1', 's2']);
    assert.equal(table.featNum, 3);
    assert.deepEqual([...table.instances.subarray(0, 4)], [1, 3, 2000, 2001]);
    assert.deepEqual([...table.classes.subarray(0, 4)], [1, 3, 2, 2]);
    assert.deepEqual([...table.samples], [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]);
    // s0: 30x45, class 1 covers x < 15: 15 * 30 pixels, over (30 * 45) // 32 = 42.
    assert.equal(table.areas[0], Math.fround((15 * 30) / 42));
    // Instances hold different mean features (E is not constant).
    assert.notDeepEqual([...table.features.subarray(0, 3)], [...table.features.subarray(3, 6)]);
  });

  it('shards cover the samples once, and clustering the shards (in any order) equals clustering the whole', async () => {
    const whole = join(folder.path, 'whole.safetensors');
    await runEncodeStage({ checkpoint: withEncoder, data: samples, out: whole }, quiet);
    const shards = [0, 1].map((index) => join(folder.path, `shard${index}.safetensors`));
    for (const [index, path] of shards.entries()) await runEncodeStage({ checkpoint: withEncoder, data: samples, out: path, shard: { index, count: 2 } }, quiet);
    const parts = await Promise.all(shards.map(readFeaturesFile));
    assert.deepEqual(parts.map((part) => part.sampleNames), [['s0', 's2'], ['s1']]);
    // The shards hold the rows in another order (s0 s2 | s1) than the whole
    // run (s0 s1 s2), and in reverse file order another again: the centres
    // must not care.
    const fromShards = join(folder.path, 'c-shards.safetensors');
    const fromShardsReversed = join(folder.path, 'c-shards-reversed.safetensors');
    const fromWhole = join(folder.path, 'c-whole.safetensors');
    await runClusterStage({ features: shards, k: 2, minArea: 0, seed: 0, out: fromShards }, quiet);
    await runClusterStage({ features: [...shards].reverse(), k: 2, minArea: 0, seed: 0, out: fromShardsReversed }, quiet);
    await runClusterStage({ features: [whole], k: 2, minArea: 0, seed: 0, out: fromWhole }, quiet);
    const wholeBytes = readFileSync(fromWhole);
    assert.deepEqual(readFileSync(fromShards), wholeBytes);
    assert.deepEqual(readFileSync(fromShardsReversed), wholeBytes);
  });

  it('refuses a features model without E with exit 3, pointing to the encoder that wrote its maps', async () => {
    await assert.rejects(
      runEncodeStage({ checkpoint: withoutEncoder, data: samples, out: join(folder.path, 'x.safetensors') }, quiet),
      (error: Error & { exitCode?: number }) => error.exitCode === 3 && /no encoder of its own.*encode and cluster with that checkpoint/.test(error.message) && !/train with --instance-feat/.test(error.message),
    );
  });

  it('pipes: encode --out - | cluster --features -', () => {
    const clusters = join(folder.path, 'piped.safetensors');
    const features = execFileSync(process.execPath, [CLI, 'encode', '--data', samples, '--checkpoint', withEncoder, '--out', '-', '--backend', 'cpu'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const result = spawnSync(process.execPath, [CLI, 'cluster', '--features', '-', '--k', '2', '--min-area', '0', '--out', clusters, '--json'], { input: features });
    assert.equal(result.status, 0, result.stderr.toString());
    const summary = JSON.parse(result.stdout.toString()) as { rows: number; classes: Array<{ classId: number; centers: number }> };
    assert.equal(summary.rows, 12);
    assert.deepEqual(summary.classes.map((c) => [c.classId, c.centers]), [[1, 2], [2, 2], [3, 2]]);
    assert.ok(readFileSync(clusters).length > 0);
  });
});
