/**
 * What a new user trips on (issue 25, items 17-24): exit codes that scripts
 * can tell apart, --backend values checked per command before any work, and
 * the other first-day surprises, each driven through the CLI as a user would.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Command, CommanderError } from 'commander';
import { buildProgram } from '../../src/cli.js';
import { ExitCode, EXIT_CODE_MEANINGS, STOP_SIGNALS } from '../../src/errors.js';
import { COMMAND_BACKENDS } from '../../src/backend/choices.js';
import { runCliSync, temporaryFolder } from '../support/cli.js';

/** Every runnable command's words (`['train', 'local']`), from the CLI's own registry. */
function commandPaths(): string[][] {
  const paths: string[][] = [];
  const walk = (command: Command, prefix: string[]): void => {
    if (command.commands.length === 0) paths.push(prefix);
    for (const sub of command.commands) walk(sub, [...prefix, sub.name()]);
  };
  walk(buildProgram(), []);
  return paths;
}

/** Parses `args` in-process (no action may run): the CommanderError, or undefined when parsing passed. */
async function parseError(args: string[]): Promise<CommanderError | undefined> {
  const program = buildProgram();
  const silence = (command: Command): void => {
    command.configureOutput({ writeErr: () => undefined, writeOut: () => undefined });
    command.commands.forEach(silence);
  };
  silence(program);
  try {
    await program.parseAsync(['node', 'p2phd', ...args, '--help']);
  } catch (error) {
    if (error instanceof CommanderError && error.code !== 'commander.helpDisplayed') return error;
    if (!(error instanceof CommanderError)) throw error;
  }
  return undefined;
}

describe('17: a NaN loss has an exit code of its own', () => {
  test('exit codes are distinct, 4 is "training diverged", and every help text says so', () => {
    const codes = [...Object.values(ExitCode), ...Object.values(STOP_SIGNALS)];
    assert.equal(new Set(codes).size, codes.length, 'no two meanings share a code');
    assert.equal(ExitCode.diverged, 4);
    assert.deepEqual([ExitCode.ok, ExitCode.internal, ExitCode.usage, ExitCode.badInput, ExitCode.stopped], [0, 1, 2, 3, 75], "the contract's codes are unchanged");
    assert.match(EXIT_CODE_MEANINGS.find(([code]) => code === '1')![1], /bug/);
    assert.match(EXIT_CODE_MEANINGS.find(([code]) => code === '4')![1], /NaN/);
    const top = runCliSync(['--help']);
    assert.match(top.stdout, /^ {2}4 +training diverged: a loss became NaN or infinite/m);
    assert.match(top.stdout, /^ {2}1 +internal failure \(a bug/m);
    const train = runCliSync(['train', 'global', '--help']);
    assert.match(train.stdout.replace(/\s+/g, ' '), /1 internal failure \(a bug: please report it with the trace\).* 4 training diverged: a loss became NaN or infinite/);
    assert.doesNotMatch(train.stdout.replace(/\s+/g, ' '), /1 a loss became NaN/);
  });
});

describe('18: --backend is checked per command, before any work', () => {
  test('one table covers every command; onnxruntime only where networks run forward only', async () => {
    const paths = commandPaths();
    assert.ok(paths.length >= 11, paths.map((path) => path.join(' ')).join(', '));
    for (const path of paths) {
      const table = COMMAND_BACKENDS[path[0]!];
      assert.ok(table, `${path.join(' ')} has an entry`);
      const refused = await parseError([...path, '--backend', 'onnxruntime']);
      if (path[0] === 'synthesize' || path[0] === 'encode') {
        assert.equal(refused, undefined, `${path.join(' ')} takes onnxruntime`);
      } else {
        assert.ok(refused, `${path.join(' ')} refuses onnxruntime`);
        assert.match(refused.message, /onnxruntime is for encode and synthesize only/);
      }
      assert.ok(await parseError([...path, '--backend', 'bogus']), `${path.join(' ')} refuses an unknown backend`);
      assert.equal(await parseError([...path, '--backend', 'cpu']), undefined, `${path.join(' ')} takes cpu`);
    }
  });

  test('demo --backend onnxruntime: exit 2 at once, nothing written (a rerun is not blocked)', () => {
    const folder = temporaryFolder('demo-ort');
    try {
      const out = join(folder.path, 'demo');
      const result = runCliSync(['demo', '--backend', 'onnxruntime', '--out', out]);
      assert.equal(result.status, 2, result.stderr);
      assert.match(result.stderr, /onnxruntime is for encode and synthesize only/);
      assert.equal(existsSync(out), false, 'no output folder was made');
    } finally {
      folder.remove();
    }
  });
});
