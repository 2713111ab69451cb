/**
 * The stages' own options (from BenchArgs.rest), as `--name=value` or
 * `--name value`; undefined when absent.
 */
export function benchOption(rest: readonly string[], name: string): string | undefined {
  const prefix = `--${name}=`;
  const joined = rest.find((arg) => arg.startsWith(prefix));
  if (joined !== undefined) return joined.slice(prefix.length);
  const at = rest.indexOf(`--${name}`);
  const value = at >= 0 ? rest[at + 1] : undefined;
  return value !== undefined && !value.startsWith('-') ? value : undefined;
}

/** Whether `arg` (at `index` in `rest`) is the value of a preceding `--name value` option. */
export function isOptionValue(rest: readonly string[], index: number): boolean {
  const previous = index > 0 ? rest[index - 1]! : '';
  return previous.startsWith('--') && !previous.includes('=') && !rest[index]!.startsWith('-');
}
