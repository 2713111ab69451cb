/**
 * The run folder (contract): latest.safetensors + latest.optim.safetensors,
 * epoch_NNN.safetensors, log.jsonl, options.json, samples/, and while a
 * process trains in it, the lock file `.p2phd-lock`.
 *
 * File names live in data/files/runFiles.ts (the report reads them too).
 */
import { promises as fsp, readFileSync, statSync, type Dirent } from 'node:fs';
import { readInputText } from '../data/formats/inputFile.js';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { InputError, UsageError } from '../errors.js';
import { createOutputFolder, describeWriteFailure, keepAtExit, removeAtExit, writeFileAtomically } from '../data/formats/atomicWrite.js';
import { RUN_FILES, type LogRecord } from '../data/files/runFiles.js';
import { exists, PENDING_SUFFIX } from './checkpointPair.js';

/**
 * A lock holder touches its lock this often; a lock from another host (whose
 * process cannot be checked) that has not been touched for STALE_LOCK_MS is
 * taken over (a job killed on one node and requeued on another).
 */
const LOCK_HEARTBEAT_MS = 60_000;
const STALE_LOCK_MS = 10 * 60_000;

export class RunFolder {
  private heartbeat: NodeJS.Timeout | undefined;

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

  get lockFile(): string {
    return join(this.dir, RUN_FILES.lock);
  }

  /**
   * Whether the folder already holds a checkpoint of a run: latest, an
   * epoch's, or the optimizer file of a save whose checkpoint still waits
   * under its pending name (a kill between the two renames of the first
   * save): `--resume` finishes that save.
   */
  async holdsCheckpoint(): Promise<string | undefined> {
    let entries: string[];
    try {
      entries = await fsp.readdir(this.dir);
    } catch {
      return undefined;
    }
    const latest = `${RUN_FILES.latest}${RUN_FILES.checkpointSuffix}`;
    return entries.find((name) => name === latest || /^epoch_\d+\.safetensors$/.test(name))
      ?? entries.find((name) => name === `${RUN_FILES.latest}${RUN_FILES.optimizerSuffix}`);
  }

  /**
   * Takes the folder's lock for this process (creating the folder first
   * when `create`), so that two processes never train in one folder. The
   * lock is released by `unlock`, or at exit; a lock whose process is gone
   * (killed with SIGKILL, a crashed node) is stale and taken over. A live
   * holder is exit 2 naming it.
   */
  async lock(options: { create: boolean }): Promise<void> {
    if (options.create) createOutputFolder(this.dir, '--out');
    const owner: Omit<LockOwner, 'touchedMs'> = { pid: process.pid, host: hostname(), started: processStartTicks(process.pid), since: new Date().toISOString() };
    // Written whole under a private name, then linked into place: link fails
    // when a lock exists, and a reader never sees a half-written lock.
    const candidate = join(this.dir, `.p2phd-lock.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
    try {
      await fsp.writeFile(candidate, `${JSON.stringify(owner)}\n`, { flag: 'wx' });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' && !options.create) {
        throw new UsageError(`--resume: ${this.dir} does not exist; nothing to resume (drop --resume to start a new run)`);
      }
      if (code === 'ENOTDIR') throw new UsageError(`--out ${this.dir}: is not a folder`);
      throw describeWriteFailure(this.lockFile, error);
    }
    try {
      for (let attempt = 0; ; attempt++) {
        try {
          await fsp.link(candidate, this.lockFile);
          removeAtExit(this.lockFile);
          const lockFile = this.lockFile;
          this.heartbeat = setInterval(() => {
            const now = new Date();
            fsp.utimes(lockFile, now, now).catch(() => undefined);
          }, LOCK_HEARTBEAT_MS);
          this.heartbeat.unref();
          return;
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 2) throw describeWriteFailure(this.lockFile, error);
        }
        const holder = readLockOwner(this.lockFile);
        if (holder !== undefined && lockHolderAlive(holder)) {
          throw new UsageError(
            `--out ${this.dir}: in use by p2phd process ${holder.pid} on ${holder.host} (since ${holder.since}); ` +
              `wait for it to end or choose another --out (if that process is gone, delete ${this.lockFile}` +
              `${holder.host === hostname() ? '' : `, or wait: a lock untouched for ${STALE_LOCK_MS / 60_000} minutes is taken over`})`,
          );
        }
        // Stale (its process is gone) or unreadable: take it over.
        await fsp.unlink(this.lockFile).catch(() => undefined);
      }
    } finally {
      await fsp.unlink(candidate).catch(() => undefined);
    }
  }

  /** Releases the lock taken by `lock` (when it is still this process's). */
  async unlock(): Promise<void> {
    clearInterval(this.heartbeat);
    this.heartbeat = undefined;
    const holder = readLockOwner(this.lockFile);
    if (holder?.pid === process.pid && holder.host === hostname()) await fsp.unlink(this.lockFile).catch(() => undefined);
    keepAtExit(this.lockFile);
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
    // A first run killed in its first save leaves temporaries (and, with no
    // optimizer file beside them, pending halves no resume can use).
    await this.removeStaleTemporaries();
    for (const name of [`${this.checkpoint(RUN_FILES.latest)}${PENDING_SUFFIX}`, `${this.optimizer(RUN_FILES.latest)}${PENDING_SUFFIX}`]) {
      await fsp.unlink(name).catch(() => undefined);
    }
    await this.createFolders();
  }

  /** Checks that a resumable run is here: latest, or a first save to finish (its optimizer renamed, its checkpoint pending). */
  async prepareResume(): Promise<void> {
    const latest = this.checkpoint(RUN_FILES.latest);
    if (!(await exists(latest)) && !((await exists(this.optimizer(RUN_FILES.latest))) && (await exists(`${latest}${PENDING_SUFFIX}`)))) {
      throw new UsageError(`--resume: ${latest} does not exist; nothing to resume (drop --resume to start a new run)`);
    }
    if (!(await exists(this.options))) {
      throw new UsageError(`--resume: ${this.options} does not exist; the folder does not look like a p2phd run`);
    }
    await this.removeStaleTemporaries();
    await this.createFolders();
  }

  /**
   * Removes temporaries that a killed process left (SIGKILL ends a process
   * without its exit hook): hidden `.<name>.<pid>.<hex>.tmp` files whose
   * process is gone, in the run folder and the folders in it (samples/,
   * tensorboard/). Complete `.pending` files stay: resuming may need one to
   * finish an interrupted save. Returns the paths removed, relative to the
   * run folder.
   */
  async removeStaleTemporaries(): Promise<string[]> {
    const removed: string[] = [];
    const clean = async (relative: string, depth: number): Promise<void> => {
      let entries: Dirent[];
      try {
        entries = await fsp.readdir(join(this.dir, relative), { withFileTypes: true });
      } catch {
        return;
      }
      for (const entry of entries) {
        const path = join(relative, entry.name);
        if (entry.isDirectory()) {
          if (depth < 1) await clean(path, depth + 1);
          continue;
        }
        const match = /^\..+\.(\d+)\.[0-9a-f]{8}\.tmp$/.exec(entry.name);
        if (!match || processAlive(Number(match[1]))) continue;
        await fsp.unlink(join(this.dir, path)).catch(() => undefined);
        removed.push(path);
      }
    };
    await clean('', 0);
    return removed;
  }

  private async createFolders(): Promise<void> {
    // The run's own folders, in one place: a file in the way is one line naming it (exit 2), new run or resume.
    createOutputFolder(this.samples, '--out');
    createOutputFolder(this.tensorboard, '--out');
  }

  async writeOptions(options: unknown): Promise<void> {
    await writeFileAtomically(this.options, `${JSON.stringify(options, null, 2)}\n`);
  }

  async readOptions(): Promise<Record<string, unknown>> {
    let text: string;
    try {
      text = await readInputText(this.options, 'a JSON file');
    } catch (error) {
      throw new InputError(`--resume: ${(error as Error).message}`);
    }
    // A torn or damaged options.json is a damaged input (exit 3).
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new InputError(`--resume: ${this.options} is not valid JSON (torn or damaged)`);
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw new InputError(`--resume: ${this.options} does not hold a JSON object (found ${parsed === null ? 'null' : Array.isArray(parsed) ? 'an array' : typeof parsed})`);
    }
    return parsed as Record<string, unknown>;
  }
}

/** Who holds a run folder's lock. */
interface LockOwner {
  pid: number;
  host: string;
  /** The process's start time in clock ticks since boot (Linux), to tell a reused pid apart; -1 where unknown. */
  started: number;
  since: string;
  /** When the holder last touched the lock (its heartbeat). */
  touchedMs: number;
}

function readLockOwner(path: string): LockOwner | undefined {
  try {
    const raw = JSON.parse(readFileSync(path, 'utf8')) as Partial<LockOwner>;
    if (typeof raw.pid !== 'number' || typeof raw.host !== 'string') return undefined;
    return {
      pid: raw.pid,
      host: raw.host,
      started: typeof raw.started === 'number' ? raw.started : -1,
      since: String(raw.since),
      touchedMs: statSync(path).mtimeMs,
    };
  } catch {
    return undefined;
  }
}

/** Field 22 of /proc/PID/stat (start time in ticks since boot), or -1 where there is no /proc. */
function processStartTicks(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces: count from after it.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[19]);
    return Number.isFinite(ticks) ? ticks : -1;
  } catch {
    return -1;
  }
}

/**
 * Whether a lock's holder still runs. On another host its process cannot
 * be checked: the lock counts as held while its heartbeat is recent; here,
 * a dead pid, or a live pid that started at another time (reused after the
 * holder died), is stale.
 */
function lockHolderAlive(owner: LockOwner): boolean {
  if (owner.host !== hostname()) return Date.now() - owner.touchedMs < STALE_LOCK_MS;
  if (!processAlive(owner.pid, { countSelf: false })) return false;
  if (owner.started < 0) return true;
  const started = processStartTicks(owner.pid);
  return started < 0 || started === owner.started;
}

function processAlive(pid: number, options: { countSelf: boolean } = { countSelf: true }): boolean {
  if (pid === process.pid) return options.countSelf;
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
  private constructor(
    private readonly path: string,
    private readonly handle: fsp.FileHandle,
  ) {}

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
    try {
      return new StepLog(path, await fsp.open(path, resumedAtStep === undefined ? 'w' : 'a'));
    } catch (error) {
      throw describeWriteFailure(path, error);
    }
  }

  async append(record: LogRecord): Promise<void> {
    try {
      await this.handle.write(`${JSON.stringify(record)}\n`);
    } catch (error) {
      throw describeWriteFailure(this.path, error);
    }
  }

  async close(): Promise<void> {
    await this.handle.close();
  }
}
