/**
 * The stand-in commands the docs test puts first on PATH (see the header of
 * commands.test.ts for the rules). Each shim file in the test's bin folder is
 * `exec node shim.js <name> "$@"`; this program does what that name stands
 * for, at a tiny scale, and exits with its status. Anything it does not know
 * fails loudly (exit 127, "docs test: ... not known").
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

/** Architecture of a fresh `train global`: tiny, fast on one core. */
export const TINY_GLOBAL: Readonly<Record<string, string>> = Object.freeze({
  '--ngf': '8',
  '--n-downsample-global': '2',
  '--n-blocks-global': '1',
  '--ndf': '8',
  '--n-layers-d': '2',
  '--nef': '4',
  '--n-downsample-e': '2',
});

/** Architecture of a fresh `train pix2pix`: the default U-Net, narrow. */
export const TINY_PIX2PIX: Readonly<Record<string, string>> = Object.freeze({
  '--ngf': '4',
  '--ndf': '4',
});

/** Flags a local / joint stage (or a global one with --init) gets shrunk when the page gives them. */
export const TINY_WHEN_GIVEN: Readonly<Record<string, string>> = Object.freeze({
  '--ngf': '4',
  '--n-blocks-local': '1',
  '--ndf': '8',
  '--nef': '4',
});

/** Flags dropped from train: --max-steps 1 decides the length; saving is at the end. */
const TRAIN_DROPPED = new Set(['--max-steps', '--save-every', '--sample-every', '--time-limit']);

/** `--load-size N` as the docs give it (Cityscapes' 1024, 2048, 4096) -> an eighth, 64..256. */
export function tinyLoadSize(value: string): string {
  const n = Number(value);
  if (!Number.isFinite(n)) return value;
  return String(Math.max(64, Math.min(256, Math.round(n / 8 / 4) * 4)));
}

/** Splits `--flag=value` into two words, so that substitutions see every flag alike. */
function splitEquals(args: readonly string[]): string[] {
  return args.flatMap((arg) => (arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg]));
}

/** Replaces the value of each given flag found in `table`; returns the flags that were found. */
function replaceValues(args: string[], table: Readonly<Record<string, string>>): Set<string> {
  const found = new Set<string>();
  for (let i = 0; i < args.length - 1; i++) {
    const replacement = table[args[i]!];
    if (replacement !== undefined) {
      args[i + 1] = replacement;
      found.add(args[i]!);
      i++;
    }
  }
  return found;
}

function dropFlags(args: string[], dropped: ReadonlySet<string>): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (dropped.has(args[i]!)) {
      i++;
      continue;
    }
    out.push(args[i]!);
  }
  return out;
}

/**
 * p2phd's arguments as the docs give them -> the same command at a tiny scale.
 * `null`: the command is not run, only its flags are checked (`--help` appended).
 */
export function shrinkP2phdArgs(given: readonly string[]): { args: string[]; helpOnly: boolean } {
  let args = splitEquals(given);
  const command = args[0];
  if (command === 'preprocess' || command === 'synthesize') {
    for (let i = 0; i < args.length - 1; i++) if (args[i] === '--load-size') args[i + 1] = tinyLoadSize(args[i + 1]!);
    // preprocess's default --load-size (1024) would blow the fixtures up 4x.
    const none = args.some((arg, i) => arg === 'none' && args[i - 1] === '--resize-or-crop');
    if (command === 'preprocess' && !args.includes('--load-size') && !args.includes('--aligned') && !none) args.push('--load-size', tinyLoadSize('1024'));
  }
  if (command === 'train') {
    const stage = args[1];
    args = dropFlags(args, TRAIN_DROPPED);
    const hasInit = args.includes('--init');
    if (stage === 'pix2pix' && !hasInit) {
      const found = replaceValues(args, TINY_PIX2PIX);
      for (const [flag, value] of Object.entries(TINY_PIX2PIX)) if (!found.has(flag)) args.push(flag, value);
    } else if (stage === 'global' && !hasInit) {
      const found = replaceValues(args, TINY_GLOBAL);
      for (const [flag, value] of Object.entries(TINY_GLOBAL)) if (!found.has(flag)) args.push(flag, value);
    } else {
      replaceValues(args, TINY_WHEN_GIVEN);
    }
    args.push('--max-steps', '1');
  }
  // demo takes minutes; edit serves a page until stopped: only their flags are checked.
  if (command === 'demo' || command === 'edit') return { args: [...args, '--help'], helpOnly: true };
  return { args, helpOnly: false };
}

function fail(message: string): never {
  process.stderr.write(`docs test: ${message}\n`);
  process.exit(127);
}

function run(command: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env): never {
  const result = spawnSync(command, args, { stdio: 'inherit', env });
  if (result.error) fail(`${command}: ${result.error.message}`);
  process.exit(result.status ?? 128 + 15);
}

function p2phd(given: readonly string[]): never {
  const cli = process.env['DOCS_TEST_CLI'];
  if (!cli) fail('DOCS_TEST_CLI is not set');
  const { args } = shrinkP2phdArgs(given);
  const env = { ...process.env, P2PHD_WASM_THREADS: '1' };
  if (process.env['DOCS_TEST_TIMING']) {
    // Timing on request (DOCS_TEST_TIMING=1 in the test's environment): one line per command.
    const started = process.hrtime.bigint();
    const result = spawnSync(process.execPath, [cli, ...args], { stdio: 'inherit', env });
    process.stderr.write(`docs-timing ${(Number(process.hrtime.bigint() - started) / 1e9).toFixed(1)} s: p2phd ${args.join(' ')}\n`);
    process.exit(result.status ?? 128 + 15);
  }
  run(process.execPath, [cli, ...args], env);
}

/** npm: the scripts the docs name must exist; nothing is installed or run. */
function npm(args: readonly string[]): never {
  const repo = process.env['DOCS_TEST_REPO'];
  if (!repo) fail('DOCS_TEST_REPO is not set');
  const scripts = (JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { scripts?: Record<string, string> }).scripts ?? {};
  const [sub, name] = args;
  if (sub === 'ci' || sub === 'link') {
    if (!existsSync(join(repo, 'package-lock.json'))) fail(`npm ${sub}: no package-lock.json in the repository`);
    process.exit(0);
  }
  if (sub === 'test') {
    if (!scripts['test']) fail('npm test: package.json has no "test" script');
    process.exit(0);
  }
  if (sub === 'run' && name !== undefined) {
    if (!scripts[name]) fail(`npm run ${name}: package.json has no "${name}" script`);
    process.exit(0);
  }
  fail(`npm ${args.join(' ')}: not known (known: npm ci, npm link, npm test, npm run SCRIPT)`);
}

/**
 * sbatch SCRIPT ARGS: fails as SLURM would when the script's `--output`
 * folder is missing, then runs the script as task 0 of its array.
 */
function sbatch(args: readonly string[]): never {
  let index = 0;
  let array = '';
  for (; index < args.length && args[index]!.startsWith('-'); index++) {
    if (args[index]!.startsWith('--array=')) array = args[index]!.slice('--array='.length);
    else fail(`sbatch ${args[index]}: option not known to the docs test`);
  }
  const script = args[index];
  if (!script || !existsSync(script)) fail(`sbatch: no script ${script ?? ''}`);
  const text = readFileSync(script, 'utf8');
  const output = /^#SBATCH --output=(\S+)/m.exec(text)?.[1];
  if (output && !existsSync(resolve(dirname(output)))) fail(`sbatch ${script}: the log folder ${dirname(output)}/ does not exist (SLURM would fail the job)`);
  const range = /^(\d+)-(\d+)$/.exec(array);
  const env: NodeJS.ProcessEnv = { ...process.env, SLURM_JOB_ID: '1', SLURM_SUBMIT_DIR: process.cwd() };
  if (range) Object.assign(env, { SLURM_ARRAY_TASK_ID: range[1], SLURM_ARRAY_TASK_COUNT: String(Number(range[2]) - Number(range[1]) + 1) });
  run('bash', [script, ...args.slice(index + 1)], env);
}

/** tensorboard --logdir DIR: there must be event files below DIR; no server starts. */
function tensorboard(args: readonly string[]): never {
  const at = args.indexOf('--logdir');
  const dir = at >= 0 ? args[at + 1] : undefined;
  if (!dir) fail(`tensorboard ${args.join(' ')}: not known (known: tensorboard --logdir DIR)`);
  const events = (folder: string): boolean =>
    readdirSync(folder).some((name) => name.startsWith('events.out.tfevents.') || (statSync(join(folder, name)).isDirectory() && events(join(folder, name))));
  if (!existsSync(dir) || !events(dir)) fail(`tensorboard --logdir ${dir}: no event files there`);
  process.exit(0);
}

function main(): void {
  const [name, ...args] = process.argv.slice(2);
  switch (name) {
    case 'p2phd':
      return p2phd(args);
    case 'npx':
      if (args[0] !== 'p2phd') fail(`npx ${args.join(' ')}: not known (the docs run p2phd as npx p2phd)`);
      return p2phd(args.slice(1));
    case 'npm':
      return npm(args);
    case 'sbatch':
      return sbatch(args);
    case 'tensorboard':
      return tensorboard(args);
    default:
      fail(`${name ?? ''}: no stand-in for this command`);
  }
}

if (require.main === module) main();
