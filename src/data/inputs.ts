/**
 * Finding input files: a quoted glob pattern or a folder (searched
 * recursively for images, as the reference's make_dataset walks its folders),
 * sorted by path, and the pairing of label, instance and photo lists by
 * sorted position. Every failure names the pattern or files involved.
 */
import { statSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import fg from 'fast-glob';
import { InputError } from '../errors.js';

/** Image file extensions a folder is searched for (the reference's IMG_EXTENSIONS, plus webp/tif). */
export const IMAGE_EXTENSIONS = Object.freeze(['png', 'jpg', 'jpeg', 'ppm', 'bmp', 'tif', 'tiff', 'webp'] as const);

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** Compares paths by code unit, as Python's sorted() on str does for the reference's names. */
function byPath(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The files a pattern names, sorted. A folder means every image file under
 * it; `extensions` narrows a folder search (e.g. ['safetensors']). An empty
 * result is an InputError naming the pattern.
 */
export function listFiles(pattern: string, what: string, extensions: readonly string[] = IMAGE_EXTENSIONS): string[] {
  let files: string[];
  if (isDirectory(pattern)) {
    const suffixes = extensions.length === 1 ? extensions[0]! : `{${extensions.join(',')}}`;
    files = fg.sync(`**/*.${suffixes}`, { cwd: pattern, caseSensitiveMatch: false, onlyFiles: true, dot: false })
      .map((relative) => join(pattern, relative));
    if (files.length === 0) throw new InputError(`${pattern}: folder holds no ${what} (looked for *.${extensions.join(', *.')})`);
  } else {
    files = fg.sync(pattern, { onlyFiles: true, dot: false });
    if (files.length === 0) {
      const hint = fg.isDynamicPattern(pattern) ? 'matches no files' : 'no such file or folder';
      throw new InputError(`${pattern}: ${hint} (expected ${what})`);
    }
  }
  return files.sort(byPath);
}

/** One training pair: a label map and, when given, its instance map and photo. */
export interface InputPair {
  label: string;
  inst?: string;
  image?: string;
}

export interface InputLists {
  labels: { pattern: string; files: string[] };
  instances?: { pattern: string; files: string[] };
  images?: { pattern: string; files: string[] };
}

function describeCountMismatch(a: { pattern: string; files: string[] }, b: { pattern: string; files: string[] }): string {
  const shorter = Math.min(a.files.length, b.files.length);
  const longer = a.files.length > b.files.length ? a : b;
  const extra = longer.files.slice(shorter, shorter + 3).join(', ');
  return `${a.files.length} files in ${a.pattern} but ${b.files.length} in ${b.pattern}; ` +
    `files are paired in sorted order, so ${longer.pattern} has unpaired files from ${extra}${longer.files.length - shorter > 3 ? ', ...' : ''}`;
}

/** Pairs the lists by sorted position; differing counts are an InputError naming both patterns and the unpaired files. */
export function pairInputs(lists: InputLists): InputPair[] {
  for (const other of [lists.instances, lists.images]) {
    if (other && other.files.length !== lists.labels.files.length) {
      throw new InputError(describeCountMismatch(lists.labels, other));
    }
  }
  return lists.labels.files.map((label, i) => {
    const pair: InputPair = { label };
    if (lists.instances) pair.inst = lists.instances.files[i]!;
    if (lists.images) pair.image = lists.images.files[i]!;
    return pair;
  });
}

/** A file's name without folder and extension: `a/b/x_labelIds.png` -> `x_labelIds`. */
export function fileStem(path: string): string {
  const name = basename(path);
  return name.slice(0, name.length - extname(name).length);
}

/** Output names per pair (label stem + suffix); two labels with one stem are an InputError naming both. */
export function outputNames(pairs: readonly InputPair[], suffix: string): string[] {
  const seen = new Map<string, string>();
  return pairs.map((pair) => {
    const name = `${fileStem(pair.label)}${suffix}`;
    const previous = seen.get(name);
    if (previous !== undefined) {
      throw new InputError(`${previous} and ${pair.label}: both would be written as ${name} (label file names must be unique)`);
    }
    seen.set(name, pair.label);
    return name;
  });
}

/** Whether `path` is an existing folder (for optional dataroot sub-folders). */
export function folderExists(path: string): boolean {
  return isDirectory(path);
}
