import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { readSample } from '../../src/data/datasets/sample.js';
import { readIdMap, PngColorType } from '../../src/data/formats/png.js';
import { encodePng } from '../../src/data/formats/pngEncode.js';
import { instanceEdges } from '../../src/data/datasets/labels.js';
import { nearestIndices } from '../../src/data/formats/nearest.js';
import { FIXTURES_DIR, runCliSync, temporaryFolder } from '../support/cli.js';

test('preprocess on the fixtures: exit 0, one sample per pair, right shapes, exact maps, plausible edges', async () => {
  const folder = temporaryFolder('pre');
  try {
    const out = join(folder.path, 'samples');
    // scale_width to 128: 256x128 -> 128x64, so the nearest resize is exercised.
    const cli = runCliSync(['preprocess', '--dataroot', FIXTURES_DIR, '--phase', 'train', '--label-nc', '35',
      '--load-size', '128', '--onehot', '--out', out, '--json']);
    assert.equal(cli.status, 0, cli.stderr);
    const summary = JSON.parse(cli.stdout) as { count: number; samples: Array<{ file: string; label: string; inst: string }> };
    const labelFiles = readdirSync(join(FIXTURES_DIR, 'train_label')).sort();
    assert.equal(summary.count, labelFiles.length);
    const written = readdirSync(out).sort();
    assert.deepEqual(written, labelFiles.map((name) => name.replace(/\.png$/, '.safetensors')));

    for (const entry of summary.samples.slice(0, 3)) {
      const sample = await readSample(entry.file);
      assert.deepEqual([sample.height, sample.width], [64, 128]);
      assert.deepEqual(sample.metadata.size, [64, 128]);
      assert.equal(sample.metadata.label_nc, 35);
      assert.equal(sample.metadata.resize.mode, 'scale_width');
      assert.deepEqual(sample.metadata.resize.source_size, [128, 256]);
      assert.ok(sample.image && sample.image.length === 64 * 128 * 3);
      // label and inst are the source maps sampled at PIL's nearest indices (2x + 1 for a 2x shrink).
      const [label, inst] = await Promise.all([readIdMap(entry.label), readIdMap(entry.inst)]);
      const columns = nearestIndices(256, 128);
      const rows = nearestIndices(128, 64);
      assert.equal(columns[5], 11);
      for (let y = 0; y < 64; y++) {
        for (let x = 0; x < 128; x++) {
          const source = rows[y]! * 256 + columns[x]!;
          assert.equal(sample.label![y * 128 + x], label.ids[source]);
          assert.equal(sample.inst![y * 128 + x], inst.ids[source]);
        }
      }
      // Edges are those of the resized instance map; a street scene has some but not many.
      assert.deepEqual([...sample.edges!], [...instanceEdges(sample.inst!, 128, 64)]);
      const edgeShare = sample.edges!.reduce((a, b) => a + b, 0) / sample.edges!.length;
      assert.ok(edgeShare > 0.01 && edgeShare < 0.4, `edge share ${edgeShare}`);
      // Things carry Cityscapes ids class * 1000 + k.
      assert.ok([...sample.inst!].some((id) => id >= 24000), 'some person or car instance');
      // One-hot: exactly one channel set per pixel, the label's.
      const plane = 64 * 128;
      for (let i = 0; i < plane; i += 97) {
        for (let c = 0; c < 35; c++) assert.equal(sample.onehot![c * plane + i], c === sample.label![i] ? 1 : 0);
      }
    }
  } finally {
    folder.remove();
  }
});

test('explicit globs, --no-instance and --shard', async () => {
  const folder = temporaryFolder('glob');
  try {
    const out = join(folder.path, 'o');
    const cli = runCliSync(['preprocess', '--labels', join(FIXTURES_DIR, 'test_label', '*.png'), '--images', join(FIXTURES_DIR, 'test_img'),
      '--label-nc', '35', '--resize-or-crop', 'none', '--shard', '1/3', '--out', out]);
    assert.equal(cli.status, 0, cli.stderr);
    const all = readdirSync(join(FIXTURES_DIR, 'test_label')).sort();
    const expected = all.filter((_, i) => i % 3 === 1).map((name) => name.replace(/\.png$/, '.safetensors'));
    assert.deepEqual(readdirSync(out).sort(), expected);
    const sample = await readSample(join(out, expected[0]!));
    assert.equal(sample.inst, undefined);
    assert.equal(sample.edges, undefined);
    assert.deepEqual([sample.height, sample.width], [128, 256]);
  } finally {
    folder.remove();
  }
});

/** A copy of the fixtures' train set to damage. */
function copyOfFixtures(root: string): string {
  const data = join(root, 'data');
  for (const part of ['train_label', 'train_inst', 'train_img']) cpSync(join(FIXTURES_DIR, part), join(data, part), { recursive: true });
  return data;
}

function expectExit3(args: string[], pattern: RegExp): void {
  const cli = runCliSync(['preprocess', ...args]);
  assert.equal(cli.status, 3, `${cli.stderr}`);
  assert.match(cli.stderr, pattern);
  assert.equal(cli.stderr.trim().split('\n').filter((line) => line.startsWith('p2phd:')).length, 1, cli.stderr);
  assert.doesNotMatch(cli.stderr, /\n\s+at /);
}

test('a missing instance map: exit 3 naming both folders and the unpaired file', () => {
  const folder = temporaryFolder('count');
  try {
    const data = copyOfFixtures(folder.path);
    const instances = readdirSync(join(data, 'train_inst')).sort();
    rmSync(join(data, 'train_inst', instances[instances.length - 1]!));
    expectExit3(['--dataroot', data, '--label-nc', '35', '--out', join(folder.path, 'o')],
      new RegExp(`24 files in .*train_label but 23 in .*train_inst.*${instances[instances.length - 1]!.replace('instanceIds', 'labelIds')}`));
  } finally {
    folder.remove();
  }
});

test('a photo of another size: exit 3 naming the photo and its label map', () => {
  const folder = temporaryFolder('size');
  try {
    const data = copyOfFixtures(folder.path);
    const photos = readdirSync(join(data, 'train_img')).sort();
    const bad = join(data, 'train_img', photos[2]!);
    const small = encodePng({ width: 100, height: 50, bitDepth: 8, colorType: PngColorType.rgb, samples: new Uint8Array(100 * 50 * 3) });
    rmSync(bad);
    writeFileSync(bad.replace(/\.jpg$/, '.png'), small);
    expectExit3(['--dataroot', data, '--label-nc', '35', '--out', join(folder.path, 'o')], /train_img\/synthcity_000002_000019_leftImg8bit\.png: is 100x50 but its label map .*labelIds\.png is 256x128/);
    // No partial output: nothing half-written in the output folder.
    const out = join(folder.path, 'o');
    if (existsSync(out)) assert.ok(readdirSync(out).every((name) => !name.endsWith('.tmp')));
  } finally {
    folder.remove();
  }
});

test('a label id >= --label-nc: exit 3 naming the file and the id', () => {
  const folder = temporaryFolder('range');
  try {
    const data = copyOfFixtures(folder.path);
    // The fixtures use ids up to 26 (car): with --label-nc 20 the car id is out of range.
    expectExit3(['--dataroot', data, '--label-nc', '20', '--out', join(folder.path, 'o')], /labelIds\.png: label id (2[0-9]) at pixel \(\d+, \d+\) is out of range \(--label-nc 20/);
  } finally {
    folder.remove();
  }
});

test('an empty glob and a missing folder: exit 3 naming the pattern', () => {
  expectExit3(['--labels', '/nonexistent/*.png', '--out', '/tmp/never'], /\/nonexistent\/\*\.png: matches no files/);
  expectExit3(['--dataroot', '/nonexistent', '--out', '/tmp/never'], /\/nonexistent\/train_label: no such folder/);
});

test('conflicting or missing flags: exit 2', () => {
  for (const args of [
    ['--labels', 'x', '--dataroot', 'y', '--out', 'o'],
    ['--dataroot', FIXTURES_DIR],
    ['--dataroot', FIXTURES_DIR, '--out', 'o', '--label-nc', '0', '--onehot'],
    ['--dataroot', FIXTURES_DIR, '--out', 'o', '--resize-or-crop', 'stretch'],
    ['--dataroot', FIXTURES_DIR, '--out', 'o', '--shard', '3/3'],
  ]) {
    const cli = runCliSync(['preprocess', ...args]);
    assert.equal(cli.status, 2, `${args.join(' ')}: ${cli.stderr}`);
  }
});

test('--label-nc 0: colour label maps from <phase>_A become label_rgb, photos from <phase>_B', async () => {
  const folder = temporaryFolder('rgb');
  try {
    const data = join(folder.path, 'data');
    cpSync(join(FIXTURES_DIR, 'test_img'), join(data, 'test_A'), { recursive: true });
    cpSync(join(FIXTURES_DIR, 'test_img'), join(data, 'test_B'), { recursive: true });
    const out = join(folder.path, 'o');
    const cli = runCliSync(['preprocess', '--dataroot', data, '--phase', 'test', '--label-nc', '0', '--no-instance', '--load-size', '128', '--out', out]);
    assert.equal(cli.status, 0, cli.stderr);
    const files = readdirSync(out).sort();
    assert.equal(files.length, readdirSync(join(FIXTURES_DIR, 'test_img')).length);
    const sample = await readSample(join(out, files[0]!));
    assert.equal(sample.label, undefined);
    assert.deepEqual([sample.labelRgb!.length, sample.image!.length], [64 * 128 * 3, 64 * 128 * 3]);
    // Same source, same filter: the colour label map equals the photo.
    assert.deepEqual([...sample.labelRgb!], [...sample.image!]);
  } finally {
    folder.remove();
  }
});

test('palette label maps: the class id is the palette index, not the colour', async () => {
  const folder = temporaryFolder('palette');
  try {
    const labels = join(folder.path, 'labels');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(labels);
    // Palette entry 3 is bright red, entry 26 is blue: ids must come out as 3 and 26.
    const palette = new Uint8Array(27 * 3);
    palette.set([255, 0, 0], 3 * 3);
    palette.set([0, 0, 255], 26 * 3);
    writeFileSync(join(labels, 'a.png'), encodePng({ width: 4, height: 2, bitDepth: 8, colorType: PngColorType.palette, palette, samples: [3, 3, 26, 26, 3, 3, 26, 26] }));
    const out = join(folder.path, 'o');
    const cli = runCliSync(['preprocess', '--labels', labels, '--label-nc', '35', '--resize-or-crop', 'crop', '--out', out]);
    assert.equal(cli.status, 0, cli.stderr);
    const sample = await readSample(join(out, 'a.safetensors'));
    assert.deepEqual([...sample.label!], [3, 3, 26, 26, 3, 3, 26, 26]);
  } finally {
    folder.remove();
  }
});
