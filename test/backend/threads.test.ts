/**
 * The threaded wasm build under Node (P2PHD_WASM_THREADS): runs in a child
 * process, since the backend is chosen once per process. Checks that it
 * initialises with the requested threads, computes what the cpu backend
 * computes, and lets the process exit (idle pthread workers must not hold it).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

const BACKEND = join(__dirname, '..', '..', 'src', 'backend');

const CHILD_SCRIPT = `
const tf = require('@tensorflow/tfjs-core');
require('@tensorflow/tfjs-backend-cpu');
const { initBackend } = require(${JSON.stringify(BACKEND)});
(async () => {
  const info = await initBackend('wasm', { log: () => {} });
  const x = tf.randomUniform([1, 19, 17, 8], -1, 1, 'float32', 1);
  const w = tf.randomUniform([3, 3, 8, 16], -1, 1, 'float32', 2);
  const onWasm = tf.conv2d(x, w, 2, 'same').dataSync();
  const xValues = x.dataSync(), wValues = w.dataSync();
  await tf.setBackend('cpu');
  const onCpu = tf.conv2d(tf.tensor(xValues, x.shape), tf.tensor(wValues, w.shape), 2, 'same').dataSync();
  let diff = 0, norm = 0;
  for (let i = 0; i < onCpu.length; i++) { diff += (onWasm[i] - onCpu[i]) ** 2; norm += onCpu[i] ** 2; }
  process.stdout.write(JSON.stringify({ threads: info.threads, relativeError: Math.sqrt(diff / norm) }));
})();
`;

describe('threaded wasm (P2PHD_WASM_THREADS=2)', () => {
  it('initialises two threads, matches cpu, and exits on its own', () => {
    const output = execFileSync(process.execPath, ['-e', CHILD_SCRIPT], {
      cwd: join(__dirname, '..', '..', '..'),
      env: { ...process.env, P2PHD_WASM_THREADS: '2' },
      timeout: 60_000,
      encoding: 'utf8',
    });
    const result = JSON.parse(output) as { threads: number; relativeError: number };
    assert.equal(result.threads, 2);
    assert.ok(result.relativeError < 1e-5, `relative error ${result.relativeError}`);
  });

  it('falls back to one thread with a warning when the threaded build cannot be prepared', () => {
    const script = `const { initBackend } = require(${JSON.stringify(BACKEND)});
      const warnings = [];
      initBackend('wasm', { log: () => {}, warn: (line) => warnings.push(line) })
        .then((info) => process.stdout.write(JSON.stringify({ threads: info.threads, warnings })));`;
    const output = execFileSync(process.execPath, ['-e', script], {
      // An unusable temporary directory: the worker script cannot be written.
      env: { ...process.env, P2PHD_WASM_THREADS: '2', TMPDIR: '/nonexistent/p2phd-test' },
      timeout: 60_000,
      encoding: 'utf8',
    });
    const result = JSON.parse(output) as { threads: number; warnings: string[] };
    assert.equal(result.threads, 1);
    assert.equal(result.warnings.length, 1);
    assert.match(result.warnings[0]!, /^warning: threaded wasm unavailable \(ENOENT.*\); using one thread$/);
  });

  it('rejects a malformed thread count as a usage error', () => {
    const script = `require(${JSON.stringify(BACKEND)}).initBackend('wasm', { log: () => {} })
      .catch((e) => { process.stdout.write(e.name + ' ' + e.exitCode + ' ' + e.message); });`;
    const output = execFileSync(process.execPath, ['-e', script], {
      env: { ...process.env, P2PHD_WASM_THREADS: 'many' },
      timeout: 60_000,
      encoding: 'utf8',
    });
    assert.match(output, /^UsageError 2 P2PHD_WASM_THREADS=many: expected an integer from 1 to 8/);
  });
});
