/**
 * `p2phd cluster` as a library call: read one or more features files (encode
 * shards, in the order given), merge them, cluster per class, write the
 * clusters file.
 */
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { InputError, UsageError } from '../errors.js';
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

/**
 * Reads and merges the features files, in order. All must share one
 * feat_num (another is a damaged or foreign input: exit 3). A file named
 * twice (a folder and a file in it, a glob and a path, a link) is read once,
 * with a warning: counting its rows twice would weigh its samples double in
 * the clustering. Samples of the same name in two files are warned about.
 */
export async function readFeatureInputs(argumentsGiven: readonly string[], warn: (line: string) => void = () => undefined): Promise<{ paths: string[]; table: FeatureTable }> {
  if (argumentsGiven.filter((argument) => argument === '-').length > 1) {
    throw new UsageError('--features: "-" (stdin) can be given only once');
  }
  const paths: string[] = [];
  const seen = new Map<string, string>();
  for (const argument of argumentsGiven) {
    for (const path of argument === '-' ? ['-'] : listFiles(argument, 'features files', ['safetensors'])) {
      const identity = fileIdentity(path);
      const first = seen.get(identity);
      if (first !== undefined) {
        warn(`--features: ${path} is the same file as ${first}, given before; its rows are counted once`);
        continue;
      }
      seen.set(identity, path);
      paths.push(path);
    }
  }
  const tables: FeatureTable[] = [];
  const sampleFile = new Map<string, string>();
  for (const path of paths) {
    const table = await readFeaturesFile(path);
    if (tables.length > 0 && table.featNum !== tables[0]!.featNum) {
      throw new InputError(`--features: ${path} has feat_num ${table.featNum} but ${paths[0]} has ${tables[0]!.featNum}; they come from different encoders`);
    }
    const repeated = table.sampleNames.filter((name) => sampleFile.has(name));
    if (repeated.length > 0) {
      warn(`--features: ${path} holds ${repeated.length} sample(s) already in ${sampleFile.get(repeated[0]!)} (${repeated[0]}${repeated.length > 1 ? ', ...' : ''}); their rows are counted twice`);
    }
    for (const name of table.sampleNames) if (!sampleFile.has(name)) sampleFile.set(name, path);
    tables.push(table);
  }
  return { paths, table: concatFeatureTables(tables) };
}

/** One file, whatever path leads to it (device and inode; the path itself when it cannot be read: the reader reports that). */
function fileIdentity(path: string): string {
  if (path === '-') return '-';
  try {
    const stats = statSync(path);
    return `${stats.dev}:${stats.ino}`;
  } catch {
    return `path:${resolve(path)}`;
  }
}

export async function runClusterStage(config: ClusterStageConfig, log: Logger): Promise<ClusterSummary> {
  const { paths, table } = await readFeatureInputs(config.features, (line) => log.warn(line));
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
