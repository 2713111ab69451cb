/** The stages' own `--name=value` options (from BenchArgs.rest); undefined when absent. */
export function benchOption(rest: readonly string[], name: string): string | undefined {
  const prefix = `--${name}=`;
  return rest.find((arg) => arg.startsWith(prefix))?.slice(prefix.length);
}
