/**
 * A training run's page, RUN_DIR/index.html: where the run stands (stage,
 * step and epoch, s/step, ETA), the latest sample strips large, the loss
 * curves (raw and smoothed) and the learning rate, a thinned history of
 * earlier strips, the checkpoints and the configuration. Everything comes
 * from the run folder's own files (options.json, log.jsonl, samples/,
 * checkpoints), so `p2phd report RUN_DIR` draws the same page that
 * training refreshes at each sample.
 */
import { readInputText } from '../data/formats/inputFile.js';
import { promises as fsp } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { InputError } from '../errors.js';
import { writeFileAtomically } from '../data/formats/atomicWrite.js';
import { LOG_BOOKKEEPING_FIELDS, parseLogLines, parseSampleStripName, RUN_FILES, type LogRecord } from '../data/files/runFiles.js';
import { escapeHtml, formatDuration, formatTime, hrefFrom, keyValueTable, pageShell, thumbnail } from './html.js';
import { emaSmooth, renderSeriesPlot, thin, type Point } from './plots.js';
import { TRAIN_FLAGS } from '../train/flags.js';

/** What training knows that the files do not say. */
export interface RunLive {
  /** Steps the run will have done when it ends (--max-steps may have changed on --resume). */
  plannedSteps: number;
  /** Training is going on (the page reloads itself), or it has just ended. */
  running: boolean;
}

export interface SampleStrip {
  name: string;
  epoch: number;
  step: number;
}

export interface RunState {
  dir: string;
  options: Record<string, unknown>;
  records: LogRecord[];
  strips: SampleStrip[];
  checkpoints: Array<{ name: string; bytes: number; modified: Date }>;
  lastLogged?: Date;
}

/** Strips shown large at the top. */
const LATEST_STRIPS = 2;
/** Earlier strips shown small, evenly thinned. */
const HISTORY_STRIPS = 16;
/** Steps averaged for s/step and the ETA. */
const RECENT_STEPS = 50;

/** Whether `dir` looks like a training run folder (it has options.json and log.jsonl). */
export async function isRunFolder(dir: string): Promise<boolean> {
  const present = await Promise.all([RUN_FILES.options, RUN_FILES.log].map((name) => fsp.access(join(dir, name)).then(() => true, () => false)));
  return present.every(Boolean);
}

export async function readRunState(dir: string): Promise<RunState> {
  let options: unknown;
  try {
    options = JSON.parse(await readInputText(join(dir, RUN_FILES.options)));
  } catch (error) {
    if (error instanceof InputError) throw error;
    throw new InputError(`${join(dir, RUN_FILES.options)}: cannot read the run's options (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new InputError(`${join(dir, RUN_FILES.options)}: not a JSON object`);
  }
  let records: LogRecord[] = [];
  let lastLogged: Date | undefined;
  try {
    records = parseLogLines(await readInputText(join(dir, RUN_FILES.log)));
    lastLogged = (await fsp.stat(join(dir, RUN_FILES.log))).mtime;
  } catch {
    // No steps yet.
  }
  const strips = (await fsp.readdir(join(dir, RUN_FILES.samples)).catch(() => [] as string[]))
    .map((name) => ({ name, parsed: parseSampleStripName(name) }))
    .filter((entry): entry is { name: string; parsed: { epoch: number; step: number } } => entry.parsed !== undefined)
    .map((entry) => ({ name: entry.name, ...entry.parsed }))
    .sort((a, b) => a.step - b.step);
  const checkpoints: RunState['checkpoints'] = [];
  for (const name of (await fsp.readdir(dir)).sort()) {
    if (!name.endsWith(RUN_FILES.checkpointSuffix) || name.endsWith(RUN_FILES.optimizerSuffix)) continue;
    const stat = await fsp.stat(join(dir, name)).catch(() => undefined);
    if (stat) checkpoints.push({ name, bytes: stat.size, modified: stat.mtime });
  }
  return { dir, options: options as Record<string, unknown>, records, strips, checkpoints, ...(lastLogged ? { lastLogged } : {}) };
}

function numberAt(record: Record<string, unknown> | undefined, key: string): number | undefined {
  const value = record?.[key];
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

function objectAt(record: Record<string, unknown>, key: string): Record<string, unknown> | undefined {
  const value = record[key];
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : undefined;
}

/** Steps the run plans in all: from options.json unless training says otherwise. */
function plannedSteps(state: RunState, live: RunLive | undefined): number | undefined {
  if (live) return live.plannedSteps;
  const settings = objectAt(state.options, 'settings');
  const samples = numberAt(objectAt(state.options, 'data'), 'samples');
  const batch = numberAt(settings, 'batchSize') ?? 1;
  const epochs = (numberAt(settings, 'epochs') ?? 0) + (numberAt(settings, 'decayEpochs') ?? 0);
  const perEpoch = samples !== undefined ? Math.floor(samples / batch) : undefined;
  const all = perEpoch !== undefined ? perEpoch * epochs : Infinity;
  const planned = Math.min(numberAt(settings, 'maxSteps') ?? Infinity, all);
  return Number.isFinite(planned) ? planned : undefined;
}

function format(value: number): string {
  if (value === 0) return '0';
  const magnitude = Math.abs(value);
  return magnitude >= 1000 || magnitude < 0.001 ? value.toExponential(2) : value.toPrecision(3);
}

/** Loss names in the log's order. */
function lossNames(records: readonly LogRecord[]): string[] {
  const names = new Set<string>();
  for (const record of records.slice(0, 1).concat(records.slice(-1))) {
    for (const key of Object.keys(record)) if (!LOG_BOOKKEEPING_FIELDS.has(key)) names.add(key);
  }
  return [...names];
}

/** Smoothing span: about 1/30 of the run, so the trend shows at any length. */
function smoothingSpan(count: number): number {
  return Math.max(1, Math.round(count / 30));
}

function seriesOf(records: readonly LogRecord[], key: string): Point[] {
  return records.filter((record) => typeof record[key] === 'number').map((record) => ({ step: record.step, value: record[key]! }));
}

async function lossPlots(records: readonly LogRecord[]): Promise<{ svgs: string[]; notes: string[] }> {
  const svgs: string[] = [];
  const notes: string[] = [];
  const span = smoothingSpan(records.length);
  for (const name of lossNames(records)) {
    const raw = seriesOf(records, name);
    if (raw.length === 0) continue;
    if (raw.every((point) => point.value === 0)) {
      notes.push(`${name} is 0 at every step (off in this run)`);
      continue;
    }
    const smoothedValues = emaSmooth(raw.map((point) => point.value), span);
    const smoothed = raw.map((point, i) => ({ step: point.step, value: smoothedValues[i]! }));
    // The start of the curve: where the moving average has settled (the first point without smoothing).
    const startIndex = span > 1 ? Math.min(smoothedValues.length - 1, span) : 0;
    const first = smoothedValues[startIndex]!;
    const last = smoothedValues[smoothedValues.length - 1]!;
    const change = first !== 0 ? ` (${last >= first ? '+' : '−'}${Math.abs(((last - first) / first) * 100).toFixed(0)}%)` : '';
    const subtitle = raw.length > 1 ? `${span > 1 ? 'smoothed: ' : ''}${format(first)} at step ${raw[startIndex]!.step} → ${format(last)} now${change}` : `${format(last)}`;
    svgs.push(await renderSeriesPlot({ title: name, subtitle, raw, ...(span > 1 ? { smoothed } : {}) }));
  }
  const lr = seriesOf(records, 'lr');
  if (lr.length > 0) svgs.push(await renderSeriesPlot({ title: 'learning rate', subtitle: `now ${format(lr[lr.length - 1]!.value)}`, raw: lr }));
  const seconds = seriesOf(records, 'seconds');
  if (seconds.length > 0) {
    const smoothedValues = emaSmooth(seconds.map((point) => point.value), span);
    const smoothed = seconds.map((point, i) => ({ step: point.step, value: smoothedValues[i]! }));
    svgs.push(await renderSeriesPlot({ title: 'seconds per step', subtitle: `now ${format(smoothedValues[smoothedValues.length - 1]!)} s${span > 1 ? ' (smoothed)' : ''}`, raw: seconds, ...(span > 1 ? { smoothed } : {}) }));
  }
  return { svgs, notes };
}

/** Steps of the whole schedule (epochs + decay epochs), from options.json, when known. */
function scheduleSteps(state: RunState): number | undefined {
  const settings = objectAt(state.options, 'settings');
  const samples = numberAt(objectAt(state.options, 'data'), 'samples');
  const batch = numberAt(settings, 'batchSize') ?? 1;
  const epochs = (numberAt(settings, 'epochs') ?? 0) + (numberAt(settings, 'decayEpochs') ?? 0);
  return samples !== undefined && epochs > 0 ? Math.floor(samples / batch) * epochs : undefined;
}

/**
 * The status line. A run that reached its planned steps has "finished"
 * only when those are the whole schedule; a --max-steps below it "stopped
 * at step N (--max-steps)", with the epoch shown as the schedule's, so a
 * demo's 400 steps do not read "finished · epoch 17 / 1000".
 */
function statusLine(state: RunState, live: RunLive | undefined): { html: string; refresh: boolean } {
  const settings = objectAt(state.options, 'settings');
  const stage = String(state.options['stage'] ?? '?');
  const last = state.records[state.records.length - 1];
  const step = last?.step ?? 0;
  // options.json keeps the first invocation's --max-steps; a resume may have raised it.
  const stored = plannedSteps(state, live);
  const planned = stored !== undefined && (live !== undefined || stored >= step) ? stored : undefined;
  const recent = state.records.slice(-RECENT_STEPS);
  const secondsPerStep = recent.length > 0 ? recent.reduce((total, record) => total + record.seconds, 0) / recent.length : undefined;
  const totalEpochs = (numberAt(settings, 'epochs') ?? 0) + (numberAt(settings, 'decayEpochs') ?? 0);
  const schedule = scheduleSteps(state);
  const cutShort = planned !== undefined && schedule !== undefined && planned < schedule;
  const finished = planned !== undefined && step >= planned;
  const parts = [`<b>train ${escapeHtml(stage)}</b>`];
  parts.push(`step <b>${step}</b>${planned !== undefined ? ` / ${planned}${cutShort ? ' (--max-steps)' : ''} (${((100 * step) / Math.max(planned, 1)).toFixed(0)}%)` : ''}`);
  if (last) parts.push(`epoch ${last.epoch}${totalEpochs > 0 ? ` of the schedule's ${totalEpochs}` : ''}`);
  if (secondsPerStep !== undefined) parts.push(`${secondsPerStep.toFixed(2)} s/step`);
  if (!finished && planned !== undefined && secondsPerStep !== undefined) parts.push(`ETA ${formatDuration((planned - step) * secondsPerStep)}`);
  let condition: string | undefined;
  if (finished && cutShort) condition = `stopped at step ${step} by --max-steps ${planned} (the schedule has ${schedule} steps; --resume with a higher --max-steps continues)`;
  else if (finished) condition = 'finished';
  else if (live?.running) condition = 'training (this page reloads every minute)';
  else if (live) condition = 'stopped (continue with --resume)';
  else if (state.records.length === 0) condition = 'no steps logged yet';
  else if (planned !== undefined) condition = 'not finished';
  if (condition) parts.push(`<b>${condition}</b>`);
  return { html: parts.join(' · '), refresh: live?.running === true && !finished };
}

function describeValue(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value) ?? 'undefined';
}

/**
 * options.json's settings as the command line spells them: `--max-steps 400`,
 * not maxSteps. A switch shows whether it was on (`--no-flip` yes/no); keys
 * outside the flag table (a family's own) fall back to the kebab-case flag.
 */
export function settingRows(settings: Record<string, unknown>): Array<readonly [string, string]> {
  const rows: Array<readonly [string, string]> = [];
  for (const [key, value] of Object.entries(settings)) {
    if (key === 'stage') continue; // the title says it
    const spec = (TRAIN_FLAGS as Record<string, { flags: string } | undefined>)[key];
    const flag = spec ? spec.flags.split(' ')[0]! : `--${key.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`)}`;
    if (typeof value === 'boolean') {
      // commander's `--no-x` stores x = true when the switch is absent.
      const on = flag.startsWith('--no-') ? !value : value;
      rows.push([flag, on ? 'yes' : 'no']);
    } else {
      rows.push([flag, describeValue(value)]);
    }
  }
  return rows;
}

export async function renderRunPage(state: RunState, live?: RunLive): Promise<string> {
  const dir = resolve(state.dir);
  const here = (name: string): string => hrefFrom(dir, join(dir, name));
  const { html: status, refresh } = statusLine(state, live);
  const { svgs, notes } = await lossPlots(state.records);
  const latest = state.strips.slice(-LATEST_STRIPS).reverse();
  const history = thin(state.strips.slice(0, Math.max(0, state.strips.length - LATEST_STRIPS)), HISTORY_STRIPS);
  const stripCaption = (strip: SampleStrip): string => `step ${strip.step}, epoch ${strip.epoch}`;
  const samplesDir = (name: string): string => here(join(RUN_FILES.samples, name));

  const settings = objectAt(state.options, 'settings') ?? {};
  const config = objectAt(state.options, 'config') ?? {};
  const data = objectAt(state.options, 'data') ?? {};
  const body = [
    `<h1>${escapeHtml(basename(dir))} <span class="muted">${escapeHtml(dir)}</span></h1>`,
    `<p class="status">${status}</p>`,
    `<p class="muted">page written ${formatTime(new Date())}${state.lastLogged ? ` · last step logged ${formatTime(state.lastLogged)}` : ''} · ` +
      `<a href="${here(RUN_FILES.log)}">log.jsonl</a> · <a href="${here(RUN_FILES.options)}">options.json</a> · ` +
      `every step and sample in TensorBoard: <code>tensorboard --logdir ${escapeHtml(dirname(dir))}</code></p>`,
    '<h2>Latest samples <span class="muted">(label | synthesized | real)</span></h2>',
    latest.length > 0 ? latest.map((strip) => thumbnail(samplesDir(strip.name), stripCaption(strip), 'latest')).join('\n') : '<p class="muted">no sample strip yet</p>',
    `<h2>Losses <span class="muted">(${smoothingSpan(state.records.length) > 1 ? 'light: every step; dark: smoothed' : 'every step'})</span></h2>`,
    svgs.length > 0 ? `<div class="plots">${svgs.map((svg) => `<div class="plot">${svg}</div>`).join('\n')}</div>` : '<p class="muted">no steps logged yet</p>',
    notes.length > 0 ? `<p class="muted">${notes.map(escapeHtml).join('; ')}</p>` : '',
    '<h2>Sample history</h2>',
    history.length > 0 ? `<div class="history">${history.map((strip) => thumbnail(samplesDir(strip.name), stripCaption(strip), 'past')).join('\n')}</div>` : '<p class="muted">no earlier strips</p>',
    '<h2>Checkpoints</h2>',
    state.checkpoints.length > 0
      ? `<table class="grid"><tr><th>file</th><th>size</th><th>written</th></tr>${state.checkpoints
          .map((checkpoint) => `<tr><td><a href="${here(checkpoint.name)}">${escapeHtml(checkpoint.name)}</a></td><td>${(checkpoint.bytes / 1e6).toFixed(1)} MB</td><td>${formatTime(checkpoint.modified)}</td></tr>`)
          .join('')}</table>`
      : '<p class="muted">none saved yet</p>',
    '<h2>Configuration</h2>',
    `<p class="muted">p2phd ${escapeHtml(describeValue(state.options['p2phd_version']))}, run ${escapeHtml(describeValue(state.options['run_id']))}</p>`,
    '<details open><summary>settings (as flags)</summary>',
    keyValueTable(settingRows(settings)),
    '</details><details><summary>architecture (the checkpoint\'s config, in the reference\'s option names)</summary>',
    keyValueTable(Object.entries(config).map(([key, value]) => [key, describeValue(value)] as const)),
    '</details><details><summary>data</summary>',
    keyValueTable(Object.entries(data).map(([key, value]) => [key, describeValue(value)] as const)),
    '</details>',
  ].join('\n');
  return pageShell({ title: `p2phd ${basename(dir)}: step ${state.records[state.records.length - 1]?.step ?? 0}`, body, ...(refresh ? { refreshSeconds: 60 } : {}) });
}

/** Writes RUN_DIR/index.html; returns its path. */
export async function writeRunReport(dir: string, live?: RunLive): Promise<string> {
  const state = await readRunState(dir);
  const path = join(dir, RUN_FILES.report);
  await writeFileAtomically(path, await renderRunPage(state, live));
  return path;
}
