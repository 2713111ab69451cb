import type { Command } from 'commander';
import { addCommonOptions, notImplemented } from './common.js';

export function registerTrain(program: Command): void {
  const train = program.command('train').description('train a generator stage (global, local, joint)');
  addCommonOptions(train.command('global').description('train the global generator G1 (+ D, + E)')).action(notImplemented('train global'));
  addCommonOptions(train.command('local').description('train a local enhancer on top of a trained G1 (G1 frozen)')).action(notImplemented('train local'));
  addCommonOptions(train.command('joint').description('fine-tune all generator stages (+ D, + E) together')).action(notImplemented('train joint'));
}
