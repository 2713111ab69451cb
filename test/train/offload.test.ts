/**
 * `train --offload-activations` through the command: the same checkpoint,
 * weights and Adam state bit for bit, as the step kept in the heap (the
 * offloaded run also rewrites its weights in place and runs XNNPACK without
 * cached operators: neither may change a bit).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fileContents, useFixtureSamples, runCli, TINY } from './cli.js';

describe('train --offload-activations', () => {
  const fixture = useFixtureSamples();

  it('writes the same weights and optimizer state as the step in the heap', async () => {
    const steps = ['--max-steps', '3', '--seed', '5', '--sample-every', '100', '--backend', 'wasm'];
    const plain = join(fixture.root, 'plain');
    const offloaded = join(fixture.root, 'offloaded');
    assert.equal((await runCli(['train', 'global', '--data', fixture.samples, '--out', plain, ...TINY, ...steps])).status, 0);
    assert.equal((await runCli(['train', 'global', '--data', fixture.samples, '--out', offloaded, ...TINY, ...steps, '--offload-activations'])).status, 0);
    for (const file of ['latest.safetensors', 'latest.optim.safetensors']) {
      const expected = await fileContents(join(plain, file));
      const actual = await fileContents(join(offloaded, file));
      assert.deepEqual([...actual.tensors.keys()].sort(), [...expected.tensors.keys()].sort());
      const differing = [...expected.tensors].filter(([key, bytes]) => !bytes.equals(actual.tensors.get(key)!)).map(([key]) => key);
      assert.deepEqual(differing, [], `${file}: tensors differ`);
    }
  });
});
