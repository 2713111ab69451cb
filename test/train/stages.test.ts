/**
 * The three stages through the command: global writes a G1 checkpoint;
 * local, initialised from it (ngf halved automatically), trains only the
 * enhancer (the global part's weights stay bit-identical) and records its
 * stage and config; joint, from the local checkpoint with no architecture
 * flags, changes the global part too.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fileContents, useFixtureSamples, runCli, TINY } from './cli.js';

describe('train stages: global -> local -> joint', () => {
  const fixture = useFixtureSamples();

  it('local trains only the enhancer; joint trains the global part too', async () => {
    const steps = ['--max-steps', '2', '--seed', '5', '--sample-every', '100'];
    const global = join(fixture.root, 'global');
    const local = join(fixture.root, 'local');
    const joint = join(fixture.root, 'joint');

    const g = await runCli(['train', 'global', '--data', fixture.samples, '--out', global, ...TINY, ...steps]);
    assert.equal(g.status, 0, g.stderr);

    const refused = await runCli(['train', 'local', '--data', fixture.samples, '--out', join(fixture.root, 'no-init'), '--backend', 'wasm', ...steps]);
    assert.equal(refused.status, 2, 'train local without --init is a usage error');

    const l = await runCli(['train', 'local', '--data', fixture.samples, '--out', local, '--init', global, '--n-blocks-local', '1', '--backend', 'wasm', ...steps]);
    assert.equal(l.status, 0, l.stderr);
    const j = await runCli(['train', 'joint', '--data', fixture.samples, '--out', joint, '--init', local, '--backend', 'wasm', ...steps]);
    assert.equal(j.status, 0, j.stderr);

    const g1 = await fileContents(join(global, 'latest.safetensors'));
    const enhanced = await fileContents(join(local, 'latest.safetensors'));
    const fine = await fileContents(join(joint, 'latest.safetensors'));
    assert.equal(enhanced.meta['stage'], 'local');
    assert.equal(fine.meta['stage'], 'joint');
    const localConfig = enhanced.meta['config'] as Record<string, unknown>;
    assert.equal(localConfig['netG'], 'local');
    assert.equal(localConfig['ngf'], 4, 'the enhancer of a G1 with ngf 8 has ngf 4');
    assert.deepEqual(fine.meta['config'], localConfig, 'joint takes the architecture from its --init');

    const globalPart = [...enhanced.tensors.keys()].filter((key) => key.startsWith('G.model.'));
    const enhancerPart = [...enhanced.tensors.keys()].filter((key) => /^G\.model\d+_/.test(key));
    assert.ok(globalPart.length > 0 && enhancerPart.length > 0);
    for (const key of globalPart) {
      assert.ok(enhanced.tensors.get(key)!.equals(g1.tensors.get(key)!), `local changed the global part's ${key}`);
    }
    const changedByJoint = globalPart.filter((key) => key.endsWith('.weight') && !fine.tensors.get(key)!.equals(enhanced.tensors.get(key)!));
    assert.ok(changedByJoint.length > 0, 'joint leaves the global part unchanged');
    const changedEnhancer = enhancerPart.filter((key) => key.endsWith('.weight') && !fine.tensors.get(key)!.equals(enhanced.tensors.get(key)!));
    assert.ok(changedEnhancer.length > 0, 'joint trains the enhancer too');
  });
});
