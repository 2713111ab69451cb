/**
 * One pix2pix training iteration, in the reference's order
 * (Pix2PixModel.optimize_parameters):
 *
 *   fake_B = G(A)                                   (train mode: batch statistics, dropout)
 *   D_fake = GAN(D(cat(A, fake_B.detach())), false)
 *   D_real = GAN(D(cat(A, B)), true)
 *   loss_D = 0.5 (D_fake + D_real); D's update
 *   G_GAN  = GAN(D'(cat(A, fake_B)), true)          (D' = the UPDATED D)
 *   G_L1   = lambda_L1 * mean|fake_B - B|
 *   loss_G = G_GAN + G_L1; G's update
 *
 * G runs once, as in the reference (its dropout masks and running
 * statistics are drawn and updated once per step): its forward pass is
 * recorded on a gradient tape that stays open while D's gradients are taken
 * and D is updated (by the caller's `updateD`); G's loss is then formed
 * through the updated D and differentiated with respect to G's weights
 * alone. D stays in training mode throughout, so each of its three passes
 * uses its batch's statistics and moves its running statistics
 * (num_batches_tracked + 3 per step, G's + 1).
 *
 * Memory: under the lean schedule (the default) both gradients come from
 * backend/leanGradients.ts, which frees each saved tensor and gradient at
 * its last use; D's step runs apart from G's tape (backend/tapeAside.ts),
 * on a tape of its own that is freed as it walks back, instead of on G's
 * tape until G's backward pass ends; G's weights enter through gradient
 * sinks (model/gradientSinks.ts), so G's gradients leave the heap as they
 * are produced; batch norm is checkpointed (saves its input, recomputed in
 * backward). The `tape` schedule is tfjs's own variableGrads with D's step
 * nested in G's tape and batch norm op by op: the same gradient functions
 * in the same order, summed in the same order, so the same bits
 * (test/families/pix2pix/lean.test.ts); it holds everything to the end.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ownedValues } from '../../backend/buffers.js';
import { leanVariableGrads } from '../../backend/leanGradients.js';
import { apartFromTape } from '../../backend/tapeAside.js';
import { SinkingParams, sinkAnchor } from '../../model/gradientSinks.js';
import type { DropoutMasks, ForwardOptions, Params } from '../../model/layers.js';
import { l1Loss } from '../../model/losses.js';
import { PIX2PIX_LOSS_NAMES, type Pix2pixConfig, type Pix2pixLossName, type Pix2pixLosses } from './config.js';
import { pix2pixGanLoss, type Pix2pixGanMode } from './losses.js';
import { pix2pixDiscriminate, pix2pixGenerate } from './networks.js';

export { PIX2PIX_LOSS_NAMES, type Pix2pixLossName, type Pix2pixLosses } from './config.js';

/**
 * How the step's backward passes are scheduled: `lean` (the default) or
 * tfjs's `tape`; the same bits (see the module comment).
 */
export type Pix2pixStepSchedule = 'lean' | 'tape';

/** The differentiation a schedule uses: the value and the gradients of the variables on a path to it. */
function differentiation(schedule: Pix2pixStepSchedule): (f: () => tf.Scalar, xs: tf.Variable[]) => { value: tf.Scalar; grads: tf.NamedTensorMap } {
  return schedule === 'tape' ? (f, xs) => tf.variableGrads(f, xs) : (f, xs) => leanVariableGrads(f, xs);
}

/**
 * G's and D's forward options: training mode; under the lean schedule batch
 * norm saves its input alone and is recomputed in backward (model/layers.ts
 * checkpointBatchNorm: the same bits, five tensors of each layer's size
 * less to keep).
 */
function forwardOptions(schedule: Pix2pixStepSchedule, dropout: DropoutMasks | undefined): { generatorOptions: ForwardOptions; discriminatorOptions: ForwardOptions } {
  const discriminatorOptions: ForwardOptions = schedule === 'lean' ? { training: true, checkpointBatchNorm: true } : { training: true };
  return { generatorOptions: dropout ? { ...discriminatorOptions, dropout } : discriminatorOptions, discriminatorOptions };
}

/** D's step inside G's forward pass: nested in G's tape (`tape`, as the reference's order asks), or apart from it (`lean`). */
function besideG<T>(schedule: Pix2pixStepSchedule, fn: () => T): T {
  return schedule === 'tape' ? fn() : apartFromTape(fn);
}

/**
 * Runs `loss` (G's forward pass and loss, reading G's weights from the map
 * it is given) and its backward pass; each of G's gradients goes to
 * `receive` as the backward pass produces it, through a gradient sink
 * (model/gradientSinks.ts), and is freed right after: G's gradients never
 * pile up on the heap.
 */
function differentiateG(
  differentiate: ReturnType<typeof differentiation>,
  variables: ReadonlyMap<string, tf.Variable>,
  keysG: readonly string[],
  receive: (key: string, gradient: tf.Tensor) => void,
  loss: (params: Params) => tf.Scalar,
): void {
  for (const key of keysG) if (!variables.has(key)) throw new Error(`pix2pix step: no variable ${key}`);
  const trained = new Set(keysG);
  const anchor = sinkAnchor();
  try {
    const { value, grads } = differentiate(() => loss(new SinkingParams(variables, trained, anchor, receive)), [anchor]);
    value.dispose();
    tf.dispose(Object.values(grads));
  } finally {
    anchor.dispose();
  }
}

export interface Pix2pixLossSettings {
  readonly ganMode: Pix2pixGanMode;
  /** lambda_L1 (100 in the reference). */
  readonly lambdaL1: number;
}

/** A batch (NHWC, values in [-1, 1]); the caller owns the tensors. */
export interface Pix2pixStepInputs {
  /** real_A: input_nc channels. */
  readonly A: tf.Tensor4D;
  /** real_B: output_nc channels. */
  readonly B: tf.Tensor4D;
}

export interface Pix2pixStepModel {
  readonly config: Pix2pixConfig;
  /** Every parameter and buffer of G and D, by checkpoint key. */
  readonly variables: ReadonlyMap<string, tf.Variable>;
  /** The trained keys of optimizer_G and optimizer_D. */
  readonly keysG: readonly string[];
  readonly keysD: readonly string[];
}

export interface Pix2pixStepHooks {
  /** Dropout's masks for G's pass (absent: no dropout, as --no-dropout builds none anyway). */
  readonly dropout?: DropoutMasks;
  /**
   * D's gradients by key (host memory, tfjs layout): the caller's optimizer_D
   * step, which must leave the new weights in the variables before it
   * returns (G's loss is formed through them).
   */
  readonly updateD: (gradients: Map<string, Float32Array>) => void;
  /** Keep the first generated image (for sample strips). */
  readonly keepFake?: boolean;
  /** `lean` when absent. */
  readonly schedule?: Pix2pixStepSchedule;
}

export interface Pix2pixStepResult {
  readonly losses: Pix2pixLosses;
  /** G's gradients by key; empty when a loss was not finite (then nothing was updated and G must not be). */
  readonly gradientsG: Map<string, Float32Array>;
  /** Whether D was updated (false when its losses were not finite). */
  readonly updatedD: boolean;
  /** The first generated image, [H * W * output_nc] NHWC, when asked for. */
  readonly fake?: Float32Array;
}

/** D's two GAN losses of the reference's backward_D: on concat(A, fake) against "fake", on concat(A, B) against "real". */
function discriminatorLosses(
  config: Pix2pixConfig,
  params: Params,
  inputs: Pix2pixStepInputs,
  fake: tf.Tensor4D,
  options: ForwardOptions,
  ganMode: Pix2pixGanMode,
): { dFake: tf.Scalar; dReal: tf.Scalar } {
  return {
    dFake: pix2pixGanLoss(pix2pixDiscriminate(config, params, tf.concat([inputs.A, fake], 3), options), false, ganMode),
    dReal: pix2pixGanLoss(pix2pixDiscriminate(config, params, tf.concat([inputs.A, inputs.B], 3), options), true, ganMode),
  };
}

function gradientsByKey(grads: tf.NamedTensorMap, keyOf: ReadonlyMap<string, string>): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const [name, gradient] of Object.entries(grads)) {
    const key = keyOf.get(name);
    // A weight the loss does not reach gets no tensor; the optimizer reports it missing.
    if (gradient == null) continue;
    if (key === undefined) throw new Error(`pix2pix step: a gradient for an unknown variable ${name}`);
    out.set(key, ownedValues(gradient));
  }
  return out;
}

/** The first non-finite loss, if any. */
export function nonFinitePix2pixLoss(losses: Partial<Pix2pixLosses>): Pix2pixLossName | undefined {
  return PIX2PIX_LOSS_NAMES.find((name) => losses[name] !== undefined && !Number.isFinite(losses[name]!));
}

/**
 * One step's losses and gradients; D is updated through `hooks.updateD`
 * midway, G is left to the caller (with the returned gradients).
 */
export function pix2pixStep(model: Pix2pixStepModel, inputs: Pix2pixStepInputs, settings: Pix2pixLossSettings, hooks: Pix2pixStepHooks): Pix2pixStepResult {
  const { config, variables } = model;
  const keyOf = new Map<string, string>();
  const variablesOf = (keys: readonly string[]): tf.Variable[] =>
    keys.map((key) => {
      const variable = variables.get(key);
      if (variable === undefined) throw new Error(`pix2pix step: no variable ${key}`);
      keyOf.set(variable.name, key);
      return variable;
    });
  const varsD = variablesOf(model.keysD);
  const schedule = hooks.schedule ?? 'lean';
  const { generatorOptions, discriminatorOptions } = forwardOptions(schedule, hooks.dropout);
  const losses: Partial<Pix2pixLosses> = {};
  let updatedD = false;
  let finite = true;
  let keptFake: tf.Tensor | undefined;
  const gradientsG = new Map<string, Float32Array>();
  const differentiate = differentiation(schedule);
  // G's gradients go nowhere when a loss is not finite (known at the end of the forward pass).
  const receiveG = (key: string, gradient: tf.Tensor): void => {
    if (finite) gradientsG.set(key, ownedValues(gradient));
  };
  try {
    differentiateG(differentiate, variables, model.keysG, receiveG, (paramsG) => {
      const fake = pix2pixGenerate(config, paramsG, inputs.A, generatorOptions);
      if (hooks.keepFake) keptFake = tf.keep(tf.slice(fake, [0, 0, 0, 0], [1, -1, -1, -1]));
      // D's step. It differentiates with respect to D's weights only, so
      // fake_B enters as a constant (the reference's detach()).
      besideG(schedule, () => {
        const stepD = differentiate(() => {
          const { dFake, dReal } = discriminatorLosses(config, variables, inputs, fake, discriminatorOptions, settings.ganMode);
          losses.D_fake = dFake.dataSync()[0]!;
          losses.D_real = dReal.dataSync()[0]!;
          return tf.mul(tf.add(dFake, dReal), 0.5) as tf.Scalar;
        }, varsD);
        stepD.value.dispose();
        const gradientsD = gradientsByKey(stepD.grads, keyOf);
        tf.dispose(Object.values(stepD.grads));
        if (nonFinitePix2pixLoss(losses) !== undefined) {
          finite = false;
        } else {
          hooks.updateD(gradientsD);
          updatedD = true;
        }
      });
      // G's loss through the updated D (whose weights enter directly: no gradient reaches them).
      const gGan = pix2pixGanLoss(pix2pixDiscriminate(config, variables, tf.concat([inputs.A, fake], 3), discriminatorOptions), true, settings.ganMode);
      const gL1 = tf.mul(l1Loss(fake, inputs.B), settings.lambdaL1) as tf.Scalar;
      losses.G_GAN = gGan.dataSync()[0]!;
      losses.G_L1 = gL1.dataSync()[0]!;
      if (nonFinitePix2pixLoss(losses) !== undefined) finite = false;
      return tf.add(gGan, gL1) as tf.Scalar;
    });
    if (!finite) gradientsG.clear();
  } catch (error) {
    keptFake?.dispose();
    throw error;
  }
  let fake: Float32Array | undefined;
  if (keptFake) {
    fake = ownedValues(keptFake);
    keptFake.dispose();
  }
  return { losses: losses as Pix2pixLosses, gradientsG, updatedD, fake };
}

export interface Pix2pixDeviceStepHooks {
  /** Dropout's masks for G's pass (absent: no dropout). */
  readonly dropout?: DropoutMasks;
  /**
   * D's gradients by key (device tensors the step disposes after the call):
   * the caller's optimizer_D step, which must assign the new weights to the
   * variables before it returns (G's loss is formed through them).
   */
  readonly updateD: (gradients: ReadonlyMap<string, tf.Tensor>) => void;
  /** Keep the first generated image (for sample strips). */
  readonly keepFake?: boolean;
  /** `lean` when absent. */
  readonly schedule?: Pix2pixStepSchedule;
  /**
   * Each of G's gradients as the backward pass produces it (optimizer_G's
   * step on the device, say: the step holds the old weights it still needs);
   * the step frees it right after. Without it G's gradients are returned.
   */
  readonly onGradientG?: (key: string, gradient: tf.Tensor) => void;
}

export interface Pix2pixDeviceStepResult {
  /** The four losses in PIX2PIX_LOSS_NAMES order, [4]; the caller reads and disposes it. */
  readonly losses: tf.Tensor1D;
  /** G's gradients by key (empty with hooks.onGradientG); the caller disposes them. */
  readonly gradientsG: Map<string, tf.Tensor>;
  /** The first generated image [1, H, W, output_nc], when asked for; the caller disposes it. */
  readonly fake?: tf.Tensor;
}

/**
 * pix2pixStep with nothing read to the host (the device path: webgpu, which
 * has no synchronous reads, and every backend but wasm): the same passes in
 * the same order, D's gradients handed to `hooks.updateD` as device tensors,
 * the losses returned as one device tensor. D is updated whatever its
 * losses: a non-finite loss is found by the caller after the step, which then
 * stops without saving.
 */
export function pix2pixDeviceStep(model: Pix2pixStepModel, inputs: Pix2pixStepInputs, settings: Pix2pixLossSettings, hooks: Pix2pixDeviceStepHooks): Pix2pixDeviceStepResult {
  const { config, variables } = model;
  const keyOf = new Map<string, string>();
  const variablesOf = (keys: readonly string[]): tf.Variable[] =>
    keys.map((key) => {
      const variable = variables.get(key);
      if (variable === undefined) throw new Error(`pix2pix step: no variable ${key}`);
      keyOf.set(variable.name, key);
      return variable;
    });
  const tensorsByKey = (grads: tf.NamedTensorMap): Map<string, tf.Tensor> => {
    const out = new Map<string, tf.Tensor>();
    for (const [name, gradient] of Object.entries(grads)) {
      if (gradient == null) continue;
      const key = keyOf.get(name);
      if (key === undefined) throw new Error(`pix2pix step: a gradient for an unknown variable ${name}`);
      out.set(key, gradient);
    }
    return out;
  };
  const varsD = variablesOf(model.keysD);
  const schedule = hooks.schedule ?? 'lean';
  const { generatorOptions, discriminatorOptions } = forwardOptions(schedule, hooks.dropout);
  const kept: Partial<Record<Pix2pixLossName, tf.Scalar>> = {};
  let keptFake: tf.Tensor | undefined;
  const gradientsG = new Map<string, tf.Tensor>();
  const differentiate = differentiation(schedule);
  // A clone shares the data: kept past the sink's dispose, for the caller.
  const receiveG = hooks.onGradientG ?? ((key: string, gradient: tf.Tensor): void => void gradientsG.set(key, tf.keep(gradient.clone())));
  try {
    differentiateG(differentiate, variables, model.keysG, receiveG, (paramsG) => {
      const fake = pix2pixGenerate(config, paramsG, inputs.A, generatorOptions);
      if (hooks.keepFake) keptFake = tf.keep(tf.slice(fake, [0, 0, 0, 0], [1, -1, -1, -1]));
      besideG(schedule, () => {
        const stepD = differentiate(() => {
          const { dFake, dReal } = discriminatorLosses(config, variables, inputs, fake, discriminatorOptions, settings.ganMode);
          kept.D_fake = tf.keep(dFake);
          kept.D_real = tf.keep(dReal);
          return tf.mul(tf.add(dFake, dReal), 0.5) as tf.Scalar;
        }, varsD);
        stepD.value.dispose();
        try {
          hooks.updateD(tensorsByKey(stepD.grads));
        } finally {
          tf.dispose(Object.values(stepD.grads));
        }
      });
      const gGan = pix2pixGanLoss(pix2pixDiscriminate(config, variables, tf.concat([inputs.A, fake], 3), discriminatorOptions), true, settings.ganMode);
      const gL1 = tf.mul(l1Loss(fake, inputs.B), settings.lambdaL1) as tf.Scalar;
      kept.G_GAN = tf.keep(gGan);
      kept.G_L1 = tf.keep(gL1);
      return tf.add(gGan, gL1) as tf.Scalar;
    });
    const losses = tf.tidy(() => tf.stack(PIX2PIX_LOSS_NAMES.map((name) => tf.reshape(kept[name]!, []))) as tf.Tensor1D);
    return { losses, gradientsG, ...(keptFake ? { fake: keptFake } : {}) };
  } catch (error) {
    keptFake?.dispose();
    tf.dispose([...gradientsG.values()]);
    throw error;
  } finally {
    tf.dispose(Object.values(kept));
  }
}
