import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeTensor, serializeSafetensors, type Tensor } from '../../src/data/safetensors.js';
import { readSafetensorsFile, readTensorFile, writeTensorFile } from '../../src/data/tensorFile.js';
import { ExitCode, InputError } from '../../src/errors.js';
import { GOLDEN_DIR, runCliSync, temporaryFolder } from '../support/cli.js';
import { rawSafetensors } from '../support/safetensors.js';

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
