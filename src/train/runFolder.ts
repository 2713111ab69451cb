/**
 * The run folder (contract): latest.safetensors + latest.optim.safetensors,
 * epoch_NNN.safetensors, log.jsonl, options.json, samples/.
 *
 * File names live in data/runFiles.ts (the report reads them too).
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../errors.js';
import { writeFileAtomically } from '../data/atomicWrite.js';
import { RUN_FILES, type LogRecord } from '../data/runFiles.js';

export class RunFolder {
  constructor(readonly dir: string) {}

  checkpoint(name: string): string {
    return join(this.dir, `${name}${RUN_FILES.checkpointSuffix}`);
  }

  optimizer(name: string): string {
    return join(this.dir, `${name}${RUN_FILES.optimizerSuffix}`);
  }

  epochName(epoch: number): string {
    return `epoch_${String(epoch).padStart(3, '0')}`;
  }

  get options(): string {
    return join(this.dir, RUN_FILES.options);
  }

  get log(): string {
    return join(this.dir, RUN_FILES.log);
  }

  get samples(): string {
    return join(this.dir, RUN_FILES.samples);
  }

  get tensorboard(): string {
    return join(this.dir, RUN_FILES.tensorboard);
  }

  /** Whether the folder already holds a checkpoint of a run (latest or an epoch's). */
  async holdsCheckpoint(): Promise<string | undefined> {
    let entries: string[];
    try {
      entries = await fsp.readdir(this.dir);
    } catch {
      return undefined;
    }
    return entries.find((name) => name === `${RUN_FILES.latest}${RUN_FILES.checkpointSuffix}` || /^epoch_\d+\.safetensors$/.test(name));
  }

  /**
   * Creates the folder for a new run, refusing one that holds a checkpoint
   * (exit 2): a second run must not overwrite the first by accident.
   */
  async prepareNew(): Promise<void> {
    const existing = await this.holdsCheckpoint();
    if (existing) {
      throw new UsageError(`--out ${this.dir}: already holds a checkpoint (${existing}); pass --resume to continue that run, or choose another --out`);
    }
    await this.createFolders();
  }

  /** Checks that a resumable run is here. */
  async prepareResume(): Promise<void> {
    try {
      await fsp.access(this.checkpoint(RUN_FILES.latest));
    } catch {
      throw new UsageError(`--resume: ${this.checkpoint(RUN_FILES.latest)} does not exist; nothing to resume (drop --resume to start a new run)`);
    }
    try {
      await fsp.access(this.options);
    } catch {
      throw new UsageError(`--resume: ${this.options} does not exist; the folder does not look like a p2phd run`);
    }
    await this.removeStaleTemporaries();
    await this.createFolders();
  }

  /**
   * Removes temporaries that a killed process left (a second signal ends the
   * process without its exit hook): hidden `.<name>.<pid>.<hex>.tmp` files
   * whose process is gone. Complete `.pending` files stay: resuming may
   * need one to finish an interrupted save.
   */
  async removeStaleTemporaries(): Promise<string[]> {
    let entries: string[];
    try {
      entries = await fsp.readdir(this.dir);
    } catch {
      return [];
    }
    const removed: string[] = [];
    for (const name of entries) {
      const match = /^\..+\.(\d+)\.[0-9a-f]{8}\.tmp$/.exec(name);
      if (!match || processAlive(Number(match[1]))) continue;
      await fsp.unlink(join(this.dir, name)).catch(() => undefined);
      removed.push(name);
    }
    return removed;
  }

  private async createFolders(): Promise<void> {
    try {
      await fsp.mkdir(this.samples, { recursive: true });
    } catch (error) {
      throw new UsageError(`--out ${this.dir}: cannot create the run folder (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
    }
  }

  async writeOptions(options: unknown): Promise<void> {
    await writeFileAtomically(this.options, `${JSON.stringify(options, null, 2)}\n`);
  }

  async readOptions(): Promise<Record<string, unknown>> {
    const text = await fsp.readFile(this.options, 'utf8');
    try {
      return JSON.parse(text) as Record<string, unknown>;
    } catch {
      throw new UsageError(`--resume: ${this.options} is not valid JSON`);
    }
  }
}

function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * log.jsonl: one JSON object per step, appended. On resume, lines of steps
 * after the checkpoint (logged, then lost when the run stopped without
 * saving them) are dropped first, so the log reads as one uninterrupted run.
 */
export class StepLog {
  private constructor(private readonly handle: fsp.FileHandle) {}

  static async open(path: string, resumedAtStep: number | undefined): Promise<StepLog> {
    if (resumedAtStep !== undefined) {
      let text = '';
      try {
        text = await fsp.readFile(path, 'utf8');
      } catch {
        // No log yet: start one.
      }
      const kept = text
        .split('\n')
        .filter((line) => {
          if (line.trim() === '') return false;
          try {
            return (JSON.parse(line) as { step?: number }).step! <= resumedAtStep;
          } catch {
            return false; // a torn last line from a hard kill
          }
        })
        .map((line) => `${line}\n`)
        .join('');
      await writeFileAtomically(path, kept);
    }
    return new StepLog(await fsp.open(path, resumedAtStep === undefined ? 'w' : 'a'));
  }

  async append(record: LogRecord): Promise<void> {
    await this.handle.write(`${JSON.stringify(record)}\n`);
  }

  async close(): Promise<void> {
    await this.handle.close();
  }
}
