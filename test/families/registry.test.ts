/**
 * The family registry and the contract's promises: every card is complete
 * and consistent, stage names are unique, a file's family comes from its
 * metadata, and a checkpoint written before families existed (no `family`
 * key) is read as pix2pixhd, tensor for tensor the same as one that says so.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InputError, UsageError } from '../../src/errors.js';
import { allStages, DEFAULT_FAMILY, FAMILIES, familyByName, familyOfMetadata, familyOfStage } from '../../src/families/index.js';
import { readCheckpoint, writeCheckpoint } from '../../src/families/checkpoint.js';
import { readTensorFile, writeTensorFile } from '../../src/data/files/tensorFile.js';
import { resolveConfig } from '../../src/families/pix2pixhd/config.js';
import { modelSpecs } from '../../src/families/pix2pixhd/networks.js';
import { initParams } from '../../src/model/params.js';
import { setUpBackend } from '../model/helpers.js';

describe('family registry', () => {
  it('every card is complete: stages, networks, loss names, config keys = the default config\'s keys', () => {
    for (const [name, card] of Object.entries(FAMILIES)) {
      assert.equal(card.name, name);
      assert.ok(Object.keys(card.stages).length > 0, `${name} trains no stage`);
      assert.ok(card.lossNames.length > 0 && new Set(card.lossNames).size === card.lossNames.length, `${name}: loss names`);
      assert.deepEqual([...card.configKeys].sort(), Object.keys(card.defaultConfig as object).sort(), `${name}: config keys`);
      assert.deepEqual(card.resolveConfig({}), card.defaultConfig, `${name}: resolving nothing gives the defaults`);
      assert.throws(() => card.resolveConfig({ no_such_option: 1 }), UsageError, `${name}: unknown keys are refused`);
    }
  });

  it('stage names are unique across families and lead back to their family', () => {
    const stages = allStages().map(({ stage }) => stage);
    assert.equal(new Set(stages).size, stages.length);
    for (const { stage, family } of allStages()) assert.equal(familyOfStage(stage), family);
    assert.equal(familyOfStage('no-such-stage'), undefined);
  });

  it('pix2pixhd declares the reference\'s loss names and stages', () => {
    const card = familyByName('pix2pixhd');
    assert.deepEqual([...card.lossNames], ['G_GAN', 'G_GAN_Feat', 'G_VGG', 'D_real', 'D_fake']);
    assert.deepEqual(Object.keys(card.stages), ['global', 'local', 'joint']);
    assert.throws(() => familyByName('pix3pix'), /--family "pix3pix": unknown family; known: pix2pixhd/);
  });

  it('a file\'s family comes from its metadata; none means pix2pixhd; an unknown one is bad input naming the file', () => {
    assert.equal(DEFAULT_FAMILY, 'pix2pixhd');
    assert.equal(familyOfMetadata({}, 'old.safetensors').name, 'pix2pixhd');
    assert.equal(familyOfMetadata({ family: 'pix2pixhd' }, 'new.safetensors').name, 'pix2pixhd');
    assert.throws(() => familyOfMetadata({ family: 'stylegan' }, 'odd.safetensors'), (error: unknown) => error instanceof InputError && /^odd\.safetensors: family "stylegan"/.test(error.message));
    assert.throws(() => familyOfMetadata({ family: 7 }, 'odd.safetensors'), InputError);
  });
});

describe('checkpoints across the families change', () => {
  let dir = '';
  before(async () => {
    await setUpBackend();
    dir = await mkdtemp(join(tmpdir(), 'p2phd-family-'));
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  it('a previous release\'s checkpoint (no family key) reads exactly as the same file with family pix2pixhd', async () => {
    const config = resolveConfig({ label_nc: 5, ngf: 4, n_downsample_global: 2, n_blocks_global: 1, ndf: 4, n_layers_D: 2 });
    const params = initParams(modelSpecs(config, ['G', 'D']), 3);
    const current = join(dir, 'current.safetensors');
    await writeCheckpoint(current, params, { stage: 'global', epoch: 1, step: 5, lr: 0.0002, config });
    const file = await readTensorFile(current, 'checkpoint');
    assert.equal(file.p2phd['family'], 'pix2pixhd', 'new checkpoints record their family');

    // The previous release wrote the same metadata without `family`.
    const { family: _family, kind: _kind, version: _version, ...previousMeta } = file.p2phd;
    const previous = join(dir, 'previous.safetensors');
    await writeTensorFile(previous, 'checkpoint', file.tensors, previousMeta);
    assert.equal((await readTensorFile(previous, 'checkpoint')).p2phd['family'], undefined);

    const a = await readCheckpoint(current);
    const b = await readCheckpoint(previous);
    assert.deepEqual(b.meta, a.meta);
    assert.deepEqual([...b.tensors.keys()], [...a.tensors.keys()]);
    for (const [key, tensor] of a.tensors) assert.deepEqual(b.tensors.get(key)!.data, tensor.data, key);
  });

  it('a checkpoint of a family this reader does not take is refused naming the file', async () => {
    const config = resolveConfig({ label_nc: 5, ngf: 4, n_downsample_global: 2, n_blocks_global: 1, ndf: 4, n_layers_D: 2 });
    const file = join(dir, 'current.safetensors');
    const read = await readTensorFile(file, 'checkpoint');
    const { kind: _kind, version: _version, ...meta } = read.p2phd;
    const foreign = join(dir, 'foreign.safetensors');
    await writeTensorFile(foreign, 'checkpoint', read.tensors, { ...meta, family: 'stylegan', config });
    await assert.rejects(readCheckpoint(foreign), (error: unknown) => error instanceof InputError && error.message.startsWith(`${foreign}: family "stylegan"`));
  });
});
