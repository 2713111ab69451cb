/**
 * The run folder's file names and the formats of its plain files
 * (log.jsonl lines, sample strip names), shared by training, which writes
 * them, and the report, which reads them.
 */

export const RUN_FILES = Object.freeze({
  latest: 'latest',
  options: 'options.json',
  log: 'log.jsonl',
  samples: 'samples',
  tensorboard: 'tensorboard',
  report: 'index.html',
  /** Held while a process trains in the folder (runFolder.ts). */
  lock: '.p2phd-lock',
  checkpointSuffix: '.safetensors',
  optimizerSuffix: '.optim.safetensors',
});

/** The file a checkpoint folder stands for (`--checkpoint DIR`). */
export const LATEST_CHECKPOINT = `${RUN_FILES.latest}${RUN_FILES.checkpointSuffix}`;

/** One line of log.jsonl. */
export interface LogRecord {
  epoch: number;
  step: number;
  lr: number;
  /** Wall seconds of this step. */
  seconds: number;
  [loss: string]: number;
}

/** Fields of a log line that are not losses. */
export const LOG_BOOKKEEPING_FIELDS: ReadonlySet<string> = new Set(['epoch', 'step', 'lr', 'seconds']);

/** samples/ strip file name: `epoch_EEE_step_SSSSSSS.png`. */
export function sampleStripName(epoch: number, step: number): string {
  return `epoch_${String(epoch).padStart(3, '0')}_step_${String(step).padStart(7, '0')}.png`;
}

/** The epoch and step of a strip file name, or undefined for any other file. */
export function parseSampleStripName(name: string): { epoch: number; step: number } | undefined {
  const match = /^epoch_(\d+)_step_(\d+)\.png$/.exec(name);
  return match ? { epoch: Number(match[1]), step: Number(match[2]) } : undefined;
}

/** Parses log.jsonl's text; blank and torn lines (a hard kill mid-write) are skipped. */
export function parseLogLines(text: string): LogRecord[] {
  const records: LogRecord[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      const record = JSON.parse(line) as LogRecord;
      if (typeof record.step === 'number') records.push(record);
    } catch {
      // A torn last line.
    }
  }
  return records;
}
