/**
 * Sizes the generator cannot take (not multiples of 2^downsamplings): the
 * command trains on centred crops of the largest size that is, and says so;
 * samples smaller than the multiple are refused with exit 3.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileContents, preprocessFixtures, runCli, TINY } from './cli.js';

describe('train: sample sizes the generator cannot take', () => {
  let root = '';
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'p2phd-sizes-'));
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  async function samplesOfWidth(width: number): Promise<string> {
    const out = join(root, `samples_${width}`);
    const result = await preprocessFixtures(out, width);
    assert.equal(result.status, 0, result.stderr);
    return out;
  }

  it('trains 58x29 samples on centred 56x28 crops (G needs multiples of 4), with a warning', async () => {
    const samples = await samplesOfWidth(58);
    const out = join(root, 'run_58');
    const result = await runCli(['train', 'global', '--data', samples, '--out', out, ...TINY, '--max-steps', '1', '--sample-every', '1']);
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stderr, /multiples of 4/);
    assert.match(result.stderr, /56x28/);
    const saved = await fileContents(join(out, 'latest.safetensors'));
    assert.equal(saved.meta['step'], 1);
    // How the samples were made, for synthesize's scale check (preprocess: scale_width to 58).
    assert.deepEqual(saved.meta['training_resize'], { mode: 'scale_width', load_size: 58, width: 58, height: 29 });
  });

  it('refuses samples smaller than the multiple (exit 3, naming a file)', async () => {
    const samples = await samplesOfWidth(6);
    const result = await runCli(['train', 'global', '--data', samples, '--out', join(root, 'run_6'), ...TINY, '--n-downsample-global', '3', '--max-steps', '1']);
    assert.equal(result.status, 3, result.stderr);
    assert.match(result.stderr, /too small.*at least 16 that are multiples of 8/);
    assert.match(result.stderr, /\.safetensors/);
  });

  it('refuses samples exactly at the multiple: a 1x1 bottleneck cannot be reflect-padded (exit 3, naming a file)', async () => {
    const samples = await samplesOfWidth(16);
    const result = await runCli(['train', 'global', '--data', samples, '--out', join(root, 'run_16'), ...TINY, '--n-downsample-global', '3', '--max-steps', '1']);
    assert.equal(result.status, 3, result.stderr);
    assert.match(result.stderr, /16x8 is too small.*at least 16 that are multiples of 8/);
    assert.match(result.stderr, /\.safetensors/);
    assert.doesNotMatch(result.stderr, /internal error/);
  });

  it('with --instance-feat, E\'s downsamplings count too (58x29 -> 48x16 for 2^4)', async () => {
    const samples = join(root, 'samples_58');
    const out = join(root, 'run_58_feat');
    const result = await runCli(['train', 'global', '--data', samples, '--out', out, ...TINY, '--instance-feat', '--nef', '4', '--n-downsample-e', '4', '--max-steps', '1']);
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stderr, /multiples of 16/);
    assert.match(result.stderr, /48x16/);
  });
});

