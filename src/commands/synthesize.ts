import type { Command } from 'commander';
import { addCommonOptions, notImplemented } from './common.js';

export function registerSynthesize(program: Command): void {
  addCommonOptions(program.command('synthesize').description('label (+ instance) maps -> photos (PNG)')).action(notImplemented('synthesize'));
}
