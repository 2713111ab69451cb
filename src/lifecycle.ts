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
 * that arrives during one (a training step, one image's inference) would
 * take effect only when it returns: minutes on the cpu backend at full size,
 * with SIGTERMs seemingly ignored. A computation that may run long goes
 * through `computeWithSignalsEndingAtOnce`: while it runs, these listeners
 * are taken off, so the operating system's default action applies and a
 * signal ends the process at once (the shell's 128 + n). No JavaScript runs
 * then (neither a line nor the exit hooks), so such a computation must
 * leave nothing half-written on disk: a training step writes nothing.
 */
import { ExitCode, STOP_SIGNALS, type StopSignal } from './errors.js';

export type StopListener = (signal: StopSignal) => void;

let stopListener: StopListener | undefined;
let installed = false;
/** The listener installed for each signal, taken off by computeWithSignalsEndingAtOnce. */
const signalListeners = new Map<StopSignal, () => void>();
/** How many computeWithSignalsEndingAtOnce calls are in flight (they may nest). */
let atOnceDepth = 0;

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
    const listener = (): void => {
      if (stopListener !== undefined && signal !== 'SIGHUP') stopListener(signal);
      else exitOnSignal(signal);
    };
    signalListeners.set(signal, listener);
    process.on(signal, listener);
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

/**
 * Runs `work` with the signals' default action: SIGTERM, SIGINT or SIGHUP
 * during it ends the process at once, with the shell's 143 / 130 / 129 and
 * no line, instead of waiting unseen until a long synchronous computation
 * returns. Meant for one training step (a forward and a backward pass that
 * never yield), which writes nothing: what was saved before stays intact,
 * and a run lock left behind names a process that is gone, so the next
 * `--resume` on this host takes it over. The usual listeners are back when
 * `work` settles. Without installed handlers (a library caller) `work`
 * just runs.
 */
export async function computeWithSignalsEndingAtOnce<T>(work: () => Promise<T>): Promise<T> {
  if (!installed) return work();
  if (atOnceDepth++ === 0) {
    for (const [signal, listener] of signalListeners) process.removeListener(signal, listener);
  }
  try {
    return await work();
  } finally {
    if (--atOnceDepth === 0) {
      for (const [signal, listener] of signalListeners) process.on(signal, listener);
    }
  }
}
