/**
 * The checkpoint + optimizer pair: written together, read back together; an
 * interrupted save (new optimizer renamed, new checkpoint still pending) is
 * finished on read; any other mismatch is refused (exit 3).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdtemp, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InputError } from '../../src/errors.js';
import { makeTensor } from '../../src/data/safetensors.js';
import { PENDING_SUFFIX, readPair, writePair } from '../../src/train/checkpointPair.js';

function contents(value: number): Parameters<typeof writePair>[1] {
  return {
    checkpointTensors: new Map([['G.model.1.bias', makeTensor('F32', [2], Float32Array.of(value, value))]]),
    checkpointMeta: { stage: 'global', step: value },
    optimizerTensors: new Map([['G.model.1.bias.exp_avg', makeTensor('F32', [2], Float32Array.of(-value, -value))]]),
    optimizerMeta: { step: value },
  };
}

describe('checkpoint + optimizer pair', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'p2phd-pair-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads back what was written, with one pair id in both files', async () => {
    const paths = { checkpoint: join(dir, 'a.safetensors'), optimizer: join(dir, 'a.optim.safetensors') };
    const id = await writePair(paths, contents(1));
    const pair = await readPair(paths, () => undefined);
    assert.equal(pair.checkpoint.p2phd['pair_id'], id);
    assert.equal(pair.optimizer.p2phd['pair_id'], id);
    assert.equal(pair.checkpoint.p2phd['step'], 1);
  });

  it('finishes a save interrupted between the two renames', async () => {
    const paths = { checkpoint: join(dir, 'b.safetensors'), optimizer: join(dir, 'b.optim.safetensors') };
    await writePair(paths, contents(1));
    const old = join(dir, 'b.old.safetensors');
    await copyFile(paths.checkpoint, old);
    await writePair(paths, contents(2));
    // Put the state back to "optimizer renamed, checkpoint still pending".
    await rename(paths.checkpoint, `${paths.checkpoint}${PENDING_SUFFIX}`);
    await rename(old, paths.checkpoint);
    const lines: string[] = [];
    const pair = await readPair(paths, (line) => lines.push(line));
    assert.equal(pair.checkpoint.p2phd['step'], 2);
    assert.equal(pair.optimizer.p2phd['step'], 2);
    assert.match(lines.join('\n'), /interrupted save/);
  });

  it('refuses files from two different saves', async () => {
    const first = { checkpoint: join(dir, 'c.safetensors'), optimizer: join(dir, 'c.optim.safetensors') };
    const second = { checkpoint: join(dir, 'd.safetensors'), optimizer: join(dir, 'd.optim.safetensors') };
    await writePair(first, contents(1));
    await writePair(second, contents(2));
    await copyFile(second.optimizer, first.optimizer);
    await assert.rejects(readPair(first, () => undefined), (error: unknown) => error instanceof InputError && /not from the same save/.test(error.message));
  });
});
