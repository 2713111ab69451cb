/**
 * pix2pix's losses, as the reference's GANLoss and L1Loss compute them. D
 * has no sigmoid: vanilla takes BCEWithLogitsLoss on its logits. All return
 * differentiable scalars (means over every element).
 */
import * as tf from '@tensorflow/tfjs-core';

/** --gan-mode, as the reference's. */
export const PIX2PIX_GAN_MODES = Object.freeze({
  vanilla: 'binary cross-entropy on D\'s logits (BCEWithLogitsLoss): the pix2pix paper\'s objective',
  lsgan: 'least squares: mean squared error of D\'s output to 1 (real) or 0 (fake)',
  wgangp: 'Wasserstein: -mean(D) for real, mean(D) for fake; like the reference\'s pix2pix, without a gradient penalty',
} as const);
export type Pix2pixGanMode = keyof typeof PIX2PIX_GAN_MODES;

/**
 * mean(BCEWithLogits(x, y)) with y constant: max(x, 0) - x y + log(1 + e^-|x|)
 * forward (PyTorch's stable form), (sigmoid(x) - y) / N backward (exact at 0,
 * where the forward's kinks would give autodiff a one-sided slope).
 */
function bceWithLogits(prediction: tf.Tensor, target: number): tf.Scalar {
  const loss = tf.customGrad((...inputs) => {
    const [x, save] = inputs as unknown as [tf.Tensor, tf.GradSaveFunc];
    save([x]);
    const value = tf.mean(tf.add(tf.sub(tf.relu(x), tf.mul(x, target)), tf.log1p(tf.exp(tf.neg(tf.abs(x)))))) as tf.Scalar;
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [input] = saved as [tf.Tensor];
        return tf.mul(tf.div(tf.sub(tf.sigmoid(input), target), input.size), dy);
      },
    };
  });
  return loss(prediction) as tf.Scalar;
}

/** The reference's GANLoss(gan_mode)(prediction, targetIsReal). */
export function pix2pixGanLoss(prediction: tf.Tensor, targetIsReal: boolean, mode: Pix2pixGanMode): tf.Scalar {
  return tf.tidy(() => {
    const target = targetIsReal ? 1 : 0;
    switch (mode) {
      case 'vanilla':
        return bceWithLogits(prediction, target);
      case 'lsgan':
        return tf.mean(tf.square(tf.sub(prediction, target))) as tf.Scalar;
      case 'wgangp':
        return (targetIsReal ? tf.neg(tf.mean(prediction)) : tf.mean(prediction)) as tf.Scalar;
    }
  });
}
