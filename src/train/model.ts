/**
 * The networks being trained: their parameters as tf.Variables, which of
 * them each optimizer updates (by stage), and the Adam state of each
 * optimizer, with conversion to and from the checkpoint and optimizer files.
 *
 * Optimizers follow the reference: optimizer_G holds G's parameters plus
 * E's with --instance-feat; optimizer_D holds D's. `train local` keeps the
 * global part (`G.model.*`) fixed and trains every enhancer (`G.model{k}_*`);
 * with --niter-fix-global N it follows the reference's niter_fix_global:
 * only the outermost enhancer, `G.model{n}_*`, for the first N epochs, then
 * every G parameter with a fresh optimizer_G (update_fixed_params).
 * Batch-norm running statistics are buffers, updated by the forward pass,
 * never by Adam.
 */
import * as tf from '@tensorflow/tfjs-core';
import { InputError } from '../errors.js';
import { overwriteInPlace, valuesForUpload } from '../backend/buffers.js';
import type { Stage } from '../families/pix2pixhd/stages.js';
import { makeTensor, type Tensor } from '../data/formats/safetensors.js';
import { firstNonFinite } from '../families/checkpoint.js';
import type { ArchConfig } from '../families/pix2pixhd/config.js';
import { isTrainable, type ParamSpec } from '../model/layers.js';
import { modelSpecs, trainingNetworks, type NetworkName } from '../families/pix2pixhd/networks.js';
import { fromReferenceLayout, readReferenceTensor, referenceShape, toReferenceLayout, toReferenceTensor, toVariables } from '../model/params.js';
import { trainsOnHost } from '../backend/capabilities.js';
import { adamUpdate, createSharedSlots, type AdamHyperparameters, type AdamSlot } from './adam.js';
import { createDeviceMoments, disposeDeviceMoments, type DeviceMoments } from './deviceAdam.js';

/** optimizer_G (G's parameters, + E's: stepped on loss_G) and optimizer_D (D's: stepped on loss_D). */
export type OptimizerName = 'G' | 'D';

/**
 * One Adam optimizer: its step count and, per parameter, a host slot (the
 * wasm path) or device moments (every other backend; the weights are the
 * variables themselves).
 */
export class AdamState {
  step = 0;
  readonly slots = new Map<string, AdamSlot>();
  readonly moments = new Map<string, DeviceMoments>();

  constructor(readonly keys: readonly string[], variables: ReadonlyMap<string, tf.Variable>, onHost: boolean) {
    // The master copy of the weights lives here, outside the tensor heap,
    // in shared memory so the Adam worker can update it in place.
    const slots = onHost ? createSharedSlots(keys.map((key) => variables.get(key)!.size)) : [];
    keys.forEach((key, index) => {
      const variable = variables.get(key)!;
      const slot = slots[index];
      if (slot) {
        slot.weights.set(variable.dataSync() as Float32Array);
        this.slots.set(key, slot);
      } else {
        this.moments.set(key, createDeviceMoments(variable));
      }
    });
  }
}

export interface TrainingModel {
  readonly config: ArchConfig;
  readonly stage: Stage;
  readonly networks: readonly NetworkName[];
  readonly specs: readonly ParamSpec[];
  readonly specByKey: ReadonlyMap<string, ParamSpec>;
  readonly variables: Map<string, tf.Variable>;
  readonly optimizers: Readonly<Record<OptimizerName, AdamState>>;
  /** The optimizer of each trained parameter; the parameters a stage keeps fixed are absent. */
  readonly optimizerOf: ReadonlyMap<string, OptimizerName>;
  /** Adam on the host (wasm: slots, gradients read out) or on the device (moments beside the weights). */
  readonly adamOnHost: boolean;
}

/**
 * Which of G's parameters optimizer_G trains: all of them, the enhancers
 * (`G.model{k}_*`, train local's default), or only the outermost enhancer
 * `G.model{n}_*` (--niter-fix-global's first epochs).
 */
export type GeneratorTraining = 'all' | 'enhancers' | 'outermost';

/** What optimizer_G trains in `epoch` (1-based) of a `stage` run with --niter-fix-global `niterFixGlobal`. */
export function generatorTraining(stage: Stage, niterFixGlobal: number, epoch: number): GeneratorTraining {
  if (stage !== 'local') return 'all';
  if (niterFixGlobal === 0) return 'enhancers';
  return epoch <= niterFixGlobal ? 'outermost' : 'all';
}

/** The parameter keys each optimizer trains in `stage`, in spec order (E's join G's in optimizer_G). */
export function optimizerKeys(stage: Stage, specs: readonly ParamSpec[], generator: GeneratorTraining = generatorTraining(stage, 0, 1)): Record<OptimizerName, string[]> {
  const enhancer = /^G\.model(\d+)_/;
  const outermost = Math.max(0, ...specs.map((spec) => Number(enhancer.exec(spec.key)?.[1] ?? 0)));
  const trainsG = (key: string): boolean => {
    if (generator === 'all') return true;
    const match = enhancer.exec(key);
    return match !== null && (generator === 'enhancers' || Number(match[1]) === outermost);
  };
  const trainable = specs.filter((spec) => isTrainable(spec));
  const keys = (keep: (key: string) => boolean): string[] => trainable.map((spec) => spec.key).filter(keep);
  return {
    G: keys((key) => key.startsWith('E.') || (key.startsWith('G.') && trainsG(key))),
    D: keys((key) => key.startsWith('D.')),
  };
}

/**
 * Takes ownership of `params` (tfjs layouts, every key of `networks`, by
 * default the config's training networks). Where Adam runs is the backend's
 * choice (backend/capabilities.ts); `adamOnHost` overrides it for tests.
 */
export function createTrainingModel(
  config: ArchConfig,
  stage: Stage,
  params: Map<string, tf.Tensor>,
  options: { generator?: GeneratorTraining; networks?: readonly NetworkName[]; adamOnHost?: boolean } = {},
): TrainingModel {
  const { generator, adamOnHost = trainsOnHost() } = options;
  const networks = options.networks ?? trainingNetworks(config);
  const specs = modelSpecs(config, networks);
  const variables = toVariables(params, specs);
  for (const value of params.values()) value.dispose();
  const keys = optimizerKeys(stage, specs, generator);
  return {
    config,
    stage,
    networks,
    specs,
    specByKey: new Map(specs.map((spec) => [spec.key, spec])),
    variables,
    optimizers: {
      G: new AdamState(keys.G, variables, adamOnHost),
      D: new AdamState(keys.D, variables, adamOnHost),
    },
    optimizerOf: new Map([...keys.G.map((key) => [key, 'G'] as const), ...keys.D.map((key) => [key, 'D'] as const)]),
    adamOnHost,
  };
}

/**
 * The same networks (variables shared, not copied) with optimizer_G now
 * training `generator`'s parameters from a fresh Adam state (step 0, zero
 * moments), as the reference's update_fixed_params builds a new
 * optimizer_G. optimizer_D keeps its state. The variables hold the current
 * weights (uploadWeights runs after every step), so the new master copies
 * start from them.
 */
export function retrainGenerator(model: TrainingModel, generator: GeneratorTraining): TrainingModel {
  const keys = optimizerKeys(model.stage, model.specs, generator);
  disposeAdamMoments(model.optimizers.G);
  return {
    ...model,
    optimizers: { G: new AdamState(keys.G, model.variables, model.adamOnHost), D: model.optimizers.D },
    optimizerOf: new Map([...keys.G.map((key) => [key, 'G'] as const), ...keys.D.map((key) => [key, 'D'] as const)]),
  };
}

export function disposeTrainingModel(model: TrainingModel): void {
  for (const variable of model.variables.values()) variable.dispose();
  model.variables.clear();
  for (const optimizer of Object.values(model.optimizers)) disposeAdamMoments(optimizer);
}

/** Frees an optimizer's device moments (the host path's slots are ordinary memory). */
export function disposeAdamMoments(optimizer: AdamState): void {
  for (const moments of optimizer.moments.values()) disposeDeviceMoments(moments);
  optimizer.moments.clear();
}

/**
 * One Adam step of `optimizer` from `gradients` (JavaScript memory),
 * writing the new weights into the variables.
 */
export function applyAdam(model: TrainingModel, name: OptimizerName, gradients: ReadonlyMap<string, Float32Array>, hyper: AdamHyperparameters): void {
  const optimizer = model.optimizers[name];
  optimizer.step += 1;
  for (const key of optimizer.keys) {
    const gradient = gradients.get(key);
    // Every trained parameter lies on the loss's path; a missing gradient is a bug.
    if (gradient === undefined) throw new Error(`applyAdam: no gradient for ${key}`);
    adamUpdate(optimizer.slots.get(key)!, gradient, optimizer.step, hyper);
  }
  uploadWeights(model, name);
}

/** Copies the master weights of `optimizer`'s parameters into their variables (after Adam updated them). */
export function uploadWeights(model: TrainingModel, name: OptimizerName): void {
  for (const [key, slot] of model.optimizers[name].slots) {
    const variable = model.variables.get(key)!;
    if (overwriteInPlace(variable, slot.weights)) continue;
    // Adam overwrites the master weights in place: the tensor must not keep them.
    const updated = tf.tensor(valuesForUpload(slot.weights), variable.shape, 'float32');
    variable.assign(updated);
    updated.dispose();
  }
}

/**
 * Every parameter in the reference's names and layouts, for the checkpoint
 * file. A trained weight is taken from its master copy, whose bits are its
 * variable's (uploadWeights puts them there), not read back from the backend.
 */
export function checkpointTensors(model: TrainingModel): Map<string, Tensor> {
  const tensors = new Map<string, Tensor>();
  for (const spec of model.specs) {
    const optimizer = model.optimizerOf.get(spec.key);
    const slot = optimizer && model.optimizers[optimizer].slots.get(spec.key)!;
    tensors.set(spec.key, slot ? makeTensor('F32', referenceShape(spec), toReferenceLayout(spec, slot.weights)) : toReferenceTensor(spec, model.variables.get(spec.key)!));
  }
  return tensors;
}

/**
 * checkpointTensors for either Adam: on the device every parameter is read
 * from its variable, asynchronously.
 */
export async function readCheckpointTensors(model: TrainingModel): Promise<Map<string, Tensor>> {
  if (model.adamOnHost) return checkpointTensors(model);
  const tensors = new Map<string, Tensor>();
  for (const spec of model.specs) tensors.set(spec.key, await readReferenceTensor(spec, model.variables.get(spec.key)!));
  return tensors;
}

/**
 * A moment (tfjs layout) in the reference's layout, as checkpoints store
 * weights. In plain JavaScript (never through the tensor heap), and a copy:
 * the moments live in shared memory the Adam worker writes.
 */
export function momentToReference(spec: ParamSpec, data: Float32Array): Float32Array {
  return toReferenceLayout(spec, data);
}

/** The inverse of momentToReference, into `target`. */
export function momentFromReference(spec: ParamSpec, data: Float32Array, target: Float32Array): void {
  fromReferenceLayout(spec, data, target);
}

/** Moment tensor names in the optimizer file: `<param key>.exp_avg` / `.exp_avg_sq`, as torch's Adam state names them. */
const MOMENT_SUFFIXES = Object.freeze({ m: '.exp_avg', v: '.exp_avg_sq' } as const);

/** optimizerTensors for either Adam: device moments are read asynchronously. */
export async function readOptimizerTensors(model: TrainingModel): Promise<Map<string, Tensor>> {
  if (model.adamOnHost) return optimizerTensors(model);
  const tensors = new Map<string, Tensor>();
  for (const optimizer of Object.values(model.optimizers)) {
    for (const [key, moments] of optimizer.moments) {
      const spec = model.specByKey.get(key)!;
      for (const moment of ['m', 'v'] as const) {
        const values = (await moments[moment].data()) as Float32Array;
        tensors.set(`${key}${MOMENT_SUFFIXES[moment]}`, makeTensor('F32', referenceShape(spec), momentToReference(spec, values)));
      }
    }
  }
  return tensors;
}

/** The Adam moments in the reference's layouts, for the optimizer file (host Adam). */
export function optimizerTensors(model: TrainingModel): Map<string, Tensor> {
  const tensors = new Map<string, Tensor>();
  for (const optimizer of Object.values(model.optimizers)) {
    for (const [key, slot] of optimizer.slots) {
      const spec = model.specByKey.get(key)!;
      for (const moment of ['m', 'v'] as const) {
        tensors.set(`${key}${MOMENT_SUFFIXES[moment]}`, makeTensor('F32', referenceShape(spec), momentToReference(spec, slot[moment])));
      }
    }
  }
  return tensors;
}

/** Restores the Adam moments and step counts saved by optimizerTensors. */
export function restoreOptimizers(model: TrainingModel, tensors: ReadonlyMap<string, Tensor>, steps: Record<OptimizerName, number>, source: string): void {
  for (const [name, optimizer] of Object.entries(model.optimizers) as Array<[OptimizerName, AdamState]>) {
    optimizer.step = steps[name];
    for (const key of optimizer.keys) {
      const spec = model.specByKey.get(key)!;
      const slot = optimizer.slots.get(key);
      const moments = optimizer.moments.get(key);
      for (const moment of ['m', 'v'] as const) {
        const tensorName = `${key}${MOMENT_SUFFIXES[moment]}`;
        const file = tensors.get(tensorName);
        if (file === undefined) throw new InputError(`${source}: has no tensor "${tensorName}"`);
        const expected = referenceShape(spec);
        if (file.dtype !== 'F32' || file.shape.join() !== expected.join()) {
          throw new InputError(`${source}: tensor "${tensorName}" is ${file.dtype} [${file.shape.join(', ')}], expected F32 [${expected.join(', ')}]`);
        }
        // A NaN or Inf moment (or a negative second moment, whose square
        // root is NaN) would turn every weight it touches into NaN at the
        // first step, and the next save would write them over the last good
        // checkpoint.
        const data = file.data as Float32Array;
        const bad = firstNonFinite(data);
        const negative = moment === 'v' && bad < 0 ? data.findIndex((value) => value < 0) : -1;
        if (bad >= 0 || negative >= 0) {
          const index = bad >= 0 ? bad : negative;
          throw new InputError(`${source}: tensor "${tensorName}" holds ${data[index]} (element ${index}): the optimizer state is corrupt; it cannot be resumed from`);
        }
        if (slot) {
          momentFromReference(spec, file.data as Float32Array, slot[moment]);
        } else if (moments) {
          const values = new Float32Array(file.data.length);
          momentFromReference(spec, file.data as Float32Array, values);
          const restored = tf.tensor(values, moments[moment].shape, 'float32');
          moments[moment].assign(restored);
          restored.dispose();
        }
      }
    }
  }
}
