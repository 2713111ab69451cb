/**
 * --backend onnxruntime: inference only, refused elsewhere with exit 2; a bad
 * P2PHD_ONNXRUNTIME_PROVIDER is exit 2; where onnxruntime-node is installed
 * it is selected and logged as one line.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { UsageError } from '../../src/errors';
import { initBackend, inferenceEngineOf, onnxRuntimeAvailable } from '../../src/backend';

const ORT_SKIP = onnxRuntimeAvailable() ? false : 'skipped: onnxruntime-node not installed';
if (ORT_SKIP) process.stdout.write(`# ${ORT_SKIP}\n`);

describe('--backend onnxruntime', () => {
  after(async () => {
    delete process.env['P2PHD_ONNXRUNTIME_PROVIDER'];
    // Leave the process on the tests' usual backend.
    await initBackend('wasm', { log: () => {} });
  });

  it('is refused (exit 2) for commands that train', async () => {
    await assert.rejects(initBackend('onnxruntime', { log: () => {} }), (error: unknown) => {
      assert.ok(error instanceof UsageError);
      assert.match(error.message, /^--backend onnxruntime runs networks forward only \(synthesize, encode\)/);
      return true;
    });
  });

  it('refuses an unknown P2PHD_ONNXRUNTIME_PROVIDER (exit 2)', async () => {
    process.env['P2PHD_ONNXRUNTIME_PROVIDER'] = 'tpu';
    try {
      await assert.rejects(initBackend('onnxruntime', { log: () => {}, inference: true }), (error: unknown) => {
        assert.ok(error instanceof UsageError);
        assert.match(error.message, /^P2PHD_ONNXRUNTIME_PROVIDER=tpu: expected one of cpu, cuda/);
        return true;
      });
    } finally {
      delete process.env['P2PHD_ONNXRUNTIME_PROVIDER'];
    }
  });

  it('is selected for inference and logged once', { skip: ORT_SKIP }, async () => {
    const logged: string[] = [];
    const info = await initBackend('onnxruntime', { log: (line) => logged.push(line), inference: true, gradients: false });
    assert.equal(info.name, 'onnxruntime');
    assert.equal(inferenceEngineOf(info), 'onnxruntime');
    assert.deepEqual(logged.length, 1);
    assert.match(logged[0]!, /^backend: onnxruntime \(SIMD, native threads; onnxruntime-node [\d.]+, CPU execution provider/);
  });

  it('tfjs backends run G and E on tfjs', () => {
    for (const name of ['wasm', 'cpu', 'tensorflow'] as const) assert.equal(inferenceEngineOf({ name }), 'tfjs');
  });
});

describe('--backend auto for inference', () => {
  after(async () => {
    await initBackend('wasm', { log: () => {} });
  });

  it('picks onnxruntime where installed (measured faster), wasm for training', { skip: ORT_SKIP }, async () => {
    assert.equal((await initBackend('auto', { log: () => {}, inference: true, gradients: false })).name, 'onnxruntime');
    assert.equal((await initBackend('auto', { log: () => {} })).name, 'wasm');
  });
});
