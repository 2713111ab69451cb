/**
 * Checkpoint files: round trip in the reference's layouts, strict loading
 * refusing tensors that do not fit the config (exit 3 naming the tensor),
 * partial loading (G1 into a local enhancer, D with another num_D).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { InputError } from '../../src/errors.js';
import {
  checkpointParams,
  initialiseFromCheckpoint,
  readCheckpoint,
  resolveCheckpointPath,
  writeCheckpoint,
  type CheckpointMeta,
} from '../../src/families/checkpoint.js';
import { writeTensorFile } from '../../src/data/files/tensorFile.js';
import { makeTensor } from '../../src/data/formats/safetensors.js';
import { resolveConfig } from '../../src/families/pix2pixhd/config.js';
import { modelSpecs, networkSpecs } from '../../src/families/pix2pixhd/networks.js';
import { disposeParams, initParams, loadParams, referenceShape } from '../../src/model/params.js';
import { setUpBackend } from './helpers.js';

const SMALL = {
  label_nc: 5,
  ngf: 4,
  n_downsample_global: 2,
  n_blocks_global: 1,
  ndf: 4,
  n_layers_D: 2,
  nef: 4,
  n_downsample_E: 2,
  instance_feat: true,
} as const;

describe('checkpoint files', () => {
  let dir = '';
  before(async () => {
    await setUpBackend();
    dir = await mkdtemp(join(tmpdir(), 'p2phd-checkpoint-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('round trip: G, D, E with batch norm, reference layouts, metadata, DIR -> DIR/latest.safetensors', async () => {
    const config = resolveConfig({ ...SMALL, norm: 'batch' });
    const specs = modelSpecs(config, ['G', 'D', 'E']);
    const params = initParams(specs, 7);
    const meta: CheckpointMeta = { stage: 'global', epoch: 3, step: 120, lr: 0.0002, config };
    const run = join(dir, 'run');
    await mkdir(run);
    await writeCheckpoint(join(run, 'latest.safetensors'), params, meta);

    assert.equal(await resolveCheckpointPath(run), join(run, 'latest.safetensors'));
    const checkpoint = await readCheckpoint(run);
    assert.deepEqual(checkpoint.meta, meta);
    assert.deepEqual(checkpoint.networks, ['G', 'D', 'E']);
    assert.deepEqual([...checkpoint.tensors.keys()], specs.map((s) => s.key));
    for (const spec of specs) assert.deepEqual(checkpoint.tensors.get(spec.key)!.shape, referenceShape(spec), spec.key);
    // The reference layout: conv [out, in, kh, kw]; element [o, i, y, x] is tfjs [y, x, i, o].
    const w = checkpoint.tensors.get('G.model.4.weight')!;
    assert.deepEqual(w.shape, [8, 4, 3, 3]);
    const tfjsW = params.get('G.model.4.weight')!.arraySync() as number[][][][];
    assert.equal((w.data as Float32Array)[((5 * 4 + 2) * 3 + 1) * 3 + 0], Math.fround(tfjsW[1]![0]![2]![5]!));
    assert.equal(checkpoint.tensors.get('D.scale0_layer1.1.num_batches_tracked')!.dtype, 'I64');

    const reloaded = checkpointParams(checkpoint, ['G', 'D', 'E']);
    for (const spec of specs) {
      const a = params.get(spec.key)!.dataSync();
      const b = reloaded.get(spec.key)!.dataSync();
      assert.deepEqual(Array.from(b), Array.from(a), spec.key);
    }
    disposeParams(params);
    disposeParams(reloaded);

    // A state_dict from PyTorch < 0.4.1 has no num_batches_tracked: still loads.
    const old = new Map([...checkpoint.tensors].filter(([key]) => !key.endsWith('num_batches_tracked')));
    const { params: fromOld, initialised } = loadParams(specs, old, { source: 'old', mode: 'strict' });
    assert.equal(fromOld.get('G.model.2.num_batches_tracked')!.dataSync()[0], 0);
    assert.deepEqual(initialised, []);
    disposeParams(fromOld);
  });

  it('a tensor that does not fit the config is exit 3 naming it, its expected and found shapes', async () => {
    const config = resolveConfig(SMALL);
    const params = initParams(networkSpecs(config, 'G'), 1);
    const path = join(dir, 'wrong.safetensors');
    // Saved as if ngf were 4 but declared with ngf 8.
    await writeCheckpoint(path, params, { stage: 'global', epoch: 0, step: 0, lr: 0.0002, config });
    disposeParams(params);
    const checkpoint = await readCheckpoint(path);
    const lying = { ...checkpoint, meta: { ...checkpoint.meta, config: resolveConfig({ ...SMALL, ngf: 8 }) } };
    const before = tf.memory().numTensors;
    assert.throws(
      () => checkpointParams(lying, ['G']),
      (e: unknown) => e instanceof InputError && e.exitCode === 3 && e.message.includes('"G.model.1.weight"') && e.message.includes('[4, 9, 7, 7]') && e.message.includes('[8, 9, 7, 7]'),
    );
    assert.equal(tf.memory().numTensors, before, 'nothing leaks when loading fails');
    assert.throws(() => checkpointParams(checkpoint, ['E']), /no E\.\* tensors: the model takes features but has no encoder of its own.*encode and cluster with that checkpoint/);
  });

  it('a bad config in the metadata is exit 3 naming the file', async () => {
    const path = join(dir, 'badmeta.safetensors');
    const tensors = new Map([['G.model.1.bias', makeTensor('F32', [4], new Float32Array(4))]]);
    await writeTensorFile(path, 'checkpoint', tensors, { stage: 'global', epoch: 0, step: 0, lr: 0.1, config: { norm: 'layer' } });
    await assert.rejects(readCheckpoint(path), (e: unknown) => e instanceof InputError && e.message.startsWith(path) && /lacks label_nc, instance/.test(e.message));
    await writeTensorFile(path, 'checkpoint', tensors, { stage: 'global', epoch: 0, step: 0, lr: 0.1, config: { ...resolveConfig(), norm: 'layer' } });
    await assert.rejects(readCheckpoint(path), (e: unknown) => e instanceof InputError && e.message.startsWith(path) && /norm must be one of instance, batch, got "layer"/.test(e.message));
    await writeTensorFile(path, 'checkpoint', tensors, { stage: 'finetune', epoch: 0, step: 0, lr: 0.1, config: resolveConfig() });
    await assert.rejects(readCheckpoint(path), /stage "finetune" is not one of global, local, joint/);
    await assert.rejects(readCheckpoint(join(dir, 'absent.safetensors')), InputError);
  });

  it('architecture values beyond their bounds, or too many parameters together, are exit 3 naming the file (before any allocation)', async () => {
    const path = join(dir, 'hostile.safetensors');
    const tensors = new Map([['G.model.1.bias', makeTensor('F32', [4], new Float32Array(4))]]);
    const hostile: Array<[Record<string, unknown>, RegExp]> = [
      [{ n_blocks_global: 1e9 }, /n_blocks_global must be an integer from 0 to 256, got 1000000000/],
      [{ n_local_enhancers: 1000, netG: 'local' }, /n_local_enhancers must be an integer from 1 to 5/],
      [{ n_layers_D: 1e6 }, /n_layers_D must be an integer from 1 to 8/],
      [{ num_D: 100 }, /num_D must be an integer from 1 to 8/],
      [{ label_nc: 1e7 }, /label_nc must be an integer from 0 to 65536/],
      // Each within its bound, 10^12 parameters together.
      [{ ngf: 1024, n_downsample_global: 8 }, /G parameters .* more than p2phd's limit/],
    ];
    for (const [overrides, pattern] of hostile) {
      await writeTensorFile(path, 'checkpoint', tensors, { stage: 'global', epoch: 0, step: 0, lr: 0.1, config: { ...resolveConfig(), ...overrides } });
      const started = Date.now();
      await assert.rejects(readCheckpoint(path), (e: unknown) => e instanceof InputError && e.message.startsWith(path) && pattern.test(e.message), JSON.stringify(overrides));
      assert.ok(Date.now() - started < 2000, `refused at once: ${JSON.stringify(overrides)}`);
    }
  });

  it('NaN or infinite weights are exit 3 naming the tensor, for every reader (one place: checkpointFromFile)', async () => {
    const config = resolveConfig({ ...SMALL });
    const params = initParams(modelSpecs(config, ['G', 'D', 'E']), 3);
    const path = join(dir, 'poisoned.safetensors');
    await writeCheckpoint(path, params, { stage: 'global', epoch: 1, step: 1, lr: 0.0002, config });
    disposeParams(params);
    const good = await readCheckpoint(path);
    for (const [key, value] of [['G.model.4.weight', Number.NaN], ['E.model.1.bias', Number.POSITIVE_INFINITY], ['D.scale0_layer0.0.bias', Number.NEGATIVE_INFINITY]] as const) {
      const tensors = new Map(good.tensors);
      const original = tensors.get(key)!;
      const data = Float32Array.from(original.data as Float32Array);
      data[1] = value;
      tensors.set(key, makeTensor('F32', original.shape, data));
      await writeTensorFile(path, 'checkpoint', tensors, { ...good.meta });
      await assert.rejects(readCheckpoint(path), (e: unknown) => e instanceof InputError && e.message.startsWith(path) && e.message.includes(`"${key}" holds ${value}`), key);
    }
  });

  it('partial loading: a G1 (ngf 8) into the global part of a local enhancer (ngf 4); D from 2 to 3 scales', async () => {
    const g1Config = resolveConfig({ ...SMALL, instance_feat: false, ngf: 8 });
    const g1Specs = modelSpecs(g1Config, ['G', 'D']);
    const g1 = initParams(g1Specs, 11);
    const path = join(dir, 'g1.safetensors');
    await writeCheckpoint(path, g1, { stage: 'global', epoch: 10, step: 1000, lr: 0.0002, config: g1Config });
    const checkpoint = await readCheckpoint(path);

    const localConfig = resolveConfig({ ...SMALL, instance_feat: false, netG: 'local', ngf: 4, num_D: 3 });
    const result = initialiseFromCheckpoint(checkpoint, localConfig, ['G', 'D'], 5);
    const globalKeys = networkSpecs(localConfig, 'G').map((s) => s.key).filter((k) => k.startsWith('G.model.'));
    for (const key of globalKeys) {
      assert.ok(result.loaded.includes(key), `${key} loaded`);
      assert.deepEqual(Array.from(result.params.get(key)!.dataSync()), Array.from(g1.get(key)!.dataSync()), key);
    }
    const fresh = result.initialised.map((i) => i.key);
    assert.ok(fresh.every((k) => k.startsWith('G.model1_') || k.startsWith('D.scale2_')), fresh.join(' '));
    assert.ok(fresh.includes('G.model1_1.1.weight') && fresh.includes('D.scale2_layer0.0.weight'));
    assert.ok(result.loaded.includes('D.scale1_layer3.0.weight'));
    // G1's output conv has no place in a local enhancer.
    assert.deepEqual(result.unused, ['G.model.18.weight', 'G.model.18.bias']);
    assert.equal(result.loaded.length + result.initialised.length, modelSpecs(localConfig, ['G', 'D']).length);

    // Fresh tensors depend only on the seed and their name.
    const again = initialiseFromCheckpoint(checkpoint, localConfig, ['G', 'D'], 5);
    assert.deepEqual(Array.from(again.params.get('G.model1_1.1.weight')!.dataSync()), Array.from(result.params.get('G.model1_1.1.weight')!.dataSync()));
    disposeParams(g1);
    disposeParams(result.params);
    disposeParams(again.params);
  });
});
