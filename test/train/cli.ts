/**
 * Running `p2phd` as a user would (a child process), for the training tests
 * that need real exits and signals; plus a small sample folder from the
 * bundled fixtures and a reader that compares run files tensor by tensor.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { after, before } from 'node:test';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readSafetensorsFile } from '../../src/data/files/tensorFile.js';
import { REPO_ROOT, runCli, type CliResult } from '../support/cli.js';

export { runCli, startCli } from '../support/cli.js';

/** A tiny architecture that trains in a fraction of a second per step. */
export const TINY = Object.freeze(['--ngf', '8', '--n-downsample-global', '2', '--n-blocks-global', '1', '--ndf', '8', '--n-layers-d', '2', '--backend', 'wasm']);

/** `p2phd preprocess` of the 24 fixture train pairs, scaled to width `loadSize`, into `out`. */
export function preprocessFixtures(out: string, loadSize = 64): Promise<CliResult> {
  return runCli(['preprocess', '--dataroot', join(REPO_ROOT, 'fixtures'), '--phase', 'train', '--label-nc', '35', '--resize-or-crop', 'scale_width', '--load-size', String(loadSize), '--out', out]);
}

/** 24 fixture pairs preprocessed to 64x32 samples, in a fresh temporary folder. */
export async function fixtureSamples(): Promise<{ root: string; samples: string }> {
  const root = await mkdtemp(join(tmpdir(), 'p2phd-train-'));
  const samples = join(root, 'samples');
  const result = await preprocessFixtures(samples);
  if (result.status !== 0) throw new Error(`preprocess failed (${result.status}): ${result.stderr}`);
  return { root, samples };
}

/**
 * Fixture samples for the current suite: made in a fresh temporary root
 * before its tests, removed after them. Read `root` and `samples` inside
 * the tests (they are set once the suite's before hook has run).
 */
export function useFixtureSamples(): { readonly root: string; readonly samples: string } {
  const fixture = { root: '', samples: '' };
  before(async () => {
    Object.assign(fixture, await fixtureSamples());
  });
  after(async () => {
    await rm(fixture.root, { recursive: true, force: true });
  });
  return fixture;
}

/** Tensors of a file as raw bytes, and its p2phd metadata without the per-save ids. */
export async function fileContents(path: string): Promise<{ meta: Record<string, unknown>; tensors: Map<string, Buffer> }> {
  const file = await readSafetensorsFile(path);
  const meta = JSON.parse(file.metadata['p2phd']!) as Record<string, unknown>;
  delete meta['pair_id'];
  delete meta['run_id'];
  const tensors = new Map<string, Buffer>();
  for (const [name, tensor] of file.tensors) tensors.set(name, Buffer.from(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength));
  return { meta, tensors };
}

export async function logLines(path: string): Promise<Array<Record<string, number>>> {
  try {
    return (await readFile(path, 'utf8'))
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => JSON.parse(line) as Record<string, number>);
  } catch {
    return [];
  }
}
