/**
 * Logging and progress, always on stderr: stdout is reserved for data ('-'
 * outputs) and --json summaries. A progress bar only when stderr is a TTY;
 * batch logs get plain periodic lines instead.
 */
import type { SingleBar } from 'cli-progress';

export interface Logger {
  info(line: string): void;
  warn(line: string): void;
  /** Only with --verbose. */
  debug(line: string): void;
  readonly verbose: boolean;
}

export function createLogger(options: { verbose?: boolean; quiet?: boolean } = {}): Logger {
  const verbose = options.verbose ?? false;
  const quiet = options.quiet ?? false;
  return {
    verbose,
    info: (line) => {
      if (!quiet) process.stderr.write(`${line}\n`);
    },
    warn: (line) => process.stderr.write(`warning: ${line}\n`),
    debug: (line) => {
      if (verbose) process.stderr.write(`${line}\n`);
    },
  };
}

export interface Progress {
  /** Advances by `steps`; `fields` are shown beside the bar (e.g. losses). */
  tick(steps?: number, fields?: Record<string, string>): void;
  stop(): void;
}

/**
 * A cli-progress bar on a TTY; otherwise a plain line at most every
 * `intervalSeconds` (and at the end), so batch logs stay readable.
 */
export function createProgress(label: string, total: number, options: { intervalSeconds?: number } = {}): Progress {
  const interval = (options.intervalSeconds ?? 10) * 1000;
  const started = Date.now();
  let done = 0;
  let fields: Record<string, string> = {};
  const describeFields = (): string => Object.entries(fields).map(([k, v]) => ` ${k}=${v}`).join('');
  if (process.stderr.isTTY) {
    // Loaded lazily: --help and batch runs never pay for it.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const cliProgress = require('cli-progress') as typeof import('cli-progress');
    const bar: SingleBar = new cliProgress.SingleBar(
      {
        stream: process.stderr,
        format: `${label} [{bar}] {value}/{total} {percentage}% eta {eta_formatted}{extra}`,
        hideCursor: true,
        clearOnComplete: false,
        etaBuffer: 20,
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, 0, { extra: '' });
    return {
      tick(steps = 1, newFields) {
        if (newFields) fields = newFields;
        done += steps;
        bar.update(done, { extra: describeFields() });
      },
      stop() {
        bar.stop();
      },
    };
  }
  let lastLine = started;
  let doneAtLastLine = -1;
  const line = (): void => {
    doneAtLastLine = done;
    const seconds = (Date.now() - started) / 1000;
    const rate = done > 0 ? seconds / done : 0;
    const eta = done > 0 && total > done ? ` eta ${Math.round(rate * (total - done))}s` : '';
    process.stderr.write(`${label}: ${done}/${total} (${seconds.toFixed(1)}s${eta})${describeFields()}\n`);
  };
  return {
    tick(steps = 1, newFields) {
      if (newFields) fields = newFields;
      done += steps;
      const now = Date.now();
      if (now - lastLine >= interval) {
        lastLine = now;
        line();
      }
    },
    stop() {
      // The final count, unless the last periodic line already showed it.
      if (done !== doneAtLastLine) line();
    },
  };
}
