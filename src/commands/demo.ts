import { Option, type Command } from 'commander';
import { action, addCommonOptions } from './common.js';

interface DemoFlags {
  out: string;
  family: string;
}

/** `runCommand` runs a p2phd command line; cli.ts passes it in (a command never imports the CLI that registers it). */
export function registerDemo(program: Command, runCommand: (args: string[]) => Promise<void>): void {
  const demo = program
    .command('demo')
    .description('the whole pipeline on the bundled fixtures: preprocess, train global/local/joint, encode, cluster, synthesize')
    .option('--out <dir>', 'output folder (must not exist yet, or be empty)', './p2phd-demo')
    .addOption(new Option('--family <name>', 'pix2pixhd: the whole pix2pixHD pipeline; pix2pix: preprocess --aligned, train pix2pix (a tiny U-Net), synthesize, contact sheet (A | output | B)').choices(['pix2pixhd', 'pix2pix']).default('pix2pixhd'));
  addCommonOptions(demo).action(
    action<DemoFlags>(async (flags, context) => {
      const { runDemo } = await import('../pipeline/demo.js');
      const summary = await runDemo(
        {
          out: flags.out, family: flags.family, seed: context.seed, backend: context.common.backend, verbose: context.common.verbose, runCommand,
          startBackend: () => context.useBackend(),
        },
        context.log,
      );
      context.emitJson(summary);
    }, (flags) => ({ output: { flag: '--out', path: flags.out, kind: 'folder' }, inputs: [] })),
  );
}
