/**
 * Reading the reference's pix2pix files: architecture inference from
 * state_dict keys and shapes (the golden files hold the reference's own
 * state_dicts under G. / D.), legacy files without num_batches_tracked or
 * with InstanceNorm running statistics, and train_opt.txt as the
 * reference's print_options writes it.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { InputError } from '../../../src/errors.js';
import { makeTensor, type Tensor } from '../../../src/data/formats/safetensors.js';
import { inferPix2pixConfig, parsePix2pixOptTxt, pix2pixOptionsFromOpt } from '../../../src/families/pix2pix/reference.js';
import { goldenPix2pixConfig, readPix2pixGolden } from './helpers.js';

function networkTensors(tensors: ReadonlyMap<string, Tensor>): Map<string, Tensor> {
  return new Map([...tensors].filter(([key]) => key.startsWith('G.') || key.startsWith('D.')));
}

describe('pix2pix architecture inference from the reference\'s state_dicts', () => {
  for (const name of ['step_unet_256_basic', 'step_resnet_9blocks_pixel', 'step_unet_128_batch2']) {
    it(`${name}: G and D`, async () => {
      const golden = await readPix2pixGolden(name);
      const expected = goldenPix2pixConfig(golden);
      const { config, assumed } = inferPix2pixConfig(networkTensors(golden.tensors), name, {}, true);
      assert.deepEqual({ ...config, init_type: expected.init_type, init_gain: expected.init_gain }, expected);
      // A U-Net's dropout cannot be seen; a ResNet's shifts the block's layer numbers.
      assert.equal(assumed.length, expected.netG.startsWith('unet') ? 1 : 0);
    });
  }
  for (const name of ['g_unet_128_none', 'g_resnet_6blocks', 'g_resnet_9blocks']) {
    it(`${name}: norm and dropout told apart by the keys`, async () => {
      const golden = await readPix2pixGolden(name);
      const expected = goldenPix2pixConfig(golden);
      const { config } = inferPix2pixConfig(networkTensors(golden.tensors), name, expected.netG.startsWith('unet') ? { no_dropout: expected.no_dropout } : {});
      assert.equal(config.netG, expected.netG);
      assert.equal(config.norm, expected.norm);
      assert.equal(config.no_dropout, expected.no_dropout);
      assert.equal(config.ngf, expected.ngf);
      assert.equal(config.output_nc, expected.output_nc);
    });
  }
  it('a 2017-18 file: no num_batches_tracked; InstanceNorm running statistics (PyTorch < 0.4) are ignored', async () => {
    const golden = await readPix2pixGolden('step_unet_256_basic');
    const tensors = new Map([...networkTensors(golden.tensors)].filter(([key]) => !key.endsWith('num_batches_tracked')));
    assert.equal(inferPix2pixConfig(tensors, 'old', {}, true).config.norm, 'batch');
    const instance = await readPix2pixGolden('g_resnet_6blocks');
    const legacy = networkTensors(instance.tensors);
    legacy.set('G.model.2.running_mean', makeTensor('F32', [4], new Float32Array(4)));
    legacy.set('G.model.2.running_var', makeTensor('F32', [4], new Float32Array(4)));
    assert.equal(inferPix2pixConfig(legacy, 'legacy').config.norm, 'instance');
  });
  it('refuses a file that is no pix2pix generator, naming it', () => {
    const tensors = new Map([['G.model.1.weight', makeTensor('F32', [2, 3, 3, 3], new Float32Array(54))]]);
    assert.throws(() => inferPix2pixConfig(tensors, 'x.pth'), (e: unknown) => e instanceof InputError && /^x\.pth: its tensors fit no pix2pix generator/.test(e.message));
    assert.throws(() => inferPix2pixConfig(new Map(), 'y.pth'), (e: unknown) => e instanceof InputError && e.message.startsWith('y.pth: has neither'));
  });
});

describe('train_opt.txt', () => {
  const text = [
    '----------------- Options ---------------',
    '               batch_size: 1                             ',
    '                direction: BtoA                          \t[default: AtoB]',
    '                 gan_mode: vanilla                       ',
    '                init_gain: 0.02                          ',
    '                 input_nc: 3                             ',
    '                    model: pix2pix                       \t[default: cycle_gan]',
    '                     netD: basic                         ',
    '                     netG: unet_256                      \t[default: resnet_9blocks]',
    '                      ngf: 64                            ',
    '               no_dropout: False                         ',
    '                     norm: batch                         \t[default: instance]',
    '                output_nc: 3                             ',
    '----------------- End -------------------',
  ].join('\n');
  it('reads the architecture and --direction, ignoring the [default: ...] comments', () => {
    const options = pix2pixOptionsFromOpt(parsePix2pixOptTxt(text, 'train_opt.txt'), 'train_opt.txt');
    assert.equal(options.direction, 'BtoA');
    assert.equal(options.config.netG, 'unet_256');
    assert.equal(options.config.norm, 'batch');
    assert.equal(options.config.no_dropout, false);
    assert.deepEqual(options.notes, []);
  });
  it('refuses a bad value naming the file and the option', () => {
    assert.throws(() => pix2pixOptionsFromOpt(parsePix2pixOptTxt(text.replace('unet_256', 'unet_512'), 'o.txt'), 'o.txt'), (e: unknown) => e instanceof InputError && /^o\.txt: .*netG/.test(e.message));
    assert.throws(() => parsePix2pixOptTxt('hello', 'h.txt'), /h\.txt: line 1/);
  });
});
