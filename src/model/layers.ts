/**
 * The building blocks of the reference's networks, described as data: a
 * `Sequential` is a list of layers under a state_dict prefix, exactly like a
 * PyTorch nn.Sequential, so a layer's parameter names (`<prefix>.<index>.weight`)
 * follow from its position and match the reference's state_dict keys by
 * construction. The same description yields the parameter specs (names,
 * shapes, roles) and runs the forward pass over a parameter map.
 *
 * Everything is NHWC; weights are in tfjs layouts (conv [kh, kw, in, out],
 * transposed conv [kh, kw, out, in]); conversion to the reference's layouts
 * happens only at the checkpoint boundary (params.ts).
 */
import * as tf from '@tensorflow/tfjs-core';
import { convUnit, type ConvUnitShape, type PreActivation } from '../backend/convUnit.js';
import { checkpointed } from '../backend/leanGradients.js';
import { conv2d, conv2dConstantPrefix, conv2dTranspose, instanceNorm, reflectPad } from '../backend/ops.js';

/** Normalisation layers, as the references' --norm (shared by every family). */
export const NORMS = Object.freeze({
  instance: 'InstanceNorm2d without affine parameters (eps 1e-5)',
  batch: 'BatchNorm2d with affine parameters and running statistics',
} as const);
export type NormKind = keyof typeof NORMS;

export type Layer =
  | { readonly kind: 'reflectPad'; readonly pad: number }
  | {
      readonly kind: 'conv';
      readonly inChannels: number;
      readonly outChannels: number;
      readonly kernel: number;
      readonly stride: number;
      /** Zero padding on every side. */
      readonly pad: number;
      /** false: no bias (pix2pix's convs before batch norm); true when absent. */
      readonly bias?: boolean;
    }
  | {
      readonly kind: 'convTranspose';
      readonly inChannels: number;
      readonly outChannels: number;
      readonly kernel: number;
      readonly stride: number;
      readonly pad: number;
      readonly outputPadding: number;
      /** false: no bias; true when absent. */
      readonly bias?: boolean;
    }
  /** `none`: pix2pix's Identity (it holds a place in the Sequential, no parameters). */
  | { readonly kind: 'norm'; readonly norm: NormKind | 'none'; readonly channels: number }
  /** nn.Dropout(p): active only when ForwardOptions.dropout supplies masks. */
  | { readonly kind: 'dropout'; readonly p: number }
  | { readonly kind: 'relu' }
  | { readonly kind: 'leakyRelu'; readonly slope: number }
  | { readonly kind: 'tanh' }
  /** The reference's ResnetBlock: x + convBlock(x), its layers named `<index>.conv_block.<j>`. */
  | { readonly kind: 'resnetBlock'; readonly convBlock: readonly Layer[] }
  /**
   * pix2pix's UnetSkipConnectionBlock (not the outermost): concat(x, model(x))
   * on channels, its layers named `<index>.model.<j>`. The block's first layer
   * is an in-place LeakyReLU in the reference, which rewrites x itself before
   * the concatenation reads it: the skip carries that layer's output, as here.
   */
  | { readonly kind: 'unetSkip'; readonly layers: readonly Layer[] };

export interface Sequential {
  /** The state_dict prefix, network letter included: `G.model`, `G.model1_2`, `D.scale0_layer1`. */
  readonly name: string;
  readonly layers: readonly Layer[];
}

/** What a parameter is, which fixes its layout conversion and its initialisation. */
export type ParamRole =
  | 'convWeight'
  | 'convTransposeWeight'
  | 'convBias'
  | 'normWeight'
  | 'normBias'
  | 'runningMean'
  | 'runningVar'
  | 'numBatchesTracked';

export interface ParamSpec {
  /** The checkpoint name: network letter + the reference's state_dict key. */
  readonly key: string;
  readonly role: ParamRole;
  /** tfjs layout. */
  readonly shape: readonly number[];
  /** For conv biases: PyTorch's fan_in, which bounds their default uniform init. */
  readonly fanIn: number;
}

/** Buffers, not parameters: the optimiser must leave them alone. */
export function isTrainable(spec: ParamSpec): boolean {
  return spec.role !== 'runningMean' && spec.role !== 'runningVar' && spec.role !== 'numBatchesTracked';
}

// ---------------------------------------------------------------------------
// Layer constructors, named after the PyTorch modules they stand for.

export const reflectionPad2d = (pad: number): Layer => ({ kind: 'reflectPad', pad });
export const conv2dLayer = (inChannels: number, outChannels: number, kernel: number, stride = 1, pad = 0): Layer => ({
  kind: 'conv',
  inChannels,
  outChannels,
  kernel,
  stride,
  pad,
});
export const convTranspose2dLayer = (
  inChannels: number,
  outChannels: number,
  kernel: number,
  stride: number,
  pad: number,
  outputPadding: number,
): Layer => ({ kind: 'convTranspose', inChannels, outChannels, kernel, stride, pad, outputPadding });
export const normLayer = (norm: NormKind | 'none', channels: number): Layer => ({ kind: 'norm', norm, channels });
export const relu: Layer = Object.freeze({ kind: 'relu' });
export const tanh: Layer = Object.freeze({ kind: 'tanh' });
export const leakyRelu = (slope: number): Layer => ({ kind: 'leakyRelu', slope });
export const dropoutLayer = (p: number): Layer => ({ kind: 'dropout', p });

/** ResnetBlock(dim, reflect padding): pad, conv 3x3, norm, ReLU, pad, conv 3x3, norm. */
export function resnetBlock(dim: number, norm: NormKind): Layer {
  return {
    kind: 'resnetBlock',
    convBlock: [
      reflectionPad2d(1),
      conv2dLayer(dim, dim, 3),
      normLayer(norm, dim),
      relu,
      reflectionPad2d(1),
      conv2dLayer(dim, dim, 3),
      normLayer(norm, dim),
    ],
  };
}

// ---------------------------------------------------------------------------
// Parameter specs.

function layerSpecs(prefix: string, layer: Layer, out: ParamSpec[]): void {
  switch (layer.kind) {
    case 'conv': {
      const { inChannels, outChannels, kernel } = layer;
      const fanIn = inChannels * kernel * kernel;
      out.push({ key: `${prefix}.weight`, role: 'convWeight', shape: [kernel, kernel, inChannels, outChannels], fanIn });
      if (layer.bias !== false) out.push({ key: `${prefix}.bias`, role: 'convBias', shape: [outChannels], fanIn });
      return;
    }
    case 'convTranspose': {
      const { inChannels, outChannels, kernel } = layer;
      // PyTorch computes fan_in from dim 1 of the weight, which for a
      // transposed conv ([in, out, kh, kw]) is the output channel count.
      const fanIn = outChannels * kernel * kernel;
      out.push({ key: `${prefix}.weight`, role: 'convTransposeWeight', shape: [kernel, kernel, outChannels, inChannels], fanIn });
      if (layer.bias !== false) out.push({ key: `${prefix}.bias`, role: 'convBias', shape: [outChannels], fanIn });
      return;
    }
    case 'norm': {
      if (layer.norm !== 'batch') return; // InstanceNorm2d(affine=False) has no state.
      const c = layer.channels;
      out.push({ key: `${prefix}.weight`, role: 'normWeight', shape: [c], fanIn: 0 });
      out.push({ key: `${prefix}.bias`, role: 'normBias', shape: [c], fanIn: 0 });
      out.push({ key: `${prefix}.running_mean`, role: 'runningMean', shape: [c], fanIn: 0 });
      out.push({ key: `${prefix}.running_var`, role: 'runningVar', shape: [c], fanIn: 0 });
      out.push({ key: `${prefix}.num_batches_tracked`, role: 'numBatchesTracked', shape: [], fanIn: 0 });
      return;
    }
    case 'resnetBlock':
      layer.convBlock.forEach((inner, j) => layerSpecs(`${prefix}.conv_block.${j}`, inner, out));
      return;
    case 'unetSkip':
      layer.layers.forEach((inner, j) => layerSpecs(`${prefix}.model.${j}`, inner, out));
      return;
    default:
      return; // padding and activations hold no parameters
  }
}

/** The parameter specs of a Sequential, in state_dict order. */
export function sequentialSpecs(sequential: Sequential): ParamSpec[] {
  const out: ParamSpec[] = [];
  sequential.layers.forEach((layer, index) => layerSpecs(`${sequential.name}.${index}`, layer, out));
  return out;
}

// ---------------------------------------------------------------------------
// Forward.

/** A parameter map: checkpoint name -> tensor (tf.Variable while training) in tfjs layout. */
export type Params = ReadonlyMap<string, tf.Tensor>;

export interface ForwardOptions {
  /**
   * Training mode: batch norm updates its running statistics (when they are
   * tf.Variables, as in training). Instance norm is the same in both modes
   * (the reference does not track its statistics).
   */
  readonly training: boolean;
  /**
   * The statistics batch norm normalises with; by default the batch's when
   * training, the running ones otherwise. The reference's test.py never calls
   * eval(), so its synthesized images come from batch statistics: use
   * REFERENCE_INFERENCE to reproduce them.
   */
  readonly batchNormStatistics?: 'batch' | 'running';
  /**
   * The leading channels of a sequential's input that no gradient must
   * reach (training with instance features: the one-hot labels and
   * boundaries before the features): its first conv, reached through
   * reflection padding only, computes its input gradient for the other
   * channels alone (conv2dConstantPrefix). Networks pass it to the
   * sequentials that read their input, and to no other.
   */
  readonly constantInputChannels?: number;
  /**
   * Gradient checkpointing (training with --checkpoint-activations): each
   * residual block saves only its input for the backward pass, which runs
   * the block again (about one more forward pass of the blocks) and gives
   * the same bits. Needs the lean schedule and instance norm.
   */
  readonly checkpointResidualBlocks?: boolean;
  /**
   * Batch norm on batch statistics, training: each layer saves its input
   * (and its weight and bias) alone for the backward pass, which runs the
   * layer's normalisation again on its own tape (backend/leanGradients.ts
   * checkpointed) and walks it back with tfjs's gradient functions: the same
   * bits as the layer recorded op by op, which saves five more tensors of
   * its size (tf.moments' and the normalisation's intermediates). The
   * running statistics move once, in the forward pass. Needs the lean
   * schedule.
   */
  readonly checkpointBatchNorm?: boolean;
  /**
   * Dropout layers' keep masks (0/1, the layer's output shape), drawn per
   * call in forward order; without it dropout is the identity (eval()).
   */
  readonly dropout?: DropoutMasks;
}

/** Where dropout layers get their keep masks (a seeded generator; golden masks in tests). */
export interface DropoutMasks {
  /** A float32 0/1 keep mask of `shape` (NHWC) for a dropout layer of probability `p`. */
  next(shape: readonly [number, number, number, number], p: number): tf.Tensor4D;
}

/** Inference exactly as the reference's test.py runs it (batch norm on batch statistics, nothing updated). */
export const REFERENCE_INFERENCE: ForwardOptions = Object.freeze({ training: false, batchNormStatistics: 'batch' });

/** Batch-norm momentum and epsilon: PyTorch's defaults, which the reference keeps. */
const BATCH_NORM_MOMENTUM = 0.1;
const NORM_EPS = 1e-5;

export function getParam(params: Params, key: string): tf.Tensor {
  const value = params.get(key);
  if (value === undefined) throw new Error(`parameter "${key}" is missing from the parameter map`);
  return value;
}

/**
 * BatchNorm2d. In training mode the running statistics move towards the
 * batch's (unbiased variance, as PyTorch) by assignment; the assignment sits
 * outside the gradient tape, so the loss's gradients are unaffected.
 */
function batchNorm(x: tf.Tensor4D, prefix: string, params: Params, options: ForwardOptions): tf.Tensor4D {
  const weight = getParam(params, `${prefix}.weight`);
  const bias = getParam(params, `${prefix}.bias`);
  const runningMean = getParam(params, `${prefix}.running_mean`);
  const runningVar = getParam(params, `${prefix}.running_var`);
  const statistics = options.batchNormStatistics ?? (options.training ? 'batch' : 'running');
  if (statistics === 'running') {
    return tf.add(tf.mul(tf.div(tf.sub(x, runningMean), tf.sqrt(tf.add(runningVar, NORM_EPS))), weight), bias) as tf.Tensor4D;
  }
  if (!options.training && x.shape[0] === 1) {
    // One image's batch statistics are its per-channel statistics over H and
    // W: instance norm's, whose kernel is also the more precise (tf.moments
    // on wasm keeps one float32 running total per channel, off by a grey
    // level of the output against the reference at 1024x512).
    return tf.add(tf.mul(instanceNorm(x, NORM_EPS), weight), bias) as tf.Tensor4D;
  }
  const count = x.shape[0] * x.shape[1] * x.shape[2];
  const tracked = params.get(`${prefix}.num_batches_tracked`);
  let updateRunning = options.training && runningMean instanceof tf.Variable && runningVar instanceof tf.Variable;
  const normalise = (input: tf.Tensor4D, w: tf.Tensor, b: tf.Tensor): tf.Tensor4D => {
    const { mean, variance } = tf.moments(input, [0, 1, 2]);
    const y = tf.add(tf.mul(tf.div(tf.sub(input, mean), tf.sqrt(tf.add(variance, NORM_EPS))), w), b) as tf.Tensor4D;
    if (updateRunning && runningMean instanceof tf.Variable && runningVar instanceof tf.Variable) {
      // Once per forward pass: a checkpointed layer's recomputation in backward leaves them alone.
      updateRunning = false;
      tf.tidy(() => {
        const unbiased = tf.mul(variance, count > 1 ? count / (count - 1) : 1);
        runningMean.assign(tf.add(tf.mul(runningMean, 1 - BATCH_NORM_MOMENTUM), tf.mul(mean, BATCH_NORM_MOMENTUM)));
        runningVar.assign(tf.add(tf.mul(runningVar, 1 - BATCH_NORM_MOMENTUM), tf.mul(unbiased, BATCH_NORM_MOMENTUM)));
        if (tracked instanceof tf.Variable) tracked.assign(tf.add(tracked, tf.scalar(1, tracked.dtype)));
      });
    }
    return y;
  };
  if (options.training && options.checkpointBatchNorm === true) {
    return checkpointed(x, [weight, bias], (input, [w, b]) => normalise(input, w!, b!));
  }
  return normalise(x, weight, bias);
}

function runLayer(layer: Layer, prefix: string, x: tf.Tensor4D, params: Params, options: ForwardOptions): tf.Tensor4D {
  switch (layer.kind) {
    case 'reflectPad':
      return reflectPad(x, layer.pad);
    case 'conv': {
      const w = getParam(params, `${prefix}.weight`) as tf.Tensor4D;
      const constant = options.constantInputChannels;
      const y = constant !== undefined && constant > 0 ? conv2dConstantPrefix(x, w, layer.stride, layer.pad, constant) : conv2d(x, w, layer.stride, layer.pad);
      return layer.bias === false ? y : tf.add(y, getParam(params, `${prefix}.bias`));
    }
    case 'convTranspose': {
      const w = getParam(params, `${prefix}.weight`) as tf.Tensor4D;
      const y = conv2dTranspose(x, w, layer.stride, layer.pad, layer.outputPadding);
      return layer.bias === false ? y : tf.add(y, getParam(params, `${prefix}.bias`));
    }
    case 'norm':
      if (layer.norm === 'none') return tf.clone(x);
      return layer.norm === 'instance' ? instanceNorm(x, NORM_EPS) : batchNorm(x, prefix, params, options);
    case 'dropout': {
      if (options.dropout === undefined) return tf.clone(x);
      // As PyTorch: x * mask / (1 - p) (exact for the reference's p = 0.5).
      const mask = options.dropout.next(x.shape, layer.p);
      return tf.mul(x, tf.mul(mask, 1 / (1 - layer.p)));
    }
    case 'unetSkip': {
      const inner = runLayers(layer.layers, `${prefix}.model`, x, params, options);
      const first = layer.layers[0];
      const skip = first?.kind === 'leakyRelu' ? tf.leakyRelu(x, first.slope) : x;
      return tf.concat([skip, inner], 3);
    }
    case 'relu':
      return tf.relu(x);
    case 'leakyRelu':
      return tf.leakyRelu(x, layer.slope);
    case 'tanh':
      return tf.tanh(x);
    case 'resnetBlock': {
      const blockPrefix = `${prefix}.conv_block`;
      if (options.checkpointResidualBlocks === true && options.training) {
        // Recomputed in backward (backend/leanGradients.ts checkpointed): the block saves its input alone.
        const specs: ParamSpec[] = [];
        layerSpecs(prefix, layer, specs);
        if (specs.some((spec) => !isTrainable(spec))) throw new Error(`${prefix}: checkpointed residual blocks need instance norm (batch norm's running statistics would move twice)`);
        const keys = specs.map((spec) => spec.key);
        const inner: ForwardOptions = { ...options, checkpointResidualBlocks: false };
        return checkpointed(x, keys.map((key) => getParam(params, key)), (input, weights) =>
          tf.add(input, runLayers(layer.convBlock, blockPrefix, input, new Map(keys.map((key, i) => [key, weights[i]!])), inner)),
        );
      }
      return tf.add(x, runLayers(layer.convBlock, blockPrefix, x, params, options));
    }
  }
}

/** A conv unit found in a layer list: the cheap layers before a conv and the conv (backend/convUnit.ts). */
export interface UnitAt {
  readonly shape: ConvUnitShape;
  /** The conv's index in the list (its parameters' index). */
  readonly convIndex: number;
  /** Whether the conv has a bias. */
  readonly bias: boolean;
}

/**
 * The conv unit that starts at `layers[index]`: an optional ReLU or
 * LeakyReLU, an optional reflection pad, then a conv or transposed conv,
 * with or without bias (pix2pix's convs before batch norm have none; the
 * U-Net's LeakyReLU + down conv and ReLU + up conv are units too).
 */
export function convUnitAt(layers: readonly Layer[], index: number, constantChannels = 0): UnitAt | undefined {
  let j = index;
  let activation: PreActivation | undefined;
  let reflect = 0;
  const first = layers[j];
  if (first?.kind === 'relu') activation = { kind: 'relu' };
  else if (first?.kind === 'leakyRelu') activation = { kind: 'leakyRelu', slope: first.slope };
  if (activation !== undefined) j++;
  const pad = layers[j];
  if (pad?.kind === 'reflectPad' && pad.pad > 0) {
    reflect = pad.pad;
    j++;
  }
  const conv = layers[j];
  if (conv?.kind === 'conv') {
    return { shape: { activation, reflectPad: reflect, conv: { kind: 'conv', stride: conv.stride, pad: conv.pad, constantChannels } }, convIndex: j, bias: conv.bias !== false };
  }
  if (conv?.kind === 'convTranspose' && constantChannels === 0) {
    return { shape: { activation, reflectPad: reflect, conv: { kind: 'convTranspose', stride: conv.stride, pad: conv.pad, outputPadding: conv.outputPadding } }, convIndex: j, bias: conv.bias !== false };
  }
  return undefined;
}

/**
 * Runs layers one by one, freeing each intermediate as soon as the next
 * exists: at inference the peak is about two activations instead of every
 * layer's (GBs for the default G at 1024x512). Each conv runs with the
 * activation and padding before it as one unit that saves only its input
 * for a backward pass (backend/convUnit.ts); under a gradient tape that is
 * all a layer list keeps, besides what instance norm saves (its output and
 * statistics, which the next unit's input shares).
 */
function runLayers(
  layers: readonly Layer[],
  prefix: string,
  x: tf.Tensor4D,
  params: Params,
  options: ForwardOptions,
): tf.Tensor4D {
  let y = x;
  // constantInputChannels holds up to the first conv, through reflection padding only.
  let layerOptions = options;
  let index = 0;
  while (index < layers.length) {
    const input = y;
    const current = layerOptions;
    const constant = current.constantInputChannels;
    const unit = convUnitAt(layers, index, constant ?? 0);
    const kind = layers[index]!.kind;
    if (constant !== undefined && (unit === undefined ? kind !== 'reflectPad' && kind !== 'conv' : unit.shape.activation !== undefined)) {
      throw new Error(`constantInputChannels: ${prefix}.${index} (${layers[index]!.kind}) comes before the first conv`);
    }
    if (unit !== undefined) {
      const key = `${prefix}.${unit.convIndex}`;
      const bias = unit.bias ? getParam(params, `${key}.bias`) : undefined;
      y = tf.tidy(() => convUnit(input, getParam(params, `${key}.weight`) as tf.Tensor4D, bias, unit.shape));
      layerOptions = withoutConstantInput(options);
      index = unit.convIndex + 1;
    } else {
      const at = index;
      y = tf.tidy(() => runLayer(layers[at]!, `${prefix}.${at}`, input, params, current));
      if (kind === 'conv') layerOptions = withoutConstantInput(options);
      index++;
    }
    if (input !== x) input.dispose();
  }
  // Never hand back the caller's own tensor: the result is always the caller's to dispose.
  return y === x ? x.clone() : y;
}

/** `options` without constantInputChannels (for what does not read the network's input). */
export function withoutConstantInput(options: ForwardOptions): ForwardOptions {
  if (options.constantInputChannels === undefined) return options;
  const { constantInputChannels: _constant, ...rest } = options;
  return rest;
}

/** Runs a Sequential on NHWC input; returns a new tensor, intermediates freed. */
export function runSequential(sequential: Sequential, x: tf.Tensor4D, params: Params, options: ForwardOptions): tf.Tensor4D {
  return runLayers(sequential.layers, sequential.name, x, params, options);
}

/** Number of scalars a list of specs holds (no tensors allocated). */
export function countParameters(specs: readonly ParamSpec[], which: 'trainable' | 'all' = 'trainable'): number {
  let total = 0;
  for (const spec of specs) {
    if (which === 'trainable' && !isTrainable(spec)) continue;
    total += spec.shape.reduce((a, b) => a * b, 1);
  }
  return total;
}
