/**
 * Flag values every layer may parse or apply: ranged numbers that fail with
 * a usage error naming the flag, and `--shard INDEX/COUNT`. Beside errors.ts
 * rather than in commands/, because the train flag table (train/flags.ts)
 * and the stages (synthesis/) use them too, and a lower layer never imports
 * the CLI's.
 */
import { UsageError } from './errors.js';

/** The parsed value of `flag`, or a usage error when it is outside [min, max]. */
function checkRange(flag: string, parsed: number, min: number, max: number): number {
  if (parsed < min || parsed > max) {
    const range = max === Infinity ? `at least ${min}` : `between ${min} and ${max}`;
    throw new UsageError(`${flag}: ${parsed} is out of range (must be ${range})`);
  }
  return parsed;
}

/**
 * The one integer parser of every flag: a whole number written in decimal
 * that a double holds exactly (|n| <= 2^53 - 1), or a usage error naming
 * the flag (never a number rounded to 1e20).
 */
export function parseInteger(flag: string, value: string): number {
  const parsed = Number(value);
  if (!/^[+-]?\d+$/.test(value.trim()) || !Number.isSafeInteger(parsed)) {
    throw new UsageError(`${flag}: "${value}" is not a whole number${/^\s*[+-]?\d+\s*$/.test(value) ? ` (at most ${Number.MAX_SAFE_INTEGER})` : ''}`);
  }
  return parsed;
}

/** Parses an integer flag value within [min, max]. */
export function integerFlag(flag: string, min = -Infinity, max = Infinity): (value: string) => number {
  return (value: string) => checkRange(flag, parseInteger(flag, value), min, max);
}

/** Parses a finite number flag value within [min, max]. */
export function numberFlag(flag: string, min = -Infinity, max = Infinity): (value: string) => number {
  return (value: string) => {
    const parsed = Number(value);
    if (value.trim() === '' || !Number.isFinite(parsed)) throw new UsageError(`${flag}: "${value}" is not a number`);
    return checkRange(flag, parsed, min, max);
  };
}

export interface Shard {
  index: number;
  count: number;
}

/** `--shard INDEX/COUNT`, 0-based INDEX. */
export function parseShard(value: string): Shard {
  const match = /^(\d+)\/(\d+)$/.exec(value.trim());
  if (!match) throw new UsageError(`--shard: "${value}" is not INDEX/COUNT (for example 0/4)`);
  const index = parseInteger('--shard INDEX', match[1]!);
  const count = parseInteger('--shard COUNT', match[2]!);
  if (count < 1) throw new UsageError(`--shard: COUNT must be at least 1 (got ${count})`);
  if (index >= count) throw new UsageError(`--shard: INDEX ${index} must be below COUNT ${count} (INDEX is 0-based)`);
  return { index, count };
}

/** Every COUNT-th item starting at INDEX, from a list already in sorted order. */
export function takeShard<T>(items: readonly T[], shard: Shard | undefined): T[] {
  if (!shard) return [...items];
  return items.filter((_, i) => i % shard.count === shard.index);
}

