/**
 * The reference's checkpoints to and from p2phd: files the reference's own
 * networks and TrainOptions wrote (scripts/make-pth-fixtures.py), checked
 * against the values torch read from them (expected.json), config from
 * opt.txt or from the shapes, and export -> import round trips.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readCheckpoint } from '../../src/families/checkpoint.js';
import { parseOptTxt, configFromOptions } from '../../src/families/pix2pixhd/optTxt.js';
import { exportReferenceCheckpoint, importReferenceCheckpoint, readInitCheckpoint, readReferenceCheckpoint } from '../../src/families/pix2pixhd/referenceCheckpoint.js';
import { readPth } from '../../src/data/formats/pth.js';
import type { Tensor } from '../../src/data/formats/safetensors.js';
import { ExitCode, InputError } from '../../src/errors.js';
import { resolveConfig } from '../../src/families/pix2pixhd/config.js';
import { REPO_ROOT, runCliSync, temporaryFolder } from '../support/cli.js';

const FIXTURES = join(REPO_ROOT, 'test', 'data', 'pth-fixtures');
const values = (tensor: Tensor | undefined): number[] => Array.from(tensor!.data as ArrayLike<number | bigint>, Number);

type Expected = Record<string, Record<string, { shape: number[]; values: number[] }>>;
const expectedOf = (name: string): Expected => JSON.parse(readFileSync(join(FIXTURES, name, 'expected.json'), 'utf8')) as Expected;
const files = (name: string, networks: string[]): Record<string, string> =>
  Object.fromEntries(networks.map((network) => [`net${network}`, join(FIXTURES, name, `latest_net_${network}.pth`)]));

/** Every tensor of every network equals what torch read from the reference's files. */
function assertTensorsAre(tensors: ReadonlyMap<string, Tensor>, expected: Expected): void {
  const names = Object.entries(expected).flatMap(([network, state]) => Object.keys(state).map((key) => `${network}.${key}`));
  assert.deepEqual([...tensors.keys()].sort(), names.sort());
  for (const [network, state] of Object.entries(expected)) {
    for (const [key, { shape, values: want }] of Object.entries(state)) {
      const tensor = tensors.get(`${network}.${key}`)!;
      assert.deepEqual(tensor.shape, shape, key);
      assert.equal(tensor.dtype, key.endsWith('num_batches_tracked') ? 'I64' : 'F32', key);
      assert.deepEqual(values(tensor), want.map((v) => (key.endsWith('num_batches_tracked') ? v : Math.fround(v))), key);
    }
  }
}

test('import: the reference G + D (legacy format) with its opt.txt', async () => {
  const folder = temporaryFolder('import-global');
  try {
    const out = join(folder.path, 'g.safetensors');
    const imported = await importReferenceCheckpoint({ ...files('ref_global', ['G', 'D']), netG: join(FIXTURES, 'ref_global', 'latest_net_G.pth'), opt: join(FIXTURES, 'ref_global', 'opt.txt') }, out);
    assert.deepEqual(imported.notes, []);
    const checkpoint = await readCheckpoint(out);
    assert.equal(checkpoint.meta.stage, 'global');
    assert.deepEqual(checkpoint.networks, ['G', 'D']);
    // The flags the fixture script gave the reference's TrainOptions.
    assert.deepEqual(checkpoint.meta.config, resolveConfig({ label_nc: 4, ngf: 4, n_downsample_global: 1, n_blocks_global: 1, num_D: 1, n_layers_D: 1, ndf: 4 }));
    assertTensorsAre(checkpoint.tensors, expectedOf('ref_global'));
  } finally {
    folder.remove();
  }
});

test('import without opt.txt: a local G + D + E (zip format, batch norm) inferred from shapes, said so', async () => {
  const imported = await readReferenceCheckpoint({ netG: join(FIXTURES, 'ref_local', 'latest_net_G.pth'), ...files('ref_local', ['D', 'E']) });
  const fromOpt = configFromOptions(parseOptTxt(readFileSync(join(FIXTURES, 'ref_local', 'opt.txt'), 'utf8'), 'opt.txt'), 'opt.txt');
  assert.deepEqual(imported.checkpoint.meta.config, resolveConfig(fromOpt));
  assert.equal(imported.checkpoint.meta.stage, 'local');
  assert.match(imported.notes[0]!, /^no opt\.txt: architecture inferred from the tensor shapes: netG local, n_local_enhancers 1, ngf 4/);
  assert.ok(imported.notes.some((note) => /label_nc 4 \+ 1 instance-map channel/.test(note)), imported.notes.join('\n'));
  assertTensorsAre(imported.checkpoint.tensors, expectedOf('ref_local'));
});

test('export --format pytorch then import: the same tensors and config; opt.txt records the architecture', async () => {
  const folder = temporaryFolder('export');
  try {
    const original = join(folder.path, 'local.safetensors');
    await importReferenceCheckpoint({ netG: join(FIXTURES, 'ref_local', 'latest_net_G.pth'), ...files('ref_local', ['D', 'E']), opt: join(FIXTURES, 'ref_local', 'opt.txt') }, original);
    const outDir = join(folder.path, 'exported');
    const exported = await exportReferenceCheckpoint(original, outDir);
    assert.deepEqual(exported.files.map((file) => file.slice(outDir.length + 1)), ['latest_net_G.pth', 'latest_net_D.pth', 'latest_net_E.pth', 'opt.txt']);
    assert.ok(exported.flags.join(' ').includes('--netG local --ngf 4'));
    // The .pth files hold the reference's own key names and order.
    const g = await readPth(join(outDir, 'latest_net_G.pth'));
    assert.deepEqual([...g.tensors.keys()], Object.keys(expectedOf('ref_local')['G']!));
    const back = await readReferenceCheckpoint({ netG: join(outDir, 'latest_net_G.pth'), netD: join(outDir, 'latest_net_D.pth'), netE: join(outDir, 'latest_net_E.pth'), opt: join(outDir, 'opt.txt') });
    const first = await readCheckpoint(original);
    assert.deepEqual(back.checkpoint.meta.config, first.meta.config);
    assert.deepEqual([...back.checkpoint.tensors.keys()], [...first.tensors.keys()]);
    for (const [key, tensor] of first.tensors) {
      assert.deepEqual(back.checkpoint.tensors.get(key)!.shape, tensor.shape, key);
      assert.deepEqual(values(back.checkpoint.tensors.get(key)), values(tensor), key);
    }
  } finally {
    folder.remove();
  }
});

test('a two-line opt.txt settles what shapes cannot show; the rest comes from the shapes, said so', async () => {
  const folder = temporaryFolder('import-partial');
  try {
    const opt = join(folder.path, 'opt.txt');
    writeFileSync(opt, 'label_nc: 5\nno_instance: True\n');
    const imported = await readReferenceCheckpoint({ netG: join(FIXTURES, 'ref_global', 'latest_net_G.pth'), opt });
    assert.deepEqual(imported.checkpoint.meta.config, resolveConfig({ label_nc: 5, instance: false, ngf: 4, n_downsample_global: 1, n_blocks_global: 1 }));
    assert.match(imported.notes[0]!, /opt\.txt lacks netG, ngf, n_downsample_global, n_blocks_global, norm, output_nc: taken from the tensor shapes/);
  } finally {
    folder.remove();
  }
});

test('an opt.txt that does not fit the tensors: exit 3 naming the tensor and both shapes', async () => {
  const folder = temporaryFolder('import-misfit');
  try {
    const opt = join(folder.path, 'opt.txt');
    writeFileSync(opt, readFileSync(join(FIXTURES, 'ref_global', 'opt.txt'), 'utf8').replace('ngf: 4', 'ngf: 8'));
    const netG = join(FIXTURES, 'ref_global', 'latest_net_G.pth');
    await assert.rejects(readReferenceCheckpoint({ netG, opt }), (e: unknown) =>
      e instanceof InputError && e.message.startsWith(`${netG}: tensor "model.1.weight" has shape [4, 5, 7, 7], the architecture in ${opt} needs [8, 5, 7, 7]`));
    // A D given as G: its keys are not a generator's.
    await assert.rejects(readReferenceCheckpoint({ netG: join(FIXTURES, 'ref_global', 'latest_net_D.pth') }), InputError);
  } finally {
    folder.remove();
  }
});

test('train --init latest_net_G.pth: the opt.txt and D beside it are read; label_nc and instance from the samples when there is no opt.txt', async () => {
  const lines: string[] = [];
  const checkpoint = await readInitCheckpoint(join(FIXTURES, 'ref_global', 'latest_net_G.pth'), { label_nc: 4, instance: true }, (line) => lines.push(line));
  assert.deepEqual(checkpoint.networks, ['G', 'D']);
  assert.match(lines[0]!, /also read .*latest_net_D\.pth, .*opt\.txt from beside it/);
  const folder = temporaryFolder('init-pth');
  try {
    const alone = join(folder.path, 'g.pth');
    copyFileSync(join(FIXTURES, 'ref_global', 'latest_net_G.pth'), alone);
    // The generator's 5 input channels: label_nc 5 without instance maps, as the samples say.
    const inferred = await readInitCheckpoint(alone, { instance: false }, () => undefined);
    assert.equal(inferred.meta.config.label_nc, 5);
    assert.equal(inferred.meta.config.instance, false);
    assert.deepEqual(inferred.networks, ['G']);
  } finally {
    folder.remove();
  }
});

test('CLI: import and export exit codes', () => {
  const folder = temporaryFolder('interop-cli');
  try {
    const out = join(folder.path, 'g.safetensors');
    const ok = runCliSync(['import', '--netG', join(FIXTURES, 'ref_global', 'latest_net_G.pth'), '--opt', join(FIXTURES, 'ref_global', 'opt.txt'), '--out', out, '--json']);
    assert.equal(ok.status, ExitCode.ok, ok.stderr);
    assert.equal((JSON.parse(ok.stdout) as { stage: string }).stage, 'global');
    assert.equal(runCliSync(['export', out, '--out', join(folder.path, 'x')]).status, ExitCode.usage);
    assert.equal(runCliSync(['export', out, '--format', 'pytorch', '--network', 'E', '--out', join(folder.path, 'x')]).status, ExitCode.usage);
    assert.equal(runCliSync(['export', out, '--format', 'tflite', '--out', join(folder.path, 'x')]).status, ExitCode.usage);
    const exported = runCliSync(['export', out, '--format', 'pytorch', '--out', join(folder.path, 'x')]);
    assert.equal(exported.status, ExitCode.ok, exported.stderr);
    assert.match(exported.stderr, /test\.py rebuilds these networks with: --label_nc 4 --netG global --ngf 4/);
    const netG = join(FIXTURES, 'ref_global', 'latest_net_G.pth');
    const overwrite = runCliSync(['import', '--netG', netG, '--out', `${FIXTURES}/ref_global/../ref_global/latest_net_G.pth`]);
    assert.equal(overwrite.status, ExitCode.usage);
    assert.match(overwrite.stderr, /is the same file as .*an input \(--netG /);
    const missing = runCliSync(['import', '--netG', join(folder.path, 'none.pth'), '--out', join(folder.path, 'y.safetensors')]);
    assert.equal(missing.status, ExitCode.badInput);
    assert.match(missing.stderr, /none\.pth: no such file/);
  } finally {
    folder.remove();
  }
});
