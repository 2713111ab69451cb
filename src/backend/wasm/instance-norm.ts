/**
 * Instance norm kernels for wasm, composed of XNNPACK-backed ops.
 *
 * The per-(sample, channel) spatial mean is a global average pool (XNNPACK
 * streams NHWC rows; tfjs's wasm Mean over axes 1,2 first transposes the
 * whole tensor). Measured on [1,128,128,64]: about 1.5 ms forward against
 * 7 ms for the tf.mean chain and 10 ms for a fused JavaScript loop.
 */
import * as tf from '@tensorflow/tfjs-core';
import { P2phdKernel, type InstanceNormAttrs } from '../kernel-names';
import { registerTensorKernel } from './tensor-kernel';

function spatialMean(x: tf.Tensor4D): tf.Tensor4D {
  const [, height, width] = x.shape;
  return tf.avgPool(x, [height, width], 1, 'valid');
}

export function registerInstanceNormKernels(backendName: string): void {
  registerTensorKernel<InstanceNormAttrs>(P2phdKernel.instanceNorm, backendName, (inputs, attrs) => {
    const x = inputs['x'] as tf.Tensor4D;
    const centred = tf.sub(x, spatialMean(x)) as tf.Tensor4D;
    const invStd = tf.rsqrt(tf.add(spatialMean(tf.square(centred)), attrs.eps));
    return [tf.mul(centred, invStd), invStd];
  });
  registerTensorKernel<Record<string, never>>(P2phdKernel.instanceNormGrad, backendName, (inputs) => {
    const dy = inputs['dy'] as tf.Tensor4D;
    const y = inputs['y'] as tf.Tensor4D;
    const invStd = inputs['invStd'] as tf.Tensor4D;
    const meanDy = spatialMean(dy);
    const meanDyY = spatialMean(tf.mul(dy, y));
    return tf.mul(tf.sub(tf.sub(dy, meanDy), tf.mul(y, meanDyY)), invStd);
  });
}
