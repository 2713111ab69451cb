/**
 * Exact edits of an RGB image (pix2pix's A image) on a typed array of
 * interleaved bytes, with the same coverage rule as the label maps'
 * (paint.ts's brushCovers): colours are written directly, never read back
 * from canvas pixels. Shared by the page and the tests.
 */
import { brushCovers, emptyRect, type Brush, type Rect } from './paint.js';

export interface EditImage {
  readonly width: number;
  readonly height: number;
  /** [H * W * 3] interleaved RGB bytes. */
  readonly rgb: Uint8Array;
}

export type Colour = readonly [number, number, number];

/** Paints `colour` where the brush swept from a to b covers; returns the rectangle examined. */
export function paintSegmentRgb(image: EditImage, brush: Brush, ax: number, ay: number, bx: number, by: number, colour: Colour): Rect {
  const half = brush.size / 2;
  const x0 = Math.max(0, Math.floor(Math.min(ax, bx) - half - 1));
  const y0 = Math.max(0, Math.floor(Math.min(ay, by) - half - 1));
  const x1 = Math.min(image.width, Math.ceil(Math.max(ax, bx) + half + 1));
  const y1 = Math.min(image.height, Math.ceil(Math.max(ay, by) + half + 1));
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      if (!brushCovers(brush, x, y, ax, ay, bx, by)) continue;
      image.rgb.set(colour, (y * image.width + x) * 3);
    }
  }
  return x1 > x0 && y1 > y0 ? { x0, y0, x1, y1 } : emptyRect();
}

/** The colour of pixel (x, y). */
export function colourAt(image: EditImage, x: number, y: number): [number, number, number] {
  const o = (y * image.width + x) * 3;
  return [image.rgb[o]!, image.rgb[o + 1]!, image.rgb[o + 2]!];
}

/** Flood fill: the 4-connected region of the seed's exact colour gets `colour`. Returns its bounding box. */
export function floodFillRgb(image: EditImage, sx: number, sy: number, colour: Colour): Rect {
  const { width, height, rgb } = image;
  if (sx < 0 || sy < 0 || sx >= width || sy >= height) return emptyRect();
  const seed = sy * width + sx;
  const [r, g, b] = colourAt(image, sx, sy);
  if (r === colour[0] && g === colour[1] && b === colour[2]) return emptyRect();
  const same = (p: number): boolean => rgb[p * 3] === r && rgb[p * 3 + 1] === g && rgb[p * 3 + 2] === b;
  const stack: number[] = [seed];
  const visited = new Uint8Array(width * height);
  visited[seed] = 1;
  const rect: Rect = { x0: sx, y0: sy, x1: sx + 1, y1: sy + 1 };
  while (stack.length > 0) {
    const p = stack.pop()!;
    const x = p % width;
    const y = (p - x) / width;
    rgb.set(colour, p * 3);
    if (x < rect.x0) rect.x0 = x;
    if (x + 1 > rect.x1) rect.x1 = x + 1;
    if (y < rect.y0) rect.y0 = y;
    if (y + 1 > rect.y1) rect.y1 = y + 1;
    for (const q of [x > 0 ? p - 1 : -1, x + 1 < width ? p + 1 : -1, y > 0 ? p - width : -1, y + 1 < height ? p + width : -1]) {
      if (q >= 0 && visited[q] === 0 && same(q)) {
        visited[q] = 1;
        stack.push(q);
      }
    }
  }
  return rect;
}

/**
 * The image's distinct colours, most frequent first (ties: smaller packed
 * value first), at most `limit` of them: the palette of a label-colour
 * input such as facades'.
 */
export function distinctColours(rgb: Uint8Array, limit: number): Array<[number, number, number]> {
  const counts = new Map<number, number>();
  for (let o = 0; o + 2 < rgb.length; o += 3) {
    const packed = (rgb[o]! << 16) | (rgb[o + 1]! << 8) | rgb[o + 2]!;
    counts.set(packed, (counts.get(packed) ?? 0) + 1);
  }
  return [...counts]
    .sort((a, b) => b[1] - a[1] || a[0] - b[0])
    .slice(0, limit)
    .map(([packed]) => [packed >> 16, (packed >> 8) & 255, packed & 255]);
}

/** Nearest-neighbour downscale of an RGB image by an integer factor (each block's centre pixel), as downscaleNearest. */
export function downscaleNearestRgb(rgb: Uint8Array, width: number, height: number, factor: number): Uint8Array {
  const w = Math.floor(width / factor);
  const h = Math.floor(height / factor);
  const out = new Uint8Array(w * h * 3);
  const offset = Math.floor(factor / 2);
  for (let y = 0; y < h; y++) {
    const row = (y * factor + offset) * width;
    for (let x = 0; x < w; x++) out.set(rgb.subarray((row + x * factor + offset) * 3, (row + x * factor + offset) * 3 + 3), (y * w + x) * 3);
  }
  return out;
}
