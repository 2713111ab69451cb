/**
 * Parity with the PyTorch reference: every network's forward pass on the
 * golden inputs, with the golden weights loaded through the checkpoint
 * loading path, within 1e-4 relative L2 error. The golden configs give the
 * networks' input channels directly (input_nc); with instance boundaries on,
 * label_nc = input_nc - 1 reproduces them.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { avgPoolDownsample } from '../../src/backend/ops.js';
import { resolveConfig } from '../../src/families/pix2pixhd/config.js';
import { flatDiscriminatorKey } from '../../src/model/discriminator.js';
import { instanceSegments } from '../../src/families/pix2pixhd/encoder.js';
import { disposeParams, loadParams } from '../../src/model/params.js';
import {
  discriminate,
  discriminateImage,
  discriminatorCondition,
  encodeFeatures,
  encodeFeaturesRaw,
  generate,
  networkSpecs,
} from '../../src/families/pix2pixhd/networks.js';
import { goldenTensor, leakedTensors, nchwToNhwc, readGolden, relativeL2, setUpBackend } from './helpers.js';
import { onWebgpu } from '../support/webgpu.js';

const TOLERANCE = 1e-4;
const report = (name: string, error: number): void => {
  process.stdout.write(`# parity ${name}: relative L2 ${error.toExponential(2)}\n`);
};

/** The golden checks, on whichever backend `setUp` makes current. */
function goldenParity(setUp: () => Promise<void>): void {
  before(setUp);

  it('downsample (AvgPool 3/2/1, count_include_pad false) on an odd-sized input', async () => {
    const golden = await readGolden('downsample');
    const x = nchwToNhwc(goldenTensor(golden, 'x'));
    const y = avgPoolDownsample(x);
    const error = await relativeL2(y, goldenTensor(golden, 'y'));
    report('downsample', error);
    assert.ok(error <= TOLERANCE, `relative L2 ${error}`);
    tf.dispose([x, y]);
  });

  it('global generator G1', async () => {
    const golden = await readGolden('global_generator');
    const g = golden.config;
    const config = resolveConfig({
      label_nc: (g['input_nc'] as number) - 1,
      output_nc: g['output_nc'],
      ngf: g['ngf'],
      n_downsample_global: g['n_downsample_global'],
      n_blocks_global: g['n_blocks_global'],
      norm: g['norm'],
    });
    const { params, loaded } = loadParams(networkSpecs(config, 'G'), golden.tensors, { source: 'global_generator', mode: 'strict' });
    assert.equal(loaded.length, [...golden.tensors.keys()].filter((k) => k.startsWith('G.')).length);
    const input = nchwToNhwc(goldenTensor(golden, 'input'));
    const output = generate(config, params, input, { training: false });
    const error = await relativeL2(output, goldenTensor(golden, 'output'));
    report('global_generator', error);
    assert.ok(error <= TOLERANCE, `relative L2 ${error}`);
    assert.equal(leakedTensors(() => tf.tidy(() => { generate(config, params, input, { training: false }); })), 0);
    tf.dispose([input, output]);
    disposeParams(params);
  });

  it('local enhancer G2', async () => {
    const golden = await readGolden('local_enhancer');
    const g = golden.config;
    const config = resolveConfig({
      netG: 'local',
      label_nc: (g['input_nc'] as number) - 1,
      output_nc: g['output_nc'],
      ngf: g['ngf'],
      n_downsample_global: g['n_downsample_global'],
      n_blocks_global: g['n_blocks_global'],
      n_local_enhancers: g['n_local_enhancers'],
      n_blocks_local: g['n_blocks_local'],
      norm: g['norm'],
    });
    const { params, loaded } = loadParams(networkSpecs(config, 'G'), golden.tensors, { source: 'local_enhancer', mode: 'strict' });
    assert.equal(loaded.length, [...golden.tensors.keys()].filter((k) => k.startsWith('G.')).length);
    const input = nchwToNhwc(goldenTensor(golden, 'input'));
    const output = generate(config, params, input, { training: false });
    const error = await relativeL2(output, goldenTensor(golden, 'output'));
    report('local_enhancer', error);
    assert.ok(error <= TOLERANCE, `relative L2 ${error}`);
    assert.equal(leakedTensors(() => tf.tidy(() => { generate(config, params, input, { training: false }); })), 0);
    tf.dispose([input, output]);
    disposeParams(params);
  });

  it('encoder E, raw and instance-pooled', async () => {
    const golden = await readGolden('encoder');
    const g = golden.config;
    const config = resolveConfig({
      output_nc: g['input_nc'],
      feat_num: g['feat_num'],
      nef: g['nef'],
      n_downsample_E: g['n_downsample_E'],
      norm: g['norm'],
    });
    const { params } = loadParams(networkSpecs(config, 'E'), golden.tensors, { source: 'encoder', mode: 'strict' });
    const image = nchwToNhwc(goldenTensor(golden, 'image'));
    const inst = goldenTensor(golden, 'inst');
    const [n, , h, w] = inst.shape as [number, number, number, number];
    const segments = instanceSegments(inst.data as Int32Array, n, h, w);
    assert.ok(segments.pixelCounts.length > 1, 'the golden instance map has several instances');
    const raw = encodeFeaturesRaw(config, params, image, { training: false });
    const pooled = encodeFeatures(config, params, image, segments, { training: false });
    const rawError = await relativeL2(raw, goldenTensor(golden, 'raw'));
    const pooledError = await relativeL2(pooled, goldenTensor(golden, 'pooled'));
    report('encoder raw', rawError);
    report('encoder pooled', pooledError);
    assert.ok(rawError <= TOLERANCE, `raw: relative L2 ${rawError}`);
    assert.ok(pooledError <= TOLERANCE, `pooled: relative L2 ${pooledError}`);
    assert.equal(leakedTensors(() => tf.tidy(() => { encodeFeatures(config, params, image, segments, { training: false }); })), 0);
    tf.dispose([image, raw, pooled]);
    disposeParams(params);
  });

  it('multi-scale discriminator, every output of every scale', async () => {
    const golden = await readGolden('discriminator');
    const g = golden.config;
    // input_nc 9 = labels + edges (6) + image (3).
    const config = resolveConfig({
      label_nc: (g['input_nc'] as number) - 3 - 1,
      output_nc: 3,
      ndf: g['ndf'],
      n_layers_D: g['n_layers_D'],
      num_D: g['num_D'],
      norm: g['norm'],
    });
    const { params } = loadParams(networkSpecs(config, 'D'), golden.tensors, { source: 'discriminator', mode: 'strict' });
    const input = nchwToNhwc(goldenTensor(golden, 'input'));
    const outputs = discriminate(config, params, input, { training: false });
    assert.equal(outputs.length, config.num_D);
    for (let i = 0; i < outputs.length; i++) {
      assert.equal(outputs[i]!.length, config.n_layers_D + 2);
      for (let j = 0; j < outputs[i]!.length; j++) {
        const error = await relativeL2(outputs[i]![j]!, goldenTensor(golden, `output.${i}.${j}`));
        report(`discriminator output.${i}.${j}`, error);
        assert.ok(error <= TOLERANCE, `output.${i}.${j}: relative L2 ${error}`);
      }
    }
    assert.equal(leakedTensors(() => tf.tidy(() => { discriminate(config, params, input, { training: false }); })), 0);
    // Training's form: the condition's part of each first conv apart, then the image's added (same reference outputs).
    const conditionChannels = input.shape[3] - config.output_nc;
    const condition = tf.slice(input, [0, 0, 0, 0], [-1, -1, -1, conditionChannels]);
    const image = tf.slice(input, [0, 0, 0, conditionChannels], [-1, -1, -1, -1]);
    const terms = discriminatorCondition(config, params, condition);
    const split = discriminateImage(config, params, terms, image, { training: false });
    for (let i = 0; i < split.length; i++) {
      assert.equal(split[i]!.length, config.n_layers_D + 2);
      for (let j = 0; j < split[i]!.length; j++) {
        const error = await relativeL2(split[i]![j]!, goldenTensor(golden, `output.${i}.${j}`));
        assert.ok(error <= TOLERANCE, `split form, output.${i}.${j}: relative L2 ${error}`);
      }
    }
    tf.dispose([condition, image, ...terms, ...split.flat()]);
    // The same weights under the reference's flat naming (a D trained with --no_ganFeat_loss) load too.
    const flat = new Map([...golden.tensors].map(([key, tensor]) => [flatDiscriminatorKey(key) ?? key, tensor]));
    assert.ok(flat.has('D.layer1.8.weight'));
    const fromFlat = loadParams(networkSpecs(config, 'D'), flat, { source: 'flat', mode: 'strict' });
    assert.equal(fromFlat.renamed.length, fromFlat.loaded.length);
    assert.deepEqual(fromFlat.unused, []);
    const again = discriminate(config, fromFlat.params, input, { training: false });
    assert.ok(await relativeL2(again[1]![3]!, goldenTensor(golden, 'output.1.3')) <= TOLERANCE);
    tf.dispose([input, ...outputs.flat(), ...again.flat()]);
    disposeParams(params);
    disposeParams(fromFlat.params);
  });
}

describe('golden parity with the reference', () => goldenParity(setUpBackend));

onWebgpu('golden parity with the reference on webgpu', (setUp) => goldenParity(setUp));
