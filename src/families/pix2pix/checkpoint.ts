/**
 * pix2pix checkpoints: `kind: "checkpoint"` files like pix2pixHD's, with
 * `family: "pix2pix"` in the metadata and {stage "pix2pix", epoch, step, lr,
 * config (Pix2pixConfig, every key), direction} beside the tensors `G.*`
 * (and `D.*` from training), the reference's state_dict keys and layouts.
 */
import { InputError } from '../../errors.js';
import type { Tensor } from '../../data/formats/safetensors.js';
import type { TensorFile } from '../../data/files/tensorFile.js';
import { PIX2PIX_CONFIG_KEYS, resolvePix2pixConfig, type Pix2pixConfig } from './config.js';

export const PIX2PIX_FAMILY = 'pix2pix';
export const PIX2PIX_STAGE = 'pix2pix';

export interface Pix2pixCheckpointMeta {
  readonly epoch: number;
  readonly step: number;
  readonly lr: number;
  readonly config: Pix2pixConfig;
  /** The --direction the samples were made with (AtoB: A is the input). */
  readonly direction: 'AtoB' | 'BtoA';
}

export interface Pix2pixCheckpoint {
  readonly source: string;
  readonly meta: Pix2pixCheckpointMeta;
  readonly tensors: ReadonlyMap<string, Tensor>;
  readonly networks: ReadonlyArray<'G' | 'D'>;
}

/** Whether a checkpoint's metadata says pix2pix. */
export function isPix2pixMetadata(p2phd: Readonly<Record<string, unknown>>): boolean {
  return p2phd['family'] === PIX2PIX_FAMILY;
}

/** The metadata record a pix2pix checkpoint is written with. */
export function pix2pixCheckpointRecord(meta: Pix2pixCheckpointMeta): Record<string, unknown> {
  return { family: PIX2PIX_FAMILY, stage: PIX2PIX_STAGE, epoch: meta.epoch, step: meta.step, lr: meta.lr, config: meta.config, direction: meta.direction };
}

function firstNonFinite(values: Float32Array | Float64Array): number {
  for (let i = 0; i < values.length; i++) if (values[i]! - values[i]! !== 0) return i;
  return -1;
}

/** Validates a pix2pix checkpoint file already read: metadata, tensor names, finite weights (exit 3 naming the problem). */
export function pix2pixCheckpointFromFile(file: TensorFile): Pix2pixCheckpoint {
  const fail = (message: string): InputError => new InputError(`${file.source}: ${message}`);
  const raw = file.p2phd;
  if (!isPix2pixMetadata(raw)) throw fail(`is a ${String(raw['family'] ?? 'pix2pixhd')} checkpoint, not a pix2pix one`);
  for (const key of ['epoch', 'step'] as const) {
    if (typeof raw[key] !== 'number' || !Number.isSafeInteger(raw[key]) || (raw[key] as number) < 0) throw fail(`checkpoint ${key} must be an integer >= 0, got ${JSON.stringify(raw[key])}`);
  }
  if (typeof raw['lr'] !== 'number' || !Number.isFinite(raw['lr']) || (raw['lr'] as number) < 0) throw fail(`checkpoint lr must be a number >= 0, got ${JSON.stringify(raw['lr'])}`);
  const direction = raw['direction'] ?? 'AtoB';
  if (direction !== 'AtoB' && direction !== 'BtoA') throw fail(`checkpoint direction must be AtoB or BtoA, got ${JSON.stringify(direction)}`);
  if (raw['config'] === null || typeof raw['config'] !== 'object') throw fail('checkpoint has no config');
  const missing = PIX2PIX_CONFIG_KEYS.filter((key) => !(key in (raw['config'] as object)));
  if (missing.length > 0) throw fail(`checkpoint config lacks ${missing.join(', ')}`);
  const config = resolvePix2pixConfig(raw['config'], (message) => fail(`checkpoint config: ${message}`));
  for (const [key, tensor] of file.tensors) {
    if (!/^[GD]\./.test(key)) throw fail(`tensor "${key}" belongs to no pix2pix network (names start with G. or D.)`);
    if (tensor.data instanceof Float32Array || tensor.data instanceof Float64Array) {
      const index = firstNonFinite(tensor.data);
      if (index >= 0) throw fail(`tensor "${key}" holds ${tensor.data[index]} (element ${index}): the weights are corrupt (from a run that diverged?); use an earlier checkpoint`);
    }
  }
  const networks = (['G', 'D'] as const).filter((n) => [...file.tensors.keys()].some((key) => key.startsWith(`${n}.`)));
  if (!networks.includes('G')) throw fail('holds no G.* tensors');
  return {
    source: file.source,
    meta: { epoch: raw['epoch'] as number, step: raw['step'] as number, lr: raw['lr'] as number, config, direction },
    tensors: file.tensors,
    networks,
  };
}
