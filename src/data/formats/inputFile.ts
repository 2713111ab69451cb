/**
 * Opening an input file: the one place every command opens the files it
 * reads (tensor files, .pth, images, opt.txt, style maps), as atomicWrite.ts
 * is for what it writes.
 *
 * Inputs are opened without blocking (O_NONBLOCK, which changes nothing
 * for a regular file) and refused unless they are regular files. A FIFO
 * opened the ordinary way would block a libuv worker thread until some
 * writer came, and the process could then not even exit on a signal (Node
 * waits for its worker threads at exit); a device or a socket has no size
 * to check before reading. stdin is read through '-' where a flag takes it.
 */
import { constants as fsConstants, promises as fsp } from 'node:fs';
import { InputError } from '../../errors.js';

/** An open regular file and its size; close `handle` when done. */
export interface OpenInput {
  handle: fsp.FileHandle;
  size: number;
}

/** The one-line error for a failure to open or read `path`. */
export function describeReadFailure(path: string, error: unknown, expected = 'a file'): InputError {
  if (error instanceof InputError) return error;
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOENT') return new InputError(`${path}: no such file`);
  if (code === 'EISDIR') return new InputError(`${path}: is a folder, expected ${expected}`);
  if (code === 'EACCES' || code === 'EPERM') return new InputError(`${path}: cannot read (permission denied)`);
  if (code === 'ENOTDIR') return new InputError(`${path}: no such file (a part of the path is not a folder)`);
  return new InputError(`${path}: cannot read (${code ?? (error as Error | undefined)?.message ?? String(error)})`);
}

/**
 * Opens `path` for reading, refusing anything but a regular file with one
 * line naming it (exit 3). `expected` names what was expected, for the
 * folder case ("a tensor file").
 */
export async function openInputFile(path: string, expected = 'a file'): Promise<OpenInput> {
  let handle: fsp.FileHandle;
  try {
    handle = await fsp.open(path, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
  } catch (error) {
    throw describeReadFailure(path, error, expected);
  }
  try {
    const stats = await handle.stat();
    if (stats.isDirectory()) throw new InputError(`${path}: is a folder, expected ${expected}`);
    if (!stats.isFile()) {
      const kind = stats.isFIFO() ? 'a FIFO (named pipe)' : stats.isSocket() ? 'a socket' : 'a device';
      throw new InputError(`${path}: is ${kind}, not a regular file; give a file (or '-' where the flag reads stdin)`);
    }
    return { handle, size: stats.size };
  } catch (error) {
    await handle.close().catch(() => undefined);
    throw describeReadFailure(path, error, expected);
  }
}

/** Runs `use` on the open input and closes it after; read failures become one-line InputErrors naming `path`. */
export async function withInputFile<T>(path: string, use: (input: OpenInput) => Promise<T>, expected = 'a file'): Promise<T> {
  const input = await openInputFile(path, expected);
  try {
    return await use(input);
  } catch (error) {
    // Errors of the caller's own (a P2phdError of another kind, a bug) pass unchanged.
    if ((error as NodeJS.ErrnoException | undefined)?.code !== undefined && !(error instanceof InputError)) throw describeReadFailure(path, error, expected);
    throw error;
  } finally {
    await input.handle.close().catch(() => undefined);
  }
}

/** A whole input file's bytes (for files read whole: images, opt.txt, style maps). */
export async function readInputFile(path: string, expected = 'a file'): Promise<Buffer> {
  return withInputFile(path, async ({ handle, size }) => {
    const bytes = Buffer.alloc(size);
    let offset = 0;
    while (offset < size) {
      const { bytesRead } = await handle.read(bytes, offset, Math.min(size - offset, 1 << 30), offset);
      if (bytesRead === 0) break;
      offset += bytesRead;
    }
    return offset === size ? bytes : bytes.subarray(0, offset);
  }, expected);
}

/** A whole input file as UTF-8 text. */
export async function readInputText(path: string, expected = 'a file'): Promise<string> {
  return (await readInputFile(path, expected)).toString('utf8');
}
