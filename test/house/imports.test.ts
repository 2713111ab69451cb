/**
 * The house is drawn from the imports: every module of src/ sits on a floor,
 * imports only from its own floor or below, and no import chain comes back
 * to where it started. The floors, ground up (src/README.md draws them):
 *
 *   0  errors, log, version, flagValues, flagTable, lifecycle, data/formats
 *   1  backend, model, data/files, data/datasets
 *   2  families
 *   3  train, synthesis, report, editor, pipeline
 *   4  commands
 *   5  cli
 *
 * The test reads the sources (src/ beside dist/), not the compiled output,
 * so `import type` counts too: a type that points up is still an arrow up.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync, existsSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const ROOT = resolve(__dirname, '..', '..', '..');
const SRC = join(ROOT, 'src');

const FLOORS: ReadonlyArray<readonly [number, RegExp]> = [
  [0, /^(errors|log|version|flagValues|flagTable|lifecycle)\.ts$|^data\/formats\//],
  [1, /^(backend|model)\/|^data\/(files|datasets)\//],
  [2, /^families\//],
  [3, /^(train|synthesis|report|editor|pipeline)\//],
  [4, /^commands\//],
  [5, /^cli\.ts$/],
];

function floorOf(module: string): number | undefined {
  return FLOORS.find(([, pattern]) => pattern.test(module))?.[0];
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return name.endsWith('.ts') && !name.endsWith('.d.ts') ? [path] : [];
  });
}

/** Relative imports of one file, as paths under src/ (static, dynamic, type-only and re-exports alike). */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const found: string[] = [];
  for (const match of text.matchAll(/(?:\bfrom|\bimport)\s*\(?\s*['"](\.{1,2}\/[^'"]+)['"]/g)) {
    const spec = match[1]!.replace(/\.js$/, '');
    const target = resolve(dirname(file), spec + '.ts');
    const index = resolve(dirname(file), spec, 'index.ts');
    found.push(relative(SRC, existsSync(target) ? target : index).split('\\').join('/'));
  }
  return found;
}

function graph(): Map<string, string[]> {
  const edges = new Map<string, string[]>();
  for (const file of sourceFiles(SRC)) {
    // The editor's page is browser code with its own tsconfig; the page test checks it.
    const module = relative(SRC, file).split('\\').join('/');
    if (module.startsWith('editor/page/')) continue;
    edges.set(module, importsOf(file).filter((target) => !target.startsWith('editor/page/') || module.startsWith('editor/')));
  }
  return edges;
}

test('every module of src/ sits on a floor', () => {
  const homeless = [...graph().keys()].filter((module) => floorOf(module) === undefined);
  assert.deepEqual(homeless, [], 'modules outside every floor: give them a room in FLOORS and src/README.md');
});

test('no import runs back up a floor', () => {
  const upward: string[] = [];
  for (const [module, targets] of graph()) {
    const floor = floorOf(module);
    for (const target of targets) {
      const targetFloor = floorOf(target);
      if (floor !== undefined && targetFloor !== undefined && targetFloor > floor) {
        upward.push(`${module} (floor ${floor}) -> ${target} (floor ${targetFloor})`);
      }
    }
  }
  assert.deepEqual(upward, []);
});

test('no two modules import each other in a circle', () => {
  const edges = graph();
  const state = new Map<string, 'open' | 'done'>();
  const circles: string[] = [];
  const visit = (module: string, path: string[]): void => {
    if (state.get(module) === 'done') return;
    if (state.get(module) === 'open') {
      circles.push([...path.slice(path.indexOf(module)), module].join(' -> '));
      return;
    }
    state.set(module, 'open');
    for (const target of edges.get(module) ?? []) visit(target, [...path, module]);
    state.set(module, 'done');
  };
  for (const module of edges.keys()) visit(module, []);
  assert.deepEqual(circles, []);
});

test("a family's files live in its own folder and import no other family", () => {
  const crossing: string[] = [];
  for (const [module, targets] of graph()) {
    const family = /^families\/([^/]+)\//.exec(module)?.[1];
    for (const target of targets) {
      const other = /^families\/([^/]+)\//.exec(target)?.[1];
      if (family !== undefined && other !== undefined && other !== family) crossing.push(`${module} -> ${target}`);
    }
  }
  assert.deepEqual(crossing, []);
});
