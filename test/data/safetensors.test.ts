import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, openSync, readdirSync, readFileSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { makeTensor, parseSafetensors, serializeSafetensors, type Tensor } from '../../src/data/formats/safetensors.js';
import { readSafetensorsFile, readTensorFile, writeTensorFile } from '../../src/data/files/tensorFile.js';
import { ExitCode, InputError } from '../../src/errors.js';
import { GOLDEN_DIR, runCliSync, temporaryFolder } from '../support/cli.js';
import { rawSafetensors, rawSafetensorsText } from '../support/safetensors.js';

test('every golden file (written by the reference exporter) reads, with consistent sizes', async () => {
  const files = readdirSync(GOLDEN_DIR).filter((name) => name.endsWith('.safetensors'));
  assert.ok(files.length >= 9, `golden files found: ${files.join(', ')}`);
  for (const name of files) {
    const file = await readSafetensorsFile(join(GOLDEN_DIR, name));
    assert.ok(file.tensors.size > 0, name);
    for (const [tensorName, tensor] of file.tensors) {
      const count = tensor.shape.reduce((a, b) => a * b, 1);
      assert.equal(tensor.data.length, count, `${name}:${tensorName}`);
    }
  }
  // Spot values of the preprocess file: label_nc 5 and Cityscapes-style ids.
  const preprocess = await readSafetensorsFile(join(GOLDEN_DIR, 'preprocess.safetensors'));
  assert.equal(preprocess.metadata['label_nc'], '5');
  assert.equal(Math.max(...(preprocess.tensors.get('inst')!.data as Int32Array)), 4003);
});

/** One tensor of every dtype the contract uses, with values at the edges of each range. */
function everyDtype(): Map<string, Tensor> {
  return new Map<string, Tensor>([
    ['f32', makeTensor('F32', [2, 3], Float32Array.from([0, -1.5, 3.25, 1e-30, -3.4e38, Infinity]))],
    ['f64', makeTensor('F64', [3], Float64Array.from([Math.PI, -0, 1e-300]))],
    ['i32', makeTensor('I32', [2, 2], Int32Array.from([-(2 ** 31), 2 ** 31 - 1, 26004, 0]))],
    ['i64', makeTensor('I64', [2], BigInt64Array.from([-(2n ** 63n), 2n ** 62n + 7n]))],
    ['u8', makeTensor('U8', [1, 5], Uint8Array.from([0, 1, 127, 128, 255]))],
    ['u16', makeTensor('U16', [3], Uint16Array.from([0, 26004, 65535]))],
    ['bool', makeTensor('BOOL', [4], Uint8Array.from([0, 1, 1, 0]))],
    ['empty', makeTensor('F32', [0, 3], new Float32Array(0))],
  ]);
}

test('every dtype round-trips exactly through a p2phd file', async () => {
  const folder = temporaryFolder('st');
  try {
    const path = join(folder.path, 'all.safetensors');
    const written = everyDtype();
    await writeTensorFile(path, 'features', written, { note: 'round trip' });
    const read = await readTensorFile(path, 'features');
    assert.equal(read.p2phd.kind, 'features');
    assert.equal(read.p2phd['note'], 'round trip');
    assert.deepEqual([...read.tensors.keys()], [...written.keys()]);
    for (const [name, tensor] of written) {
      const back = read.tensors.get(name)!;
      assert.equal(back.dtype, tensor.dtype, name);
      assert.deepEqual(back.shape, tensor.shape, name);
      assert.deepEqual([...back.data], [...tensor.data], name);
    }
    // -0 survives as -0 (bytes, not values, are copied).
    assert.ok(Object.is((read.tensors.get('f64')!.data as Float64Array)[1], -0));
  } finally {
    folder.remove();
  }
});

async function expectBadFile(bytes: Uint8Array, pattern: RegExp, kind?: 'sample'): Promise<void> {
  const folder = temporaryFolder('bad');
  try {
    const path = join(folder.path, 'bad.safetensors');
    writeFileSync(path, bytes);
    const reading = kind ? readTensorFile(path, kind) : readSafetensorsFile(path);
    await assert.rejects(reading, (error: unknown) => {
      assert.ok(error instanceof InputError, String(error));
      assert.equal(error.exitCode, ExitCode.badInput);
      assert.ok(error.message.includes(path), `message names the file: ${error.message}`);
      assert.match(error.message, pattern);
      return true;
    });
    // And through the CLI (inspect reads any kind, so only format errors): exit 3, one line, no stack.
    if (kind) return;
    const cli = runCliSync(['inspect', path]);
    assert.equal(cli.status, 3, cli.stderr);
    assert.equal(cli.stderr.trim().split('\n').length, 1, cli.stderr);
    assert.doesNotMatch(cli.stderr, /\n\s+at /);
  } finally {
    folder.remove();
  }
}

test('validation failures are InputErrors (exit 3) naming the file', async () => {
  const good = serializeSafetensors(new Map([['x', makeTensor('F32', [4], new Float32Array(4))]]));
  await expectBadFile(good.subarray(0, 5), /header length needs 8/);
  await expectBadFile(good.subarray(0, good.length - 3), /past the end|truncated/);
  await expectBadFile(rawSafetensors({ x: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, 4, 2n ** 60n), /header length/);
  await expectBadFile(rawSafetensors({
    a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
    b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] },
  }, 12), /overlap/);
  await expectBadFile(rawSafetensors({ a: { dtype: 'U8', shape: [16], data_offsets: [0, 16] } }, 8), /past the end/);
  await expectBadFile(rawSafetensors({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, 8), /needs 12/);
  await expectBadFile(Buffer.concat([Buffer.from([5, 0, 0, 0, 0, 0, 0, 0]), Buffer.from('{oops')]), /JSON/);
});

test('a file of another kind is refused naming both kinds', async () => {
  const folder = temporaryFolder('kind');
  try {
    const path = join(folder.path, 'f.safetensors');
    await writeTensorFile(path, 'features', new Map([['x', makeTensor('U8', [1], Uint8Array.of(1))]]));
    await expectBadFile(readFileSync(path), /is a features file, expected a sample file/, 'sample');
  } finally {
    folder.remove();
  }
});

test('hostile headers: an overlap hidden behind an empty tensor, and duplicate names, are refused (exit 3 naming the file)', () => {
  const refused = (bytes: Buffer, pattern: RegExp): void => {
    assert.throws(() => parseSafetensors(bytes, 'hostile.safetensors'), (error: unknown) =>
      error instanceof InputError && error.exitCode === ExitCode.badInput && /hostile\.safetensors/.test(error.message) && pattern.test(error.message));
  };
  // a [0,16) and b [8,24) overlap; an empty tensor at 8 sorts between them.
  refused(rawSafetensors({
    a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] },
    z: { dtype: 'F32', shape: [0], data_offsets: [8, 8] },
    b: { dtype: 'F32', shape: [4], data_offsets: [8, 24] },
  }, 24), /"a" and "b" overlap/);
  // A long tensor overlapping a later one past a short one in between: [0,32) and [16,24) around [8,16)... all inside a.
  refused(rawSafetensors({
    a: { dtype: 'F32', shape: [8], data_offsets: [0, 32] },
    b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] },
    c: { dtype: 'F32', shape: [2], data_offsets: [16, 24] },
  }, 32), /overlap/);
  // Empty tensors anywhere, and tensors that touch, are fine.
  const fine = parseSafetensors(rawSafetensors({
    a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
    z: { dtype: 'F32', shape: [0], data_offsets: [4, 4] },
    b: { dtype: 'F32', shape: [2], data_offsets: [8, 16] },
  }, 16), 'fine.safetensors');
  assert.deepEqual([...fine.tensors.keys()], ['a', 'z', 'b']);

  const entry = '{"dtype":"F32","shape":[1],"data_offsets":[0,4]}';
  const second = '{"dtype":"F32","shape":[1],"data_offsets":[4,8]}';
  refused(rawSafetensorsText(`{"w":${entry},"w":${second}}`, 8), /"w" is listed twice/);
  // The same name spelt with an escape is the same name.
  refused(rawSafetensorsText(`{"w":${entry},"\\u0077":${second}}`, 8), /"w" is listed twice/);
  refused(rawSafetensorsText(`{"__metadata__":{"k":"1","k":"2"},"w":${entry}}`, 4), /"k" appears twice/);
  // Keys inside strings, nested objects and arrays are not confused with names.
  const tricky = parseSafetensors(rawSafetensorsText(`{"__metadata__":{"w":"{\\"w\\":1, \\"x\\"","x":"[\\"w\\"]"},"w":${entry},"x":${second}}`, 8), 't');
  assert.deepEqual([...tricky.tensors.keys()], ['w', 'x']);
});

test('a file past 4 GiB reads: tensors are read at their offsets (a sparse file, nothing written in between)', async () => {
  const folder = temporaryFolder('sparse');
  try {
    const path = join(folder.path, 'big.safetensors');
    const beyond = 2 ** 32 + 64;
    const header = rawSafetensors({
      small: { dtype: 'I32', shape: [2], data_offsets: [0, 8] },
      far: { dtype: 'F32', shape: [3], data_offsets: [beyond, beyond + 12] },
    }, 0);
    const dataStart = header.length;
    const fd = openSync(path, 'w');
    try {
      writeSync(fd, header, 0, header.length, 0);
      writeSync(fd, Buffer.from(Int32Array.of(7, -7).buffer), 0, 8, dataStart);
      writeSync(fd, Buffer.from(Float32Array.of(1.5, -2, 3).buffer), 0, 12, dataStart + beyond);
    } finally {
      closeSync(fd);
    }
    assert.ok(statSync(path).size > 2 ** 32);
    const file = await readSafetensorsFile(path);
    assert.deepEqual([...(file.tensors.get('small')!.data as Int32Array)], [7, -7]);
    assert.deepEqual([...(file.tensors.get('far')!.data as Float32Array)], [1.5, -2, 3]);
  } finally {
    folder.remove();
  }
});
