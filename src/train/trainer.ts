/**
 * `p2phd train <stage>`: everything between parsed flags and exit code.
 *
 * Prepare (cheap checks first, so refusals are instant): the run folder,
 * the options (new, or the stored ones on --resume), the samples, the
 * architecture, the parameters (fresh, --init, or the latest checkpoint with
 * its optimizer state); then the loop of the reference's train.py: epochs of
 * steps, the lr stepped at epoch ends, `latest` every --save-every steps and
 * at epoch ends, epoch checkpoints, sample strips, one log.jsonl line per
 * step; stopping for --max-steps (exit 0), a signal or --time-limit (save,
 * exit 75), or a non-finite loss (exit 4, no save: the last good checkpoint stays).
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { DivergedError, ExitCode, InputError, StoppedError, UsageError } from '../errors.js';
import type { Logger } from '../log.js';
import { createProgress } from '../log.js';
import { conv2dOperatorCaching, SavedTensorOffload, setConv2dOperatorCaching, type BackendInfo } from '../backend/index.js';
import { checkpointFromFile, checkpointParams, firstNonFinite, trainingResizeRecord, type Checkpoint } from '../families/checkpoint.js';
import { readInitCheckpoint } from '../families/pix2pixhd/referenceCheckpoint.js';
import { isStage, type Stage } from '../families/pix2pixhd/stages.js';
import { pix2pixhd } from '../families/pix2pixhd/index.js';
import { makeTensor, type Tensor } from '../data/formats/safetensors.js';
import { writeTensorFile, type TensorFile } from '../data/files/tensorFile.js';
import { generatorMinimumSide, inputSizeMultiple, type ArchConfig } from '../families/pix2pixhd/config.js';
import { instanceSegments } from '../families/pix2pixhd/encoder.js';
import { disposeVgg19, type Vgg19 } from '../model/losses.js';
import { modelSpecs, resolveArchitecture, trainingNetworks } from '../families/pix2pixhd/networks.js';
import { initParams } from '../model/params.js';
import { Random } from '../model/random.js';
import { VERSION } from '../version.js';
import { readPair, writePair } from './checkpointPair.js';
import { BatchLoader, checkFeatureMapFolder, checkTrainingSizes, limitSamples, openSampleFolder, stepsPerEpoch, trainingResize, type Batch, type SampleFolder } from './data.js';
import { epochLearningRate } from './extendRun.js';
import { RESUMABLE_FLAGS, requirePaths, SCHEDULE_FLAGS, type TrainFlagName, type TrainFlagValues } from './flags.js';
import { initialiseWeights } from './initWeights.js';
import { checkFeatureSettings, checkRecipeFlags } from './recipeChecks.js';
import { settleResumeChanges, type ResumeChanges } from './resumeChanges.js';
import { recordRunInputs } from './runInputs.js';
import { ImagePool } from './imagePool.js';
import { checkTrainingMemory } from './memory.js';
import {
  createTrainingModel,
  disposeAdamMoments,
  disposeTrainingModel,
  generatorTraining,
  readCheckpointTensors,
  readOptimizerTensors,
  restoreOptimizers,
  retrainGenerator,
  uploadWeights,
  type TrainingModel,
} from './model.js';
import { createStepPool, disposeStepPool, readStepPool, restoreStepPool, runDeviceStep, type StepPool } from './deviceStep.js';
import { AdamThread } from './adamThread.js';
import type { AdamHyperparameters } from './adam.js';
import { RUN_FILES } from '../data/files/runFiles.js';
import { RunFolder } from './runFolder.js';
import { RunRecorder } from './runRecorder.js';
import { learningRateForEpoch, totalEpochs, type Schedule } from './schedule.js';
import {
  ADAM_BETA2,
  ADAM_EPSILON,
  architectureOverrides,
  checkResumeFlags,
  requireInitForLocal,
  resolveTrainingArchitecture,
  settingsFromFlags,
  type TrainSettings,
} from './settings.js';
import { applyStep, computeStepGradients, LOSS_NAMES, nonFiniteLoss, type LossSettings, type LossValues, type StepOutcome } from './step.js';
import { LONG_STEP_SECONDS, StopControl } from './stopControl.js';
import { readVgg19Weights, vggOffMessage } from './vggWeights.js';
import { computeWithSignalsEndingAtOnce, exitOnSignal } from '../lifecycle.js';

export interface TrainRequest {
  stage: Stage;
  values: TrainFlagValues;
  /** Flags given on the command line (not defaulted). */
  explicit: ReadonlySet<TrainFlagName>;
  seed: number;
  seedExplicit: boolean;
  log: Logger;
  useBackend: () => Promise<BackendInfo>;
}

export interface TrainSummary {
  stage: Stage;
  out: string;
  step: number;
  epoch: number;
  latest: string;
  losses?: LossValues;
  secondsPerStep?: number;
  stopped?: string;
}

/** Where the loop stands: the next batch is (epoch, index); `step` steps are done. */
export interface Position {
  epoch: number;
  index: number;
  step: number;
}

/** What options.json holds. */
interface StoredOptions {
  p2phd_version: string;
  run_id: string;
  /** The family (absent in runs started before families: pix2pixhd). */
  family: string;
  stage: Stage;
  settings: TrainSettings;
  config: ArchConfig;
  /** The whole file as read, for rewriting it when a resume changes the schedule or a moved input's path. */
  raw: Record<string, unknown>;
}

/** A damaged options.json is a damaged input (exit 3), as a damaged checkpoint is. */
function parseStoredOptions(raw: Record<string, unknown>, source: string): StoredOptions {
  const stage = raw['stage'];
  if (!isStage(stage)) throw new InputError(`${source}: no valid "stage"`);
  if (typeof raw['settings'] !== 'object' || raw['settings'] === null) throw new InputError(`${source}: no "settings"`);
  const config = resolveArchitecture(raw['config'], (message) => new InputError(`${source}: ${message}`));
  const family = raw['family'] ?? pix2pixhd.name;
  if (family !== pix2pixhd.name) throw new UsageError(`${source}: the run folder trains the ${JSON.stringify(family)} family, not pix2pixhd (train it with its own stage)`);
  return { p2phd_version: String(raw['p2phd_version']), run_id: String(raw['run_id']), family, stage, settings: raw['settings'] as TrainSettings, config, raw };
}

/** The name of the first float tensor holding NaN or Inf, if any. */
function firstNonFiniteTensor(tensors: ReadonlyMap<string, Tensor>): string | undefined {
  for (const [name, tensor] of tensors) {
    if ((tensor.data instanceof Float32Array || tensor.data instanceof Float64Array) && firstNonFinite(tensor.data) >= 0) return name;
  }
  return undefined;
}

/** Runs every closer, in order, even when some fail; the first failure is returned. */
async function closeAll(closers: ReadonlyArray<() => unknown>): Promise<{ error: unknown } | undefined> {
  let first: { error: unknown } | undefined;
  for (const close of closers) {
    try {
      await close();
    } catch (error) {
      first ??= { error };
    }
  }
  return first;
}

function numberField(file: TensorFile, path: string[], fallback?: number): number {
  let value: unknown = file.p2phd;
  for (const key of path) value = (value as Record<string, unknown> | undefined)?.[key];
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (fallback !== undefined) return fallback;
  throw new InputError(`${file.source}: optimizer metadata has no valid ${path.join('.')}`);
}

function formatLosses(losses: LossValues): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const name of LOSS_NAMES) fields[name] = losses[name].toFixed(3);
  return fields;
}

export async function runTraining(request: TrainRequest): Promise<TrainSummary> {
  const { stage, values } = request;
  const paths = requirePaths(values);
  const run = new RunFolder(paths.out);

  // --- The folder's lock: one process per run folder, new run or resume. ---
  if (!values.resume) requireInitForLocal(stage, values.init);
  await run.lock({ create: !values.resume });
  try {
    return await prepareOptionsAndTrain(request, run, paths);
  } catch (error) {
    // Whatever failed first (a strip, a log line, a save), the cause is the folder's disappearance.
    if (!(error instanceof StoppedError) && !existsSync(run.dir)) {
      throw new InputError(`--out ${run.dir}: the run folder was deleted or moved during training; nothing more can be saved there`);
    }
    throw error;
  } finally {
    await run.unlock();
  }
}

/**
 * What the model's features take over from --init without a flag saying so
 * (the architecture follows --init unless a flag is given): a line to log,
 * or undefined. A recipe that leaves out --instance-feat still trains E
 * when its G1 was trained with it.
 */
export function inheritedFeatures(config: ArchConfig, values: Pick<TrainFlagValues, 'instanceFeat' | 'labelFeat'>): string | undefined {
  if (!config.instance_feat || values.instanceFeat !== undefined || values.labelFeat !== undefined) return undefined;
  return `the model takes ${config.label_feat ? 'per-label (--label-feat)' : 'instance (--instance-feat)'} features (feat_num ${config.feat_num}) ` +
    'as the checkpoint does, though this command does not say --instance-feat; G1 was trained on them, so they stay';
}

async function prepareOptionsAndTrain(request: TrainRequest, run: RunFolder, paths: ReturnType<typeof requirePaths>): Promise<TrainSummary> {
  const { stage, values, log } = request;
  // --- Options: new, or the run's own on --resume (cheap checks first). ---
  let stored: StoredOptions | undefined;
  let settings: TrainSettings;
  if (values.resume) {
    await run.prepareResume();
    stored = parseStoredOptions(await run.readOptions(), run.options);
    checkResumeFlags(
      { stage: stored.stage, settings: stored.settings as unknown as Record<string, unknown>, config: stored.config },
      stage,
      request.explicit,
      values,
      request.seedExplicit ? request.seed : undefined,
    );
    const current: Record<string, unknown> = { ...stored.settings, data: paths.data, resume: true };
    for (const name of RESUMABLE_FLAGS) {
      // The schedule changes only when given (extending a run); its defaults must not replace the run's.
      if (SCHEDULE_FLAGS.includes(name) && !request.explicit.has(name)) continue;
      current[name] = values[name];
    }
    // Paths that may move between runs of one training (checked by content or before use).
    if (request.explicit.has('loadFeatures')) current['loadFeatures'] = values.loadFeatures;
    settings = Object.freeze(current) as TrainSettings;
  } else {
    settings = settingsFromFlags(values, stage, request.seed, paths);
    checkRecipeFlags(stage, settings, request.explicit.has('niterFixGlobal'));
    await run.prepareNew();
  }
  // Signals are caught from here on, so one that arrives while the run is
  // still setting up (reading a large checkpoint, say) stops it at its first
  // step with a save and exit 75, instead of killing it.
  const latestPath = run.checkpoint(RUN_FILES.latest);
  const saved = { exists: stored !== undefined };
  const stop = new StopControl({
    timeLimitMinutes: settings.timeLimit,
    onFirstSignal: (signal) => log.info(`${signal}: saving and exiting 75 after this step (a second signal ends the process at once; ${latestPath} stays intact)`),
    onSecondSignal: (signal) => {
      exitOnSignal(
        signal,
        `second ${signal}: exiting now; ${saved.exists ? `the last saved checkpoint (${latestPath}) is intact: continue with --resume (exit 75)` : 'no checkpoint was saved yet'}`,
        saved.exists ? ExitCode.stopped : undefined,
      );
    },
  });
  stop.install();
  try {
    return await prepareAndTrain(request, { stored, settings, run, stop, saved });
  } finally {
    stop.uninstall();
  }
}

async function prepareAndTrain(
  request: TrainRequest,
  prepared: { stored: StoredOptions | undefined; settings: TrainSettings; run: RunFolder; stop: StopControl; saved: { exists: boolean } },
): Promise<TrainSummary> {
  const { stage, values, log } = request;
  const { stored, settings, run } = prepared;
  const runId = stored?.run_id ?? randomBytes(6).toString('hex');
  const seed = settings.seed;
  const folder = limitSamples(await openSampleFolder(settings.data), settings.maxDatasetSize);
  const data = { label_nc: folder.labelNc, instance: folder.instance };

  const backend = await request.useBackend();

  // --- Architecture: from the run's checkpoint, --init, or flags and defaults. ---
  let config: ArchConfig;
  let source: { kind: 'resume'; checkpoint: Checkpoint; optimizer: TensorFile } | { kind: 'init'; checkpoint: Checkpoint } | { kind: 'fresh' };
  if (stored) {
    const pair = await readPair({ checkpoint: run.checkpoint(RUN_FILES.latest), optimizer: run.optimizer(RUN_FILES.latest) }, (line) => log.info(line));
    const optimizerRun = pair.optimizer.p2phd['run_id'];
    if (optimizerRun !== stored.run_id) {
      throw new InputError(
        `--resume: ${pair.optimizer.source} belongs to run ${String(optimizerRun)} but ${run.options} to run ${stored.run_id}; ` +
          'the folder mixes two runs (were two trainings started on one --out?)',
      );
    }
    const checkpoint = checkpointFromFile(pair.checkpoint);
    config = checkpoint.meta.config;
    if (config.label_nc !== data.label_nc || config.instance !== data.instance) {
      throw new UsageError(`--resume: the samples in ${settings.data} (label_nc ${data.label_nc}${data.instance ? ', instances' : ''}) do not match the run's (label_nc ${config.label_nc}${config.instance ? ', instances' : ''})`);
    }
    source = { kind: 'resume', checkpoint, optimizer: pair.optimizer };
  } else if (settings.init !== undefined) {
    const checkpoint = await readInitCheckpoint(settings.init, data, (line) => log.info(line));
    config = resolveTrainingArchitecture(stage, architectureOverrides(values), data, checkpoint.meta.config, { partial: settings.initPartial });
    source = { kind: 'init', checkpoint };
    const inherited = inheritedFeatures(config, values);
    if (inherited) log.info(`--init ${settings.init}: ${inherited}`);
  } else {
    config = resolveTrainingArchitecture(stage, architectureOverrides(values), data);
    source = { kind: 'fresh' };
  }
  checkFeatureSettings(config, data, settings);
  if (settings.loadFeatures !== undefined) await checkFeatureMapFolder(settings.loadFeatures, folder);

  // --- Checks that need no tensors: sizes, steps, memory. ---
  const multiple = inputSizeMultiple(config);
  const size = checkTrainingSizes(folder, { multiple, minimumSide: generatorMinimumSide(config) }, { batchSize: settings.batchSize, poolSize: settings.poolSize }, (line) => log.warn(line));
  const perEpoch = stepsPerEpoch(folder, settings.batchSize);
  if (perEpoch === 0) {
    throw new UsageError(`--batch-size ${settings.batchSize} is larger than the ${folder.samples.length} samples in ${settings.data}`);
  }
  // With --niter-fix-global the run ends up training every G parameter, as joint does.
  const memory = checkTrainingMemory(config, settings.niterFixGlobal > 0 ? 'joint' : stage, size, settings.batchSize, backend.name, {
    checkpoint: settings.checkpointActivations,
    offload: settings.offloadActivations && backend.name === 'wasm',
  });
  if (settings.offloadActivations && backend.name !== 'wasm') log.warn(`--offload-activations: the ${backend.name} backend has no 4 GiB heap to leave; ignored`);
  if (memory.offload && !settings.offloadActivations) {
    log.info(`--offload-activations: chosen, as the 4 GiB wasm heap cannot hold this step otherwise (about ${(memory.offloadBytes / 2 ** 30).toFixed(1)} GiB of saved activations wait in process memory between the passes)`);
  }
  const offloadActivations = memory.offload;
  // An offloaded step is one the heap only just holds: weights rewritten in place keep their blocks
  // (backend/buffers.ts overwriteInPlace), which needs XNNPACK to keep no packed copies of them.
  const previousCaching = conv2dOperatorCaching();
  if (offloadActivations) setConv2dOperatorCaching(false);

  // The position decides what optimizer_G trains (--niter-fix-global), so it is read before the model is built.
  const position: Position =
    source.kind === 'resume'
      ? {
          epoch: numberField(source.optimizer, ['resume_at', 'epoch']),
          index: numberField(source.optimizer, ['resume_at', 'index']),
          step: numberField(source.optimizer, ['step']),
        }
      : { epoch: 1, index: 0, step: 0 };
  const changes: ResumeChanges =
    source.kind === 'resume' && stored
      ? await settleResumeChanges({
          run,
          stored,
          settings,
          givenVggWeights: request.explicit.has('vggWeights') ? values.vggWeights : undefined,
          folder,
          position,
          savedLr: () => numberField(source.optimizer, ['adam', 'lr']),
          log: (line) => log.info(line),
        })
      : { vggWeights: settings.vggWeights, midEpochLr: undefined };

  // --- Parameters and optimizer state. ---
  // With --load-features, E does not run and is neither trained nor saved (the reference's gen_features).
  const networks = trainingNetworks(config).filter((network) => network !== 'E' || settings.loadFeatures === undefined);
  let params: Map<string, tf.Tensor>;
  if (source.kind === 'resume') {
    params = checkpointParams(source.checkpoint, networks);
  } else if (source.kind === 'init') {
    const result = initialiseWeights(source.checkpoint, config, networks, seed, { stage, partial: settings.initPartial, generatorFixed: settings.niterFixGlobal === 0 });
    params = result.params;
    log.info(result.summary);
    for (const line of result.details) log.info(line);
    if (result.unused.length > 0) log.debug(`  not used from --init: ${result.unused.join(', ')}`);
    if (!settings.initPartial) log.debug(`  loaded: ${result.loaded.join(', ')}`);
  } else {
    params = initParams(modelSpecs(config, networks), seed);
  }
  const model = createTrainingModel(config, stage, params, { generator: generatorTraining(stage, settings.niterFixGlobal, position.epoch), networks });
  const pool = createStepPool(settings.poolSize, model.adamOnHost);
  let vgg: Vgg19 | undefined;
  try {
    if (source.kind === 'resume') {
      const { optimizer } = source;
      restoreOptimizers(model, optimizer.tensors, { G: numberField(optimizer, ['adam_steps', 'G']), D: numberField(optimizer, ['adam_steps', 'D']) }, optimizer.source);
      restoreStepPool(pool, restorePool(optimizer, numberField(optimizer, ['pool', 'count'], 0)));
      log.info(`resuming ${run.checkpoint(RUN_FILES.latest)} at step ${position.step} (epoch ${position.epoch}, batch ${position.index})`);
    }

    if (changes.vggWeights !== undefined) vgg = await readVgg19Weights(changes.vggWeights);
    else log.info(await vggOffMessage());

    if (!stored) {
      const options: Omit<StoredOptions, 'raw'> = { p2phd_version: VERSION, run_id: runId, family: pix2pixhd.name, stage, settings, config };
      const inputs = await recordRunInputs(folder, settings.vggWeights);
      await run.writeOptions({ ...options, data: { samples: folder.samples.length, label_nc: data.label_nc, instance: data.instance, train_size: [size.height, size.width] }, inputs });
    }
    log.info(
      `train ${stage}: ${folder.samples.length} samples, ${perEpoch} steps per epoch, ${totalEpochs(settings)} epochs; ` +
        `G ${config.netG} ngf ${config.ngf}, D ${config.num_D}x${config.n_layers_D} ndf ${config.ndf}${config.instance_feat ? (networks.includes('E') ? `, E nef ${config.nef}` : `, features from ${settings.loadFeatures ?? '?'}`) : ''}; ` +
        `optimizer G ${model.optimizers.G.keys.length} tensors, D ${model.optimizers.D.keys.length}`,
    );

    return await trainLoop({
      request,
      settings,
      run,
      folder,
      model,
      pool,
      vgg,
      position,
      resumedMidEpochLr: changes.midEpochLr,
      perEpoch,
      multiple,
      offloadActivations,
      resumed: stored !== undefined,
      runId,
      stop: prepared.stop,
      saved: prepared.saved,
    });
  } finally {
    if (vgg) disposeVgg19(vgg);
    disposeStepPool(pool);
    disposeTrainingModel(model);
    setConv2dOperatorCaching(previousCaching);
  }
}

function restorePool(optimizer: TensorFile, count: number): Float32Array[] {
  const images: Float32Array[] = [];
  for (let i = 0; i < count; i++) {
    const tensor = optimizer.tensors.get(`pool.${i}`);
    if (tensor === undefined || tensor.dtype !== 'F32') throw new InputError(`${optimizer.source}: image pool entry "pool.${i}" is missing or not F32`);
    images.push(Float32Array.from(tensor.data as Float32Array));
  }
  return images;
}

interface LoopContext {
  request: TrainRequest;
  settings: TrainSettings;
  run: RunFolder;
  folder: SampleFolder;
  model: TrainingModel;
  pool: StepPool;
  vgg: Vgg19 | undefined;
  position: Position;
  /** A resumed run re-entering an epoch mid-way under a changed schedule: that epoch's rate. */
  resumedMidEpochLr: number | undefined;
  perEpoch: number;
  multiple: number;
  /** Large saved activations wait out of the wasm heap between the passes (checkTrainingMemory's choice or the flag). */
  offloadActivations: boolean;
  resumed: boolean;
  runId: string;
  stop: StopControl;
  /** Whether a resumable checkpoint is on disk (read by the second-signal handler). */
  saved: { exists: boolean };
}

async function trainLoop(context: LoopContext): Promise<TrainSummary> {
  const { request, settings, run, folder, pool, vgg, perEpoch } = context;
  let model = context.model;
  const { log, stage } = request;
  const schedule: Schedule = { lr: settings.lr, epochs: settings.epochs, decayEpochs: settings.decayEpochs };
  const epochs = totalEpochs(schedule);
  const lossSettings: LossSettings = {
    gan: settings.lsgan ? 'lsgan' : 'vanilla',
    ganFeatLoss: settings.ganFeatLoss,
    lambdaFeat: settings.lambdaFeat,
    vgg,
    checkpointActivations: settings.checkpointActivations,
    ...(context.offloadActivations ? { offload: new SavedTensorOffload() } : {}),
  };
  const loader = new BatchLoader(folder, {
    seed: settings.seed,
    batchSize: settings.batchSize,
    serial: settings.serial,
    flip: settings.flip,
    multiple: context.multiple,
    labelIds: model.config.label_feat && settings.loadFeatures === undefined,
    ...(settings.loadFeatures !== undefined ? { featureMaps: { dir: settings.loadFeatures, featNum: model.config.feat_num } } : {}),
  });
  const saveEpochEvery = settings.saveEpochEvery;
  const position = { ...context.position };
  const latestPath = run.checkpoint(RUN_FILES.latest);
  const { stop, saved } = context;
  let lastSavedStep = context.resumed ? position.step : -1;
  let lastLosses: LossValues | undefined;
  let stepSecondsTotal = 0;
  let stepsThisRun = 0;
  let warnedLongSteps = false;

  // Until a save has been timed, assume one at 100 MB/s (checkpoint + both moments), so --time-limit leaves room for the first.
  const trainedCount = [...model.optimizerOf.keys()].reduce((total, key) => total + model.variables.get(key)!.size, 0);
  const allCount = [...model.variables.values()].reduce((total, variable) => total + variable.size, 0);
  stop.recordSave((4 * allCount + 8 * trainedCount) / 100e6);

  const plannedSteps = Math.min(settings.maxSteps ?? Infinity, perEpoch * epochs);
  const progress = createProgress(`train ${stage}`, Math.max(0, plannedSteps - position.step));

  /** The weights' epoch: the epoch in progress, or the one just finished at a boundary. */
  const weightsEpoch = (): number => (position.index === 0 ? position.epoch - 1 : position.epoch);
  const currentLr = (): number => learningRateForEpoch(schedule, Math.min(position.epoch, Math.max(epochs, 1)));
  let lrInForce = context.resumedMidEpochLr ?? currentLr();

  /** Training diverged: nothing is saved; the last good checkpoint (finite, as every save is) stays. */
  // Exit 4 (training diverged), told apart from a crash's 1.
  const divergedError = (what: string): DivergedError =>
    new DivergedError(
      `${what}; training stopped without saving it. ` +
        (saved.exists ? `The last good checkpoint is ${latestPath} (step ${lastSavedStep}).` : 'No checkpoint was saved yet.') +
        ' Try a lower --lr.',
    );

  const save = async (epochCheckpoint: boolean): Promise<void> => {
    const started = Date.now();
    const tensors = await readCheckpointTensors(model);
    const checkpointMeta = { family: pix2pixhd.name, stage, epoch: weightsEpoch(), step: position.step, lr: currentLr(), config: model.config, training_resize: trainingResizeRecord(trainingResize(folder)) };
    const optimizer = await readOptimizerTensors(model);
    (await readStepPool(pool)).forEach((image, i) => optimizer.set(`pool.${i}`, makeTensor('F32', [image.length], image)));
    // Nothing non-finite is ever saved: it would replace the last good checkpoint with one nobody can use.
    const poisoned = firstNonFiniteTensor(tensors) ?? firstNonFiniteTensor(optimizer);
    if (poisoned !== undefined) throw divergedError(`after step ${position.step} (epoch ${position.epoch}) tensor "${poisoned}" is not finite`);
    if (epochCheckpoint) await writeTensorFile(run.checkpoint(run.epochName(weightsEpoch())), 'checkpoint', tensors, checkpointMeta);
    await writePair(
      { checkpoint: latestPath, optimizer: run.optimizer(RUN_FILES.latest) },
      {
        checkpointTensors: tensors,
        checkpointMeta,
        optimizerTensors: optimizer,
        optimizerMeta: {
          stage,
          run_id: context.runId,
          step: position.step,
          resume_at: { epoch: position.epoch, index: position.index },
          adam_steps: { G: model.optimizers.G.step, D: model.optimizers.D.step },
          adam: { lr: position.index === 0 ? currentLr() : lrInForce, beta1: settings.beta1, beta2: ADAM_BETA2, eps: ADAM_EPSILON },
          pool: { count: pool.pool.size, capacity: pool.pool.capacity },
          // Data order, augmentation and pool draws are functions of
          // (seed, epoch, position, step): no generator state to save.
          rng: { seed: settings.seed, scheme: 'counter-based: data-order/epoch-E, augment/epoch-E/position-P, image-pool/step-S' },
        },
      },
    );
    saved.exists = true;
    lastSavedStep = position.step;
    stop.recordSave((Date.now() - started) / 1000);
    log.debug(`saved ${latestPath} at step ${position.step}${epochCheckpoint ? ` and ${run.epochName(weightsEpoch())}` : ''}`);
  };

  const recorder = await RunRecorder.open(run, { ...(context.resumed ? { resumedAtStep: position.step } : {}), keepSamples: settings.keepSamples, plannedSteps, log });
  // Host Adam (wasm) runs on a worker thread; device Adam runs inside the step.
  let adam = pool.onHost ? new AdamThread(new Map([...model.optimizers.G.slots, ...model.optimizers.D.slots])) : undefined;
  let midEpochLr = context.resumedMidEpochLr;
  let stopReason: string | undefined;
  let failure: { error: unknown } | undefined;
  try {
    outer: while (position.epoch <= epochs) {
      const lr = epochLearningRate(schedule, position.epoch, midEpochLr);
      midEpochLr = undefined;
      lrInForce = lr;
      const hyper = { lr, beta1: settings.beta1, beta2: ADAM_BETA2, epsilon: ADAM_EPSILON };
      while (position.index < perEpoch) {
        if (settings.maxSteps !== undefined && position.step >= settings.maxSteps) break outer;
        stopReason = stop.reasonToStop();
        if (stopReason) break outer;

        const started = Date.now();
        const batch = await loader.batch(position.epoch, position.index);
        // Start reading the next batch; it overlaps this step's compute.
        if (position.index + 1 < perEpoch) loader.prefetch(position.epoch, position.index + 1);
        else if (position.epoch < epochs) loader.prefetch(position.epoch + 1, 0);

        const sampleThisStep = (position.step + 1) % settings.sampleEvery === 0 || position.index + 1 === perEpoch;
        const step = () => pool.onHost
          ? runStep(model, batch, lossSettings, pool.pool, settings.seed, position.step, sampleThisStep, hyper, adam)
          : runDeviceStep(model, batch, lossSettings, pool.pool, settings.seed, position.step, sampleThisStep, hyper);
        // A step never yields to the event loop; one that may run long lets a
        // signal end the process at once rather than wait for it (stopControl.ts).
        let result: Awaited<ReturnType<typeof step>>;
        if (stop.nextStepMayOutlastSignals()) {
          if (!warnedLongSteps && stepsThisRun > 0) {
            warnedLongSteps = true;
            log.info(`steps take over ${LONG_STEP_SECONDS} s here: a signal during a step now ends the process at once (exit 143 / 130, no save; ${latestPath} stays the last save, --resume continues from it)`);
          }
          log.debug(`step ${position.step + 1}: a signal during this step ends the process at once`);
          result = await computeWithSignalsEndingAtOnce(step);
        } else {
          result = await step();
        }
        const bad = nonFiniteLoss(result.losses);
        if (bad) throw divergedError(`step ${position.step + 1} (epoch ${position.epoch}): loss ${bad} is ${result.losses[bad]}`);
        position.step += 1;
        position.index += 1;
        const seconds = (Date.now() - started) / 1000;
        stop.recordStep(seconds);
        stepSecondsTotal += seconds;
        stepsThisRun += 1;
        lastLosses = result.losses;
        await recorder.logged({ epoch: position.epoch, step: position.step, ...result.losses, lr, seconds });
        progress.tick(1, { epoch: String(position.epoch), step: String(position.step), ...formatLosses(result.losses), 's/step': (stepSecondsTotal / stepsThisRun).toFixed(2) });

        if (result.strip) await recorder.sampled(position.epoch, position.step, { ...result.strip, labelNc: folder.labelNc });
        if (position.index === perEpoch) break; // epoch end: saved below, after the lr bookkeeping
        if (position.step % settings.saveEvery === 0) await save(false);
      }
      // End of epoch (reference: save latest + epoch file, then update_learning_rate).
      const finished = position.epoch;
      position.epoch += 1;
      position.index = 0;
      log.info(`end of epoch ${finished} / ${epochs} (step ${position.step})`);
      if (settings.niterFixGlobal > 0 && finished === settings.niterFixGlobal && stage === 'local') {
        // The reference's update_fixed_params, before the save so that the
        // saved optimizer state is the new optimizer_G's (a resume at this
        // boundary continues exactly).
        await adam?.close();
        model = retrainGenerator(model, generatorTraining(stage, settings.niterFixGlobal, position.epoch));
        adam = pool.onHost ? new AdamThread(new Map([...model.optimizers.G.slots, ...model.optimizers.D.slots])) : undefined;
        log.info(`--niter-fix-global ${settings.niterFixGlobal}: from epoch ${position.epoch} on, every G parameter trains (${model.optimizers.G.keys.length} tensors, fresh Adam state)`);
      }
      await save(finished % saveEpochEvery === 0 || finished === epochs);
    }
    if (lastSavedStep !== position.step || !saved.exists) await save(false);
  } catch (error) {
    failure = { error };
    throw error;
  } finally {
    progress.stop();
    // Every closer runs, whatever fails: a worker left open would keep the
    // process alive after its error. A failure that ended the loop is the
    // one reported; a closer's failure after it would only hide it.
    const closeFailure = await closeAll([
      () => recorder.close(),
      () => loader.close(),
      () => adam?.close(),
      // A retrained optimizer_G (--niter-fix-global) is this loop's own: the caller frees the model it passed in.
      () => (model !== context.model ? disposeAdamMoments(model.optimizers.G) : undefined),
    ]);
    if (failure === undefined && closeFailure !== undefined) throw closeFailure.error;
  }
  const summary: TrainSummary = {
    stage,
    out: run.dir,
    step: position.step,
    epoch: position.epoch,
    latest: latestPath,
    losses: lastLosses,
    secondsPerStep: stepsThisRun > 0 ? stepSecondsTotal / stepsThisRun : undefined,
    stopped: stopReason,
  };
  if (stopReason) {
    throw new StoppedError(`${stopReason}: saved ${latestPath} at step ${position.step}; continue with --resume`, stop.receivedSignal);
  }
  return summary;
}

/**
 * One step on one batch: tensors in, losses out, parameters updated (unless
 * a loss is not finite). With `adam`, each weight's Adam update runs on the
 * worker thread while the backward pass goes on; without, all updates run
 * here after it. Both give the same bits.
 */
export async function runStep(
  model: TrainingModel,
  batch: Batch,
  losses: LossSettings,
  pool: ImagePool,
  seed: number,
  stepDone: number,
  keepFake: boolean,
  hyper: AdamHyperparameters,
  adam?: AdamThread,
): Promise<StepOutcome> {
  const { count, height, width } = batch;
  const input = tf.tensor4d(batch.input, [count, height, width, batch.inputChannels]);
  const real = tf.tensor4d(batch.image, [count, height, width, 3]);
  const features = batch.features ? tf.tensor4d(batch.features, [count, height, width, model.config.feat_num]) : undefined;
  try {
    // E pools per instance, or per label with --label-feat (the reference's label_feat passes the label map as E's instance map).
    const poolIds = model.config.label_feat ? batch.labelIds : batch.inst;
    const segments = model.config.instance_feat && !batch.features && poolIds ? instanceSegments(poolIds, count, height, width) : undefined;
    const poolRandom = Random.forLabel(seed, `image-pool/step-${stepDone + 1}`);
    const nextStep = { G: model.optimizers.G.step + 1, D: model.optimizers.D.step + 1 };
    let dispatched = 0;
    const onGradient = adam
      ? (key: string, gradient: Float32Array): void => {
          dispatched += 1;
          adam.update(key, gradient, nextStep[model.optimizerOf.get(key)!], hyper);
        }
      : undefined;
    const result = computeStepGradients(model, { input, real, segments, ...(features ? { features } : {}) }, losses, {
      pool: { pool, random: poolRandom },
      keepFake,
      onGradient,
      ...(adam ? { gradientArray: (length: number) => adam.gradientArray(length) } : {}),
    });
    let strip: StepOutcome['strip'];
    if (result.fake) strip = { width, height, label: batch.firstLabel, synthesized: result.fake, real: batch.image.subarray(0, height * width * 3) };
    if (nonFiniteLoss(result.losses)) return { losses: result.losses };
    if (adam) {
      await adam.drain();
      const expected = model.optimizerOf.size;
      // Every trained parameter lies on the loss's path; a missing gradient is a bug.
      if (dispatched !== expected) throw new Error(`runStep: ${dispatched} gradients for ${expected} trained parameters`);
      model.optimizers.G.step = nextStep.G;
      model.optimizers.D.step = nextStep.D;
      uploadWeights(model, 'G');
      uploadWeights(model, 'D');
    } else {
      applyStep(model, result.gradients, hyper);
    }
    return { losses: result.losses, strip };
  } finally {
    tf.dispose([input, real]);
    features?.dispose();
  }
}
