/**
 * Running the built `p2phd` as a user would (a child process), repository
 * paths, and temporary folders: shared by every test that goes through the CLI.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/** The repository root (tests run from dist/test/<area>/). */
export const REPO_ROOT = resolve(__dirname, '..', '..', '..');
export const FIXTURES_DIR = join(REPO_ROOT, 'fixtures');
export const GOLDEN_DIR = join(REPO_ROOT, 'test', 'golden');
export const CLI = join(REPO_ROOT, 'bin', 'p2phd');

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/**
 * The environment a test's p2phd runs in: one wasm thread unless the test
 * says otherwise (its models are tiny, and the runner already runs two test
 * files at once; the thread tests and synthesize's set it themselves).
 */
function cliEnv(options: CliOptions): NodeJS.ProcessEnv {
  return { ...process.env, P2PHD_WASM_THREADS: process.env['P2PHD_WASM_THREADS'] ?? '1', ...options.env };
}

export interface CliOptions {
  cwd?: string;
  env?: Record<string, string>;
  input?: string | Buffer;
  /** Kills the command after this long (default 300 s); its status is then null. */
  timeoutMs?: number;
}

/** Runs `p2phd ...args` to completion and collects its exit code and output. */
export function runCliSync(args: readonly string[], options: CliOptions = {}): CliResult {
  const result = spawnSync(process.execPath, [CLI, ...args], {
    cwd: options.cwd ?? REPO_ROOT,
    encoding: 'utf8',
    timeout: options.timeoutMs ?? 300_000,
    env: cliEnv(options),
    ...(options.input !== undefined ? { input: options.input } : {}),
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Starts `p2phd ...args` (for tests that signal it) and resolves when it exits. */
export function startCli(args: readonly string[], options: CliOptions = {}): { child: ChildProcess; done: Promise<CliResult> } {
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: options.cwd ?? REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: cliEnv(options),
  });
  let stderr = '';
  let stdout = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  const done = new Promise<CliResult>((resolveDone) => child.on('close', (status) => resolveDone({ status, stderr, stdout })));
  return { child, done };
}

/** Runs `p2phd ...args` without blocking the event loop; resolves when it exits. */
export function runCli(args: readonly string[], options: CliOptions = {}): Promise<CliResult> {
  return startCli(args, options).done;
}

/** A fresh temporary folder, removed by the returned cleanup. */
export function temporaryFolder(prefix: string): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), `p2phd-${prefix}-`));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** Every file below `folder` (relative paths), for "nothing partial left behind" checks. */
export function filesBelow(folder: string): string[] {
  const found: string[] = [];
  const walk = (relative: string): void => {
    let entries: string[];
    try {
      entries = readdirSync(join(folder, relative));
    } catch {
      return;
    }
    for (const entry of entries) {
      const path = join(relative, entry);
      if (statSync(join(folder, path)).isDirectory()) walk(path);
      else found.push(path);
    }
  };
  walk('');
  return found.sort();
}
