/**
 * `p2phd preprocess --aligned` through the CLI: pix2pix's defaults (286 / 256,
 * resize_and_crop), the sample file schema, direction and grey recorded, the
 * label/photo flags refused, and the aligned-only flags refused without it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { openAlignedSampleFolder, readAlignedSample } from '../../src/data/datasets/alignedSample.js';
import { openSampleFolder } from '../../src/train/data.js';
import { readSample } from '../../src/data/datasets/sample.js';
import { REPO_ROOT, runCliSync, temporaryFolder } from '../support/cli.js';

const FIXTURES = join(REPO_ROOT, 'test', 'fixtures-pix2pix');

function dataset(root: string): void {
  mkdirSync(join(root, 'train', 'nested'), { recursive: true });
  copyFileSync(join(FIXTURES, 'ab_even.png'), join(root, 'train', 'b.png'));
  copyFileSync(join(FIXTURES, 'ab_jpeg.jpg'), join(root, 'train', 'a.jpg'));
  copyFileSync(join(FIXTURES, 'ab_even.png'), join(root, 'train', 'nested', 'c.png'));
}

test('preprocess --aligned: defaults 286/256 resize_and_crop, one sample per A|B file, schema and metadata', async () => {
  const folder = temporaryFolder('aligned-cli');
  try {
    dataset(join(folder.path, 'data'));
    const out = join(folder.path, 'samples');
    const cli = runCliSync(['preprocess', '--aligned', '--dataroot', join(folder.path, 'data'), '--direction', 'BtoA', '--input-nc', '1', '--out', out, '--json']);
    assert.equal(cli.status, 0, cli.stderr);
    const summary = JSON.parse(cli.stdout) as { count: number; samples: Array<{ file: string; source: string }> };
    assert.equal(summary.count, 3);
    assert.deepEqual(readdirSync(out).sort(), ['a.safetensors', 'b.safetensors', 'nested__c.safetensors']);
    assert.deepEqual(summary.samples.map((s) => s.source), ['a.jpg', 'b.png', 'nested/c.png'].map((name) => join(folder.path, 'data', 'train', name)));
    const sample = await readAlignedSample(join(out, 'b.safetensors'));
    assert.deepEqual([sample.height, sample.width, sample.aChannels, sample.bChannels], [286, 286, 1, 3]);
    assert.equal(sample.a.length, 286 * 286);
    assert.equal(sample.b.length, 286 * 286 * 3);
    assert.equal(sample.metadata.direction, 'BtoA');
    assert.deepEqual(sample.metadata.resize.source_size, [18, 22]);
    assert.equal(sample.metadata.resize.mode, 'resize_and_crop');
    assert.equal(sample.metadata.resize.load_size, 286);
    assert.equal(sample.metadata.resize.crop_size, 256);
    // pix2pixHD's readers refuse it with one line naming the file.
    await assert.rejects(readSample(join(out, 'b.safetensors')), /b\.safetensors: is an aligned A\|B \(pix2pix\) sample/);
    await assert.rejects(openSampleFolder(out), /a\.safetensors: is an aligned A\|B \(pix2pix\) sample/);
    // The training side's folder listing.
    const opened = await openAlignedSampleFolder(out);
    assert.deepEqual([opened.inputNc, opened.outputNc, opened.direction], [1, 3, 'BtoA']);
    assert.deepEqual(opened.samples.map((s) => [s.height, s.width, s.mode, s.cropSize]), Array(3).fill([286, 286, 'resize_and_crop', 256]));
    // One more sample made AtoB into the same folder: a mixed folder is refused.
    const again = runCliSync(['preprocess', '--aligned', '--dataroot', join(folder.path, 'data'), '--input-nc', '1', '--shard', '0/3', '--out', out]);
    assert.equal(again.status, 0, again.stderr);
    await assert.rejects(openAlignedSampleFolder(out), /b\.safetensors: direction BtoA differs from .*a\.safetensors's AtoB/);
  } finally {
    folder.remove();
  }
});

test('preprocess --aligned --resize-or-crop none --crop-size: sides rounded to multiples of 4', async () => {
  const folder = temporaryFolder('aligned-cli');
  try {
    dataset(join(folder.path, 'data'));
    const out = join(folder.path, 'samples');
    const cli = runCliSync(['preprocess', '--aligned', '--dataroot', join(folder.path, 'data'), '--resize-or-crop', 'none', '--crop-size', '8', '--out', out, '--shard', '1/3']);
    assert.equal(cli.status, 0, cli.stderr);
    assert.deepEqual(readdirSync(out), ['b.safetensors']);
    const sample = await readAlignedSample(join(out, 'b.safetensors'));
    assert.deepEqual([sample.height, sample.width], [16, 24]);
    assert.equal(sample.metadata.resize.crop_size, 8);
  } finally {
    folder.remove();
  }
});

test('preprocess --aligned: usage errors exit 2, missing data exit 3, one line each', () => {
  const folder = temporaryFolder('aligned-cli');
  try {
    const data = join(folder.path, 'data');
    dataset(data);
    const out = join(folder.path, 'samples');
    const cases: Array<[string[], number, RegExp]> = [
      [['--aligned', '--dataroot', data, '--label-nc', '0', '--out', out], 2, /--label-nc is for label\/photo data/],
      [['--aligned', '--dataroot', data, '--no-instance', '--out', out], 2, /--no-instance/],
      [['--aligned', '--out', out], 2, /--aligned needs --dataroot/],
      [['--dataroot', data, '--direction', 'BtoA', '--out', out], 2, /--direction is for A\|B data: add --aligned/],
      [['--aligned', '--dataroot', data, '--input-nc', '2', '--out', out], 2, /--input-nc: "2" must be 1 \(grey\) or 3/],
      [['--aligned', '--dataroot', data, '--load-size', '100', '--out', out], 2, /--load-size 100 is below --crop-size 256/],
      [['--aligned', '--dataroot', data, '--fine-size', '8', '--crop-size', '9', '--out', out], 2, /give one of them/],
      [['--aligned', '--dataroot', data, '--phase', 'val', '--out', out], 3, /val: no such folder/],
    ];
    for (const [args, status, message] of cases) {
      const cli = runCliSync(['preprocess', ...args]);
      assert.equal(cli.status, status, `${args.join(' ')}: ${cli.stderr}`);
      assert.match(cli.stderr, message);
      assert.equal(cli.stderr.trim().split('\n').length, 1, cli.stderr);
    }
  } finally {
    folder.remove();
  }
});
