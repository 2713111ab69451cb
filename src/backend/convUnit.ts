/**
 * A conv (or transposed conv) with its bias and the cheap layers before it
 * (an activation, reflection padding) as one differentiable operation that
 * saves only its input for the backward pass.
 *
 * Recorded op by op, `relu -> reflectPad -> conv -> add(bias)` saves the
 * activation's input (for its mask), the padded activation (for the
 * filter gradient) and the conv's output (tfjs's Add saves both of its
 * inputs, though its gradient reads only their shapes): three tensors the
 * size of the layer's output where one carries all the information. This
 * unit saves its input alone (usually the instance norm's output, which the
 * norm saves anyway: no new memory) and recomputes the activation and the
 * padding in backward, when the filter gradient needs them: a copy and a
 * max, cheap next to the conv.
 *
 * Its forward pass runs the same ops as the layers one by one, and its
 * backward pass the same kernels with the same arguments as tfjs's gradient
 * functions for them (Add, Conv2D, Conv2DBackpropInput, p2phd's reflection
 * padding, Relu, LeakyRelu): the same bits. Each input's gradient is its own
 * lazy function, as for a registered kernel, so a backward pass computes
 * only those on a path from what it differentiates (no input gradient for
 * the label map, no filter gradient for weights held fixed).
 */
import * as tf from '@tensorflow/tfjs-core';
import { conv2d, conv2dTranspose, convPadding, reflectPad, reflectPadGradient } from './ops.js';

export type PreActivation = { readonly kind: 'relu' } | { readonly kind: 'leakyRelu'; readonly slope: number };

export type UnitConv =
  | {
      readonly kind: 'conv';
      readonly stride: number;
      /** Zero padding on every side. */
      readonly pad: number;
      /** Leading input channels that need no gradient (see conv2dConstantPrefix); 0 for none. */
      readonly constantChannels: number;
    }
  | { readonly kind: 'convTranspose'; readonly stride: number; readonly pad: number; readonly outputPadding: number };

export interface ConvUnitShape {
  readonly activation?: PreActivation;
  /** Reflection padding between the activation and the conv; 0 for none. */
  readonly reflectPad: number;
  readonly conv: UnitConv;
}

/** The part of tfjs-core's Engine that runs an op with its own gradient (what tf.customGrad uses). */
interface KernelFuncRunner {
  runKernelFunc(params: {
    forwardFunc: (backend: tf.KernelBackend, save: (tensors: tf.Tensor[]) => void) => tf.Tensor;
    backwardsFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => Record<string, () => tf.Tensor>;
    inputs: Record<string, tf.Tensor>;
  }): tf.Tensor;
}

function activate(x: tf.Tensor4D, activation: PreActivation | undefined): tf.Tensor4D {
  if (activation === undefined) return x;
  return activation.kind === 'relu' ? tf.relu(x) : tf.leakyRelu(x, activation.slope);
}

/**
 * The conv's input: the activation, then the padding (a new tensor unless
 * both are absent); the activation's output is freed once padded, so that
 * no more than one extra activation is alive at a time.
 */
function convInput(x: tf.Tensor4D, shape: ConvUnitShape): tf.Tensor4D {
  const activated = activate(x, shape.activation);
  if (shape.reflectPad === 0) return activated;
  const padded = reflectPad(activated, shape.reflectPad);
  if (activated !== x) activated.dispose();
  return padded;
}

function convolve(input: tf.Tensor4D, w: tf.Tensor4D, conv: UnitConv): tf.Tensor4D {
  if (conv.kind === 'convTranspose') return conv2dTranspose(input, w, conv.stride, conv.pad, conv.outputPadding);
  return conv2d(input, w, conv.stride, conv.pad);
}

/** d(conv input) from d(conv output): tfjs's Conv2D and Conv2DBackpropInput gradients (or conv2dConstantPrefix's). */
function convInputGradient(dy: tf.Tensor4D, w: tf.Tensor4D, inputShape: [number, number, number, number], conv: UnitConv): tf.Tensor4D {
  const padding = convPadding(conv.pad);
  if (conv.kind === 'convTranspose') return tf.conv2d(dy, w, conv.stride, padding, 'NHWC', 1);
  const [batch, height, width, channels] = inputShape;
  if (conv.constantChannels > 0) {
    const learnt = tf.slice(w, [0, 0, conv.constantChannels, 0], [-1, -1, -1, -1]) as tf.Tensor4D;
    const dLearnt = tf.conv2dTranspose(dy, learnt, [batch, height, width, channels - conv.constantChannels], conv.stride, padding);
    return tf.concat([tf.zeros([batch, height, width, conv.constantChannels]), dLearnt], 3);
  }
  const attrs = { strides: conv.stride, pad: padding, dataFormat: 'NHWC', dimRoundingMode: undefined, inputShape };
  return tf.engine().runKernel(tf.Conv2DBackpropInput, { dy, filter: w }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor4D;
}

/** The filter gradient: tfjs's Conv2D gradient, or Conv2DBackpropInput's for a transposed conv. */
function filterGradient(dy: tf.Tensor4D, input: tf.Tensor4D, w: tf.Tensor4D, conv: UnitConv): tf.Tensor4D {
  const attrs = { strides: conv.stride, pad: convPadding(conv.pad), dataFormat: 'NHWC', dimRoundingMode: undefined, filterShape: w.shape };
  const inputs = conv.kind === 'convTranspose' ? { x: dy, dy: input } : { x: input, dy };
  return tf.engine().runKernel(tf.Conv2DBackpropFilter, inputs, attrs as unknown as tf.NamedAttrMap) as tf.Tensor4D;
}

/** d(unit input) from d(activation output): tfjs's Relu and LeakyRelu gradients. */
function activationGradient(dy: tf.Tensor4D, x: tf.Tensor4D, activation: PreActivation | undefined): tf.Tensor4D {
  if (activation === undefined) return dy;
  if (activation.kind === 'relu') return tf.mul(dy, tf.cast(tf.step(x), 'float32'));
  return tf.where(tf.greater(x, 0), dy, tf.mul(dy, activation.slope)) as tf.Tensor4D;
}

/**
 * conv(pad(activation(x)), w) + b as one operation that saves x and w only
 * (see the module comment). w in tfjs layout ([kh, kw, in, out], or
 * [kh, kw, out, in] for a transposed conv); b [out], or undefined for a
 * conv without bias (pix2pix's convs before batch norm: then the unit is
 * the layers' activation, padding and conv, and its gradient theirs).
 */
export function convUnit(x: tf.Tensor4D, w: tf.Tensor4D, b: tf.Tensor | undefined, shape: ConvUnitShape): tf.Tensor4D {
  const engine = tf.engine() as unknown as KernelFuncRunner;
  const gradients = (dy: tf.Tensor4D, savedX: tf.Tensor4D, savedW: tf.Tensor4D): Record<string, () => tf.Tensor> => {
    const [batch, height, width, channels] = savedX.shape;
    const padded: [number, number, number, number] = [batch, height + 2 * shape.reflectPad, width + 2 * shape.reflectPad, channels];
    const map: Record<string, () => tf.Tensor> = {
      x: () => {
        const dInput = convInputGradient(dy, savedW, padded, shape.conv);
        const dActivated = shape.reflectPad > 0 ? reflectPadGradient(dInput, shape.reflectPad, height, width) : dInput;
        return activationGradient(dActivated, savedX, shape.activation);
      },
      w: () => {
        const input = convInput(savedX, shape);
        const dw = filterGradient(dy, input, savedW, shape.conv);
        if (input !== savedX) input.dispose();
        return dw;
      },
    };
    if (b !== undefined) map['b'] = () => tf.reshape(tf.sum(dy, [0, 1, 2]), b.shape);
    return map;
  };
  return engine.runKernelFunc({
    inputs: b === undefined ? { x, w } : { x, w, b },
    forwardFunc: (_backend, save) => {
      save([x, w]);
      // Each intermediate freed once consumed: at inference the unit holds
      // what the layers one by one held (an input and an output at a time).
      const input = convInput(x, shape);
      const y = convolve(input, w, shape.conv);
      if (input !== x) input.dispose();
      if (b === undefined) return y;
      const output = tf.add(y, b);
      y.dispose();
      return output as tf.Tensor4D;
    },
    backwardsFunc: (dy, saved) => {
      const [savedX, savedW] = saved as [tf.Tensor4D, tf.Tensor4D];
      return gradients(dy as tf.Tensor4D, savedX, savedW);
    },
  }) as tf.Tensor4D;
}

/**
 * activation(term + conv(x, w) + b) as one operation: a conv whose output
 * adds a precomputed term (the discriminator's opening conv split into its
 * condition's part, `term`, shared by a step's passes, and the image's
 * part), then the activation. Recorded op by op, the two sums and the
 * activation save three tensors the size of the output per pass; this saves
 * x, w and the term (shared by every pass that adds it) and recomputes the
 * sum in backward (the conv of a 3-channel image: cheap). Same kernels and
 * arguments as tfjs's gradients for Add, Conv2D and the activation: the
 * same bits.
 */
export function convAddUnit(
  term: tf.Tensor4D,
  x: tf.Tensor4D,
  w: tf.Tensor4D,
  b: tf.Tensor,
  conv: { readonly stride: number; readonly pad: number },
  activation: PreActivation | undefined,
): tf.Tensor4D {
  const engine = tf.engine() as unknown as KernelFuncRunner;
  const unitConv: UnitConv = { kind: 'conv', stride: conv.stride, pad: conv.pad, constantChannels: 0 };
  const preActivation = (savedTerm: tf.Tensor4D, savedX: tf.Tensor4D, savedW: tf.Tensor4D, bias: tf.Tensor): tf.Tensor4D =>
    tf.add(tf.add(savedTerm, conv2d(savedX, savedW, conv.stride, conv.pad)), bias) as tf.Tensor4D;
  return engine.runKernelFunc({
    inputs: { term, x, w, b },
    forwardFunc: (_backend, save) => {
      save([term, x, w, b]);
      return activation === undefined ? preActivation(term, x, w, b) : activate(preActivation(term, x, w, b), activation);
    },
    backwardsFunc: (dy, saved) => {
      const [savedTerm, savedX, savedW, savedB] = saved as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D, tf.Tensor];
      // d(pre-activation), shared by every input's gradient: computed once
      // here (a node's gradients are taken together), freed with the node.
      const dz = activation === undefined ? (dy as tf.Tensor4D) : activationGradient(dy as tf.Tensor4D, preActivation(savedTerm, savedX, savedW, savedB), activation);
      return {
        term: () => tf.reshape(dz, savedTerm.shape),
        x: () => convInputGradient(dz, savedW, savedX.shape, unitConv),
        w: () => filterGradient(dz, savedX, savedW, unitConv),
        b: () => tf.reshape(tf.sum(dz, [0, 1, 2]), savedB.shape),
      };
    },
  }) as tf.Tensor4D;
}
