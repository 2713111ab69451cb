/**
 * How every command ends when it is told to stop or when nobody reads its
 * output any more, installed once by the CLI's main (and by training's
 * StopControl, for library callers).
 *
 * - SIGTERM / SIGINT / SIGHUP: if a stop listener is registered (training:
 *   finish the step, save, exit 75), it gets every SIGTERM and SIGINT, the
 *   second one included; otherwise the process prints one line and exits
 *   128 + the signal's number through process.exit, so the 'exit' hooks run
 *   and remove temporary files and locks (data/formats/atomicWrite.ts). Node's
 *   default action would end the process without running them.
 * - A closed stdout (EPIPE: `p2phd encode --out - | head -c1`): the reader
 *   wants no more, so the command ends quietly with exit 0, as a pipeline
 *   stage whose consumer stopped early should. A closed stderr only loses
 *   the log lines: the command goes on.
 * - stdout that fails otherwise (`> /dev/full`, a full disk, an I/O error):
 *   one line naming stdout and the reason, exit 3, as a failed write of an
 *   output file is.
 *
 * Node runs signal listeners between synchronous computations, so a signal
 * that arrives during one (a training step, one image's inference) takes
 * effect when it returns.
 */
import { ExitCode, STOP_SIGNALS, type StopSignal } from './errors.js';

export type StopListener = (signal: StopSignal) => void;

let stopListener: StopListener | undefined;
let installed = false;

/**
 * Ends the process at once, running the exit hooks, with one line on
 * stderr and `code` (by default the shell's code for `signal`).
 */
export function exitOnSignal(signal: StopSignal, line = `${signal}: stopped; temporary files removed`, code: number = STOP_SIGNALS[signal]): never {
  process.stderr.write(`p2phd: ${line}\n`);
  process.exit(code);
}

/** Ends the process quietly (exit 0): stdout's reader has gone. */
export function exitOnClosedStdout(): never {
  process.exit(0);
}

/** The one line for a failed write to stdout (not a closed pipe). */
export function describeStdoutFailure(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const reason = code === 'ENOSPC' ? 'no space left on the device'
    : code === 'EDQUOT' ? 'disk quota exceeded'
    : code === 'EIO' ? 'input/output error'
    : code === 'EFBIG' ? 'file too large'
    : code === 'EBADF' ? 'stdout is closed'
    : code ?? (error as Error | undefined)?.message ?? String(error);
  return `cannot write to stdout: ${reason}`;
}

/** Ends the process with one line (exit 3): stdout cannot be written. */
export function exitOnStdoutFailure(error: unknown): never {
  try {
    process.stderr.write(`p2phd: ${describeStdoutFailure(error)}\n`);
  } catch {
    // stderr is gone too: the exit code says it.
  }
  process.exit(ExitCode.badInput);
}

/** Whether `error` is the write error of a pipe whose reader has gone. */
export function isClosedPipe(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === 'EPIPE';
}

/** Installs the signal and stdout handlers (once per process). */
export function installProcessHandlers(): void {
  if (installed) return;
  installed = true;
  for (const signal of Object.keys(STOP_SIGNALS) as StopSignal[]) {
    process.on(signal, () => {
      if (stopListener !== undefined && signal !== 'SIGHUP') stopListener(signal);
      else exitOnSignal(signal);
    });
  }
  process.stdout.on('error', (error) => {
    if (isClosedPipe(error)) exitOnClosedStdout();
    exitOnStdoutFailure(error);
  });
  // A closed stderr (`p2phd train ... 2>&1 | head`) loses the log lines, not the work.
  process.stderr.on('error', (error) => {
    if (!isClosedPipe(error)) throw error;
  });
}

/**
 * Routes SIGTERM and SIGINT to `listener` until the returned function is
 * called (which restores the previous routing). The listener gets every
 * signal; it must end the process itself when it decides to.
 */
export function onStopSignal(listener: StopListener): () => void {
  installProcessHandlers();
  const previous = stopListener;
  stopListener = listener;
  return () => {
    stopListener = previous;
  };
}
