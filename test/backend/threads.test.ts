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
import { onnxRuntimeAvailable } from '../../src/backend/onnxruntime/index';

const BACKEND = join(__dirname, '..', '..', 'src', 'backend');

// Cases: XNNPACK's conv, p2phd's Winograd conv with its SIMD transforms in
// both matmul orientations, the 0/1-input conv, and Winograd F(3x3, 4x4):
// all but the first are wasm modules of p2phd's own that import tfjs's
// memory, shared in this build.
const CHILD_SCRIPT = `
const tf = require('@tensorflow/tfjs-core');
require('@tensorflow/tfjs-backend-cpu');
const { initBackend } = require(${JSON.stringify(BACKEND)});
const oneHot = (shape) => {
  const [n, h, w, c] = shape, values = new Float32Array(n * h * w * c);
  for (let p = 0; p < n * h * w; p++) values[p * c + ((p * 7) % c)] = 1;
  return tf.tensor4d(values, shape);
};
const cases = [
  { x: () => tf.randomUniform([1, 19, 17, 8], -1, 1, 'float32', 1), w: [3, 3, 8, 16], stride: 2, pad: 'same' },
  { x: () => tf.randomUniform([1, 34, 34, 32], -1, 1, 'float32', 3), w: [3, 3, 32, 32], stride: 1, pad: 'valid' },
  { x: () => tf.randomUniform([1, 34, 34, 32], -1, 1, 'float32', 4), w: [3, 3, 32, 64], stride: 1, pad: 'valid' },
  { x: () => oneHot([1, 12, 13, 10]), w: [7, 7, 10, 16], stride: 1, pad: 'same' },
  { x: () => tf.randomUniform([1, 17, 20, 32], -1, 1, 'float32', 5), w: [4, 4, 32, 36], stride: 1, pad: 'valid' },
];
(async () => {
  const info = await initBackend('wasm', { log: () => {} });
  let worst = 0;
  for (const [i, c] of cases.entries()) {
    await tf.setBackend('wasm');
    const x = c.x();
    const w = tf.randomUniform(c.w, -1, 1, 'float32', 10 + i);
    const onWasm = tf.conv2d(x, w, c.stride, c.pad).dataSync();
    const xValues = x.dataSync(), wValues = w.dataSync();
    await tf.setBackend('cpu');
    const onCpu = tf.conv2d(tf.tensor(xValues, x.shape), tf.tensor(wValues, w.shape), c.stride, c.pad).dataSync();
    let diff = 0, norm = 0;
    for (let k = 0; k < onCpu.length; k++) { diff += (onWasm[k] - onCpu[k]) ** 2; norm += onCpu[k] ** 2; }
    worst = Math.max(worst, Math.sqrt(diff / norm));
  }
  process.stdout.write(JSON.stringify({ threads: info.threads, relativeError: worst }));
})();
`;

describe('threaded wasm (P2PHD_WASM_THREADS=2)', () => {
  it('initialises two threads, matches cpu (p2phd\'s own wasm kernels too), and exits on its own', () => {
    const output = execFileSync(process.execPath, ['-e', CHILD_SCRIPT], {
      cwd: join(__dirname, '..', '..', '..'),
      env: { ...process.env, P2PHD_WASM_THREADS: '2', P2PHD_NATIVE_GEMM: '0' },
      timeout: 60_000,
      encoding: 'utf8',
    });
    const result = JSON.parse(output) as { threads: number; relativeError: number };
    assert.equal(result.threads, 2);
    assert.ok(result.relativeError < 1e-5, `relative error ${result.relativeError}`);
  });

  it('transposes large planes with the helper thread: exact, every plane and row range, and the process still exits', () => {
    // [2, 1031, 1020]: two planes over the helper's 1M-element threshold, an odd row count (uneven halves).
    const script = `
      const tf = require('@tensorflow/tfjs-core');
      const { initBackend } = require(${JSON.stringify(BACKEND)});
      const { batchTranspose } = require(${JSON.stringify(join(BACKEND, 'wasm', 'js-kernels'))});
      (async () => {
        await initBackend('wasm', { log: () => {}, gradients: false });
        const [b, r, c] = [2, 1031, 1020];
        const values = new Float32Array(b * r * c);
        for (let i = 0; i < values.length; i++) values[i] = i;
        let mismatches = 0;
        for (let round = 0; round < 3; round++) {
          const out = batchTranspose(tf.tensor3d(values, [b, r, c])).dataSync();
          for (let p = 0; p < b; p++) for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) {
            if (out[p * r * c + j * r + i] !== values[p * r * c + i * c + j]) mismatches++;
          }
        }
        process.stdout.write(JSON.stringify({ mismatches }));
      })();`;
    const output = execFileSync(process.execPath, ['-e', script], {
      cwd: join(__dirname, '..', '..', '..'),
      env: { ...process.env, P2PHD_WASM_THREADS: '2', P2PHD_NATIVE_GEMM: '0' },
      timeout: 60_000,
      encoding: 'utf8',
    });
    assert.deepEqual(JSON.parse(output), { mismatches: 0 });
  });

  it('falls back to one thread with a warning when the threaded build cannot be prepared', () => {
    const script = `const { initBackend } = require(${JSON.stringify(BACKEND)});
      const warnings = [];
      initBackend('wasm', { log: () => {}, warn: (line) => warnings.push(line) })
        .then((info) => process.stdout.write(JSON.stringify({ threads: info.threads, warnings })));`;
    const output = execFileSync(process.execPath, ['-e', script], {
      // An unusable temporary directory: the worker script cannot be written.
      env: { ...process.env, P2PHD_WASM_THREADS: '2', P2PHD_NATIVE_GEMM: '0', TMPDIR: '/nonexistent/p2phd-test' },
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

describe('wasm with its GEMMs on ONNX Runtime (P2PHD_NATIVE_GEMM)', () => {
  const skip = onnxRuntimeAvailable() ? false : 'skipped: onnxruntime-node is not installed (optional dependency)';
  const probe = (env: Record<string, string>): string => {
    const script = `const wasm = require('@tensorflow/tfjs-backend-wasm');
      require(${JSON.stringify(BACKEND)}).initBackend('wasm', { log: () => {}, gradients: false })
        .then((info) => process.stdout.write(JSON.stringify({ threads: info.threads, detail: info.detail, tfjsThreads: wasm.getThreadsCount() })))
        .catch((e) => { process.stdout.write(e.name + ' ' + e.exitCode + ' ' + e.message); });`;
    return execFileSync(process.execPath, ['-e', script], { cwd: join(__dirname, '..', '..', '..'), env: { ...process.env, ...env }, timeout: 60_000, encoding: 'utf8' });
  };

  it('by default: tfjs single-threaded (a plain heap MLAS reads in place), the threads go to MLAS, the backend line says so', { skip }, () => {
    const result = JSON.parse(probe({ P2PHD_WASM_THREADS: '2' })) as { threads: number; detail: string; tfjsThreads: number };
    assert.equal(result.threads, 2);
    assert.equal(result.tfjsThreads, 1);
    assert.match(result.detail, /GEMMs on onnxruntime-node [\d.]+, CPU execution provider \(MLAS\)/);
  });

  it('P2PHD_NATIVE_GEMM=0 keeps every product on XNNPACK, threaded', () => {
    const result = JSON.parse(probe({ P2PHD_WASM_THREADS: '2', P2PHD_NATIVE_GEMM: '0' })) as { threads: number; detail: string; tfjsThreads: number };
    assert.equal(result.threads, 2);
    assert.equal(result.tfjsThreads, 2);
    assert.doesNotMatch(result.detail, /GEMMs on/);
  });

  it('rejects another value as a usage error', () => {
    assert.match(probe({ P2PHD_NATIVE_GEMM: 'yes' }), /^UsageError 2 P2PHD_NATIVE_GEMM=yes: expected 0 or 1/);
  });
});
