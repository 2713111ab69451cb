/** Shared by the data tests: repository paths, temporary folders, running the built CLI. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/** The repository root (tests run from dist/test/data). */
export const REPO_ROOT = resolve(__dirname, '..', '..', '..');
export const FIXTURES_DIR = join(REPO_ROOT, 'fixtures');
export const GOLDEN_DIR = join(REPO_ROOT, 'test', 'golden');
const CLI = join(REPO_ROOT, 'bin', 'p2phd');

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `p2phd ...args` (the built CLI) and collects its exit code and output. */
export function runCli(args: readonly string[], options: { cwd?: string } = {}): CliResult {
  const result = spawnSync(process.execPath, [CLI, ...args], { cwd: options.cwd ?? REPO_ROOT, encoding: 'utf8', timeout: 120_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** A fresh temporary folder, removed by the returned cleanup. */
export function temporaryFolder(prefix: string): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), `p2phd-${prefix}-`));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}
