/**
 * The VGG19 perceptual loss: weights from a torchvision-style
 * `features.N.*` map (random here: the real ones are user-supplied),
 * the five relu taps, the loss's weighting, its gradient, no leaks.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { InputError } from '../../src/errors.js';
import { makeTensor, type Tensor } from '../../src/data/formats/safetensors.js';
import { disposeVgg19, l1Loss, loadVgg19, vgg19Features, vgg19TensorNames, vggLoss, VGG_LAYER_WEIGHTS } from '../../src/model/losses.js';
import { Random } from '../../src/model/random.js';
import { leakedTensors, setUpBackend } from './helpers.js';

/** torchvision vgg19().features shapes, enumerated from its published layer list. */
const CONVS: Array<[number, number, number]> = [
  [0, 3, 64], [2, 64, 64], [5, 64, 128], [7, 128, 128], [10, 128, 256], [12, 256, 256], [14, 256, 256], [16, 256, 256],
  [19, 256, 512], [21, 512, 512], [23, 512, 512], [25, 512, 512], [28, 512, 512],
];

function randomVggTensors(): Map<string, Tensor> {
  const random = new Random(9);
  const tensors = new Map<string, Tensor>();
  for (const [index, inChannels, outChannels] of CONVS) {
    const std = Math.sqrt(2 / (inChannels * 9)); // He init keeps activations alive through 13 layers
    tensors.set(`features.${index}.weight`, makeTensor('F32', [outChannels, inChannels, 3, 3], random.fillNormal(new Float32Array(outChannels * inChannels * 9), 0, std)));
    tensors.set(`features.${index}.bias`, makeTensor('F32', [outChannels], random.fillUniform(new Float32Array(outChannels), -0.01, 0.01)));
  }
  return tensors;
}

describe('VGG19 perceptual loss', () => {
  before(setUpBackend);

  it('needs exactly the conv tensors of features 0..28', () => {
    assert.deepEqual(vgg19TensorNames(), CONVS.flatMap(([i]) => [`features.${i}.weight`, `features.${i}.bias`]));
  });

  it('a missing or misshapen tensor is exit 3 naming it', () => {
    const tensors = randomVggTensors();
    tensors.delete('features.21.bias');
    const before = tf.memory().numTensors;
    assert.throws(() => loadVgg19(tensors, 'vgg.safetensors'), (e: unknown) => e instanceof InputError && /vgg\.safetensors: has no tensor "features\.21\.bias"/.test(e.message));
    assert.equal(tf.memory().numTensors, before);
    tensors.set('features.21.bias', makeTensor('F32', [256], new Float32Array(256)));
    assert.throws(() => loadVgg19(tensors, 'vgg.safetensors'), /"features\.21\.bias" is F32 \[256\], expected F32 \[512\]/);
  });

  it('taps relu1_1..relu5_1; loss = lambda * sum w_i L1; gradient reaches the fake only', () => {
    const vgg = loadVgg19(randomVggTensors(), 'random');
    const fake = tf.randomUniform([1, 32, 48, 3], -1, 1) as tf.Tensor4D;
    const real = tf.randomUniform([1, 32, 48, 3], -1, 1) as tf.Tensor4D;
    const features = vgg19Features(vgg, fake);
    assert.deepEqual(features.map((f) => f.shape), [[1, 32, 48, 64], [1, 16, 24, 128], [1, 8, 12, 256], [1, 4, 6, 512], [1, 2, 3, 512]]);
    // relu1_1 by hand: conv 3x3 padding 1 with the first weights.
    const firstLayer = tf.tidy(() => {
      const w = tf.transpose(tf.tensor4d(randomVggTensors().get('features.0.weight')!.data as Float32Array, [64, 3, 3, 3]), [2, 3, 1, 0]) as tf.Tensor4D;
      const b = tf.tensor1d(randomVggTensors().get('features.0.bias')!.data as Float32Array);
      return tf.relu(tf.add(tf.conv2d(fake, w, 1, 'same'), b));
    });
    assert.ok(tf.tidy(() => tf.max(tf.abs(tf.sub(firstLayer, features[0]!))).dataSync()[0]!) < 1e-5);

    const loss = vggLoss(vgg, fake, real, 10).dataSync()[0]!;
    const realFeatures = vgg19Features(vgg, real);
    const expected = 10 * features.reduce((sum, f, i) => sum + VGG_LAYER_WEIGHTS[i]! * tf.tidy(() => l1Loss(f, realFeatures[i]!).dataSync()[0]!), 0);
    assert.ok(Math.abs(loss - expected) / expected < 1e-5, `${loss} vs ${expected}`);

    const leaked = leakedTensors(() => {
      const gFake = tf.grad((a: tf.Tensor) => vggLoss(vgg, a as tf.Tensor4D, real, 10))(fake);
      assert.ok(tf.tidy(() => tf.sum(tf.abs(gFake)).dataSync()[0]!) > 0);
      gFake.dispose();
    });
    assert.equal(leaked, 0);
    // The real image is detached: no gradient path reaches it at all (not even a zero one).
    assert.throws(() => tf.grad((b: tf.Tensor) => vggLoss(vgg, fake, b as tf.Tensor4D, 10))(real), /Cannot compute gradient/);
    tf.dispose([fake, real, firstLayer, ...features, ...realFeatures]);
    disposeVgg19(vgg);
  });
});
