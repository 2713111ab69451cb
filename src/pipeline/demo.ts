/**
 * `p2phd demo`: the whole pipeline on the bundled fixtures, with a network
 * small enough to train in a few minutes on two CPU cores. Each stage runs
 * through the same command-line code a user's script would call, so the demo
 * exercises exactly what the README documents.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { InterruptedError, StoppedError, UsageError } from '../errors.js';
import { createOutputFolder } from '../data/formats/atomicWrite.js';
import type { Logger } from '../log.js';

export interface DemoOptions {
  out: string;
  /** pix2pixhd (the default) or pix2pix. */
  family?: string;
  seed: number;
  backend: string;
  verbose: boolean;
  /** Runs one p2phd command line (argv after `p2phd`); the CLI passes itself in, so this module needs no import of it. */
  runCommand: (args: string[]) => Promise<void>;
  /**
   * Starts the --backend (the stages then find it started) before anything
   * is written: a backend that cannot load here (--backend tensorflow
   * without its binding) fails the demo at once, not at its third stage
   * after writing files that would then block a rerun.
   */
  startBackend?: () => Promise<unknown>;
}

/** What `demo --json` prints on stdout: where every result is. */
export interface DemoSummary {
  command: 'demo';
  out: string;
  seconds: number;
  stages: Array<{ name: string; seconds: number }>;
  /** The synthesized PNGs. */
  images: string[];
  /** label | synthesized styles | real photo, one row per test label map. */
  contactSheet: string;
  /** The HTML pages: one per training stage, and the results page. */
  pages: { training: string[]; results: string };
}

/**
 * The demo's summary and its closing lines (stderr). Logs go to stderr and
 * stdout carries data only, so the human lines say where the results are
 * and that --json prints them on stdout.
 */
export function demoResults(
  out: string,
  seconds: number,
  stages: DemoSummary['stages'],
  images: string[],
  layout: { runs: readonly string[]; columns: string } = { runs: ['global', 'local', 'joint'], columns: 'label | synthesized styles | real photo' },
): { summary: DemoSummary; lines: string[] } {
  const imagesDir = join(out, 'images');
  const contactSheet = join(out, 'contact_sheet.png');
  const training = layout.runs.map((run) => join(out, 'runs', run, 'index.html'));
  const results = join(imagesDir, 'index.html');
  const summary: DemoSummary = { command: 'demo', out, seconds, stages, images, contactSheet, pages: { training, results } };
  const runsPattern = layout.runs.length > 1 ? `{${layout.runs.join(',')}}` : layout.runs[0]!;
  const lines = [
    `demo finished in ${seconds.toFixed(0)} s; results in ${out}/ (with --json, their paths as JSON on stdout):`,
    `  contact sheet: ${contactSheet}  (columns: ${layout.columns})`,
    `  images:        ${imagesDir}/ (${images.length} files)`,
    `  pages:         ${results} (results), ${join(out, 'runs', runsPattern, 'index.html')} (training)`,
  ];
  return { summary, lines };
}

/** The fixtures shipped with the package (fixtures/ beside dist/). */
export const FIXTURES_DIR = resolve(__dirname, '..', '..', '..', 'fixtures');

/**
 * The demo's architecture and schedule, following the reference's recipe at
 * a small scale: G1 learns the coarse scene at half resolution (128x64),
 * then a local enhancer on top of it works at full resolution (256x128),
 * then both are fine-tuned together. Narrow layers and two downsamplings
 * keep a step well under a second on two cores, and the fixtures' large flat
 * regions are learnt in a few hundred steps.
 */
export const DEMO_PLAN = Object.freeze({
  coarseWidth: 128,
  global: {
    steps: 400,
    flags: ['--ngf', '16', '--n-downsample-global', '2', '--n-blocks-global', '3', '--num-d', '2', '--n-layers-d', '2',
      '--ndf', '16', '--nef', '8', '--n-downsample-e', '2', '--feat-num', '3', '--lr', '0.0004'],
  },
  local: { steps: 48, flags: ['--ngf', '8', '--n-blocks-local', '1', '--lr', '0.0004'] },
  joint: { steps: 48, flags: ['--lr', '0.0002'] },
  clusters: 3,
});

const STAGE_COUNT = 8;

/**
 * pix2pix's demo: a tiny U-Net (unet_128, ngf 8) and PatchGAN trained on the
 * bundled facade pairs (fixtures/pix2pix: 64x64 A | B), resized to 143 and
 * cropped to 128 per step as the reference's resize_and_crop does (scaled
 * down from 286 / 256); the test pairs are then translated at their own size
 * with --dropout off.
 */
export const PIX2PIX_DEMO_PLAN = Object.freeze({
  steps: 200,
  flags: ['--net-g', 'unet_128', '--ngf', '8', '--ndf', '8', '--lr', '0.0004'],
  loadSize: 143,
  cropSize: 128,
});

function stageArgs(options: DemoOptions): string[] {
  return ['--seed', String(options.seed), '--backend', options.backend, ...(options.verbose ? ['--verbose'] : [])];
}

export async function runDemo(options: DemoOptions, log: Logger): Promise<DemoSummary> {
  const out = resolve(options.out);
  if (existsSync(out) && !statSync(out).isDirectory()) {
    throw new UsageError(`--out ${options.out}: exists and is not a folder (pick a new folder)`);
  }
  if (existsSync(out) && readdirSync(out).length > 0) {
    throw new UsageError(`--out: ${options.out} already exists and is not empty (remove it or pick another folder)`);
  }
  if (!existsSync(join(FIXTURES_DIR, 'train_label'))) {
    throw new UsageError(`the bundled fixtures are missing (${FIXTURES_DIR}); reinstall p2phd`);
  }
  if (options.family !== undefined && options.family !== 'pix2pixhd' && options.family !== 'pix2pix') {
    throw new UsageError(`--family ${options.family}: the demo knows pix2pixhd and pix2pix`);
  }
  if (options.family === 'pix2pix' && !existsSync(join(FIXTURES_DIR, 'pix2pix', 'train'))) {
    throw new UsageError(`the bundled pix2pix fixtures are missing (${join(FIXTURES_DIR, 'pix2pix')}); reinstall p2phd`);
  }
  // The demo's models are tiny: thread hand-offs per small op cost more than
  // a second wasm thread gives (measured on 2 idle cores: 219 s on one
  // thread, 233 s on two), so it asks for one unless the user said otherwise
  // (set before the backend starts).
  process.env['P2PHD_WASM_THREADS'] ??= '1';
  await options.startBackend?.();
  createOutputFolder(out, '--out');
  const common = stageArgs(options);
  const stages: DemoSummary['stages'] = [];
  const started = Date.now();
  const run = async (name: string, args: string[]): Promise<void> => {
    log.info(`\n== demo ${stages.length + 1}/${STAGE_COUNT}: p2phd ${args.join(' ')}`);
    const stageStart = Date.now();
    try {
      await options.runCommand([...args, ...common]);
    } catch (error) {
      // A training stage saved and stopped (exit 75, "continue with --resume"):
      // the demo has no --resume, so say what is true for it.
      if (error instanceof StoppedError && error.signal !== undefined) {
        throw new InterruptedError(
          `${error.signal}: the demo stopped during ${name}; it does not resume: remove ${options.out} (or pick another --out) and run p2phd demo again`,
          error.signal,
        );
      }
      throw error;
    }
    const seconds = (Date.now() - stageStart) / 1000;
    stages.push({ name, seconds });
    log.info(`== ${name} done in ${seconds.toFixed(1)} s`);
  };

  if (options.family === 'pix2pix') {
    const pairs = join(FIXTURES_DIR, 'pix2pix');
    const samples = join(out, 'samples');
    const runDir = join(out, 'runs', 'pix2pix');
    const images = join(out, 'images');
    const plan = PIX2PIX_DEMO_PLAN;
    const total = 3;
    const step = async (name: string, args: string[]): Promise<void> => {
      log.info(`\n== demo ${stages.length + 1}/${total}: p2phd ${args.join(' ')}`);
      const stageStart = Date.now();
      await options.runCommand([...args, ...common]);
      stages.push({ name, seconds: (Date.now() - stageStart) / 1000 });
    };
    await step('preprocess --aligned', ['preprocess', '--aligned', '--dataroot', pairs, '--phase', 'train', '--load-size', String(plan.loadSize), '--crop-size', String(plan.cropSize), '--out', samples]);
    await step('train pix2pix', ['train', 'pix2pix', '--data', samples, '--out', runDir, '--epochs', '1000', '--decay-epochs', '0', '--max-steps', String(plan.steps),
      '--save-every', String(plan.steps), '--sample-every', '25', ...plan.flags]);
    await step('synthesize', ['synthesize', '--checkpoint', runDir, '--inputs', join(pairs, 'test'), '--aligned', '--dropout', 'off', '--out', images]);
    const { writePix2pixContactSheet } = await import('./contactSheet.js');
    const contactSheet = join(out, 'contact_sheet.png');
    const written = await writePix2pixContactSheet({ synthesized: images, out: contactSheet });
    const { summary, lines } = demoResults(out, (Date.now() - started) / 1000, stages, written.images, { runs: ['pix2pix'], columns: 'A | output | B' });
    log.info('');
    for (const line of lines) log.info(line);
    return summary;
  }

  const coarseSamples = join(out, 'samples_128');
  const samples = join(out, 'samples_256');
  const runs = join(out, 'runs');
  const features = join(out, 'features.safetensors');
  const clusters = join(out, 'clusters.safetensors');
  const images = join(out, 'images');
  const fixture = (name: string): string => join(FIXTURES_DIR, name);
  const train = (stage: 'global' | 'local' | 'joint', plan: { steps: number; flags: readonly string[] }, init?: string): string[] => [
    'train', stage, '--data', stage === 'global' ? coarseSamples : samples, '--out', join(runs, stage), '--instance-feat',
    '--epochs', '1000', '--decay-epochs', '0', '--max-steps', String(plan.steps),
    '--save-every', String(plan.steps), '--sample-every', String(plan.steps),
    ...(init ? ['--init', join(runs, init)] : []), ...plan.flags,
  ];

  await run('preprocess (half resolution, for G1)', ['preprocess', '--dataroot', FIXTURES_DIR, '--phase', 'train', '--label-nc', '35',
    '--resize-or-crop', 'scale_width', '--load-size', String(DEMO_PLAN.coarseWidth), '--out', coarseSamples]);
  await run('preprocess (full resolution)', ['preprocess', '--dataroot', FIXTURES_DIR, '--phase', 'train', '--label-nc', '35',
    '--resize-or-crop', 'none', '--out', samples]);
  await run('train global', train('global', DEMO_PLAN.global));
  await run('train local', train('local', DEMO_PLAN.local, 'global'));
  await run('train joint', train('joint', DEMO_PLAN.joint, 'local'));
  await run('encode', ['encode', '--data', samples, '--checkpoint', join(runs, 'joint'), '--out', features]);
  await run('cluster', ['cluster', '--features', features, '--k', String(DEMO_PLAN.clusters), '--out', clusters]);
  await run('synthesize', ['synthesize', '--checkpoint', join(runs, 'joint'), '--labels', join(fixture('test_label'), '*.png'),
    '--instances', join(fixture('test_inst'), '*.png'), '--images', fixture('test_img'), '--clusters', clusters, '--style', 'all', '--out', images]);

  const { writeContactSheet } = await import('./contactSheet.js');
  const contactSheet = join(out, 'contact_sheet.png');
  const written = await writeContactSheet({
    labels: fixture('test_label'),
    reals: fixture('test_img'),
    synthesized: images,
    out: contactSheet,
  });
  const { summary, lines } = demoResults(out, (Date.now() - started) / 1000, stages, written.images);
  log.info('');
  for (const line of lines) log.info(line);
  return summary;
}
