/** What every audit case checks of a failed command: its exit code, one error line naming what is wrong, no stack trace. */
import assert from 'node:assert/strict';
import { runCliSync, type CliOptions, type CliResult } from './cli.js';

export const STACK_LINE = /^\s+at .+\(.+:\d+:\d+\)$|^\s+at .+:\d+:\d+$/m;

/** The one error line of a finished command, after checking its exit code and that no stack was printed. */
export function checkFailure(result: CliResult, what: string, code: number, mentions: RegExp[]): string {
  const context = `${what}\n--- stderr ---\n${result.stderr}`;
  assert.equal(result.status, code, `exit code\n${context}`);
  assert.doesNotMatch(result.stderr, STACK_LINE, `no stack trace\n${context}`);
  const errorLines = result.stderr.split('\n').filter((line) => /^(p2phd: |error: )/.test(line));
  assert.equal(errorLines.length, 1, `exactly one error line\n${context}`);
  for (const mention of mentions) assert.match(errorLines[0]!, mention, `the error line mentions ${mention}\n${context}`);
  return errorLines[0]!;
}

/** Runs `p2phd ...args` and checks it fails as `checkFailure` says. */
export function expectFailure(args: string[], code: number, mentions: RegExp[], options: CliOptions = {}): string {
  return checkFailure(runCliSync(args, options), `p2phd ${args.join(' ')}`, code, mentions);
}

/** `text` as a regular expression matching itself. */
export function literal(text: string): RegExp {
  return new RegExp(text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
}
