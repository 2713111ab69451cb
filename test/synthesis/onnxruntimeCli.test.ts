/**
 * `p2phd synthesize --backend onnxruntime` and `p2phd encode --backend
 * onnxruntime` as a user runs them: the same images as the wasm backend
 * within one grey level, the same features within float tolerance.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { initBackend, onnxRuntimeAvailable } from '../../src/backend/index.js';
import { readFeaturesFile } from '../../src/data/files/features.js';
import { instanceEdges } from '../../src/data/datasets/labels.js';
import { writeSample } from '../../src/data/datasets/sample.js';
import { createLogger } from '../../src/log.js';
import { resolveConfig } from '../../src/families/pix2pixhd/config.js';
import { Random } from '../../src/model/random.js';
import { runEncodeStage } from '../../src/synthesis/encodeStage.js';
import { FIXTURES_DIR, runCliSync } from '../support/cli.js';
import { readPngPixels, temporaryFolder, writeRandomCheckpoint } from './helpers.js';

const ORT_SKIP = onnxRuntimeAvailable() ? false : 'skipped: onnxruntime-node not installed';
if (ORT_SKIP) process.stdout.write(`# ${ORT_SKIP}\n`);

describe('synthesize and encode with --backend onnxruntime', { skip: ORT_SKIP }, () => {
  const folder = temporaryFolder('onnxruntime-cli');
  // A local enhancer with instance features: every part of the graph, through the CLI.
  const config = resolveConfig({
    netG: 'local', label_nc: 35, instance: true, instance_feat: true, feat_num: 3, ngf: 4, n_downsample_global: 2, n_blocks_global: 1,
    n_local_enhancers: 1, n_blocks_local: 1, nef: 4, n_downsample_E: 2, norm: 'instance',
  });
  const checkpoint = join(folder.path, 'ge.safetensors');

  before(async () => {
    await initBackend('wasm', { log: () => {} });
    await writeRandomCheckpoint(checkpoint, config, 21, ['G', 'E']);
  });
  after(() => folder.remove());

  it('synthesize --use-encoded: the wasm backend\'s image within 1 grey level', async () => {
    const labels = join(folder.path, 'labels');
    const instances = join(folder.path, 'instances');
    const images = join(folder.path, 'images');
    for (const dir of [labels, instances, images]) mkdirSync(dir);
    copyFileSync(join(FIXTURES_DIR, 'test_label', 'synthcity_001000_000019_gtFine_labelIds.png'), join(labels, 'a.png'));
    copyFileSync(join(FIXTURES_DIR, 'test_inst', 'synthcity_001000_000019_gtFine_instanceIds.png'), join(instances, 'a.png'));
    copyFileSync(join(FIXTURES_DIR, 'test_img', 'synthcity_001000_000019_leftImg8bit.jpg'), join(images, 'a.jpg'));
    const run = (backend: string): string => {
      const out = join(folder.path, `out-${backend}`);
      const result = runCliSync(['synthesize', '--backend', backend, '--checkpoint', checkpoint, '--labels', labels, '--instances', instances, '--images', images, '--use-encoded', '--out', out]);
      assert.equal(result.status, 0, result.stderr);
      assert.match(result.stderr, new RegExp(`backend: ${backend} `));
      return join(out, 'a.png');
    };
    const ours = await readPngPixels(run('onnxruntime'));
    const wasm = await readPngPixels(run('wasm'));
    assert.deepEqual([ours.width, ours.height, ours.channels], [wasm.width, wasm.height, wasm.channels]);
    let worst = 0;
    for (let i = 0; i < ours.data.length; i++) worst = Math.max(worst, Math.abs(ours.data[i]! - wasm.data[i]!));
    assert.ok(worst <= 1, `largest difference ${worst} grey levels`);
  });

  it('encode: the tfjs path\'s features within float tolerance', async () => {
    const samples = join(folder.path, 'samples');
    mkdirSync(samples);
    const [height, width] = [22, 30];
    const random = new Random(4);
    const label = Uint8Array.from({ length: height * width }, (_, p) => (p % width < width / 2 ? 7 : 26));
    const inst = Int32Array.from(label, (l, p) => (l === 26 ? 26000 + (p < (height * width) / 2 ? 0 : 1) : l));
    const image = Uint8Array.from({ length: height * width * 3 }, () => random.nextInt(256));
    await writeSample(join(samples, 's.safetensors'), { height, width, labelNc: 35, label, inst, edges: instanceEdges(inst, width, height), image }, {
      label_nc: 35, size: [height, width], sources: { label: 's.png' },
      resize: { mode: 'none', load_size: 0, fine_size: 0, size_base: 1, source_size: [height, width], map_filter: 'nearest', image_filter: 'bicubic' },
    });
    const viaCli = join(folder.path, 'ort.safetensors');
    const result = runCliSync(['encode', '--backend', 'onnxruntime', '--checkpoint', checkpoint, '--data', samples, '--out', viaCli]);
    assert.equal(result.status, 0, result.stderr);
    const viaTfjs = join(folder.path, 'tfjs.safetensors');
    await runEncodeStage({ checkpoint, data: samples, out: viaTfjs }, createLogger({ quiet: true }));
    const [ours, expected] = [await readFeaturesFile(viaCli), await readFeaturesFile(viaTfjs)];
    assert.deepEqual([...ours.instances], [...expected.instances]);
    assert.equal(ours.features.length, expected.features.length);
    for (let i = 0; i < ours.features.length; i++) {
      assert.ok(Math.abs(ours.features[i]! - expected.features[i]!) <= 1e-5 * Math.max(1, Math.abs(expected.features[i]!)), `feature ${i}: ${ours.features[i]} vs ${expected.features[i]}`);
    }
  });
});
