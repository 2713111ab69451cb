/**
 * What every command shares: the global flags (typed once) and the context a
 * handler receives (flag-value parsers and shards live in ../flagValues.ts).
 * Nothing heavy is imported here, so `--help` stays instant; handlers load
 * tfjs and the model only when they run.
 */
import { randomInt } from 'node:crypto';
import { Command, InvalidArgumentError, Option } from 'commander';
import { UsageError } from '../errors.js';
import { createLogger, type Logger } from '../log.js';
import type { BackendInfo } from '../backend/index.js';
import { backendChoicesFor, backendRefusal, type BackendChoice } from '../backend/choices.js';
import type { InputArgument, OutputTarget } from '../data/files/outputPath.js';
import { integerFlag } from '../flagValues.js';


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
   * Selects and initialises the compute backend (once; logged once); wasm
   * takes one thread per core unless P2PHD_WASM_THREADS says otherwise.
   * `inference`: the command never differentiates (no gradient functions
   * loaded) and may run on onnxruntime.
   */
  useBackend(options?: { inference?: boolean }): Promise<BackendInfo>;
  /** Prints a --json summary on stdout (no-op without --json). */
  emitJson(summary: unknown): void;
}

/** `--out -` streams the `what` file on stdout, where --json prints its summary: a usage error when both are asked for. */
export function checkStdoutFree(out: string, json: boolean, what: string): void {
  if (out === '-' && json) throw new UsageError(`--json and --out - both want stdout: write the ${what} file to a path, or drop --json`);
}

/** The top-level command `command` belongs to (`train` for `train local`). */
function topLevelName(command: Command): string {
  let top = command;
  while (top.parent?.parent) top = top.parent;
  return top.name();
}

/**
 * --backend, with the values this command takes (src/backend/choices.ts):
 * any other is refused while commander parses (exit 2), before any work.
 */
function backendOption(command: Command): Option {
  const name = topLevelName(command);
  const option = new Option('--backend <name>', 'compute backend').choices([...backendChoicesFor(name)]).default('auto');
  option.argParser((value: string) => {
    const refusal = backendRefusal(name, value);
    if (refusal !== undefined) throw new InvalidArgumentError(refusal);
    return value;
  });
  return option;
}

/** Adds the flags every command shares (call it once the command is attached to its parent). */
export function addCommonOptions(command: Command): Command {
  return command
    .addOption(backendOption(command))
    .option('--seed <n>', 'random seed: the same seed repeats a run', integerFlag('--seed', 0, 2 ** 31 - 1))
    .option('--json', 'print a JSON summary on stdout', false)
    .option('--verbose', 'more detail, and stack traces on errors', false);
}

/** Verbose mode is read before commander has parsed, for the top-level error handler. */
export const verboseRequested = (argv: readonly string[]): boolean => argv.includes('--verbose');

/** A command's output and the inputs it must not overwrite, read from its flags. */
export type CommandPaths<Flags> = (flags: Flags, args: readonly string[]) => { output: OutputTarget | readonly OutputTarget[]; inputs: InputArgument[] };

/**
 * Wraps a handler: checks the output path against the inputs (`paths`:
 * before anything else, so a bad --out costs no work; data/files/outputPath.ts),
 * builds the context from the common flags and calls the handler with the
 * command's own flags. Errors propagate to the CLI's single handler.
 */
export function action<Flags extends object>(
  handler: (flags: Flags, context: CommandContext, args: string[]) => Promise<void>,
  paths?: CommandPaths<Flags>,
): (...args: unknown[]) => Promise<void> {
  return async (...args: unknown[]) => {
    const command = args[args.length - 1] as Command;
    const flags = command.opts() as Flags & CommonOptions;
    if (paths) {
      const { output, inputs } = paths(flags, command.args);
      const { checkOutputPath } = await import('../data/files/outputPath.js');
      for (const target of Array.isArray(output) ? output : [output as OutputTarget]) checkOutputPath(target, inputs);
    }
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
            wasmThreads: module.wasmThreadsPerCore(),
            ...(options.inference ? { gradients: false, inference: true } : {}),
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
