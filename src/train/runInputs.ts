/**
 * What a run was started on, by content rather than by path: the SHA-256 of
 * the VGG weights file and of the sample files (names and bytes). Recorded in
 * options.json when a run starts; checked on --resume, so a run follows its
 * files when they move (a new --data or --vgg-weights path with the same
 * content is accepted) and refuses files whose content changed.
 *
 * Hashing reads every sample once more at start and on resume: about what
 * one epoch's data loading reads, negligible beside an epoch's compute.
 */
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { withInputFile } from '../data/formats/inputFile.js';
import { basename } from 'node:path';
import { InputError, UsageError } from '../errors.js';
import type { SampleFolder } from './data.js';

export interface RunInputs {
  /** SHA-256 (hex) of the --vgg-weights file; absent without the VGG loss. */
  readonly vgg_sha256?: string;
  /** The samples trained on: how many, and one SHA-256 over their names and contents in sorted order. */
  readonly data: { readonly samples: number; readonly sha256: string };
}

async function fileSha256(path: string): Promise<string> {
  const hash = createHash('sha256');
  await withInputFile(path, async ({ handle }) => {
    for await (const chunk of handle.createReadStream({ autoClose: false })) hash.update(chunk as Buffer);
  });
  return hash.digest('hex');
}

/** One hash over the samples' file names (not folders: the folder may move) and their contents' hashes. */
async function samplesSha256(folder: SampleFolder): Promise<string> {
  const hashes: string[] = new Array<string>(folder.samples.length);
  const inFlight = 4;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < folder.samples.length) {
      const index = next++;
      hashes[index] = await fileSha256(folder.samples[index]!.path);
    }
  };
  await Promise.all(Array.from({ length: Math.min(inFlight, folder.samples.length) }, worker));
  const combined = createHash('sha256');
  folder.samples.forEach((sample, i) => combined.update(`${basename(sample.path)}\0${hashes[i]!}\n`));
  return combined.digest('hex');
}

function vggUnreadable(path: string, error: unknown): Error {
  const code = (error as NodeJS.ErrnoException).code;
  return code === 'ENOENT'
    ? new UsageError(`--vgg-weights ${path}: no such file (if it moved, pass --vgg-weights with its new path: the run checks it by content)`)
    : new InputError(`--vgg-weights ${path}: cannot read (${code ?? (error as Error).message})`);
}

async function vggSha256(path: string): Promise<string> {
  try {
    await fsp.access(path);
    return await fileSha256(path);
  } catch (error) {
    throw vggUnreadable(path, error);
  }
}

/** The record of a new run's inputs, for options.json. */
export async function recordRunInputs(folder: SampleFolder, vggWeights: string | undefined): Promise<RunInputs> {
  return {
    ...(vggWeights !== undefined ? { vgg_sha256: await vggSha256(vggWeights) } : {}),
    data: { samples: folder.samples.length, sha256: await samplesSha256(folder) },
  };
}

/** Parses the `inputs` entry of options.json; undefined for runs started before it was recorded. */
export function parseRunInputs(raw: unknown): RunInputs | undefined {
  if (raw === null || typeof raw !== 'object') return undefined;
  const record = raw as Record<string, unknown>;
  const data = record['data'] as Record<string, unknown> | undefined;
  if (!data || typeof data['samples'] !== 'number' || typeof data['sha256'] !== 'string') return undefined;
  const vgg = record['vgg_sha256'];
  return { ...(typeof vgg === 'string' ? { vgg_sha256: vgg } : {}), data: { samples: data['samples'], sha256: data['sha256'] } };
}

/**
 * On --resume: the VGG weights to use (the given path, else the recorded
 * one) must have the recorded content, and the samples in --data (wherever
 * the folder is now) must be the ones the run started on. Returns the VGG
 * path to use. A run recorded before contents were (no `inputs`) keeps the
 * old rule: the same --vgg-weights path.
 */
export async function checkResumedInputs(
  recorded: RunInputs | undefined,
  run: { vggWeights: string | undefined },
  given: { vggWeights: string | undefined },
  folder: SampleFolder,
): Promise<string | undefined> {
  const path = given.vggWeights ?? run.vggWeights;
  if (run.vggWeights === undefined && given.vggWeights !== undefined) {
    throw new UsageError(`--resume: --vgg-weights ${given.vggWeights} given, but the run trains without the VGG loss; a resumed run keeps its losses`);
  }
  if (recorded === undefined) {
    if (given.vggWeights !== undefined && given.vggWeights !== run.vggWeights) {
      throw new UsageError(`--resume: --vgg-weights ${given.vggWeights} differs from the run's ${String(run.vggWeights)}, and the run recorded no content hash to check a moved file by`);
    }
    return path;
  }
  if (path !== undefined && recorded.vgg_sha256 !== undefined) {
    const actual = await vggSha256(path);
    if (actual !== recorded.vgg_sha256) {
      throw new InputError(
        `--vgg-weights ${path}: its content differs from the VGG weights the run started with (SHA-256 ${actual.slice(0, 12)}..., recorded ${recorded.vgg_sha256.slice(0, 12)}...); a resumed run keeps its VGG loss`,
      );
    }
  }
  if (folder.samples.length !== recorded.data.samples) {
    throw new InputError(`--data ${folder.dir}: holds ${folder.samples.length} samples, but the run was started on ${recorded.data.samples}; resume on the same samples`);
  }
  if ((await samplesSha256(folder)) !== recorded.data.sha256) {
    throw new InputError(`--data ${folder.dir}: the sample files' names or contents differ from those the run was started on; resume on the same samples (a moved folder is fine)`);
  }
  return path;
}
