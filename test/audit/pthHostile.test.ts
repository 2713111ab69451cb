/**
 * Hostile .pth files (issue 25, item 4): every size is checked before
 * anything is allocated or inflated, a pickle cannot rewrite a tensor after
 * its checks, and a pickle that refers to itself is one line.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { zipSync } from 'fflate';
import { runCliSync, temporaryFolder } from '../support/cli.js';
import { checkFailure } from '../support/audit.js';

/** A tiny pickle writer (protocol 2): each call appends opcodes. */
class Pickle {
  private readonly parts: Buffer[] = [Buffer.from([0x80, 0x02])];
  op(...bytes: number[]): this {
    this.parts.push(Buffer.from(bytes));
    return this;
  }
  global(module: string, name: string): this {
    return this.op(0x63).raw(`${module}\n${name}\n`);
  }
  str(text: string): this {
    const bytes = Buffer.from(text, 'utf8');
    const length = Buffer.alloc(4);
    length.writeUInt32LE(bytes.length);
    this.parts.push(Buffer.from([0x58]), length, bytes);
    return this;
  }
  int(value: number): this {
    const bytes = Buffer.alloc(4);
    bytes.writeInt32LE(value);
    this.parts.push(Buffer.from([0x4a]), bytes);
    return this;
  }
  /** MARK, ints, TUPLE. */
  ints(values: number[]): this {
    this.mark();
    for (const value of values) this.int(value);
    return this.op(0x74);
  }
  mark(): this {
    return this.op(0x28);
  }
  raw(text: string): this {
    this.parts.push(Buffer.from(text, 'ascii'));
    return this;
  }
  orderedDict(): this {
    return this.global('collections', 'OrderedDict').op(0x29, 0x52);
  }
  /** The persistent id of a FloatStorage "0" of `count` elements. */
  storage(count: number): this {
    return this.mark().str('storage').global('torch', 'FloatStorage').str('0').str('cpu').int(count).op(0x74, 0x51);
  }
  bytes(): Buffer {
    return Buffer.concat([...this.parts, Buffer.from([0x2e])]);
  }
}

/** OrderedDict {'w': rebuild(storage(count), 0, size, stride)} with `afterTensor` opcodes run on the tensor before it is stored. */
function stateDict(count: number, size: number[] | ((p: Pickle) => Pickle), stride: number[], afterTensor?: (p: Pickle) => Pickle): Buffer {
  const p = new Pickle().orderedDict().mark().str('w').global('torch._utils', '_rebuild_tensor_v2').mark().storage(count).int(0);
  if (typeof size === 'function') size(p);
  else p.ints(size);
  p.ints(stride).op(0x89).orderedDict().op(0x74, 0x52);
  afterTensor?.(p);
  return p.op(0x75).bytes();
}

function torchZip(pickle: Buffer, storage: Uint8Array, level: 0 | 9 = 0): Buffer {
  return Buffer.from(zipSync({ 'archive/data.pkl': [pickle, { level: 0 }], 'archive/data/0': [storage, { level }], 'archive/version': [Buffer.from('3\n'), { level: 0 }] }));
}

/** Rewrites the uncompressed size recorded for `name` in both the local header and the central directory. */
function claimUncompressedSize(zip: Buffer, name: string, size: number): Buffer {
  const patched = Buffer.from(zip);
  for (const [signature, sizeOffset, nameOffset] of [[0x04034b50, 22, 30], [0x02014b50, 24, 46]] as const) {
    for (let at = 0; at + nameOffset <= patched.length; at++) {
      if (patched.readUInt32LE(at) !== signature) continue;
      const nameLength = patched.readUInt16LE(at + (signature === 0x04034b50 ? 26 : 28));
      if (patched.toString('utf8', at + nameOffset, at + nameOffset + nameLength) === name) patched.writeUInt32LE(size, at + sizeOffset);
    }
  }
  return patched;
}

function importFails(file: Buffer, mentions: RegExp[]): void {
  const folder = temporaryFolder('pth-hostile');
  try {
    const path = join(folder.path, 'latest_net_G.pth');
    writeFileSync(path, file);
    const out = join(folder.path, 'out.safetensors');
    const result = runCliSync(['import', '--netG', path, '--out', out], { timeoutMs: 60_000 });
    checkFailure(result, `import --netG ${path}`, 3, [/latest_net_G\.pth/, ...mentions]);
    assert.equal(existsSync(out), false);
  } finally {
    folder.remove();
  }
}

test('4. BUILD cannot rewrite a rebuilt tensor\'s shape after its bounds were checked', () => {
  // The tensor is checked as [4] over a 4-element storage, then BUILD sets shape [15288] on it.
  const pickle = stateDict(4, [4], [1], (p) => p.op(0x7d).mark().str('shape').ints([15288]).str('stride').ints([1]).op(0x75, 0x62));
  importFails(torchZip(pickle, new Uint8Array(16)), [/corrupt/]);
});

test('4. a zero-stride 16000 x 16000 view of a 4-element storage is refused before anything is allocated', () => {
  importFails(torchZip(stateDict(4, [16000, 16000], [0, 0]), new Uint8Array(16)), [/overlaps itself|16000/]);
});

test('4. a deflated storage whose directory claims more than deflate can hold is refused before inflating', () => {
  // 64 KiB of zeros deflate to a few hundred bytes; the directory then claims 1.6 GB (400 M floats, as the pickle says).
  const count = 400_000_000;
  const zip = claimUncompressedSize(torchZip(stateDict(count, [count], [1]), new Uint8Array(65536), 9), 'archive/data/0', count * 4);
  importFails(zip, [/claims 1600000000 bytes/]);
});

test('4. a storage whose size disagrees with its element count is refused before it is read', () => {
  // The pickle says 4 floats; the deflated entry holds 8 MiB (and its deflate data is cut short, so reading it would fail otherwise).
  const zip = torchZip(stateDict(4, [4], [1]), new Uint8Array(8 << 20), 9);
  const marker = zip.indexOf(Buffer.from('archive/data/0'));
  const cut = Buffer.from(zip);
  cut.fill(0xff, marker + 40, marker + 200);
  importFails(cut, [/storage "0" holds 8388608 bytes, but its 4 FloatStorage elements need 16/]);
});

test('4. a pickle that refers to itself gives one line', () => {
  // size = a list that contains itself (EMPTY_LIST, BINPUT 9, BINGET 9, APPEND).
  const pickle = stateDict(4, (p) => p.op(0x5d, 0x71, 9, 0x68, 9, 0x61), [1]);
  importFails(torchZip(pickle, new Uint8Array(16)), [/size \[<itself>\]/]);
});
