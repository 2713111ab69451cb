/**
 * The check every command makes on its output path before any work (the
 * CLI's action wrapper calls it): `--out` can be written (no "-" where "-"
 * means nothing, no folder where a file goes, no file where a folder goes or
 * in the path above it), and writing it cannot replace or mix with one of
 * the command's inputs. Paths are compared after resolving links (realpath)
 * and files by device and inode, so `./x`, `x/`, a link to x or a hard link
 * are all x.
 */
import { accessSync, constants as fsConstants, realpathSync, statSync, type Stats } from 'node:fs';
import { basename, dirname, join, relative, resolve, isAbsolute } from 'node:path';
import fg from 'fast-glob';
import { UsageError } from '../../errors.js';
import { filesMatching } from '../datasets/inputs.js';
import { LATEST_CHECKPOINT } from './runFiles.js';

export interface OutputTarget {
  /** The flag, for messages (`--out`). */
  readonly flag: string;
  /** Undefined when not given: the command reports a missing --out itself. */
  readonly path: string | undefined;
  /** `file`: one file, "-" meaning stdout; `folder`: files written inside it ("-" means nothing). */
  readonly kind: 'file' | 'folder';
}

export interface InputArgument {
  readonly flag: string;
  readonly path: string | undefined;
  /** `files` (default): a file, a folder searched recursively, or a glob; `checkpoint`: a folder stands for its latest.safetensors. */
  readonly kind?: 'files' | 'checkpoint';
}

function statOrUndefined(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

function realpathOr(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return resolve(path);
  }
}

/** Where a path that may not exist yet would be: its nearest existing folder resolved, the rest appended. */
interface Located {
  readonly canonical: string;
  /** The path's own stats, when it exists. */
  readonly stats?: Stats;
  /** The nearest existing ancestor, when it is not a folder (nothing can be created under it). */
  readonly blocker?: string;
  /** The nearest existing ancestor, when the path does not exist. */
  readonly existingAncestor?: string;
}

function locate(path: string): Located {
  const rest: string[] = [];
  let current = resolve(path);
  for (;;) {
    const stats = statOrUndefined(current);
    if (stats) {
      if (rest.length === 0) return { canonical: realpathOr(current), stats };
      const canonical = join(realpathOr(current), ...rest.reverse());
      return stats.isDirectory() ? { canonical, existingAncestor: current } : { canonical, blocker: current };
    }
    const parent = dirname(current);
    if (parent === current) return { canonical: resolve(path) };
    rest.push(basename(current));
    current = parent;
  }
}

/** What an input argument names on disk: files (with their stats) and folders searched recursively. */
interface InputLocations {
  readonly files: Array<{ readonly path: string; readonly stats: Stats }>;
  readonly folders: string[];
}

function inputLocations(input: InputArgument): InputLocations {
  const found: InputLocations = { files: [], folders: [] };
  const path = input.path;
  if (path === undefined || path === '' || path === '-') return found;
  const stats = statOrUndefined(path);
  if (stats?.isFile()) {
    found.files.push({ path, stats });
  } else if (stats?.isDirectory()) {
    const latest = join(path, LATEST_CHECKPOINT);
    const latestStats = input.kind === 'checkpoint' ? statOrUndefined(latest) : undefined;
    if (latestStats) found.files.push({ path: latest, stats: latestStats });
    else found.folders.push(path);
  } else if (fg.isDynamicPattern(path)) {
    for (const entry of filesMatching(path)) {
      const entryStats = statOrUndefined(entry);
      if (entryStats) found.files.push({ path: entry, stats: entryStats });
    }
  }
  return found;
}

/** One file or folder on disk (device and inode), where a second path (a bind mount) may lead to it. */
function sameNode(a: Stats | undefined, path: string): boolean {
  const b = statOrUndefined(path);
  return a !== undefined && b !== undefined && a.dev === b.dev && a.ino === b.ino;
}

function isSameOrInside(path: string, folder: string): boolean {
  const below = relative(folder, path);
  return below === '' || (!below.startsWith('..') && !isAbsolute(below));
}

/**
 * Refuses (exit 2, naming the flag and the path) an output that cannot be
 * written or whose writing would replace or mix with an input: an output
 * that is (or lies inside) an input folder, searched recursively for
 * inputs; a file output that is one of the input files; a folder output that
 * holds an input file.
 */
export function checkOutputPath(output: OutputTarget, inputs: readonly InputArgument[]): void {
  const { flag, path } = output;
  if (path === undefined) return;
  if (path === '-') {
    if (output.kind === 'folder') throw new UsageError(`${flag} -: this command writes a folder of files, and "-" (stdout) is not a folder; give a folder path`);
    return;
  }
  if (path.trim() === '') throw new UsageError(`${flag}: the path is empty`);
  const out = locate(path);
  if (out.blocker) throw new UsageError(`${flag} ${path}: ${out.blocker} is a file, so nothing can be written below it`);
  if (output.kind === 'file') {
    if (out.stats?.isDirectory()) throw new UsageError(`${flag} ${path}: is a folder; give the path of the file to write`);
    if (!out.stats && out.existingAncestor !== resolve(dirname(path))) {
      throw new UsageError(`${flag} ${path}: the folder ${dirname(path)} does not exist`);
    }
  } else if (out.stats && !out.stats.isDirectory()) {
    throw new UsageError(`${flag} ${path}: is a file, not a folder`);
  }
  // Where the output will be created must be writable: the folder itself
  // (a folder output that exists), or the nearest folder that exists above it.
  const writableFolder = out.stats?.isDirectory() ? resolve(path) : (out.existingAncestor ?? dirname(resolve(path)));
  try {
    accessSync(writableFolder, fsConstants.W_OK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === 'EROFS' ? 'read-only file system' : code === 'EACCES' || code === 'EPERM' ? 'permission denied' : code ?? String(error);
    throw new UsageError(`${flag} ${path}: cannot write in ${writableFolder} (${reason})`);
  }

  for (const input of inputs) {
    const locations = inputLocations(input);
    const refuse = (what: string): UsageError => new UsageError(`${flag} ${path}: ${what}; choose another ${output.kind}, outputs never replace inputs`);
    if (output.kind === 'file') {
      const same = out.stats && locations.files.find((file) => file.stats.ino === out.stats!.ino && file.stats.dev === out.stats!.dev);
      if (same) throw refuse(`is the same file as ${same.path}, an input (${input.flag} ${input.path})`);
    }
    for (const folder of locations.folders) {
      const canonical = realpathOr(folder);
      if (out.canonical === canonical || sameNode(out.stats, folder)) throw refuse(`is the input folder ${input.flag} ${input.path}`);
      if (isSameOrInside(out.canonical, canonical)) throw refuse(`lies inside the input folder ${input.flag} ${input.path}, which is searched for inputs`);
    }
    if (output.kind === 'file') continue;
    for (const file of locations.files) {
      // The folder the file's name is in, and the folder it resolves to.
      const holders = [realpathOr(dirname(resolve(file.path))), dirname(realpathOr(file.path))];
      if (holders.includes(out.canonical) || sameNode(out.stats, dirname(resolve(file.path)))) throw refuse(`holds ${file.path}, an input (${input.flag} ${input.path})`);
    }
  }
}
