/**
 * How every command ends when it is stopped or its output goes away: a
 * signal removes the temporary files and exits 128 + n with one line; a
 * closed stdout ends quietly; an output folder that cannot be created (a
 * file in the way, a read-only file system) is one line with exit 2.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CLI, GOLDEN_DIR, FIXTURES_DIR, runCliSync, startCli, temporaryFolder } from '../support/cli.js';

const DIST_SRC = resolve(__dirname, '..', '..', 'src');
const STACK_LINE = /^\s+at .+:\d+:\d+\)?$/m;

/** Runs `script` in a node child, sends `signal` once it printed "ready", resolves with its exit. */
function signalWhenReady(args: string[], signal: NodeJS.Signals, options: { stdin?: 'pipe' } = {}): Promise<{ status: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  const child = spawn(process.execPath, args, { stdio: [options.stdin ?? 'ignore', 'pipe', 'pipe'] });
  let stderr = '';
  let sent = false;
  const send = (): void => {
    if (!sent) {
      sent = true;
      child.kill(signal);
    }
  };
  child.stdout!.on('data', (chunk: Buffer) => {
    if (chunk.toString().includes('ready')) send();
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
    // The CLI case: once main() has started (a second is ample), the command waits on stdin for ever.
    if (options.stdin === 'pipe' && /reading/.test(stderr)) setTimeout(send, 1000);
  });
  return new Promise((resolveExit) => child.on('close', (status, killedBy) => resolveExit({ status, signal: killedBy, stderr })));
}

describe('how commands end', () => {
  test('a signal mid-write removes the temporary file and exits 128 + n with one line', async () => {
    const folder = temporaryFolder('signal');
    try {
      const out = join(folder.path, 'out.safetensors');
      // The handlers the CLI's main installs, around a write that never finishes.
      const script = `
        const { installProcessHandlers } = require(${JSON.stringify(join(DIST_SRC, 'lifecycle.js'))});
        const { writeAtomically } = require(${JSON.stringify(join(DIST_SRC, 'data', 'formats', 'atomicWrite.js'))});
        installProcessHandlers();
        setInterval(() => undefined, 1000);
        writeAtomically(${JSON.stringify(out)}, async (sink) => {
          await sink.write(Buffer.alloc(4096));
          process.stdout.write('ready\\n');
          await new Promise(() => undefined);
        });`;
      for (const [signal, code] of [['SIGTERM', 143], ['SIGINT', 130]] as const) {
        const result = await signalWhenReady(['-e', script], signal);
        assert.equal(result.status, code, `${signal}: ${result.stderr}`);
        assert.match(result.stderr, new RegExp(`^p2phd: ${signal}: stopped`));
        assert.deepEqual(readdirSync(folder.path), [], 'the temporary file is removed');
      }
    } finally {
      folder.remove();
    }
  });

  test('the CLI routes signals through those handlers (a command waiting on stdin: exit 143, one line)', async () => {
    const folder = temporaryFolder('signal-cli');
    try {
      const script = `process.stderr.write('reading\\n'); require(${JSON.stringify(join(DIST_SRC, 'cli.js'))}).main();`;
      const result = await signalWhenReady(['-e', script, 'p2phd', 'cluster', '--features', '-', '--k', '2', '--out', join(folder.path, 'c.safetensors')], 'SIGTERM', { stdin: 'pipe' });
      assert.equal(result.status, 143, result.stderr);
      assert.equal(result.stderr.split('\n').filter((line) => line.startsWith('p2phd: ')).length, 1, result.stderr);
      assert.deepEqual(readdirSync(folder.path), []);
    } finally {
      folder.remove();
    }
  });

  test('preprocess stopped mid-run: exit 143, no temporary file (the race with a file being opened included)', async () => {
    const folder = temporaryFolder('signal-preprocess');
    try {
      const out = join(folder.path, 'samples');
      const { child, done } = startCli(['preprocess', '--dataroot', FIXTURES_DIR, '--phase', 'train', '--label-nc', '35', '--resize-or-crop', 'none', '--out', out]);
      // Stop it once it writes: the first sample is in place, others are in flight.
      let finished = false;
      void done.then(() => (finished = true));
      while (!finished && !(existsSync(out) && readdirSync(out).some((name) => name.endsWith('.safetensors')))) await new Promise((resolve) => setTimeout(resolve, 2));
      child.kill('SIGTERM');
      const result = await done;
      assert.ok(result.status === 143 || result.status === 0, `exit ${result.status}: ${result.stderr}`);
      assert.deepEqual(readdirSync(out).filter((name) => name.endsWith('.tmp')), []);
    } finally {
      folder.remove();
    }
  });

  test('a closed stdout ends the command quietly (exit 0, nothing on stderr)', () => {
    const file = join(GOLDEN_DIR, 'downsample.safetensors');
    // `true` exits at once: every write to the pipe fails with EPIPE.
    const result = spawnSync('bash', ['-c', `"${process.execPath}" "${CLI}" inspect "${file}" | true; echo "\${PIPESTATUS[0]}"`], { encoding: 'utf8' });
    assert.equal(result.stdout.trim(), '0', result.stderr);
    assert.equal(result.stderr, '');
  });

  test('SIGTERM during demo training says the demo does not resume (exit 143), not "--resume"', async () => {
    const folder = temporaryFolder('demo-signal');
    try {
      const out = join(folder.path, 'demo');
      const { child, done } = startCli(['demo', '--out', out, '--seed', '1', '--backend', 'wasm']);
      const log = join(out, 'runs', 'global', 'log.jsonl');
      while (!(existsSync(log) && readFileSync(log, 'utf8').length > 0)) await new Promise((resolve) => setTimeout(resolve, 100));
      child.kill('SIGTERM');
      const result = await done;
      assert.equal(result.status, 143, result.stderr);
      const lines = result.stderr.split('\n').filter((line) => line.startsWith('p2phd: '));
      assert.equal(lines.length, 1, result.stderr);
      assert.match(lines[0]!, /SIGTERM: the demo stopped during train global; it does not resume/);
      assert.doesNotMatch(lines[0]!, /--resume/);
    } finally {
      folder.remove();
    }
  });

  test('demo --out an existing file: exit 2 naming it', () => {
    const folder = temporaryFolder('demo-file');
    try {
      const file = join(folder.path, 'taken');
      writeFileSync(file, 'x');
      const result = runCliSync(['demo', '--out', file]);
      assert.equal(result.status, 2, result.stderr);
      assert.doesNotMatch(result.stderr, STACK_LINE);
      assert.match(result.stderr, /^p2phd: --out .*taken: is a file, not a folder/m);
    } finally {
      folder.remove();
    }
  });

  // A real read-only file system: a read-only bind mount in a user + mount namespace.
  const unshareWorks = spawnSync('unshare', ['-rm', 'true']).status === 0;
  test('a read-only file system is named as such (exit 2): preprocess, train, demo', { skip: unshareWorks ? false : 'unshare -rm is not available here' }, () => {
    const folder = temporaryFolder('readonly');
    try {
      const readOnly = join(folder.path, 'ro');
      mkdirSync(readOnly);
      const inReadOnly = (args: string[]): { status: number | null; stderr: string } => {
        const command = `mount --bind -o ro "$1" "$1" && mount -o remount,bind,ro "$1" && shift && exec "$@"`;
        const result = spawnSync('unshare', ['-rm', 'sh', '-c', command, 'sh', readOnly, process.execPath, CLI, ...args], { encoding: 'utf8' });
        return { status: result.status, stderr: result.stderr };
      };
      const cases: string[][] = [
        ['preprocess', '--dataroot', FIXTURES_DIR, '--shard', '0/24', '--out', join(readOnly, 'samples', 'deeper')],
        ['train', 'global', '--data', join(folder.path, 'samples'), '--out', join(readOnly, 'run')],
        ['demo', '--out', join(readOnly, 'demo')],
      ];
      for (const args of cases) {
        const result = inReadOnly(args);
        assert.equal(result.status, 2, `${args[0]}: ${result.stderr}`);
        assert.doesNotMatch(result.stderr, STACK_LINE);
        const lines = result.stderr.split('\n').filter((line) => line.startsWith('p2phd: '));
        assert.equal(lines.length, 1, result.stderr);
        assert.match(lines[0]!, /--out .*ro\/.*read-only file system/, result.stderr);
      }
    } finally {
      folder.remove();
    }
  });
});
