/**
 * p2phd tensor files: safetensors whose `__metadata__.p2phd` is a JSON string
 * `{"kind": ..., "version": 1, ...}`. This module reads and writes them from
 * paths, stdin and stdout, checks the kind, and writes atomically. The
 * per-kind modules (sample, checkpoint, features, clusters) sit on top.
 */
import { promises as fsp } from 'node:fs';
import { openInputFile } from '../formats/inputFile.js';
import { InputError, UsageError, describePath } from '../../errors.js';
import {
  allocateTyped,
  buildHeader,
  DTYPES,
  parseHeader,
  parseHeaderLength,
  parseSafetensors,
  tensorBytes,
  type Metadata,
  type ParsedHeader,
  type SafetensorsFile,
  type Tensor,
} from '../formats/safetensors.js';
import { writeAtomically } from '../formats/atomicWrite.js';

export const FILE_KINDS = ['sample', 'checkpoint', 'optimizer', 'features', 'clusters', 'feature_map'] as const;
export type FileKind = (typeof FILE_KINDS)[number];
export const FORMAT_VERSION = 1;

/** The parsed `p2phd` metadata entry. Extra keys are per kind. */
export interface P2phdMetadata {
  kind: FileKind;
  version: number;
  [key: string]: unknown;
}

export interface TensorFile<M extends P2phdMetadata = P2phdMetadata> extends SafetensorsFile {
  /** The file as named by the user (for messages). */
  source: string;
  p2phd: M;
}

async function readAllStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/**
 * Opens a regular file and hands it to `use` with its size; failures to
 * open or read become InputErrors naming the file.
 */
async function withFile<T>(path: string, use: (handle: fsp.FileHandle, size: number) => Promise<T>): Promise<T> {
  const { handle, size } = await openInputFile(path, 'a tensor file');
  try {
    return await use(handle, size);
  } catch (error) {
    if (error instanceof InputError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EISDIR') throw new InputError(`${path}: is a folder, expected a tensor file`);
    throw new InputError(`${path}: cannot read (${code ?? (error as Error).message})`);
  } finally {
    await handle.close();
  }
}

/** Fills `buffer` from `position` on, by chunks of at most 1 GiB; returns the bytes read (fewer at the end of the file). */
async function readAt(handle: fsp.FileHandle, buffer: Buffer, position: number): Promise<number> {
  let offset = 0;
  while (offset < buffer.length) {
    const { bytesRead } = await handle.read(buffer, offset, Math.min(buffer.length - offset, 1 << 30), position + offset);
    if (bytesRead === 0) break;
    offset += bytesRead;
  }
  return offset;
}

/** Reads and validates the header of an open safetensors file. */
async function readHeaderOf(handle: fsp.FileHandle, size: number, source: string, checkMetadata?: (metadata: Metadata) => void): Promise<ParsedHeader> {
  const prefix = Buffer.alloc(8);
  await readAt(handle, prefix, 0);
  const headerLength = parseHeaderLength(prefix, size, source);
  const json = Buffer.alloc(headerLength);
  await readAt(handle, json, 8);
  return parseHeader(json, headerLength, size, source, checkMetadata);
}

/**
 * Reads a safetensors file from a path: the header, then each tensor into
 * its own typed array from its offset. Nothing holds the whole file, so
 * files of 4 GiB and more (one Buffer's limit) read like any other.
 */
async function readSafetensorsAt(path: string, checkMetadata?: (metadata: Metadata) => void): Promise<SafetensorsFile> {
  const source = describePath(path);
  return withFile(path, async (handle, size) => {
    const header = await readHeaderOf(handle, size, source, checkMetadata);
    const tensors = new Map<string, Tensor>();
    for (const entry of header.entries) {
      const data = allocateTyped(entry.dtype, (entry.end - entry.begin) / DTYPES[entry.dtype].bytes);
      const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
      if ((await readAt(handle, bytes, header.dataStart + entry.begin)) !== bytes.length) {
        throw new InputError(`${source}: tensor "${entry.name}" runs past the end of the file (it shrank while being read?)`);
      }
      tensors.set(entry.name, { dtype: entry.dtype, shape: entry.shape, data } as Tensor);
    }
    return { tensors, metadata: header.metadata };
  });
}

/**
 * Reads any safetensors file, from a path or '-' (stdin). `checkMetadata`
 * (a p2phd kind check) runs on the metadata before the tensor table is built.
 */
export async function readSafetensorsFile(path: string, checkMetadata?: (metadata: Metadata) => void): Promise<SafetensorsFile> {
  if (path === '-') return parseSafetensors(await readAllStdin(), describePath(path), checkMetadata);
  return readSafetensorsAt(path, checkMetadata);
}

/** Parses the p2phd metadata entry; InputError when absent or malformed. */
export function parseP2phdMetadata(metadata: Metadata, source: string): P2phdMetadata {
  const raw = metadata['p2phd'];
  if (raw === undefined) throw new InputError(`${source}: not a p2phd file (its safetensors metadata has no "p2phd" entry)`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new InputError(`${source}: the "p2phd" metadata entry is not valid JSON`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new InputError(`${source}: the "p2phd" metadata entry is not a JSON object`);
  }
  const record = parsed as Record<string, unknown>;
  if (typeof record['kind'] !== 'string' || !(FILE_KINDS as readonly string[]).includes(record['kind'])) {
    throw new InputError(`${source}: unknown p2phd file kind ${JSON.stringify(record['kind'])}`);
  }
  if (record['version'] !== FORMAT_VERSION) {
    throw new InputError(`${source}: p2phd file version ${JSON.stringify(record['version'])} is not supported (this p2phd reads version ${FORMAT_VERSION})`);
  }
  return record as P2phdMetadata;
}

/** The p2phd metadata of `source`, checked to be of `kind` (when given): another kind is exit 3 naming both. */
function p2phdOfKind(metadata: Metadata, source: string, kind: FileKind | undefined): P2phdMetadata {
  const p2phd = parseP2phdMetadata(metadata, source);
  if (kind !== undefined && p2phd.kind !== kind) {
    throw new InputError(`${source}: is a ${p2phd.kind} file, expected a ${kind} file`);
  }
  return p2phd;
}

/**
 * Reads a p2phd tensor file and checks its kind. A file of another kind is
 * refused with exit 3 naming both kinds.
 */
export async function readTensorFile(path: string, kind: FileKind): Promise<TensorFile> {
  const source = describePath(path);
  // The kind is checked on the metadata first: a file of another kind (or none) costs no tensor table.
  const file = await readSafetensorsFile(path, (metadata) => p2phdOfKind(metadata, source, kind));
  return { ...file, source, p2phd: p2phdOfKind(file.metadata, source, kind) };
}

/** What a p2phd tensor file's header says, without its tensor data. */
export interface TensorFileHeader {
  /** The file as named by the user (for messages). */
  source: string;
  p2phd: P2phdMetadata;
  /** Each tensor's name, dtype, shape and byte range, as the header lists them. */
  tensors: ParsedHeader['entries'];
}

/**
 * Reads only the header of a p2phd tensor file (a path, not stdin), with
 * every check readTensorFile makes on the header: the length prefix, the
 * JSON against the file's size, the p2phd entry, and the kind when given.
 */
export async function readTensorFileHeader(path: string, kind?: FileKind): Promise<TensorFileHeader> {
  const source = describePath(path);
  return withFile(path, async (handle, size) => {
    const header = await readHeaderOf(handle, size, source, (metadata) => p2phdOfKind(metadata, source, kind));
    return { source, p2phd: p2phdOfKind(header.metadata, source, kind), tensors: header.entries };
  });
}

/** Reads a p2phd tensor file of any kind (for inspect). */
export async function readAnyTensorFile(path: string): Promise<TensorFile> {
  const source = describePath(path);
  const file = await readSafetensorsFile(path, (metadata) => parseP2phdMetadata(metadata, source));
  return { ...file, source, p2phd: parseP2phdMetadata(file.metadata, source) };
}

/** Looks up a tensor that must exist, with the expected dtypes. */
export function requireTensor(file: { tensors: Map<string, Tensor>; source?: string }, name: string, dtypes?: readonly string[]): Tensor {
  const tensor = file.tensors.get(name);
  const source = file.source ?? 'tensor file';
  if (!tensor) throw new InputError(`${source}: has no tensor "${name}"`);
  if (dtypes && !dtypes.includes(tensor.dtype)) {
    throw new InputError(`${source}: tensor "${name}" is ${tensor.dtype}, expected ${dtypes.join(' or ')}`);
  }
  return tensor;
}

/**
 * Writes a p2phd tensor file atomically ('-' = stdout). `meta` joins kind and
 * version in the p2phd metadata entry; the data is streamed tensor by tensor,
 * never concatenated, so multi-GB checkpoints need no second copy.
 */
export async function writeTensorFile(
  path: string,
  kind: FileKind,
  tensors: ReadonlyMap<string, Tensor>,
  meta: Record<string, unknown> = {},
): Promise<void> {
  if (path === '-' && process.stdout.isTTY) {
    throw new UsageError(`refusing to write a binary ${kind} file to a terminal: give an output path or pipe stdout`);
  }
  const metadata: Metadata = { p2phd: JSON.stringify({ kind, version: FORMAT_VERSION, ...meta }) };
  const { header } = buildHeader(tensors, metadata);
  await writeAtomically(path, async (sink) => {
    await sink.write(header);
    for (const tensor of tensors.values()) await sink.write(tensorBytes(tensor));
  });
}
