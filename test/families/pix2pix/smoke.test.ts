/**
 * pix2pix end to end through the CLI, tiny: preprocess --aligned the bundled
 * fixtures, train 2 steps and save, resume to 3 steps and compare with an
 * uninterrupted 3-step run (bit-exact: weights, running statistics, Adam
 * moments), synthesize in the three test modes (output size = input size,
 * the deterministic modes repeatable, the seeded default repeatable per
 * --seed), export --format pytorch and import back (same outputs), export
 * --format onnx, the usage errors of the pix2pix flags and the up-front
 * memory check; on webgpu (lavapipe in CI) the same resume on the device.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { FIXTURES_DIR, runCli, temporaryFolder } from '../../support/cli.js';
import { readTensorFile } from '../../../src/data/files/tensorFile.js';
import { webgpuAdapterAvailable } from '../../support/webgpu.js';

const tmp = temporaryFolder('p2phd-pix2pix-smoke-');
const samples = join(tmp.path, 'samples');
const TINY = ['--net-g', 'resnet_6blocks', '--ngf', '2', '--ndf', '2', '--seed', '7', '--sample-every', '2'];

async function ok(args: string[]): Promise<string> {
  const result = await runCli(args);
  assert.equal(result.status, 0, `p2phd ${args.join(' ')}\n${result.stderr}`);
  return result.stdout;
}

async function tensorsOf(path: string, kind: 'checkpoint' | 'optimizer'): Promise<Map<string, Uint8Array>> {
  const file = await readTensorFile(path, kind);
  return new Map([...file.tensors].map(([key, tensor]) => [key, new Uint8Array(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength)]));
}

before(async () => {
  await ok(['preprocess', '--aligned', '--dataroot', join(FIXTURES_DIR, 'pix2pix'), '--phase', 'train', '--load-size', '36', '--crop-size', '32', '--out', samples]);
});
after(() => tmp.remove());

describe('p2phd train pix2pix', () => {
  it('resumes bit-exactly: 2 steps + resume to 3 = 3 steps', async () => {
    const straight = join(tmp.path, 'straight');
    const split = join(tmp.path, 'split');
    await ok(['train', 'pix2pix', '--data', samples, '--out', straight, ...TINY, '--max-steps', '3']);
    await ok(['train', 'pix2pix', '--data', samples, '--out', split, ...TINY, '--max-steps', '2']);
    await ok(['train', 'pix2pix', '--data', samples, '--out', split, '--resume', '--max-steps', '3']);
    for (const [name, kind] of [['latest.safetensors', 'checkpoint'], ['latest.optim.safetensors', 'optimizer']] as const) {
      const a = await tensorsOf(join(straight, name), kind);
      const b = await tensorsOf(join(split, name), kind);
      assert.deepEqual([...a.keys()].sort(), [...b.keys()].sort());
      for (const [key, bytes] of a) assert.ok(Buffer.from(bytes).equals(Buffer.from(b.get(key)!)), `${name}: ${key} differs after the resume`);
    }
    const checkpoint = await readTensorFile(join(straight, 'latest.safetensors'), 'checkpoint');
    assert.equal(checkpoint.p2phd['family'], 'pix2pix');
    assert.equal(checkpoint.p2phd['step'], 3);
    // Batch norm's counters: G ran once per step, D three times.
    assert.equal(Number((checkpoint.tensors.get('G.model.2.num_batches_tracked')!.data as BigInt64Array)[0]), 3);
    assert.equal(Number((checkpoint.tensors.get('D.model.3.num_batches_tracked')!.data as BigInt64Array)[0]), 9);
    const log = readFileSync(join(straight, 'log.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line) as Record<string, number>);
    assert.equal(log.length, 3);
    for (const name of ['G_GAN', 'G_L1', 'D_real', 'D_fake']) assert.ok(Number.isFinite(log[2]![name]), name);
    // A | fake B | real B: three 32x32 panels.
    const strip = await sharp(join(straight, 'samples', 'epoch_001_step_0000002.png')).metadata();
    assert.deepEqual([strip.width, strip.height], [96, 32]);
  });

  it('refuses sizes G cannot take, and bad flags, with one line and the exit code', async () => {
    const unet = await runCli(['train', 'pix2pix', '--data', samples, '--out', join(tmp.path, 'unet'), '--max-steps', '1']);
    assert.equal(unet.status, 3);
    assert.match(unet.stderr, /trains at 32x32, but --net-g unet_256 needs sides that are multiples of 256/);
    const mode = await runCli(['train', 'pix2pix', '--data', samples, '--out', join(tmp.path, 'bad'), '--gan-mode', 'hinge']);
    assert.equal(mode.status, 2);
    const resumeChange = await runCli(['train', 'pix2pix', '--data', samples, '--out', join(tmp.path, 'straight'), '--resume', '--ngf', '8']);
    assert.equal(resumeChange.status, 2);
    assert.match(resumeChange.stderr, /ngf cannot change on --resume/);
  });

  it('refuses, before making any weight, a configuration the wasm heap cannot hold (exit 2, one line)', async () => {
    const out = join(tmp.path, 'huge');
    // resnet_9blocks at ngf 512 (18 convolutions of 2048x2048x3x3, about 0.7 G parameters) and D at ndf 512
    // (0.17 G): 3.5 GB of weights, more than the heap holds with the allocator's share.
    const huge = await runCli(['train', 'pix2pix', '--data', samples, '--out', out, '--net-g', 'resnet_9blocks', '--ngf', '512', '--ndf', '512', '--backend', 'wasm', '--max-steps', '1']);
    assert.equal(huge.status, 2, huge.stderr);
    const lines = huge.stderr.trim().split('\n').filter((line) => /error|GiB/i.test(line));
    assert.equal(lines.length, 1, huge.stderr);
    assert.match(lines[0]!, /needs about [\d.]+ GiB of tensor memory per step at 32x32, batch 1/);
    assert.match(lines[0]!, /--ngf 256/);
    assert.equal(existsSync(join(out, 'options.json')), false, 'nothing written');
  });
});

describe('p2phd train pix2pix --backend webgpu', { skip: webgpuAdapterAvailable() ? false : 'skipped: no WebGPU adapter (install Mesa lavapipe)' }, () => {
  it('trains on the device and resumes bit-exactly: 2 steps + resume to 3 = 3 steps', async () => {
    const straight = join(tmp.path, 'gpu-straight');
    const split = join(tmp.path, 'gpu-split');
    const gpu = ['--backend', 'webgpu'];
    await ok(['train', 'pix2pix', '--data', samples, '--out', straight, ...TINY, ...gpu, '--max-steps', '3']);
    await ok(['train', 'pix2pix', '--data', samples, '--out', split, ...TINY, ...gpu, '--max-steps', '2']);
    await ok(['train', 'pix2pix', '--data', samples, '--out', split, '--resume', ...gpu, '--max-steps', '3']);
    for (const [name, kind] of [['latest.safetensors', 'checkpoint'], ['latest.optim.safetensors', 'optimizer']] as const) {
      const a = await tensorsOf(join(straight, name), kind);
      const b = await tensorsOf(join(split, name), kind);
      assert.deepEqual([...a.keys()].sort(), [...b.keys()].sort());
      for (const [key, bytes] of a) assert.ok(Buffer.from(bytes).equals(Buffer.from(b.get(key)!)), `${name}: ${key} differs after the resume`);
    }
    const checkpoint = await readTensorFile(join(straight, 'latest.safetensors'), 'checkpoint');
    assert.equal(checkpoint.p2phd['step'], 3);
    // Batch norm's running statistics move on the device: G once per step, D three times.
    assert.equal(Number((checkpoint.tensors.get('G.model.2.num_batches_tracked')!.data as BigInt64Array)[0]), 3);
    assert.equal(Number((checkpoint.tensors.get('D.model.3.num_batches_tracked')!.data as BigInt64Array)[0]), 9);
    const optimizer = await readTensorFile(join(straight, 'latest.optim.safetensors'), 'optimizer');
    assert.deepEqual(optimizer.p2phd['adam_steps'], { G: 3, D: 3 });
    const log = readFileSync(join(straight, 'log.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line) as Record<string, number>);
    assert.equal(log.length, 3);
    for (const name of ['G_GAN', 'G_L1', 'D_real', 'D_fake']) assert.ok(Number.isFinite(log[2]![name]), name);
    const strip = await sharp(join(straight, 'samples', 'epoch_001_step_0000002.png')).metadata();
    assert.deepEqual([strip.width, strip.height], [96, 32]);
  });
});

describe('p2phd synthesize / export / import for pix2pix', () => {
  const run = (): string => join(tmp.path, 'straight');
  const inputs = join(FIXTURES_DIR, 'pix2pix', 'test', '*.png');

  it('three test modes; output size = input size; seeded and deterministic modes repeat', async () => {
    const outputs: Record<string, Buffer> = {};
    for (const [name, flags] of [['reference', ['--seed', '1']], ['reference2', ['--seed', '1']], ['reference3', ['--seed', '2']], ['eval', ['--eval']], ['off', ['--dropout', 'off']], ['off2', ['--dropout', 'off']]] as const) {
      const out = join(tmp.path, `syn-${name}`);
      await ok(['synthesize', '--checkpoint', run(), '--inputs', inputs, '--aligned', '--out', out, ...flags]);
      outputs[name] = readFileSync(join(out, '1.png'));
      const meta = await sharp(join(out, '1.png')).metadata();
      assert.deepEqual([meta.width, meta.height], [64, 64], 'the A half of a 128x64 A|B file');
    }
    assert.ok(outputs['reference']!.equals(outputs['reference2']!), 'the default mode repeats for a seed');
    assert.ok(!outputs['reference']!.equals(outputs['reference3']!), 'another seed draws other dropout masks');
    assert.ok(outputs['off']!.equals(outputs['off2']!));
    assert.ok(!outputs['off']!.equals(outputs['eval']!), 'running and batch statistics differ');
  });

  it('export --format pytorch, import back (with and without train_opt.txt): the same images', async () => {
    const exported = join(tmp.path, 'exported');
    await ok(['export', run(), '--format', 'pytorch', '--out', exported]);
    const imported = join(tmp.path, 'imported.safetensors');
    await ok(['import', '--netG', join(exported, 'latest_net_G.pth'), '--netD', join(exported, 'latest_net_D.pth'), '--opt', join(exported, 'train_opt.txt'), '--out', imported]);
    const inferred = join(tmp.path, 'inferred.safetensors');
    await ok(['import', '--netG', join(exported, 'latest_net_G.pth'), '--family', 'pix2pix', '--out', inferred]);
    const images: Buffer[] = [];
    for (const checkpoint of [run(), imported, inferred]) {
      const out = join(tmp.path, `roundtrip-${images.length}`);
      await ok(['synthesize', '--checkpoint', checkpoint, '--inputs', inputs, '--aligned', '--out', out, '--dropout', 'off']);
      images.push(readFileSync(join(out, '2.png')));
    }
    assert.ok(images[0]!.equals(images[1]!) && images[0]!.equals(images[2]!));
  });

  it('--backend onnxruntime runs G as a graph: the deterministic modes within one grey level of tfjs', async () => {
    for (const mode of [['--dropout', 'off'], ['--eval']]) {
      const pixels: Buffer[] = [];
      for (const backend of ['wasm', 'onnxruntime']) {
        const out = join(tmp.path, `engine-${backend}-${mode[0]!.slice(2)}`);
        await ok(['synthesize', '--checkpoint', run(), '--inputs', inputs, '--aligned', '--out', out, '--backend', backend, ...mode]);
        pixels.push(await sharp(join(out, '1.png')).raw().toBuffer());
      }
      const worst = pixels[0]!.reduce((max, value, i) => Math.max(max, Math.abs(value - pixels[1]![i]!)), 0);
      assert.ok(worst <= 1, `${mode.join(' ')}: ${worst} grey levels apart`);
    }
    const refused = await runCli(['synthesize', '--checkpoint', run(), '--inputs', inputs, '--out', join(tmp.path, 'refused'), '--backend', 'onnxruntime']);
    assert.equal(refused.status, 2);
  });

  it('export --format onnx writes a graph of standard operators', async () => {
    const out = join(tmp.path, 'g.onnx');
    const stdout = await ok(['export', run(), '--format', 'onnx', '--out', out, '--json']);
    assert.equal((JSON.parse(stdout) as { test_mode: string }).test_mode, 'no-dropout');
    assert.ok(readFileSync(out).length > 1000);
  });
});
