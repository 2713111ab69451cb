import type { Command } from 'commander';
import { addCommonOptions, notImplemented } from './common.js';

export function registerEncode(program: Command): void {
  addCommonOptions(program.command('encode').description('run a trained encoder E over samples -> per-instance features')).action(notImplemented('encode'));
}
