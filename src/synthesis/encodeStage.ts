/**
 * `p2phd encode` as a library call: a checkpoint's E over sample files
 * (photo + instance map, no augmentation), one features row per instance of
 * each sample (per label with label_feat), written as one features file (or
 * to stdout for a pipe into `p2phd cluster --features -`); with `maps`, also
 * each sample's pooled feature map as a feature_map file under the sample's
 * name (the reference's precompute_feature_maps.py), for `train
 * --load-features`.
 */
import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import { InputError, UsageError } from '../errors.js';
import { computeWithSignalsEndingAtOnce } from '../lifecycle.js';
import { featureMapPath, writeFeatureMap } from '../data/files/featureMap.js';
import { requireFeaturePoolIds } from './featurePooling.js';
import { createProgress, type Logger } from '../log.js';
import { takeShard, type Shard } from '../flagValues.js';
import { missingNetworkMessage, readCheckpoint } from '../families/checkpoint.js';
import { concatFeatureTables, writeFeaturesFile, type FeatureTable } from '../data/files/features.js';
import { instanceFeatureRows } from './featureRows.js';
import { listInputItems } from './inputs.js';
import { loadInferenceNetworks, type InferenceEngine } from './inferenceNetworks.js';

export interface EncodeStageConfig {
  readonly checkpoint: string;
  /** Folder (or glob) of sample files. */
  readonly data: string;
  /** The features file; optional when `maps` is given. */
  readonly out?: string;
  /** Folder for the per-sample feature maps (encode --maps). */
  readonly maps?: string;
  readonly shard?: Shard;
  /** Where E runs (default tfjs): the backend selection's inferenceEngineOf. */
  readonly engine?: InferenceEngine;
}

export interface EncodeSummary {
  readonly samples: number;
  readonly rows: number;
  readonly out?: string;
  readonly maps?: string;
}

export async function runEncodeStage(config: EncodeStageConfig, log: Logger): Promise<EncodeSummary> {
  if (config.out === undefined && config.maps === undefined) throw new UsageError('encode needs --out (a features file) or --maps (a folder of feature maps), or both');
  if (config.maps !== undefined && resolve(config.maps) === resolve(config.data)) {
    throw new UsageError(`--maps ${config.maps}: is the --data folder; the maps take the samples' file names and would overwrite them`);
  }
  const checkpoint = await readCheckpoint(config.checkpoint);
  const arch = checkpoint.meta.config;
  if (!checkpoint.networks.includes('E')) {
    throw new InputError(missingNetworkMessage(checkpoint, 'E'));
  }
  const items = takeShard(listInputItems({ kind: 'samples', data: config.data }, arch.label_nc), config.shard);
  if (config.maps !== undefined) {
    try {
      await mkdir(config.maps, { recursive: true });
    } catch (error) {
      throw new UsageError(`--maps ${config.maps}: cannot create the folder (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
    }
  }
  const networks = await loadInferenceNetworks(checkpoint, ['E'], config.engine ?? 'tfjs');
  const tables: FeatureTable[] = [];
  const progress = createProgress('encode', items.length);
  try {
    for (const item of items) {
      const input = await item.load();
      const photo = input.photo;
      if (!photo) throw new InputError(`${item.source}: sample has no photo (image); encode needs the real photos (preprocess with --images)`);
      const poolIds = requireFeaturePoolIds(arch, input, 'encode');
      // One forward pass never yields: a signal during it ends the process at once (nothing is being written).
      const pooled = await computeWithSignalsEndingAtOnce(() => networks.encode(photo, poolIds, input.height, input.width));
      if (config.maps !== undefined) {
        await writeFeatureMap(featureMapPath(config.maps, item.source), { height: input.height, width: input.width, featNum: arch.feat_num, values: pooled }, { labelFeat: arch.label_feat, checkpoint: checkpoint.source });
      }
      const rows = instanceFeatureRows(pooled, poolIds, input.height, input.width, arch.feat_num);
      tables.push({ ...rows, samples: new Int32Array(rows.instances.length), sampleNames: [item.stem] });
      progress.tick();
    }
  } finally {
    progress.stop();
    await networks.dispose();
  }
  const table = concatFeatureTables(tables, arch.feat_num);
  if (config.out !== undefined) await writeFeaturesFile(config.out, table, { checkpoint: checkpoint.source, label_feat: arch.label_feat });
  const targets = [config.out === '-' ? '<stdout>' : config.out, config.maps !== undefined ? `feature maps in ${config.maps}` : undefined].filter((target) => target !== undefined);
  log.info(`encode: ${table.classes.length} ${arch.label_feat ? 'label' : 'instance'} rows from ${items.length} sample(s) -> ${targets.join(' and ')}`);
  return { samples: items.length, rows: table.classes.length, ...(config.out !== undefined ? { out: config.out } : {}), ...(config.maps !== undefined ? { maps: config.maps } : {}) };
}
