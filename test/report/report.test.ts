/**
 * Watching a run: a tiny run trained through the real command leaves
 * TensorBoard events holding every logged loss at its step, and every
 * sample strip as an image (resumed runs: test/train/resume.test.ts); samples/ keeps
 * the latest --keep-samples strips plus the last of each epoch; index.html
 * is there. Synthesize shards write a page each and `p2phd report` merges
 * them. Both pages render in headless Chromium with every reference
 * resolving, the plots drawn and no console error.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fixtureSamples, logLines, runCli, TINY } from '../train/cli.js';
import { FIXTURES_DIR } from '../support/cli.js';
import { readEventsFolder } from '../support/tfevents.js';
import { CHROMIUM_SKIP, renderPages } from '../support/browser.js';
import { setUpBackend } from '../train/helpers.js';
import { runSynthesizeStage } from '../../src/synthesis/synthesizeStage.js';
import { writeReport } from '../../src/report/report.js';
import { createLogger } from '../../src/log.js';

/** 4 samples, batch 1: 4 steps per epoch; a strip every 3 steps and at each epoch's end (steps 3, 4, 6, 8, 9 of 10). */
const LOSSES = ['G_GAN', 'G_GAN_Feat', 'G_VGG', 'D_real', 'D_fake'];

describe('report: TensorBoard events, --keep-samples, run and results pages', () => {
  let root = '';
  let run = '';
  let results = '';
  before(async () => {
    const fixture = await fixtureSamples();
    root = fixture.root;
    const data = join(root, 'four');
    mkdirSync(data);
    for (const name of readdirSync(fixture.samples).sort().slice(0, 4)) copyFileSync(join(fixture.samples, name), join(data, name));
    run = join(root, 'run');
    const trained = await runCli(['train', 'global', '--data', data, '--out', run, ...TINY, '--seed', '3', '--epochs', '5', '--decay-epochs', '0',
      '--sample-every', '3', '--keep-samples', '2', '--save-every', '100', '--max-steps', '10']);
    assert.equal(trained.status, 0, trained.stderr);

    // Two inputs, synthesized as two shards (in this process: no second tfjs start-up), then merged.
    const inputs = join(root, 'inputs');
    for (const kind of ['test_label', 'test_inst', 'test_img']) {
      mkdirSync(join(inputs, kind), { recursive: true });
      for (const name of readdirSync(join(FIXTURES_DIR, kind)).sort().slice(0, 2)) copyFileSync(join(FIXTURES_DIR, kind, name), join(inputs, kind, name));
    }
    results = join(root, 'results');
    await setUpBackend();
    const files = { kind: 'files', labels: join(inputs, 'test_label'), instances: join(inputs, 'test_inst'), images: join(inputs, 'test_img') } as const;
    for (const index of [0, 1]) {
      await runSynthesizeStage({ checkpoint: run, inputs: files, out: results, style: 'random', useEncoded: false, seed: 1, shard: { index, count: 2 } }, createLogger({ quiet: true }));
    }
    await writeReport(results);
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it('TensorBoard holds every logged loss, lr and s/step at its step, once', async () => {
    const log = await logLines(join(run, 'log.jsonl'));
    assert.deepEqual(log.map((line) => line['step']), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    const { files, events } = readEventsFolder(join(run, 'tensorboard'));
    assert.equal(files.length, 1);
    const scalarEvents = events.filter((event) => event.scalars.length > 0);
    assert.deepEqual(scalarEvents.map((event) => event.step), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 'each step once');
    for (const line of log) {
      const event = scalarEvents.find((candidate) => candidate.step === line['step'])!;
      const value = (tag: string): number | undefined => event.scalars.find((scalar) => scalar.tag === tag)?.value;
      for (const loss of LOSSES) assert.equal(value(loss), Math.fround(line[loss]!), `${loss} at step ${line['step']}`);
      assert.equal(value('lr'), Math.fround(line['lr']!));
      assert.equal(value('seconds_per_step'), Math.fround(line['seconds']!));
    }
  });

  it('every strip is a TensorBoard image; samples/ keeps the latest 2 plus the last of each epoch', () => {
    const { events } = readEventsFolder(join(run, 'tensorboard'));
    const images = events.flatMap((event) => event.images.map((image) => ({ step: event.step, ...image })));
    assert.deepEqual(images.map((image) => image.step), [3, 4, 6, 8, 9]);
    // TINY trains at 64x32: label | synthesized | real is 192x32.
    for (const image of images) assert.deepEqual([image.tag, image.width, image.height, image.colorspace], ['samples', 192, 32, 3]);
    const kept = readdirSync(join(run, 'samples')).sort();
    assert.deepEqual(kept, ['epoch_001_step_0000004.png', 'epoch_002_step_0000008.png', 'epoch_003_step_0000009.png']);
    for (const [name, step] of [[kept[0]!, 4], [kept[1]!, 8], [kept[2]!, 9]] as const) {
      assert.ok(readFileSync(join(run, 'samples', name)).equals(images.find((image) => image.step === step)!.png), `${name} is the image TensorBoard holds`);
    }
  });

  it('the run page says where the run stands; the merged results page has both shards\' inputs', () => {
    const page = readFileSync(join(run, 'index.html'), 'utf8');
    assert.match(page, /step <b>10<\/b> \/ 10/);
    // --max-steps 10 of a 20-step schedule (4 samples x 5 epochs): stopped, not finished.
    assert.match(page, /stopped at step 10 by --max-steps 10 \(the schedule has 20 steps/);
    assert.doesNotMatch(page, /finished/);
    assert.doesNotMatch(page, /http-equiv="refresh"/, 'a finished run\'s page does not reload itself');
    assert.ok(existsSync(join(results, 'index_shard_0_of_2.html')) && existsSync(join(results, 'index_shard_1_of_2.html')));
    const merged = readFileSync(join(results, 'index.html'), 'utf8');
    assert.equal((merged.match(/<tr><th>synthcity_/g) ?? []).length, 2, 'one row per input');
    assert.match(merged, /merged from 2 shard page/);
  });

  it('p2phd report refuses what is not a run or results folder (exit 2) and a broken options.json (exit 3)', async () => {
    const missing = await runCli(['report', join(root, 'nowhere')]);
    assert.equal(missing.status, 2, missing.stderr);
    assert.match(missing.stderr, /nowhere: not a folder/);
    const other = await runCli(['report', join(root, 'inputs')]);
    assert.equal(other.status, 2, other.stderr);
    const broken = join(root, 'broken');
    mkdirSync(broken);
    writeFileSync(join(broken, 'options.json'), '[1, 2');
    writeFileSync(join(broken, 'log.jsonl'), '');
    const result = await runCli(['report', broken]);
    assert.equal(result.status, 3, result.stderr);
    assert.match(result.stderr, /options\.json/);
  });

  it('both pages render in headless Chromium: references resolve, plots drawn, no errors', { skip: CHROMIUM_SKIP }, async () => {
    const shots = process.env['P2PHD_SCREENSHOTS'] ?? root;
    mkdirSync(shots, { recursive: true });
    const [runPage, resultsPage] = await renderPages([
      { html: join(run, 'index.html'), screenshot: join(shots, 'run.png') },
      { html: join(results, 'index.html'), screenshot: join(shots, 'results.png') },
    ]);
    assert.ok(runPage && resultsPage);
    assert.deepEqual(runPage.errors, []);
    assert.deepEqual(runPage.remote, [], 'nothing from the network');
    assert.deepEqual(runPage.missing, []);
    assert.ok(runPage.references.some((url) => url.endsWith('epoch_003_step_0000009.png')), 'the latest strip is shown');
    // G_GAN, G_GAN_Feat, D_real, D_fake (G_VGG is 0: off), lr, s/step: each drawn with lines.
    assert.equal(runPage.svgPaths.length, 6);
    for (const paths of runPage.svgPaths) assert.ok(paths >= 2, `each plot has its lines (${runPage.svgPaths.join(', ')})`);
    assert.ok(runPage.screenshotSpread > 10, `the run page's screenshot is not blank (spread ${runPage.screenshotSpread})`);

    assert.deepEqual(resultsPage.errors, []);
    assert.deepEqual(resultsPage.remote, []);
    assert.deepEqual(resultsPage.missing, []);
    // Per input: label, output and real photo, each an image and a link to it.
    assert.equal(resultsPage.references.length, 2 * 3 * 2);
    assert.ok(resultsPage.screenshotSpread > 10, `the results page's screenshot is not blank (spread ${resultsPage.screenshotSpread})`);
  });
});
