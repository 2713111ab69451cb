/**
 * The .pth reader and writer: files torch.save wrote (both formats, see
 * scripts/make-pth-fixtures.py for their hand-set values), pickles that would
 * run a command (refused, nothing run), and write -> read.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { zipSync } from 'fflate';
import { looksLikePth, readPth, stateDictPickle, writePth } from '../../src/data/formats/pth.js';
import { makeTensor, type Tensor } from '../../src/data/formats/safetensors.js';
import { ExitCode, InputError } from '../../src/errors.js';
import { REPO_ROOT, runCliSync, temporaryFolder } from '../support/cli.js';

export const PTH_FIXTURES = join(REPO_ROOT, 'test', 'data', 'pth-fixtures');

const values = (tensor: Tensor | undefined): number[] => Array.from(tensor!.data as ArrayLike<number | bigint>, Number);

for (const format of ['zip', 'legacy'] as const) {
  test(`reads torch.save's ${format} format: names, dtypes, shapes, values, views`, async () => {
    const file = await readPth(join(PTH_FIXTURES, `state_${format}.pth`));
    assert.equal(file.format, format);
    assert.deepEqual([...file.tensors.keys()], [
      '0.weight', '0.bias', '1.weight', '1.bias', '1.running_mean', '1.running_var', '1.num_batches_tracked', 'half', 'transposed', 'row',
    ]);
    assert.deepEqual(file.ignored, ['epoch']);
    const weight = file.tensors.get('0.weight')!;
    assert.equal(weight.dtype, 'F32');
    assert.deepEqual(weight.shape, [3, 2, 3, 3]);
    assert.deepEqual(values(weight), Array.from({ length: 54 }, (_, i) => Math.fround(i / 10)));
    assert.deepEqual(values(file.tensors.get('0.bias')), [-1, 0, 1]);
    assert.deepEqual(values(file.tensors.get('1.bias')), [0.5, 0.25, 0.125]);
    assert.deepEqual(values(file.tensors.get('1.running_var')), [1, 1, 4]);
    const count = file.tensors.get('1.num_batches_tracked')!;
    assert.equal(count.dtype, 'I64');
    assert.deepEqual(count.shape, []);
    assert.deepEqual(values(count), [7]);
    // float16 widens to F32.
    assert.equal(file.tensors.get('half')!.dtype, 'F32');
    assert.deepEqual(values(file.tensors.get('half')), [1.5, -2, 0.25]);
    // arange(6).reshape(2, 3).t(): strides [1, 3] gathered into row-major [3, 2].
    assert.deepEqual(file.tensors.get('transposed')!.shape, [3, 2]);
    assert.deepEqual(values(file.tensors.get('transposed')), [0, 3, 1, 4, 2, 5]);
    // arange(6).reshape(2, 3)[1]: storage offset 3.
    assert.deepEqual(values(file.tensors.get('row')), [3, 4, 5]);
  });
}

test('format sniffing: both torch.save formats, never a safetensors file whose header length starts like a pickle', () => {
  assert.ok(looksLikePth(readFileSync(join(PTH_FIXTURES, 'state_zip.pth')).subarray(0, 32)));
  assert.ok(looksLikePth(readFileSync(join(PTH_FIXTURES, 'state_legacy.pth')).subarray(0, 32)));
  // A safetensors header of 640 bytes: its length prefix starts 0x80 0x02, as a protocol-2 pickle does.
  const safetensors = Buffer.concat([Buffer.from([0x80, 0x02, 0, 0, 0, 0, 0, 0]), Buffer.from('{"__metadata__":{}}')]);
  assert.equal(looksLikePth(safetensors), false);
});

test('keep: only the kept tensors are read', async () => {
  const file = await readPth(join(PTH_FIXTURES, 'vgg_legacy.pth'), { keep: (name) => name.startsWith('features.0.') });
  assert.deepEqual([...file.tensors.keys()], ['features.0.weight', 'features.0.bias']);
  assert.deepEqual(file.tensors.get('features.0.weight')!.shape, [64, 3, 3, 3]);
  assert.deepEqual(values(file.tensors.get('features.0.bias')).slice(0, 3), [0, 0.01, 0.02].map(Math.fround));
});

// ---------------------------------------------------------------------------
// Pickles that would run something.

/** The legacy header pickles: magic number, protocol 1001, an empty sys_info (protocol 2). */
const LEGACY_HEAD = Buffer.from([
  0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e,
  0x80, 0x02, 0x4d, 0xe9, 0x03, 0x2e,
  0x80, 0x02, 0x7d, 0x2e,
]);

/** GLOBAL module\nname\n, a one-string tuple, REDUCE, STOP: module.name(command). */
function callPickle(module: string, name: string, command: string): Buffer {
  const text = Buffer.from(command, 'utf8');
  const length = Buffer.alloc(4);
  length.writeUInt32LE(text.length);
  return Buffer.concat([
    Buffer.from([0x80, 0x02, 0x63]), Buffer.from(`${module}\n${name}\n`, 'ascii'),
    Buffer.from([0x58]), length, text, Buffer.from([0x85, 0x52, 0x2e]),
  ]);
}

for (const [format, module, name] of [['legacy', 'posix', 'system'], ['zip', 'os', 'system'], ['legacy', 'builtins', 'eval']] as const) {
  test(`a ${format} file whose pickle calls ${module}.${name} is refused (exit 3) and runs nothing`, () => {
    const folder = temporaryFolder('pth-evil');
    try {
      const marker = join(folder.path, 'marker');
      const command = name === 'eval' ? `open(${JSON.stringify(marker)}, 'w')` : `touch ${marker}`;
      const pickle = callPickle(module, name, command);
      const evil = join(folder.path, 'latest_net_G.pth');
      writeFileSync(evil, format === 'legacy' ? Buffer.concat([LEGACY_HEAD, pickle]) : zipSync({ 'archive/data.pkl': pickle, 'archive/version': Buffer.from('3\n') }, { level: 0 }));
      const result = runCliSync(['import', '--netG', evil, '--out', join(folder.path, 'out.safetensors')]);
      assert.equal(result.status, ExitCode.badInput, result.stderr);
      assert.match(result.stderr, new RegExp(`${evil.replace(/[.]/g, '\\.')}: refused to load: its pickle names the global "${module}\\.${name}"`));
      assert.equal(result.stderr.trim().split('\n').length, 1, 'one line, no stack');
      assert.equal(existsSync(marker), false, 'the command must not have run');
      assert.equal(existsSync(join(folder.path, 'out.safetensors')), false);
    } finally {
      folder.remove();
    }
  });
}

test('allowed globals called with bad arguments, truncated and foreign files: exit 3 naming the file', async () => {
  const folder = temporaryFolder('pth-bad');
  try {
    // torch._utils._rebuild_tensor_v2("x"): an allowed function, a wrong argument.
    const bad = join(folder.path, 'bad.pth');
    writeFileSync(bad, Buffer.concat([LEGACY_HEAD, callPickle('torch._utils', '_rebuild_tensor_v2', 'x')]));
    await assert.rejects(readPth(bad), (e: unknown) => e instanceof InputError && /bad\.pth: a tensor is rebuilt from something that is not a storage/.test(e.message));
    const truncated = join(folder.path, 'truncated.pth');
    writeFileSync(truncated, LEGACY_HEAD.subarray(0, 20));
    await assert.rejects(readPth(truncated), (e: unknown) => e instanceof InputError && /truncated\.pth: corrupt or not a PyTorch file/.test(e.message));
    const text = join(folder.path, 'notes.pth');
    writeFileSync(text, 'hello, not a checkpoint\n');
    await assert.rejects(readPth(text), (e: unknown) => e instanceof InputError && /notes\.pth: not a PyTorch file/.test(e.message));
    // A storage shorter than its tensor says.
    const pickle = stateDictPickle(new Map([['w', makeTensor('F32', [4], new Float32Array(4))]]));
    const short = join(folder.path, 'short.pth');
    writeFileSync(short, zipSync({ 'archive/data.pkl': pickle, 'archive/data/0': new Uint8Array(8), 'archive/version': Buffer.from('3\n') }, { level: 0 }));
    await assert.rejects(readPth(short), (e: unknown) => e instanceof InputError && /short\.pth: storage "0" holds 8 bytes, but its 4 FloatStorage elements need 16/.test(e.message));
  } finally {
    folder.remove();
  }
});

test('writePth -> readPth gives the same names, dtypes, shapes and values', async () => {
  const folder = temporaryFolder('pth-write');
  try {
    const tensors = new Map<string, Tensor>([
      ['model.1.weight', makeTensor('F32', [2, 1, 3, 3], Float32Array.from({ length: 18 }, (_, i) => i - 8.5))],
      ['model.1.bias', makeTensor('F32', [2], Float32Array.of(1e-30, -3e38))],
      ['model.2.num_batches_tracked', makeTensor('I64', [], BigInt64Array.of(1234n))],
      ['empty', makeTensor('F32', [0, 3], new Float32Array(0))],
    ]);
    const path = join(folder.path, 'latest_net_G.pth');
    await writePth(path, tensors);
    const back = await readPth(path);
    assert.equal(back.format, 'zip');
    assert.deepEqual([...back.tensors.keys()], [...tensors.keys()]);
    for (const [name, tensor] of tensors) {
      const read = back.tensors.get(name)!;
      assert.equal(read.dtype, tensor.dtype, name);
      assert.deepEqual(read.shape, tensor.shape, name);
      assert.deepEqual(values(read), values(tensor), name);
    }
  } finally {
    folder.remove();
  }
});
