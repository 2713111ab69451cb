/**
 * pix2pix's up-front training memory check (src/train/pix2pixMemory.ts):
 * what the lean step saves for a tiny configuration against a hand count;
 * the estimate against the wasm heap's measured tensor peak of one step
 * (HeapAccounting) at three small sizes, within 15%; and the wasm heap's
 * refusal (exit 2, one line naming the size) of what cannot fit, whose
 * suggestions fit when followed.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { heapAccounting, stopHeapAccounting } from '../../src/backend/index.js';
import { UsageError } from '../../src/errors.js';
import { pix2pixSavedStepFloats } from '../../src/families/pix2pix/activations.js';
import { resolvePix2pixConfig } from '../../src/families/pix2pix/config.js';
import { SeededDropout } from '../../src/families/pix2pix/dropout.js';
import { initPix2pixParams } from '../../src/families/pix2pix/init.js';
import { pix2pixSpecs } from '../../src/families/pix2pix/networks.js';
import { pix2pixStep } from '../../src/families/pix2pix/step.js';
import { isTrainable } from '../../src/model/layers.js';
import { disposeParams, toVariables } from '../../src/model/params.js';
import { Random } from '../../src/model/random.js';
import { checkPix2pixTrainingMemory, estimatePix2pixTrainingMemory } from '../../src/train/pix2pixMemory.js';
import { setUpBackend } from './helpers.js';

// resnet_6blocks, ngf 1, batch norm (convs without bias before a norm), no
// dropout; pixel D, ndf 1; one grey channel in and out; 4x4 samples.
const TINY = resolvePix2pixConfig({ netG: 'resnet_6blocks', netD: 'pixel', ngf: 1, ndf: 1, norm: 'batch', no_dropout: true, input_nc: 1, output_nc: 1 });

describe('pix2pix training memory estimate', () => {
  before(setUpBackend);

  it('counts what the lean step saves: by hand for a tiny G and D at 4x4', () => {
    // Rules (families/pix2pix/activations.ts): a conv unit saves its input
    // (once), batch norm (checkpointed) its input, a lone ReLU its input,
    // tanh its output, a residual block its input and its inner output.
    // G: unit [pad3, conv7] saves A 16; BN 16 -> 32; [relu, conv s2] 16 -> 48; BN at 2x2x2 8 -> 56;
    //    [relu, conv s2] 8 -> 64; BN at 1x1x4 4 -> 68; lone relu 4 -> 72;
    //    6 blocks at 1x1x4: input 4, BN 4, [relu, pad, conv] 4, BN 4, the sum's inner output 4 = 20 each -> 192;
    //    [convT] 4 -> 196; BN 8 -> 204; [relu, convT] 8 -> 212; BN 16 -> 228; [relu, pad3, conv7] 16 -> 244;
    //    tanh 16 -> 260; the L1 loss's difference and its absolute value 2 x 16 -> 292.
    // D (input 4x4x2): [conv] 32; [leaky, conv] 16 -> 48; BN at 4x4x2 32 -> 80; [leaky, conv] 32 -> 112.
    // Largest: G's padded 10x10 input, D's 4x4x2; the largest batch norm D's 4x4x2.
    // No conv has 16 output channels: no column buffers.
    assert.deepEqual(pix2pixSavedStepFloats(TINY, 4, 4), { G: 292, D: 112, largest: 100, largestG: 100, largestD: 32, columnsG: 0, columnsD: 0, largestNorm: 32 });
  });

  it('parameters, packed weights, gradients, activations and Adam: by hand for the same config', () => {
    // Parameters (a norm of C channels: weight, bias, running mean, running var: 4C, + num_batches_tracked):
    //   G 2256, D 16: 2272; trained 2134 (G 2123, D 11: conv 2->1 + bias 3, conv 1->2 2, norm 2 x 2, conv 2->1 2).
    // Convolution weights (XNNPACK packs a copy on wasm): 2012.
    // Activations per sample, the largest of: D's two passes and D's frontier 292 + 2 x 112 + 5 x 32 = 676;
    // D's third pass and a recomputed batch norm 292 + 112 + 7 x 32 = 628; G's frontier 292 + 112 + 3 x 100 = 704.
    const host = estimatePix2pixTrainingMemory(TINY, { height: 4, width: 4 }, 1, true, { packed: true });
    assert.deepEqual(
      { parameters: host.parameterBytes, packed: host.packedBytes, gradients: host.gradientBytes, activations: host.activationBytes, moments: host.momentBytes, host: host.hostBytes },
      { parameters: 4 * 2272, packed: 4 * 2012, gradients: 4 * 11, activations: 4 * 704, moments: 0, host: 12 * 2134 },
    );
    assert.equal(host.tensorBytes, 4 * 2272 + 4 * 11 + 4 * 704);
    assert.ok(Math.abs(host.totalBytes - 1.3 * (4 * 2272 + 4 * 2012 + 4 * 11 + 4 * 704)) < 1e-6);
    // On the device: no packed copies, the moments beside the weights, nothing on the host.
    const device = estimatePix2pixTrainingMemory(TINY, { height: 4, width: 4 }, 2, false);
    assert.equal(device.packedBytes, 0);
    assert.equal(device.momentBytes, 8 * 2134);
    assert.equal(device.hostBytes, 0);
    assert.equal(device.activationBytes, 2 * 4 * 704);
  });

  // The estimate against the heap's tensor high-water mark during one lean
  // step (every allocation the wasm backend makes, kernels' scratch included).
  const MEASURED = [
    ['unet_128 ngf 16 + basic D ndf 16, batch norm, dropout, 128x128', { netG: 'unet_128', netD: 'basic', ngf: 16, ndf: 16 }, 128, 128, 1],
    ['resnet_6blocks ngf 16 + pixel D, instance norm, dropout, 128x128, batch 2', { netG: 'resnet_6blocks', netD: 'pixel', norm: 'instance', ngf: 16, ndf: 16 }, 128, 128, 2],
    ['resnet_6blocks ngf 16 + basic D ndf 16, batch norm, no dropout, 128x96', { netG: 'resnet_6blocks', netD: 'basic', ngf: 16, ndf: 16, no_dropout: true }, 96, 128, 1],
  ] as const;
  for (const [title, overrides, height, width, count] of MEASURED) {
    it(`the estimate is within 15% of the measured peak: ${title}`, () => {
      const config = resolvePix2pixConfig({ ...overrides, input_nc: 3, output_nc: 3 });
      const specs = pix2pixSpecs(config);
      stopHeapAccounting();
      const accounting = heapAccounting();
      const params = initPix2pixParams(specs, config, 5);
      const variables = toVariables(params, specs);
      disposeParams(params);
      const trained = specs.filter(isTrainable);
      const image = (seed: number): tf.Tensor4D => tf.tensor4d(new Random(seed).fillNormal(new Float32Array(count * height * width * 3), 0, 0.5), [count, height, width, 3]);
      const [A, B] = [image(1), image(2)];
      try {
        // The step's peak, with the weights alive (not the copy toVariables made of them).
        accounting.resetPeak();
        pix2pixStep(
          { config, variables, keysG: trained.filter((spec) => spec.key.startsWith('G.')).map((spec) => spec.key), keysD: trained.filter((spec) => spec.key.startsWith('D.')).map((spec) => spec.key) },
          { A, B },
          { ganMode: 'vanilla', lambdaL1: 100 },
          { ...(config.no_dropout ? {} : { dropout: new SeededDropout(new Random(3)) }), updateD: () => {} },
        );
        const estimate = estimatePix2pixTrainingMemory(config, { height, width }, count, true);
        const estimated = estimate.tensorBytes + estimate.packedBytes;
        const ratio = estimated / accounting.peak;
        process.stdout.write(`# ${title}: estimated ${(estimated / 1e6).toFixed(1)} MB, measured ${(accounting.peak / 1e6).toFixed(1)} MB (${ratio.toFixed(3)}x)\n`);
        assert.ok(Math.abs(ratio - 1) <= 0.15, `estimate ${estimated} vs measured ${accounting.peak}`);
      } finally {
        stopHeapAccounting();
        tf.dispose([A, B]);
        disposeParams(variables);
      }
    });
  }

  it('refuses on wasm what cannot fit the 4 GiB heap, naming the size; every suggestion fits when followed', () => {
    const config = resolvePix2pixConfig({ netG: 'unet_256', netD: 'basic', ngf: 64, ndf: 64 });
    // The reference's defaults at 256x256 fit (measured: 0.36 GB of tensors), and so does resnet_9blocks (0.64 GB).
    assert.doesNotThrow(() => checkPix2pixTrainingMemory(config, { height: 256, width: 256 }, 1, 'wasm', true));
    assert.doesNotThrow(() => checkPix2pixTrainingMemory(resolvePix2pixConfig({ netG: 'resnet_9blocks' }), { height: 256, width: 256 }, 1, 'wasm', true));
    const heap = 4294901760;
    for (const [changed, size, batch] of [
      [config, { height: 2048, width: 2048 }, 4],
      [config, { height: 1024, width: 1024 }, 4],
      [resolvePix2pixConfig({ netG: 'resnet_9blocks', ngf: 128 }), { height: 768, width: 1024 }, 1],
      [resolvePix2pixConfig({ netG: 'resnet_9blocks' }), { height: 512, width: 512 }, 4],
    ] as const) {
      let error: unknown;
      try {
        checkPix2pixTrainingMemory(changed, size, batch, 'wasm', true);
      } catch (caught) {
        error = caught;
      }
      assert.ok(error instanceof UsageError, 'a usage error (exit 2)');
      assert.equal(error.exitCode, 2);
      assert.doesNotMatch(error.message, /\n/);
      assert.match(error.message, new RegExp(`needs about [\\d.]+ GiB of tensor memory per step at ${size.width}x${size.height}, batch ${batch}`));
      const suggestions = error.message.slice(error.message.indexOf('Try: ') + 5).split('; or ');
      let followed = 0;
      for (const suggestion of suggestions) {
        const samples = /^samples of (\d+)x(\d+)/.exec(suggestion);
        const flag = /^--(batch-size|ngf|ndf|net-g) (\w+)$/.exec(suggestion);
        let estimate;
        if (samples) estimate = estimatePix2pixTrainingMemory(changed, { width: Number(samples[1]), height: Number(samples[2]) }, batch, true);
        else if (flag?.[1] === 'batch-size') estimate = estimatePix2pixTrainingMemory(changed, size, Number(flag[2]), true);
        else if (flag?.[1] === 'net-g') estimate = estimatePix2pixTrainingMemory(resolvePix2pixConfig({ ...changed, netG: flag[2] }), size, batch, true);
        else if (flag) estimate = estimatePix2pixTrainingMemory(resolvePix2pixConfig({ ...changed, [flag[1]!]: Number(flag[2]) }), size, batch, true);
        else continue;
        followed++;
        assert.ok(estimate.totalBytes <= heap, `"${suggestion}" does not fit: ${estimate.totalBytes}`);
      }
      assert.ok(followed >= 1, `suggestions: ${error.message}`);
    }
    // The native binding has no such cap: the same configuration is not refused there.
    assert.doesNotThrow(() => checkPix2pixTrainingMemory(config, { height: 2048, width: 2048 }, 4, 'tensorflow', false));
  });
});
