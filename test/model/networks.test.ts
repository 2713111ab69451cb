/**
 * Architecture bookkeeping against the reference: parameter counts of its
 * default configurations (counted from shapes, nothing allocated), state_dict
 * key names, config validation.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { UsageError } from '../../src/errors.js';
import { DEFAULT_CONFIG, discriminatorInputChannels, generatorInputChannels, resolveConfig } from '../../src/families/pix2pixhd/config.js';
import { countParameters } from '../../src/model/layers.js';
import { networkSpecs } from '../../src/families/pix2pixhd/networks.js';
import { flatDiscriminatorKey } from '../../src/model/discriminator.js';
import { referenceShape } from '../../src/model/params.js';

const count = (overrides: Record<string, unknown>, network: 'G' | 'D' | 'E'): number =>
  countParameters(networkSpecs(resolveConfig(overrides), network));

describe('parameter counts of the reference defaults', () => {
  it('G1, 36 input channels (label_nc 35 + instance), ngf 64, 4 downsamplings, 9 blocks', () => {
    assert.equal(generatorInputChannels(DEFAULT_CONFIG), 36);
    assert.equal(count({}, 'G'), 182_546_755);
  });
  it('G1 with instance features (39 input channels)', () => {
    assert.equal(generatorInputChannels(resolveConfig({ instance_feat: true })), 39);
    assert.equal(count({ instance_feat: true }, 'G'), 182_556_163);
  });
  it('local enhancer, ngf 32, 36 input channels', () => {
    assert.equal(count({ netG: 'local', ngf: 32 }, 'G'), 182_857_059);
  });
  it('D on 39 channels, 2 and 3 scales', () => {
    assert.equal(discriminatorInputChannels(DEFAULT_CONFIG), 39);
    assert.equal(count({}, 'D'), 5_603_202);
    assert.equal(count({ num_D: 3 }, 'D'), 8_404_803);
  });
  it('E, nef 16', () => {
    assert.equal(count({}, 'E'), 788_803);
  });
});

/** The reference's LocalEnhancer state_dict keys, enumerated independently of src/model (instance norm: convs only). */
function referenceLocalEnhancerKeys(nDown: number, nBlocksGlobal: number, nEnhancers: number, nBlocksLocal: number): string[] {
  const keys: string[] = [];
  const conv = (prefix: string): void => void keys.push(`${prefix}.weight`, `${prefix}.bias`);
  // GlobalGenerator.model minus its last 3 layers: pad 0, conv 1, norm 2, relu 3, then 3 layers per step.
  conv('G.model.1');
  let index = 4;
  for (let i = 0; i < nDown; i++, index += 3) conv(`G.model.${index}`);
  for (let i = 0; i < nBlocksGlobal; i++, index += 1) {
    conv(`G.model.${index}.conv_block.1`);
    conv(`G.model.${index}.conv_block.5`);
  }
  for (let i = 0; i < nDown; i++, index += 3) conv(`G.model.${index}`);
  for (let n = 1; n <= nEnhancers; n++) {
    conv(`G.model${n}_1.1`);
    conv(`G.model${n}_1.4`);
    for (let i = 0; i < nBlocksLocal; i++) {
      conv(`G.model${n}_2.${i}.conv_block.1`);
      conv(`G.model${n}_2.${i}.conv_block.5`);
    }
    conv(`G.model${n}_2.${nBlocksLocal}`);
    if (n === nEnhancers) conv(`G.model${n}_2.${nBlocksLocal + 4}`);
  }
  return keys;
}

describe('state_dict key names', () => {
  it('local enhancer (default, and with 2 enhancers) matches the reference pattern', () => {
    const defaults = networkSpecs(resolveConfig({ netG: 'local', ngf: 32 }), 'G').map((s) => s.key);
    assert.deepEqual(defaults, referenceLocalEnhancerKeys(4, 9, 1, 3));
    assert.ok(defaults.includes('G.model1_2.0.conv_block.1.weight'));
    // model: conv 1, downsampling 4..13, blocks 16..24, transposed 25..34; G1's output conv (38) is gone.
    assert.ok(defaults.includes('G.model.34.weight') && !defaults.includes('G.model.38.weight'));
    const two = networkSpecs(resolveConfig({ netG: 'local', ngf: 16, n_local_enhancers: 2, n_downsample_global: 3, n_blocks_global: 2, n_blocks_local: 1 }), 'G');
    assert.deepEqual(two.map((s) => s.key), referenceLocalEnhancerKeys(3, 2, 2, 1));
    // Enhancer 1 (coarser) has 2 * 16 channels, enhancer 2 has 16; the global part 4 * 16.
    const shapes = new Map(two.map((s) => [s.key, referenceShape(s)]));
    assert.deepEqual(shapes.get('G.model.1.weight'), [64, 36, 7, 7]);
    assert.deepEqual(shapes.get('G.model1_1.1.weight'), [32, 36, 7, 7]);
    assert.deepEqual(shapes.get('G.model2_1.4.weight'), [32, 16, 3, 3]);
    assert.deepEqual(shapes.get('G.model2_2.1.weight'), [32, 16, 3, 3]); // transposed: [in, out, kh, kw]
    assert.deepEqual(shapes.get('G.model2_2.5.weight'), [3, 16, 7, 7]);
  });

  it('3-scale D with batch norm: scale{s}_layer{j}, norm buffers included, channels capped at 512', () => {
    const specs = networkSpecs(resolveConfig({ num_D: 3, norm: 'batch', n_layers_D: 5 }), 'D');
    const keys = specs.map((s) => s.key);
    const expected: string[] = [];
    for (let s = 0; s < 3; s++) {
      for (let j = 0; j < 7; j++) {
        expected.push(`D.scale${s}_layer${j}.0.weight`, `D.scale${s}_layer${j}.0.bias`);
        if (j >= 1 && j <= 5) {
          for (const b of ['weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked']) expected.push(`D.scale${s}_layer${j}.1.${b}`);
        }
      }
    }
    assert.deepEqual(keys, expected);
    const shapes = new Map(specs.map((s) => [s.key, referenceShape(s)]));
    assert.deepEqual(shapes.get('D.scale2_layer4.0.weight'), [512, 512, 4, 4]);
    assert.deepEqual(shapes.get('D.scale2_layer5.0.weight'), [512, 512, 4, 4]);
    assert.deepEqual(shapes.get('D.scale2_layer6.0.weight'), [1, 512, 4, 4]);
    assert.deepEqual(shapes.get('D.scale0_layer1.1.num_batches_tracked'), []);
  });

  it("D saved by the reference without intermediate features (flat nn.Sequential per scale) maps to ours", () => {
    // n_layers_D 3: [conv, lrelu], [conv, norm, lrelu] x 3, [conv] -> flat indices 0, 2/3, 5/6, 8/9, 11.
    assert.equal(flatDiscriminatorKey('D.scale0_layer0.0.weight'), 'D.layer0.0.weight');
    assert.equal(flatDiscriminatorKey('D.scale1_layer1.1.running_var'), 'D.layer1.3.running_var');
    assert.equal(flatDiscriminatorKey('D.scale1_layer3.0.bias'), 'D.layer1.8.bias');
    assert.equal(flatDiscriminatorKey('D.scale2_layer4.0.weight'), 'D.layer2.11.weight');
    assert.equal(flatDiscriminatorKey('G.model.1.weight'), null);
  });

  it('G1 with batch norm names its norms as the reference (model.2, conv_block.2 and .6)', () => {
    const keys = networkSpecs(resolveConfig({ norm: 'batch', n_downsample_global: 1, n_blocks_global: 1 }), 'G').map((s) => s.key);
    for (const key of ['G.model.2.running_var', 'G.model.5.weight', 'G.model.7.conv_block.2.bias', 'G.model.7.conv_block.6.running_mean', 'G.model.9.num_batches_tracked', 'G.model.12.weight']) {
      assert.ok(keys.includes(key), key);
    }
  });
});

describe('architecture config', () => {
  it('defaults are the reference options and frozen', () => {
    const config = resolveConfig();
    assert.equal(config.ngf, 64);
    assert.equal(config.netG, 'global');
    assert.ok(Object.isFrozen(config));
  });
  it('bad values name the value and list what is allowed', () => {
    assert.throws(() => resolveConfig({ norm: 'group' }), (e: unknown) => e instanceof UsageError && /norm.*instance, batch.*"group"/.test(e.message));
    assert.throws(() => resolveConfig({ netG: 'encoder' }), (e: unknown) => e instanceof UsageError && /global, local/.test(e.message));
    assert.throws(() => resolveConfig({ ngf: 0 }), (e: unknown) => e instanceof UsageError && /ngf must be an integer from 1 to 1024, got 0/.test(e.message));
    assert.throws(() => resolveConfig({ n_blocks_global: 1e9 }), (e: unknown) => e instanceof UsageError && /n_blocks_global must be an integer from 0 to 256, got 1000000000/.test(e.message));
    assert.throws(() => resolveConfig({ num_D: 1.5 }), /num_D/);
    assert.throws(() => resolveConfig({ instance: 'yes' }), /instance must be true or false/);
    assert.throws(() => resolveConfig({ n_layers: 3 }), /unknown architecture option "n_layers"/);
  });
});
