/**
 * The run folder's lock: a live holder is refused naming it (exit 2), a
 * lock whose process is gone is taken over, and unlock removes it.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { ExitCode, InputError, UsageError } from '../../src/errors.js';
import { RunFolder, StepLog } from '../../src/train/runFolder.js';
import { temporaryFolder } from '../support/cli.js';

function writeLock(dir: string, pid: number, host = hostname()): void {
  writeFileSync(join(dir, '.p2phd-lock'), JSON.stringify({ pid, host, started: -1, since: '2026-01-01T00:00:00.000Z' }));
}

describe('run folder lock', () => {
  it('refuses a live holder naming it, takes over a dead one, and unlock removes it', async () => {
    const folder = temporaryFolder('lock');
    const holder = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      const run = new RunFolder(join(folder.path, 'run'));
      await run.lock({ create: true });
      const ours = JSON.parse(readFileSync(run.lockFile, 'utf8')) as { pid: number; host: string };
      assert.deepEqual([ours.pid, ours.host], [process.pid, hostname()]);
      await run.unlock();
      assert.equal(existsSync(run.lockFile), false);

      writeLock(run.dir, holder.pid!);
      await assert.rejects(run.lock({ create: true }), (error: unknown) =>
        error instanceof UsageError && error.exitCode === ExitCode.usage && error.message.includes(`process ${holder.pid} on ${hostname()}`));
      // Another host's lock cannot be checked: it is held while its heartbeat is recent, and the message says how to clear it.
      writeLock(run.dir, holder.pid!, 'another-node');
      await assert.rejects(run.lock({ create: true }), /another-node.*delete .*\.p2phd-lock/);
      // Untouched for 20 minutes: its job is gone (killed on one node, requeued on another).
      const old = new Date(Date.now() - 20 * 60_000);
      utimesSync(run.lockFile, old, old);
      await run.lock({ create: true });
      await run.unlock();

      const dead = spawnSync('true').pid;
      writeLock(run.dir, dead);
      await run.lock({ create: true });
      assert.equal((JSON.parse(readFileSync(run.lockFile, 'utf8')) as { pid: number }).pid, process.pid);
      await run.unlock();

      writeFileSync(run.lockFile, '{"pid": 12'); // torn by a crash: stale
      await run.lock({ create: true });
      await run.unlock();
    } finally {
      holder.kill();
      folder.remove();
    }
  });

  it('--resume of a folder that does not exist creates nothing', async () => {
    const folder = temporaryFolder('lock-missing');
    try {
      const run = new RunFolder(join(folder.path, 'missing'));
      await assert.rejects(run.lock({ create: false }), /--resume: .*missing does not exist/);
      assert.equal(existsSync(run.dir), false);
    } finally {
      folder.remove();
    }
  });

  it('a full disk while appending to log.jsonl is one line naming it (exit 3), not a trace', async () => {
    const folder = temporaryFolder('fulllog');
    try {
      const path = join(folder.path, 'log.jsonl');
      symlinkSync('/dev/full', path);
      const log = await StepLog.open(path, undefined);
      try {
        await assert.rejects(log.append({ epoch: 1, step: 1, lr: 0.1, seconds: 1 }), (error: unknown) =>
          error instanceof InputError && error.exitCode === ExitCode.badInput && error.message === `cannot write ${path}: no space left on the device`);
      } finally {
        await log.close();
      }
    } finally {
      folder.remove();
    }
  });

  it('--resume accepts a folder whose first save was cut between its renames', async () => {
    const folder = temporaryFolder('firstsave');
    try {
      const run = new RunFolder(folder.path);
      writeFileSync(join(folder.path, 'options.json'), '{}');
      writeFileSync(run.optimizer('latest'), 'x');
      await assert.rejects(run.prepareResume(), /nothing to resume/);
      writeFileSync(`${run.checkpoint('latest')}.pending`, 'x');
      await run.prepareResume();
      assert.equal(await run.holdsCheckpoint(), 'latest.optim.safetensors');
    } finally {
      folder.remove();
    }
  });
});
