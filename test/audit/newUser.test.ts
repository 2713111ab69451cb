/**
 * What a new user trips on (issue 25, items 17-24): exit codes that scripts
 * can tell apart, --backend values checked per command before any work, and
 * the other first-day surprises, each driven through the CLI as a user would.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import sharp from 'sharp';
import { join, resolve } from 'node:path';
import { Command, CommanderError } from 'commander';
import { buildProgram } from '../../src/cli.js';
import { ExitCode, EXIT_CODE_MEANINGS, STOP_SIGNALS } from '../../src/errors.js';
import { COMMAND_BACKENDS } from '../../src/backend/choices.js';
import { demoResults } from '../../src/pipeline/demo.js';
import { writeContactSheet } from '../../src/pipeline/contactSheet.js';
import { writeResultsPage, type ResultRow } from '../../src/report/resultsPage.js';
import { renderRunPage, type RunState } from '../../src/report/runReport.js';
import type { LogRecord } from '../../src/data/files/runFiles.js';
import { CHROMIUM, CHROMIUM_SKIP } from '../support/browser.js';
import { CLI, FIXTURES_DIR, filesBelow, runCliSync, temporaryFolder } from '../support/cli.js';

const DIST_SRC = resolve(__dirname, '..', '..', 'src');

/** Every runnable command's words (`['train', 'local']`), from the CLI's own registry. */
function commandPaths(): string[][] {
  const paths: string[][] = [];
  const walk = (command: Command, prefix: string[]): void => {
    if (command.commands.length === 0) paths.push(prefix);
    for (const sub of command.commands) walk(sub, [...prefix, sub.name()]);
  };
  walk(buildProgram(), []);
  return paths;
}

/** Parses `args` in-process (no action may run): the CommanderError, or undefined when parsing passed. */
async function parseError(args: string[]): Promise<CommanderError | undefined> {
  const program = buildProgram();
  const silence = (command: Command): void => {
    command.configureOutput({ writeErr: () => undefined, writeOut: () => undefined });
    command.commands.forEach(silence);
  };
  silence(program);
  try {
    await program.parseAsync(['node', 'p2phd', ...args, '--help']);
  } catch (error) {
    if (error instanceof CommanderError && error.code !== 'commander.helpDisplayed') return error;
    if (!(error instanceof CommanderError)) throw error;
  }
  return undefined;
}

describe('17: a NaN loss has an exit code of its own', () => {
  test('exit codes are distinct, 4 is "training diverged", and every help text says so', () => {
    const codes = [...Object.values(ExitCode), ...Object.values(STOP_SIGNALS)];
    assert.equal(new Set(codes).size, codes.length, 'no two meanings share a code');
    assert.equal(ExitCode.diverged, 4);
    assert.deepEqual([ExitCode.ok, ExitCode.internal, ExitCode.usage, ExitCode.badInput, ExitCode.stopped], [0, 1, 2, 3, 75], "the contract's codes are unchanged");
    assert.match(EXIT_CODE_MEANINGS.find(([code]) => code === '1')![1], /bug/);
    assert.match(EXIT_CODE_MEANINGS.find(([code]) => code === '4')![1], /NaN/);
    const top = runCliSync(['--help']);
    assert.match(top.stdout, /^ {2}4 +training diverged: a loss became NaN or infinite/m);
    assert.match(top.stdout, /^ {2}1 +internal failure \(a bug/m);
    const train = runCliSync(['train', 'global', '--help']);
    assert.match(train.stdout.replace(/\s+/g, ' '), /1 internal failure \(a bug: please report it with the trace\).* 4 training diverged: a loss became NaN or infinite/);
    assert.doesNotMatch(train.stdout.replace(/\s+/g, ' '), /1 a loss became NaN/);
  });
});

describe('18: --backend is checked per command, before any work', () => {
  test('one table covers every command; onnxruntime only where networks run forward only', async () => {
    const paths = commandPaths();
    assert.ok(paths.length >= 11, paths.map((path) => path.join(' ')).join(', '));
    // Only the commands that run networks forward only take it (training needs gradients).
    for (const command of ['synthesize', 'encode']) assert.ok(COMMAND_BACKENDS[command]!.includes('onnxruntime'), command);
    for (const command of ['train', 'demo', 'preprocess', 'cluster']) assert.ok(!COMMAND_BACKENDS[command]!.includes('onnxruntime'), command);
    for (const path of paths) {
      const table = COMMAND_BACKENDS[path[0]!];
      assert.ok(table, `${path.join(' ')} has an entry`);
      const refused = await parseError([...path, '--backend', 'onnxruntime']);
      if (table.includes('onnxruntime')) {
        assert.equal(refused, undefined, `${path.join(' ')} takes onnxruntime`);
      } else {
        assert.ok(refused, `${path.join(' ')} refuses onnxruntime`);
        assert.match(refused.message, /onnxruntime is for encode, synthesize(, edit)? and \w+ only/);
      }
      assert.ok(await parseError([...path, '--backend', 'bogus']), `${path.join(' ')} refuses an unknown backend`);
      assert.equal(await parseError([...path, '--backend', 'cpu']), undefined, `${path.join(' ')} takes cpu`);
    }
  });

  test('demo --backend onnxruntime: exit 2 at once, nothing written (a rerun is not blocked)', () => {
    const folder = temporaryFolder('demo-ort');
    try {
      const out = join(folder.path, 'demo');
      const result = runCliSync(['demo', '--backend', 'onnxruntime', '--out', out]);
      assert.equal(result.status, 2, result.stderr);
      assert.match(result.stderr, /onnxruntime is for encode, synthesize and edit only/);
      assert.equal(existsSync(out), false, 'no output folder was made');
    } finally {
      folder.remove();
    }
  });
});

describe('18: a backend that cannot load here stops the demo before it writes anything', () => {
  const bindingInstalled = ['@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu'].some((name) => {
    try {
      require.resolve(name);
      return true;
    } catch {
      return false;
    }
  });
  test('demo --backend tensorflow without the binding: exit 2 naming it, no output folder', { skip: bindingInstalled ? 'skipped: the tensorflow binding is installed here' : false }, () => {
    const folder = temporaryFolder('demo-tf');
    try {
      const out = join(folder.path, 'demo');
      const result = runCliSync(['demo', '--backend', 'tensorflow', '--out', out]);
      assert.equal(result.status, 2, result.stderr);
      assert.match(result.stderr, /--backend tensorflow is not available here/);
      assert.doesNotMatch(result.stderr, /demo 1\/8/, 'no stage started');
      assert.equal(existsSync(out), false, 'nothing written, so a rerun is not blocked');
    } finally {
      folder.remove();
    }
  });
});

describe('24: a signal ends the process in bounded time, even mid-step', () => {
  /** Starts a node child running `script`; sends `signal` once it printed "ready"; resolves with how it ended and how long after the signal. */
  function signalWhenReady(args: string[], signal: NodeJS.Signals, ready: RegExp, delayMs = 200): Promise<{ status: number | null; signal: NodeJS.Signals | null; stderr: string; afterSignalMs: number }> {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, P2PHD_WASM_THREADS: '1' } });
    let output = '';
    let sentAt = 0;
    const watch = (chunk: Buffer): void => {
      output += chunk.toString();
      if (sentAt === 0 && ready.test(output)) {
        sentAt = -1;
        setTimeout(() => {
          sentAt = Date.now();
          child.kill(signal);
        }, delayMs);
      }
    };
    child.stdout!.on('data', watch);
    child.stderr!.on('data', watch);
    return new Promise((resolveExit) =>
      child.on('close', (status, killedBy) => resolveExit({ status, signal: killedBy, stderr: output, afterSignalMs: sentAt > 0 ? Date.now() - sentAt : -1 })),
    );
  }

  test('computeWithSignalsEndingAtOnce: SIGTERM during a 30 s synchronous computation ends the process at once; the listeners are back after it', async () => {
    const lifecycle = JSON.stringify(join(DIST_SRC, 'lifecycle.js'));
    const busy = (seconds: number): string => `() => { const until = Date.now() + ${seconds * 1000}; while (Date.now() < until); return Promise.resolve(); }`;
    // A stop listener that only sets a flag, as training's does: useless while the computation never yields.
    const during = `
      const { installProcessHandlers, onStopSignal, computeWithSignalsEndingAtOnce } = require(${lifecycle});
      installProcessHandlers();
      onStopSignal(() => undefined);
      process.stdout.write('ready\\n');
      computeWithSignalsEndingAtOnce(${busy(30)}).then(() => process.stdout.write('finished\\n'));`;
    const ended = await signalWhenReady(['-e', during], 'SIGTERM', /ready/);
    assert.equal(ended.signal, 'SIGTERM', `ended by the signal's default action: ${ended.stderr}`);
    assert.ok(ended.afterSignalMs < 5000, `${ended.afterSignalMs} ms after the signal`);
    assert.doesNotMatch(ended.stderr, /finished/);

    const after = `
      const { installProcessHandlers, computeWithSignalsEndingAtOnce } = require(${lifecycle});
      installProcessHandlers();
      setInterval(() => undefined, 1000);
      computeWithSignalsEndingAtOnce(${busy(0.1)}).then(() => process.stdout.write('ready\\n'));`;
    const handled = await signalWhenReady(['-e', after], 'SIGTERM', /ready/);
    assert.equal(handled.status, 143, handled.stderr);
    assert.match(handled.stderr, /^p2phd: SIGTERM: stopped/m, 'the usual handler (one line, exit hooks) is back');
  });

  test('train --backend cpu: SIGTERM during a long step ends the process at once (143), the run folder holds no temporary file', async () => {
    const folder = temporaryFolder('slow-step');
    try {
      const samples = join(folder.path, 'samples');
      const made = runCliSync(['preprocess', '--dataroot', FIXTURES_DIR, '--phase', 'train', '--label-nc', '35', '--resize-or-crop', 'scale_width', '--load-size', '64', '--out', samples]);
      assert.equal(made.status, 0, made.stderr);
      const out = join(folder.path, 'run');
      // The cpu backend (plain JavaScript) takes tens of seconds for one step of even this tiny network.
      const args = [CLI, 'train', 'global', '--data', samples, '--out', out, '--backend', 'cpu', '--ngf', '8', '--n-downsample-global', '2',
        '--n-blocks-global', '1', '--ndf', '8', '--n-layers-d', '2', '--max-steps', '3', '--seed', '1', '--verbose'];
      const ended = await signalWhenReady(args, 'SIGTERM', /step 1: a signal during this step ends the process at once/, 500);
      assert.ok(ended.signal === 'SIGTERM' || ended.status === 143, `ended by SIGTERM, not after the step (exit ${ended.status}): ${ended.stderr}`);
      assert.ok(ended.afterSignalMs < 5000, `${ended.afterSignalMs} ms after the signal`);
      assert.doesNotMatch(ended.stderr, /step=1 /, 'the step did not finish first');
      assert.deepEqual(filesBelow(out).filter((name) => name.endsWith('.tmp')), []);
    } finally {
      folder.remove();
    }
  });
});

describe('21, 22: recipes on a trained G1 (--niter-fix-global 0, inherited features, --load-features end to end)', () => {
  const TINY = ['--ngf', '8', '--n-downsample-global', '2', '--n-blocks-global', '1', '--ndf', '8', '--n-layers-d', '2', '--backend', 'wasm', '--seed', '1'];
  const LOCAL = ['--ngf', '4', '--n-blocks-local', '1', '--ndf', '8', '--n-layers-d', '2', '--backend', 'wasm', '--seed', '1', '--max-steps', '1'];
  const testLabels = join(FIXTURES_DIR, 'test_label', '*.png');
  const testInstances = join(FIXTURES_DIR, 'test_inst', '*.png');
  const testPhotos = join(FIXTURES_DIR, 'test_img', '*');
  const small = ['--load-size', '64', '--resize-or-crop', 'scale_width'];

  test('the --load-features recipe: train, then encode/cluster with the maps\' model and synthesize with --clusters', () => {
    const folder = temporaryFolder('load-features');
    try {
      const path = (name: string): string => join(folder.path, name);
      const run = (args: string[], code = 0): string => {
        const result = runCliSync(args);
        assert.equal(result.status, code, `p2phd ${args.join(' ')}: ${result.stderr}`);
        return result.stderr;
      };
      run(['preprocess', '--dataroot', FIXTURES_DIR, '--phase', 'train', '--label-nc', '35', ...small, '--out', path('samples')]);
      run(['train', 'global', '--data', path('samples'), '--out', path('g1'), ...TINY, '--instance-feat', '--nef', '4', '--n-downsample-e', '1', '--max-steps', '1']);

      // 21: the reference's 0 is train joint here; p2phd's train local without the flag keeps G1 fixed.
      const zero = run(['train', 'local', '--data', path('samples'), '--out', path('zero'), '--init', path('g1'), ...LOCAL, '--niter-fix-global', '0'], 2);
      assert.match(zero, /--niter-fix-global 0: .*reference.* every G parameter .*train joint --init/);
      assert.equal(existsSync(path('zero')) && filesBelow(path('zero')).some((name) => name.endsWith('.safetensors')), false, 'nothing trained');

      run(['encode', '--data', path('samples'), '--checkpoint', path('g1'), '--maps', path('maps')]);
      // 21: the recipe leaves out --instance-feat; the model keeps G1's features, and says so.
      const trained = run(['train', 'local', '--data', path('samples'), '--out', path('local'), '--init', path('g1'), ...LOCAL, '--load-features', path('maps')]);
      assert.match(trained, /--init \S+: the model takes instance \(--instance-feat\) features \(feat_num 3\)/);

      // 22: encode on the model without E points at the maps' encoder, not at --instance-feat.
      const encode = run(['encode', '--data', path('samples'), '--checkpoint', path('local'), '--out', path('f.safetensors')], 3);
      assert.match(encode, /holds no E\.\* tensors: the model takes features but has no encoder of its own \(trained with --load-features/);
      assert.match(encode, /synthesize this model with --clusters/);
      assert.doesNotMatch(encode, /train with --instance-feat/);
      const encoded = run(['synthesize', '--checkpoint', path('local'), '--labels', testLabels, '--instances', testInstances, '--images', testPhotos, ...small, '--use-encoded', '--out', path('encoded')], 3);
      assert.match(encoded, /trained with --load-features/);

      // 22: the way that works: the G1's encoder -> cluster -> synthesize the local model with --clusters.
      run(['encode', '--data', path('samples'), '--checkpoint', path('g1'), '--out', path('g1.features.safetensors')]);
      run(['cluster', '--features', path('g1.features.safetensors'), '--k', '2', '--out', path('clusters.safetensors')]);
      run(['synthesize', '--checkpoint', path('local'), '--labels', testLabels, '--instances', testInstances, ...small, '--clusters', path('clusters.safetensors'), '--out', path('results')]);
      const written = filesBelow(path('results')).filter((name) => /^[^/]+\.png$/.test(name));
      assert.equal(written.length, 8, written.join(', '));
    } finally {
      folder.remove();
    }
  });
});

describe('23: pix2pix-style inputs', () => {
  const labels = join(FIXTURES_DIR, 'train_label');
  const instances = join(FIXTURES_DIR, 'train_inst');
  const photos = join(FIXTURES_DIR, 'train_img');

  test('the default --load-size upscaling small images is said, with how to keep the size; a given --load-size is not', () => {
    const folder = temporaryFolder('upscale');
    try {
      const base = ['preprocess', '--labels', labels, '--instances', instances, '--images', photos, '--shard', '0/12'];
      const defaulted = runCliSync([...base, '--out', join(folder.path, 'a')]);
      assert.equal(defaulted.status, 0, defaulted.stderr);
      assert.match(defaulted.stderr, /2 of 2 pair\(s\) were upscaled by the default --load-size 1024 .*: 256x128 -> 1024x512; .*--load-size 256/);
      const given = runCliSync([...base, '--load-size', '1024', '--out', join(folder.path, 'b')]);
      assert.equal(given.status, 0, given.stderr);
      assert.doesNotMatch(given.stderr, /upscaled/);
      const smaller = runCliSync([...base, '--out', join(folder.path, 'c'), '--load-size', '128']);
      assert.doesNotMatch(smaller.stderr, /upscaled/);
    } finally {
      folder.remove();
    }
  });

  test('--labels without --images: a warning that training needs photos', () => {
    const folder = temporaryFolder('photoless');
    try {
      const result = runCliSync(['preprocess', '--labels', labels, '--instances', instances, '--shard', '0/12', '--load-size', '64', '--out', folder.path]);
      assert.equal(result.status, 0, result.stderr);
      assert.match(result.stderr, /no --images given: the samples hold no photos; train and encode need them/);
      const withPhotos = runCliSync(['preprocess', '--labels', labels, '--instances', instances, '--images', photos, '--shard', '0/12', '--load-size', '64', '--out', join(folder.path, 'p')]);
      assert.doesNotMatch(withPhotos.stderr, /no photos/);
    } finally {
      folder.remove();
    }
  });

  test('a JPEG label map: exit 3 saying JPEG compression changes the ids', () => {
    const folder = temporaryFolder('jpeg-labels');
    try {
      const jpeg = join(folder.path, 'labels', 'a.png');
      mkdirSync(join(folder.path, 'labels'));
      const photo = readdirSync(photos).find((name) => name.endsWith('.jpg'))!;
      copyFileSync(join(photos, photo), jpeg);
      const result = runCliSync(['preprocess', '--labels', join(folder.path, 'labels'), '--no-instance', '--load-size', '64', '--out', join(folder.path, 'out')]);
      assert.equal(result.status, 3, result.stderr);
      assert.match(result.stderr, /a\.png: is a JPEG image, not a PNG: .*JPEG compression changes the ids/);
    } finally {
      folder.remove();
    }
  });
});

describe('19: the demo says where its results are, and --json prints them on stdout', () => {
  test('summary: images, contact sheet and pages; the closing human line names the results folder and --json', () => {
    const out = join('/somewhere', 'p2phd-demo');
    const images = [join(out, 'images', 'a_s00.png')];
    const { summary, lines } = demoResults(out, 219.4, [{ name: 'train global', seconds: 100 }], images);
    assert.deepEqual(summary.images, images);
    assert.equal(summary.contactSheet, join(out, 'contact_sheet.png'));
    assert.deepEqual(summary.pages, {
      training: ['global', 'local', 'joint'].map((stage) => join(out, 'runs', stage, 'index.html')),
      results: join(out, 'images', 'index.html'),
    });
    assert.equal(summary.command, 'demo');
    assert.match(lines[0]!, /^demo finished in 219 s; results in \/somewhere\/p2phd-demo\/ \(with --json, their paths as JSON on stdout\)/);
    assert.ok(lines.some((line) => line.includes(join(out, 'contact_sheet.png'))));
  });
});

describe('20: pages and the contact sheet', () => {
  const STEM = 'synthcity_001000_000019_gtFine_labelIds';

  /** A results folder with 2 inputs x 8 styles and real photos, as synthesize --style all --images leaves it (tiny PNGs). */
  async function resultsFolder(root: string, style = 'all'): Promise<string> {
    const dir = join(root, 'results');
    mkdirSync(join(dir, 'index_files'), { recursive: true });
    const png = (): Promise<Buffer> => sharp({ create: { width: 256, height: 128, channels: 3, background: { r: 90, g: 120, b: 200 } } }).png().toBuffer();
    const rows: ResultRow[] = [];
    for (const stem of [STEM, STEM.replace('001000', '001001')]) {
      const outputs = Array.from({ length: 8 }, (_, i) => `${stem}_s0${i}.png`);
      for (const name of outputs) writeFileSync(join(dir, name), await png());
      writeFileSync(join(dir, 'index_files', `${stem}_label.png`), await png());
      writeFileSync(join(dir, 'index_files', `${stem}_real.png`), await png());
      rows.push({ stem, outputs, label: `index_files/${stem}_label.png`, real: `index_files/${stem}_real.png` });
    }
    await writeResultsPage(dir, { checkpoint: 'runs/x/latest.safetensors', style, rows });
    return dir;
  }

  test('results page: label | real photo | one column per style, names break only at underscores, styles said truly', async () => {
    const folder = temporaryFolder('results-page');
    try {
      const dir = await resultsFolder(folder.path);
      const html = readFileSync(join(dir, 'index.html'), 'utf8');
      assert.match(html, /<tr><th>input<\/th><th>label map<\/th><th>real photo<\/th><th>style 0<\/th>.*<th>style 7<\/th><\/tr>/);
      const row = html.split('\n').find((line) => line.startsWith(`<tr><th>synthcity_`))!;
      assert.equal((row.match(/<td>/g) ?? []).length, 1 + 1 + 8, 'each output in a cell of its own');
      assert.match(row, /^<tr><th>synthcity_<wbr>001000_<wbr>000019_<wbr>gtFine_<wbr>labelIds<\/th>/);
      assert.doesNotMatch(html, /overflow-wrap: anywhere/);
      assert.match(html, /--style all/);

      const none = readFileSync(join(await resultsFolder(join(folder.path, 'plain'), 'none'), 'index.html'), 'utf8');
      assert.match(none, /no styles: the model takes no features/);
      assert.doesNotMatch(none, /--style/);
    } finally {
      folder.remove();
    }
  });

  test('results page in Chromium: a row\'s 8 outputs on one line, the input name broken only after underscores', { skip: CHROMIUM_SKIP }, async () => {
    const folder = temporaryFolder('results-chromium');
    try {
      const dir = await resultsFolder(folder.path);
      const puppeteer = await import('puppeteer-core');
      const browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, userDataDir: join(folder.path, 'profile'), args: ['--no-sandbox', '--disable-gpu'] });
      try {
        const page = await browser.newPage();
        await page.setViewport({ width: 1280, height: 800 });
        await page.goto(pathToFileURL(join(dir, 'index.html')).href, { waitUntil: 'load' });
        // Runs in the page (as source text: this project compiles without the DOM's types).
        const seen = (await page.evaluate(`(() => {
          const row = document.querySelectorAll('table.results tr')[1];
          const tops = [...row.querySelectorAll('td img')].map((img) => Math.round(img.getBoundingClientRect().top));
          // The heading's text, line by line: where the browser broke it.
          const heading = row.querySelector('th');
          const range = document.createRange();
          const lines = [];
          let lineTop = -1;
          const walker = document.createTreeWalker(heading, NodeFilter.SHOW_TEXT);
          for (let node = walker.nextNode(); node; node = walker.nextNode()) {
            for (let i = 0; i < node.textContent.length; i++) {
              range.setStart(node, i);
              range.setEnd(node, i + 1);
              const top = Math.round(range.getBoundingClientRect().top);
              if (top !== lineTop) {
                lines.push('');
                lineTop = top;
              }
              lines[lines.length - 1] += node.textContent[i];
            }
          }
          return { tops, lines };
        })()`)) as { tops: number[]; lines: string[] };
        assert.equal(seen.tops.length, 10, 'label, real photo and 8 outputs');
        assert.equal(new Set(seen.tops).size, 1, `one line of images (tops ${seen.tops.join(', ')})`);
        assert.ok(seen.lines.length > 1, 'the long name wraps');
        for (const line of seen.lines.slice(0, -1)) assert.match(line, /_$/, `breaks after an underscore: ${JSON.stringify(seen.lines)}`);
        await page.screenshot({ path: join(process.env['P2PHD_SCREENSHOTS'] ?? folder.path, 'results-8-styles.png'), fullPage: true });
      } finally {
        await browser.close();
      }
    } finally {
      folder.remove();
    }
  });

  test('contact sheet: a band of column names above the rows', async () => {
    const folder = temporaryFolder('contact-sheet');
    try {
      const labels = join(FIXTURES_DIR, 'test_label');
      const first = readdirSync(labels).filter((name) => name.endsWith('.png')).sort()[0]!;
      const only = join(folder.path, 'labels');
      mkdirSync(only);
      copyFileSync(join(labels, first), join(only, first));
      const synthesized = join(folder.path, 'synthesized');
      mkdirSync(synthesized);
      const { width, height } = await sharp(join(only, first)).metadata();
      for (const style of ['s00', 's01']) {
        writeFileSync(join(synthesized, `${first.replace(/\.png$/, '')}_${style}.png`),
          await sharp({ create: { width: width!, height: height!, channels: 3, background: { r: 40, g: 160, b: 40 } } }).png().toBuffer());
      }
      const out = join(folder.path, 'sheet.png');
      await writeContactSheet({ labels: only, reals: join(FIXTURES_DIR, 'test_img'), synthesized, out });
      const sheet = await sharp(out).raw().toBuffer({ resolveWithObject: true });
      assert.equal(sheet.info.width, 4 + 4 * (width! + 4), 'label | style 0 | style 1 | real photo');
      assert.ok(sheet.info.height > 4 + height! + 4 + 12, `a header band above the row (height ${sheet.info.height})`);
      // The band (above the first row's tiles) holds dark text pixels.
      const bandRows = sheet.info.height - (height! + 4);
      let dark = 0;
      for (let y = 0; y < bandRows; y++) {
        for (let x = 0; x < sheet.info.width; x++) if (sheet.data[(y * sheet.info.width + x) * sheet.info.channels]! < 128) dark += 1;
      }
      assert.ok(dark > 20, `column names are drawn (${dark} dark pixels in the band)`);
    } finally {
      folder.remove();
    }
  });
});

describe('20: the run page tells a --max-steps stop from a finished schedule, and shows settings as flags', () => {
  const state = (maxSteps: number | undefined, steps: number): RunState => ({
    dir: '/runs/demo/global',
    options: {
      stage: 'global',
      settings: { stage: 'global', seed: 1, epochs: 1000, decayEpochs: 0, batchSize: 1, maxSteps, flip: true, serial: false, lambdaFeat: 10 },
      data: { samples: 24 },
      config: {},
    },
    records: Array.from({ length: steps }, (_, i) => ({ epoch: Math.floor(i / 24) + 1, step: i + 1, seconds: 0.5, lr: 0.0002, G_GAN: 1 } as LogRecord)),
    strips: [],
    checkpoints: [],
  });

  test('400 steps of a 1000-epoch schedule: "stopped at step 400 by --max-steps", not "finished · epoch 17 / 1000"', async () => {
    const html = await renderRunPage(state(400, 400));
    assert.match(html, /stopped at step 400 by --max-steps 400 \(the schedule has 24000 steps/);
    assert.match(html, /epoch 17 of the schedule's 1000/);
    assert.doesNotMatch(html, /finished/);
    const whole = await renderRunPage({ ...state(undefined, 48), options: { ...state(undefined, 48).options, settings: { epochs: 2, decayEpochs: 0, batchSize: 1 } } });
    assert.match(whole, /<b>finished<\/b>/);
  });

  test('settings are listed under their flags', async () => {
    const html = await renderRunPage(state(400, 1));
    assert.match(html, /<th>--max-steps<\/th><td>400<\/td>/);
    assert.match(html, /<th>--decay-epochs<\/th><td>0<\/td>/);
    assert.match(html, /<th>--lambda-feat<\/th><td>10<\/td>/);
    assert.match(html, /<th>--no-flip<\/th><td>no<\/td>/);
    assert.doesNotMatch(html, /<th>(maxSteps|decayEpochs|batchSize)<\/th>/);
  });
});
