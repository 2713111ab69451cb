import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { copyFileSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { crc32, deflateSync } from 'node:zlib';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../src/backend/index';
import { createLogger, type Logger } from '../../src/log';
import { writeSample } from '../../src/data/datasets/sample';
import { writeTensorFile } from '../../src/data/files/tensorFile';
import { parseSafetensors, serializeSafetensors } from '../../src/data/formats/safetensors';
import { writeClustersFile, type ClusterSet } from '../../src/data/files/clusters';
import { resolveConfig } from '../../src/families/pix2pixhd/config';
import { modelSpecs } from '../../src/families/pix2pixhd/networks';
import { Random } from '../../src/model/random';
import { runSynthesizeStage, type SynthesizeStageConfig } from '../../src/synthesis/synthesizeStage';
import { goldenTensor, readGolden, readPngPixels, temporaryFolder, writeIdPng, writeRandomCheckpoint } from './helpers';
import { FIXTURES_DIR, runCliSync } from '../support/cli';

const quiet = createLogger({ quiet: true });

describe('p2phd synthesize (stage)', () => {
  const folder = temporaryFolder('synthesize');
  before(async () => {
    await initBackend('wasm', { log: () => {} });
  });
  after(() => folder.remove());

  it('reproduces golden global_generator from label and instance PNGs (within 1 grey level)', async () => {
    const golden = await readGolden('global_generator');
    const preprocess = await readGolden('preprocess');
    const goldenConfig = JSON.parse(golden.metadata['config']!) as Record<string, number | string>;
    const config = resolveConfig({
      label_nc: 5, instance: true, instance_feat: false, netG: 'global', output_nc: goldenConfig['output_nc'],
      ngf: goldenConfig['ngf'], n_downsample_global: goldenConfig['n_downsample_global'], n_blocks_global: goldenConfig['n_blocks_global'], norm: goldenConfig['norm'],
    });
    const dir = join(folder.path, 'golden');
    const checkpoint = join(folder.path, 'golden.safetensors');
    const tensors = new Map([...golden.tensors].filter(([name]) => name.startsWith('G.')));
    await writeTensorFile(checkpoint, 'checkpoint', tensors, { stage: 'global', epoch: 0, step: 0, lr: 0, config });
    const label = goldenTensor(preprocess, 'label');
    const inst = goldenTensor(preprocess, 'inst');
    const [, , height, width] = label.shape as [number, number, number, number];
    await import('node:fs').then((fs) => { fs.mkdirSync(join(dir, 'labels'), { recursive: true }); fs.mkdirSync(join(dir, 'inst'), { recursive: true }); });
    await writeIdPng(join(dir, 'labels', 'scene.png'), label.data as Int32Array, width, height);
    await writeIdPng(join(dir, 'inst', 'scene.png'), inst.data as Int32Array, width, height);
    const out = join(dir, 'out');
    await runSynthesizeStage({
      checkpoint, out, style: 'random', useEncoded: false, seed: 0,
      inputs: { kind: 'files', labels: join(dir, 'labels'), instances: join(dir, 'inst') },
    }, quiet);
    const image = await readPngPixels(join(out, 'scene.png'));
    assert.deepEqual([image.width, image.height, image.channels], [width, height, 3]);
    const reference = goldenTensor(golden, 'output').data as Float32Array;
    let worst = 0;
    for (let c = 0; c < 3; c++) {
      for (let p = 0; p < width * height; p++) {
        const expected = Math.min(255, Math.max(0, Math.round(((reference[c * width * height + p]! + 1) / 2) * 255)));
        worst = Math.max(worst, Math.abs(image.data[p * 3 + c]! - expected));
      }
    }
    assert.ok(worst <= 1, `worst difference ${worst} grey levels`);
  });

  describe('with a small instance-feature model', () => {
    const config = resolveConfig({
      label_nc: 4, instance: true, instance_feat: true, feat_num: 3, netG: 'global', ngf: 4,
      n_downsample_global: 2, n_blocks_global: 1, norm: 'instance', output_nc: 3,
    });
    const checkpoint = join(folder.path, 'feat.safetensors');
    const clustersPath = join(folder.path, 'clusters.safetensors');
    const labels = join(folder.path, 'feat-labels');
    const instances = join(folder.path, 'feat-inst');
    const width = 250;
    const height = 130;
    // Class 1 stuff on the left, two class-2 things (2000, 2001) and class 3 (no centres) on the right.
    const labelIds = new Int32Array(width * height);
    const instanceIds = new Int32Array(width * height);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const p = y * width + x;
        if (x < 100) { labelIds[p] = 1; instanceIds[p] = 1; }
        else if (y < 60) { labelIds[p] = 2; instanceIds[p] = x < 175 ? 2000 : 2001; }
        else { labelIds[p] = 3; instanceIds[p] = 3; }
      }
    }
    const clusters: ClusterSet = {
      featNum: 3, k: 4, minArea: 0.5, seed: 0,
      centers: new Map([
        [1, { count: 2, values: Float32Array.of(0.5, -0.5, 0.2, -0.4, 0.3, 0.9) }],
        [2, { count: 4, values: Float32Array.of(1, 0, 0, 0, 1, 0, 0, 0, 1, -1, -1, -1) }],
      ]),
    };
    const base = (out: string): SynthesizeStageConfig => ({
      checkpoint, out, style: 'first', useEncoded: false, seed: 1, clusters: clustersPath,
      inputs: { kind: 'files', labels, instances },
    });

    before(async () => {
      const fs = await import('node:fs');
      fs.mkdirSync(labels, { recursive: true });
      fs.mkdirSync(instances, { recursive: true });
      await writeRandomCheckpoint(checkpoint, config, 7);
      await writeClustersFile(clustersPath, clusters);
      await writeIdPng(join(labels, 'odd.png'), labelIds, width, height);
      await writeIdPng(join(instances, 'odd.png'), instanceIds, width, height);
    });

    it('gives an odd-sized input (250x130) an output of the same size', async () => {
      const out = join(folder.path, 'odd-out');
      const tensorsBefore = tf.memory().numTensors;
      await runSynthesizeStage(base(out), quiet);
      assert.equal(tf.memory().numTensors, tensorsBefore, 'synthesize leaves no tensors behind (model included)');
      const image = await readPngPixels(join(out, 'odd.png'));
      assert.deepEqual([image.width, image.height], [width, height]);
    });

    it('--style all writes one image per cluster index, and they differ', async () => {
      const out = join(folder.path, 'all-out');
      const summary = await runSynthesizeStage({ ...base(out), style: 'all' }, quiet);
      assert.deepEqual(readdirSync(out).sort(), ['index.html', 'index_files', 'odd_s00.png', 'odd_s01.png', 'odd_s02.png', 'odd_s03.png']);
      assert.equal(summary.outputs.length, 4);
      const first = await readPngPixels(join(out, 'odd_s00.png'));
      const second = await readPngPixels(join(out, 'odd_s01.png'));
      assert.notDeepEqual(first.data, second.data);
    });

    it('--use-encoded: E encodes the paired photos (any size), one output per input', async () => {
      const withEncoder = join(folder.path, 'feat-e.safetensors');
      await writeRandomCheckpoint(withEncoder, config, 7, ['G', 'E']);
      const photos = join(folder.path, 'photos');
      mkdirSync(photos, { recursive: true });
      const random = new Random(3);
      const photo = Uint8Array.from({ length: width * height * 3 }, () => random.nextInt(256));
      await sharp(Buffer.from(photo), { raw: { width, height, channels: 3 } }).png().toFile(join(photos, 'odd.png'));
      const out = join(folder.path, 'encoded-out');
      const { clusters: _unused, ...withoutClusters } = base(out);
      const tensorsBefore = tf.memory().numTensors;
      await runSynthesizeStage({ ...withoutClusters, checkpoint: withEncoder, useEncoded: true, inputs: { kind: 'files', labels, instances, images: photos } }, quiet);
      assert.equal(tf.memory().numTensors, tensorsBefore, 'G, E and pooling leave no tensors behind');
      const image = await readPngPixels(join(out, 'odd.png'));
      assert.deepEqual([image.width, image.height], [width, height]);
      await assert.rejects(
        runSynthesizeStage({ ...withoutClusters, checkpoint: withEncoder, useEncoded: true }, quiet),
        (error: Error & { exitCode?: number }) => error.exitCode === 2 && /--images/.test(error.message),
      );
    });

    it('--data: sample files; without instance maps the label map stands in, with one warning', async () => {
      const data = join(folder.path, 'samples');
      mkdirSync(data, { recursive: true });
      for (const name of ['a', 'b']) {
        await writeSample(join(data, `${name}.safetensors`), { height, width, labelNc: 4, label: Uint8Array.from(labelIds) }, {
          label_nc: 4, size: [height, width], sources: { label: `${name}.png` },
          resize: { mode: 'none', load_size: 0, fine_size: 0, size_base: 1, source_size: [height, width], map_filter: 'nearest', image_filter: 'bicubic' },
        });
      }
      const warnings: string[] = [];
      const log: Logger = { ...quiet, warn: (line) => warnings.push(line) };
      const out = join(folder.path, 'data-out');
      const summary = await runSynthesizeStage({ ...base(out), inputs: { kind: 'samples', data } }, log);
      assert.deepEqual(readdirSync(out).sort(), ['a.png', 'b.png', 'index.html', 'index_files']);
      assert.equal(summary.inputs, 2);
      assert.equal(warnings.filter((line) => /stands in/.test(line)).length, 1);
    });

    it('exits 2 without --clusters for an instance-feature model', async () => {
      const { clusters: _unused, ...withoutClusters } = base(join(folder.path, 'none'));
      await assert.rejects(runSynthesizeStage(withoutClusters, quiet), (error: Error & { exitCode?: number }) => error.exitCode === 2 && /--clusters/.test(error.message));
    });

    it('refuses style-map entries for unknown instances or out-of-range indices (exit 2)', async () => {
      const unknown = join(folder.path, 'unknown.json');
      writeFileSync(unknown, JSON.stringify({ 2005: 1 }));
      await assert.rejects(runSynthesizeStage({ ...base(join(folder.path, 'u')), styleMap: unknown }, quiet),
        (error: Error & { exitCode?: number }) => error.exitCode === 2 && /2005/.test(error.message));
      const outOfRange = join(folder.path, 'range.json');
      writeFileSync(outOfRange, JSON.stringify({ 1: 2 }));
      await assert.rejects(runSynthesizeStage({ ...base(join(folder.path, 'r')), styleMap: outOfRange }, quiet),
        (error: Error & { exitCode?: number }) => error.exitCode === 2 && /class 1 has 2 centres/.test(error.message));
    });

    it('a clusters file with no centres and no feat_num: zero features at the model\'s width, with a warning', async () => {
      const bare = join(folder.path, 'bare.clusters.safetensors');
      await writeTensorFile(bare, 'clusters', new Map(), { k: 10 });
      const warnings: string[] = [];
      const out = join(folder.path, 'bare-out');
      await runSynthesizeStage({ ...base(out), clusters: bare }, { ...quiet, warn: (line) => warnings.push(line) });
      assert.deepEqual(readdirSync(out), ['index.html', 'index_files', 'odd.png']);
      assert.ok(warnings.some((line) => line.includes(bare) && /no cluster centres/.test(line)), warnings.join('\n'));
      await writeTensorFile(bare, 'clusters', new Map(), { k: 10, feat_num: 'three' });
      await assert.rejects(runSynthesizeStage({ ...base(join(folder.path, 'bare-2')), clusters: bare }, quiet),
        (error: Error & { exitCode?: number }) => error.exitCode === 3 && /feat_num/.test(error.message));
    });

    it('resizes inputs as preprocess does (--load-size, --resize-or-crop), and warns when they are off the training scale by more than 1.5x', async () => {
      const scaled = join(folder.path, 'scaled.safetensors');
      const file = parseSafetensors(readFileSync(checkpoint), checkpoint);
      const meta = JSON.parse(file.metadata['p2phd']!) as Record<string, unknown>;
      meta['training_resize'] = { mode: 'scale_width', load_size: 128, width: 128, height: 64 };
      writeFileSync(scaled, serializeSafetensors(file.tensors, { p2phd: JSON.stringify(meta) }));
      const run = async (out: string, resize?: SynthesizeStageConfig['resize']): Promise<string[]> => {
        const warnings: string[] = [];
        await runSynthesizeStage({ ...base(out), checkpoint: scaled, ...(resize ? { resize } : {}) }, { ...quiet, warn: (line) => warnings.push(line) });
        return warnings;
      };
      // 250x130 against 128-wide training samples: 1.95x.
      const atOwnSize = await run(join(folder.path, 'scale-own'));
      assert.equal(atOwnSize.length, 1, atOwnSize.join('\n'));
      assert.match(atOwnSize[0]!, /odd\.png: 250x130 is 1\.95x the width .*scaled\.safetensors was trained at \(128x64 samples, preprocessed with scale_width --load-size 128\).*--load-size 128/);
      const resizedOut = join(folder.path, 'scale-resized');
      assert.deepEqual(await run(resizedOut, { mode: 'scale_width', loadSize: 128 }), []);
      const image = await readPngPixels(join(resizedOut, 'odd.png'));
      assert.deepEqual([image.width, image.height], [128, 66]); // int(128 * 130 / 250), as preprocess
      const squareOut = join(folder.path, 'scale-square');
      await run(squareOut, { mode: 'resize_and_crop', loadSize: 96 });
      const square = await readPngPixels(join(squareOut, 'odd.png'));
      assert.deepEqual([square.width, square.height], [96, 96]);
      await assert.rejects(runSynthesizeStage({ ...base(join(folder.path, 'scale-data')), inputs: { kind: 'samples', data: folder.path }, resize: { mode: 'scale_width', loadSize: 128 } }, quiet),
        (error: Error & { exitCode?: number }) => error.exitCode === 2 && /--load-size/.test(error.message));
    });

    it('refuses an image too large for the backend before building its input (exit 3, naming it): a small PNG declaring 11585x11585', async () => {
      const big = join(folder.path, 'big-labels');
      mkdirSync(big, { recursive: true });
      writeFileSync(join(big, 'big.png'), zeroGrayPng(11585, 11585));
      const out = join(folder.path, 'big-out');
      await assert.rejects(runSynthesizeStage({ ...base(out), inputs: { kind: 'files', labels: big } }, quiet),
        (error: Error & { exitCode?: number }) => error.exitCode === 3 && /big\.png: 11585x11585 is too large/.test(error.message));
      assert.deepEqual(readdirSync(out), []);
    });
  });
});

/** A gray 8-bit PNG of zeros: small on disk however large it declares itself. */
function zeroGrayPng(width: number, height: number): Buffer {
  const chunk = (type: string, body: Buffer): Buffer => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(body.length);
    const typed = Buffer.concat([Buffer.from(type, 'latin1'), body]);
    const check = Buffer.alloc(4);
    check.writeUInt32BE(crc32(typed));
    return Buffer.concat([length, typed, check]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bit depth; colour type 0 (gray), no interlace
  const rows = deflateSync(Buffer.alloc((width + 1) * height), { level: 9 });
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', header), chunk('IDAT', rows), chunk('IEND', Buffer.alloc(0))]);
}

describe('runGenerator / encodeInstanceFeatures at any size', () => {
  before(async () => {
    await initBackend('wasm', { log: () => {} });
  });

  it('take tiny and odd sizes (padded up for the reflection pads) and return the input size', async () => {
    const { runGenerator, encodeInstanceFeatures } = await import('../../src/synthesis/networks.js');
    const { initParams } = await import('../../src/model/params.js');
    const { generatorInputChannels } = await import('../../src/families/pix2pixhd/config.js');
    for (const netG of ['global', 'local'] as const) {
      const config = resolveConfig({ label_nc: 3, netG, ngf: 4, n_downsample_global: 2, n_blocks_global: 1, n_blocks_local: 1, instance_feat: true, nef: 4, n_downsample_E: 2 });
      const params = initParams(modelSpecs(config, ['G', 'E']), 1);
      const channels = generatorInputChannels(config);
      try {
        for (const [height, width] of [[1, 1], [3, 7], [37, 53]] as const) {
          const output = await runGenerator(config, params, new Float32Array(height * width * channels).fill(0.5), height, width, channels);
          assert.equal(output.length, height * width * 3, `${netG} ${height}x${width}`);
          const features = await encodeInstanceFeatures(config, params, new Uint8Array(height * width * 3).fill(128), new Int32Array(height * width), height, width);
          assert.equal(features.length, height * width * 3);
        }
      } finally {
        for (const value of params.values()) value.dispose();
      }
    }
  });
});

describe('p2phd synthesize (CLI): wasm threads', () => {
  const folder = temporaryFolder('synthesize-threads');
  after(() => folder.remove());

  it('takes one wasm thread per core by default, and gives the same image as one thread', async () => {
    // Big enough for the Winograd residual conv (64 channels at 64x32) and the 0/1-input conv.
    const config = resolveConfig({ label_nc: 35, instance: true, netG: 'global', ngf: 16, n_downsample_global: 2, n_blocks_global: 1, norm: 'instance' });
    const checkpoint = join(folder.path, 'g.safetensors');
    await writeRandomCheckpoint(checkpoint, config, 11);
    const labels = join(folder.path, 'labels');
    const instances = join(folder.path, 'instances');
    mkdirSync(labels);
    mkdirSync(instances);
    copyFileSync(join(FIXTURES_DIR, 'test_label', 'synthcity_001000_000019_gtFine_labelIds.png'), join(labels, 'a.png'));
    copyFileSync(join(FIXTURES_DIR, 'test_inst', 'synthcity_001000_000019_gtFine_instanceIds.png'), join(instances, 'a.png'));
    const run = (out: string, threads: string): string => {
      const result = runCliSync(['synthesize', '--backend', 'wasm', '--checkpoint', checkpoint, '--labels', labels, '--instances', instances, '--out', out], {
        env: { P2PHD_WASM_THREADS: threads },
      });
      assert.equal(result.status, 0, result.stderr);
      return result.stderr;
    };
    const expected = Math.min(8, availableParallelism());
    const byDefault = run(join(folder.path, 'default'), '');
    assert.match(byDefault, new RegExp(`backend: wasm \\(SIMD, ${expected} threads?;`));
    const single = run(join(folder.path, 'single'), '1');
    assert.match(single, /backend: wasm \(SIMD, 1 thread;/);
    assert.ok(
      readFileSync(join(folder.path, 'default', 'a.png')).equals(readFileSync(join(folder.path, 'single', 'a.png'))),
      'the same PNG on one thread and on all',
    );
  });
});
