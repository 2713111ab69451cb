/**
 * safetensors: read, validate and write (https://github.com/huggingface/safetensors format).
 *
 * Layout: u64 little-endian header length N, N bytes of JSON header, then the
 * data region. The header maps tensor names to {dtype, shape, data_offsets:
 * [begin, end]} (offsets relative to the data region) and may hold a
 * `__metadata__` map of string to string.
 *
 * Files come from users and other programs, so nothing in a header is trusted:
 * the header length is bounded and must fit the file, every tensor's byte size
 * must equal dtype size x element count, tensors must lie inside the data
 * region without overlapping, and no name may appear twice (JSON.parse would
 * keep the last silently; the format forbids duplicates and Hugging Face's
 * reader refuses them). Every violation is an InputError (exit 3) that names
 * the file.
 */
import { InputError } from '../../errors.js';
import { allocateTyped, DTYPES, elementCount, makeTensor, type DType, type DTypeArrays, type Tensor, type TensorData } from './tensor.js';

// Re-exported so that readers of this format need one import.
export { allocateTyped, DTYPES, elementCount, makeTensor, type DType, type DTypeArrays, type Tensor, type TensorData };

export type Metadata = Record<string, string>;

export interface SafetensorsFile {
  tensors: Map<string, Tensor>;
  metadata: Metadata;
}

/**
 * Headers above this are refused before they are read: real headers of huge
 * checkpoints are a few hundred KB (an entry is ~100 bytes; 16 MiB is ~160k
 * tensors), and a hostile one of millions of empty tensors would cost
 * seconds and gigabytes to parse.
 */
export const MAX_HEADER_BYTES = 16 * 1024 * 1024;

function isDType(value: unknown): value is DType {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(DTYPES, value);
}

/** The typed array of `dtype` over bytes [begin, end) of buf, copied when misaligned. */
function viewTyped(dtype: DType, buf: Uint8Array, begin: number, end: number): TensorData {
  const bytesPer = DTYPES[dtype].bytes;
  const length = (end - begin) / bytesPer;
  const absolute = buf.byteOffset + begin;
  if (absolute % bytesPer === 0) {
    switch (dtype) {
      case 'F32': return new Float32Array(buf.buffer, absolute, length);
      case 'F64': return new Float64Array(buf.buffer, absolute, length);
      case 'I32': return new Int32Array(buf.buffer, absolute, length);
      case 'I64': return new BigInt64Array(buf.buffer, absolute, length);
      case 'U16': return new Uint16Array(buf.buffer, absolute, length);
      default: return new Uint8Array(buf.buffer, absolute, length);
    }
  }
  const out = allocateTyped(dtype, length);
  new Uint8Array(out.buffer, out.byteOffset, out.byteLength).set(buf.subarray(begin, end));
  return out;
}

/**
 * Reads the header of a safetensors file. `fileSize` is the total size and
 * `headerBytes(n)` returns the n header bytes after the 8-byte length prefix.
 */
export interface ParsedHeader {
  headerLength: number;
  dataStart: number;
  entries: Array<{ name: string; dtype: DType; shape: number[]; begin: number; end: number }>;
  metadata: Metadata;
}

/** Validates the length prefix; returns the header length. */
export function parseHeaderLength(prefix: Uint8Array, fileSize: number, source: string): number {
  if (fileSize < 8 || prefix.length < 8) {
    throw new InputError(`${source}: not a safetensors file (only ${fileSize} bytes; a header length needs 8)`);
  }
  const view = new DataView(prefix.buffer, prefix.byteOffset, 8);
  const length = view.getBigUint64(0, true);
  if (length > BigInt(MAX_HEADER_BYTES)) {
    throw new InputError(`${source}: safetensors header length ${length} is over the ${MAX_HEADER_BYTES}-byte limit (corrupt or not a safetensors file)`);
  }
  const n = Number(length);
  if (8 + n > fileSize) {
    throw new InputError(`${source}: safetensors header length ${n} runs past the end of the file (${fileSize} bytes; truncated?)`);
  }
  if (n < 2) throw new InputError(`${source}: safetensors header is empty`);
  return n;
}

/**
 * The first key that appears twice in one object of `text` (valid JSON),
 * with the depth of that object (1: the top level). JSON.parse keeps the
 * last of duplicates without a word, so they are looked for in the text.
 */
function duplicateKey(text: string): { key: string; depth: number } | undefined {
  const open: Array<{ keys: Set<string> | undefined; expectKey: boolean }> = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      let end = i + 1;
      while (text[end] !== '"') end += text[end] === '\\' ? 2 : 1;
      const top = open[open.length - 1];
      if (top?.keys !== undefined && top.expectKey) {
        const key = JSON.parse(text.slice(i, end + 1)) as string;
        if (top.keys.has(key)) return { key, depth: open.length };
        top.keys.add(key);
        top.expectKey = false;
      }
      i = end;
    } else if (c === '{') {
      open.push({ keys: new Set(), expectKey: true });
    } else if (c === '[') {
      open.push({ keys: undefined, expectKey: false });
    } else if (c === '}' || c === ']') {
      open.pop();
    } else if (c === ',') {
      const top = open[open.length - 1];
      if (top !== undefined) top.expectKey = top.keys !== undefined;
    }
  }
  return undefined;
}

/** The header's __metadata__ entry (absent: empty), checked to be a map of strings. */
function parseMetadata(value: unknown, source: string): Metadata {
  const metadata: Metadata = {};
  if (value === undefined) return metadata;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new InputError(`${source}: __metadata__ is not a map of strings`);
  }
  for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
    if (typeof item !== 'string') throw new InputError(`${source}: __metadata__ value "${key}" is not a string`);
    metadata[key] = item;
  }
  return metadata;
}

/**
 * Parses and validates the JSON header against the data region's size.
 * `checkMetadata` sees the metadata before any tensor entry is looked at, so
 * a file of the wrong kind is refused before its tensor table is built.
 */
export function parseHeader(headerJson: Uint8Array, headerLength: number, fileSize: number, source: string, checkMetadata?: (metadata: Metadata) => void): ParsedHeader {
  let raw: unknown;
  const text = Buffer.from(headerJson.buffer, headerJson.byteOffset, headerJson.byteLength).toString('utf8');
  try {
    raw = JSON.parse(text);
  } catch {
    throw new InputError(`${source}: safetensors header is not valid JSON (corrupt or not a safetensors file)`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new InputError(`${source}: safetensors header is not a JSON object`);
  }
  const metadata = parseMetadata((raw as Record<string, unknown>)['__metadata__'], source);
  checkMetadata?.(metadata);
  const duplicate = duplicateKey(text);
  if (duplicate !== undefined) {
    throw new InputError(
      duplicate.depth === 1
        ? `${source}: tensor "${duplicate.key}" is listed twice in the safetensors header (names must be unique)`
        : `${source}: key "${duplicate.key}" appears twice in one object of the safetensors header`,
    );
  }
  const dataStart = 8 + headerLength;
  const dataSize = fileSize - dataStart;
  const entries: ParsedHeader['entries'] = [];
  for (const [name, value] of Object.entries(raw as Record<string, unknown>)) {
    if (name === '__metadata__') continue;
    const entry = value as { dtype?: unknown; shape?: unknown; data_offsets?: unknown } | null;
    if (entry === null || typeof entry !== 'object') throw new InputError(`${source}: tensor "${name}" has no description`);
    if (!isDType(entry.dtype)) {
      throw new InputError(`${source}: tensor "${name}" has dtype ${JSON.stringify(entry.dtype)}; supported: ${Object.keys(DTYPES).join(', ')}`);
    }
    const shape = entry.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new InputError(`${source}: tensor "${name}" has an invalid shape ${JSON.stringify(shape)}`);
    }
    const offsets = entry.data_offsets;
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
      throw new InputError(`${source}: tensor "${name}" has invalid data_offsets ${JSON.stringify(offsets)}`);
    }
    const [begin, end] = offsets as [number, number];
    if (end < begin) throw new InputError(`${source}: tensor "${name}" ends (${end}) before it begins (${begin})`);
    if (end > dataSize) {
      throw new InputError(`${source}: tensor "${name}" runs past the end of the file (bytes ${begin}..${end} of a ${dataSize}-byte data region; truncated?)`);
    }
    const expectedBytes = elementCount(shape as number[]) * DTYPES[entry.dtype].bytes;
    if (end - begin !== expectedBytes) {
      throw new InputError(`${source}: tensor "${name}" holds ${end - begin} bytes but ${entry.dtype} [${(shape as number[]).join(', ')}] needs ${expectedBytes}`);
    }
    entries.push({ name, dtype: entry.dtype, shape: [...(shape as number[])], begin, end });
  }
  // In order of their first byte, each tensor must start at or after the
  // furthest end so far; empty tensors hold no bytes and overlap nothing
  // (nor do they hide an overlap of the tensors around them).
  const byStart = entries.filter((entry) => entry.end > entry.begin).sort((a, b) => a.begin - b.begin || a.end - b.end);
  let furthest: (typeof entries)[number] | undefined;
  for (const current of byStart) {
    if (furthest !== undefined && current.begin < furthest.end) {
      throw new InputError(`${source}: tensors "${furthest.name}" and "${current.name}" overlap (bytes ${furthest.begin}..${furthest.end} and ${current.begin}..${current.end})`);
    }
    if (furthest === undefined || current.end > furthest.end) furthest = current;
  }
  return { headerLength, dataStart, entries, metadata };
}

/** Parses a whole safetensors file held in memory. */
export function parseSafetensors(bytes: Uint8Array, source: string, checkMetadata?: (metadata: Metadata) => void): SafetensorsFile {
  const headerLength = parseHeaderLength(bytes.subarray(0, 8), bytes.length, source);
  const header = parseHeader(bytes.subarray(8, 8 + headerLength), headerLength, bytes.length, source, checkMetadata);
  const tensors = new Map<string, Tensor>();
  for (const entry of header.entries) {
    const data = viewTyped(entry.dtype, bytes, header.dataStart + entry.begin, header.dataStart + entry.end);
    tensors.set(entry.name, { dtype: entry.dtype, shape: entry.shape, data } as Tensor);
  }
  return { tensors, metadata: header.metadata };
}

/** Byte view of a tensor's data, little-endian (the machines we run on are). */
export function tensorBytes(tensor: Tensor): Uint8Array {
  const data = tensor.data;
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

function validateForWrite(name: string, tensor: Tensor): void {
  if (!isDType(tensor.dtype)) throw new Error(`tensor "${name}": unknown dtype ${String(tensor.dtype)}`);
  const expected = elementCount(tensor.shape) * DTYPES[tensor.dtype].bytes;
  if (tensor.data.byteLength !== expected) {
    throw new Error(`tensor "${name}": ${tensor.data.byteLength} bytes of data for ${tensor.dtype} [${tensor.shape.join(', ')}] (needs ${expected})`);
  }
}

/**
 * The header bytes (length prefix + JSON, padded with spaces so the data region
 * starts 8-aligned, as the reference writer does) and each tensor's offset.
 * Tensors are laid out in the order given.
 */
export function buildHeader(tensors: ReadonlyMap<string, Tensor>, metadata: Metadata): { header: Buffer; dataBytes: number } {
  const json: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) json['__metadata__'] = metadata;
  let offset = 0;
  for (const [name, tensor] of tensors) {
    validateForWrite(name, tensor);
    const end = offset + tensor.data.byteLength;
    json[name] = { dtype: tensor.dtype, shape: tensor.shape, data_offsets: [offset, end] };
    offset = end;
  }
  let text = JSON.stringify(json);
  const padding = (8 - ((8 + Buffer.byteLength(text)) % 8)) % 8;
  text += ' '.repeat(padding);
  const body = Buffer.from(text, 'utf8');
  const header = Buffer.alloc(8 + body.length);
  header.writeBigUInt64LE(BigInt(body.length), 0);
  body.copy(header, 8);
  return { header, dataBytes: offset };
}

/** Serializes to one buffer (for small files and stdout). */
export function serializeSafetensors(tensors: ReadonlyMap<string, Tensor>, metadata: Metadata = {}): Buffer {
  const { header, dataBytes } = buildHeader(tensors, metadata);
  const out = Buffer.allocUnsafe(header.length + dataBytes);
  header.copy(out, 0);
  let offset = header.length;
  for (const tensor of tensors.values()) {
    const bytes = tensorBytes(tensor);
    out.set(bytes, offset);
    offset += bytes.length;
  }
  return out;
}
