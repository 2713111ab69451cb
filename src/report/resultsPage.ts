/**
 * A synthesize folder's page: per input, the label map in the palette, the
 * real photo when there is one, and every output (one column per style with
 * --style all), as thumbnails that open the full images.
 *
 * Unsharded, synthesize writes OUT/index.html. Each shard of a sharded run
 * writes its own page, `index_shard_I_of_N.html` (shards run at the same time
 * and must not write one file), and `p2phd report OUT` merges every page of
 * the folder into OUT/index.html. The rows travel inside the pages (a JSON
 * script element), so merging needs nothing but the pages.
 */
import { readInputText } from '../data/formats/inputFile.js';
import { existsSync, promises as fsp } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { UsageError } from '../errors.js';
import { writeFileAtomically } from '../data/formats/atomicWrite.js';
import { embeddedData, escapeHtml, formatTime, hrefFrom, pageShell, thumbnail } from './html.js';

/** One input's files, relative to the results folder. */
export interface ResultRow {
  stem: string;
  /** The label map drawn in the palette. */
  label?: string;
  outputs: string[];
  real?: string;
}

export interface ResultsPage {
  checkpoint: string;
  /** How features were chosen: the --style mode, `encoded` (--use-encoded), or `none` (the model takes no features). */
  style: string;
  shard?: { index: number; count: number };
  rows: ResultRow[];
}

/** Folder (inside the results folder) for the page's own images: coloured labels, real photos. */
export const PAGE_IMAGES_DIR = 'index_files';
export const RESULTS_INDEX = 'index.html';
const SHARD_PAGE = /^index_shard_(\d+)_of_(\d+)\.html$/;
const PAGE_KIND = 'p2phd-results';

/** The page a (shard of a) synthesize run writes. */
export function resultsPageName(shard?: { index: number; count: number }): string {
  return shard && shard.count > 1 ? `index_shard_${shard.index}_of_${shard.count}.html` : RESULTS_INDEX;
}

/** A file stem for a table heading: may break after its underscores, never inside a word (Cityscapes names are long). */
function breakableStem(stem: string): string {
  return escapeHtml(stem).replace(/_/g, '_<wbr>');
}

/**
 * How the outputs' features were chosen, for the status line: `style` is
 * the --style mode, `encoded` (--use-encoded) or `none` (the model takes no
 * features, so there are no styles to choose).
 */
function featuresText(style: string): string {
  if (style === 'none') return 'no styles: the model takes no features';
  if (style === 'encoded') return 'features encoded from the photos (--use-encoded)';
  return `--style ${style}`;
}

/** A column heading for an output: "style N" for `<stem>_sNN.png`, else what the name adds to the stem. */
function outputHeading(stem: string, output: string): string {
  const caption = outputCaption(stem, output);
  const style = /^s(\d+)$/.exec(caption);
  return style ? `style ${Number(style[1])}` : caption;
}

/**
 * One row per input, one column per output, as the contact sheet has: the
 * label map | the real photo (beside the label, so that it stays in view
 * when many styles make the table scroll sideways) | every style. Outputs
 * never wrap onto a second line; with more than 4 image columns the thumbnails
 * are smaller.
 */
function renderResultsPage(dir: string, page: ResultsPage, note: string): string {
  const root = resolve(dir);
  const link = (file: string): string => hrefFrom(root, join(root, file));
  const withReal = page.rows.some((row) => row.real !== undefined);
  const styles = Math.max(0, ...page.rows.map((row) => row.outputs.length));
  const widest = page.rows.find((row) => row.outputs.length === styles);
  const headings = Array.from({ length: styles }, (_, i) => (widest ? outputHeading(widest.stem, widest.outputs[i]!) : `output ${i}`));
  const rows = page.rows.map((row) => {
    const outputs = Array.from({ length: styles }, (_, i) => {
      const output = row.outputs[i];
      return `<td>${output !== undefined ? thumbnail(link(output), outputHeading(row.stem, output)) : ''}</td>`;
    }).join('');
    return `<tr><th>${breakableStem(row.stem)}</th><td>${row.label ? thumbnail(link(row.label), 'label') : ''}</td>` +
      `${withReal ? `<td>${row.real ? thumbnail(link(row.real), 'real photo') : ''}</td>` : ''}${outputs}</tr>`;
  });
  const body = [
    `<h1>${escapeHtml(basename(root))} <span class="muted">${escapeHtml(root)}</span></h1>`,
    `<p class="status"><b>${page.rows.length}</b> input(s), ${styles} output(s) each · checkpoint ${escapeHtml(page.checkpoint)} · ${escapeHtml(featuresText(page.style))}</p>`,
    `<p class="muted">${escapeHtml(note)} · page written ${formatTime(new Date())} · click an image for full size${withReal ? '' : ' · give synthesize --images to show the real photos beside the outputs'}</p>`,
    `<div class="wide"><table class="grid results${1 + (withReal ? 1 : 0) + styles > 4 ? ' many' : ''}">`,
    `<tr><th>input</th><th>label map</th>${withReal ? '<th>real photo</th>' : ''}${headings.map((heading) => `<th>${escapeHtml(heading)}</th>`).join('')}</tr>`,
    rows.join('\n'),
    '</table></div>',
  ].join('\n');
  return pageShell({ title: `p2phd results: ${basename(root)}`, body, data: { kind: PAGE_KIND, ...page } });
}

/** An output's caption: what its name adds to the input's stem (`s03` for `<stem>_s03.png`). */
function outputCaption(stem: string, output: string): string {
  const name = basename(output).replace(/\.png$/, '');
  const suffix = name.startsWith(stem) ? name.slice(stem.length).replace(/^_/, '') : name;
  return suffix === '' ? 'synthesized' : suffix;
}

/** Writes this run's (or shard's) page into the results folder; returns its path. */
export async function writeResultsPage(dir: string, page: ResultsPage): Promise<string> {
  const name = resultsPageName(page.shard);
  const note = page.shard && page.shard.count > 1
    ? `shard ${page.shard.index} of ${page.shard.count}: p2phd report ${dir} merges the shards' pages into ${RESULTS_INDEX}`
    : 'all inputs';
  const path = join(dir, name);
  await writeFileAtomically(path, renderResultsPage(dir, page, note));
  return path;
}

function isResultsPage(data: unknown): data is ResultsPage & { kind: string } {
  return typeof data === 'object' && data !== null && (data as { kind?: unknown }).kind === PAGE_KIND && Array.isArray((data as { rows?: unknown }).rows);
}

/** The results pages in `dir` (index.html and the shards'), with their data. */
async function readResultsPages(dir: string): Promise<Array<{ name: string; page: ResultsPage }>> {
  const names = (await fsp.readdir(dir)).filter((name) => name === RESULTS_INDEX || SHARD_PAGE.test(name)).sort();
  const pages: Array<{ name: string; page: ResultsPage }> = [];
  for (const name of names) {
    const data = embeddedData(await readInputText(join(dir, name)));
    if (isResultsPage(data)) pages.push({ name, page: data });
  }
  return pages;
}

export async function isResultsFolder(dir: string): Promise<boolean> {
  return (await readResultsPages(dir).catch(() => [])).length > 0;
}

/**
 * Merges every results page of `dir` into `dir/index.html`: one row per
 * input stem (a shard's page wins over an earlier merge), in stem order,
 * keeping only rows whose outputs are still there. Returns the page's path.
 */
export async function mergeResultsPages(dir: string): Promise<{ path: string; pages: number; rows: number }> {
  const pages = await readResultsPages(dir);
  if (pages.length === 0) throw new UsageError(`${dir}: holds no p2phd results page (index.html or index_shard_I_of_N.html)`);
  // Shard pages first: their rows are newer than those of an earlier merge.
  const ordered = [...pages.filter((entry) => entry.name !== RESULTS_INDEX), ...pages.filter((entry) => entry.name === RESULTS_INDEX)];
  const byStem = new Map<string, ResultRow>();
  for (const { page } of ordered) {
    for (const row of page.rows) {
      if (!byStem.has(row.stem) && row.outputs.every((output) => existsSync(join(dir, output)))) byStem.set(row.stem, row);
    }
  }
  const rows = [...byStem.values()].sort((a, b) => (a.stem < b.stem ? -1 : a.stem > b.stem ? 1 : 0));
  const first = ordered[0]!.page;
  const shardPages = ordered.filter((entry) => entry.name !== RESULTS_INDEX).length;
  const merged: ResultsPage = { checkpoint: first.checkpoint, style: first.style, rows };
  const path = join(dir, RESULTS_INDEX);
  await writeFileAtomically(path, renderResultsPage(dir, merged, shardPages > 0 ? `merged from ${shardPages} shard page(s)` : 'all inputs'));
  return { path, pages: pages.length, rows: rows.length };
}
