/**
 * `p2phd encode` as a library call: a checkpoint's E over sample files
 * (photo + instance map, no augmentation), one features row per instance of
 * each sample, written as one features file (or to stdout for a pipe into
 * `p2phd cluster --features -`).
 */
import { InputError } from '../errors.js';
import { createProgress, type Logger } from '../log.js';
import { takeShard, type Shard } from '../commands/common.js';
import { checkpointParams, readCheckpoint } from '../data/checkpoint.js';
import { concatFeatureTables, writeFeaturesFile, type FeatureTable } from '../data/features.js';
import { disposeParams } from '../model/params.js';
import { instanceFeatureRows } from './featureRows.js';
import { listInputItems } from './inputs.js';
import { encodeInstanceFeatures } from './networks.js';

export interface EncodeStageConfig {
  readonly checkpoint: string;
  /** Folder (or glob) of sample files. */
  readonly data: string;
  readonly out: string;
  readonly shard?: Shard;
}

export interface EncodeSummary {
  readonly samples: number;
  readonly rows: number;
  readonly out: string;
}

export async function runEncodeStage(config: EncodeStageConfig, log: Logger): Promise<EncodeSummary> {
  const checkpoint = await readCheckpoint(config.checkpoint);
  const arch = checkpoint.meta.config;
  if (!checkpoint.networks.includes('E')) {
    throw new InputError(`${checkpoint.source}: holds no encoder (E.* tensors); train with --instance-feat to have one`);
  }
  const items = takeShard(listInputItems({ kind: 'samples', data: config.data }, arch.label_nc), config.shard);
  const params = checkpointParams(checkpoint, ['E']);
  const tables: FeatureTable[] = [];
  const progress = createProgress('encode', items.length);
  try {
    for (const item of items) {
      const input = await item.load();
      if (!input.photo) throw new InputError(`${item.source}: sample has no photo (image); encode needs the real photos (preprocess with --images)`);
      if (!input.instanceMap) throw new InputError(`${item.source}: sample has no instance map (inst); encode needs instance maps (preprocess without --no-instance)`);
      const pooled = await encodeInstanceFeatures(arch, params, input.photo, input.instanceMap, input.height, input.width);
      const rows = instanceFeatureRows(pooled, input.instanceMap, input.height, input.width, arch.feat_num);
      tables.push({ ...rows, samples: new Int32Array(rows.instances.length), sampleNames: [item.stem] });
      progress.tick();
    }
  } finally {
    progress.stop();
    disposeParams(params);
  }
  const table = concatFeatureTables(tables, arch.feat_num);
  await writeFeaturesFile(config.out, table, { checkpoint: checkpoint.source });
  log.info(`encode: ${table.classes.length} instance rows from ${items.length} sample(s) -> ${config.out === '-' ? '<stdout>' : config.out}`);
  return { samples: items.length, rows: table.classes.length, out: config.out };
}
