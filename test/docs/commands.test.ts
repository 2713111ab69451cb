/**
 * Every shell command in README.md and docs/*.md, run at a tiny scale, so the
 * docs cannot drift from what p2phd takes.
 *
 * Blocks (the fence's info string):
 * - ```sh                 run. A page's blocks run in order in one bash
 *                         (`set -eE -o pipefail`), in a temporary folder of
 *                         its own, as a reader following the page in one
 *                         terminal would.
 * - ```sh norun: REASON   not run; the reason is required.
 * - ```bash / shell / console / zsh, or an unlabelled block holding a p2phd
 *   command: refused (mark it sh or sh norun: REASON).
 * - other languages (python, text, ts): not run.
 *
 * The folder a page runs in (its "world"):
 * - datasets/cityscapes: 4 train and 2 test triples of the bundled fixtures
 *   (the Cityscapes layout); fixtures/ links to it too;
 *   datasets/my20classes: the same with label ids mapped below 20;
 *   datasets/facades: the bundled fixtures/pix2pix (A|B pairs; test/ as JPEG);
 *   examples/ links to the repository's. HOME is the world.
 * - README.md, docs/recipes.md and the pix2pix pages start from that alone. docs/recipes.md
 *   runs first; what it leaves (samples, runs/512p_feat, runs/1024p_feat with
 *   clusters, results/1024p, ...) plus checkpoints/label2city_1024p (the
 *   reference's .pth files: a tiny local model without instance features,
 *   as NVIDIA's label2city_1024p, trained and exported with
 *   `export --format pytorch` here) is copied as the start of every other
 *   page.
 * - SLURM_ARRAY_TASK_ID=0, SLURM_ARRAY_TASK_COUNT=2 (batch.md's shard lines
 *   are lines of a job-array script); P2PHD is the p2phd stand-in (what
 *   examples/slurm/train-requeue.sh runs).
 * - PATH holds only the stand-ins below and a fixed list of ordinary tools
 *   (TOOLS: mkdir, cp, ls, make, ...): any other command fails with
 *   "command not found", and the test names the page and line.
 *
 * Stand-ins (test/docs/shim.ts):
 * - `npx p2phd ...` and `p2phd ...`: this checkout's CLI, one wasm thread,
 *   with these substitutions:
 *   - preprocess, synthesize: `--load-size N` -> N/8 (64..256): Cityscapes'
 *     1024 -> 128 on the fixtures' 256x128 scenes; a preprocess without
 *     --load-size (default 1024) or `--resize-or-crop none` gets 128;
 *   - train: `--max-steps 1` (any --max-steps, --save-every, --sample-every,
 *     --time-limit dropped; the run saves at its end); a `train global`
 *     without --init gets a tiny architecture (TINY_GLOBAL: ngf 8, two
 *     downsamplings, one block, ndf 8, two D layers, nef 4); given
 *     --ngf / --n-blocks-local / --ndf / --nef values become 4 / 1 / 8 / 4;
 *   - demo, edit: `--help` appended (the demo takes minutes, and edit serves
 *     a page until stopped; their own tests run them);
 *   - train pix2pix without --init: --ngf 4 --ndf 4 (TINY_PIX2PIX); a train
 *     stage of another family gets --max-steps 1 only: give its tiny
 *     architecture a table beside TINY_GLOBAL when its pages arrive.
 * - `npm ci|link|test|run SCRIPT`: checks package-lock.json or the script
 *   exists; installs and runs nothing.
 * - `sbatch [--array=A-B] SCRIPT ARGS`: fails as SLURM would when the
 *   script's `#SBATCH --output` folder is missing, else runs SCRIPT as task A.
 * - `tensorboard --logdir DIR`: DIR must hold event files; no server.
 *
 * DOCS_TEST_TIMING=1 reports each p2phd command's wall time as a test
 * diagnostic; DOCS_TEST_PAGES=docs/a.md,docs/b.md runs only those pages
 * (docs/recipes.md still runs first when a listed page starts from it).
 *
 * A page added later whose commands need more than this: mark the block
 * `sh norun: why`, or extend the world here.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import sharp from 'sharp';
import { CLI, FIXTURES_DIR, REPO_ROOT, temporaryFolder } from '../support/cli.js';
import { TINY_GLOBAL } from './shim.js';

/** Ordinary tools a page may use besides the stand-ins. */
const TOOLS = [
  'bash', 'sh', 'env', 'true', 'false', 'test', 'echo', 'printf', 'mkdir', 'cp', 'mv', 'rm', 'ln', 'ls', 'cat', 'head', 'tail',
  'touch', 'sort', 'wc', 'sed', 'grep', 'find', 'basename', 'dirname', 'tee', 'xargs', 'tr', 'cut', 'uniq', 'du', 'make',
];
const STAND_INS = ['npx', 'p2phd', 'npm', 'sbatch', 'tensorboard'];
/** A page that runs longer than this is stopped (and fails). */
const PAGE_TIMEOUT_MS = 600_000;
/** Languages that are shell under another name: refused, so no block silently escapes the test. */
const SHELL_ALIASES = new Set(['bash', 'shell', 'console', 'zsh', 'shell-session', 'sh-session']);
/** Pages that start from the stand-in data alone (the others start from what docs/recipes.md made). */
const BARE_PAGES = new Set(['README.md', 'docs/recipes.md', 'docs/pix2pix.md', 'docs/pix2pix-training.md']);
/** Pages other sessions write; links to them may dangle until they are merged. */
const PENDING_PAGES = new Set(['docs/gpu.md', 'docs/pix2pix.md', 'docs/pix2pix-training.md', 'docs/editor.md', 'docs/memory.md']);

interface Block {
  page: string;
  /** 1-based line of the opening fence. */
  line: number;
  info: string;
  lines: string[];
}

/** README.md and docs/*.md, relative to the repository root. */
function pages(): string[] {
  const docs = join(REPO_ROOT, 'docs');
  const found = existsSync(docs) ? readdirSync(docs).filter((name) => name.endsWith('.md')).sort().map((name) => `docs/${name}`) : [];
  return ['README.md', ...found];
}

function blocksOf(page: string): Block[] {
  const text = readFileSync(join(REPO_ROOT, page), 'utf8').split('\n');
  const blocks: Block[] = [];
  let open: { fence: string; block: Block } | undefined;
  text.forEach((line, index) => {
    const fence = /^(`{3,})(.*)$/.exec(line);
    if (open) {
      if (fence && fence[1]!.length >= open.fence.length && fence[2]!.trim() === '') {
        blocks.push(open.block);
        open = undefined;
      } else open.block.lines.push(line);
    } else if (fence) {
      open = { fence: fence[1]!, block: { page, line: index + 1, info: fence[2]!.trim(), lines: [] } };
    }
  });
  if (open) throw new Error(`${page}:${open.block.line}: code block never closed`);
  return blocks;
}

type Kind = 'run' | 'norun' | 'other';

/** What a block is, or an error naming what is wrong with its fence. */
function kindOf(block: Block): Kind | Error {
  const where = `${block.page}:${block.line}`;
  const language = block.info.split(/\s+/)[0] ?? '';
  const remainder = block.info.slice(language.length).trim();
  if (language === 'sh') {
    if (remainder === '') return 'run';
    if (/^norun:\s*\S/.test(remainder)) return 'norun';
    return new Error(`${where}: fence "${block.info}": write \`\`\`sh (run by the docs test) or \`\`\`sh norun: REASON`);
  }
  if (SHELL_ALIASES.has(language)) return new Error(`${where}: fence "${block.info}": write \`\`\`sh (run by the docs test) or \`\`\`sh norun: REASON`);
  if (language === '' && block.lines.some((line) => /(^|\s)(npx )?p2phd \w/.test(line))) {
    return new Error(`${where}: an unlabelled block holds p2phd commands: write \`\`\`sh or \`\`\`sh norun: REASON`);
  }
  return 'other';
}

function runnableBlocks(page: string): Block[] {
  return blocksOf(page).filter((block) => kindOf(block) === 'run');
}

/** The PATH folder of stand-ins and tools. */
function makeBin(root: string): string {
  const bin = join(root, 'bin');
  mkdirSync(bin);
  const shim = join(__dirname, 'shim.js');
  for (const name of STAND_INS) {
    writeFileSync(join(bin, name), `#!/bin/sh\nexec '${process.execPath}' '${shim}' ${name} "$@"\n`);
    chmodSync(join(bin, name), 0o755);
  }
  for (const tool of TOOLS) {
    const found = spawnSync('bash', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).stdout.trim();
    if (found.startsWith('/')) symlinkSync(found, join(bin, tool));
  }
  return bin;
}

/** The first `count` names (sorted) of a fixtures folder. */
function firstNames(folder: string, count: number): string[] {
  return readdirSync(join(FIXTURES_DIR, folder)).sort().slice(0, count);
}

/** 8-bit gray label ids of the fixtures (Cityscapes ids up to 26) mapped below 20. */
async function remapLabels(from: string, to: string): Promise<void> {
  const { data, info } = await sharp(from).raw().toBuffer({ resolveWithObject: true });
  const ids = new Uint8Array(info.width * info.height);
  for (let i = 0; i < ids.length; i++) ids[i] = data[i * info.channels]! % 20;
  await sharp(Buffer.from(ids), { raw: { width: info.width, height: info.height, channels: 1 } }).toColourspace('b-w').png().toFile(to);
}

/** The stand-in datasets every world starts with. */
async function makeDatasets(world: string): Promise<void> {
  const cityscapes = join(world, 'datasets', 'cityscapes');
  for (const [split, count] of [['train', 4], ['test', 2]] as const) {
    for (const kind of ['label', 'inst', 'img']) {
      const folder = `${split}_${kind}`;
      mkdirSync(join(cityscapes, folder), { recursive: true });
      for (const name of firstNames(folder, count)) cpSync(join(FIXTURES_DIR, folder, name), join(cityscapes, folder, name));
    }
  }
  const twenty = join(world, 'datasets', 'my20classes');
  cpSync(cityscapes, twenty, { recursive: true });
  for (const split of ['train', 'test']) {
    for (const name of readdirSync(join(twenty, `${split}_label`))) {
      await remapLabels(join(cityscapes, `${split}_label`, name), join(twenty, `${split}_label`, name));
    }
  }
  symlinkSync(join('datasets', 'cityscapes'), join(world, 'fixtures'));
  symlinkSync(join(REPO_ROOT, 'examples'), join(world, 'examples'));
  // pix2pix's A|B pairs (docs/pix2pix*.md): the bundled facade-like fixtures,
  // the test pairs as JPEG files as in the reference's facades.
  const pairs = join(FIXTURES_DIR, 'pix2pix');
  if (existsSync(pairs)) {
    const facades = join(world, 'datasets', 'facades');
    cpSync(join(pairs, 'train'), join(facades, 'train'), { recursive: true });
    mkdirSync(join(facades, 'test'));
    for (const name of readdirSync(join(pairs, 'test'))) {
      await sharp(join(pairs, 'test', name)).jpeg({ quality: 95 }).toFile(join(facades, 'test', name.replace(/\.\w+$/, '.jpg')));
    }
  }
}

interface PageRun {
  status: number | null;
  stdout: string;
  stderr: string;
  /** The page line of the command that failed, from the ERR trap. */
  failedLine?: number;
}

/** Runs a page's sh blocks, in order, in one bash in `world`. */
function runPage(page: string, world: string, bin: string): Promise<PageRun> {
  const header = ['set -eE -o pipefail', `trap 'echo "docs-test-failed-at $LINENO" >&2' ERR`];
  const script = [...header];
  const lineMap: number[] = [0, ...header.map(() => 0)];
  for (const block of runnableBlocks(page)) {
    block.lines.forEach((line, i) => {
      script.push(line);
      lineMap.push(block.line + 1 + i);
    });
  }
  const child = spawn('bash', ['-c', script.join('\n'), 'docs'], {
    cwd: world,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      PATH: bin,
      HOME: world,
      LANG: 'C',
      TMPDIR: process.env['TMPDIR'] ?? '/tmp',
      DOCS_TEST_CLI: CLI,
      DOCS_TEST_REPO: REPO_ROOT,
      P2PHD: join(bin, 'p2phd'),
      SLURM_ARRAY_TASK_ID: '0',
      SLURM_ARRAY_TASK_COUNT: '2',
      ...(process.env['DOCS_TEST_TIMING'] ? { DOCS_TEST_TIMING: '1' } : {}),
    },
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGTERM'), PAGE_TIMEOUT_MS);
  return new Promise((resolveRun) =>
    child.on('close', (status) => {
      clearTimeout(timer);
      const trapped = /docs-test-failed-at (\d+)/.exec(stderr);
      const failedLine = trapped ? lineMap[Number(trapped[1])] : undefined;
      resolveRun({ status, stdout, stderr, ...(failedLine ? { failedLine } : {}) });
    }),
  );
}

/** With DOCS_TEST_TIMING=1: each command's time as a diagnostic. */
function timings(t: { diagnostic: (message: string) => void }, run: PageRun): void {
  for (const line of run.stderr.split('\n')) if (line.startsWith('docs-timing ')) t.diagnostic(line.slice('docs-timing '.length));
}

function explain(page: string, run: PageRun): string {
  const where = run.failedLine ? `${page}:${run.failedLine}` : page;
  const source = run.failedLine ? readFileSync(join(REPO_ROOT, page), 'utf8').split('\n')[run.failedLine - 1] : '';
  return `${where}: exit ${run.status}${source ? `\n  ${source}` : ''}\n--- stderr (end) ---\n${run.stderr.slice(-4000)}`;
}

describe('docs: every fenced block is marked', () => {
  test('shell blocks are ```sh or ```sh norun: REASON', () => {
    const problems = pages().flatMap((page) => blocksOf(page).map(kindOf).filter((kind): kind is Error => kind instanceof Error));
    assert.deepEqual(problems.map((error) => error.message), []);
  });

  test('README.md stays a newcomer page (at most ~12 KB)', () => {
    assert.ok(statSync(join(REPO_ROOT, 'README.md')).size <= 12_800, 'README.md grew past ~12 KB: move reference material to docs/');
  });

  test('relative links point to files that exist', (t) => {
    const missing: string[] = [];
    for (const page of pages()) {
      const text = readFileSync(join(REPO_ROOT, page), 'utf8');
      for (const match of text.matchAll(/\]\(([^)#\s]+)(#[^)]*)?\)/g)) {
        const target = match[1]!;
        if (/^[a-z]+:/.test(target)) continue;
        const path = relative(REPO_ROOT, resolve(REPO_ROOT, dirname(page), target));
        if (existsSync(join(REPO_ROOT, path))) continue;
        if (PENDING_PAGES.has(path)) t.diagnostic(`${page}: ${target} (written by another session; not here yet)`);
        else missing.push(`${page}: ${target}`);
      }
    }
    assert.deepEqual(missing, []);
  });
});

describe('docs: every sh block runs (tiny scale, against the bundled fixtures)', { concurrency: 2 }, () => {
  let root: { path: string; remove: () => void };
  let bin: string;
  let base: string;
  /** docs/recipes.md's run and the stand-ins made after it: the start of every page but the bare ones. */
  let basePromise: Promise<string | undefined> | undefined;
  /** Starts docs/recipes.md's run on first use. */
  const baseReady = (): Promise<string | undefined> => (basePromise ??= makeBase());

  before(async () => {
    root = temporaryFolder('docs');
    bin = makeBin(root.path);
    const bare = join(root.path, 'bare');
    mkdirSync(bare);
    await makeDatasets(bare);
    base = join(root.path, 'base');
    cpSync(bare, base, { recursive: true, verbatimSymlinks: true });
  });
  after(() => root?.remove());

  /** Runs docs/recipes.md in `base`, then the stand-ins other pages need; resolves to an error text, or undefined. */
  async function makeBase(): Promise<string | undefined> {
    const page = 'docs/recipes.md';
    const run = await runPage(page, base, bin);
    recipesRun = run;
    if (run.status !== 0) return explain(page, run);
    // The reference's .pth files for interop.md's import: NVIDIA's label2city_1024p
    // is a local model without instance features, so a tiny one is trained here.
    const tiny = Object.entries(TINY_GLOBAL).flat();
    for (const args of [
      ['train', 'global', '--data', 'work/samples_512', '--out', 'stand-in/g', '--max-steps', '1', ...tiny],
      ['train', 'local', '--data', 'work/samples_1024', '--out', 'stand-in/l', '--init', 'stand-in/g', '--ngf', '4', '--n-blocks-local', '1', '--max-steps', '1'],
      ['export', 'stand-in/l', '--format', 'pytorch', '--out', 'checkpoints/label2city_1024p'],
    ]) {
      const result = spawnSync(process.execPath, [CLI, ...args], { cwd: base, encoding: 'utf8', env: { ...process.env, P2PHD_WASM_THREADS: '1' } });
      if (result.status !== 0) return `making the stand-ins: p2phd ${args.join(' ')}: exit ${result.status}\n${result.stderr}`;
    }
    return undefined;
  }
  let recipesRun: PageRun | undefined;

  /** A fresh world for `page`: the bare stand-ins, or what docs/recipes.md left. */
  function worldFor(page: string): string {
    const world = join(root.path, page.replace(/[/.]/g, '_'));
    cpSync(BARE_PAGES.has(page) ? join(root.path, 'bare') : base, world, { recursive: true, verbatimSymlinks: true });
    return world;
  }

  const only = process.env['DOCS_TEST_PAGES']?.split(',');
  test('docs/recipes.md (first: its results start the other pages)', { skip: only !== undefined && !only.includes('docs/recipes.md') }, async (t) => {
    const error = await baseReady();
    if (recipesRun) timings(t, recipesRun);
    assert.equal(error, undefined, error);
  });

  for (const page of pages().filter((name) => name !== 'docs/recipes.md' && (!only || only.includes(name)))) {
    test(page, async (t) => {
      if (runnableBlocks(page).length === 0) {
        t.diagnostic(`${page}: no sh blocks`);
        return;
      }
      if (!BARE_PAGES.has(page) && (await baseReady()) !== undefined) assert.fail(`${page}: not run: docs/recipes.md failed first`);
      const run = await runPage(page, worldFor(page), bin);
      timings(t, run);
      assert.equal(run.status, 0, explain(page, run));
    });
  }
});
