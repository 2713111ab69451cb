import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { guardMalloc, WasmHeapError, WASM_HEAP_MAX_BYTES } from '../../src/backend/heap-guard';
import { setUpBackends, useBackend } from './helpers';

before(setUpBackends);

describe('wasm heap guard', () => {
  it('turns an allocation beyond the 4 GB heap into an error, corrupting nothing', async () => {
    await useBackend('wasm');
    const witness = tf.tensor1d([1, 2, 3, 4]);
    const before = tf.memory().numTensors;
    // 1100 Mi float32 = 4.3 GiB, allocated by the wasm Tile kernel: it would wrap around
    // to ~300 MiB if passed to malloc unchecked.
    assert.throws(() => tf.tile(witness, [1100 * 256 * 1024]), WasmHeapError);
    assert.equal(tf.memory().numTensors, before);
    const doubled = tf.mul(witness, 2);
    assert.deepEqual(Array.from(doubled.dataSync()), [2, 4, 6, 8]);
    tf.dispose([witness, doubled]);
  });

  it('turns a failed malloc (null pointer) into an error', () => {
    let next = 0;
    const fakeModule = { _malloc: (_bytes: number) => next, _free: () => {}, HEAPU8: new Uint8Array(16) };
    guardMalloc(fakeModule);
    next = 0;
    assert.throws(() => fakeModule._malloc(64), (error: unknown) => {
      assert.ok(error instanceof WasmHeapError);
      assert.match(error.message, /wasm heap exhausted: cannot allocate/);
      return true;
    });
    next = 4096;
    assert.equal(fakeModule._malloc(64), 4096);
    assert.equal(fakeModule._malloc(0), 4096);
    assert.throws(() => fakeModule._malloc(WASM_HEAP_MAX_BYTES + 1), WasmHeapError);
  });
});
