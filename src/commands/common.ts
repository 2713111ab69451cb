/**
 * What every command shares: the global flags (typed once), flag-value
 * parsers that fail with a usage error naming the flag, shards, and the
 * context a handler receives. Nothing heavy is imported here, so `--help`
 * stays instant; handlers load tfjs and the model only when they run.
 */
import { randomInt } from 'node:crypto';
import { Command, Option } from 'commander';
import { UsageError } from '../errors.js';
import { createLogger, type Logger } from '../log.js';
import type { BackendInfo } from '../backend/index.js';
import { BACKEND_CHOICES, type BackendChoice } from '../backend/choices.js';


export interface CommonOptions {
  backend: BackendChoice;
  seed?: number;
  json: boolean;
  verbose: boolean;
}

export interface CommandContext {
  common: CommonOptions;
  log: Logger;
  /** The --seed value, or a fresh one (logged so the run can be repeated). */
  seed: number;
  /**
   * Selects and initialises the compute backend (once; logged once).
   * `inference`: the command never differentiates (no gradient functions
   * loaded) and nothing else in the process wants the other cores, so wasm
   * takes one thread per core unless P2PHD_WASM_THREADS says otherwise.
   * Training keeps one wasm thread: its data and Adam workers use the others.
   */
  useBackend(options?: { inference?: boolean }): Promise<BackendInfo>;
  /** Prints a --json summary on stdout (no-op without --json). */
  emitJson(summary: unknown): void;
}

/** The parsed value of `flag`, or a usage error when it is outside [min, max]. */
function checkRange(flag: string, parsed: number, min: number, max: number): number {
  if (parsed < min || parsed > max) {
    const range = max === Infinity ? `at least ${min}` : `between ${min} and ${max}`;
    throw new UsageError(`${flag}: ${parsed} is out of range (must be ${range})`);
  }
  return parsed;
}

/** Parses an integer flag value within [min, max]. */
export function integerFlag(flag: string, min = -Infinity, max = Infinity): (value: string) => number {
  return (value: string) => {
    const parsed = Number(value);
    if (!/^[+-]?\d+$/.test(value.trim()) || !Number.isSafeInteger(parsed)) {
      throw new UsageError(`${flag}: "${value}" is not a whole number`);
    }
    return checkRange(flag, parsed, min, max);
  };
}

/** Parses a finite number flag value within [min, max]. */
export function numberFlag(flag: string, min = -Infinity, max = Infinity): (value: string) => number {
  return (value: string) => {
    const parsed = Number(value);
    if (value.trim() === '' || !Number.isFinite(parsed)) throw new UsageError(`${flag}: "${value}" is not a number`);
    return checkRange(flag, parsed, min, max);
  };
}

/** `--out -` streams the `what` file on stdout, where --json prints its summary: a usage error when both are asked for. */
export function checkStdoutFree(out: string, json: boolean, what: string): void {
  if (out === '-' && json) throw new UsageError(`--json and --out - both want stdout: write the ${what} file to a path, or drop --json`);
}

export interface Shard {
  index: number;
  count: number;
}

/** `--shard INDEX/COUNT`, 0-based INDEX. */
export function parseShard(value: string): Shard {
  const match = /^(\d+)\/(\d+)$/.exec(value.trim());
  if (!match) throw new UsageError(`--shard: "${value}" is not INDEX/COUNT (for example 0/4)`);
  const index = Number(match[1]);
  const count = Number(match[2]);
  if (count < 1) throw new UsageError(`--shard: COUNT must be at least 1 (got ${count})`);
  if (index >= count) throw new UsageError(`--shard: INDEX ${index} must be below COUNT ${count} (INDEX is 0-based)`);
  return { index, count };
}

/** Every COUNT-th item starting at INDEX, from a list already in sorted order. */
export function takeShard<T>(items: readonly T[], shard: Shard | undefined): T[] {
  if (!shard) return [...items];
  return items.filter((_, i) => i % shard.count === shard.index);
}

/** Adds the flags every command shares. */
export function addCommonOptions(command: Command): Command {
  return command
    .addOption(new Option('--backend <name>', 'compute backend').choices([...BACKEND_CHOICES]).default('auto'))
    .option('--seed <n>', 'random seed: the same seed repeats a run', integerFlag('--seed', 0, 2 ** 31 - 1))
    .option('--json', 'print a JSON summary on stdout', false)
    .option('--verbose', 'more detail, and stack traces on errors', false);
}

/** Verbose mode is read before commander has parsed, for the top-level error handler. */
export const verboseRequested = (argv: readonly string[]): boolean => argv.includes('--verbose');

/**
 * Wraps a handler: builds the context from the common flags and calls it with
 * the command's own flags. Errors propagate to the CLI's single handler.
 */
export function action<Flags extends object>(
  handler: (flags: Flags, context: CommandContext, args: string[]) => Promise<void>,
): (...args: unknown[]) => Promise<void> {
  return async (...args: unknown[]) => {
    const command = args[args.length - 1] as Command;
    const flags = command.opts() as Flags & CommonOptions;
    const positional = command.args;
    const log = createLogger({ verbose: flags.verbose });
    const seedGiven = flags.seed !== undefined;
    const seed = flags.seed ?? randomInt(0, 2 ** 31 - 1);
    if (!seedGiven) log.debug(`seed ${seed} (pass --seed ${seed} to repeat this run)`);
    let backend: Promise<BackendInfo> | undefined;
    const context: CommandContext = {
      common: { backend: flags.backend, seed, json: flags.json, verbose: flags.verbose },
      log,
      seed,
      useBackend: (options = {}) => {
        backend ??= import('../backend/index.js').then((module) =>
          module.initBackend(flags.backend, {
            log: (line) => log.info(line),
            warn: (line) => log.warn(line),
            ...(options.inference ? { gradients: false, wasmThreads: module.inferenceWasmThreads() } : {}),
          }),
        );
        return backend;
      },
      emitJson: (summary) => {
        if (flags.json) process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
      },
    };
    await handler(flags, context, positional);
  };
}
