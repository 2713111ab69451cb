/**
 * Generates fixtures/pix2pix/: tiny facade-like A|B pairs in pix2pix's aligned
 * format, deterministically (own seeded PRNG, own PNG encoder), so a
 * regeneration changes no byte.
 *
 *   <phase>/<n>.png  one 128x64 RGB image per pair: A (left, 64x64) a
 *                    photo-like rendering, B (right) its label colours
 *
 * As in the reference's facades dataset, A is the photo and B the labels, so
 * the label -> photo model trains with --direction BtoA. Scenes: sky, a
 * facade with a cornice band, a grid of windows (some with a balcony), a
 * door; the label colours are flat, the photos have per-scene facade tints,
 * vertical shading, window frames, and mild noise (so PNGs stay small).
 *
 * Usage: node dist/scripts/make-pix2pix-fixtures.js OUT_DIR [--train N] [--test N]
 * (`npm run fixtures` makes fixtures/ including fixtures/pix2pix).
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodePng } from '../src/data/formats/pngEncode.js';
import { PngColorType } from '../src/data/formats/png.js';
import { createRandom } from './random.js';

export const PIX2PIX_FIXTURE_SIDE = 64;
export const PIX2PIX_FIXTURE_SEED = 20161121;

type Rgb = [number, number, number];

type ClassName = 'sky' | 'facade' | 'cornice' | 'window' | 'balcony' | 'door';

/** Label colours (after the CMP facade palette's spirit: flat, far apart). */
const LABEL: Readonly<Record<ClassName, Rgb>> = Object.freeze({
  sky: [0, 0, 170],
  facade: [0, 85, 255],
  cornice: [0, 255, 255],
  window: [255, 85, 0],
  balcony: [170, 255, 85],
  door: [255, 170, 0],
});

class Facade {
  readonly classes: Array<ClassName>;
  constructor(readonly side: number) {
    this.classes = new Array<ClassName>(side * side).fill('facade');
  }
  fill(x0: number, y0: number, x1: number, y1: number, name: ClassName): void {
    for (let y = Math.max(0, y0); y < Math.min(this.side, y1); y++) for (let x = Math.max(0, x0); x < Math.min(this.side, x1); x++) this.classes[y * this.side + x] = name;
  }
}

/** Lays out one facade: sky above a roof line, a cornice, floors of windows, a door. */
function layout(random: () => number, side: number): Facade {
  const facade = new Facade(side);
  const int = (lo: number, hi: number): number => lo + Math.floor(random() * (hi - lo + 1));
  const roof = int(4, 12);
  facade.fill(0, 0, side, roof, 'sky');
  facade.fill(0, roof, side, roof + 3, 'cornice');
  const floors = int(2, 3);
  const columns = int(3, 4);
  const top = roof + 6;
  const floorHeight = Math.floor((side - top - 12) / floors);
  const cell = Math.floor(side / columns);
  for (let f = 0; f < floors; f++) {
    const balconyFloor = random() < 0.4;
    for (let c = 0; c < columns; c++) {
      const x0 = c * cell + Math.floor(cell / 4);
      const x1 = (c + 1) * cell - Math.floor(cell / 4);
      const y0 = top + f * floorHeight;
      const y1 = y0 + Math.max(4, floorHeight - 5);
      facade.fill(x0, y0, x1, y1, 'window');
      if (balconyFloor) facade.fill(x0 - 1, y1 - 2, x1 + 1, y1 + 1, 'balcony');
    }
  }
  const doorWidth = int(8, 12);
  const doorX = int(4, side - doorWidth - 4);
  facade.fill(doorX, side - 12, doorX + doorWidth, side, 'door');
  return facade;
}

/** The photo-like rendering: per-class colours tinted per scene, shading, frames, noise. */
function render(facade: Facade, random: () => number): Uint8Array {
  const { side, classes } = facade;
  const tint: Rgb = [190 + random() * 50, 150 + random() * 50, 110 + random() * 50];
  const glass: Rgb = [40 + random() * 30, 55 + random() * 30, 70 + random() * 40];
  const colour = (name: ClassName, x: number, y: number): Rgb => {
    switch (name) {
      case 'sky': return [150 + y * 3, 190 + y * 2, 235];
      case 'facade': return [tint[0] - y * 0.6, tint[1] - y * 0.6, tint[2] - y * 0.5];
      case 'cornice': return [tint[0] + 25, tint[1] + 25, tint[2] + 25];
      case 'window': return glass.map((v) => v + (x % 3 === 0 ? 25 : 0)) as Rgb;
      case 'balcony': return (x % 2 === 0 ? [60, 60, 65] : [tint[0] - 40, tint[1] - 40, tint[2] - 40]) as Rgb;
      case 'door': return [110 - (y % 4) * 4, 70, 40];
    }
  };
  const photo = new Uint8Array(side * side * 3);
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      const name = classes[y * side + x]!;
      // A light frame where a window meets the facade.
      const edge = name === 'window' && [[1, 0], [-1, 0], [0, 1], [0, -1]].some(([dx, dy]) => classes[(y + dy!) * side + x + dx!] === 'facade');
      const base: Rgb = edge ? [235, 235, 225] : colour(name, x, y);
      const noise = Math.round((random() - 0.5) * 6);
      for (let c = 0; c < 3; c++) photo[(y * side + x) * 3 + c] = Math.max(0, Math.min(255, Math.round(base[c]!) + noise));
    }
  }
  return photo;
}

/** A | B side by side: the photo left, the label colours right. */
function pair(random: () => number, side: number): Uint8Array {
  const facade = layout(random, side);
  const photo = render(facade, random);
  const out = new Uint8Array(side * 2 * side * 3);
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      const label = LABEL[facade.classes[y * side + x]!]!;
      for (let c = 0; c < 3; c++) {
        out[(y * 2 * side + x) * 3 + c] = photo[(y * side + x) * 3 + c]!;
        out[(y * 2 * side + side + x) * 3 + c] = label[c]!;
      }
    }
  }
  return out;
}

export function writePix2pixFixtures(outDir: string, counts: { train: number; test: number }): void {
  const random = createRandom(PIX2PIX_FIXTURE_SEED);
  const side = PIX2PIX_FIXTURE_SIDE;
  for (const phase of ['train', 'test'] as const) {
    const folder = join(outDir, phase);
    rmSync(folder, { recursive: true, force: true });
    mkdirSync(folder, { recursive: true });
    for (let i = 1; i <= counts[phase]; i++) {
      const png = encodePng({ width: side * 2, height: side, bitDepth: 8, colorType: PngColorType.rgb, samples: pair(random, side) }, { filter: 'adaptive', level: 9 });
      writeFileSync(join(folder, `${i}.png`), png);
    }
  }
}

function main(argv: string[]): void {
  const [outDir, ...rest] = argv;
  if (!outDir) throw new Error('usage: make-pix2pix-fixtures OUT_DIR [--train N] [--test N]');
  const flag = (name: string, fallback: number): number => {
    const index = rest.indexOf(name);
    return index >= 0 ? Number(rest[index + 1]) : fallback;
  };
  writePix2pixFixtures(outDir, { train: flag('--train', 8), test: flag('--test', 2) });
}

if (require.main === module) main(process.argv.slice(2));
