/**
 * The p2phd command line: registers every command of the contract and maps
 * every failure to the contract's exit codes in one place.
 */
import { Command, CommanderError } from 'commander';
import { EXIT_CODE_MEANINGS, ExitCode, P2phdError } from './errors.js';
import { VERSION } from './version.js';
import { installProcessHandlers, isClosedPipe } from './lifecycle.js';
import { verboseRequested } from './commands/common.js';
import { registerPreprocess } from './commands/preprocess.js';
import { registerTrain } from './commands/train.js';
import { registerEncode } from './commands/encode.js';
import { registerCluster } from './commands/cluster.js';
import { registerSynthesize } from './commands/synthesize.js';
import { registerInspect } from './commands/inspect.js';
import { registerDemo } from './commands/demo.js';
import { registerImport } from './commands/import.js';
import { registerExport } from './commands/export.js';
import { registerReport } from './commands/report.js';
import { registerDoctor } from './commands/doctor.js';
import { registerEdit } from './commands/edit.js';

export function buildProgram(): Command {
  const program = new Command('p2phd')
    .description('pix2pixHD (Wang et al., CVPR 2018) as composable pipeline stages')
    .version(VERSION)
    .showHelpAfterError('(run with --help for usage)')
    .configureHelp({ showGlobalOptions: true })
    .addHelpText('after', `\nExit codes:\n${EXIT_CODE_MEANINGS.map(([code, meaning]) => `  ${code.padEnd(12)}${meaning}`).join('\n')}`);
  registerPreprocess(program);
  registerTrain(program);
  registerEncode(program);
  registerCluster(program);
  registerSynthesize(program);
  registerInspect(program);
  registerReport(program);
  registerEdit(program);
  registerDemo(program, async (args) => {
    await buildProgram().parseAsync(['node', 'p2phd', ...args]);
  });
  registerImport(program);
  registerExport(program);
  registerDoctor(program);
  // Every (sub)command reports errors through the handler below instead of exiting itself.
  const override = (command: Command): void => {
    command.exitOverride();
    command.commands.forEach(override);
  };
  override(program);
  return program;
}

/** Maps a thrown value to an exit code, printing one line (a stack only for bugs or --verbose). */
export function reportError(error: unknown, verbose: boolean): number {
  if (error instanceof CommanderError) {
    // Commander has already printed its message (or the help / version).
    if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.code === 'commander.help') {
      return ExitCode.ok;
    }
    return ExitCode.usage;
  }
  // stdout's reader has gone (`p2phd encode --out - | head -c1`): nothing to report.
  if (isClosedPipe(error)) return ExitCode.ok;
  if (error instanceof P2phdError) {
    process.stderr.write(`p2phd: ${error.message}\n`);
    if (verbose && error.stack) process.stderr.write(`${error.stack}\n`);
    return error.exitCode;
  }
  const stack = error instanceof Error ? (error.stack ?? error.message) : String(error);
  process.stderr.write(`p2phd: internal error (a bug; please report it with this trace)\n${stack}\n`);
  return ExitCode.internal;
}

export async function main(argv: string[] = process.argv): Promise<void> {
  let code: number = ExitCode.ok;
  // Signals and a closed stdout end every command the same way (src/lifecycle.ts).
  installProcessHandlers();
  try {
    await buildProgram().parseAsync(argv);
  } catch (error) {
    code = reportError(error, verboseRequested(argv));
    // A failed command ends here: nothing it left running (a worker
    // thread, a timer, a read that never completes) may keep the process
    // alive after its one line. stdout and stderr are written synchronously
    // when they are files or pipes, so nothing printed is lost.
    process.exit(code);
  }
  process.exitCode = code;
}
