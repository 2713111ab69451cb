/**
 * The recipes of issue 16 end to end, on the fixtures' tiny samples (each
 * run a few steps), in this process (runTraining and the stages with the
 * command's flag parsing; a child process per run would cost seconds each): growing a local model by an enhancer with
 * --niter-fix-global and --max-dataset-size; extending a finished run on
 * --resume from a moved data folder, and refusing a changed sample;
 * --label-feat through train, encode, cluster, synthesize; encode --maps and
 * train local --load-features.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cp, open, readdir, readFile, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Command } from 'commander';
import { initBackend, type BackendInfo } from '../../src/backend/index.js';
import { P2phdError } from '../../src/errors.js';
import type { Logger } from '../../src/log.js';
import { readFeaturesFile } from '../../src/data/files/features.js';
import { isStage } from '../../src/families/pix2pixhd/stages.js';
import { runClusterStage } from '../../src/synthesis/clusterStage.js';
import { runEncodeStage } from '../../src/synthesis/encodeStage.js';
import { runSynthesizeStage } from '../../src/synthesis/synthesizeStage.js';
import { TRAIN_FLAGS, trainOptions, type TrainFlagName, type TrainFlagValues } from '../../src/train/flags.js';
import { runTraining } from '../../src/train/trainer.js';
import { fileContents, useFixtureSamples, logLines, TINY } from './cli.js';

let backend: BackendInfo | undefined;

/** `p2phd train STAGE ARGS` in this process: exit status and the logged lines, as the CLI would give them. */
async function runCli(argv: readonly string[]): Promise<{ status: number; stderr: string }> {
  const [, stage, ...args] = argv;
  if (!isStage(stage)) throw new Error(`not a train stage: ${String(stage)}`);
  const command = new Command('t').exitOverride();
  for (const option of trainOptions()) command.addOption(option);
  command.option('--seed <n>').option('--backend <name>');
  command.parse(args.filter((arg) => arg !== '--backend' && arg !== 'wasm'), { from: 'user' });
  const values = command.opts() as TrainFlagValues & { seed?: string };
  const explicit = new Set((Object.keys(TRAIN_FLAGS) as TrainFlagName[]).filter((name) => command.getOptionValueSource(name) === 'cli'));
  const lines: string[] = [];
  const log: Logger = { verbose: false, info: (line) => lines.push(line), warn: (line) => lines.push(`warning: ${line}`), debug: () => undefined };
  try {
    await runTraining({
      stage,
      values,
      explicit,
      seed: Number(values.seed ?? 0),
      seedExplicit: values.seed !== undefined,
      log,
      useBackend: async () => (backend ??= await initBackend('wasm', { log: () => undefined })),
    });
    return { status: 0, stderr: lines.join('\n') };
  } catch (error) {
    if (!(error instanceof P2phdError)) throw error;
    return { status: error.exitCode, stderr: `${lines.join('\n')}\np2phd: ${error.message}` };
  }
}

const quiet: Logger = { verbose: false, info: () => undefined, warn: () => undefined, debug: () => undefined };

describe('train recipes through the CLI', () => {
  const fixture = useFixtureSamples();

  it('grows a local model by an enhancer: only the new one trains for --niter-fix-global epochs, then all of G', async () => {
    const seed = ['--seed', '3', '--backend', 'wasm', '--sample-every', '100'];
    const global = join(fixture.root, 'g');
    const local1 = join(fixture.root, 'l1');
    const local2 = join(fixture.root, 'l2');
    assert.equal((await runCli(['train', 'global', '--data', fixture.samples, '--out', global, ...TINY, ...seed, '--max-steps', '1'])).status, 0);
    const l1 = await runCli(['train', 'local', '--data', fixture.samples, '--out', local1, '--init', global, '--n-blocks-local', '1', ...seed, '--max-steps', '1']);
    assert.equal(l1.status, 0, l1.stderr);
    const l2 = await runCli([
      'train', 'local', '--data', fixture.samples, '--out', local2, '--init', local1, '--n-local-enhancers', '2',
      '--niter-fix-global', '1', '--epochs', '2', '--decay-epochs', '0', '--max-dataset-size', '1', '--save-epoch-every', '1', ...seed,
    ]);
    assert.equal(l2.status, 0, l2.stderr);
    assert.match(l2.stderr, /freshly initialised 12 \(G 12\)/, 'only the new enhancer model2_* starts fresh');

    const lines = await logLines(join(local2, 'log.jsonl'));
    assert.deepEqual(lines.map((line) => line['epoch']), [1, 2], '--max-dataset-size 1: one step per epoch');
    const options = JSON.parse(await readFile(join(local2, 'options.json'), 'utf8')) as { data: { samples: number } };
    assert.equal(options.data.samples, 1);

    const before = await fileContents(join(local1, 'latest.safetensors'));
    const epoch1 = await fileContents(join(local2, 'epoch_001.safetensors'));
    const epoch2 = await fileContents(join(local2, 'epoch_002.safetensors'));
    assert.equal((epoch1.meta['config'] as { ngf: number }).ngf, 2);
    const keys = (pattern: RegExp): string[] => [...epoch1.tensors.keys()].filter((key) => pattern.test(key) && key.endsWith('.weight'));
    for (const key of [...keys(/^G\.model\./), ...keys(/^G\.model1_/)]) {
      assert.ok(epoch1.tensors.get(key)!.equals(before.tensors.get(key)!), `epoch 1 changed ${key}, which --niter-fix-global keeps fixed`);
    }
    for (const pattern of [/^G\.model\./, /^G\.model1_/, /^G\.model2_/]) {
      assert.ok(keys(pattern).some((key) => !epoch2.tensors.get(key)!.equals(epoch1.tensors.get(key)!)), `epoch 2 trains ${pattern}`);
    }

    // Stopped at the switch (end of epoch 1) and resumed: bit-identical to the run above.
    const stopped = join(fixture.root, 'l2-stopped');
    const growArgs = ['--init', local1, '--n-local-enhancers', '2', '--niter-fix-global', '1', '--epochs', '2', '--decay-epochs', '0', '--max-dataset-size', '1', ...seed];
    assert.equal((await runCli(['train', 'local', '--data', fixture.samples, '--out', stopped, ...growArgs, '--max-steps', '1'])).status, 0);
    const resumed = await runCli(['train', 'local', '--data', fixture.samples, '--out', stopped, '--resume', '--backend', 'wasm']);
    assert.equal(resumed.status, 0, resumed.stderr);
    const uninterrupted = await fileContents(join(local2, 'latest.safetensors'));
    const continued = await fileContents(join(stopped, 'latest.safetensors'));
    for (const [key, bytes] of uninterrupted.tensors) assert.ok(bytes.equals(continued.tensors.get(key)!), `resumed at the switch: ${key} differs`);
  });

  it('extends a finished run on --resume (lr by hand), from a moved data folder; a changed sample is refused', async () => {
    const run = join(fixture.root, 'extend');
    const common = ['--seed', '4', '--backend', 'wasm', '--sample-every', '100'];
    const first = await runCli(['train', 'global', '--data', fixture.samples, '--out', run, ...TINY, ...common, '--epochs', '1', '--decay-epochs', '1', '--max-dataset-size', '1']);
    assert.equal(first.status, 0, first.stderr);
    const moved = join(fixture.root, 'moved-samples');
    await cp(fixture.samples, moved, { recursive: true });

    const shorter = await runCli(['train', 'global', '--data', moved, '--out', run, '--resume', '--backend', 'wasm', '--epochs', '1', '--decay-epochs', '0']);
    assert.equal(shorter.status, 2, shorter.stderr);
    assert.match(shorter.stderr, /already finished 2/);

    const longer = await runCli(['train', 'global', '--data', moved, '--out', run, '--resume', '--backend', 'wasm', '--decay-epochs', '3']);
    assert.equal(longer.status, 0, longer.stderr);
    const lr = 0.0002;
    const lines = await logLines(join(run, 'log.jsonl'));
    // 1 + 3 from the start: epochs 1-2 at lr, epoch 3 at lr - lr/3, epoch 4 at lr - 2 lr/3.
    assert.deepEqual(lines.map((line) => [line['epoch'], line['lr']]), [[1, lr], [2, lr], [3, lr - lr / 3], [4, lr - lr / 3 - lr / 3]]);
    const options = JSON.parse(await readFile(join(run, 'options.json'), 'utf8')) as { settings: { decayEpochs: number } };
    assert.equal(options.settings.decayEpochs, 3, 'options.json records the extended schedule');

    // A plain --resume of the finished, extended run has nothing left to do.
    const again = await runCli(['train', 'global', '--data', moved, '--out', run, '--resume', '--backend', 'wasm']);
    assert.equal(again.status, 0, again.stderr);
    assert.equal((await logLines(join(run, 'log.jsonl'))).length, 4);

    // One byte of the first sample's photo changed (the last byte of the file).
    const firstSample = join(moved, (await readdir(moved)).filter((name) => name.endsWith('.safetensors')).sort()[0]!);
    const handle = await open(firstSample, 'r+');
    const size = (await stat(firstSample)).size;
    const byte = Buffer.alloc(1);
    await handle.read(byte, 0, 1, size - 1);
    byte[0] = byte[0]! ^ 1;
    await handle.write(byte, 0, 1, size - 1);
    await handle.close();
    const changed = await runCli(['train', 'global', '--data', moved, '--out', run, '--resume', '--backend', 'wasm', '--decay-epochs', '4']);
    assert.equal(changed.status, 3, changed.stderr);
    assert.match(changed.stderr, /names or contents differ/);
  });

  it('a schedule changed mid-epoch applies from the next epoch boundary (lr by hand)', async () => {
    const run = join(fixture.root, 'mid-epoch');
    const common = ['--seed', '2', '--backend', 'wasm', '--sample-every', '100'];
    // 2 steps per epoch; stopped after step 5, mid-way through epoch 3 of 1 + 3.
    const first = await runCli(['train', 'global', '--data', fixture.samples, '--out', run, ...TINY, ...common, '--epochs', '1', '--decay-epochs', '3', '--max-dataset-size', '2', '--max-steps', '5']);
    assert.equal(first.status, 0, first.stderr);
    const resumed = await runCli(['train', 'global', '--data', fixture.samples, '--out', run, '--resume', '--backend', 'wasm', '--decay-epochs', '5', '--max-steps', '7']);
    assert.equal(resumed.status, 0, resumed.stderr);
    const lr = 0.0002;
    const rates = (await logLines(join(run, 'log.jsonl'))).map((line) => line['lr']);
    // Epoch 3 keeps 1 + 3's lr - lr/3 for its last step; epoch 4 gets 1 + 5's lr - 2 lr/5.
    assert.deepEqual(rates.slice(4), [lr - lr / 3, lr - lr / 3, lr - lr / 5 - lr / 5]);
  });

  it('--label-feat through train, encode, cluster and synthesize; encode --maps feeds train local --load-features', async () => {
    const run = join(fixture.root, 'labelfeat');
    const common = ['--seed', '5', '--backend', 'wasm'];
    const train = await runCli(['train', 'global', '--data', fixture.samples, '--out', run, ...TINY, ...common, '--label-feat', '--nef', '4', '--n-downsample-e', '2', '--max-steps', '1']);
    assert.equal(train.status, 0, train.stderr);
    const config = (await fileContents(join(run, 'latest.safetensors'))).meta['config'] as Record<string, unknown>;
    assert.equal(config['label_feat'], true);
    assert.equal(config['instance_feat'], true);

    const features = join(fixture.root, 'labelfeat.safetensors');
    const maps = join(fixture.root, 'maps');
    await runEncodeStage({ data: fixture.samples, checkpoint: run, out: features, maps, shard: { index: 0, count: 12 } }, quiet);
    const table = await readFeaturesFile(features);
    // Per label: every row's "instance" is a label id and its own class.
    assert.deepEqual([...table.instances], [...table.classes]);
    assert.ok(table.classes.every((label) => label < 35));
    const clusters = join(fixture.root, 'labelfeat-clusters.safetensors');
    await runClusterStage({ features: [features], out: clusters, k: 2, minArea: 0, seed: 5 }, quiet);
    await runSynthesizeStage({ checkpoint: run, inputs: { kind: 'samples', data: fixture.samples }, shard: { index: 0, count: 12 }, clusters, style: 'all', useEncoded: false, out: join(fixture.root, 'synth'), seed: 5 }, quiet);
    assert.ok((await readdir(join(fixture.root, 'synth'))).filter((name) => name.endsWith('.png')).length >= 2);

    // The maps of the shard's samples (0 and 12): --max-dataset-size 1 trains on sample 0 only.
    const local = join(fixture.root, 'fromMaps');
    const missing = await runCli(['train', 'local', '--data', fixture.samples, '--out', join(fixture.root, 'noMaps'), '--init', run, '--load-features', maps, '--max-dataset-size', '2', ...common, '--max-steps', '1']);
    assert.equal(missing.status, 3, missing.stderr);
    assert.match(missing.stderr, /--load-features .*no feature map for 1 of the 2 samples/);
    const fromMaps = await runCli(['train', 'local', '--data', fixture.samples, '--out', local, '--init', run, '--load-features', maps, '--max-dataset-size', '1', '--n-blocks-local', '1', ...common, '--max-steps', '1']);
    assert.equal(fromMaps.status, 0, fromMaps.stderr);
    const saved = await fileContents(join(local, 'latest.safetensors'));
    assert.ok(![...saved.tensors.keys()].some((key) => key.startsWith('E.')), 'E neither runs nor is saved with --load-features');

    // The maps are read, not E: a corrupt one stops the run naming it.
    const mapFile = join(maps, (await readdir(maps)).sort()[0]!);
    await rename(mapFile, `${mapFile}.bak`);
    await (await open(mapFile, 'w')).close();
    const corrupt = await runCli(['train', 'local', '--data', fixture.samples, '--out', join(fixture.root, 'corrupt'), '--init', run, '--load-features', maps, '--max-dataset-size', '1', ...common, '--max-steps', '1']);
    assert.equal(corrupt.status, 3, corrupt.stderr);
    assert.ok(corrupt.stderr.includes(mapFile), corrupt.stderr);
    await unlink(mapFile);
  });
});
