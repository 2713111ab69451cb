/**
 * The training recipes of issue 16 (and issue 12's item 29), as units:
 * --init-partial, growing a local model by an enhancer, what
 * --niter-fix-global trains, extending a schedule on --resume, resume inputs
 * checked by content, --max-dataset-size, feature maps at the sample's size.
 * The end-to-end runs through the CLI are in recipesRuns.test.ts.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InputError, UsageError } from '../../src/errors.js';
import { readCheckpoint } from '../../src/families/checkpoint.js';
import { featureMapAtSize } from '../../src/data/files/featureMap.js';
import { resolveConfig } from '../../src/families/pix2pixhd/config.js';
import { modelSpecs } from '../../src/families/pix2pixhd/networks.js';
import { disposeParams } from '../../src/model/params.js';
import { limitSamples, type SampleFolder } from '../../src/train/data.js';
import { checkScheduleChange, epochLearningRate } from '../../src/train/extendRun.js';
import { initialiseWeights } from '../../src/train/initWeights.js';
import { generatorTraining, optimizerKeys } from '../../src/train/model.js';
import { checkResumedInputs, recordRunInputs } from '../../src/train/runInputs.js';
import { resolveTrainingArchitecture } from '../../src/train/settings.js';
import { writeRandomCheckpoint } from '../synthesis/helpers.js';
import { setUpBackend } from './helpers.js';

const TINY = { ngf: 8, n_downsample_global: 2, n_blocks_global: 1, ndf: 8, n_layers_D: 2, nef: 4, n_downsample_E: 2 };

describe('train recipes', () => {
  let root = '';
  before(async () => {
    await setUpBackend();
    root = await mkdtemp(join(tmpdir(), 'p2phd-recipes-'));
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('--init-partial: a label_nc 35 checkpoint fine-tuned to label_nc 20 loads every tensor but the input layers', async () => {
    const path = join(root, 'cityscapes35.safetensors');
    const trained = resolveConfig({ ...TINY, label_nc: 35, instance: true, instance_feat: true });
    await writeRandomCheckpoint(path, trained, 4, ['G', 'D', 'E']);
    const checkpoint = await readCheckpoint(path);
    const data = { label_nc: 20, instance: true };

    assert.throws(() => resolveTrainingArchitecture('global', {}, data, checkpoint.meta.config), (error: unknown) => error instanceof UsageError && /label_nc 35.*--init-partial/.test(error.message));
    const config = resolveTrainingArchitecture('global', {}, data, checkpoint.meta.config, { partial: true });
    assert.equal(config.label_nc, 20);
    const report = initialiseWeights(checkpoint, config, ['G', 'D', 'E'], 1, { stage: 'global', partial: true, generatorFixed: true });
    // The layers whose input channels count the labels: G's first conv (20 + 1 edge + 3 features in),
    // each D scale's first conv (20 + 1 + 3 image channels in). Biases keep their shapes.
    assert.deepEqual(report.initialised.map((entry) => entry.key).sort(), ['D.scale0_layer0.0.weight', 'D.scale1_layer0.0.weight', 'G.model.1.weight']);
    assert.equal(report.loaded.length, modelSpecs(config, ['G', 'D', 'E']).length - 3);
    assert.match(report.summary, /loaded \d+ tensors \(G 15, D 14, E \d+\), freshly initialised 3 \(G 1, D 2\)/);
    disposeParams(report.params);
  });

  it('refuses a load where not one generator tensor fits (an error, not a warning)', async () => {
    const path = join(root, 'ngf16.safetensors');
    await writeRandomCheckpoint(path, resolveConfig({ ...TINY, ngf: 16 }), 5, ['G', 'D']);
    const checkpoint = await readCheckpoint(path);
    const config = resolveTrainingArchitecture('global', { ngf: 8 }, { label_nc: 35, instance: true }, checkpoint.meta.config);
    assert.throws(
      () => initialiseWeights(checkpoint, config, ['G', 'D'], 1, { stage: 'global', partial: false, generatorFixed: true }),
      (error: unknown) => error instanceof UsageError && /not one generator weight tensor fits/.test(error.message),
    );
  });

  it('growing a local model by one enhancer keeps G1\'s ngf, so G1 and the existing enhancer load (issue 12, item 29)', async () => {
    const path = join(root, 'local1.safetensors');
    const local1 = resolveConfig({ ...TINY, netG: 'local', ngf: 4, n_local_enhancers: 1, n_blocks_local: 1 });
    await writeRandomCheckpoint(path, local1, 6, ['G', 'D']);
    const checkpoint = await readCheckpoint(path);
    const data = { label_nc: 35, instance: true };
    const grown = resolveTrainingArchitecture('local', { n_local_enhancers: 2 }, data, checkpoint.meta.config);
    assert.equal(grown.ngf, 2, 'G1 ngf 8 = 2 * 2^2');
    assert.equal(grown.n_local_enhancers, 2);
    const report = initialiseWeights(checkpoint, grown, ['G', 'D'], 1, { stage: 'local', partial: false, generatorFixed: true });
    const fresh = report.initialised.map((entry) => entry.key);
    assert.ok(fresh.length > 0 && fresh.every((key) => key.startsWith('G.model2_')), `only the new enhancer is fresh: ${fresh.join(', ')}`);
    assert.ok(report.loaded.some((key) => key.startsWith('G.model1_')) && report.loaded.some((key) => key.startsWith('G.model.')));
    disposeParams(report.params);

    // An --ngf that does not fit leaves G1 random; train local (G1 fixed) refuses it.
    const misfit = resolveTrainingArchitecture('local', { n_local_enhancers: 2, ngf: 4 }, data, checkpoint.meta.config);
    assert.throws(
      () => initialiseWeights(checkpoint, misfit, ['G', 'D'], 1, { stage: 'local', partial: false, generatorFixed: true }),
      (error: unknown) => error instanceof UsageError && /not one generator weight tensor fits|keeps the global part G\.model\.\* fixed/.test(error.message) && /--ngf/.test(error.message),
    );
    // Another label set: G1's input layer would be fresh but fixed in train local.
    const relabelled = resolveTrainingArchitecture('local', {}, { label_nc: 20, instance: true }, checkpoint.meta.config, { partial: true });
    assert.throws(
      () => initialiseWeights(checkpoint, relabelled, ['G', 'D'], 1, { stage: 'local', partial: true, generatorFixed: true }),
      (error: unknown) => error instanceof UsageError && /keeps the global part G\.model\.\* fixed.*G\.model\.1\.weight/.test(error.message),
    );
    // G1 ngf 8 cannot be halved by 4 enhancers into a whole ngf.
    assert.throws(() => resolveTrainingArchitecture('local', { n_local_enhancers: 4 }, data, checkpoint.meta.config), (error: unknown) => error instanceof UsageError && /--ngf/.test(error.message));
  });

  it('--niter-fix-global: only the outermost enhancer (+ E) for N epochs, then every G parameter', () => {
    const config = resolveConfig({ ...TINY, netG: 'local', ngf: 2, n_local_enhancers: 2, n_blocks_local: 1, instance_feat: true });
    const specs = modelSpecs(config, ['G', 'D', 'E']);
    assert.equal(generatorTraining('local', 3, 3), 'outermost');
    assert.equal(generatorTraining('local', 3, 4), 'all');
    assert.equal(generatorTraining('local', 0, 1), 'enhancers');
    assert.equal(generatorTraining('joint', 3, 1), 'all');
    const outermost = optimizerKeys('local', specs, 'outermost').G;
    assert.ok(outermost.every((key) => key.startsWith('G.model2_') || key.startsWith('E.')));
    assert.ok(outermost.some((key) => key.startsWith('E.')) && outermost.some((key) => key.startsWith('G.model2_')));
    const enhancers = optimizerKeys('local', specs).G;
    assert.ok(enhancers.some((key) => key.startsWith('G.model1_')) && !enhancers.some((key) => key.startsWith('G.model.')));
    const all = optimizerKeys('local', specs, 'all').G;
    assert.ok(all.some((key) => key.startsWith('G.model.')));
  });

  it('extending a schedule on --resume: new rates from the next epoch boundary, computed by hand', () => {
    const lr = 0.0002;
    const finished = { epoch: 3, index: 0 }; // a 1 + 1 run, both epochs done
    const change = checkScheduleChange({ lr, epochs: 1, decayEpochs: 1 }, { lr, epochs: 1, decayEpochs: 3 }, finished);
    assert.ok(change.changed);
    // 1 + 3: epochs 1 and 2 at lr, then lr drops by lr / 3 after each epoch > 1.
    assert.equal(epochLearningRate(change.schedule, 3, undefined), lr - lr / 3);
    assert.equal(epochLearningRate(change.schedule, 4, undefined), lr - lr / 3 - lr / 3);
    // Mid-epoch: the epoch in progress keeps the rate it started with.
    assert.equal(epochLearningRate(change.schedule, 2, lr / 7), lr / 7);
    assert.equal(checkScheduleChange({ lr, epochs: 1, decayEpochs: 1 }, { lr, epochs: 1, decayEpochs: 1 }, finished).changed, false);
    assert.throws(
      () => checkScheduleChange({ lr, epochs: 5, decayEpochs: 5 }, { lr, epochs: 1, decayEpochs: 0 }, { epoch: 4, index: 0 }),
      (error: unknown) => error instanceof UsageError && /finished 3/.test(error.message),
    );
  });

  it('resume inputs: a moved VGG file with the same content is accepted, a changed one refused; so are samples', async () => {
    const vgg = join(root, 'vgg.safetensors');
    const moved = join(root, 'moved-vgg.safetensors');
    await writeFile(vgg, 'weights');
    await writeFile(moved, 'weights');
    const sampleA = join(root, 'a.safetensors');
    await writeFile(sampleA, 'sample a');
    const folder: SampleFolder = { dir: root, samples: [{ path: sampleA, labelNc: 35, height: 1, width: 1, hasInstance: true, hasImage: true, mode: 'none', fineSize: 0, loadSize: 0 }], labelNc: 35, instance: true };
    const recorded = await recordRunInputs(folder, vgg);
    await rm(vgg);
    assert.equal(await checkResumedInputs(recorded, { vggWeights: vgg }, { vggWeights: moved }, folder), moved);
    await assert.rejects(checkResumedInputs(recorded, { vggWeights: vgg }, { vggWeights: undefined }, folder), (error: unknown) => error instanceof UsageError && /no such file.*new path/.test(error.message));
    await writeFile(moved, 'other weights');
    await assert.rejects(checkResumedInputs(recorded, { vggWeights: vgg }, { vggWeights: moved }, folder), (error: unknown) => error instanceof InputError && /content differs/.test(error.message));
    await writeFile(moved, 'weights');
    await writeFile(sampleA, 'sample b');
    await assert.rejects(checkResumedInputs(recorded, { vggWeights: vgg }, { vggWeights: moved }, folder), (error: unknown) => error instanceof InputError && /names or contents differ/.test(error.message));
    await assert.rejects(checkResumedInputs(recorded, { vggWeights: undefined }, { vggWeights: moved }, folder), /without the VGG loss/);
  });

  it('--max-dataset-size keeps the first N samples in sorted order', () => {
    const sample = (name: string) => ({ path: name, labelNc: 35, height: 1, width: 1, hasInstance: true, hasImage: true, mode: 'none', fineSize: 0, loadSize: 0 });
    const folder: SampleFolder = { dir: '.', samples: ['a', 'b', 'c'].map(sample), labelNc: 35, instance: true };
    assert.deepEqual(limitSamples(folder, 2).samples.map((s) => s.path), ['a', 'b']);
    assert.equal(limitSamples(folder, 5), folder);
    assert.equal(limitSamples(folder, undefined), folder);
  });

  it('feature maps at the sample size: nearest upsampling by an integer factor, other sizes refused', () => {
    // 1 x 2 map, 2 channels -> 2 x 4.
    const map = { height: 1, width: 2, featNum: 2, values: Float32Array.from([1, 2, 3, 4]) };
    assert.deepEqual([...featureMapAtSize(map, 2, 4, 'm')], [1, 2, 1, 2, 3, 4, 3, 4, 1, 2, 1, 2, 3, 4, 3, 4]);
    assert.equal(featureMapAtSize(map, 1, 2, 'm'), map.values);
    assert.throws(() => featureMapAtSize(map, 2, 3, 'm'), (error: unknown) => error instanceof InputError && /m: feature map is 2x1/.test(error.message));
  });
});
