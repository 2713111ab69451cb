import type { Command } from 'commander';
import { action, addCommonOptions, checkStdoutFree, type CommonOptions } from './common.js';
import { integerFlag, numberFlag } from '../flagValues.js';

interface ClusterFlags {
  features: string[];
  k: number;
  minArea: number;
  out: string;
}

export function registerCluster(program: Command): void {
  addCommonOptions(
    program
      .command('cluster')
      .description('k-means per class over features -> style cluster centres')
      .requiredOption('--features <files...>', 'features files from encode (paths, folders, quoted globs; "-" = stdin); shards are merged in the order given')
      .option('--k <n>', 'centres per class at most (k_c = min(k, rows))', integerFlag('--k', 1), 10)
      .option('--min-area <ratio>', 'cluster only instances with area ratio above this (pixels / (H*W // 32))', numberFlag('--min-area', 0), 0.5)
      .requiredOption('--out <file>', 'clusters file to write ("-" = stdout)'),
  ).action(
    action<ClusterFlags & Partial<CommonOptions>>(async (flags, context) => {
      checkStdoutFree(flags.out, context.common.json, 'clusters');
      const { runClusterStage } = await import('../synthesis/clusterStage.js');
      // Without --seed, seed 0 (the reference's random_state=0), not a fresh
      // one: re-running cluster on the same features gives the same file.
      const seed = flags.seed ?? 0;
      const summary = await runClusterStage(
        { features: flags.features, k: flags.k, minArea: flags.minArea, seed, out: flags.out },
        context.log,
      );
      context.emitJson(summary);
    }, (flags) => ({
      output: { flag: '--out', path: flags.out, kind: 'file' },
      inputs: flags.features.map((path) => ({ flag: '--features', path })),
    })),
  );
}
