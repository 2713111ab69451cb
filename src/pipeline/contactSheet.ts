/**
 * A contact sheet: one PNG a person can open to judge a run, one row per
 * label map: the label in its palette colours | every synthesized style |
 * the real photo (when there is one), under a band naming the columns.
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

/** Height of the header band that names the columns. */
const HEADER = 22;

/** The column names of the header band, as an SVG text row (drawn by sharp with the system's sans-serif font). */
function headerSvg(width: number, columns: ReadonlyArray<{ left: number; width: number; name: string }>): Buffer {
  const escape = (text: string): string => text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
  const texts = columns
    .map((column) => `<text x="${column.left + column.width / 2}" y="${HEADER - 7}" text-anchor="middle" font-family="sans-serif" font-size="13" fill="#222">${escape(column.name)}</text>`)
    .join('');
  return Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${HEADER}">${texts}</svg>`);
}

/** A synthesized output's column name: what its name adds to the label's stem (`s03`), or "synthesized". */
function outputColumnName(name: string, stem: string): string {
  const suffix = name.slice(stem.length, -'.png'.length).replace(/^_/, '');
  return suffix === '' ? 'synthesized' : `style ${suffix.replace(/^s0*(?=\d)/, '')}`;
}

/**
 * Writes the sheet: a header band naming the columns (label | one per
 * style | real photo), then one row per label map; a row with fewer styles
 * leaves its missing cells empty, so the real photos stay in one column.
 */
export async function writeContactSheet(input: ContactSheetInput): Promise<{ images: string[]; rows: number }> {
  const labelNc = input.labelNc ?? 35;
  const labelFiles = readdirSync(input.labels).filter((name) => name.endsWith('.png')).sort();
  const synthesized = readdirSync(input.synthesized).filter((name) => name.endsWith('.png')).sort();
  const reals = input.reals && existsSync(input.reals) ? readdirSync(input.reals).sort() : [];
  type Tile = { input: Buffer; width: number; height: number };
  const rows: Array<{ label: Tile; outputs: Tile[]; outputNames: string[]; real?: Tile }> = [];
  const images: string[] = [];
  for (const labelFile of labelFiles) {
    const stem = basename(labelFile, extname(labelFile));
    const labelMap = await readIdMap(join(input.labels, labelFile));
    const { width, height } = labelMap;
    const tile = async (source: string | { rgb: Uint8Array }): Promise<Tile> => {
      const image = typeof source === 'string'
        ? sharp(source).removeAlpha().resize(width, height, { fit: 'fill' })
        : sharp(Buffer.from(source.rgb), { raw: { width, height, channels: 3 } });
      return { input: await image.png().toBuffer(), width, height };
    };
    const label = await tile({ rgb: colourLabels(labelMap.ids, labelNc) });
    const outputs: Tile[] = [];
    const outputNames: string[] = [];
    for (const name of synthesized.filter((file) => isOutputOf(file, stem))) {
      images.push(join(input.synthesized, name));
      outputs.push(await tile(join(input.synthesized, name)));
      outputNames.push(outputColumnName(name, stem));
    }
    const realName = reals.find((name) => sceneOf(basename(name, extname(name))) === sceneOf(stem));
    const real = realName && input.reals ? await tile(join(input.reals, realName)) : undefined;
    rows.push({ label, outputs, outputNames, ...(real ? { real } : {}) });
  }
  const styleColumns = Math.max(0, ...rows.map((row) => row.outputs.length));
  const withReal = rows.some((row) => row.real !== undefined);
  const cellsOf = (row: (typeof rows)[number]): Array<Tile | undefined> => [
    row.label,
    ...Array.from({ length: styleColumns }, (_, i) => row.outputs[i]),
    ...(withReal ? [row.real] : []),
  ];
  const columnCount = 1 + styleColumns + (withReal ? 1 : 0);
  const columnWidths = Array.from({ length: columnCount }, (_, c) => Math.max(1, ...rows.map((row) => cellsOf(row)[c]?.width ?? 0)));
  const lefts = columnWidths.map((_, c) => GAP + columnWidths.slice(0, c).reduce((sum, w) => sum + w + GAP, 0));
  const longest = rows.reduce((best, row) => (row.outputNames.length > best.length ? row.outputNames : best), [] as string[]);
  const names = ['label', ...Array.from({ length: styleColumns }, (_, i) => longest[i] ?? `style ${i}`), ...(withReal ? ['real photo'] : [])];
  const sheetWidth = lefts[columnCount - 1]! + columnWidths[columnCount - 1]! + GAP;
  const sheetHeight = rows.reduce((sum, row) => sum + Math.max(...cellsOf(row).map((t) => t?.height ?? 0)) + GAP, GAP + HEADER);
  const composites: sharp.OverlayOptions[] = [
    { input: headerSvg(sheetWidth, names.map((name, c) => ({ name, left: lefts[c]!, width: columnWidths[c]! }))), left: 0, top: GAP },
  ];
  let top = GAP + HEADER;
  for (const row of rows) {
    const cells = cellsOf(row);
    cells.forEach((tile, c) => {
      if (tile) composites.push({ input: tile.input, left: lefts[c]!, top });
    });
    top += Math.max(...cells.map((t) => t?.height ?? 0)) + GAP;
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
