import type { Command } from 'commander';
import { addCommonOptions, notImplemented } from './common.js';

export function registerCluster(program: Command): void {
  addCommonOptions(program.command('cluster').description('k-means per class over features -> style cluster centres')).action(notImplemented('cluster'));
}
