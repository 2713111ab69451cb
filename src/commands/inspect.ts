import type { Command } from 'commander';
import { addCommonOptions, notImplemented } from './common.js';

export function registerInspect(program: Command): void {
  addCommonOptions(program.command('inspect').description('print what a tensor file holds, as JSON')).action(notImplemented('inspect'));
}
