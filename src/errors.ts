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
  stopped: 75,
} as const);

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

export class P2phdError extends Error {
  constructor(message: string, readonly exitCode: ExitCodeValue) {
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

/** Exit 75: training stopped on purpose after saving a resumable checkpoint. */
export class StoppedError extends P2phdError {
  constructor(message: string) {
    super(message, ExitCode.stopped);
  }
}

/** Display form of a path argument in messages ('-' is stdin). */
export function describePath(path: string): string {
  if (path === '-') return '<stdin>';
  return path;
}
