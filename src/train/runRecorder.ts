/**
 * What a run leaves for people to watch, written as it goes: one log.jsonl
 * line per step, TensorBoard events (every loss, the lr and the step's
 * seconds as scalars; every sample strip as an image), the samples/ strips
 * (the latest --keep-samples plus the last of each epoch) and the run's
 * index.html, refreshed at each sample (unless that would cost more than
 * ~5% of the run) and when the run ends.
 *
 * The trainer calls it at two places: when a step is logged and when a
 * strip is made. The report module loads lazily, at the first refresh.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../log.js';
import { LOG_BOOKKEEPING_FIELDS, parseSampleStripName, RUN_FILES, sampleStripName, type LogRecord } from '../data/files/runFiles.js';
import { EventFileWriter } from '../data/formats/tensorboard.js';
import { StepLog, type RunFolder } from './runFolder.js';
import { writeStrip, type StripParts } from './sampleStrip.js';

/** TensorBoard tags: each loss under its own name (as the reference's --tf_log), and these. */
export const TENSORBOARD_TAGS = Object.freeze({
  lr: 'lr',
  secondsPerStep: 'seconds_per_step',
  samples: 'samples',
});

export interface RecorderOptions {
  /** The checkpoint's step on --resume: later lines and events are dropped first. */
  resumedAtStep?: number;
  /** --keep-samples. */
  keepSamples: number;
  /** Steps the run will have done when it ends (for the report's ETA). */
  plannedSteps: number;
  log: Logger;
}

/**
 * The strips to delete so that the latest `keepLatest` (by step) and the
 * last of each epoch remain.
 */
export function stripsToDelete(names: readonly string[], keepLatest: number): string[] {
  const strips = names
    .map((name) => ({ name, parsed: parseSampleStripName(name) }))
    .filter((strip): strip is { name: string; parsed: { epoch: number; step: number } } => strip.parsed !== undefined)
    .sort((a, b) => a.parsed.step - b.parsed.step);
  const keep = new Set(strips.slice(Math.max(0, strips.length - keepLatest)).map((strip) => strip.name));
  const lastOfEpoch = new Map<number, string>();
  for (const strip of strips) lastOfEpoch.set(strip.parsed.epoch, strip.name);
  for (const name of lastOfEpoch.values()) keep.add(name);
  return strips.filter((strip) => !keep.has(strip.name)).map((strip) => strip.name);
}

/**
 * A refresh during training is skipped when the last one ended less than
 * this many times its own duration ago, so the page costs at most ~5% of
 * the run however fast the steps (a 100k-step log takes ~1.4 s CPU to draw).
 */
const REFRESH_COST_RATIO = 20;

export class RunRecorder {
  private reportFailed = false;
  private lastRefresh = { endedAt: -Infinity, seconds: 0 };

  private constructor(
    private readonly run: RunFolder,
    private readonly options: RecorderOptions,
    private readonly stepLog: StepLog,
    private readonly events: EventFileWriter,
  ) {}

  static async open(run: RunFolder, options: RecorderOptions): Promise<RunRecorder> {
    const stepLog = await StepLog.open(run.log, options.resumedAtStep);
    const events = await EventFileWriter.open(run.tensorboard, options.resumedAtStep !== undefined ? { resumedAtStep: options.resumedAtStep } : {});
    return new RunRecorder(run, options, stepLog, events);
  }

  /** A finished step: its log.jsonl line and its scalars. */
  async logged(record: LogRecord): Promise<void> {
    await this.stepLog.append(record);
    const scalars: Record<string, number> = {};
    for (const [name, value] of Object.entries(record)) {
      if (!LOG_BOOKKEEPING_FIELDS.has(name)) scalars[name] = value;
    }
    scalars[TENSORBOARD_TAGS.lr] = record.lr;
    scalars[TENSORBOARD_TAGS.secondsPerStep] = record.seconds;
    await this.events.scalars(record.step, scalars);
  }

  /** A sample strip of `step`: the PNG, its TensorBoard image, the pruned history, the refreshed report. */
  async sampled(epoch: number, step: number, parts: StripParts): Promise<void> {
    const strip = await writeStrip(join(this.run.samples, sampleStripName(epoch, step)), parts);
    await this.events.image(step, TENSORBOARD_TAGS.samples, { ...strip, channels: 3 });
    await this.refresh(true);
  }

  /** Closes the files and writes the report's final state. */
  async close(): Promise<void> {
    await this.stepLog.close();
    await this.events.close();
    await this.refresh(false);
  }

  /**
   * Prunes samples/ and rewrites the page, together, so the page never
   * shows a strip already deleted. A failing report (a bug in it, a full
   * disk) warns once and never stops training; pruning goes on.
   */
  private async refresh(running: boolean): Promise<void> {
    const started = performance.now();
    if (running && !this.reportFailed && started - this.lastRefresh.endedAt < REFRESH_COST_RATIO * this.lastRefresh.seconds * 1000) return;
    for (const name of stripsToDelete(await fsp.readdir(this.run.samples), this.options.keepSamples)) {
      await fsp.unlink(join(this.run.samples, name)).catch(() => undefined);
    }
    if (this.reportFailed) return;
    try {
      const { writeRunReport } = await import('../report/runReport.js');
      await writeRunReport(this.run.dir, { plannedSteps: this.options.plannedSteps, running });
      this.lastRefresh = { endedAt: performance.now(), seconds: (performance.now() - started) / 1000 };
    } catch (error) {
      this.reportFailed = true;
      this.options.log.warn(`${join(this.run.dir, RUN_FILES.report)}: not refreshed (${(error as Error).message}); training goes on`);
    }
  }
}
