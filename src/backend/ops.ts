/**
 * The differentiable building blocks pix2pixHD needs, with PyTorch semantics,
 * NHWC float32, and gradients that are correct on every backend.
 *
 * These are written against @tensorflow/tfjs-core only. Speed on wasm comes
 * from the kernels that `initBackend` registers (see ./wasm/); the functions
 * here stay backend-agnostic so the cpu backend is their reference.
 */
import * as tf from '@tensorflow/tfjs-core';
import { P2phdKernel } from './kernel-names';

/** True when the current backend has p2phd's fused kernel `name` (wasm does). */
function hasFusedKernel(name: string): boolean {
  return tf.getKernel(name, tf.getBackend()) != null;
}

/** Explicit NHWC padding with the same amount on every spatial side. */
function symmetricPadding(pad: number): [[number, number], [number, number], [number, number], [number, number]] {
  return [
    [0, 0],
    [pad, pad],
    [pad, pad],
    [0, 0],
  ];
}

function assertNonNegativeInteger(value: number, what: string): void {
  if (!Number.isInteger(value) || value < 0) {
    throw new RangeError(`${what} must be a non-negative integer, got ${value}`);
  }
}

/**
 * Sum of the reflected borders of `dy` folded back onto the interior along one
 * spatial axis: the adjoint of reflection padding along that axis.
 *
 * Padded index j < pad is a copy of input index pad - j; padded index
 * pad + size + k is a copy of input index size - 2 - k. Reversing each border
 * puts its entries in input order, starting at input index 1 (leading border)
 * and size - 1 - pad (trailing border).
 */
function foldReflectedAxis(dy: tf.Tensor4D, pad: number, axis: 1 | 2, size: number): tf.Tensor4D {
  const begin = (start: number): [number, number, number, number] =>
    axis === 1 ? [0, start, 0, 0] : [0, 0, start, 0];
  const extent = (length: number): [number, number, number, number] =>
    axis === 1 ? [-1, length, -1, -1] : [-1, -1, length, -1];
  const padAlong = (before: number, after: number): Array<[number, number]> =>
    axis === 1
      ? [[0, 0], [before, after], [0, 0], [0, 0]]
      : [[0, 0], [0, 0], [before, after], [0, 0]];

  const interior = tf.slice(dy, begin(pad), extent(size));
  const leading = tf.reverse(tf.slice(dy, begin(0), extent(pad)), axis);
  const trailing = tf.reverse(tf.slice(dy, begin(pad + size), extent(pad)), axis);
  return tf.addN([
    interior,
    tf.pad(leading, padAlong(1, size - 1 - pad)),
    tf.pad(trailing, padAlong(size - 1 - pad, 1)),
  ]);
}

/** The adjoint of reflectPad(x, pad) for an input of `height` x `width`: the reflected borders of `dy` folded back. */
export function reflectPadGradient(dy: tf.Tensor4D, pad: number, height: number, width: number): tf.Tensor4D {
  return hasFusedKernel(P2phdKernel.reflectPadGrad)
    ? (tf.engine().runKernel(P2phdKernel.reflectPadGrad, { dy }, { pad } as unknown as tf.NamedAttrMap) as tf.Tensor4D)
    : tf.tidy(() => foldReflectedAxis(foldReflectedAxis(dy, pad, 1, height), pad, 2, width));
}

/**
 * PyTorch ReflectionPad2d(pad) on NHWC. The gradient folds the reflected
 * border contributions back onto the input (tfjs's own MirrorPad gradient
 * slices dy and drops them, so it must not be used for training).
 */
export function reflectPad(x: tf.Tensor4D, pad: number): tf.Tensor4D {
  assertNonNegativeInteger(pad, 'reflectPad: pad');
  if (pad === 0) return x.clone();
  const [, height, width] = x.shape;
  if (pad >= height || pad >= width) {
    throw new RangeError(
      `reflectPad: pad ${pad} must be smaller than the spatial size ${height}x${width}`,
    );
  }
  const padWithFoldingGradient = tf.customGrad((...inputs) => {
    const input = inputs[0] as tf.Tensor4D;
    const attrs = { pad } as unknown as tf.NamedAttrMap;
    const value = hasFusedKernel(P2phdKernel.reflectPad)
      ? (tf.engine().runKernel(P2phdKernel.reflectPad, { x: input }, attrs) as tf.Tensor4D)
      : tf.mirrorPad(input, symmetricPadding(pad), 'reflect');
    const gradFunc = (dy: tf.Tensor4D): tf.Tensor4D => reflectPadGradient(dy, pad, height, width);
    return { value, gradFunc };
  });
  return padWithFoldingGradient(x) as tf.Tensor4D;
}

/**
 * PyTorch InstanceNorm2d(affine=False): per sample and channel, normalise
 * over H and W with the biased variance. The gradient is the closed form
 * dx = (dy - mean(dy) - y * mean(dy * y)) / sigma, which is both cheaper and
 * more accurate than differentiating the forward graph op by op.
 */
export function instanceNorm(x: tf.Tensor4D, eps = 1e-5): tf.Tensor4D {
  const spatialAxes = [1, 2];
  const fusedForward = (input: tf.Tensor4D): { y: tf.Tensor4D; invStd: tf.Tensor4D } => {
    const attrs = { eps } as unknown as tf.NamedAttrMap;
    const [y, invStd] = tf.engine().runKernel(P2phdKernel.instanceNorm, { x: input }, attrs) as tf.Tensor4D[];
    return { y: y!, invStd: invStd! };
  };
  const composedForward = (input: tf.Tensor4D): { y: tf.Tensor4D; invStd: tf.Tensor4D } =>
    tf.tidy(() => {
      const centred = tf.sub(input, tf.mean(input, spatialAxes, true));
      const variance = tf.mean(tf.square(centred), spatialAxes, true);
      const invStd = tf.rsqrt(tf.add(variance, eps)) as tf.Tensor4D;
      return { y: tf.mul(centred, invStd) as tf.Tensor4D, invStd };
    });
  const normalise = tf.customGrad((...inputs) => {
    const input = inputs[0] as tf.Tensor4D;
    const save = inputs[1] as tf.GradSaveFunc;
    const { y, invStd } = hasFusedKernel(P2phdKernel.instanceNorm) ? fusedForward(input) : composedForward(input);
    save([y, invStd]);
    const gradFunc = (dy: tf.Tensor4D, saved: tf.Tensor[]): tf.Tensor4D =>
      tf.tidy(() => {
        const [savedY, savedInvStd] = saved as [tf.Tensor4D, tf.Tensor4D];
        if (hasFusedKernel(P2phdKernel.instanceNormGrad)) {
          return tf.engine().runKernel(P2phdKernel.instanceNormGrad, { dy, y: savedY, invStd: savedInvStd }, {}) as tf.Tensor4D;
        }
        const meanDy = tf.mean(dy, spatialAxes, true);
        const meanDyY = tf.mean(tf.mul(dy, savedY), spatialAxes, true);
        return tf.mul(tf.sub(tf.sub(dy, meanDy), tf.mul(savedY, meanDyY)), savedInvStd) as tf.Tensor4D;
      });
    return { value: y, gradFunc };
  });
  return normalise(x) as tf.Tensor4D;
}

/** Number of in-bounds taps of each output position of a 3-wide, stride-2, pad-1 window. */
function validTapCounts(inputSize: number): number[] {
  const outputSize = Math.floor((inputSize - 1) / 2) + 1;
  const counts: number[] = [];
  for (let o = 0; o < outputSize; o++) {
    const first = Math.max(2 * o - 1, 0);
    const last = Math.min(2 * o + 1, inputSize - 1);
    counts.push(last - first + 1);
  }
  return counts;
}

/**
 * PyTorch AvgPool2d(3, stride=2, padding=1, count_include_pad=False): the
 * reference's downsampler for the discriminator and enhancer pyramids.
 *
 * Computed as a zero-padded 3x3 mean (which counts the padding) rescaled by
 * 9 / (number of in-bounds taps), so it does not depend on how a backend's
 * AvgPool treats padding.
 */
export function avgPoolDownsample(x: tf.Tensor4D): tf.Tensor4D {
  const [, height, width] = x.shape;
  const rowCounts = validTapCounts(height);
  const colCounts = validTapCounts(width);
  const scale = new Float32Array(rowCounts.length * colCounts.length);
  rowCounts.forEach((rows, i) =>
    colCounts.forEach((cols, j) => {
      scale[i * colCounts.length + j] = 9 / (rows * cols);
    }),
  );
  return tf.tidy(() => {
    const meanIncludingPadding = tf.avgPool(tf.pad(x, symmetricPadding(1)), 3, 2, 'valid');
    return tf.mul(meanIncludingPadding, tf.tensor4d(scale, [1, rowCounts.length, colCounts.length, 1]));
  });
}

/** PyTorch Conv2d (no bias): zero padding `pad` on all sides, w [kh, kw, in, out]. */
export function conv2d(x: tf.Tensor4D, w: tf.Tensor4D, stride: number, pad: number): tf.Tensor4D {
  assertNonNegativeInteger(pad, 'conv2d: pad');
  return tf.conv2d(x, w, stride, convPadding(pad));
}

/** tfjs's padding argument for PyTorch's symmetric zero padding `pad`. */
export function convPadding(pad: number): 'valid' | ReturnType<typeof symmetricPadding> {
  return pad === 0 ? 'valid' : symmetricPadding(pad);
}

/**
 * conv2d whose input's first `constantChannels` channels carry no gradient
 * (training's one-hot labels and boundaries, concatenated before the
 * instance features G learns through): the backward pass computes the input
 * gradient for the other channels only, with zeros in front (a conv's input
 * gradient would otherwise be 39 channels of work for 3 that matter). The
 * forward pass and the filter gradient are conv2d's.
 */
export function conv2dConstantPrefix(x: tf.Tensor4D, w: tf.Tensor4D, stride: number, pad: number, constantChannels: number): tf.Tensor4D {
  assertNonNegativeInteger(pad, 'conv2dConstantPrefix: pad');
  const padding = convPadding(pad);
  const conv = tf.customGrad((...args) => {
    const [input, filter, save] = args as unknown as [tf.Tensor4D, tf.Tensor4D, tf.GradSaveFunc];
    save([input, filter]);
    return {
      value: tf.conv2d(input, filter, stride, padding),
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const [savedInput, savedFilter] = saved as [tf.Tensor4D, tf.Tensor4D];
        const gradient = dy as tf.Tensor4D;
        const [batch, height, width, channels] = savedInput.shape;
        const [kernelHeight, kernelWidth, , outChannels] = savedFilter.shape;
        const learnt = tf.slice(savedFilter, [0, 0, constantChannels, 0], [-1, -1, -1, -1]) as tf.Tensor4D;
        const dLearnt = tf.conv2dTranspose(gradient, learnt, [batch, height, width, channels - constantChannels], stride, padding);
        const dx = tf.concat([tf.zeros([batch, height, width, constantChannels]), dLearnt], 3);
        const dw = tf.engine().runKernel(
          tf.Conv2DBackpropFilter,
          { x: savedInput, dy: gradient },
          { strides: stride, pad: padding, dataFormat: 'NHWC', filterShape: [kernelHeight, kernelWidth, channels, outChannels] } as unknown as tf.NamedAttrMap,
        ) as tf.Tensor4D;
        return [dx, dw];
      },
    };
  });
  return conv(x, w) as tf.Tensor4D;
}

/**
 * PyTorch ConvTranspose2d (no bias): output size (H - 1) * stride - 2 * pad +
 * k + outputPadding; w in tfjs layout [kh, kw, out, in].
 *
 * This is the input gradient of a conv2d with the same stride and symmetric
 * padding `pad` whose input has the output's size: that conv maps the output
 * size back to H for any outputPadding < stride.
 */
export function conv2dTranspose(
  x: tf.Tensor4D,
  w: tf.Tensor4D,
  stride: number,
  pad: number,
  outputPadding: number,
): tf.Tensor4D {
  assertNonNegativeInteger(pad, 'conv2dTranspose: pad');
  assertNonNegativeInteger(outputPadding, 'conv2dTranspose: outputPadding');
  if (outputPadding >= stride) {
    throw new RangeError(
      `conv2dTranspose: outputPadding ${outputPadding} must be smaller than stride ${stride}`,
    );
  }
  const [batch, height, width] = x.shape;
  const [kernelHeight, kernelWidth, outChannels] = w.shape;
  const outHeight = (height - 1) * stride - 2 * pad + kernelHeight + outputPadding;
  const outWidth = (width - 1) * stride - 2 * pad + kernelWidth + outputPadding;
  return tf.conv2dTranspose(
    x,
    w,
    [batch, outHeight, outWidth, outChannels],
    stride,
    pad === 0 ? 'valid' : symmetricPadding(pad),
  );
}

/**
 * `x`'s values as a new tensor the gradient tape does not link to `x`: the
 * reference's `.detach()`. It shares x's data (no copy) and, unlike an op
 * with a zero gradient, puts nothing on the backward path: a zero gradient
 * the size of x would be made in the backward pass and held until the walk
 * reaches x's producer (for D's condition terms and the real photo's
 * feature maps, hundreds of MB at 2048x1024, held through D's whole
 * backward pass).
 */
export function detach<T extends tf.Tensor>(x: T): T {
  const backend = tf.backend();
  backend.incRef(x.dataId);
  return tf.engine().makeTensorFromTensorInfo({ dataId: x.dataId, shape: x.shape, dtype: x.dtype }, backend) as T;
}
