/**
 * Unattended safety through the real command: a run stopped by SIGTERM
 * (exit 75) and resumed ends bit-equal to an uninterrupted run; a folder
 * that holds a checkpoint is refused without --resume (exit 2); --resume
 * with a changed architecture flag is refused; --time-limit stops with 75.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { fileContents, useFixtureSamples, logLines, runCli, startCli, TINY } from './cli.js';
import { readEventsFolder } from '../support/tfevents.js';

const STEPS = 8;

describe('train: stop, resume, refuse', () => {
  const fixture = useFixtureSamples();

  const common = (out: string, limit: string[] = ['--max-steps', String(STEPS)]): string[] => [
    'train', 'global', '--data', fixture.samples, '--out', out, ...TINY,
    '--seed', '7', '--pool-size', '2', '--instance-feat', '--nef', '4', '--n-downsample-e', '1',
    '--save-every', '3', '--sample-every', '100', ...limit,
  ];

  it('SIGTERM (exit 75) then --resume ends bit-equal to an uninterrupted run', async () => {
    const straight = join(fixture.root, 'straight');
    const interrupted = join(fixture.root, 'interrupted');
    const uninterrupted = await runCli(common(straight));
    assert.equal(uninterrupted.status, 0, uninterrupted.stderr);

    const { child, done } = startCli(common(interrupted));
    // Signal once half of the steps are logged; the step in flight finishes first.
    while ((await logLines(join(interrupted, 'log.jsonl'))).length < STEPS / 2) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    child.kill('SIGTERM');
    const stopped = await done;
    assert.equal(stopped.status, 75, stopped.stderr);
    assert.match(stopped.stderr, /SIGTERM/);
    const stoppedAt = (await fileContents(join(interrupted, 'latest.safetensors'))).meta['step'] as number;
    assert.ok(stoppedAt >= STEPS / 2 && stoppedAt < STEPS, `stopped at step ${stoppedAt}`);

    const refused = await runCli(common(interrupted));
    assert.equal(refused.status, 2, 'a folder holding a checkpoint is refused without --resume');
    assert.match(refused.stderr, /--resume/);

    const changed = await runCli([...common(interrupted), '--resume', '--ndf', '16']);
    assert.equal(changed.status, 2, 'a resumed run keeps its architecture');

    const resumed = await runCli([...common(interrupted), '--resume']);
    assert.equal(resumed.status, 0, resumed.stderr);

    for (const name of ['latest.safetensors', 'latest.optim.safetensors']) {
      const expected = await fileContents(join(straight, name));
      const actual = await fileContents(join(interrupted, name));
      assert.deepEqual(actual.meta, expected.meta, `${name} metadata`);
      assert.deepEqual([...actual.tensors.keys()], [...expected.tensors.keys()], `${name} tensor names`);
      for (const [tensor, bytes] of expected.tensors) {
        assert.ok(bytes.equals(actual.tensors.get(tensor)!), `${name}: ${tensor} differs after stop + resume`);
      }
    }
    const straightLog = await logLines(join(straight, 'log.jsonl'));
    const resumedLog = await logLines(join(interrupted, 'log.jsonl'));
    assert.deepEqual(resumedLog.map((line) => line['step']), straightLog.map((line) => line['step']));
    assert.deepEqual(resumedLog.map((line) => line['G_GAN']), straightLog.map((line) => line['G_GAN']));

    // TensorBoard: a second events file continues the first, every step once.
    const { files, events } = readEventsFolder(join(interrupted, 'tensorboard'));
    assert.equal(files.length, 2, 'one events file per process');
    const scalarEvents = events.filter((event) => event.scalars.length > 0);
    assert.deepEqual(scalarEvents.map((event) => event.step), straightLog.map((line) => line['step']));
    assert.deepEqual(scalarEvents.map((event) => event.scalars.find((scalar) => scalar.tag === 'G_GAN')!.value), straightLog.map((line) => Math.fround(line['G_GAN']!)));
  });

  it('--time-limit saves and exits 75 before the limit', async () => {
    const out = join(fixture.root, 'limited');
    const started = Date.now();
    const result = await runCli(common(out, ['--time-limit', '0.01']));
    assert.equal(result.status, 75, result.stderr);
    assert.match(result.stderr, /--time-limit/);
    assert.ok(Date.now() - started < 60_000);
    const saved = await fileContents(join(out, 'latest.safetensors'));
    assert.equal(typeof saved.meta['step'], 'number');
  });

  it('a non-finite loss stops the run naming the step and the loss, keeping the last good checkpoint', async () => {
    const out = join(fixture.root, 'diverged');
    // lr 1e30: the first Adam step moves every weight by ~1e30, the next forward overflows.
    const result = await runCli(['train', 'global', '--data', fixture.samples, '--out', out, ...TINY, '--seed', '1', '--lr', '1e30', '--save-every', '1', '--max-steps', '5']);
    assert.equal(result.status, 4, `exit 4 (training diverged), told apart from a crash's 1: ${result.stderr}`);
    assert.match(result.stderr, /step \d+ \(epoch 1\): loss \w+ is (NaN|-?Infinity)/);
    assert.doesNotMatch(result.stderr, /internal error/);
    const kept = await fileContents(join(out, 'latest.safetensors'));
    const failedAt = Number(/step (\d+) \(epoch/.exec(result.stderr)![1]);
    assert.equal(kept.meta['step'], failedAt - 1, 'latest is the last good step');
  });

  it('a second signal ends the run at once; the last saved checkpoint stays resumable', async () => {
    const out = join(fixture.root, 'twice');
    const { child, done } = startCli(common(out, ['--max-steps', '200', '--save-every', '2']));
    while ((await logLines(join(out, 'log.jsonl'))).length < 3) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    child.kill('SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 20));
    child.kill('SIGTERM');
    const killed = await done;
    // A checkpoint was saved (step 2): the second signal reaches the handler, which exits 75 at once.
    assert.equal(killed.status, 75, killed.stderr);
    assert.match(killed.stderr, /second SIGTERM/);
    assert.deepEqual(readdirSync(out).filter((name) => name.endsWith('.tmp')), [], 'no temporary file left');
    const resumed = await runCli([...common(out, ['--max-steps', '6']), '--resume']);
    assert.equal(resumed.status, 0, resumed.stderr);
    assert.equal((await fileContents(join(out, 'latest.safetensors'))).meta['step'], 6);
  });

  it('a live lock holder is exit 2 naming it (new run and --resume); a first save cut between its renames counts as a checkpoint; --resume refuses a run_id mismatch and a null options.json', async () => {
    const out = join(fixture.root, 'firstsave');
    const first = await runCli(common(out, ['--max-steps', '2']));
    assert.equal(first.status, 0, first.stderr);
    assert.deepEqual(readdirSync(out).filter((name) => /lock/.test(name)), [], 'the lock goes with its process');

    // Another process holds the folder (a stand-in that lives: sleep).
    const holder = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      writeFileSync(join(out, '.p2phd-lock'), JSON.stringify({ pid: holder.pid, host: hostname(), started: -1, since: 'now' }));
      for (const extra of [[], ['--resume']]) {
        const second = await runCli([...common(join(out)), ...extra]);
        assert.equal(second.status, 2, second.stderr);
        assert.match(second.stderr, new RegExp(`in use by p2phd process ${holder.pid}`));
      }
    } finally {
      holder.kill();
    }
    rmSync(join(out, '.p2phd-lock'));

    // What a kill between the renames of the first save leaves: the optimizer in place, the checkpoint still pending.
    renameSync(join(out, 'latest.safetensors'), join(out, 'latest.safetensors.pending'));
    const fresh = await runCli(common(out));
    assert.equal(fresh.status, 2, fresh.stderr);
    assert.match(fresh.stderr, /latest\.optim\.safetensors/);

    const options = readFileSync(join(out, 'options.json'), 'utf8');
    writeFileSync(join(out, 'options.json'), JSON.stringify({ ...(JSON.parse(options) as object), run_id: 'another0run' }));
    const mixed = await runCli([...common(out), '--resume']);
    assert.equal(mixed.status, 3, mixed.stderr);
    assert.match(mixed.stderr, /finishing an interrupted save/);
    assert.match(mixed.stderr, /another0run/);
    writeFileSync(join(out, 'options.json'), 'null\n');
    const nothing = await runCli([...common(out), '--resume']);
    // A damaged options.json is a damaged input: exit 3 (issue 25, item 13).
    assert.equal(nothing.status, 3, nothing.stderr);
    assert.match(nothing.stderr, /^p2phd: --resume: .*options\.json does not hold a JSON object/m);
    assert.doesNotMatch(nothing.stderr, /internal error/);
  });
});
