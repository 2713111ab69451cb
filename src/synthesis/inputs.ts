/**
 * Expanding file arguments: a path, a directory (its files of the wanted
 * extension) or a quoted glob pattern, always in sorted order so that shards
 * and pairings are the same on every machine.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import fg from 'fast-glob';
import { InputError } from '../errors.js';

const GLOB_MAGIC = /[*?[\]{}]/;

/** Byte-wise sort, independent of the locale. */
export function sortPaths(paths: readonly string[]): string[] {
  return [...paths].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * Files named by one argument. `extensions` (lower case, with the dot)
 * filters directory listings; glob patterns are taken as written.
 * Nothing found is an input error naming the argument.
 */
export async function expandInput(argument: string, extensions: readonly string[], what: string): Promise<string[]> {
  if (GLOB_MAGIC.test(argument)) {
    const found = await fg(argument, { onlyFiles: true, dot: false, unique: true });
    if (found.length === 0) throw new InputError(`${argument}: no ${what} matched this pattern`);
    return sortPaths(found);
  }
  let stats;
  try {
    stats = await fsp.stat(argument);
  } catch {
    throw new InputError(`${argument}: no such file or folder`);
  }
  if (stats.isDirectory()) {
    const names = (await fsp.readdir(argument)).filter((name) => extensions.some((ext) => name.toLowerCase().endsWith(ext)));
    if (names.length === 0) throw new InputError(`${argument}: folder holds no ${what} (${extensions.join(', ')})`);
    return sortPaths(names.map((name) => join(argument, name)));
  }
  return [argument];
}
