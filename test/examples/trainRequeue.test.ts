/**
 * examples/slurm/train-requeue.sh under a stand-in SLURM: SIGTERM to the
 * batch shell (what `--signal=B:TERM` does) must reach p2phd itself, which
 * saves and exits 75; the script then requeues the job with `scontrol` and
 * exits 0, leaving no p2phd process behind.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { CLI, REPO_ROOT } from '../support/cli.js';
import { useFixtureSamples, TINY } from '../train/cli.js';

const SCRIPT = join(REPO_ROOT, 'examples', 'slurm', 'train-requeue.sh');

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('examples/slurm/train-requeue.sh', () => {
  const fixture = useFixtureSamples();

  it('SIGTERM to the batch shell: p2phd saves and exits 75, the job is requeued, nothing is left running', async () => {
    const bin = join(fixture.root, 'bin');
    mkdirSync(bin);
    const calls = join(fixture.root, 'scontrol.calls');
    writeFileSync(join(bin, 'scontrol'), `#!/bin/sh\necho "$@" >> "${calls}"\n`);
    chmodSync(join(bin, 'scontrol'), 0o755);
    symlinkSync(CLI, join(bin, 'p2phd'));
    const run = join(fixture.root, 'run');
    const shell = spawn('bash', [SCRIPT, 'global', fixture.samples, run, ...TINY, '--max-steps', '400', '--save-every', '1', '--seed', '3'], {
      cwd: fixture.root,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, PATH: `${bin}:${dirname(process.execPath)}:${process.env['PATH'] ?? ''}`, SLURM_JOB_ID: '4242', SLURM_SUBMIT_DIR: fixture.root },
    });
    let output = '';
    shell.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    shell.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => shell.on('close', (code) => resolve(code)));
    while (!existsSync(join(run, 'latest.safetensors'))) await new Promise((resolve) => setTimeout(resolve, 50));
    const trainer = (JSON.parse(readFileSync(join(run, '.p2phd-lock'), 'utf8')) as { pid: number }).pid;
    shell.kill('SIGTERM');
    const code = await exited;
    assert.equal(code, 0, output);
    assert.match(output, /SIGTERM: saving and exiting 75/);
    assert.equal(readFileSync(calls, 'utf8').trim(), 'requeue 4242', output);
    assert.equal(alive(trainer), false, 'p2phd ended with the script');
    assert.equal(existsSync(join(run, '.p2phd-lock')), false, 'and released the run folder');
  });
});
