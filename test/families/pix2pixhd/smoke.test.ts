/**
 * pix2pixHD's smoke run (the recipe in src/families/README.md asks one of
 * every family): a tiny config trains 2 steps, saves, resumes bit-exactly
 * and synthesizes, through the CLI as a user runs it. Bit-exact resume is
 * checked against a run that went 2 steps without stopping: the resumed
 * run's checkpoint must hold the same bytes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { TINY, fileContents, logLines, runCli, useFixtureSamples } from '../../train/cli.js';

const fixture = useFixtureSamples();
const SEEDED = ['--seed', '5', '--serial', '--no-flip', '--save-every', '1'];

test('pix2pixhd: 2 steps, save, bit-exact resume, synthesize', async () => {
  const whole = join(fixture.root, 'whole');
  const split = join(fixture.root, 'split');
  const train = (out: string, steps: number, extra: string[] = []) =>
    runCli(['train', 'global', '--data', fixture.samples, '--out', out, ...TINY, ...SEEDED, '--max-steps', String(steps), ...extra]);

  const straight = await train(whole, 2);
  assert.equal(straight.status, 0, straight.stderr);
  const first = await train(split, 1);
  assert.equal(first.status, 0, first.stderr);
  const resumed = await train(split, 2, ['--resume']);
  assert.equal(resumed.status, 0, resumed.stderr);

  const a = await fileContents(join(whole, 'latest.safetensors'));
  const b = await fileContents(join(split, 'latest.safetensors'));
  assert.equal(a.meta['family'], 'pix2pixhd', 'checkpoints record their family');
  assert.equal(a.meta['step'], 2);
  assert.deepEqual([...b.tensors.keys()].sort(), [...a.tensors.keys()].sort());
  for (const [name, bytes] of a.tensors) assert.ok(bytes.equals(b.tensors.get(name)!), `${name} differs after resume`);

  // The log names the losses the family declares, one line a step.
  const lines = await logLines(join(whole, 'log.jsonl'));
  assert.equal(lines.length, 2);
  for (const name of ['G_GAN', 'G_GAN_Feat', 'G_VGG', 'D_real', 'D_fake']) assert.ok(Number.isFinite(lines[1]![name]), `log.jsonl lacks ${name}`);

  const images = join(fixture.root, 'images');
  const synth = await runCli(['synthesize', '--checkpoint', whole, '--data', fixture.samples, '--out', images, '--backend', 'wasm', '--shard', '0/12']);
  assert.equal(synth.status, 0, synth.stderr);
  const pngs = readdirSync(images).filter((name) => name.endsWith('.png'));
  assert.equal(pngs.length, 2);
  const meta = await sharp(join(images, pngs[0]!)).metadata();
  assert.deepEqual([meta.width, meta.height], [64, 32], 'the output has the sample size');
  assert.ok(!existsSync(join(images, `${pngs[0]}.tmp`)));
});
