/**
 * A contact sheet: one PNG a person can open to judge a run, one row per
 * label map: the label in its palette colours | every synthesized style |
 * the real photo (when there is one).
 */
import { readdirSync, existsSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import sharp from 'sharp';
import { readIdMap } from '../data/formats/png.js';
import { colourLabels } from '../data/datasets/palette.js';
import { writeFileAtomically } from '../data/formats/atomicWrite.js';

export interface ContactSheetInput {
  /** Folder of label PNGs (ids). */
  labels: string;
  /** Folder of real photos named like the labels (optional). */
  reals?: string;
  /** Folder of synthesized PNGs: `<label stem>.png`, or `<label stem>_s<NN>.png` per style (synthesize --style all). */
  synthesized: string;
  out: string;
  labelNc?: number;
}

const GAP = 4;

/** A Cityscapes file name's scene part: `aachen_000000_000019_gtFine_labelIds` -> `aachen_000000_000019`. */
function sceneOf(stem: string): string {
  return stem.replace(/_(gtFine_labelIds|gtFine_instanceIds|leftImg8bit|labelIds|instanceIds)$/, '');
}

/**
 * Whether `name` is a synthesized output of the label map `stem`: exactly
 * `<stem>.png` or `<stem>_s<digits>.png` (so `a_1` does not pick up `a_10.png`).
 */
function isOutputOf(name: string, stem: string): boolean {
  if (name === `${stem}.png`) return true;
  const prefix = `${stem}_s`;
  return name.startsWith(prefix) && name.endsWith('.png') && /^\d+$/.test(name.slice(prefix.length, -'.png'.length));
}

export async function writeContactSheet(input: ContactSheetInput): Promise<{ images: string[]; rows: number }> {
  const labelNc = input.labelNc ?? 35;
  const labelFiles = readdirSync(input.labels).filter((name) => name.endsWith('.png')).sort();
  const synthesized = readdirSync(input.synthesized).filter((name) => name.endsWith('.png')).sort();
  const reals = input.reals && existsSync(input.reals) ? readdirSync(input.reals).sort() : [];
  const rows: Array<Array<{ input: Buffer; width: number; height: number }>> = [];
  const images: string[] = [];
  for (const labelFile of labelFiles) {
    const stem = basename(labelFile, extname(labelFile));
    const labelMap = await readIdMap(join(input.labels, labelFile));
    const { width, height } = labelMap;
    const tile = async (source: string | { rgb: Uint8Array }): Promise<{ input: Buffer; width: number; height: number }> => {
      const image = typeof source === 'string'
        ? sharp(source).removeAlpha().resize(width, height, { fit: 'fill' })
        : sharp(Buffer.from(source.rgb), { raw: { width, height, channels: 3 } });
      return { input: await image.png().toBuffer(), width, height };
    };
    const row = [await tile({ rgb: colourLabels(labelMap.ids, labelNc) })];
    for (const name of synthesized.filter((file) => isOutputOf(file, stem))) {
      images.push(join(input.synthesized, name));
      row.push(await tile(join(input.synthesized, name)));
    }
    const real = reals.find((name) => sceneOf(basename(name, extname(name))) === sceneOf(stem));
    if (real && input.reals) row.push(await tile(join(input.reals, real)));
    rows.push(row);
  }
  const sheetWidth = Math.max(...rows.map((row) => row.reduce((sum, t) => sum + t.width + GAP, GAP)));
  const sheetHeight = rows.reduce((sum, row) => sum + Math.max(...row.map((t) => t.height)) + GAP, GAP);
  const composites: sharp.OverlayOptions[] = [];
  let top = GAP;
  for (const row of rows) {
    let left = GAP;
    for (const tile of row) {
      composites.push({ input: tile.input, left, top });
      left += tile.width + GAP;
    }
    top += Math.max(...row.map((t) => t.height)) + GAP;
  }
  const sheet = await sharp({ create: { width: sheetWidth, height: sheetHeight, channels: 3, background: { r: 255, g: 255, b: 255 } } })
    .composite(composites)
    .png()
    .toBuffer();
  await writeFileAtomically(input.out, sheet);
  return { images, rows: rows.length };
}

/**
 * pix2pix's contact sheet from a `synthesize --inputs --aligned` folder: one
 * row per input: A | output | B (the page's own copies of A and B).
 */
export async function writePix2pixContactSheet(input: { synthesized: string; out: string }): Promise<{ images: string[]; rows: number }> {
  const outputs = readdirSync(input.synthesized).filter((name) => name.endsWith('.png')).sort();
  const pageImages = join(input.synthesized, 'index_files');
  const rows: string[][] = outputs.map((name) => {
    const stem = basename(name, '.png');
    return [join(pageImages, `${stem}_input.png`), join(input.synthesized, name), join(pageImages, `${stem}_real.png`)].filter((path) => existsSync(path));
  });
  const tiles = await Promise.all(rows.map((row) => Promise.all(row.map(async (path) => {
    const image = sharp(path).removeAlpha().toColourspace('srgb');
    const meta = await image.metadata();
    return { input: await image.png().toBuffer(), width: meta.width ?? 0, height: meta.height ?? 0 };
  }))));
  const sheetWidth = Math.max(GAP, ...tiles.map((row) => row.reduce((sum, t) => sum + t.width + GAP, GAP)));
  const sheetHeight = tiles.reduce((sum, row) => sum + Math.max(0, ...row.map((t) => t.height)) + GAP, GAP);
  const composites: sharp.OverlayOptions[] = [];
  let top = GAP;
  for (const row of tiles) {
    let left = GAP;
    for (const tile of row) {
      composites.push({ input: tile.input, left, top });
      left += tile.width + GAP;
    }
    top += Math.max(0, ...row.map((t) => t.height)) + GAP;
  }
  const sheet = await sharp({ create: { width: sheetWidth, height: sheetHeight, channels: 3, background: { r: 255, g: 255, b: 255 } } }).composite(composites).png().toBuffer();
  await writeFileAtomically(input.out, sheet);
  return { images: outputs.map((name) => join(input.synthesized, name)), rows: rows.length };
}
