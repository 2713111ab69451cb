/**
 * pix2pix's up-front training memory check (src/train/pix2pixMemory.ts):
 * the estimate for a tiny configuration against a hand count, and the
 * wasm heap's refusal (exit 2, one line naming the size and the flags that
 * would shrink it) of what cannot fit.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { UsageError } from '../../src/errors.js';
import { resolvePix2pixConfig } from '../../src/families/pix2pix/config.js';
import { checkPix2pixTrainingMemory, estimatePix2pixTrainingMemory, pix2pixActivationFloats } from '../../src/train/pix2pixMemory.js';

// resnet_6blocks, ngf 1, batch norm (convs without bias before a norm), no
// dropout; pixel D, ndf 1; one grey channel in and out; 4x4 samples.
const TINY = resolvePix2pixConfig({ netG: 'resnet_6blocks', netD: 'pixel', ngf: 1, ndf: 1, norm: 'batch', no_dropout: true, input_nc: 1, output_nc: 1 });

describe('pix2pix training memory estimate', () => {
  it('counts layer outputs as the walk does: by hand for a tiny G and D at 4x4', () => {
    // Convention (families/pix2pixhd/activations.ts): the input counts once;
    // conv/convTranspose/norm outputs twice, other layers once; a resnet
    // block counts its inner layers, not its sum.
    // G: input 16; pad3 10x10 = 100; conv7 4x4x1: 32; norm 32; relu 16 -> 196
    //    down conv 2x2x2: 16, norm 16, relu 8 -> 236; down conv 1x1x4: 8, norm 8, relu 4 -> 256
    //    6 blocks at 1x1x4: (pad 3x3x4 = 36, conv 8, norm 8, relu 4, pad 36, conv 8, norm 8) = 108 each -> 904
    //    up 2x2x2: 16, 16, 8 -> 944; up 4x4x1: 32, 32, 16 -> 1024; pad3 100, conv7 32, tanh 16 -> 1172
    // D (input 4x4x2 = 32): conv 1x1 -> 4x4x1: 32; leaky 16; conv -> 4x4x2: 64; norm 64; leaky 32; conv -> 4x4x1: 32 -> 272
    const floats = pix2pixActivationFloats(TINY, 4, 4);
    assert.equal(floats.G, 1172);
    assert.equal(floats.D, 272);
  });

  it('parameters, packed weights, gradients, activations and Adam: by hand for the same config', () => {
    // G parameters (a norm of C channels: weight, bias, running mean, running var: 4C, + num_batches_tracked):
    //   conv7 49 + norm1 5; conv 1->2 18 + norm2 9; conv 2->4 72 + norm4 17;
    //   6 blocks x 2 x (conv 4->4 144 + norm4 17) = 1932; convT 4->2 72 + norm2 9; convT 2->1 18 + norm1 5;
    //   conv7 with bias 50 -> 2256.  D: conv 2->1 + bias 3, conv 1->2 2, norm2 9, conv 2->1 2 -> 16.  All 2272.
    // Not trained: per norm 2C + 1; G's 17 norms over 58 channels -> 133, D's one norm -> 5: trained 2134.
    // Convolution weights (XNNPACK packs a copy on wasm): G 49+18+72+1728+72+18+49 = 2006, D 6 -> 2012.
    // Activations: 4 bytes x batch 1 x factor 3 x (1172 + 3 x 272) = 23856.
    const host = estimatePix2pixTrainingMemory(TINY, { height: 4, width: 4 }, 1, true);
    assert.deepEqual(
      { parameters: host.parameterBytes, packed: host.packedBytes, gradients: host.gradientBytes, activations: host.activationBytes, moments: host.momentBytes, host: host.hostBytes },
      { parameters: 4 * 2272, packed: 4 * 2012, gradients: 4 * 2134, activations: 23856, moments: 0, host: 12 * 2134 },
    );
    assert.ok(Math.abs(host.totalBytes - 1.2 * (4 * 2272 + 4 * 2012 + 4 * 2134 + 23856)) < 1e-6);
    // On the device: no packed copies, the moments beside the weights, nothing on the host.
    const device = estimatePix2pixTrainingMemory(TINY, { height: 4, width: 4 }, 2, false);
    assert.equal(device.packedBytes, 0);
    assert.equal(device.momentBytes, 8 * 2134);
    assert.equal(device.hostBytes, 0);
    assert.equal(device.activationBytes, 2 * 23856);
  });

  it('refuses on wasm what cannot fit the 4 GiB heap, naming the size and the flags that shrink it', () => {
    const config = resolvePix2pixConfig({ netG: 'unet_256', netD: 'basic', ngf: 64, ndf: 64 });
    // The reference's defaults at 256x256 fit (measured: 1.15 GiB), and so does
    // resnet_9blocks (measured: 2.86 GiB).
    assert.doesNotThrow(() => checkPix2pixTrainingMemory(config, { height: 256, width: 256 }, 1, 'wasm', true));
    assert.doesNotThrow(() => checkPix2pixTrainingMemory(resolvePix2pixConfig({ netG: 'resnet_9blocks' }), { height: 256, width: 256 }, 1, 'wasm', true));
    let error: unknown;
    try {
      checkPix2pixTrainingMemory(config, { height: 2048, width: 2048 }, 4, 'wasm', true);
    } catch (caught) {
      error = caught;
    }
    assert.ok(error instanceof UsageError, 'a usage error (exit 2)');
    assert.equal(error.exitCode, 2);
    assert.doesNotMatch(error.message, /\n/);
    assert.match(error.message, /needs about [\d.]+ GiB of tensor memory per step at 2048x2048, batch 4/);
    assert.match(error.message, /--batch-size 1/);
    assert.match(error.message, /--ngf 32/);
    assert.match(error.message, /--crop-size/);
    // The native binding has no such cap: the same configuration is not refused there.
    assert.doesNotThrow(() => checkPix2pixTrainingMemory(config, { height: 2048, width: 2048 }, 4, 'tensorflow', false));
  });
});
