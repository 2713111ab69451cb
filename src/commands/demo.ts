import type { Command } from 'commander';
import { action, addCommonOptions } from './common.js';

interface DemoFlags {
  out: string;
}

/** `runCommand` runs a p2phd command line; cli.ts passes it in (a command never imports the CLI that registers it). */
export function registerDemo(program: Command, runCommand: (args: string[]) => Promise<void>): void {
  const demo = program
    .command('demo')
    .description('the whole pipeline on the bundled fixtures: preprocess, train global/local/joint, encode, cluster, synthesize')
    .option('--out <dir>', 'output folder (must not exist yet, or be empty)', './p2phd-demo');
  addCommonOptions(demo).action(
    action<DemoFlags>(async (flags, context) => {
      const { runDemo } = await import('../pipeline/demo.js');
      const summary = await runDemo({ out: flags.out, seed: context.seed, backend: context.common.backend, verbose: context.common.verbose, runCommand }, context.log);
      context.emitJson(summary);
    }, (flags) => ({ output: { flag: '--out', path: flags.out, kind: 'folder' }, inputs: [] })),
  );
}
