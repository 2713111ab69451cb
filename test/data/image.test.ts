import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { readRgbImage } from '../../src/data/formats/image.js';
import { InputError } from '../../src/errors.js';
import { FIXTURES_DIR } from '../support/cli.js';

/** Catmull-Rom cubic (a = -0.5), the kernel of PIL's BICUBIC. */
function cubic(x: number): number {
  const a = -0.5;
  const t = Math.abs(x);
  if (t < 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
  if (t < 2) return (((t - 5) * t + 8) * t - 4) * a;
  return 0;
}

/**
 * A PIL-style separable resize written from the algorithm's description:
 * for each output pixel the kernel is centred at (x + 0.5) * scale, widened by
 * the scale when shrinking (support 2 * scale, antialiasing), its weights
 * normalised to sum 1; horizontal pass then vertical, rounded to 8 bits after
 * each pass as PIL does. Used only to measure how close sharp comes.
 */
function pilStyleBicubic(source: Uint8Array, width: number, height: number, outWidth: number, outHeight: number): Uint8Array {
  const weightsFor = (inSize: number, outSize: number): Array<{ first: number; weights: number[] }> => {
    const scale = inSize / outSize;
    const filterScale = Math.max(scale, 1);
    const support = 2 * filterScale;
    return Array.from({ length: outSize }, (_, x) => {
      const centre = (x + 0.5) * scale;
      const first = Math.max(0, Math.trunc(centre - support + 0.5));
      const last = Math.min(inSize, Math.trunc(centre + support + 0.5));
      const weights: number[] = [];
      for (let i = first; i < last; i++) weights.push(cubic((i - centre + 0.5) / filterScale));
      const sum = weights.reduce((a, b) => a + b, 0);
      return { first, weights: weights.map((w) => w / sum) };
    });
  };
  const clamp = (v: number): number => Math.max(0, Math.min(255, Math.round(v)));
  const horizontal = new Uint8Array(outWidth * height * 3);
  const columns = weightsFor(width, outWidth);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < outWidth; x++) {
      const { first, weights } = columns[x]!;
      for (let c = 0; c < 3; c++) {
        let sum = 0;
        for (let k = 0; k < weights.length; k++) sum += weights[k]! * source[(y * width + first + k) * 3 + c]!;
        horizontal[(y * outWidth + x) * 3 + c] = clamp(sum);
      }
    }
  }
  const out = new Uint8Array(outWidth * outHeight * 3);
  const rows = weightsFor(height, outHeight);
  for (let y = 0; y < outHeight; y++) {
    const { first, weights } = rows[y]!;
    for (let x = 0; x < outWidth; x++) {
      for (let c = 0; c < 3; c++) {
        let sum = 0;
        for (let k = 0; k < weights.length; k++) sum += weights[k]! * horizontal[((first + k) * outWidth + x) * 3 + c]!;
        out[(y * outWidth + x) * 3 + c] = clamp(sum);
      }
    }
  }
  return out;
}

function meanAbsoluteDifference(a: Uint8Array, b: Uint8Array): number {
  assert.equal(a.length, b.length);
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i]! - b[i]!);
  return sum / a.length;
}

test('photos resized by sharp stay within 2 grey levels (mean) of a PIL-style bicubic', async () => {
  const photo = join(FIXTURES_DIR, 'train_img', readdirSync(join(FIXTURES_DIR, 'train_img')).sort()[0]!);
  const original = await readRgbImage(photo);
  assert.deepEqual([original.width, original.height], [256, 128]);
  const report: string[] = [];
  for (const [width, height] of [[128, 64], [64, 32], [200, 100], [512, 256]] as const) {
    const ours = await readRgbImage(photo, { target: () => ({ width, height }) });
    const reference = pilStyleBicubic(original.data, 256, 128, width, height);
    const difference = meanAbsoluteDifference(ours.data, reference);
    report.push(`${width}x${height}: ${difference.toFixed(3)}`);
    assert.ok(difference < 2, `256x128 -> ${width}x${height}: mean abs difference ${difference}`);
  }
  process.stderr.write(`# bicubic vs PIL-style: ${report.join(', ')}\n`);
});

test('gray and RGBA photos become RGB (gray replicated, alpha dropped), as PIL convert("RGB")', async () => {
  const gray = await sharp(Buffer.from([10, 200]), { raw: { width: 2, height: 1, channels: 1 } }).toColourspace('b-w').png().toBuffer();
  const rgba = await sharp(Buffer.from([1, 2, 3, 0, 4, 5, 6, 255]), { raw: { width: 2, height: 1, channels: 4 } }).png().toBuffer();
  const { writeFileSync, mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const folder = mkdtempSync(join(tmpdir(), 'p2phd-img-'));
  try {
    writeFileSync(join(folder, 'g.png'), gray);
    writeFileSync(join(folder, 'a.png'), rgba);
    assert.deepEqual([...(await readRgbImage(join(folder, 'g.png'))).data], [10, 10, 10, 200, 200, 200]);
    assert.deepEqual([...(await readRgbImage(join(folder, 'a.png'))).data], [1, 2, 3, 4, 5, 6]);
    writeFileSync(join(folder, 'bad.jpg'), Buffer.from('not an image'));
    await assert.rejects(readRgbImage(join(folder, 'bad.jpg')), (error: unknown) => error instanceof InputError && error.message.startsWith(join(folder, 'bad.jpg')));
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
});

test('PIL-style bicubic enlargement: a step overshoots and clamps as Catmull-Rom does; flat stays flat', async () => {
  const { resizeBicubic, catmullRom } = await import('../../src/data/formats/bicubic.js');
  assert.deepEqual([catmullRom(0), catmullRom(1), catmullRom(2), catmullRom(0.5)].map((w) => w + 0), [1, 0, 0, 0.5625]);
  // One row 0 0 0 0 255 255 255 255 -> 16 columns. By hand: output x samples at (x + 0.5) / 2;
  // x = 7 sits at 3.75: inputs 2..5 lie at distances 1.25, 0.25, 0.75, 1.75 (pixel centres), weights
  // -0.0703, 0.8672, 0.2266, -0.0234; inputs 4 and 5 are 255: 255 * (0.2266 - 0.0234) = 51.8 -> 52.
  const step = Uint8Array.from([0, 0, 0, 0, 255, 255, 255, 255]);
  const out = resizeBicubic(step, 8, 1, 1, 16, 1);
  assert.deepEqual([...out], [0, 0, 0, 0, 0, 0, 0, 52, 203, 255, 255, 255, 255, 255, 255, 255]);
  const flat = new Uint8Array(5 * 3 * 3).fill(77);
  assert.ok(resizeBicubic(flat, 5, 3, 3, 11, 7).every((v) => v === 77));
});
