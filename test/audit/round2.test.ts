/**
 * The second hostile audit (issue 25, items 1-14): damaged run state,
 * hostile files, careless commands. Each case gives the contract's exit
 * code, one line naming the file or flag and the problem, no stack trace,
 * and loses nothing that was good before.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, cpSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { CLI, FIXTURES_DIR, filesBelow, runCliSync, startCli, temporaryFolder, type CliResult } from '../support/cli.js';
import { checkFailure, expectFailure, literal } from '../support/audit.js';
import { parseSafetensors, serializeSafetensors } from '../../src/data/formats/safetensors.js';
import { readFeaturesFile, writeFeaturesFile } from '../../src/data/files/features.js';
import { writeClustersFile } from '../../src/data/files/clusters.js';

/** The flags of a tiny global run (seconds per step on wasm). */
export const TINY = ['--ngf', '4', '--n-downsample-global', '2', '--n-blocks-global', '1', '--ndf', '4', '--n-layers-d', '1', '--num-d', '1', '--seed', '1', '--backend', 'wasm'];

/** An encoder for the run (features for encode and cluster). */
const WITH_E = ['--instance-feat', '--nef', '4', '--n-downsample-e', '2'];

/** Runs `p2phd ...args` with stdout on /dev/full. */
function toFullStdout(args: string[]): CliResult {
  const full = openSync('/dev/full', 'w');
  try {
    const result = spawnSync(process.execPath, [CLI, ...args], { stdio: ['ignore', full, 'pipe'], encoding: 'utf8', timeout: 120_000, env: { ...process.env, P2PHD_WASM_THREADS: '1' } });
    return { status: result.status, stdout: '', stderr: result.stderr };
  } finally {
    closeSync(full);
  }
}

describe('audit round 2: run state', () => {
  const work = temporaryFolder('audit2');
  const samples = join(work.path, 'samples');
  const run = join(work.path, 'run');
  const featuresFolder = join(work.path, 'feats');
  const features = join(featuresFolder, 'features.safetensors');

  before(() => {
    const pre = runCliSync(['preprocess', '--labels', join(FIXTURES_DIR, 'train_label'), '--instances', join(FIXTURES_DIR, 'train_inst'),
      '--images', join(FIXTURES_DIR, 'train_img'), '--label-nc', '35', '--resize-or-crop', 'scale_width', '--load-size', '32',
      '--shard', '0/12', '--out', samples]);
    assert.equal(pre.status, 0, pre.stderr);
    const train = runCliSync(['train', 'global', '--data', samples, '--out', run, ...TINY, ...WITH_E, '--max-steps', '1']);
    assert.equal(train.status, 0, train.stderr);
    mkdirSync(featuresFolder);
    const encode = runCliSync(['encode', '--checkpoint', run, '--data', samples, '--out', features, '--backend', 'wasm']);
    assert.equal(encode.status, 0, encode.stderr);
  });
  after(() => work.remove());

  test('1. a NaN or Inf Adam moment is refused on --resume; the good checkpoint stays', () => {
    for (const [moment, value] of [['exp_avg', NaN], ['exp_avg_sq', Infinity], ['exp_avg_sq', -1]] as const) {
      const copy = join(work.path, `poisoned-${moment}-${value}`);
      cpSync(run, copy, { recursive: true });
      const optimizerPath = join(copy, 'latest.optim.safetensors');
      const file = parseSafetensors(readFileSync(optimizerPath), optimizerPath);
      const name = [...file.tensors.keys()].find((key) => key.endsWith(`.${moment}`))!;
      (file.tensors.get(name)!.data as Float32Array)[0] = value;
      writeFileSync(optimizerPath, serializeSafetensors(file.tensors, file.metadata));
      const good = readFileSync(join(copy, 'latest.safetensors'));
      expectFailure(['train', 'global', '--data', samples, '--out', copy, '--resume', '--max-steps', '2'], 3, [/latest\.optim\.safetensors/, new RegExp(name.replace(/\./g, '\\.'))]);
      assert.ok(readFileSync(join(copy, 'latest.safetensors')).equals(good), 'the last good checkpoint is untouched');
    }
  });

  test('1. weights that became non-finite are never saved, and no poisoned file is called "last good" (exit 4: training diverged)', () => {
    const out = join(work.path, 'diverged');
    // A learning rate past float32's range: the first update turns weights into -Inf while step 1's losses are finite.
    const line = expectFailure(['train', 'global', '--data', samples, '--out', out, ...TINY, '--max-steps', '1', '--lr', '1e39'], 4, [/not finite/, /No checkpoint was saved yet/]);
    assert.doesNotMatch(line, /last good/);
    assert.throws(() => readFileSync(join(out, 'latest.safetensors')), /ENOENT/);
    // A good save first (step 1, weights ~1e30 are finite), then step 2 diverges: the message names that save, which holds finite values.
    const later = join(work.path, 'diverged-later');
    expectFailure(['train', 'global', '--data', samples, '--out', later, ...TINY, '--max-steps', '3', '--save-every', '1', '--lr', '1e30'], 4, [/last good checkpoint is .*latest\.safetensors \(step 1\)/]);
    for (const name of ['latest.safetensors', 'latest.optim.safetensors']) {
      const file = parseSafetensors(readFileSync(join(later, name)), name);
      for (const [key, tensor] of file.tensors) {
        if (tensor.data instanceof Float32Array) assert.ok(tensor.data.every(Number.isFinite), `${name}: ${key} is finite`);
      }
    }
  });

  test('2. the run folder deleted while training: one line, exit 3, and the process ends', async () => {
    const out = join(work.path, 'deleted');
    const { child, done } = startCli(['train', 'global', '--data', samples, '--out', out, ...TINY, '--max-steps', '200', '--sample-every', '1', '--save-every', '2']);
    const log = join(out, 'log.jsonl');
    while (!(existsSync(log) && readFileSync(log, 'utf8').length > 0)) await new Promise((resolve) => setTimeout(resolve, 50));
    rmSync(out, { recursive: true, force: true });
    // Before the fix the process never ended: give it a minute, then fail.
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    const result = await done;
    clearTimeout(timer);
    checkFailure(result, 'train with its folder deleted', 3, [/deleted or moved/, literal(out)]);
  });

  test('13. a torn options.json on --resume is a damaged input: exit 3', () => {
    const copy = join(work.path, 'torn-options');
    cpSync(run, copy, { recursive: true });
    const options = readFileSync(join(copy, 'options.json'), 'utf8');
    writeFileSync(join(copy, 'options.json'), options.slice(0, Math.floor(options.length / 2)));
    expectFailure(['train', 'global', '--data', samples, '--out', copy, '--resume', '--max-steps', '2'], 3, [/options\.json/, /not valid JSON/]);
    writeFileSync(join(copy, 'options.json'), JSON.stringify({ ...(JSON.parse(options) as object), stage: 'sideways' }));
    expectFailure(['train', 'global', '--data', samples, '--out', copy, '--resume', '--max-steps', '2'], 3, [/options\.json/, /stage/]);
  });

  test('3. a FIFO given as a checkpoint is refused at once, not waited on', () => {
    const fifo = join(work.path, 'pipe.safetensors');
    execFileSync('mkfifo', [fifo]);
    const cases: string[][] = [
      ['inspect', fifo],
      ['synthesize', '--checkpoint', fifo, '--labels', join(FIXTURES_DIR, 'test_label'), '--out', join(work.path, 'fifo-out'), '--backend', 'wasm'],
      ['encode', '--checkpoint', fifo, '--data', samples, '--out', join(work.path, 'fifo-features.safetensors'), '--backend', 'wasm'],
      ['train', 'global', '--data', samples, '--out', join(work.path, 'fifo-run'), '--init', fifo, ...TINY],
    ];
    for (const args of cases) {
      // Before the fix each of these waited for a writer for ever (the timeout kills it: status null).
      const result = runCliSync(args, { timeoutMs: 30_000 });
      checkFailure(result, `p2phd ${args.join(' ')}`, 3, [/pipe\.safetensors/, /FIFO|not a regular file/]);
    }
  });

  test('8. a full stdout is one line and exit 3 (inspect, encode --out -, cluster --out -)', () => {
    const cases: string[][] = [
      ['inspect', join(run, 'latest.safetensors')],
      ['encode', '--checkpoint', run, '--data', samples, '--out', '-', '--backend', 'wasm'],
      ['cluster', '--features', features, '--k', '2', '--out', '-', '--backend', 'wasm'],
    ];
    for (const args of cases) checkFailure(toFullStdout(args), `p2phd ${args.join(' ')} > /dev/full`, 3, [/cannot write to stdout: no space left/]);
  });

  test('13. features files of different feat_num are a damaged input: exit 3', async () => {
    const other = join(work.path, 'other-width.safetensors');
    const table = await readFeaturesFile(features);
    const width = table.featNum + 2;
    const rows = table.classes.length;
    await writeFeaturesFile(other, { ...table, featNum: width, features: new Float32Array(rows * width) });
    expectFailure(['cluster', '--features', features, other, '--k', '2', '--out', join(work.path, 'c13.safetensors')], 3, [/other-width\.safetensors has feat_num/]);
  });

  test('14. the same features file given twice is read once, with a warning', () => {
    const once = runCliSync(['cluster', '--features', features, '--k', '2', '--out', join(work.path, 'c-once.safetensors'), '--json', '--seed', '1']);
    assert.equal(once.status, 0, once.stderr);
    const twice = runCliSync(['cluster', '--features', features, features, featuresFolder, '--k', '2', '--out', join(work.path, 'c-twice.safetensors'), '--json', '--seed', '1']);
    assert.equal(twice.status, 0, twice.stderr);
    assert.match(twice.stderr, /features\.safetensors is the same file as .*features\.safetensors, given before; its rows are counted once/);
    const rows = (result: CliResult): number => (JSON.parse(result.stdout) as { rows: number }).rows;
    assert.equal(rows(twice), rows(once));
    assert.ok(readFileSync(join(work.path, 'c-twice.safetensors')).equals(readFileSync(join(work.path, 'c-once.safetensors'))), 'the same clusters');
  });

  test('14. a clusters file with classes the model does not have is refused (exit 3)', async () => {
    const clusters = join(work.path, 'foreign-clusters.safetensors');
    const featNum = (await readFeaturesFile(features)).featNum;
    await writeClustersFile(clusters, { featNum, centers: new Map([[7, { count: 1, values: new Float32Array(featNum) }], [99, { count: 1, values: new Float32Array(featNum) }]]), k: 1, minArea: 0, seed: 1 });
    expectFailure(['synthesize', '--checkpoint', run, '--clusters', clusters, '--labels', join(FIXTURES_DIR, 'test_label'), '--out', join(work.path, 'images14'), '--backend', 'wasm'], 3,
      [/foreign-clusters\.safetensors: holds centres for class 99/, /35 labels/]);
  });

  test('7. temporaries a killed run left are removed: strip temps under samples/ on --resume, a killed first save on a fresh start', () => {
    // The pid of a process that has ended: its temporaries are stale.
    const dead = spawnSync('true').pid!;
    const copy = join(work.path, 'stale-temps');
    cpSync(run, copy, { recursive: true });
    const stripTemp = join(copy, 'samples', `.e001_s00002.png.${dead}.0badf00d.tmp`);
    writeFileSync(stripTemp, 'half a strip');
    const resumed = runCliSync(['train', 'global', '--data', samples, '--out', copy, '--resume', '--max-steps', '2']);
    assert.equal(resumed.status, 0, resumed.stderr);
    assert.equal(existsSync(stripTemp), false, 'the strip temporary under samples/ is removed on --resume');

    const fresh = join(work.path, 'killed-first-save');
    mkdirSync(fresh);
    const pendingTemp = join(fresh, `.latest.safetensors.pending.${dead}.0badf00d.tmp`);
    writeFileSync(pendingTemp, 'half a checkpoint');
    const started = runCliSync(['train', 'global', '--data', samples, '--out', fresh, ...TINY, '--max-steps', '1']);
    assert.equal(started.status, 0, started.stderr);
    assert.deepEqual(filesBelow(fresh).filter((name) => name.endsWith('.tmp')), []);
  });

  test('11. tensorboard/ replaced by a file: one line naming it on --resume (exit 2, as for samples/)', () => {
    const copy = join(work.path, 'tensorboard-file');
    cpSync(run, copy, { recursive: true });
    rmSync(join(copy, 'tensorboard'), { recursive: true });
    writeFileSync(join(copy, 'tensorboard'), 'not a folder');
    expectFailure(['train', 'global', '--data', samples, '--out', copy, '--resume', '--max-steps', '2'], 2, [/tensorboard/, /a file is in the way/]);
  });
});

