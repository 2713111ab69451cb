/**
 * pix2pix's networks against the reference's own (scripts/reference_pix2pix.py):
 * state_dict keys and shapes (strict load, nothing left over), forward passes
 * in eval mode (running statistics) and train mode (batch statistics, the
 * reference's dropout masks), running statistics after the train-mode pass,
 * and parameter counts of the reference's full-size networks.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { UsageError } from '../../../src/errors.js';
import { countParameters } from '../../../src/model/layers.js';
import { disposeParams, loadParams, toVariables } from '../../../src/model/params.js';
import { resolvePix2pixConfig } from '../../../src/families/pix2pix/config.js';
import { pix2pixDiscriminate, pix2pixGenerate, pix2pixSpecs, type Pix2pixNetwork } from '../../../src/families/pix2pix/networks.js';
import { GoldenDropout, goldenPix2pixConfig, goldenTensor, imageOf, numbersOf, readPix2pixGolden, relativeL2, setUpBackend, strided } from './helpers.js';

before(setUpBackend);

const TOLERANCE = 1e-4;

async function checkNetwork(name: string, network: Pix2pixNetwork): Promise<void> {
  const golden = await readPix2pixGolden(name);
  const config = goldenPix2pixConfig(golden);
  const specs = pix2pixSpecs(config, [network]);
  const stored = [...golden.tensors.keys()].filter((key) => key.startsWith(`${network}.`));
  assert.deepEqual(specs.map((spec) => spec.key).sort(), stored.sort(), 'state_dict keys');
  const { params, unused } = loadParams(specs, golden.tensors, { source: name, mode: 'strict' });
  assert.deepEqual(unused, []);
  const stride = Number(golden.metadata['output_stride'] ?? '1');
  const input = imageOf(goldenTensor(golden, 'input_u8'));
  const forward = network === 'G' ? pix2pixGenerate : pix2pixDiscriminate;
  try {
    const evalOutput = forward(config, params, input, { training: false });
    const evalStrided = strided(evalOutput, stride);
    const evalError = await relativeL2(evalStrided, goldenTensor(golden, 'output.eval'));
    tf.dispose([evalOutput, evalStrided]);
    assert.ok(evalError < TOLERANCE, `eval-mode output: relative L2 error ${evalError}`);

    const variables = toVariables(params, specs);
    const dropout = new GoldenDropout(golden);
    const trainOutput = forward(config, variables, input, { training: true, dropout });
    const trainStrided = strided(trainOutput, stride);
    const trainError = await relativeL2(trainStrided, goldenTensor(golden, 'output.train'));
    tf.dispose([trainOutput, trainStrided]);
    assert.equal(dropout.used, dropout.available, 'dropout masks used');
    assert.ok(trainError < TOLERANCE, `train-mode output: relative L2 error ${trainError}`);
    for (const spec of specs) {
      const expected = golden.tensors.get(`after.${spec.key}`);
      if (expected === undefined) continue;
      const ours = Array.from(variables.get(spec.key)!.dataSync() as ArrayLike<number>);
      const reference = numbersOf(expected);
      if (spec.role === 'numBatchesTracked') {
        assert.deepEqual(ours, reference, spec.key);
      } else {
        ours.forEach((value, i) => assert.ok(Math.abs(value - reference[i]!) <= 1e-5 * Math.max(1, Math.abs(reference[i]!)), `${spec.key}[${i}]: ${value} vs ${reference[i]}`));
      }
    }
    disposeParams(variables);
  } finally {
    input.dispose();
    disposeParams(params);
  }
}

describe('pix2pix generators against the reference', () => {
  for (const name of ['g_unet_128', 'g_unet_256', 'g_resnet_6blocks', 'g_resnet_9blocks', 'g_unet_128_none']) {
    it(name, () => checkNetwork(name, 'G'));
  }
});

describe('pix2pix discriminators against the reference', () => {
  // A golden D's input channels are input_nc + output_nc: the split does not matter to D.
  for (const name of ['d_basic', 'd_n_layers_2', 'd_n_layers_4', 'd_pixel', 'd_pixel_instance']) {
    it(name, async () => {
      const golden = await readPix2pixGolden(name);
      const channels = golden.config['input_channels'] as number;
      golden.config['input_nc'] = Math.ceil(channels / 2);
      golden.config['output_nc'] = Math.floor(channels / 2);
      await checkNetworkWith(golden, name);
    });
  }
});

async function checkNetworkWith(golden: Awaited<ReturnType<typeof readPix2pixGolden>>, name: string): Promise<void> {
  const config = goldenPix2pixConfig(golden);
  const specs = pix2pixSpecs(config, ['D']);
  const stored = [...golden.tensors.keys()].filter((key) => key.startsWith('D.'));
  assert.deepEqual(specs.map((spec) => spec.key).sort(), stored.sort(), `${name}: state_dict keys`);
  const { params } = loadParams(specs, golden.tensors, { source: name, mode: 'strict' });
  const input = imageOf(goldenTensor(golden, 'input_u8'));
  try {
    const evalOutput = pix2pixDiscriminate(config, params, input, { training: false });
    const evalError = await relativeL2(evalOutput, goldenTensor(golden, 'output.eval'));
    evalOutput.dispose();
    assert.ok(evalError < TOLERANCE, `eval-mode output: relative L2 error ${evalError}`);
    const variables = toVariables(params, specs);
    const trainOutput = pix2pixDiscriminate(config, variables, input, { training: true });
    const trainError = await relativeL2(trainOutput, goldenTensor(golden, 'output.train'));
    trainOutput.dispose();
    assert.ok(trainError < TOLERANCE, `train-mode output: relative L2 error ${trainError}`);
    for (const spec of specs) {
      const expected = golden.tensors.get(`after.${spec.key}`);
      if (expected === undefined) continue;
      const ours = Array.from(variables.get(spec.key)!.dataSync() as ArrayLike<number>);
      const reference = numbersOf(expected);
      ours.forEach((value, i) => assert.ok(Math.abs(value - reference[i]!) <= 1e-5 * Math.max(1, Math.abs(reference[i]!)), `${spec.key}[${i}]: ${value} vs ${reference[i]}`));
    }
    disposeParams(variables);
  } finally {
    input.dispose();
    disposeParams(params);
  }
}

describe('parameter counts of the reference networks (ngf = ndf = 64, 3 + 3 channels)', () => {
  // Printed by the reference's define_G / define_D (sum of numel over parameters()).
  const cases: Array<[Record<string, unknown>, 'G' | 'D', number]> = [
    [{ netG: 'unet_256', norm: 'batch' }, 'G', 54_413_955],
    [{ netG: 'unet_256', norm: 'instance' }, 'G', 54_409_603],
    [{ netG: 'unet_256', norm: 'none' }, 'G', 54_404_099],
    [{ netG: 'unet_128', norm: 'batch' }, 'G', 41_828_995],
    [{ netG: 'resnet_9blocks', norm: 'batch' }, 'G', 11_383_427],
    [{ netG: 'resnet_9blocks', norm: 'instance' }, 'G', 11_378_179],
    [{ netG: 'resnet_6blocks', norm: 'none' }, 'G', 7_833_987],
    [{ netD: 'basic', norm: 'batch' }, 'D', 2_768_705],
    [{ netD: 'pixel', norm: 'batch' }, 'D', 9_024],
    [{ netD: 'n_layers', n_layers_D: 5, norm: 'instance' }, 'D', 11_157_441],
  ];
  for (const [overrides, network, expected] of cases) {
    it(`${network} ${JSON.stringify(overrides)}: ${expected}`, () => {
      assert.equal(countParameters(pix2pixSpecs(resolvePix2pixConfig(overrides), [network])), expected);
    });
  }
  it('state_dict entry counts: unet_256 batch 82, resnet_9blocks instance 48, basic D 22', () => {
    assert.equal(pix2pixSpecs(resolvePix2pixConfig({}), ['G']).length, 82);
    assert.equal(pix2pixSpecs(resolvePix2pixConfig({ netG: 'resnet_9blocks', norm: 'instance' }), ['G']).length, 48);
    assert.equal(pix2pixSpecs(resolvePix2pixConfig({}), ['D']).length, 22);
  });
});

describe('pix2pix config validation', () => {
  it('refuses unknown options, bad choices and out-of-range values with the option named', () => {
    assert.throws(() => resolvePix2pixConfig({ netG: 'unet_512' }), (e: unknown) => e instanceof UsageError && /netG must be one of unet_256/.test(e.message));
    assert.throws(() => resolvePix2pixConfig({ ngf: 0 }), /ngf must be an integer from 1 to 512/);
    assert.throws(() => resolvePix2pixConfig({ init_gain: -1 }), /init_gain/);
    assert.throws(() => resolvePix2pixConfig({ lambda_L1: 5 }), /unknown pix2pix architecture option "lambda_L1"/);
    assert.throws(() => resolvePix2pixConfig({ no_dropout: 'yes' }), /no_dropout must be true or false/);
  });
});

after(() => {});
