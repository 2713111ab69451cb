import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { UsageError } from '../../src/errors';
import { BACKEND_CHOICES, initBackend } from '../../src/backend';

describe('initBackend', () => {
  it('refuses an explicitly requested backend that is not installed, naming --backend and why', async () => {
    await assert.rejects(initBackend('tensorflow', { log: () => {} }), (error: unknown) => {
      assert.ok(error instanceof UsageError);
      assert.equal(error.exitCode, 2);
      assert.match(error.message, /^--backend tensorflow is not available here: .*tfjs-node-gpu.*not installed/);
      return true;
    });
  });

  it('auto falls back to wasm, logs one line, warns about nothing merely not installed', async () => {
    const logged: string[] = [];
    const warned: string[] = [];
    const info = await initBackend('auto', { log: (l) => logged.push(l), warn: (l) => warned.push(l) });
    assert.equal(info.name, 'wasm');
    assert.equal(tf.getBackend(), 'wasm');
    assert.equal(logged.length, 1);
    assert.match(logged[0]!, /^backend: wasm \((SIMD|no SIMD), \d+ threads?;/);
    // Whether p2phd's generated kernels fuse multiply-adds; this Node (20+) has relaxed SIMD.
    const fma = process.env['P2PHD_WASM_FMA'] !== '0';
    assert.match(logged[0]!, fma ? /, p2phd kernels with FMA \(relaxed SIMD\)\)$/ : /, p2phd kernels, no FMA\)$/);
    assert.deepEqual(warned, []);
    // Idempotent: the same choice again initialises and logs nothing more.
    assert.deepEqual(await initBackend('auto', { log: (l) => logged.push(l) }), info);
    assert.equal(logged.length, 1);
  });

  it('gradients: false skips loading tfjs gradients (fresh process), and never undoes them', async () => {
    const script = `const tf = require('@tensorflow/tfjs-core');
      require(${JSON.stringify(join(__dirname, '..', '..', 'src', 'backend'))})
        .initBackend('wasm', { log: () => {}, gradients: false })
        .then(() => process.stdout.write(String(tf.getGradient(tf.Add) != null)));`;
    const output = execFileSync(process.execPath, ['-e', script], { cwd: join(__dirname, '..', '..', '..'), encoding: 'utf8', timeout: 60_000 });
    assert.equal(output, 'false');
    // In this process they are registered already (earlier tests); the option must not remove them.
    await initBackend('cpu', { log: () => {}, gradients: false });
    assert.notEqual(tf.getGradient(tf.Add), undefined);
  });

  it('selects cpu on request and registers gradients', async () => {
    const info = await initBackend('cpu', { log: () => {} });
    assert.equal(info.name, 'cpu');
    assert.equal(tf.getBackend(), 'cpu');
    const gradient = tf.grad((x) => tf.sum(tf.square(x)))(tf.tensor1d([1, -2]));
    assert.deepEqual(Array.from(gradient.dataSync()), [2, -4]);
  });

  it('rejects an unknown choice as a usage error', async () => {
    assert.deepEqual([...BACKEND_CHOICES], ['auto', 'tensorflow', 'webgpu', 'wasm', 'cpu', 'onnxruntime']);
    await assert.rejects(initBackend('gpu' as never, { log: () => {} }), UsageError);
  });
});
