/**
 * `p2phd train pix2pix`: the reference's pix2pix training (train.py with
 * --model pix2pix) on aligned samples, with the run machinery pix2pixHD's
 * training has: the run folder and its lock, options.json, latest +
 * epoch checkpoints written as a pair with the Adam state (bit-exact
 * --resume), signals and --time-limit (save, exit 75), --max-steps,
 * log.jsonl, TensorBoard, the run page and sample strips (A | fake B | real B).
 *
 * Per step (families/pix2pix/step.ts): G once, D's update on fake.detach()
 * and real, then G's loss through the updated D and G's update. Where Adam
 * runs is the backend's choice (backend/capabilities.ts), as for pix2pixHD:
 * on wasm on the host (the wasm SIMD kernel where there is one), D's
 * mid-step; on every other backend (webgpu included) on the device
 * (deviceAdam.ts), with the four losses read back once per step,
 * asynchronously.
 *
 * Randomness is counter-based, so a resumed run draws what an uninterrupted
 * one would: data order per (seed, epoch), each sample's crop and flip per
 * (seed, epoch, position) (data/datasets/aligned.ts), dropout per (seed,
 * step). The learning rate follows --lr-policy per epoch (lrPolicies.ts).
 */
import { randomBytes } from 'node:crypto';
import * as tf from '@tensorflow/tfjs-core';
import { DivergedError, ExitCode, InputError, StoppedError, UsageError } from '../errors.js';
import type { Logger } from '../log.js';
import { createProgress } from '../log.js';
import type { BackendInfo } from '../backend/index.js';
import { valuesForUpload } from '../backend/buffers.js';
import { trainsOnHost } from '../backend/capabilities.js';
import { checkWebgpuErrors } from '../backend/index.js';
import { makeTensor, type Tensor } from '../data/formats/safetensors.js';
import { readTensorFile, writeTensorFile, type TensorFile } from '../data/files/tensorFile.js';
import { RUN_FILES } from '../data/files/runFiles.js';
import { alignedCrop, type AlignedStep } from '../data/datasets/aligned.js';
import { openAlignedSampleFolder, readAlignedSample, type AlignedSampleFolder } from '../data/datasets/alignedSample.js';
import { isTrainable, type ParamSpec } from '../model/layers.js';
import { fromReferenceLayout, loadParams, readReferenceTensor, referenceShape, toReferenceLayout, toReferenceTensor, toVariables } from '../model/params.js';
import { Random } from '../model/random.js';
import { VERSION } from '../version.js';
import { discriminatorMinimumSide, pix2pixMinimumSide, pix2pixSizeMultiple, resolvePix2pixConfig, type Pix2pixConfig } from '../families/pix2pix/config.js';
import { pix2pixCheckpointFromFile, pix2pixCheckpointRecord, PIX2PIX_STAGE, type Pix2pixCheckpoint } from '../families/pix2pix/checkpoint.js';
import { SeededDropout } from '../families/pix2pix/dropout.js';
import { PIX2PIX_RESUMABLE_FLAGS, pix2pixArchitectureFlags, requirePix2pixPaths, type Pix2pixFlagName, type Pix2pixFlagValues } from '../families/pix2pix/flags.js';
import { initPix2pixParams } from '../families/pix2pix/init.js';
import type { Pix2pixGanMode } from '../families/pix2pix/losses.js';
import { pix2pixSpecs } from '../families/pix2pix/networks.js';
import { readPix2pixReferenceFiles, referencePathsBeside } from '../families/pix2pix/referenceFiles.js';
import { nonFinitePix2pixLoss, PIX2PIX_LOSS_NAMES, pix2pixDeviceStep, pix2pixStep, type Pix2pixLosses } from '../families/pix2pix/step.js';
import { adamUpdate, createSharedSlots, type AdamHyperparameters, type AdamSlot } from './adam.js';
import { createDeviceMoments, DeviceAdamStep, disposeDeviceMoments, type DeviceMoments } from './deviceAdam.js';
import { checkPix2pixTrainingMemory } from './pix2pixMemory.js';
import { writePair, readPair } from './checkpointPair.js';
import { lastEpoch, policyLearningRate, type LrPolicy, type LrPolicySettings } from './lrPolicies.js';
import { RunFolder } from './runFolder.js';
import { RunRecorder } from './runRecorder.js';
import { ADAM_BETA2, ADAM_EPSILON } from './settings.js';
import { StopControl } from './stopControl.js';
import { computeWithSignalsEndingAtOnce, exitOnSignal } from '../lifecycle.js';

export interface Pix2pixTrainRequest {
  values: Pix2pixFlagValues;
  explicit: ReadonlySet<Pix2pixFlagName>;
  seed: number;
  seedExplicit: boolean;
  log: Logger;
  useBackend: () => Promise<BackendInfo>;
}

/** What a run's options.json records as its settings (everything but the architecture). */
export interface Pix2pixTrainSettings {
  data: string;
  out: string;
  seed: number;
  init?: string;
  epochs: number;
  decayEpochs: number;
  epochCount: number;
  lrPolicy: LrPolicy;
  lrDecayIters: number;
  batchSize: number;
  lr: number;
  beta1: number;
  ganMode: Pix2pixGanMode;
  lambdaL1: number;
  flip: boolean;
  serial: boolean;
  maxSteps?: number;
  timeLimit?: number;
  saveEvery: number;
  saveEpochEvery: number;
  sampleEvery: number;
  keepSamples: number;
}

export interface Pix2pixTrainSummary {
  stage: string;
  out: string;
  step: number;
  epoch: number;
  latest: string;
  losses?: Pix2pixLosses;
  secondsPerStep?: number;
  stopped?: string;
}

function settingsFromFlags(values: Pix2pixFlagValues, seed: number, paths: { data: string; out: string }): Pix2pixTrainSettings {
  const settings: Pix2pixTrainSettings = {
    data: paths.data,
    out: paths.out,
    seed,
    epochs: values.epochs,
    decayEpochs: values.decayEpochs,
    epochCount: values.epochCount,
    lrPolicy: values.lrPolicy as LrPolicy,
    lrDecayIters: values.lrDecayIters,
    batchSize: values.batchSize,
    lr: values.lr,
    beta1: values.beta1,
    ganMode: values.ganMode as Pix2pixGanMode,
    lambdaL1: values.lambdaL1,
    flip: values.flip,
    serial: values.serial,
    saveEvery: values.saveEvery,
    saveEpochEvery: values.saveEpochEvery,
    sampleEvery: values.sampleEvery,
    keepSamples: values.keepSamples,
    ...(values.init !== undefined ? { init: values.init } : {}),
    ...(values.maxSteps !== undefined ? { maxSteps: values.maxSteps } : {}),
    ...(values.timeLimit !== undefined ? { timeLimit: values.timeLimit } : {}),
  };
  if (settings.lrPolicy === 'cosine' && settings.epochs < 1) throw new UsageError('--lr-policy cosine anneals over --epochs, which must then be at least 1');
  if (settings.epochCount > lastEpoch({ nEpochs: settings.epochs, nEpochsDecay: settings.decayEpochs })) {
    throw new UsageError(`--epoch-count ${settings.epochCount} is after the last epoch (--epochs + --decay-epochs = ${settings.epochs + settings.decayEpochs})`);
  }
  return settings;
}

function policyOf(settings: Pix2pixTrainSettings): LrPolicySettings {
  return { policy: settings.lrPolicy, lr: settings.lr, nEpochs: settings.epochs, nEpochsDecay: settings.decayEpochs, lrDecayIters: settings.lrDecayIters, epochCount: settings.epochCount };
}

/** The trained networks: variables, Adam slots, step counts. */
interface Pix2pixModel {
  readonly config: Pix2pixConfig;
  readonly specs: readonly ParamSpec[];
  readonly specByKey: ReadonlyMap<string, ParamSpec>;
  readonly variables: Map<string, tf.Variable>;
  readonly keysG: string[];
  readonly keysD: string[];
  /** Adam on the host (wasm: slots, the master weights) or on the device (moments beside the variables). */
  readonly onHost: boolean;
  readonly slots: Map<string, AdamSlot>;
  readonly moments: Map<string, DeviceMoments>;
  readonly steps: { G: number; D: number };
}

function createModel(config: Pix2pixConfig, params: Map<string, tf.Tensor>, onHost: boolean): Pix2pixModel {
  const specs = pix2pixSpecs(config);
  const variables = toVariables(params, specs);
  for (const value of params.values()) value.dispose();
  const trained = specs.filter(isTrainable);
  const slots = new Map<string, AdamSlot>();
  const moments = new Map<string, DeviceMoments>();
  if (onHost) {
    const slotList = createSharedSlots(trained.map((spec) => variables.get(spec.key)!.size));
    trained.forEach((spec, index) => {
      const slot = slotList[index]!;
      slot.weights.set(variables.get(spec.key)!.dataSync() as Float32Array);
      slots.set(spec.key, slot);
    });
  } else {
    for (const spec of trained) moments.set(spec.key, createDeviceMoments(variables.get(spec.key)!));
  }
  return {
    config,
    specs,
    specByKey: new Map(specs.map((spec) => [spec.key, spec])),
    variables,
    keysG: trained.filter((spec) => spec.key.startsWith('G.')).map((spec) => spec.key),
    keysD: trained.filter((spec) => spec.key.startsWith('D.')).map((spec) => spec.key),
    onHost,
    slots,
    moments,
    steps: { G: 0, D: 0 },
  };
}

function disposeModel(model: Pix2pixModel): void {
  for (const variable of model.variables.values()) variable.dispose();
  model.variables.clear();
  for (const moments of model.moments.values()) disposeDeviceMoments(moments);
  model.moments.clear();
}

/** One optimizer's Adam step from host gradients; the new weights go into the variables. */
function adamStep(model: Pix2pixModel, network: 'G' | 'D', gradients: ReadonlyMap<string, Float32Array>, hyper: AdamHyperparameters): void {
  const keys = network === 'G' ? model.keysG : model.keysD;
  model.steps[network] += 1;
  for (const key of keys) {
    const gradient = gradients.get(key);
    if (gradient === undefined) throw new Error(`pix2pix training: no gradient for ${key}`);
    const slot = model.slots.get(key)!;
    adamUpdate(slot, gradient, model.steps[network], hyper);
    const variable = model.variables.get(key)!;
    const updated = tf.tensor(valuesForUpload(slot.weights), variable.shape, 'float32');
    variable.assign(updated);
    updated.dispose();
  }
}

/**
 * One step on the device: D's and G's Adam updates run on the device as the
 * step hands over their gradients; the losses (and, on sample steps, the
 * first fake image) are the only reads, asynchronous. A non-finite loss is
 * seen only after both updates: the caller stops without saving them.
 */
async function deviceStep(
  model: Pix2pixModel,
  stepModel: Parameters<typeof pix2pixDeviceStep>[0],
  inputs: Parameters<typeof pix2pixDeviceStep>[1],
  lossSettings: Parameters<typeof pix2pixDeviceStep>[2],
  dropout: SeededDropout | undefined,
  keepFake: boolean,
  hyper: AdamHyperparameters,
): Promise<{ losses: Pix2pixLosses; fake?: Float32Array }> {
  const adam = { G: new DeviceAdamStep(model.steps.G + 1, hyper), D: new DeviceAdamStep(model.steps.D + 1, hyper) };
  const applyD = (gradients: ReadonlyMap<string, tf.Tensor>): void => {
    for (const key of model.keysD) {
      const gradient = gradients.get(key);
      if (gradient === undefined) throw new Error(`pix2pix training: no gradient for ${key}`);
      adam.D.update(model.variables.get(key)!, model.moments.get(key)!, gradient);
    }
    model.steps.D += 1;
  };
  try {
    // optimizer_G's step runs on each of G's gradients as the backward pass produces it (none pile up).
    const updatedG = new Set<string>();
    const result = pix2pixDeviceStep(stepModel, inputs, lossSettings, {
      ...(dropout ? { dropout } : {}),
      keepFake,
      updateD: applyD,
      onGradientG: (key, gradient) => {
        adam.G.update(model.variables.get(key)!, model.moments.get(key)!, gradient);
        updatedG.add(key);
      },
    });
    try {
      const missing = model.keysG.find((key) => !updatedG.has(key));
      if (missing !== undefined) throw new Error(`pix2pix training: no gradient for ${missing}`);
      model.steps.G += 1;
      const values = (await result.losses.data()) as Float32Array;
      const fake = result.fake ? ((await result.fake.data()) as Float32Array) : undefined;
      // Dawn's validation and out-of-memory errors are silent in tfjs: raised here, once per step.
      await checkWebgpuErrors();
      const losses = Object.fromEntries(PIX2PIX_LOSS_NAMES.map((name, i) => [name, values[i]!])) as Pix2pixLosses;
      return { losses, ...(fake ? { fake } : {}) };
    } finally {
      tf.dispose([result.losses, ...result.gradientsG.values(), ...(result.fake ? [result.fake] : [])]);
    }
  } finally {
    adam.G.dispose();
    adam.D.dispose();
  }
}

/** Every parameter and buffer in the reference's layout; on the device path read asynchronously from the variables. */
async function checkpointTensors(model: Pix2pixModel): Promise<Map<string, Tensor>> {
  const tensors = new Map<string, Tensor>();
  if (!model.onHost) {
    for (const spec of model.specs) tensors.set(spec.key, await readReferenceTensor(spec, model.variables.get(spec.key)!));
    return tensors;
  }
  for (const spec of model.specs) {
    const slot = model.slots.get(spec.key);
    tensors.set(spec.key, slot ? makeTensor('F32', referenceShape(spec), toReferenceLayout(spec, slot.weights)) : toReferenceTensor(spec, model.variables.get(spec.key)!));
  }
  return tensors;
}

const MOMENTS = Object.freeze({ m: '.exp_avg', v: '.exp_avg_sq' } as const);

async function optimizerTensors(model: Pix2pixModel): Promise<Map<string, Tensor>> {
  const tensors = new Map<string, Tensor>();
  for (const [key, moments] of model.moments) {
    const spec = model.specByKey.get(key)!;
    for (const moment of ['m', 'v'] as const) {
      const values = (await moments[moment].data()) as Float32Array;
      tensors.set(`${key}${MOMENTS[moment]}`, makeTensor('F32', referenceShape(spec), toReferenceLayout(spec, values)));
    }
  }
  for (const [key, slot] of model.slots) {
    const spec = model.specByKey.get(key)!;
    for (const moment of ['m', 'v'] as const) tensors.set(`${key}${MOMENTS[moment]}`, makeTensor('F32', referenceShape(spec), toReferenceLayout(spec, slot[moment])));
  }
  return tensors;
}

function restoreOptimizer(model: Pix2pixModel, file: TensorFile): void {
  const keys = model.onHost ? [...model.slots.keys()] : [...model.moments.keys()];
  for (const key of keys) {
    const spec = model.specByKey.get(key)!;
    for (const moment of ['m', 'v'] as const) {
      const name = `${key}${MOMENTS[moment]}`;
      const tensor = file.tensors.get(name);
      const expected = referenceShape(spec);
      if (tensor === undefined || tensor.dtype !== 'F32' || tensor.shape.join() !== expected.join()) {
        throw new InputError(`${file.source}: tensor "${name}" is missing or not F32 [${expected.join(', ')}]`);
      }
      const slot = model.slots.get(key);
      if (slot) {
        fromReferenceLayout(spec, tensor.data as Float32Array, slot[moment]);
      } else {
        const target = model.moments.get(key)![moment];
        const values = new Float32Array(target.size);
        fromReferenceLayout(spec, tensor.data as Float32Array, values);
        const restored = tf.tensor(values, target.shape, 'float32');
        target.assign(restored);
        restored.dispose();
      }
    }
  }
  const steps = file.p2phd['adam_steps'] as Record<string, unknown> | undefined;
  for (const network of ['G', 'D'] as const) {
    const value = steps?.[network];
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw new InputError(`${file.source}: optimizer metadata has no valid adam_steps.${network}`);
    model.steps[network] = value;
  }
}

function positionOf(file: TensorFile): { epoch: number; index: number; step: number } {
  const at = file.p2phd['resume_at'] as Record<string, unknown> | undefined;
  const read = (value: unknown, what: string): number => {
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw new InputError(`${file.source}: optimizer metadata has no valid ${what}`);
    return value;
  };
  return { epoch: read(at?.['epoch'], 'resume_at.epoch'), index: read(at?.['index'], 'resume_at.index'), step: read(file.p2phd['step'], 'step') };
}

/** The side a sample trains at: the crop in the *crop modes (at most the image), the whole image otherwise. */
function trainingSize(sample: AlignedSampleFolder['samples'][number]): { height: number; width: number } {
  if (!sample.mode.endsWith('crop')) return { height: sample.height, width: sample.width };
  return { height: Math.min(sample.cropSize, sample.height), width: Math.min(sample.cropSize, sample.width) };
}

/** Refuses samples G or D cannot train on (exit 3 naming the first), and batches of mixed sizes. */
function checkSizes(folder: AlignedSampleFolder, config: Pix2pixConfig, batchSize: number): { height: number; width: number } {
  const multiple = pix2pixSizeMultiple(config);
  const minimum = Math.max(pix2pixMinimumSide(config), discriminatorMinimumSide(config));
  let first: { height: number; width: number; path: string } | undefined;
  for (const sample of folder.samples) {
    const size = trainingSize(sample);
    if (size.height % multiple !== 0 || size.width % multiple !== 0 || size.height < minimum || size.width < minimum) {
      throw new InputError(
        `${sample.path}: trains at ${size.width}x${size.height}, but --net-g ${config.netG} needs sides that are multiples of ${multiple} (at least ${minimum}); ` +
          `preprocess with --crop-size (or --load-size with --resize-or-crop none) at a multiple of ${multiple}${config.netG.startsWith('unet') ? ', or train --net-g resnet_9blocks' : ''}`,
      );
    }
    first ??= { ...size, path: sample.path };
    if (batchSize > 1 && (size.height !== first.height || size.width !== first.width)) {
      throw new InputError(`${sample.path}: trains at ${size.width}x${size.height} but ${first.path} at ${first.width}x${first.height}; --batch-size ${batchSize} needs one size (preprocess with a crop mode)`);
    }
  }
  return first!;
}

interface Pix2pixBatch {
  count: number;
  height: number;
  width: number;
  A: Float32Array;
  B: Float32Array;
  /** The first sample's crop, for the strip. */
  first: AlignedStep;
}

/** The samples of batch `index` of `epoch`: cropped and flipped per (seed, epoch, position), concatenated. */
async function loadBatch(folder: AlignedSampleFolder, settings: Pix2pixTrainSettings, epoch: number, index: number): Promise<Pix2pixBatch> {
  const order = folder.samples.map((_, i) => i);
  const ordered = settings.serial ? order : Random.forLabel(settings.seed, `data-order/epoch-${epoch}`).shuffle(order);
  const steps: AlignedStep[] = [];
  for (let j = 0; j < settings.batchSize; j++) {
    const position = index * settings.batchSize + j;
    const info = folder.samples[ordered[position]!]!;
    const sample = await readAlignedSample(info.path);
    const random = Random.forLabel(settings.seed, `augment/epoch-${epoch}/position-${position}`);
    const step = alignedCrop(sample, { mode: sample.metadata.resize.mode, cropSize: sample.metadata.resize.crop_size, flip: settings.flip }, random);
    if (steps.length > 0 && (step.height !== steps[0]!.height || step.width !== steps[0]!.width)) {
      throw new InputError(`${info.path}: its crop is ${step.width}x${step.height}, the batch's ${steps[0]!.width}x${steps[0]!.height}`);
    }
    steps.push(step);
  }
  const { height, width, aChannels, bChannels } = steps[0]!;
  const A = new Float32Array(steps.length * height * width * aChannels);
  const B = new Float32Array(steps.length * height * width * bChannels);
  steps.forEach((step, j) => {
    A.set(step.A, j * step.A.length);
    B.set(step.B, j * step.B.length);
  });
  return { count: steps.length, height, width, A, B, first: steps[0]! };
}

/** [H*W*C] in [-1, 1] -> [H*W*3] (grey repeated). */
function toRgb(values: Float32Array, channels: number): Float32Array {
  if (channels === 3) return values;
  const pixels = values.length / channels;
  const out = new Float32Array(pixels * 3);
  for (let i = 0; i < pixels; i++) for (let c = 0; c < 3; c++) out[3 * i + c] = values[i * channels + Math.min(c, channels - 1)]!;
  return out;
}

function signedToBytes(values: Float32Array): Uint8Array {
  const bytes = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) bytes[i] = Math.trunc(Math.min(255, Math.max(0, ((values[i]! + 1) / 2) * 255)));
  return bytes;
}

/** --init: a p2phd pix2pix checkpoint, or the reference's .pth (with its D and train_opt.txt beside it). */
async function readInit(path: string, log: Logger): Promise<{ tensors: ReadonlyMap<string, Tensor>; config: Pix2pixConfig; source: string }> {
  if (/\.pth$/i.test(path)) {
    const imported = await readPix2pixReferenceFiles(await referencePathsBeside(path));
    for (const line of imported.notes) log.info(line);
    return { tensors: imported.tensors, config: imported.config, source: path };
  }
  const { resolveCheckpointPath } = await import('../families/checkpoint.js');
  const checkpoint = pix2pixCheckpointFromFile(await readTensorFile(await resolveCheckpointPath(path), 'checkpoint'));
  return { tensors: checkpoint.tensors, config: checkpoint.meta.config, source: checkpoint.source };
}

export async function runPix2pixTraining(request: Pix2pixTrainRequest): Promise<Pix2pixTrainSummary> {
  const { values, log } = request;
  const paths = requirePix2pixPaths(values);
  const run = new RunFolder(paths.out);
  await run.lock({ create: !values.resume });
  try {
    let stored: { settings: Pix2pixTrainSettings; config: Pix2pixConfig; runId: string } | undefined;
    let settings: Pix2pixTrainSettings;
    if (values.resume) {
      await run.prepareResume();
      const raw = await run.readOptions();
      if (raw['family'] !== 'pix2pix') throw new UsageError(`--resume: ${run.options} is a ${String(raw['family'] ?? 'pix2pixhd')} run, not a pix2pix one`);
      const config = resolvePix2pixConfig(raw['config'], (message) => new UsageError(`${run.options}: ${message}`));
      const storedSettings = raw['settings'] as Pix2pixTrainSettings;
      for (const name of request.explicit) {
        if (PIX2PIX_RESUMABLE_FLAGS.includes(name) || name === 'resume' || name === 'data' || name === 'out') continue;
        throw new UsageError(`--resume: ${name} cannot change on --resume (the run keeps its options.json); only ${PIX2PIX_RESUMABLE_FLAGS.join(', ')} may`);
      }
      if (request.seedExplicit && request.seed !== storedSettings.seed) throw new UsageError(`--resume: --seed ${request.seed} differs from the run's ${storedSettings.seed}`);
      const current: Record<string, unknown> = { ...storedSettings, data: paths.data };
      for (const name of PIX2PIX_RESUMABLE_FLAGS) if (name !== 'resume' && (request.explicit.has(name) || !['epochs', 'decayEpochs'].includes(name))) current[name] = values[name];
      settings = current as unknown as Pix2pixTrainSettings;
      stored = { settings, config, runId: String(raw['run_id']) };
    } else {
      settings = settingsFromFlags(values, request.seed, paths);
      await run.prepareNew();
    }
    const latestPath = run.checkpoint(RUN_FILES.latest);
    const saved = { exists: stored !== undefined };
    const stop = new StopControl({
      ...(settings.timeLimit !== undefined ? { timeLimitMinutes: settings.timeLimit } : {}),
      onFirstSignal: (signal) => log.info(`${signal}: saving and exiting 75 after this step (a second signal ends the process at once; ${latestPath} stays intact)`),
      onSecondSignal: (signal) =>
        exitOnSignal(signal, `second ${signal}: exiting now; ${saved.exists ? `the last saved checkpoint (${latestPath}) is intact: continue with --resume (exit 75)` : 'no checkpoint was saved yet'}`, saved.exists ? ExitCode.stopped : undefined),
    });
    stop.install();
    try {
      return await prepareAndTrain(request, run, settings, stored, stop, saved);
    } finally {
      stop.uninstall();
    }
  } finally {
    await run.unlock();
  }
}

async function prepareAndTrain(
  request: Pix2pixTrainRequest,
  run: RunFolder,
  settings: Pix2pixTrainSettings,
  stored: { settings: Pix2pixTrainSettings; config: Pix2pixConfig; runId: string } | undefined,
  stop: StopControl,
  saved: { exists: boolean },
): Promise<Pix2pixTrainSummary> {
  const { log } = request;
  const folder = await openAlignedSampleFolder(settings.data);
  const backend = await request.useBackend();
  const channels = { input_nc: folder.inputNc, output_nc: folder.outputNc };
  const checkChannels = (config: Pix2pixConfig, what: string): void => {
    if (config.input_nc !== folder.inputNc || config.output_nc !== folder.outputNc) {
      throw new UsageError(`${what} has input_nc ${config.input_nc}, output_nc ${config.output_nc}, but the samples in ${settings.data} have ${folder.inputNc}, ${folder.outputNc}`);
    }
  };

  const onHost = trainsOnHost(backend.name);
  // The samples' size and the memory a step needs are checked before any weight is made.
  let size: { height: number; width: number } | undefined;
  const admit = (config: Pix2pixConfig): void => {
    size = checkSizes(folder, config, settings.batchSize);
    checkPix2pixTrainingMemory(config, size, settings.batchSize, backend.name, onHost);
  };
  let config: Pix2pixConfig;
  let params: Map<string, tf.Tensor>;
  let resumeFile: TensorFile | undefined;
  let position = { epoch: settings.epochCount, index: 0, step: 0 };
  if (stored) {
    const pair = await readPair({ checkpoint: run.checkpoint(RUN_FILES.latest), optimizer: run.optimizer(RUN_FILES.latest) }, (line) => log.info(line));
    if (pair.optimizer.p2phd['run_id'] !== stored.runId) throw new InputError(`--resume: ${pair.optimizer.source} belongs to run ${String(pair.optimizer.p2phd['run_id'])} but ${run.options} to run ${stored.runId}`);
    const checkpoint: Pix2pixCheckpoint = pix2pixCheckpointFromFile(pair.checkpoint);
    config = checkpoint.meta.config;
    checkChannels(config, `--resume: the run (${run.options})`);
    admit(config);
    params = loadParams(pix2pixSpecs(config), checkpoint.tensors, { source: checkpoint.source, mode: 'strict' }).params;
    resumeFile = pair.optimizer;
    position = positionOf(pair.optimizer);
  } else if (settings.init !== undefined) {
    const init = await readInit(settings.init, log);
    config = resolvePix2pixConfig({ ...init.config, ...pix2pixArchitectureFlags(request.values), ...channels });
    admit(config);
    const result = loadParams(pix2pixSpecs(config), init.tensors, { source: init.source, mode: 'partial', seed: settings.seed });
    params = result.params;
    log.info(`--init ${init.source}: ${result.loaded.length} tensors loaded, ${result.initialised.length} initialised${result.initialised.length > 0 ? ` (${result.initialised.slice(0, 5).map((entry) => `${entry.key}: ${entry.reason}`).join('; ')}${result.initialised.length > 5 ? '; ...' : ''})` : ''}`);
    // Initialised tensors follow the config's init scheme, not pix2pixHD's.
    const fresh = initPix2pixParams(pix2pixSpecs(config).filter((spec) => result.initialised.some((entry) => entry.key === spec.key)), config, settings.seed);
    for (const [key, value] of fresh) {
      params.get(key)?.dispose();
      params.set(key, value);
    }
  } else {
    config = resolvePix2pixConfig({ ...pix2pixArchitectureFlags(request.values), ...channels });
    admit(config);
    params = initPix2pixParams(pix2pixSpecs(config), config, settings.seed);
  }
  const trainSize = size!;
  const perEpoch = Math.floor(folder.samples.length / settings.batchSize);
  if (perEpoch === 0) throw new UsageError(`--batch-size ${settings.batchSize} is larger than the ${folder.samples.length} samples in ${settings.data}`);

  const model = createModel(config, params, onHost);
  try {
    if (resumeFile) {
      restoreOptimizer(model, resumeFile);
      log.info(`resuming ${run.checkpoint(RUN_FILES.latest)} at step ${position.step} (epoch ${position.epoch}, batch ${position.index})`);
    }
    const runId = stored?.runId ?? randomBytes(6).toString('hex');
    if (!stored) {
      await run.writeOptions({
        p2phd_version: VERSION,
        family: 'pix2pix',
        run_id: runId,
        stage: PIX2PIX_STAGE,
        settings,
        config,
        data: { samples: folder.samples.length, input_nc: folder.inputNc, output_nc: folder.outputNc, direction: folder.direction, train_size: [trainSize.height, trainSize.width] },
      });
    }
    log.info(
      `train pix2pix: ${folder.samples.length} samples, ${perEpoch} steps per epoch, epochs ${settings.epochCount} to ${lastEpoch({ nEpochs: settings.epochs, nEpochsDecay: settings.decayEpochs })} (--lr-policy ${settings.lrPolicy}); ` +
        `G ${config.netG} ngf ${config.ngf} (${config.norm} norm${config.no_dropout ? '' : ', dropout'}), D ${config.netD}${config.netD === 'n_layers' ? ` ${config.n_layers_D}` : ''} ndf ${config.ndf}; --gan-mode ${settings.ganMode}, --lambda-l1 ${settings.lambdaL1}`,
    );
    return await trainLoop({ request, settings, run, folder, model, position, perEpoch, runId, stop, saved, direction: folder.direction, resumed: stored !== undefined });
  } finally {
    disposeModel(model);
  }
}

interface LoopContext {
  request: Pix2pixTrainRequest;
  settings: Pix2pixTrainSettings;
  run: RunFolder;
  folder: AlignedSampleFolder;
  model: Pix2pixModel;
  position: { epoch: number; index: number; step: number };
  perEpoch: number;
  runId: string;
  stop: StopControl;
  saved: { exists: boolean };
  direction: 'AtoB' | 'BtoA';
  resumed: boolean;
}

async function trainLoop(context: LoopContext): Promise<Pix2pixTrainSummary> {
  const { request, settings, run, folder, model, perEpoch, stop, saved } = context;
  const { log } = request;
  const policy = policyOf(settings);
  const finalEpoch = lastEpoch(policy);
  const position = { ...context.position };
  const latestPath = run.checkpoint(RUN_FILES.latest);
  let lastSavedStep = context.resumed ? position.step : -1;
  let lastLosses: Pix2pixLosses | undefined;
  let stepSecondsTotal = 0;
  let stepsThisRun = 0;
  const allCount = [...model.variables.values()].reduce((total, variable) => total + variable.size, 0);
  stop.recordSave((12 * allCount) / 100e6);
  const epochsLeft = finalEpoch - settings.epochCount + 1;
  const plannedSteps = Math.min(settings.maxSteps ?? Infinity, perEpoch * epochsLeft);
  const progress = createProgress('train pix2pix', Math.max(0, plannedSteps - position.step));
  const weightsEpoch = (): number => (position.index === 0 ? position.epoch - 1 : position.epoch);
  const lrOf = (epoch: number): number => policyLearningRate(policy, Math.min(Math.max(epoch, settings.epochCount), finalEpoch));

  const save = async (epochCheckpoint: boolean): Promise<void> => {
    const started = Date.now();
    const tensors = await checkpointTensors(model);
    const checkpointMeta = pix2pixCheckpointRecord({ epoch: weightsEpoch(), step: position.step, lr: lrOf(position.epoch), config: model.config, direction: context.direction });
    if (epochCheckpoint) await writeTensorFile(run.checkpoint(run.epochName(weightsEpoch())), 'checkpoint', tensors, checkpointMeta);
    await writePair(
      { checkpoint: latestPath, optimizer: run.optimizer(RUN_FILES.latest) },
      {
        checkpointTensors: tensors,
        checkpointMeta,
        optimizerTensors: await optimizerTensors(model),
        optimizerMeta: {
          family: 'pix2pix',
          stage: PIX2PIX_STAGE,
          run_id: context.runId,
          step: position.step,
          resume_at: { epoch: position.epoch, index: position.index },
          adam_steps: { ...model.steps },
          adam: { lr: lrOf(position.epoch), beta1: settings.beta1, beta2: ADAM_BETA2, eps: ADAM_EPSILON },
          rng: { seed: settings.seed, scheme: 'counter-based: data-order/epoch-E, augment/epoch-E/position-P, dropout/step-S' },
        },
      },
    );
    saved.exists = true;
    lastSavedStep = position.step;
    stop.recordSave((Date.now() - started) / 1000);
    log.debug(`saved ${latestPath} at step ${position.step}${epochCheckpoint ? ` and ${run.epochName(weightsEpoch())}` : ''}`);
  };

  const recorder = await RunRecorder.open(run, { ...(context.resumed ? { resumedAtStep: position.step } : {}), keepSamples: settings.keepSamples, plannedSteps, log });
  let stopReason: string | undefined;
  try {
    outer: while (position.epoch <= finalEpoch) {
      const lr = lrOf(position.epoch);
      const hyper: AdamHyperparameters = { lr, beta1: settings.beta1, beta2: ADAM_BETA2, epsilon: ADAM_EPSILON };
      while (position.index < perEpoch) {
        if (settings.maxSteps !== undefined && position.step >= settings.maxSteps) break outer;
        stopReason = stop.reasonToStop();
        if (stopReason) break outer;
        const started = Date.now();
        const batch = await loadBatch(folder, settings, position.epoch, position.index);
        const keepFake = (position.step + 1) % settings.sampleEvery === 0 || position.index + 1 === perEpoch;
        const A = tf.tensor4d(batch.A, [batch.count, batch.height, batch.width, folder.inputNc]);
        const B = tf.tensor4d(batch.B, [batch.count, batch.height, batch.width, folder.outputNc]);
        let result: { losses: Pix2pixLosses; fake?: Float32Array; gradientsG?: Map<string, Float32Array> };
        try {
          const dropout = model.config.no_dropout ? undefined : new SeededDropout(Random.forLabel(settings.seed, `dropout/step-${position.step + 1}`));
          const stepModel = { config: model.config, variables: model.variables, keysG: model.keysG, keysD: model.keysD };
          const lossSettings = { ganMode: settings.ganMode, lambdaL1: settings.lambdaL1 };
          const step = async (): Promise<typeof result> =>
            model.onHost
              ? pix2pixStep(stepModel, { A, B }, lossSettings, { ...(dropout ? { dropout } : {}), keepFake, updateD: (gradients) => adamStep(model, 'D', gradients, hyper) })
              : deviceStep(model, stepModel, { A, B }, lossSettings, dropout, keepFake, hyper);
          // The step never yields (the host path) or yields only for its reads: one that may run
          // long lets a signal end the process at once (stopControl.ts); the device step writes nothing either.
          result = stop.nextStepMayOutlastSignals() ? await computeWithSignalsEndingAtOnce(step) : await step();
        } finally {
          tf.dispose([A, B]);
        }
        const bad = nonFinitePix2pixLoss(result.losses);
        if (bad) {
          throw new DivergedError(
            `step ${position.step + 1} (epoch ${position.epoch}): loss ${bad} is ${result.losses[bad]}; training stopped without saving it. ` +
              (saved.exists ? `The last good checkpoint is ${latestPath} (step ${lastSavedStep}).` : 'No checkpoint was saved yet.') +
              ' Try a lower --lr.',
          );
        }
        if (result.gradientsG) adamStep(model, 'G', result.gradientsG, hyper);
        position.step += 1;
        position.index += 1;
        const seconds = (Date.now() - started) / 1000;
        stop.recordStep(seconds);
        stepSecondsTotal += seconds;
        stepsThisRun += 1;
        lastLosses = result.losses;
        await recorder.logged({ epoch: position.epoch, step: position.step, ...result.losses, lr, seconds });
        const fields: Record<string, string> = {};
        for (const name of PIX2PIX_LOSS_NAMES) fields[name] = result.losses[name].toFixed(3);
        progress.tick(1, { epoch: String(position.epoch), step: String(position.step), ...fields, 's/step': (stepSecondsTotal / stepsThisRun).toFixed(2) });
        if (result.fake) {
          const { first } = batch;
          await recorder.sampled(position.epoch, position.step, {
            width: first.width,
            height: first.height,
            labelNc: 0,
            label: { rgb: signedToBytes(toRgb(first.A, first.aChannels)) },
            synthesized: toRgb(result.fake, first.bChannels),
            real: toRgb(first.B, first.bChannels),
          });
        }
        if (position.index === perEpoch) break;
        if (position.step % settings.saveEvery === 0) await save(false);
      }
      const finished = position.epoch;
      position.epoch += 1;
      position.index = 0;
      log.info(`end of epoch ${finished} / ${finalEpoch} (step ${position.step}); learning rate ${lr.toPrecision(7)} -> ${lrOf(position.epoch).toPrecision(7)}`);
      await save(finished % settings.saveEpochEvery === 0 || finished === finalEpoch);
    }
    if (lastSavedStep !== position.step || !saved.exists) await save(false);
  } finally {
    progress.stop();
    await recorder.close();
  }
  const summary: Pix2pixTrainSummary = {
    stage: PIX2PIX_STAGE,
    out: run.dir,
    step: position.step,
    epoch: position.epoch,
    latest: latestPath,
    ...(lastLosses ? { losses: lastLosses } : {}),
    ...(stepsThisRun > 0 ? { secondsPerStep: stepSecondsTotal / stepsThisRun } : {}),
    ...(stopReason ? { stopped: stopReason } : {}),
  };
  if (stopReason) throw new StoppedError(`${stopReason}: saved ${latestPath} at step ${position.step}; continue with --resume`, stop.receivedSignal);
  return summary;
}
