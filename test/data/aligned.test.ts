/**
 * pix2pix's aligned data against the reference's own AlignedDataset
 * (test/golden/pix2pix/data/aligned.safetensors, made by
 * scripts/reference_pix2pix_data.py with PIL 9.4 on test/fixtures-pix2pix/):
 * preprocess's split, direction, grey and resize plus one step's crop and
 * flip must give the reference's tensors bit for bit (PNG and JPEG inputs:
 * sharp and PIL both decode with libjpeg-turbo's defaults).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { readSafetensorsFile } from '../../src/data/files/tensorFile.js';
import type { ResizeMode } from '../../src/data/datasets/resize.js';
import { Random } from '../../src/model/random.js';
import {
  alignedBatch, alignedCrop, alignedResizeTarget, applyAlignedCrop, BYTE_TO_SIGNED, planAlignedCrop, rgbToLuma, wholeImageSigned, type AlignedImages, type Direction,
} from '../../src/data/datasets/aligned.js';
import { buildAlignedSample, listAlignedFiles, readAlignedPair } from '../../src/data/datasets/alignedPreprocess.js';
import { readRgbImage } from '../../src/data/formats/image.js';
import { encodePng } from '../../src/data/formats/pngEncode.js';
import { PngColorType } from '../../src/data/formats/png.js';
import { InputError } from '../../src/errors.js';
import { GOLDEN_DIR, REPO_ROOT, temporaryFolder } from '../support/cli.js';

const FIXTURES = join(REPO_ROOT, 'test', 'fixtures-pix2pix');

interface GoldenCase {
  name: string;
  file: string;
  preprocess: ResizeMode;
  load_size: number;
  crop_size: number;
  direction: Direction;
  input_nc: number;
  output_nc: number;
  crop_pos: [number, number];
  flip: boolean;
  /** The [low, high] of each random.randint the reference asked for (x, then y). */
  randint_ranges: Array<[number, number]>;
}

const golden = readSafetensorsFile(join(GOLDEN_DIR, 'pix2pix', 'data', 'aligned.safetensors'));

/** Replays fixed draws, recording the bounds asked for. */
class ScriptedRandom {
  readonly asked: number[] = [];
  constructor(private readonly ints: number[], private readonly coin: number) {}
  nextInt(n: number): number {
    this.asked.push(n);
    return Math.min(this.ints.shift()!, n - 1);
  }
  nextFloat(): number {
    return this.coin;
  }
}

/** A golden [C, H, W] tensor as interleaved [H, W, C]. */
function chwToHwc(data: Float32Array, shape: readonly number[]): Float32Array {
  const [c, h, w] = shape as [number, number, number];
  const out = new Float32Array(data.length);
  for (let k = 0; k < c; k++) for (let p = 0; p < h * w; p++) out[p * c + k] = data[k * h * w + p]!;
  return out;
}

test('aligned preprocess + crop + flip equal the reference AlignedDataset bit for bit (every resize mode, BtoA, grey, JPEG, RGBA, odd width)', async () => {
  const file = await golden;
  const cases = JSON.parse(file.metadata['cases']!) as GoldenCase[];
  assert.ok(cases.length >= 10);
  for (const c of cases) {
    const settings = { mode: c.preprocess, loadSize: c.load_size, cropSize: c.crop_size };
    const { images } = await buildAlignedSample(join(FIXTURES, c.file), { direction: c.direction, inputNc: c.input_nc, outputNc: c.output_nc, resize: settings });
    const random = new ScriptedRandom([...c.crop_pos], c.flip ? 0.75 : 0.25);
    const plan = planAlignedCrop({ width: images.width, height: images.height }, { mode: c.preprocess, cropSize: c.crop_size, flip: true }, random as unknown as Random);
    if (c.preprocess.endsWith('crop')) {
      // The draws' bounds are the reference's randint ranges (inclusive high + 1).
      assert.deepEqual(random.asked, c.randint_ranges.map(([, high]) => high + 1), `${c.name}: crop ranges`);
    }
    assert.equal(plan.flip, c.flip, c.name);
    const step = applyAlignedCrop(images, plan);
    for (const [key, out, channels] of [['A', step.A, step.aChannels], ['B', step.B, step.bChannels]] as const) {
      const expected = file.tensors.get(`${c.name}.${key}`)!;
      assert.deepEqual([channels, step.height, step.width], expected.shape, `${c.name}.${key}: shape`);
      const want = chwToHwc(expected.data as Float32Array, expected.shape);
      const firstDiff = want.findIndex((value, i) => value !== out[i]);
      assert.equal(firstDiff, -1, `${c.name}.${key}: differs first at ${firstDiff} (${out[firstDiff]} vs ${want[firstDiff]})`);
    }
  }
});

test("rgbToLuma is PIL's convert('L') (random pixels, the cube's corners, the grey ramp)", async () => {
  const file = await golden;
  const rgb = file.tensors.get('luma.rgb')!.data as Uint8Array;
  const expected = file.tensors.get('luma.L')!.data as Uint8Array;
  assert.deepEqual(Array.from(rgbToLuma(rgb)), Array.from(expected));
});

test("listAlignedFiles finds what the reference's make_dataset finds, in its order", async () => {
  const file = await golden;
  const tree = JSON.parse(file.metadata['make_dataset_tree']!) as string[];
  const expected = JSON.parse(file.metadata['make_dataset']!) as string[];
  const folder = temporaryFolder('aligned-list');
  try {
    for (const rel of tree) {
      mkdirSync(join(folder.path, rel, '..'), { recursive: true });
      writeFileSync(join(folder.path, rel), '');
    }
    assert.deepEqual(listAlignedFiles(folder.path).map((path) => relative(folder.path, path)), expected);
  } finally {
    folder.remove();
  }
});

test('scale_width keeps the aspect ratio where the reference stretches short images to crop_size (hand-computed)', () => {
  // A 40x10 half, load 30, crop 16: the reference gives 30x16 (stretched 2.1x vertically) in both modes.
  assert.deepEqual(alignedResizeTarget({ width: 40, height: 10 }, { mode: 'scale_width', loadSize: 30, cropSize: 16 }), { width: 30, height: 7 });
  assert.deepEqual(alignedResizeTarget({ width: 40, height: 10 }, { mode: 'scale_width_and_crop', loadSize: 30, cropSize: 16 }), { width: 64, height: 16 });
  // Tall enough: the reference's int(load * h / w).
  assert.deepEqual(alignedResizeTarget({ width: 22, height: 18 }, { mode: 'scale_width_and_crop', loadSize: 30, cropSize: 16 }), { width: 30, height: 24 });
  // none: Python's round (halves to even) of side / 4.
  assert.deepEqual(alignedResizeTarget({ width: 22, height: 18 }, { mode: 'none', loadSize: 286, cropSize: 256 }), { width: 24, height: 16 });
  assert.deepEqual(alignedResizeTarget({ width: 26, height: 17 }, { mode: 'none', loadSize: 286, cropSize: 256 }), { width: 24, height: 16 });
});

/** A 6x5 image whose pixel (x, y) channel c holds 40x + 7y + c; B the same plus 1 (so a shared crop is visible). */
function ramp(channels: number, offset: number): Uint8Array {
  const out = new Uint8Array(6 * 5 * channels);
  for (let y = 0; y < 5; y++) for (let x = 0; x < 6; x++) for (let c = 0; c < channels; c++) out[(y * 6 + x) * channels + c] = 40 * x + 7 * y + c + offset;
  return out;
}

test('alignedCrop: one crop and one flip for A and B, values (v / 255 - 0.5) / 0.5 in float32, seeded', () => {
  const images: AlignedImages = { width: 6, height: 5, a: ramp(3, 0), aChannels: 3, b: ramp(1, 1), bChannels: 1 };
  const settings = { mode: 'resize_and_crop' as const, cropSize: 3, flip: true };
  const first = alignedCrop(images, settings, new Random(7));
  const again = alignedCrop(images, settings, new Random(7));
  assert.deepEqual(first.plan, again.plan);
  assert.equal(first.width, 3);
  assert.equal(first.height, 3);
  const { x, y, flip } = first.plan;
  for (let row = 0; row < 3; row++) {
    for (let col = 0; col < 3; col++) {
      const sx = flip ? x + 2 - col : x + col;
      const sy = y + row;
      assert.equal(first.A[(row * 3 + col) * 3 + 2], Math.fround(Math.fround(Math.fround((40 * sx + 7 * sy + 2) / 255) - 0.5) * 2));
      assert.equal(first.B[row * 3 + col], BYTE_TO_SIGNED[40 * sx + 7 * sy + 1]);
    }
  }
  // Over many draws: every position in [0, W - crop] x [0, H - crop] and both flips occur; --no-flip never flips.
  const seen = new Set<string>();
  let flips = 0;
  for (let seed = 0; seed < 400; seed++) {
    const plan = planAlignedCrop({ width: 6, height: 5 }, settings, new Random(seed));
    seen.add(`${plan.x},${plan.y}`);
    if (plan.flip) flips++;
    assert.equal(planAlignedCrop({ width: 6, height: 5 }, { ...settings, flip: false }, new Random(seed)).flip, false);
  }
  assert.equal(seen.size, 4 * 3);
  assert.ok(flips > 150 && flips < 250, `flips ${flips} of 400`);
  // Modes without a crop take the whole image; a side shorter than the crop is not padded.
  assert.deepEqual(planAlignedCrop({ width: 6, height: 5 }, { mode: 'scale_width', cropSize: 3, flip: false }, new Random(1)), { x: 0, y: 0, width: 6, height: 5, flip: false });
  const short = planAlignedCrop({ width: 6, height: 2 }, { mode: 'crop', cropSize: 4, flip: false }, new Random(1));
  assert.deepEqual([short.width, short.height, short.y], [4, 2, 0]);
});

test("PPM/PGM and BMP files (which sharp cannot read) decode as PIL's convert('RGB'): maxvals, plain and raw, 1/4/8/16/24/32-bit, masks, core header, top-down", async () => {
  const file = await golden;
  const names = [...file.tensors.keys()].filter((key) => key.startsWith('decode.')).map((key) => key.slice('decode.'.length));
  assert.ok(names.length >= 11, names.join(', '));
  for (const name of names) {
    const expected = file.tensors.get(`decode.${name}`)!;
    const image = await readRgbImage(join(FIXTURES, 'decode', name));
    assert.deepEqual([image.height, image.width, 3], expected.shape, name);
    assert.deepEqual(Array.from(image.data), Array.from(expected.data as Uint8Array), name);
  }
  // Resized on the way in, with PIL's bicubic (the same path as every format's enlargement).
  const resized = await readRgbImage(join(FIXTURES, 'decode', 'rgb24.bmp'), { target: () => ({ width: 3, height: 2 }) });
  assert.deepEqual([resized.width, resized.height, resized.sourceSize.width], [3, 2, 7]);
});

test('readAlignedPair: the file at its own size, BtoA and grey applied; odd widths drop B\'s extra column (hand-checked against the crop-mode golden)', async () => {
  const file = await golden;
  // crop_rgba: BtoA, input 3, output 1 (grey left half), a crop at (1, 2) of 8x8 from 12x10 halves.
  const pair = await readAlignedPair(join(FIXTURES, 'ab_rgba.png'), { direction: 'BtoA', inputNc: 3, outputNc: 1 });
  assert.deepEqual([pair.width, pair.height, pair.aChannels, pair.bChannels], [12, 10, 3, 1]);
  const whole = wholeImageSigned(pair);
  const golden8 = chwToHwc(file.tensors.get('crop_rgba.B')!.data as Float32Array, [1, 8, 8]);
  for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) assert.equal(whole.B[(y + 2) * 12 + x + 1], golden8[y * 8 + x]);
  const odd = await readAlignedPair(join(FIXTURES, 'ab_odd.png'), { direction: 'AtoB', inputNc: 3, outputNc: 3 });
  assert.deepEqual([odd.width, odd.height], [22, 17]);
});

test('files too small to split or to round: input errors naming the file', async () => {
  const folder = temporaryFolder('aligned-small');
  try {
    const write = (name: string, width: number, height: number): string => {
      const path = join(folder.path, name);
      writeFileSync(path, encodePng({ width, height, bitDepth: 8, colorType: PngColorType.rgb, samples: new Uint8Array(width * height * 3) }));
      return path;
    };
    const options = { direction: 'AtoB' as const, inputNc: 3, outputNc: 3 };
    await assert.rejects(buildAlignedSample(write('one.png', 1, 4), { ...options, resize: { mode: 'crop', loadSize: 4, cropSize: 4 } }),
      (error: Error) => error instanceof InputError && /one\.png: is 1x4, too narrow/.test(error.message));
    await assert.rejects(buildAlignedSample(write('tiny.png', 2, 9), { ...options, resize: { mode: 'none', loadSize: 4, cropSize: 4 } }),
      (error: Error) => error instanceof InputError && /tiny\.png: a 1x9 half resizes to an empty 0x8 image \(--resize-or-crop none/.test(error.message));
  } finally {
    folder.remove();
  }
});

test('alignedBatch stacks per-sample crops NHWC (each its own generator) and refuses mixed sizes naming the sample', () => {
  const one: AlignedImages = { width: 6, height: 5, a: ramp(3, 0), aChannels: 3, b: ramp(1, 1), bChannels: 1 };
  const two: AlignedImages = { width: 6, height: 5, a: ramp(3, 9), aChannels: 3, b: ramp(1, 3), bChannels: 1 };
  const settings = { mode: 'crop' as const, cropSize: 4, flip: true };
  const batch = alignedBatch([one, two], settings, [new Random(1), new Random(2)]);
  const alone = [alignedCrop(one, settings, new Random(1)), alignedCrop(two, settings, new Random(2))];
  assert.deepEqual([batch.count, batch.height, batch.width], [2, 4, 4]);
  assert.deepEqual(Array.from(batch.A), [...alone[0]!.A, ...alone[1]!.A]);
  assert.deepEqual(Array.from(batch.B), [...alone[0]!.B, ...alone[1]!.B]);
  const small: AlignedImages = { width: 3, height: 5, a: new Uint8Array(45), aChannels: 3, b: new Uint8Array(15), bChannels: 1 };
  assert.throws(() => alignedBatch([one, small], settings, [new Random(1), new Random(2)], ['one.safetensors', 'small.safetensors']),
    (error: Error) => error instanceof InputError && /small\.safetensors: crops to 3x4/.test(error.message));
});
