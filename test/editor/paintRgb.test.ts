/** Exact RGB edits (pix2pix's A image), against hand-worked cases. */
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import { distinctColours, downscaleNearestRgb, floodFillRgb, paintSegmentRgb } from '../../src/editor/shared/paintRgb';

/** A 4x3 image from rows of colour letters. */
const COLOURS: Record<string, [number, number, number]> = { r: [255, 0, 0], g: [0, 255, 0], b: [0, 0, 255], w: [255, 255, 255] };
function imageOf(rows: string[]): { width: number; height: number; rgb: Uint8Array } {
  const width = rows[0]!.length;
  const rgb = new Uint8Array(width * rows.length * 3);
  rows.forEach((row, y) => [...row].forEach((letter, x) => rgb.set(COLOURS[letter]!, (y * width + x) * 3)));
  return { width, height: rows.length, rgb };
}
const letters = (image: { width: number; rgb: Uint8Array }): string[] => {
  const rows: string[] = [];
  for (let y = 0; y * image.width * 3 < image.rgb.length; y++) {
    let row = '';
    for (let x = 0; x < image.width; x++) {
      const o = (y * image.width + x) * 3;
      row += Object.entries(COLOURS).find(([, c]) => c[0] === image.rgb[o] && c[1] === image.rgb[o + 1] && c[2] === image.rgb[o + 2])![0];
    }
    rows.push(row);
  }
  return rows;
};

describe('paintRgb', () => {
  test('a round brush of size 1 at a pixel centre paints that pixel only; a segment paints the pixels whose centres it covers', () => {
    const image = imageOf(['rrrr', 'rrrr', 'rrrr']);
    paintSegmentRgb(image, { shape: 'round', size: 1 }, 1.5, 1.5, 1.5, 1.5, COLOURS.g!);
    assert.deepEqual(letters(image), ['rrrr', 'rgrr', 'rrrr']);
    paintSegmentRgb(image, { shape: 'square', size: 1 }, 0.5, 0.5, 3.5, 0.5, COLOURS.b!);
    assert.deepEqual(letters(image), ['bbbb', 'rgrr', 'rrrr']);
  });

  test('fill takes the 4-connected region of the exact colour (not the diagonal one)', () => {
    const image = imageOf(['rrbr', 'rbrr', 'brrw']);
    const rect = floodFillRgb(image, 0, 0, COLOURS.g!);
    assert.deepEqual(letters(image), ['ggbr', 'gbrr', 'brrw']);
    assert.deepEqual(rect, { x0: 0, y0: 0, x1: 2, y1: 2 });
    assert.deepEqual(floodFillRgb(image, 0, 0, COLOURS.g!), { x0: 0, y0: 0, x1: 0, y1: 0 }, 'same colour: nothing');
  });

  test('distinct colours, most frequent first, ties by packed value, capped', () => {
    const image = imageOf(['rrbw', 'rbgw', 'rrrr']);
    // r 7, b 2, w 2, g 1; b (0x0000ff) before w (0xffffff).
    assert.deepEqual(distinctColours(image.rgb, 10), [COLOURS.r, COLOURS.b, COLOURS.w, COLOURS.g]);
    assert.deepEqual(distinctColours(image.rgb, 2), [COLOURS.r, COLOURS.b]);
  });

  test('nearest downscale by 2 takes each block centre pixel (offset 1)', () => {
    const image = imageOf(['rgbw', 'wbgr', 'rrrr', 'gggg']);
    assert.deepEqual(letters({ width: 2, rgb: downscaleNearestRgb(image.rgb, 4, 4, 2) }), ['br', 'gg']);
  });
});
