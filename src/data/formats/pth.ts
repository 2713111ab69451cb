/**
 * PyTorch `.pth` files (torch.save of a state_dict), read safely and written.
 *
 * Two container formats exist. The zip format (PyTorch >= 1.6) holds
 * `<prefix>/data.pkl` (the pickled object) and one entry `<prefix>/data/<key>`
 * per storage; yauzl reads the central directory and each entry's local
 * header, and the uncompressed storages torch writes are read straight from
 * their offsets (compressed ones through yauzl's stream), so a 548 MB file
 * is never copied whole. The
 * legacy format (`_legacy_save`: NVIDIA's 2018 checkpoints, torchvision's
 * VGG19) is five pickles in a row (magic number, protocol version, sys_info,
 * the object, the sorted storage keys) followed by the storages, each an
 * int64 element count and raw little-endian bytes; the storages are read at
 * their offsets.
 *
 * Unpickling uses pickleparser's VM with two hooks: a name resolver that
 * knows only what a state_dict needs (collections.OrderedDict, the
 * torch._utils tensor and parameter rebuilders, the storage types) and
 * refuses every other global (exit 3 naming the file and the global: a
 * pickle is a program, and `posix.system` is one global away), and a
 * persistent-load hook that turns storage ids into references to storage
 * data. Like torch.load(weights_only=True), loading a file never runs code
 * from it: the only functions a pickle can reach are the ones below, each of
 * which checks its arguments. They are created anew for every file, so a
 * pickle that writes onto them (BUILD) changes nothing beyond its own load.
 *
 * Tensors come out as safetensors-style `Tensor`s (dtype, shape, typed
 * data), row-major; half and bfloat16 storages widen to F32, int8 and int16
 * to I32. Nested dictionaries flatten to dotted names; non-tensor leaves
 * (numbers, strings) are reported as ignored.
 */
import { promises as fsp } from 'node:fs';
import { openInputFile } from './inputFile.js';
import type { Readable } from 'node:stream';
import { BufferReader, Parser } from 'pickleparser';
import * as yauzl from 'yauzl';
import { Zip, ZipPassThrough } from 'fflate';
import { InputError, P2phdError } from '../../errors.js';
import { writeAtomically } from './atomicWrite.js';
import { elementCount, makeTensor, tensorBytes, type DType, type Tensor, type TensorData } from './safetensors.js';

// ---------------------------------------------------------------------------
// Storage types and the values a state_dict pickle builds.

/** How a storage type's bytes are stored and what they become. */
interface StorageKind {
  readonly name: string;
  /** Bytes per element in the file. */
  readonly itemBytes: number;
  /** The dtype of the tensors built from it. */
  readonly dtype: DType;
  /** Widens file bytes into the dtype's typed array (undefined: the bytes are the dtype's). */
  readonly widen?: (bytes: Uint8Array, count: number) => TensorData;
}

function halfToFloat(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 31) return fraction === 0 ? sign * Infinity : NaN;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

const STORAGE_KINDS: Readonly<Record<string, StorageKind>> = Object.freeze({
  FloatStorage: { name: 'FloatStorage', itemBytes: 4, dtype: 'F32' },
  DoubleStorage: { name: 'DoubleStorage', itemBytes: 8, dtype: 'F64' },
  LongStorage: { name: 'LongStorage', itemBytes: 8, dtype: 'I64' },
  IntStorage: { name: 'IntStorage', itemBytes: 4, dtype: 'I32' },
  ByteStorage: { name: 'ByteStorage', itemBytes: 1, dtype: 'U8' },
  BoolStorage: { name: 'BoolStorage', itemBytes: 1, dtype: 'BOOL' },
  HalfStorage: {
    name: 'HalfStorage', itemBytes: 2, dtype: 'F32',
    widen: (bytes, count) => {
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      return Float32Array.from({ length: count }, (_, i) => halfToFloat(view.getUint16(2 * i, true)));
    },
  },
  BFloat16Storage: {
    name: 'BFloat16Storage', itemBytes: 2, dtype: 'F32',
    widen: (bytes, count) => {
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      const bits = new Uint32Array(count);
      for (let i = 0; i < count; i++) bits[i] = view.getUint16(2 * i, true) << 16;
      return new Float32Array(bits.buffer);
    },
  },
  ShortStorage: {
    name: 'ShortStorage', itemBytes: 2, dtype: 'I32',
    widen: (bytes, count) => {
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      return Int32Array.from({ length: count }, (_, i) => view.getInt16(2 * i, true));
    },
  },
  CharStorage: {
    name: 'CharStorage', itemBytes: 1, dtype: 'I32',
    widen: (bytes, count) => Int32Array.from(new Int8Array(bytes.buffer, bytes.byteOffset, count)),
  },
});

/** A storage type as a pickle names it (torch.FloatStorage): data, never callable. */
class StorageType {
  constructor(readonly kind: StorageKind) {
    Object.freeze(this);
  }
}

/**
 * A storage the pickle refers to by key; its data is read after unpickling
 * (into a map of the reader's, never onto this object). Storage and tensor
 * refs are frozen when made: a pickle's BUILD opcode sets attributes on the
 * object on its stack, and must not rewrite a size or a stride after it was
 * checked.
 */
class StorageRef {
  constructor(
    readonly key: string,
    readonly kind: StorageKind,
    /** Elements in the root storage, as the persistent id says. */
    readonly count: number,
    /** Legacy views: this storage is elements [offset, offset + count) of root `key`. */
    readonly viewOffset: number,
    readonly viewCount: number,
  ) {
    Object.freeze(this);
  }
}

/** A tensor as _rebuild_tensor_v2 describes it: a strided view of a storage. */
class TensorRef {
  constructor(
    readonly storage: StorageRef,
    readonly offset: number,
    readonly shape: readonly number[],
    readonly stride: readonly number[],
  ) {
    Object.freeze(this.shape);
    Object.freeze(this.stride);
    Object.freeze(this);
  }
}

/** The data read for each storage ref the kept tensors use. */
type StorageData = Map<StorageRef, TensorData>;

/** A short, one-line, never-throwing description of a pickled value for messages (it may refer to itself). */
function describeValue(value: unknown): string {
  const seen = new Set<unknown>();
  const walk = (item: unknown, depth: number): string => {
    if (item instanceof StorageType) return item.kind.name;
    if (typeof item === 'string') return JSON.stringify(item.length > 40 ? `${item.slice(0, 40)}...` : item);
    if (typeof item !== 'object' || item === null) return String(item);
    if (seen.has(item)) return '<itself>';
    if (depth > 3) return '...';
    seen.add(item);
    if (Array.isArray(item)) return `[${item.slice(0, 8).map((v) => walk(v, depth + 1)).join(', ')}${item.length > 8 ? ', ...' : ''}]`;
    return `<${item.constructor?.name ?? 'object'}>`;
  };
  return walk(value, 0);
}

const ZIP_MAGIC = [0x50, 0x4b, 0x03, 0x04];
/** torch.serialization's MAGIC_NUMBER 0x1950a86a20f9469cfc6c, as LONG1 bytes (little-endian). */
const LEGACY_MAGIC = [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];
const LEGACY_PROTOCOL_VERSION = 1001;
/** Deflate's largest possible compression ratio (a longer claim is a lie). */
const DEFLATE_MAX_RATIO = 1032;
/** A state_dict's pickle (names, sizes, strides) is kilobytes; thousands of tensors stay far below this. */
const MAX_PICKLE_BYTES = 256 * 1024 * 1024;

export type PthFormat = 'zip' | 'legacy';

export interface PthFile {
  /** The file as named in messages. */
  readonly source: string;
  readonly format: PthFormat;
  /** Tensors by (dotted) name, in the file's order. */
  readonly tensors: Map<string, Tensor>;
  /** Names of entries that are not tensors (numbers, strings, ...), skipped. */
  readonly ignored: string[];
}

export interface PthReadOptions {
  /** Only tensors whose name passes are read (their storages only): VGG19's classifier is 470 MB nobody needs. */
  readonly keep?: (name: string) => boolean;
}

/** Bytes looksLikePth needs to see. */
export const PTH_SNIFF_BYTES = 32;

/**
 * True when `bytes` (the first PTH_SNIFF_BYTES of a file) start a zip or a
 * legacy torch.save file. The legacy test checks the whole magic number: a
 * pickle's first byte alone also starts some safetensors headers.
 */
export function looksLikePth(bytes: Uint8Array): boolean {
  return ZIP_MAGIC.every((b, i) => bytes[i] === b) || (bytes[0] === 0x80 && legacyMagicLength(bytes) > 0);
}

/** True when `path` is a torch.save file (by its first bytes), not a safetensors checkpoint or a folder. */
export async function isPthFile(path: string): Promise<boolean> {
  let handle: fsp.FileHandle | undefined;
  try {
    // Anything but a regular file is no .pth; the reader it falls to says what it is.
    const opened = (await openInputFile(path)).handle;
    handle = opened;
    const head = Buffer.alloc(PTH_SNIFF_BYTES);
    const { bytesRead } = await opened.read(head, 0, PTH_SNIFF_BYTES, 0);
    return looksLikePth(head.subarray(0, bytesRead));
  } catch {
    return false;
  } finally {
    await handle?.close();
  }
}

// ---------------------------------------------------------------------------
// The unpickler's allow-list.

function isIntegerArray(value: unknown): value is number[] {
  return Array.isArray(value) && value.length <= 64 && value.every((v) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0);
}

/**
 * The globals a state_dict pickle may name, as fresh values for one load.
 * `fail` builds the error for a bad argument.
 */
function allowedGlobals(fail: (message: string) => InputError): Map<string, unknown> {
  const globals = new Map<string, unknown>();
  const orderedDict = (...args: unknown[]): Map<unknown, unknown> => {
    const map = new Map<unknown, unknown>();
    if (args.length === 0) return map;
    const [pairs] = args;
    if (args.length !== 1 || !Array.isArray(pairs)) throw fail('collections.OrderedDict called with unexpected arguments');
    for (const pair of pairs) {
      if (!Array.isArray(pair) || pair.length !== 2) throw fail('collections.OrderedDict called with a non-pair item');
      map.set(pair[0], pair[1]);
    }
    return map;
  };
  const rebuildTensor = (storage: unknown, offset: unknown, size: unknown, stride: unknown): TensorRef => {
    if (!(storage instanceof StorageRef)) throw fail('a tensor is rebuilt from something that is not a storage');
    if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) throw fail(`a tensor has storage offset ${String(offset)}`);
    if (!isIntegerArray(size) || !isIntegerArray(stride) || size.length !== stride.length) {
      throw fail(`a tensor has size ${describeValue(size)} and stride ${describeValue(stride)}`);
    }
    const count = size.reduce((product, dim) => product * dim, 1);
    if (count > 0) {
      // Sizes are checked here, before anything is allocated: the tensor's
      // elements must lie in its storage, and (state_dicts hold no expanded
      // views) be no more than the storage holds, so a few bytes of pickle
      // cannot ask for a zero-stride 16000 x 16000 copy.
      const last = offset + size.reduce((sum, dim, i) => sum + (dim - 1) * stride[i]!, 0);
      if (!Number.isSafeInteger(last) || last >= storage.viewCount) {
        throw fail(`a tensor of size [${size.join(', ')}] at offset ${offset} runs past its ${storage.viewCount}-element storage "${storage.key}"`);
      }
      if (count > storage.viewCount) {
        throw fail(`a tensor of size [${size.join(', ')}] (${count} elements) overlaps itself in its ${storage.viewCount}-element storage "${storage.key}" (stride [${stride.join(', ')}]); a state_dict holds no such views`);
      }
    }
    return new TensorRef(storage, offset, [...size], [...stride]);
  };
  globals.set('collections.OrderedDict', orderedDict);
  globals.set('torch._utils._rebuild_tensor', (storage: unknown, offset: unknown, size: unknown, stride: unknown) => rebuildTensor(storage, offset, size, stride));
  globals.set('torch._utils._rebuild_tensor_v2', (storage: unknown, offset: unknown, size: unknown, stride: unknown) => rebuildTensor(storage, offset, size, stride));
  const parameter = (data: unknown): TensorRef => {
    if (!(data instanceof TensorRef)) throw fail('a parameter wraps something that is not a tensor');
    return data;
  };
  globals.set('torch._utils._rebuild_parameter', parameter);
  globals.set('torch._utils._rebuild_parameter_with_state', parameter);
  for (const kind of Object.values(STORAGE_KINDS)) {
    globals.set(`torch.${kind.name}`, new StorageType(kind));
    globals.set(`torch.cuda.${kind.name}`, new StorageType(kind));
  }
  return globals;
}

type PersistentIdForm = 'zip' | 'legacy';

/** A parser whose globals are the allow-list and whose persistent ids are storages. */
function makeParser(source: string, form: PersistentIdForm, storages: Map<string, StorageRef>): Parser {
  const fail = (message: string): InputError => new InputError(`${source}: ${message}`);
  const globals = allowedGlobals(fail);
  const persistentLoad = (id: unknown): StorageRef => {
    if (!Array.isArray(id) || id[0] !== 'storage') {
      const what = Array.isArray(id) && id[0] === 'module' ? 'a pickled module with its source code' : `persistent id ${describeValue(id)}`;
      throw fail(`refused ${what}: only storages of a state_dict are loaded (torch.save(model.state_dict()) files)`);
    }
    const [, type, key, , count, view] = id as unknown[];
    if (!(type instanceof StorageType) || typeof key !== 'string' || typeof count !== 'number' || !Number.isSafeInteger(count) || count < 0) {
      throw fail(`malformed storage id ${describeValue(id)}`);
    }
    let viewOffset = 0;
    let viewCount = count;
    if (form === 'legacy' && view !== null && view !== undefined) {
      if (!isIntegerArray((view as unknown[]).slice(1)) || typeof (view as unknown[])[0] !== 'string') throw fail('malformed storage view id');
      const [viewKey, offset, size] = view as [string, number, number];
      if (offset + size > count) throw fail(`storage view "${viewKey}" runs past its storage "${key}"`);
      viewOffset = offset;
      viewCount = size;
      const root = rootStorage(key, type.kind, count);
      const existing = storages.get(`view:${viewKey}`);
      if (existing) return existing;
      const ref = new StorageRef(root.key, type.kind, count, viewOffset, viewCount);
      storages.set(`view:${viewKey}`, ref);
      return ref;
    }
    return rootStorage(key, type.kind, count);
  };
  const rootStorage = (key: string, kind: StorageKind, count: number): StorageRef => {
    const existing = storages.get(key);
    if (existing) {
      if (existing.kind !== kind || existing.count !== count) throw fail(`storage "${key}" is described twice, differently`);
      return existing;
    }
    const ref = new StorageRef(key, kind, count, 0, count);
    storages.set(key, ref);
    return ref;
  };
  return new Parser({
    unpicklingTypeOfDictionary: 'Map',
    unpicklingTypeOfSet: 'array',
    nameResolver: {
      resolve: (module: string, name: string) => {
        const qualified = `${module}.${name}`;
        if (!globals.has(qualified)) {
          throw fail(`refused to load: its pickle names the global "${qualified}", which a state_dict never needs (only tensors are loaded; nothing in the file is run)`);
        }
        // The parser's types want a callable; storage types are data, and calling one fails as corrupt.
        return globals.get(qualified) as (...args: unknown[]) => unknown;
      },
    },
    persistentResolver: { resolve: persistentLoad },
    extensionResolver: {
      resolve: (code: number) => {
        throw fail(`refused to load: its pickle uses extension code ${code}, which a state_dict never needs`);
      },
    },
  });
}

/** Runs one pickle from `reader`'s position; errors other than ours become "corrupt". */
function unpickle(parser: Parser, reader: BufferReader, source: string, what: string): unknown {
  try {
    return parser.read(reader);
  } catch (error) {
    if (error instanceof P2phdError) throw error;
    // One line: a pickle that refers to itself can make the parser's own errors long and multi-line.
    const reason = error instanceof RangeError && /call stack/.test(error.message)
      ? 'it nests or refers to itself too deeply'
      : ((error as Error | undefined)?.message ?? String(error)).split('\n')[0]!.slice(0, 200);
    throw new InputError(`${source}: corrupt or not a PyTorch file (${what}: ${reason})`);
  }
}

/** Flattens the unpickled object into named tensor refs. */
function collectTensors(value: unknown, source: string): { tensors: Array<[string, TensorRef]>; ignored: string[] } {
  if (value instanceof TensorRef) return { tensors: [['', value]], ignored: [] };
  if (!(value instanceof Map)) {
    throw new InputError(`${source}: holds a ${Array.isArray(value) ? 'list' : typeof value}, not a state_dict (a dictionary of tensors)`);
  }
  const tensors: Array<[string, TensorRef]> = [];
  const ignored: string[] = [];
  const walk = (map: Map<unknown, unknown>, prefix: string, depth: number): void => {
    for (const [key, item] of map) {
      const name = `${prefix}${String(key)}`;
      if (item instanceof TensorRef) tensors.push([name, item]);
      else if (item instanceof Map && depth < 8) walk(item, `${name}.`, depth + 1);
      else ignored.push(name);
    }
  };
  walk(value, '', 0);
  return { tensors, ignored };
}

/** The row-major data of a strided view (a view of the storage when already contiguous). */
function materialize(ref: TensorRef, data: TensorData, source: string): TensorData {
  const start = ref.storage.viewOffset + ref.offset;
  const count = elementCount(ref.shape);
  // Checked when the tensor was rebuilt; checked again against the data actually read.
  if (count > 0) {
    const last = start + ref.shape.reduce((sum, dim, i) => sum + (dim - 1) * ref.stride[i]!, 0);
    if (count > ref.storage.viewCount || last >= ref.storage.viewOffset + ref.storage.viewCount || last >= data.length) {
      throw new InputError(`${source}: a tensor of size [${ref.shape.join(', ')}] does not fit its storage "${ref.storage.key}"`);
    }
  }
  let expected = 1;
  let contiguous = true;
  for (let i = ref.shape.length - 1; i >= 0; i--) {
    if (ref.shape[i]! > 1 && ref.stride[i] !== expected) contiguous = false;
    expected *= ref.shape[i]!;
  }
  if (contiguous) return data.subarray(start, start + count) as TensorData;
  const out = new (data.constructor as new (length: number) => TensorData)(count);
  const index = new Array<number>(ref.shape.length).fill(0);
  for (let n = 0; n < count; n++) {
    let at = start;
    for (let d = 0; d < index.length; d++) at += index[d]! * ref.stride[d]!;
    (out as Float32Array)[n] = (data as Float32Array)[at]!;
    for (let d = index.length - 1; d >= 0; d--) {
      if (++index[d]! < ref.shape[d]!) break;
      index[d] = 0;
    }
  }
  return out;
}

function storageData(kind: StorageKind, bytes: Buffer, count: number): TensorData {
  if (kind.widen) return kind.widen(bytes, count);
  switch (kind.dtype) {
    case 'F32': return new Float32Array(bytes.buffer, bytes.byteOffset, count);
    case 'F64': return new Float64Array(bytes.buffer, bytes.byteOffset, count);
    case 'I64': return new BigInt64Array(bytes.buffer, bytes.byteOffset, count);
    case 'I32': return new Int32Array(bytes.buffer, bytes.byteOffset, count);
    default: return new Uint8Array(bytes.buffer, bytes.byteOffset, count);
  }
}

/** The storages the kept tensors need, by root key. */
function neededStorages(tensors: ReadonlyArray<[string, TensorRef]>): Map<string, StorageRef[]> {
  const needed = new Map<string, StorageRef[]>();
  for (const [, ref] of tensors) {
    const list = needed.get(ref.storage.key) ?? [];
    if (!list.includes(ref.storage)) list.push(ref.storage);
    needed.set(ref.storage.key, list);
  }
  return needed;
}

function finish(source: string, format: PthFormat, kept: ReadonlyArray<[string, TensorRef]>, ignored: string[], data: StorageData): PthFile {
  const tensors = new Map<string, Tensor>();
  for (const [name, ref] of kept) {
    const stored = data.get(ref.storage);
    if (stored === undefined) throw new InputError(`${source}: storage "${ref.storage.key}" is described but not stored`);
    tensors.set(name, makeTensor(ref.storage.kind.dtype, [...ref.shape], materialize(ref, stored, source)));
  }
  return { source, format, tensors, ignored };
}

// ---------------------------------------------------------------------------
// Reading.

async function readExactly(handle: fsp.FileHandle, length: number, position: number, source: string): Promise<Buffer> {
  // allocUnsafeSlow: a buffer of its own, so typed views over it are aligned.
  const buffer = Buffer.allocUnsafeSlow(length);
  let offset = 0;
  while (offset < length) {
    const { bytesRead } = await handle.read(buffer, offset, Math.min(length - offset, 1 << 30), position + offset);
    if (bytesRead === 0) throw new InputError(`${source}: truncated (ends inside a storage at byte ${position + offset})`);
    offset += bytesRead;
  }
  return buffer;
}

async function streamToBuffer(stream: Readable, length: number, source: string, name: string): Promise<Buffer> {
  const buffer = Buffer.allocUnsafeSlow(length);
  let offset = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    if (offset + chunk.length > length) throw new InputError(`${source}: zip entry "${name}" is longer than its directory says`);
    chunk.copy(buffer, offset);
    offset += chunk.length;
  }
  if (offset !== length) throw new InputError(`${source}: zip entry "${name}" is shorter than its directory says`);
  return buffer;
}

async function readZipPth(path: string, handle: fsp.FileHandle, options: PthReadOptions): Promise<PthFile> {
  let zip: yauzl.ZipFile;
  try {
    zip = await yauzl.openPromise(path, { lazyEntries: true, autoClose: false, decodeStrings: true, validateEntrySizes: true });
  } catch (error) {
    throw new InputError(`${path}: not a readable zip archive (${(error as Error).message})`);
  }
  try {
    const entries = new Map<string, yauzl.Entry>();
    try {
      for await (const entry of zip.eachEntry()) entries.set(entry.fileName, entry);
    } catch (error) {
      throw new InputError(`${path}: corrupt zip archive (${(error as Error).message})`);
    }
    const pickles = [...entries.keys()].filter((name) => /^[^/]+\/data\.pkl$/.test(name));
    if (pickles.length !== 1) {
      throw new InputError(`${path}: a zip archive, but not one torch.save wrote (${pickles.length === 0 ? 'no <name>/data.pkl' : 'several data.pkl'})`);
    }
    const prefix = pickles[0]!.slice(0, -'data.pkl'.length);
    const read = async (name: string, limit = Infinity): Promise<Buffer> => {
      const entry = entries.get(name);
      if (entry === undefined) throw new InputError(`${path}: the zip archive has no entry "${name}"`);
      // Sizes before inflating: deflate never shrinks data more than 1032:1, and an entry is never read past `limit`.
      if (entry.uncompressedSize > limit || (entry.compressionMethod !== 0 && entry.uncompressedSize > entry.compressedSize * DEFLATE_MAX_RATIO + 1024)) {
        throw new InputError(`${path}: zip entry "${name}" claims ${entry.uncompressedSize} bytes (${entry.compressedSize} stored), more than it can hold`);
      }
      try {
        // torch.save stores entries uncompressed: read those straight from their offset into the buffer kept.
        if (entry.compressionMethod === 0 && !entry.isEncrypted() && entry.compressedSize === entry.uncompressedSize) {
          const { fileDataStart } = await zip.readLocalFileHeaderPromise(entry, { minimal: true });
          return await readExactly(handle, entry.uncompressedSize, fileDataStart, path);
        }
        return await streamToBuffer(await zip.openReadStreamPromise(entry), entry.uncompressedSize, path, name);
      } catch (error) {
        if (error instanceof P2phdError) throw error;
        throw new InputError(`${path}: cannot read zip entry "${name}" (${(error as Error).message})`);
      }
    };
    if (entries.has(`${prefix}byteorder`)) {
      const order = (await read(`${prefix}byteorder`)).toString('ascii').trim();
      if (order !== 'little') throw new InputError(`${path}: saved with ${order}-endian storages; only little-endian files are read`);
    }
    const storages = new Map<string, StorageRef>();
    const value = unpickle(makeParser(path, 'zip', storages), new BufferReader(await read(pickles[0]!, MAX_PICKLE_BYTES)), path, 'data.pkl');
    const { tensors, ignored } = collectTensors(value, path);
    const kept = tensors.filter(([name]) => options.keep?.(name) ?? true);
    const storageBytes: StorageData = new Map();
    for (const [key, refs] of neededStorages(kept)) {
      const kind = refs[0]!.kind;
      const name = `${prefix}data/${key}`;
      const count = refs[0]!.count;
      // The sizes agree before anything is read or inflated: a deflated
      // entry is inflated no further than its directory size, which must be
      // what the pickle's element count needs.
      const stored = entries.get(name)?.uncompressedSize;
      if (stored !== undefined && stored !== count * kind.itemBytes) {
        throw new InputError(`${path}: storage "${key}" holds ${stored} bytes, but its ${count} ${kind.name} elements need ${count * kind.itemBytes}`);
      }
      const data = storageData(kind, await read(name), count);
      for (const ref of refs) storageBytes.set(ref, data);
    }
    return finish(path, 'zip', kept, ignored, storageBytes);
  } finally {
    zip.close();
  }
}

/** Bytes of the legacy header pickle that precede the protocol-version pickle, or -1 when the magic number is not there. */
function legacyMagicLength(head: Uint8Array): number {
  let at = 2; // PROTO n
  if (head[at] === 0x95) at += 9; // FRAME (protocol 4+)
  if (head[at] !== 0x8a || head[at + 1] !== LEGACY_MAGIC.length) return -1;
  at += 2;
  if (!LEGACY_MAGIC.every((b, i) => head[at + i] === b)) return -1;
  at += LEGACY_MAGIC.length;
  return head[at] === 0x2e ? at + 1 : -1; // STOP
}

interface LegacyHeader {
  readonly value: unknown;
  readonly storages: Map<string, StorageRef>;
  readonly keys: unknown;
  readonly dataStart: number;
}

/** Parses the legacy format's pickles from `head` (the file's first bytes). */
function parseLegacyHead(head: Buffer, source: string): LegacyHeader {
  const magicEnd = legacyMagicLength(head);
  if (magicEnd < 0) throw new InputError(`${source}: not a PyTorch file (neither a zip archive nor torch's legacy magic number)`);
  const reader = new BufferReader(head);
  reader.skip(magicEnd);
  const storages = new Map<string, StorageRef>();
  const plain = makeParser(source, 'legacy', new Map());
  const protocol = unpickle(plain, reader, source, 'protocol version');
  if (protocol !== LEGACY_PROTOCOL_VERSION) throw new InputError(`${source}: legacy torch.save protocol ${String(protocol)} is not ${LEGACY_PROTOCOL_VERSION}`);
  const sysInfo = unpickle(plain, reader, source, 'sys_info');
  if (sysInfo instanceof Map && sysInfo.get('little_endian') === false) {
    throw new InputError(`${source}: saved on a big-endian machine; only little-endian files are read`);
  }
  const value = unpickle(makeParser(source, 'legacy', storages), reader, source, 'the saved object');
  const keys = unpickle(plain, reader, source, 'storage keys');
  return { value, storages, keys, dataStart: reader.position };
}

/** The first pickles may need more than the first MiB (a state_dict of thousands of tensors): grow until they parse. */
async function readLegacyHead(handle: fsp.FileHandle, size: number, source: string): Promise<LegacyHeader> {
  for (let length = Math.min(size, 1 << 20); ; length = Math.min(size, length * 4)) {
    const head = await readExactly(handle, length, 0, source);
    try {
      return parseLegacyHead(head, source);
    } catch (error) {
      const refused = error instanceof InputError && !error.message.includes('corrupt or not a PyTorch file');
      if (refused || length === size) throw error;
    }
  }
}

async function readLegacyPth(path: string, handle: fsp.FileHandle, size: number, options: PthReadOptions): Promise<PthFile> {
  const header = await readLegacyHead(handle, size, path);
  if (!Array.isArray(header.keys) || !header.keys.every((key) => typeof key === 'string')) {
    throw new InputError(`${path}: corrupt legacy file (its storage key list is not a list of strings)`);
  }
  const { tensors, ignored } = collectTensors(header.value, path);
  const kept = tensors.filter(([name]) => options.keep?.(name) ?? true);
  const needed = neededStorages(kept);
  const storageBytes: StorageData = new Map();
  let position = header.dataStart;
  for (const key of header.keys as string[]) {
    const root = header.storages.get(key);
    if (root === undefined) throw new InputError(`${path}: storage "${key}" is listed but no tensor describes it`);
    if (position + 8 > size) throw new InputError(`${path}: truncated (storage "${key}" starts past the end)`);
    const count = Number((await readExactly(handle, 8, position, path)).readBigInt64LE(0));
    if (count !== root.count) throw new InputError(`${path}: storage "${key}" holds ${count} elements, its description says ${root.count}`);
    position += 8;
    const bytes = count * root.kind.itemBytes;
    if (position + bytes > size) throw new InputError(`${path}: truncated (storage "${key}" runs past the end of the file)`);
    const refs = needed.get(key);
    if (refs !== undefined) {
      const data = storageData(root.kind, await readExactly(handle, bytes, position, path), count);
      for (const ref of refs) storageBytes.set(ref, data);
    }
    position += bytes;
  }
  return finish(path, 'legacy', kept, ignored, storageBytes);
}

/**
 * Reads the tensors of a torch.save file (a state_dict), either format,
 * without running anything in it. Every problem is exit 3 naming the file.
 */
export async function readPth(path: string, options: PthReadOptions = {}): Promise<PthFile> {
  const { handle, size } = await openInputFile(path, 'a PyTorch file');
  const stats = { size };
  try {
    if (stats.size < 4) throw new InputError(`${path}: not a PyTorch file (only ${stats.size} bytes)`);
    const magic = await readExactly(handle, 4, 0, path);
    if (ZIP_MAGIC.every((b, i) => magic[i] === b)) return await readZipPth(path, handle, options);
    return await readLegacyPth(path, handle, stats.size, options);
  } finally {
    await handle.close();
  }
}

// ---------------------------------------------------------------------------
// Writing: the zip format torch.save has written since 1.6, holding an
// OrderedDict of tensors. The pickle is small and of one fixed shape, so it is
// written here opcode by opcode (protocol 2, as torch.save writes).

const OP = Object.freeze({
  PROTO: 0x80, GLOBAL: 0x63, EMPTY_TUPLE: 0x29, MARK: 0x28, TUPLE: 0x74, REDUCE: 0x52, SETITEMS: 0x75, STOP: 0x2e,
  BINUNICODE: 0x58, BININT: 0x4a, BINPERSID: 0x51, NEWFALSE: 0x89,
});

/** The storage type torch pickles for each dtype p2phd writes. */
const STORAGE_OF: Readonly<Partial<Record<DType, StorageKind>>> = Object.freeze({
  F32: STORAGE_KINDS['FloatStorage'], F64: STORAGE_KINDS['DoubleStorage'], I64: STORAGE_KINDS['LongStorage'],
  I32: STORAGE_KINDS['IntStorage'], U8: STORAGE_KINDS['ByteStorage'], BOOL: STORAGE_KINDS['BoolStorage'],
});

class PickleWriter {
  private readonly parts: number[] = [];
  op(code: number): this {
    this.parts.push(code);
    return this;
  }
  global(module: string, name: string): this {
    this.op(OP.GLOBAL);
    for (const byte of Buffer.from(`${module}\n${name}\n`, 'ascii')) this.parts.push(byte);
    return this;
  }
  string(text: string): this {
    const bytes = Buffer.from(text, 'utf8');
    this.op(OP.BINUNICODE).uint32(bytes.length);
    for (const byte of bytes) this.parts.push(byte);
    return this;
  }
  int(value: number): this {
    if (!Number.isSafeInteger(value) || value < -(2 ** 31) || value >= 2 ** 31) throw new Error(`pickle int ${value} out of BININT range`);
    return this.op(OP.BININT).uint32(value >>> 0);
  }
  tuple(values: readonly number[]): this {
    if (values.length === 0) return this.op(OP.EMPTY_TUPLE);
    this.op(OP.MARK);
    for (const value of values) this.int(value);
    return this.op(OP.TUPLE);
  }
  private uint32(value: number): this {
    this.parts.push(value & 0xff, (value >>> 8) & 0xff, (value >>> 16) & 0xff, (value >>> 24) & 0xff);
    return this;
  }
  bytes(): Uint8Array {
    return Uint8Array.from(this.parts);
  }
}

/** data.pkl of an OrderedDict whose i-th tensor lives in storage "i". */
export function stateDictPickle(tensors: ReadonlyMap<string, Tensor>): Uint8Array {
  const pickle = new PickleWriter().op(OP.PROTO).op(2).global('collections', 'OrderedDict').op(OP.EMPTY_TUPLE).op(OP.REDUCE).op(OP.MARK);
  let index = 0;
  for (const [name, tensor] of tensors) {
    const kind = STORAGE_OF[tensor.dtype];
    if (kind === undefined) throw new Error(`cannot write tensor "${name}" of dtype ${tensor.dtype} to a .pth file`);
    const strides = tensor.shape.map((_, i) => tensor.shape.slice(i + 1).reduce((a, b) => a * b, 1));
    pickle.string(name).global('torch._utils', '_rebuild_tensor_v2').op(OP.MARK);
    pickle.op(OP.MARK).string('storage').global('torch', kind.name).string(String(index)).string('cpu').int(elementCount(tensor.shape)).op(OP.TUPLE).op(OP.BINPERSID);
    pickle.int(0).tuple(tensor.shape).tuple(strides).op(OP.NEWFALSE);
    pickle.global('collections', 'OrderedDict').op(OP.EMPTY_TUPLE).op(OP.REDUCE).op(OP.TUPLE).op(OP.REDUCE);
    index += 1;
  }
  return pickle.op(OP.SETITEMS).op(OP.STOP).bytes();
}

/**
 * Writes `tensors` as a torch.save zip file (atomically): torch.load, also
 * with weights_only=True, returns them as an OrderedDict of CPU tensors.
 * Storages are streamed from the tensors' own buffers, never concatenated.
 */
export async function writePth(path: string, tensors: ReadonlyMap<string, Tensor>): Promise<void> {
  const chunks: Uint8Array[] = [];
  let failure: Error | null = null;
  const zip = new Zip((error, chunk) => {
    if (error) failure = error;
    else chunks.push(chunk);
  });
  const add = (name: string, data: Uint8Array): void => {
    const file = new ZipPassThrough(`archive/${name}`);
    zip.add(file);
    file.push(data, true);
  };
  add('data.pkl', stateDictPickle(tensors));
  add('byteorder', Buffer.from('little', 'ascii'));
  let index = 0;
  for (const tensor of tensors.values()) add(`data/${index++}`, tensorBytes(tensor));
  add('version', Buffer.from('3\n', 'ascii'));
  zip.end();
  if (failure !== null) throw failure;
  await writeAtomically(path, async (sink) => {
    for (const chunk of chunks) await sink.write(chunk);
  });
}
