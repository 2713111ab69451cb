import type { Command } from 'commander';
import { addCommonOptions, notImplemented } from './common.js';

export function registerDemo(program: Command): void {
  addCommonOptions(program.command('demo').description('the whole pipeline on the bundled fixtures')).action(notImplemented('demo'));
}
