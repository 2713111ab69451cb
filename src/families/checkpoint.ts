/**
 * Checkpoint files (`kind: "checkpoint"`), per the contract: tensors
 * `G.*`, `D.*`, `E.*` named by the reference's state_dict keys in its
 * layouts, and metadata {stage, epoch, step, lr, config} from which every
 * reader rebuilds the networks. Layout conversion lives in model/params.ts;
 * this module adds the file: reading, validating the metadata, writing.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type * as tf from '@tensorflow/tfjs-core';
import { InputError } from '../errors.js';
import { CONFIG_KEYS, OPTIONAL_CONFIG_KEYS, type ArchConfig } from './pix2pixhd/config.js';
import type { ParamSpec, Params } from '../model/layers.js';
import { modelSpecs, resolveArchitecture, type NetworkName } from './pix2pixhd/networks.js';
import { loadParams, toReferenceTensor, type LoadResult } from '../model/params.js';
import type { Tensor } from '../data/formats/safetensors.js';
import { isStage, STAGES, type Stage } from './pix2pixhd/stages.js';
import { readTensorFile, writeTensorFile, type TensorFile } from '../data/files/tensorFile.js';
import { LATEST_CHECKPOINT } from '../data/files/runFiles.js';
import { familyOfMetadata } from './index.js';
import { pix2pixhd } from './pix2pixhd/index.js';

/**
 * How the samples a model trained on were made (metadata `training_resize`:
 * {mode, load_size, width, height}, width and height the samples' median):
 * synthesize warns when its inputs are at another scale. Absent in
 * checkpoints from before it was recorded, and from other tools.
 */
export interface TrainingResize {
  readonly mode: string;
  /** 0 where the mode has none (crop, none). */
  readonly loadSize: number;
  readonly width: number;
  readonly height: number;
}

export interface CheckpointMeta {
  readonly stage: Stage;
  readonly epoch: number;
  readonly step: number;
  readonly lr: number;
  readonly config: ArchConfig;
  readonly trainingResize?: TrainingResize;
}

/** The metadata record of a TrainingResize. */
export function trainingResizeRecord(resize: TrainingResize): Record<string, unknown> {
  return { mode: resize.mode, load_size: resize.loadSize, width: resize.width, height: resize.height };
}

function parseTrainingResize(raw: unknown, fail: (message: string) => InputError): TrainingResize {
  const record = (raw ?? {}) as Record<string, unknown>;
  const whole = (key: string, min: number): number => {
    const value = record[key];
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) throw fail(`checkpoint training_resize.${key} must be an integer >= ${min}, got ${JSON.stringify(value)}`);
    return value;
  };
  if (typeof raw !== 'object' || raw === null || typeof record['mode'] !== 'string') throw fail(`checkpoint training_resize must be {mode, load_size, width, height}, got ${JSON.stringify(raw)}`);
  return { mode: record['mode'], loadSize: whole('load_size', 0), width: whole('width', 1), height: whole('height', 1) };
}

export interface Checkpoint {
  /** The file as named in messages. */
  readonly source: string;
  readonly meta: CheckpointMeta;
  /** Reference names and layouts, as stored. */
  readonly tensors: ReadonlyMap<string, Tensor>;
  /** The networks the file holds tensors for. */
  readonly networks: readonly NetworkName[];
}


/** `--checkpoint DIR` means DIR/latest.safetensors; a file path (or '-') stays as given. */
export async function resolveCheckpointPath(path: string): Promise<string> {
  if (path === '-') return path;
  try {
    if ((await stat(path)).isDirectory()) return join(path, LATEST_CHECKPOINT);
  } catch {
    // Not there: reading reports the missing file by its name.
  }
  return path;
}

function parseMeta(raw: Record<string, unknown>, source: string): CheckpointMeta {
  const fail = (message: string): InputError => new InputError(`${source}: ${message}`);
  // A file without `family` was written before families existed: pix2pixhd.
  const family = familyOfMetadata(raw, source);
  if (family !== pix2pixhd) throw fail(`is a ${family.name} checkpoint; this reader takes pix2pixhd ones`);
  const stage = raw['stage'];
  if (!isStage(stage)) {
    throw fail(`checkpoint stage ${JSON.stringify(stage)} is not one of ${Object.keys(STAGES).join(', ')}`);
  }
  for (const key of ['epoch', 'step'] as const) {
    const value = raw[key];
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
      throw fail(`checkpoint ${key} must be a non-negative integer, got ${JSON.stringify(value)}`);
    }
  }
  const lr = raw['lr'];
  if (typeof lr !== 'number' || !Number.isFinite(lr) || lr < 0) {
    throw fail(`checkpoint lr must be a non-negative number, got ${JSON.stringify(lr)}`);
  }
  if (raw['config'] === undefined) throw fail('checkpoint metadata has no architecture config');
  // Every option must be recorded: a default filled in here could silently
  // rebuild another network than the one trained.
  if (raw['config'] !== null && typeof raw['config'] === 'object') {
    const missing = CONFIG_KEYS.filter((key) => !OPTIONAL_CONFIG_KEYS.includes(key) && !(key in (raw['config'] as object)));
    if (missing.length > 0) throw fail(`checkpoint config lacks ${missing.join(', ')}`);
  }
  const config = resolveArchitecture(raw['config'], (message) => fail(`checkpoint config: ${message}`));
  const meta: CheckpointMeta = { stage, epoch: raw['epoch'] as number, step: raw['step'] as number, lr, config };
  return raw['training_resize'] === undefined ? meta : { ...meta, trainingResize: parseTrainingResize(raw['training_resize'], fail) };
}

/** Reads and validates a checkpoint (a folder means its latest.safetensors; '-' is stdin). */
export async function readCheckpoint(path: string): Promise<Checkpoint> {
  return checkpointFromFile(await readTensorFile(await resolveCheckpointPath(path), 'checkpoint'));
}

/** The index of the first NaN or infinite value, or -1. */
export function firstNonFinite(values: Float32Array | Float64Array): number {
  for (let i = 0; i < values.length; i++) {
    // x - x is 0 for every finite x and NaN for NaN and +-Infinity.
    if (values[i]! - values[i]! !== 0) return i;
  }
  return -1;
}

/**
 * Validates a checkpoint file already read (its kind checked): the metadata,
 * the tensor names, and finite weights. Every reader of weights (synthesize,
 * encode, train --init and --resume) comes through here, so a checkpoint
 * holding NaN or Inf is refused naming the tensor, instead of giving black
 * images, NaN features or a NaN loss blamed on --lr.
 */
export function checkpointFromFile(file: TensorFile): Checkpoint {
  const meta = parseMeta(file.p2phd, file.source);
  const networks = (['G', 'D', 'E'] as const).filter((n) => [...file.tensors.keys()].some((key) => key.startsWith(`${n}.`)));
  for (const [key, tensor] of file.tensors) {
    if (!/^[GDE]\./.test(key)) throw new InputError(`${file.source}: tensor "${key}" belongs to no network (names start with G., D. or E.)`);
    if (tensor.data instanceof Float32Array || tensor.data instanceof Float64Array) {
      const index = firstNonFinite(tensor.data);
      if (index >= 0) {
        throw new InputError(`${file.source}: tensor "${key}" holds ${tensor.data[index]} (element ${index}): the weights are corrupt (from a run that diverged?); use an earlier checkpoint`);
      }
    }
  }
  return { source: file.source, meta, tensors: file.tensors, networks };
}

/**
 * Why `checkpoint` lacks `network`, as one message (exit 3 at the caller).
 * For E, which way to go depends on the model: one that takes no features
 * was trained without --instance-feat; one that takes features but holds no
 * E was trained with --load-features (or imported without netE): its
 * features come from another model's encoder, which is the one to encode
 * with; this model then synthesizes with --clusters.
 */
export function missingNetworkMessage(checkpoint: Pick<Checkpoint, 'source' | 'meta'>, network: NetworkName): string {
  const head = `${checkpoint.source}: holds no ${network}.* tensors`;
  if (network !== 'E') return head;
  if (!checkpoint.meta.config.instance_feat) {
    return `${head}: the model takes no features (trained without --instance-feat), so there is nothing to encode; synthesize it without --clusters / --use-encoded`;
  }
  return (
    `${head}: the model takes features but has no encoder of its own (trained with --load-features, or imported without netE); ` +
    'its features come from the encoder that wrote the maps (the checkpoint given to encode --maps, e.g. the --init G1 run): ' +
    'encode and cluster with that checkpoint, then synthesize this model with --clusters'
  );
}

/**
 * The parameters of `networks` for the checkpoint's own config, strictly:
 * a tensor that is missing or does not fit is exit 3 naming it.
 */
export function checkpointParams(checkpoint: Checkpoint, networks: readonly NetworkName[]): Map<string, tf.Tensor> {
  for (const network of networks) {
    if (!checkpoint.networks.includes(network)) {
      throw new InputError(missingNetworkMessage(checkpoint, network));
    }
  }
  return loadParams(modelSpecs(checkpoint.meta.config, networks), checkpoint.tensors, {
    source: checkpoint.source,
    mode: 'strict',
  }).params;
}

/**
 * `train --init`: the parameters of `networks` for `config` (which may differ
 * from the checkpoint's: a local enhancer over a G1, another num_D); tensors
 * that fit by name and shape are loaded, the others freshly initialised from
 * `seed`. The lists say which is which, for the log.
 */
export function initialiseFromCheckpoint(
  checkpoint: Checkpoint,
  config: ArchConfig,
  networks: readonly NetworkName[],
  seed: number,
): LoadResult {
  return loadParams(modelSpecs(config, networks), checkpoint.tensors, { source: checkpoint.source, mode: 'partial', seed });
}

/**
 * Writes a checkpoint atomically: the parameters of every network `params`
 * holds, in the reference's layouts and state_dict order. Every key must be
 * one of the config's (a stray key is a bug, not something to save quietly).
 */
export async function writeCheckpoint(path: string, params: Params, meta: CheckpointMeta): Promise<void> {
  const specs: ParamSpec[] = modelSpecs(meta.config, ['G', 'D', 'E']);
  const known = new Set(specs.map((spec) => spec.key));
  for (const key of params.keys()) {
    if (!known.has(key)) throw new Error(`writeCheckpoint: "${key}" is not a parameter of this architecture config`);
  }
  // A network is saved whole or not at all: a checkpoint missing half of G
  // would only fail later, in another command.
  const present = new Set([...params.keys()].map((key) => key.slice(0, 2)));
  const tensors = new Map<string, Tensor>();
  for (const spec of specs) {
    if (!present.has(spec.key.slice(0, 2))) continue;
    const value = params.get(spec.key);
    if (value === undefined) throw new Error(`writeCheckpoint: parameter "${spec.key}" is missing`);
    tensors.set(spec.key, toReferenceTensor(spec, value));
  }
  const { stage, epoch, step, lr, config, trainingResize } = meta;
  await writeTensorFile(path, 'checkpoint', tensors, { family: pix2pixhd.name, stage, epoch, step, lr, config, ...(trainingResize ? { training_resize: trainingResizeRecord(trainingResize) } : {}) });
}
