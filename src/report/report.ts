/**
 * `p2phd report DIR`: a training run folder gets its run page, a synthesize
 * results folder gets its pages merged into one index.html.
 */
import { promises as fsp } from 'node:fs';
import { UsageError } from '../errors.js';
import { isResultsFolder, mergeResultsPages } from './resultsPage.js';
import { isRunFolder, writeRunReport } from './runReport.js';

export interface ReportSummary {
  kind: 'run' | 'results';
  page: string;
}

export async function writeReport(dir: string): Promise<ReportSummary> {
  const stat = await fsp.stat(dir).catch(() => undefined);
  if (!stat?.isDirectory()) throw new UsageError(`${dir}: not a folder (give a training run folder or a synthesize --out folder)`);
  if (await isRunFolder(dir)) return { kind: 'run', page: await writeRunReport(dir) };
  if (await isResultsFolder(dir)) return { kind: 'results', page: (await mergeResultsPages(dir)).path };
  throw new UsageError(`${dir}: neither a training run folder (options.json + log.jsonl) nor a synthesize folder (index.html / index_shard_I_of_N.html pages)`);
}
