/**
 * A checkpoint and its optimizer file, written as a pair.
 *
 * Both files are written completely under `.pending` names first (each one
 * atomically, by writeTensorFile), then renamed into place: optimizer first,
 * checkpoint second. Both carry the same random `pair_id`. A crash can only
 * land between the two renames, leaving a new optimizer file beside the old
 * checkpoint while the new checkpoint waits, complete, under its pending
 * name; reading the pair notices the mismatched ids and finishes the rename
 * (roll forward). Any other mismatch is refused rather than resumed from.
 * Until the first rename, the pending files are removed when the save
 * fails (a full disk) or the process exits (a second signal): only after it
 * does the pending checkpoint matter, as the other half of a pair.
 */
import { promises as fsp } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { InputError } from '../errors.js';
import { describeWriteFailure, keepAtExit, removeAtExit } from '../data/formats/atomicWrite.js';
import type { Tensor } from '../data/formats/safetensors.js';
import { readTensorFile, readTensorFileHeader, writeTensorFile, type TensorFile } from '../data/files/tensorFile.js';

export const PENDING_SUFFIX = '.pending';

export interface PairPaths {
  checkpoint: string;
  optimizer: string;
}

export interface PairContents {
  checkpointTensors: ReadonlyMap<string, Tensor>;
  checkpointMeta: Record<string, unknown>;
  optimizerTensors: ReadonlyMap<string, Tensor>;
  optimizerMeta: Record<string, unknown>;
}

export function newPairId(): string {
  return randomBytes(8).toString('hex');
}

/** Writes both files of a pair; either the old pair or the new one is in place at every moment but one rename apart. */
export async function writePair(paths: PairPaths, contents: PairContents): Promise<string> {
  const pairId = newPairId();
  const pendingOptimizer = `${paths.optimizer}${PENDING_SUFFIX}`;
  const pendingCheckpoint = `${paths.checkpoint}${PENDING_SUFFIX}`;
  removeAtExit(pendingOptimizer);
  removeAtExit(pendingCheckpoint);
  try {
    await writeTensorFile(pendingOptimizer, 'optimizer', contents.optimizerTensors, { ...contents.optimizerMeta, pair_id: pairId });
    await writeTensorFile(pendingCheckpoint, 'checkpoint', contents.checkpointTensors, { ...contents.checkpointMeta, pair_id: pairId });
    await fsp.rename(pendingOptimizer, paths.optimizer).catch((error: unknown) => {
      throw describeWriteFailure(paths.optimizer, error);
    });
  } catch (error) {
    await fsp.unlink(pendingOptimizer).catch(() => undefined);
    await fsp.unlink(pendingCheckpoint).catch(() => undefined);
    throw error;
  } finally {
    keepAtExit(pendingOptimizer);
    keepAtExit(pendingCheckpoint);
  }
  // From here on the pending checkpoint is the new optimizer file's other half: --resume finishes the rename.
  await fsp.rename(pendingCheckpoint, paths.checkpoint).catch((error: unknown) => {
    throw describeWriteFailure(paths.checkpoint, error);
  });
  return pairId;
}

/** The pair id in the header of a `kind` file (undefined when it has none), or why its header cannot be read. */
async function pairIdOf(path: string, kind: 'checkpoint' | 'optimizer'): Promise<{ id: string | undefined } | { error: unknown }> {
  try {
    const id = (await readTensorFileHeader(path, kind)).p2phd['pair_id'];
    return { id: typeof id === 'string' ? id : undefined };
  } catch (error) {
    return { error };
  }
}

/** Whether `path` exists (the run folder's checks share it). */
export async function exists(path: string): Promise<boolean> {
  try {
    await fsp.access(path);
    return true;
  } catch {
    return false;
  }
}

/** Reads a pair, finishing an interrupted write first when that is what happened. */
export async function readPair(paths: PairPaths, log: (line: string) => void): Promise<{ checkpoint: TensorFile; optimizer: TensorFile }> {
  if (!(await exists(paths.optimizer))) {
    throw new InputError(`${paths.optimizer}: missing; --resume needs the optimizer state saved beside ${paths.checkpoint}`);
  }
  const optimizerHeader = await pairIdOf(paths.optimizer, 'optimizer');
  // A truncated or corrupt optimizer file is reported as what it is.
  if ('error' in optimizerHeader) throw optimizerHeader.error;
  const optimizerId = optimizerHeader.id;
  const checkpointHeader = (await exists(paths.checkpoint)) ? await pairIdOf(paths.checkpoint, 'checkpoint') : undefined;
  const checkpointId = checkpointHeader !== undefined && 'id' in checkpointHeader ? checkpointHeader.id : undefined;
  if (optimizerId === undefined || optimizerId !== checkpointId) {
    const pendingCheckpoint = `${paths.checkpoint}${PENDING_SUFFIX}`;
    const pending = (await exists(pendingCheckpoint)) ? await pairIdOf(pendingCheckpoint, 'checkpoint') : undefined;
    if (optimizerId !== undefined && pending !== undefined && 'id' in pending && pending.id === optimizerId) {
      log(`finishing an interrupted save: ${pendingCheckpoint} -> ${paths.checkpoint}`);
      await fsp.rename(pendingCheckpoint, paths.checkpoint);
    } else if (checkpointHeader === undefined) {
      throw new InputError(`${paths.checkpoint}: missing, and no complete pending save of the same pair beside it; nothing to resume from`);
    } else if ('error' in checkpointHeader) {
      // Truncated or corrupt: say so, rather than blame the pair ids.
      throw checkpointHeader.error;
    } else {
      throw new InputError(
        `${paths.checkpoint} and ${paths.optimizer} are not from the same save (pair ids ${String(checkpointId)} and ${String(optimizerId)}); ` +
          'resuming from them would mix two moments of training',
      );
    }
  }
  const checkpoint = await readTensorFile(paths.checkpoint, 'checkpoint');
  const optimizer = await readTensorFile(paths.optimizer, 'optimizer');
  return { checkpoint, optimizer };
}
