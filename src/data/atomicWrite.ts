/**
 * Atomic output: every file is written under a temporary name in its own
 * folder and renamed into place, so a crash, a kill or a full disk never
 * leaves a half-written file where a Makefile or a resume would trust it.
 * Temporary files still open when the process exits are removed.
 */
import { promises as fsp, unlinkSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { P2phdError, UsageError, InputError } from '../errors.js';

const pendingTemporaries = new Set<string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const path of pendingTemporaries) {
      try {
        unlinkSync(path);
      } catch {
        // Already gone: nothing to clean.
      }
    }
  });
}

/** Sink that receives the file's bytes in order. */
export interface ByteSink {
  write(bytes: Uint8Array): Promise<void>;
}

function describeWriteFailure(path: string, error: unknown): P2phdError {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const reason = code === 'ENOSPC' ? 'no space left on the device'
    : code === 'EACCES' || code === 'EPERM' ? 'permission denied'
    : code === 'ENOENT' ? 'its folder does not exist'
    : code === 'EROFS' ? 'read-only file system'
    : code === 'EDQUOT' ? 'disk quota exceeded'
    : (error as Error | undefined)?.message ?? String(error);
  // A folder that is missing or read-only is the user's to fix (usage);
  // a full disk is the environment's. Both are one-line errors, not bugs.
  return code === 'ENOENT' || code === 'EACCES' || code === 'EPERM' || code === 'EROFS'
    ? new UsageError(`cannot write ${path}: ${reason}`)
    : new InputError(`cannot write ${path}: ${reason}`);
}

/**
 * Test hook: the bad-input audit simulates a full disk by setting
 * P2PHD_SIMULATE_FULL_DISK_AFTER=<bytes> (each output file fails with ENOSPC
 * once that many bytes would be written to it).
 */
export const writeFaults = { failAfterBytes: Number(process.env['P2PHD_SIMULATE_FULL_DISK_AFTER'] ?? -1) };

/**
 * Writes `path` atomically by calling `produce` with a sink. `path === '-'`
 * streams to stdout instead. Errors while writing remove the temporary file.
 */
export async function writeAtomically(path: string, produce: (sink: ByteSink) => Promise<void>): Promise<void> {
  if (path === '-') {
    await produce({ write: (bytes) => writeToStdout(bytes) });
    return;
  }
  const directory = dirname(path);
  const temporary = join(directory, `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  installExitHook();
  let handle: fsp.FileHandle | undefined;
  pendingTemporaries.add(temporary);
  let written = 0;
  try {
    handle = await fsp.open(temporary, 'wx');
    const file = handle;
    await produce({
      async write(bytes: Uint8Array): Promise<void> {
        if (writeFaults.failAfterBytes >= 0 && written + bytes.length > writeFaults.failAfterBytes) {
          const fault = new Error('simulated full disk') as NodeJS.ErrnoException;
          fault.code = 'ENOSPC';
          throw fault;
        }
        let offset = 0;
        while (offset < bytes.length) {
          // Writes above 2 GB at once are refused by the OS: chunk them.
          const chunk = bytes.subarray(offset, Math.min(bytes.length, offset + (1 << 30)));
          const { bytesWritten } = await file.write(chunk);
          offset += bytesWritten;
        }
        written += bytes.length;
      },
    });
    await handle.sync();
    await handle.close();
    handle = undefined;
    await fsp.rename(temporary, path);
    pendingTemporaries.delete(temporary);
  } catch (error) {
    if (handle) await handle.close().catch(() => undefined);
    await fsp.unlink(temporary).catch(() => undefined);
    pendingTemporaries.delete(temporary);
    if (error instanceof P2phdError) throw error;
    throw describeWriteFailure(path, error);
  }
}

/** Writes a whole buffer or string atomically. */
export async function writeFileAtomically(path: string, contents: Uint8Array | string): Promise<void> {
  const bytes = typeof contents === 'string' ? Buffer.from(contents, 'utf8') : contents;
  await writeAtomically(path, (sink) => sink.write(bytes));
}

async function writeToStdout(bytes: Uint8Array): Promise<void> {
  // stdout may be a pipe: respect back-pressure so large tensors stream.
  if (bytes.length === 0) return;
  await new Promise<void>((resolve, reject) => {
    process.stdout.write(bytes, (error) => (error ? reject(error) : resolve()));
  });
}
