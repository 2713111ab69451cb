import type { Command } from 'commander';
import { addCommonOptions, notImplemented } from './common.js';

export function registerPreprocess(program: Command): void {
  addCommonOptions(program.command('preprocess').description('raw label/instance/photo files -> sample files')).action(notImplemented('preprocess'));
}
