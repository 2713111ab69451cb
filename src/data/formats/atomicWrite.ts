/**
 * Atomic output: every file is written under a temporary name in its own
 * folder and renamed into place, so a crash, a kill or a full disk never
 * leaves a half-written file where a Makefile or a resume would trust it.
 * Temporary files still open when the process exits are removed, on a
 * normal exit and on process.exit (which the CLI's signal handlers call,
 * src/lifecycle.ts); so is anything else registered with removeAtExit (run
 * folder locks, a checkpoint pair's pending files).
 */
import { accessSync, closeSync, constants as fsConstants, mkdirSync, openSync, promises as fsp, statSync, unlinkSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { P2phdError, UsageError, InputError } from '../../errors.js';
import { describeStdoutFailure, isClosedPipe } from '../../lifecycle.js';

const removedAtExit = new Set<string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const path of removedAtExit) {
      try {
        unlinkSync(path);
      } catch {
        // Already gone: nothing to clean.
      }
    }
  });
}

/** Removes `path` when the process exits (by any way but SIGKILL), unless keepAtExit is called first. */
export function removeAtExit(path: string): void {
  installExitHook();
  removedAtExit.add(path);
}

/** Undoes removeAtExit: the file stays (it was renamed into place, or removed already). */
export function keepAtExit(path: string): void {
  removedAtExit.delete(path);
}

/** Sink that receives the file's bytes in order. */
export interface ByteSink {
  write(bytes: Uint8Array): Promise<void>;
}

/** The deepest folder of `path` (itself included) that exists. */
function existingAncestor(path: string): string {
  let current = resolve(path);
  for (;;) {
    try {
      statSync(current);
      return current;
    } catch {
      const parent = dirname(current);
      if (parent === current) return current;
      current = parent;
    }
  }
}

/**
 * The error code that explains a failure to create `path`. A recursive
 * mkdir under a read-only mount reports ENOENT (for the missing part), not
 * EROFS; access(W_OK) on the deepest existing folder tells the two apart,
 * even for root.
 */
function explainCode(path: string, code: string | undefined): string | undefined {
  if (code !== 'ENOENT') return code;
  try {
    accessSync(existingAncestor(dirname(path)), fsConstants.W_OK);
    return code;
  } catch (error) {
    const accessCode = (error as NodeJS.ErrnoException).code;
    return accessCode === 'EROFS' || accessCode === 'EACCES' || accessCode === 'EPERM' ? accessCode : code;
  }
}

function reasonFor(code: string | undefined, error: unknown): string {
  return code === 'ENOSPC' ? 'no space left on the device'
    : code === 'EACCES' || code === 'EPERM' ? 'permission denied'
    : code === 'ENOENT' ? 'its folder does not exist'
    : code === 'EROFS' ? 'read-only file system'
    : code === 'EDQUOT' ? 'disk quota exceeded'
    : code === 'EEXIST' || code === 'ENOTDIR' ? 'a file is in the way'
    : (error as Error | undefined)?.message ?? String(error);
}

/** The one-line error for a failed write of `path` (a file being written, appended to, or renamed into place). */
export function describeWriteFailure(path: string, error: unknown): P2phdError {
  if (error instanceof P2phdError) return error;
  const code = explainCode(path, (error as NodeJS.ErrnoException | undefined)?.code);
  const reason = reasonFor(code, error);
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
 * Creates an output folder (and its parents) for `flag`; a file in the way,
 * a read-only file system or a missing permission is a usage error (exit 2)
 * naming the flag and the folder.
 */
export function createOutputFolder(path: string, flag: string): void {
  try {
    mkdirSync(path, { recursive: true });
  } catch (error) {
    const code = explainCode(path, (error as NodeJS.ErrnoException).code);
    throw new UsageError(`${flag} ${path}: cannot create the output folder (${reasonFor(code, error)})`);
  }
}

/** The longest file name (bytes) most file systems take (NAME_MAX on Linux, macOS, ext4, xfs, btrfs). */
export const NAME_MAX_BYTES = 255;

/**
 * The temporary name beside `path`: `.<name>.<pid>.<hex>.tmp`. When the
 * final name is near NAME_MAX, `<name>` is cut (at a UTF-8 character
 * boundary) so that the temporary fits wherever the final name fits.
 */
export function temporaryPathFor(path: string): string {
  const suffix = `.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  let name = basename(path);
  const room = NAME_MAX_BYTES - 1 - Buffer.byteLength(suffix);
  if (Buffer.byteLength(name) > room) {
    const bytes = Buffer.from(name);
    let end = room;
    // Back off continuation bytes (10xxxxxx) so no character is cut in half.
    while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
    name = bytes.subarray(0, end).toString('utf8');
  }
  return join(dirname(path), `.${name}${suffix}`);
}

/**
 * Writes `path` atomically by calling `produce` with a sink. `path === '-'`
 * streams to stdout instead. Errors while writing remove the temporary file.
 */
export async function writeAtomically(path: string, produce: (sink: ByteSink) => Promise<void>): Promise<void> {
  if (path === '-') {
    await produce({ write: (bytes) => writeToStdout(bytes) });
    return;
  }
  const temporary = temporaryPathFor(path);
  let handle: fsp.FileHandle | undefined;
  removeAtExit(temporary);
  let written = 0;
  try {
    // Created synchronously, then reopened without O_CREAT: a signal's exit
    // hook (which runs between JS tasks) then always finds the file to
    // remove, and no open still in flight can create it again after.
    closeSync(openSync(temporary, 'wx'));
    handle = await fsp.open(temporary, 'r+');
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
    keepAtExit(temporary);
  } catch (error) {
    if (handle) await handle.close().catch(() => undefined);
    await fsp.unlink(temporary).catch(() => undefined);
    keepAtExit(temporary);
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
    process.stdout.write(bytes, (error) => (error ? reject(isClosedPipe(error) ? error : new InputError(describeStdoutFailure(error))) : resolve()));
  });
}
