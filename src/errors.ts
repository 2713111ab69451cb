/**
 * The contract's exit codes and the error types that carry them.
 *
 * Every failure a user can cause is thrown as a P2phdError subclass with a
 * one-line message naming the file or flag and what is wrong. The CLI's single
 * top-level handler prints the message (no stack unless --verbose) and exits
 * with the error's code. Anything else is a bug: exit 1 with a stack trace.
 */
export const ExitCode = Object.freeze({
  ok: 0,
  internal: 1,
  usage: 2,
  badInput: 3,
  /** Training diverged: a loss became NaN or infinite (nothing saved over the last good checkpoint). */
  diverged: 4,
  stopped: 75,
} as const);

/** What each exit code means, for `p2phd --help` and the docs (one source, so the texts agree). */
export const EXIT_CODE_MEANINGS: ReadonlyArray<readonly [string, string]> = Object.freeze([
  ['0', 'done'],
  ['1', 'internal failure (a bug: please report it with the trace)'],
  ['2', 'usage: unknown flag, bad value, conflicting options, refusing to overwrite'],
  ['3', 'bad input data: unreadable, corrupt or mismatched files, wrong file kind'],
  ['4', 'training diverged: a loss became NaN or infinite (the last good checkpoint is kept)'],
  ['75', 'training stopped on purpose (signal, --time-limit) after a save that --resume continues'],
  ['129/130/143', 'ended by SIGHUP/SIGINT/SIGTERM with nothing to resume'],
] as const);

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** The signals that stop a command, and the shell's exit code for each (128 + its number). */
export const STOP_SIGNALS = Object.freeze({ SIGHUP: 129, SIGINT: 130, SIGTERM: 143 } as const);
export type StopSignal = keyof typeof STOP_SIGNALS;
export type SignalExitCode = (typeof STOP_SIGNALS)[StopSignal];

export class P2phdError extends Error {
  constructor(message: string, readonly exitCode: ExitCodeValue | SignalExitCode) {
    super(message);
    this.name = new.target.name;
  }
}

/** Exit 2: unknown flag, bad value, conflicting options, refusing to overwrite. */
export class UsageError extends P2phdError {
  constructor(message: string) {
    super(message, ExitCode.usage);
  }
}

/** Exit 3: unreadable, corrupt or mismatched input, ids out of range, wrong file kind. */
export class InputError extends P2phdError {
  constructor(message: string) {
    super(message, ExitCode.badInput);
  }
}

/**
 * Exit 4: training diverged (a loss became NaN or infinite). Not a bug and
 * not bad input: the run's settings (usually --lr) led there. Scripts tell
 * it from a crash (1) and retry with other settings; the last good
 * checkpoint is kept.
 */
export class DivergedError extends P2phdError {
  constructor(message: string) {
    super(message, ExitCode.diverged);
  }
}

/** Exit 75: training stopped on purpose after saving a resumable checkpoint. */
export class StoppedError extends P2phdError {
  /** The signal that asked for the stop (none for --time-limit). */
  constructor(message: string, readonly signal?: StopSignal) {
    super(message, ExitCode.stopped);
  }
}

/** Exit 128 + the signal's number: a command ended by a signal, with nothing to resume. */
export class InterruptedError extends P2phdError {
  constructor(message: string, readonly signal: StopSignal) {
    super(message, STOP_SIGNALS[signal]);
  }
}

/** Display form of a path argument in messages ('-' is stdin). */
export function describePath(path: string): string {
  if (path === '-') return '<stdin>';
  return path;
}
