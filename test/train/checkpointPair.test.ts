/**
 * The checkpoint + optimizer pair: written together, read back together; an
 * interrupted save (new optimizer renamed, new checkpoint still pending) is
 * finished on read; any other mismatch is refused (exit 3).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdtemp, readdir, readFile, rename, rm, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InputError, P2phdError } from '../../src/errors.js';
import { writeFaults } from '../../src/data/formats/atomicWrite.js';
import { makeTensor } from '../../src/data/formats/safetensors.js';
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

  it('finishes the first save interrupted between its renames (no checkpoint yet, its pending one complete)', async () => {
    const paths = { checkpoint: join(dir, 'e.safetensors'), optimizer: join(dir, 'e.optim.safetensors') };
    await writePair(paths, contents(1));
    await rename(paths.checkpoint, `${paths.checkpoint}${PENDING_SUFFIX}`);
    const pair = await readPair(paths, () => undefined);
    assert.equal(pair.checkpoint.p2phd['step'], 1);
  });

  it('a truncated checkpoint is reported as truncated, not as a pair mismatch', async () => {
    const paths = { checkpoint: join(dir, 'f.safetensors'), optimizer: join(dir, 'f.optim.safetensors') };
    await writePair(paths, contents(1));
    await truncate(paths.checkpoint, (await readFile(paths.checkpoint)).length - 4);
    await assert.rejects(readPair(paths, () => undefined), (error: unknown) =>
      error instanceof InputError && /f\.safetensors/.test(error.message) && /truncated/.test(error.message) && !/same save/.test(error.message));
    await truncate(paths.optimizer, 20);
    await assert.rejects(readPair(paths, () => undefined), (error: unknown) =>
      error instanceof InputError && /f\.optim\.safetensors/.test(error.message) && /truncated|past the end/.test(error.message));
  });

  it('a full disk during a save leaves the old pair and no pending file', async () => {
    const paths = { checkpoint: join(dir, 'g.safetensors'), optimizer: join(dir, 'g.optim.safetensors') };
    await writePair(paths, contents(1));
    // The optimizer file (written first) fits; the larger checkpoint does not.
    const big = contents(2);
    big.checkpointTensors = new Map([['G.model.1.bias', makeTensor('F32', [4096], new Float32Array(4096))]]);
    writeFaults.failAfterBytes = 4096;
    try {
      await assert.rejects(writePair(paths, big), (error: unknown) => error instanceof P2phdError && /no space/.test(error.message));
    } finally {
      writeFaults.failAfterBytes = -1;
    }
    assert.deepEqual((await readdir(dir)).filter((name) => name.startsWith('g.')).sort(), ['g.optim.safetensors', 'g.safetensors']);
    assert.equal((await readPair(paths, () => undefined)).checkpoint.p2phd['step'], 1);
  });
});
