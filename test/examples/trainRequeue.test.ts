/**
 * examples/slurm/train-requeue.sh under a stand-in SLURM: SIGTERM to the
 * batch shell (what `--signal=B:TERM` does) must reach p2phd itself, which
 * saves and exits 75; the script then requeues the job with `scontrol` and
 * exits 0, leaving no p2phd process behind.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
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

  it('in a clone (no p2phd on PATH, no node_modules/.bin/p2phd): runs the submit folder\'s bin/p2phd', () => {
    const clone = join(fixture.root, 'clone');
    mkdirSync(join(clone, 'bin'), { recursive: true });
    symlinkSync(CLI, join(clone, 'bin', 'p2phd'));
    const result = spawnSync('bash', [SCRIPT, 'global', join(fixture.root, 'no-such-samples'), join(fixture.root, 'run-clone')], {
      cwd: clone,
      encoding: 'utf8',
      env: { PATH: `${dirname(process.execPath)}:/usr/bin:/bin`, SLURM_JOB_ID: '7', SLURM_SUBMIT_DIR: clone },
    });
    // p2phd itself ran and refused the missing --data (not the script's "p2phd not found").
    assert.doesNotMatch(result.stderr, /p2phd not found/, result.stderr);
    assert.match(result.stderr, /no-such-samples/, result.stderr);
    assert.notEqual(result.status, 0);
  });

  it('nowhere to be found: exit 2 with one line saying where it looked', () => {
    const empty = join(fixture.root, 'empty');
    mkdirSync(empty);
    const result = spawnSync('bash', [SCRIPT, 'global', 'samples', 'run'], {
      cwd: empty,
      encoding: 'utf8',
      env: { PATH: `${dirname(process.execPath)}:/usr/bin:/bin`, SLURM_JOB_ID: '7', SLURM_SUBMIT_DIR: empty },
    });
    assert.equal(result.status, 2, result.stderr);
    assert.match(result.stderr.trim(), /^p2phd not found: submit from the p2phd clone .*npm link.*set P2PHD$/);
  });

  it('its usage says to create logs/ before sbatch (SLURM fails the job otherwise)', () => {
    for (const script of ['train-requeue.sh', 'preprocess-array.sh', 'synthesize-array.sh']) {
      const text = readFileSync(join(REPO_ROOT, 'examples', 'slurm', script), 'utf8');
      assert.match(text, /^#SBATCH --output=logs\//m, script);
      assert.match(text, /^#\s+mkdir -p logs\n#\s+sbatch /m, script);
    }
  });
});
