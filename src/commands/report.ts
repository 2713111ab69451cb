/**
 * `p2phd report DIR`: writes DIR/index.html for a training run folder (loss
 * curves, samples, state) or merges a synthesize folder's pages (one per
 * shard) into DIR/index.html. The page opens from the file system.
 */
import type { Command } from 'commander';
import { action, addCommonOptions } from './common.js';

export function registerReport(program: Command): void {
  const command = program
    .command('report')
    .description('write DIR/index.html: a training run\'s losses, samples and state, or a synthesize folder\'s shard pages merged')
    .argument('<dir>', 'a training run folder (train --out) or a synthesize --out folder');
  addCommonOptions(command).action(
    action<object>(async (_flags, context, args) => {
      const { writeReport } = await import('../report/report.js');
      const summary = await writeReport(args[0]!);
      context.log.info(`report: ${summary.page}`);
      context.emitJson(summary);
    }),
  );
}
