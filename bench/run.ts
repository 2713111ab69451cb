/**
 * Benchmark dispatcher: `npm run bench [-- [--json] [stage...] [stage options]]`.
 *
 * Each stage lives in its own module exporting `runBench(args)`; this file
 * only parses the shared flags, runs the requested stages (all by default)
 * and prints their results, as a table or as one JSON document (--json).
 */
import { isOptionValue } from './options.js';

export interface BenchRow {
  [column: string]: string | number | null;
}

export interface StageResult {
  stage: string;
  /** Free-form facts about the run (backend details, machine). */
  notes: string[];
  rows: BenchRow[];
}

export interface BenchArgs {
  json: boolean;
  /** Arguments after the stage names that the dispatcher does not know. */
  rest: string[];
  /** Progress lines go to stderr so that stdout stays clean for --json. */
  progress: (line: string) => void;
}

type StageRunner = (args: BenchArgs) => Promise<StageResult>;

/** Stage name -> lazy loader; other stages add a line here. */
const STAGES: Readonly<Record<string, () => Promise<StageRunner>>> = Object.freeze({
  preprocess: async () => (await import('./preprocess.js')).runBench,
  ops: async () => (await import('./ops.js')).runBench,
  train: async () => (await import('./train.js')).runBench,
  synthesize: async () => (await import('./synthesize.js')).runBench,
  demo: async () => (await import('./demo.js')).runBench,
});

/** Stages run when none is named (the demo takes minutes: ask for it). */
const DEFAULT_STAGES = ['preprocess', 'ops', 'train', 'synthesize'];

function formatTable(result: StageResult): string {
  const columns = [...new Set(result.rows.flatMap((row) => Object.keys(row)))];
  const cell = (value: string | number | null | undefined): string =>
    value == null ? '' : typeof value === 'number' ? (Number.isInteger(value) ? String(value) : value.toFixed(2)) : value;
  const widths = columns.map((column) => Math.max(column.length, ...result.rows.map((row) => cell(row[column]).length)));
  const line = (values: string[]): string => values.map((v, i) => v.padEnd(widths[i]!)).join('  ').trimEnd();
  return [
    `== ${result.stage}`,
    ...result.notes.map((note) => `# ${note}`),
    line(columns),
    line(widths.map((w) => '-'.repeat(w))),
    ...result.rows.map((row) => line(columns.map((column) => cell(row[column])))),
  ].join('\n');
}

async function main(argv: string[]): Promise<void> {
  const json = argv.includes('--json');
  const positional = argv.filter((arg) => arg !== '--json');
  const stageNames = positional.filter((arg) => arg in STAGES);
  const rest = positional.filter((arg) => !(arg in STAGES));
  const unknown = rest.filter((arg, index) => !arg.startsWith('-') && !arg.includes('=') && !isOptionValue(rest, index));
  if (unknown.length > 0) {
    process.stderr.write(`bench: unknown stage ${unknown.join(', ')}; known: ${Object.keys(STAGES).join(', ')}\n`);
    process.exitCode = 2;
    return;
  }
  const selected = stageNames.length > 0 ? stageNames : DEFAULT_STAGES;
  const args: BenchArgs = { json, rest, progress: (line) => process.stderr.write(`${line}\n`) };
  const results: StageResult[] = [];
  for (const name of selected) {
    const runner = await STAGES[name]!();
    const result = await runner(args);
    results.push(result);
    if (!json) process.stdout.write(`${formatTable(result)}\n\n`);
  }
  if (json) process.stdout.write(`${JSON.stringify({ stages: results }, null, 2)}\n`);
}

main(process.argv.slice(2)).catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
