/**
 * `p2phd cluster` as a library call: read one or more features files (encode
 * shards, in the order given), merge them, cluster per class, write the
 * clusters file.
 */
import { UsageError } from '../errors.js';
import type { Logger } from '../log.js';
import { writeClustersFile } from '../data/files/clusters.js';
import { concatFeatureTables, featureRowCount, readFeaturesFile, type FeatureTable } from '../data/files/features.js';
import { clusterFeatures, type ClassReport } from './clustering.js';
import { listFiles } from '../data/datasets/inputs.js';

export interface ClusterStageConfig {
  /** Paths, folders, glob patterns, or '-' (stdin, at most once). */
  readonly features: readonly string[];
  readonly k: number;
  readonly minArea: number;
  readonly seed: number;
  readonly out: string;
}

export interface ClusterSummary {
  readonly inputs: string[];
  readonly rows: number;
  readonly out: string;
  readonly classes: ClassReport[];
}

/** Reads and merges the features files, in order. All must share one feat_num. */
export async function readFeatureInputs(argumentsGiven: readonly string[]): Promise<{ paths: string[]; table: FeatureTable }> {
  if (argumentsGiven.filter((argument) => argument === '-').length > 1) {
    throw new UsageError('--features: "-" (stdin) can be given only once');
  }
  const paths: string[] = [];
  for (const argument of argumentsGiven) {
    if (argument === '-') paths.push('-');
    else paths.push(...listFiles(argument, 'features files', ['safetensors']));
  }
  const tables: FeatureTable[] = [];
  for (const path of paths) {
    const table = await readFeaturesFile(path);
    if (tables.length > 0 && table.featNum !== tables[0]!.featNum) {
      throw new UsageError(`--features: ${path} has feat_num ${table.featNum} but ${paths[0]} has ${tables[0]!.featNum}; they come from different encoders`);
    }
    tables.push(table);
  }
  return { paths, table: concatFeatureTables(tables) };
}

export async function runClusterStage(config: ClusterStageConfig, log: Logger): Promise<ClusterSummary> {
  const { paths, table } = await readFeatureInputs(config.features);
  const rows = featureRowCount(table);
  log.info(`cluster: ${rows} feature rows from ${paths.length} file(s), ${table.sampleNames.length} sample(s)`);
  const { set, report } = clusterFeatures(table, { k: config.k, minArea: config.minArea, seed: config.seed });
  for (const entry of report) {
    log.debug(`class ${entry.classId}: ${entry.rows} rows with area > ${config.minArea} -> ${entry.centers} centres`);
    if (entry.duplicated) log.warn(`class ${entry.classId}: fewer distinct feature rows than ${entry.centers} centres; some centres repeat`);
  }
  if (report.length === 0) log.warn(`no feature row has area > ${config.minArea}: the clusters file holds no classes`);
  await writeClustersFile(config.out, set);
  log.info(`cluster: ${report.length} classes, ${report.reduce((sum, r) => sum + r.centers, 0)} centres -> ${config.out === '-' ? '<stdout>' : config.out}`);
  return { inputs: paths, rows, out: config.out, classes: report };
}
