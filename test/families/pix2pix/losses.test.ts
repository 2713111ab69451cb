/**
 * pix2pix's GAN losses (vanilla = BCEWithLogitsLoss, lsgan = MSELoss, wgangp
 * = plain WGAN means) and L1 against the reference's GANLoss / L1Loss
 * (scripts/reference_pix2pix.py): values and gradients.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { l1Loss } from '../../../src/model/losses.js';
import { pix2pixGanLoss, PIX2PIX_GAN_MODES, type Pix2pixGanMode } from '../../../src/families/pix2pix/losses.js';
import { goldenTensor, numbersOf, readPix2pixGolden, setUpBackend } from './helpers.js';

before(setUpBackend);

function close(ours: number, reference: number, what: string): void {
  assert.ok(Math.abs(ours - reference) <= 1e-5 * Math.max(1, Math.abs(reference)), `${what}: ${ours} vs ${reference}`);
}

describe('pix2pix GAN losses against the reference', () => {
  for (const mode of Object.keys(PIX2PIX_GAN_MODES) as Pix2pixGanMode[]) {
    for (const real of [true, false]) {
      it(`${mode}, target ${real ? 'real' : 'fake'}: value and gradient`, async () => {
        const golden = await readPix2pixGolden('losses');
        const prediction = goldenTensor(golden, 'prediction');
        // [3, 1, 6, 6]: one channel, so NCHW and NHWC hold the same order.
        const x = tf.tensor4d(prediction.data as Float32Array, [3, 6, 6, 1]);
        const suffix = `${mode}.${real ? 'real' : 'fake'}`;
        const { value, grads } = tf.valueAndGrads((input: tf.Tensor) => pix2pixGanLoss(input, real, mode))([x]);
        close(value.dataSync()[0]!, numbersOf(goldenTensor(golden, `loss.${suffix}`))[0]!, 'loss');
        const expected = numbersOf(goldenTensor(golden, `grad.${suffix}`));
        Array.from(grads[0]!.dataSync()).forEach((g, i) => close(g, expected[i]!, `gradient[${i}]`));
        tf.dispose([x, value, ...grads]);
      });
    }
  }
  it('L1', async () => {
    const golden = await readPix2pixGolden('losses');
    const a = tf.tensor(goldenTensor(golden, 'l1.a').data as Float32Array);
    const b = tf.tensor(goldenTensor(golden, 'l1.b').data as Float32Array);
    const loss = l1Loss(a, b);
    close(loss.dataSync()[0]!, numbersOf(goldenTensor(golden, 'l1.loss'))[0]!, 'L1');
    tf.dispose([a, b, loss]);
  });
});
