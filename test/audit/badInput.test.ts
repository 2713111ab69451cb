/**
 * The bad-input audit: every command against what users get wrong. Each case
 * must give the contract's exit code, one line on stderr naming the file or
 * flag and the problem, no stack trace, and no partial output file.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { FIXTURES_DIR, filesBelow, runCliSync, temporaryFolder, type CliOptions } from '../support/cli.js';
import { parseSafetensors, serializeSafetensors } from '../../src/data/formats/safetensors.js';
import { rawSafetensors } from '../support/safetensors.js';

const STACK_LINE = /^\s+at .+\(.+:\d+:\d+\)$|^\s+at .+:\d+:\d+$/m;

interface Expectation {
  code: number;
  /** What the one error line must mention (a file, a flag, the problem). */
  mentions: RegExp[];
}

function expectFailure(args: string[], expectation: Expectation, options: CliOptions = {}): string {
  const result = runCliSync(args, options);
  const context = `p2phd ${args.join(' ')}\n--- stderr ---\n${result.stderr}`;
  assert.equal(result.status, expectation.code, `exit code\n${context}`);
  assert.doesNotMatch(result.stderr, STACK_LINE, `no stack trace\n${context}`);
  const errorLines = result.stderr.split('\n').filter((line) => /^(p2phd: |error: )/.test(line));
  assert.equal(errorLines.length, 1, `exactly one error line\n${context}`);
  for (const mention of expectation.mentions) assert.match(errorLines[0]!, mention, `the error line mentions ${mention}\n${context}`);
  return errorLines[0]!;
}

function assertNothingPartial(folder: string): void {
  const leftovers = filesBelow(folder).filter((name) => /\.tmp$/.test(name));
  assert.deepEqual(leftovers, [], `temporary files left in ${folder}`);
}

/** Writes a PNG whose pixels are `ids` (gray, 8-bit). */
async function grayPng(path: string, width: number, height: number, ids: (x: number, y: number) => number): Promise<void> {
  const pixels = Buffer.alloc(width * height);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) pixels[y * width + x] = ids(x, y);
  await sharp(pixels, { raw: { width, height, channels: 1 } }).png().toFile(path);
}

describe('bad input audit', () => {
  const work = temporaryFolder('audit');
  const root = work.path;
  const samples = join(root, 'samples');
  const run = join(root, 'run');
  const checkpoint = join(run, 'latest.safetensors');

  before(() => {
    // A handful of real samples and a tiny trained checkpoint (with E) to misuse.
    const pre = runCliSync(['preprocess', '--labels', join(FIXTURES_DIR, 'train_label'), '--instances', join(FIXTURES_DIR, 'train_inst'),
      '--images', join(FIXTURES_DIR, 'train_img'), '--label-nc', '35', '--resize-or-crop', 'scale_width', '--load-size', '64',
      '--shard', '0/8', '--out', samples]);
    assert.equal(pre.status, 0, pre.stderr);
    const train = runCliSync(['train', 'global', '--data', samples, '--out', run, '--instance-feat', '--ngf', '4',
      '--n-downsample-global', '2', '--n-blocks-global', '1', '--ndf', '4', '--n-layers-d', '1', '--num-d', '1', '--nef', '4',
      '--n-downsample-e', '2', '--max-steps', '1', '--seed', '1', '--backend', 'wasm']);
    assert.equal(train.status, 0, train.stderr);
  });
  after(() => work.remove());

  describe('usage errors (exit 2)', () => {
    test('an unknown flag', () => {
      expectFailure(['preprocess', '--labelz', 'x'], { code: 2, mentions: [/--labelz/] });
    });
    test('a flag value that is not a number', () => {
      expectFailure(['cluster', '--features', 'f', '--k', 'ten', '--out', 'o'], { code: 2, mentions: [/--k/, /ten/] });
    });
    test('a missing required flag', () => {
      expectFailure(['encode', '--data', samples, '--out', join(root, 'f.safetensors')], { code: 2, mentions: [/--checkpoint/] });
    });
    test('a shard index past its count', () => {
      expectFailure(['preprocess', '--dataroot', FIXTURES_DIR, '--shard', '4/4', '--out', join(root, 'x')], { code: 2, mentions: [/--shard/] });
    });
    test('an unavailable backend asked for by name', () => {
      expectFailure(['synthesize', '--checkpoint', checkpoint, '--labels', join(FIXTURES_DIR, 'test_label'), '--out', join(root, 'y'),
        '--backend', 'tensorflow'], { code: 2, mentions: [/tensorflow/] });
    });
    test('a run folder that already holds a checkpoint, without --resume', () => {
      expectFailure(['train', 'global', '--data', samples, '--out', run, '--max-steps', '1'], { code: 2, mentions: [/--resume/, new RegExp(run.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))] });
    });
    test('a demo output folder that exists and is not empty', () => {
      expectFailure(['demo', '--out', run], { code: 2, mentions: [/--out/, /not empty/] });
    });
    test('a model with instance features but neither --clusters nor --use-encoded', () => {
      expectFailure(['synthesize', '--checkpoint', checkpoint, '--labels', join(FIXTURES_DIR, 'test_label'),
        '--instances', join(FIXTURES_DIR, 'test_inst'), '--out', join(root, 'z')], { code: 2, mentions: [/--clusters/] });
      assert.equal(existsSync(join(root, 'z')) && filesBelow(join(root, 'z')).length > 0, false);
    });
  });

  describe('bad input data (exit 3)', () => {
    test('a dataroot that does not exist', () => {
      expectFailure(['preprocess', '--dataroot', join(root, 'nowhere'), '--out', join(root, 'p1')], { code: 3, mentions: [/nowhere/] });
    });
    test('a glob that matches nothing', () => {
      expectFailure(['preprocess', '--labels', join(root, 'nothing', '*.png'), '--no-instance', '--out', join(root, 'p2')], { code: 3, mentions: [/nothing/] });
    });
    test('a corrupt PNG', () => {
      const folder = join(root, 'corrupt');
      mkdirSync(folder);
      const png = readFileSync(join(FIXTURES_DIR, 'train_label', 'synthcity_000000_000019_gtFine_labelIds.png'));
      writeFileSync(join(folder, 'a.png'), png.subarray(0, Math.floor(png.length / 2)));
      expectFailure(['preprocess', '--labels', folder, '--no-instance', '--out', join(root, 'p3')], { code: 3, mentions: [/a\.png/] });
      assertNothingPartial(join(root, 'p3'));
    });
    test('a file that is not a PNG at all', () => {
      const folder = join(root, 'text');
      mkdirSync(folder);
      writeFileSync(join(folder, 'b.png'), 'this is not an image\n');
      expectFailure(['preprocess', '--labels', folder, '--no-instance', '--out', join(root, 'p4')], { code: 3, mentions: [/b\.png/] });
    });
    test('an RGB label map where class ids were expected', async () => {
      const folder = join(root, 'rgb');
      mkdirSync(folder);
      await sharp(join(FIXTURES_DIR, 'train_img', readdirFirst(join(FIXTURES_DIR, 'train_img')))).png().toFile(join(folder, 'c.png'));
      expectFailure(['preprocess', '--labels', folder, '--no-instance', '--out', join(root, 'p5')], { code: 3, mentions: [/c\.png/, /RGB|colour/i] });
    });
    test('a label id at or above --label-nc', async () => {
      const folder = join(root, 'range');
      mkdirSync(folder);
      await grayPng(join(folder, 'd.png'), 16, 8, (x) => (x === 5 ? 40 : 7));
      expectFailure(['preprocess', '--labels', folder, '--no-instance', '--label-nc', '35', '--out', join(root, 'p6')], { code: 3, mentions: [/d\.png/, /40/] });
      assertNothingPartial(join(root, 'p6'));
    });
    test('label and instance counts that differ', async () => {
      const labels = join(root, 'count_labels');
      const instances = join(root, 'count_inst');
      mkdirSync(labels);
      mkdirSync(instances);
      await grayPng(join(labels, 'e1.png'), 16, 8, () => 7);
      await grayPng(join(labels, 'e2.png'), 16, 8, () => 7);
      await grayPng(join(instances, 'e1.png'), 16, 8, () => 7);
      expectFailure(['preprocess', '--labels', labels, '--instances', instances, '--out', join(root, 'p7')], { code: 3, mentions: [/e2\.png|2 .*1|1 .*2/] });
    });
    test('label and instance sizes that differ', async () => {
      const labels = join(root, 'size_labels');
      const instances = join(root, 'size_inst');
      mkdirSync(labels);
      mkdirSync(instances);
      await grayPng(join(labels, 'f.png'), 16, 8, () => 7);
      await grayPng(join(instances, 'f.png'), 32, 8, () => 7);
      expectFailure(['preprocess', '--labels', labels, '--instances', instances, '--out', join(root, 'p8')], { code: 3, mentions: [/f\.png/] });
    });
    test('a truncated tensor file', () => {
      const path = join(root, 'truncated.safetensors');
      const bytes = readFileSync(checkpoint);
      writeFileSync(path, bytes.subarray(0, bytes.length - 100));
      expectFailure(['inspect', path], { code: 3, mentions: [/truncated\.safetensors/] });
      expectFailure(['synthesize', '--checkpoint', path, '--labels', join(FIXTURES_DIR, 'test_label'), '--out', join(root, 's1')], { code: 3, mentions: [/truncated\.safetensors/] });
    });
    test('a header length of 2^60', () => {
      const path = join(root, 'huge.safetensors');
      writeFileSync(path, rawSafetensors({}, 0, 1n << 60n));
      expectFailure(['inspect', path], { code: 3, mentions: [/huge\.safetensors/, /header/] });
    });
    test('overlapping tensor offsets', () => {
      const path = join(root, 'overlap.safetensors');
      writeFileSync(path, rawSafetensors({ a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] }, b: { dtype: 'F32', shape: [4], data_offsets: [8, 24] } }, 24));
      expectFailure(['inspect', path], { code: 3, mentions: [/overlap\.safetensors/, /overlap/] });
    });
    test('a tensor that runs past the end of the file', () => {
      const path = join(root, 'past.safetensors');
      writeFileSync(path, rawSafetensors({ a: { dtype: 'F32', shape: [64], data_offsets: [0, 256] } }, 16));
      expectFailure(['inspect', path], { code: 3, mentions: [/past\.safetensors/, /past the end/] });
    });
    test('garbage on stdin', () => {
      expectFailure(['inspect', '-'], { code: 3, mentions: [/stdin/] }, { input: 'hello, not a tensor file' });
    });
    test('a file of the wrong kind', () => {
      const sample = join(samples, filesBelow(samples).find((name) => name.endsWith('.safetensors'))!);
      expectFailure(['encode', '--data', samples, '--checkpoint', sample, '--out', join(root, 'w.safetensors')], { code: 3, mentions: [/sample/, /checkpoint/] });
      expectFailure(['cluster', '--features', checkpoint, '--out', join(root, 'w2.safetensors')], { code: 3, mentions: [/checkpoint/, /features/] });
      assert.equal(existsSync(join(root, 'w.safetensors')) || existsSync(join(root, 'w2.safetensors')), false);
    });
    test('a checkpoint whose tensors do not fit its config', () => {
      const file = parseSafetensors(readFileSync(checkpoint), checkpoint);
      const meta = JSON.parse(file.metadata['p2phd']!) as { config: Record<string, unknown> };
      meta.config['ngf'] = 8;
      const path = join(root, 'misfit.safetensors');
      writeFileSync(path, serializeSafetensors(file.tensors, { ...file.metadata, p2phd: JSON.stringify(meta) }));
      expectFailure(['synthesize', '--checkpoint', path, '--labels', join(FIXTURES_DIR, 'test_label'), '--instances', join(FIXTURES_DIR, 'test_inst'),
        '--use-encoded', '--images', join(FIXTURES_DIR, 'test_img'), '--out', join(root, 's2')], { code: 3, mentions: [/misfit\.safetensors/, /G\./] });
      assert.deepEqual(filesBelow(join(root, 's2')), []);
    });
    test('a checkpoint without an encoder, given to encode', () => {
      const file = parseSafetensors(readFileSync(checkpoint), checkpoint);
      const meta = JSON.parse(file.metadata['p2phd']!) as { config: Record<string, unknown> };
      meta.config['instance_feat'] = false;
      meta.config['feat_num'] = 3;
      const gOnly = new Map([...file.tensors].filter(([name]) => name.startsWith('G.')));
      const path = join(root, 'no_encoder.safetensors');
      // The G of an instance-feature model takes 3 more channels; drop E and say so in the config.
      writeFileSync(path, serializeSafetensors(gOnly, { ...file.metadata, p2phd: JSON.stringify(meta) }));
      expectFailure(['encode', '--data', samples, '--checkpoint', path, '--out', join(root, 'w3.safetensors')], { code: 3, mentions: [/no_encoder\.safetensors|encoder|--instance-feat/] });
    });
  });

  describe('a full disk (simulated: writes fail)', () => {
    test('no partial output is left, and the error names the file', () => {
      const features = join(root, 'features.safetensors');
      const encode = runCliSync(['encode', '--data', samples, '--checkpoint', run, '--out', features]);
      assert.equal(encode.status, 0, encode.stderr);
      const out = join(root, 'full');
      mkdirSync(out);
      const clusters = join(out, 'clusters.safetensors');
      expectFailure(['cluster', '--features', features, '--k', '2', '--out', clusters], { code: 3, mentions: [/clusters\.safetensors/, /no space/] },
        { env: { P2PHD_SIMULATE_FULL_DISK_AFTER: '64' } });
      assert.deepEqual(filesBelow(out), []);
      const preOut = join(root, 'full_pre');
      expectFailure(['preprocess', '--dataroot', FIXTURES_DIR, '--load-size', '64', '--shard', '0/12', '--out', preOut], { code: 3, mentions: [/no space/] },
        { env: { P2PHD_SIMULATE_FULL_DISK_AFTER: '64' } });
      assertNothingPartial(preOut);
      assert.deepEqual(filesBelow(preOut).filter((name) => name.endsWith('.safetensors')), []);
    });
  });

  test('a copy of a good file still reads (the audit files are what is wrong)', () => {
    const copy = join(root, 'copy.safetensors');
    copyFileSync(checkpoint, copy);
    const result = runCliSync(['inspect', copy]);
    assert.equal(result.status, 0, result.stderr);
    assert.equal((JSON.parse(result.stdout) as { kind: string }).kind, 'checkpoint');
  });
});

function readdirFirst(folder: string): string {
  return filesBelow(folder)[0]!;
}
