import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { decodePng, idsFromPng, readIdMap, PngColorType } from '../../src/data/formats/png.js';
import { encodePng, type FilterChoice, type PngImage } from '../../src/data/formats/pngEncode.js';
import { InputError } from '../../src/errors.js';
import { createRandom } from '../../scripts/random.js';
import { temporaryFolder } from '../support/cli.js';

/**
 * Samples with structure (gradients), full-range noise and noise over a few
 * values (which makes Paeth's tie rules matter), so every filter type and
 * every branch of its reversal gets real work.
 */
function sampleData(count: number, maxValue: number, seed: number): number[] {
  const random = createRandom(seed);
  return Array.from({ length: count }, (_, i) => {
    const kind = Math.floor(i / 97) % 3;
    if (kind === 0) return Math.floor(random() * (maxValue + 1));
    if (kind === 1) return Math.min(maxValue, Math.floor(random() * 4) * 3);
    return (i * 37) % (maxValue + 1);
  });
}

const FILTERS: FilterChoice[] = [0, 1, 2, 3, 4, 'adaptive'];

async function roundTrip(image: PngImage, filter: FilterChoice): Promise<void> {
  const decoded = await decodePng(encodePng(image, { filter }), 'test.png');
  assert.equal(decoded.width, image.width);
  assert.equal(decoded.height, image.height);
  assert.deepEqual([...decoded.samples], [...Array.from(image.samples)], `depth ${image.bitDepth} colour ${image.colorType} filter ${filter}`);
}

test('gray PNGs of every bit depth round-trip exactly through every filter type', async () => {
  // Odd widths make rows end mid-byte at depths below 8.
  for (const bitDepth of [1, 2, 4, 8, 16] as const) {
    const [width, height] = [61, 17];
    const samples = sampleData(width * height, 2 ** bitDepth - 1, bitDepth);
    for (const filter of FILTERS) await roundTrip({ width, height, bitDepth, colorType: PngColorType.gray, samples }, filter);
  }
});

test('RGB, RGBA and gray+alpha at 8 and 16 bits round-trip exactly', async () => {
  for (const [colorType, channels] of [[PngColorType.rgb, 3], [PngColorType.rgba, 4], [PngColorType.grayAlpha, 2]] as const) {
    for (const bitDepth of [8, 16] as const) {
      const samples = sampleData(29 * 11 * channels, 2 ** bitDepth - 1, colorType * 100 + bitDepth);
      for (const filter of FILTERS) await roundTrip({ width: 29, height: 11, bitDepth, colorType, samples }, filter);
    }
  }
});

test('16-bit instance ids (Cityscapes style, e.g. 26004) decode exactly', async () => {
  const ids = [7, 7, 26004, 26005, 24000, 24001, 11, 65535, 0];
  const png = await decodePng(encodePng({ width: 3, height: 3, bitDepth: 16, colorType: PngColorType.gray, samples: ids }), 'inst.png');
  assert.deepEqual([...idsFromPng(png, 'inst.png').ids], ids);
});

test('16-bit gray written by sharp (libvips) decodes to the same ids', async () => {
  const ids = new Uint16Array(sampleData(31 * 7, 65535, 3));
  const bytes = await sharp(ids, { raw: { width: 31, height: 7, channels: 1 } }).toColourspace('grey16').png().toBuffer();
  const png = await decodePng(bytes, 'sharp16.png');
  assert.equal(png.bitDepth, 16);
  assert.deepEqual([...png.samples], [...ids]);
});

test('palette PNGs give the palette index, not the colour, at every index depth', async () => {
  const palette = new Uint8Array(16 * 3).map((_, i) => (i * 53) % 256);
  for (const bitDepth of [1, 2, 4, 8] as const) {
    const indices = sampleData(11 * 3, Math.min(15, 2 ** bitDepth - 1), 40 + bitDepth);
    const png = await decodePng(encodePng({ width: 11, height: 3, bitDepth, colorType: PngColorType.palette, samples: indices, palette }), 'p.png');
    assert.deepEqual([...idsFromPng(png, 'p.png').ids], indices, `palette depth ${bitDepth}`);
    assert.deepEqual([...png.palette!], [...palette]);
  }
});

test('a palette PNG written by sharp: indices map through its palette to the colours sharp decodes', async () => {
  const rgb = Buffer.from(Array.from({ length: 8 * 6 }, (_, i) => [[255, 0, 0], [0, 0, 255], [0, 200, 0]][i % 3]!).flat());
  const bytes = await sharp(rgb, { raw: { width: 8, height: 6, channels: 3 } }).png({ palette: true }).toBuffer();
  const png = await decodePng(bytes, 'sharp-palette.png');
  assert.equal(png.colorType, PngColorType.palette);
  const { data } = await sharp(bytes).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  for (let i = 0; i < 8 * 6; i++) {
    const index = png.samples[i]!;
    assert.deepEqual([...png.palette!.subarray(index * 3, index * 3 + 3)], [...data.subarray(i * 3, i * 3 + 3)]);
  }
});

test('Adam7-interlaced PNGs (written by sharp) decode to the same pixels', async () => {
  for (const channels of [1, 3] as const) {
    // 37x23: every pass non-empty, partial blocks at the right and bottom.
    const pixels = Buffer.from(sampleData(37 * 23 * channels, 255, channels));
    // Without an explicit b-w colourspace, libvips writes one-channel input as RGB.
    const bytes = await sharp(pixels, { raw: { width: 37, height: 23, channels } }).toColourspace(channels === 1 ? 'b-w' : 'srgb').png({ progressive: true }).toBuffer();
    const png = await decodePng(bytes, 'adam7.png');
    assert.equal(png.interlaced, true);
    assert.equal(png.channels, channels);
    assert.deepEqual([...png.samples], [...pixels]);
  }
  // A 1x1 interlaced image has six empty passes, which carry no bytes.
  const tiny = await sharp(Buffer.from([200]), { raw: { width: 1, height: 1, channels: 1 } }).toColourspace('b-w').png({ progressive: true }).toBuffer();
  assert.deepEqual([...(await decodePng(tiny, 'tiny.png')).samples], [200]);
});

test('an RGB label map with equal channels reads as gray ids; with colours it is an InputError naming the file', async () => {
  const gray = [7, 7, 7, 26, 26, 26, 11, 11, 11, 23, 23, 23];
  const png = await decodePng(encodePng({ width: 2, height: 2, bitDepth: 8, colorType: PngColorType.rgb, samples: gray }), 'g.png');
  assert.deepEqual([...idsFromPng(png, 'g.png').ids], [7, 26, 11, 23]);
  const colour = await decodePng(encodePng({ width: 2, height: 2, bitDepth: 8, colorType: PngColorType.rgb, samples: [7, 7, 7, 128, 64, 128, 0, 0, 0, 1, 1, 1] }), 'c.png');
  assert.throws(() => idsFromPng(colour, 'labels/c.png'), (error: unknown) => error instanceof InputError && /labels\/c\.png/.test(error.message) && /\(1, 0\)/.test(error.message));
});

test('corrupt, truncated and non-PNG files are InputErrors naming the file', async () => {
  const good = encodePng({ width: 4, height: 4, bitDepth: 8, colorType: PngColorType.gray, samples: sampleData(16, 255, 9) });
  const expectInputError = async (bytes: Uint8Array, pattern: RegExp): Promise<void> => {
    await assert.rejects(decodePng(bytes, 'maps/x.png'), (error: unknown) => {
      assert.ok(error instanceof InputError, String(error));
      assert.match(error.message, /^maps\/x\.png: /);
      assert.match(error.message, pattern);
      return true;
    });
  };
  await expectInputError(Buffer.from('GIF89a not a png'), /signature/);
  await expectInputError(good.subarray(0, good.length - 20), /truncated/);
  await expectInputError(good.subarray(0, 30), /truncated/);
  const flipped = Buffer.from(good);
  flipped[40] ^= 0xff; // inside the IDAT data: its CRC no longer matches
  await expectInputError(flipped, /CRC/);
  // A stream that inflates to too few bytes: a valid but short IDAT.
  const short = encodePng({ width: 4, height: 2, bitDepth: 8, colorType: PngColorType.gray, samples: sampleData(8, 255, 1) });
  const header = Buffer.from(short);
  header.writeUInt32BE(4, 20); // claim 4 rows in IHDR ...
  const { crc32 } = await import('node:zlib');
  header.writeUInt32BE(crc32(header.subarray(12, 29)), 29); // ... with a valid CRC
  await expectInputError(header, /truncated/);
});

test('readIdMap names a missing file', async () => {
  await assert.rejects(readIdMap('/nonexistent/label.png'), (error: unknown) => error instanceof InputError && /\/nonexistent\/label\.png: no such file/.test(error.message));
});

test('readIdMap reads a file from disk', async () => {
  const folder = temporaryFolder('png');
  try {
    const path = join(folder.path, 'l.png');
    writeFileSync(path, encodePng({ width: 2, height: 1, bitDepth: 8, colorType: PngColorType.gray, samples: [7, 26] }));
    const map = await readIdMap(path);
    assert.deepEqual([map.width, map.height, [...map.ids]], [2, 1, [7, 26]]);
  } finally {
    folder.remove();
  }
});

test('readIdMapResized equals decode-then-resize on every path, and maxId sees pixels the sampling skips', async () => {
  const { readIdMapResized } = await import('../../src/data/formats/png.js');
  const { nearestIndices, resizeNearest } = await import('../../src/data/formats/nearest.js');
  const folder = temporaryFolder('resized');
  try {
    const [width, height] = [37, 21];
    const target = { width: 12, height: 9 };
    const ids8 = sampleData(width * height, 200, 77);
    ids8[0] = 250; // pixel (0, 0) is never sampled at 37 -> 12
    const ids16 = sampleData(width * height, 65535, 78);
    const gray = ids8.flatMap((v) => [v, v, v]);
    const palette = new Uint8Array(16 * 3).map((_, i) => i);
    const ids4 = sampleData(width * height, 15, 79);
    const cases: Array<[string, Buffer, number[]]> = [
      ['gray8', encodePng({ width, height, bitDepth: 8, colorType: PngColorType.gray, samples: ids8 }), ids8],
      ['gray16', encodePng({ width, height, bitDepth: 16, colorType: PngColorType.gray, samples: ids16 }), ids16],
      ['rgb-equal', encodePng({ width, height, bitDepth: 8, colorType: PngColorType.rgb, samples: gray }), ids8],
      ['palette4', encodePng({ width, height, bitDepth: 4, colorType: PngColorType.palette, samples: ids4, palette }), ids4],
      ['adam7', await sharp(Buffer.from(ids8), { raw: { width, height, channels: 1 } }).toColourspace('b-w').png({ progressive: true }).toBuffer(), ids8],
    ];
    for (const [name, bytes, ids] of cases) {
      const path = join(folder.path, `${name}.png`);
      writeFileSync(path, bytes);
      const resized = await readIdMapResized(path, () => target, nearestIndices);
      const expected = resizeNearest(Uint16Array.from(ids), { width, height }, target);
      assert.deepEqual([...resized.ids], [...expected], name);
      assert.deepEqual(resized.sourceSize, { width, height });
      assert.equal(resized.maxId, Math.max(...ids), name);
    }
  } finally {
    folder.remove();
  }
});

test('a decompression bomb (image data far larger than the header declares) is refused as corrupt', async () => {
  const { deflateSync, crc32 } = await import('node:zlib');
  const png = encodePng({ width: 4, height: 4, bitDepth: 8, colorType: PngColorType.gray, samples: new Array<number>(16).fill(0) });
  const idatStart = png.indexOf('IDAT') - 4;
  const idatLength = png.readUInt32BE(idatStart);
  const bomb = deflateSync(Buffer.alloc(10_000_000));
  const chunk = Buffer.alloc(12 + bomb.length);
  chunk.writeUInt32BE(bomb.length, 0);
  chunk.write('IDAT', 4, 'latin1');
  bomb.copy(chunk, 8);
  chunk.writeUInt32BE(crc32(chunk.subarray(4, 8 + bomb.length)), 8 + bomb.length);
  const bytes = Buffer.concat([png.subarray(0, idatStart), chunk, png.subarray(idatStart + 12 + idatLength)]);
  await assert.rejects(decodePng(bytes, 'bomb.png'), (error: unknown) => error instanceof InputError && /^bomb\.png: PNG is corrupt \(its image data inflates to more/.test(error.message));
});
