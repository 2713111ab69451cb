import { Option, type Command } from 'commander';
import { action, addCommonOptions, parseShard, type Shard } from './common.js';
// styles.ts loads no tfjs (nor sharp), so --help stays light.
import { STYLE_MODES, type StyleMode } from '../synthesis/styles.js';

interface SynthesizeFlags {
  checkpoint: string;
  labels?: string;
  instances?: string;
  data?: string;
  images?: string;
  useEncoded: boolean;
  clusters?: string;
  style: StyleMode;
  styleMap?: string;
  out: string;
  shard?: Shard;
}

export function registerSynthesize(program: Command): void {
  addCommonOptions(
    program
      .command('synthesize')
      .description('label (+ instance) maps -> photos (PNG)')
      .requiredOption('--checkpoint <file|dir>', 'checkpoint (a run folder means its latest.safetensors); the architecture comes from it')
      .option('--labels <glob|dir>', 'label map PNGs (class ids), sorted by path')
      .option('--instances <glob|dir>', 'instance map PNGs, paired with the labels in sorted order')
      .option('--data <dir>', 'sample files (from preprocess) instead of --labels')
      .option('--clusters <file>', 'style centres from p2phd cluster (models trained with --instance-feat)')
      .addOption(new Option('--style <mode>', 'random: a seeded centre per instance; first: centre 0; all: one output per cluster index (<stem>_sNN.png)').choices(Object.keys(STYLE_MODES)).default('random'))
      .option('--style-map <file>', 'JSON {"<instance id>": <cluster index>} fixing chosen instances\' styles')
      .option('--images <glob|dir>', 'real photos, paired with the labels in sorted order: shown beside the outputs in OUT/index.html, and encoded with --use-encoded')
      .option('--use-encoded', 'features from the encoder E over the real photos instead of cluster centres', false)
      .option('--shard <index/count>', 'take every COUNT-th input from INDEX (0-based)', parseShard)
      .requiredOption('--out <dir>', 'folder for the PNGs (named after the input stems) and index.html (index_shard_I_of_N.html per shard; p2phd report OUT merges them)'),
  ).action(
    action<SynthesizeFlags>(async (flags, context) => {
      const [{ runSynthesizeStage }, { inputSourceFromFlags }] = await Promise.all([
        import('../synthesis/synthesizeStage.js'),
        import('../synthesis/inputs.js'),
      ]);
      const inputs = inputSourceFromFlags(flags);
      await context.useBackend({ inference: true });
      const summary = await runSynthesizeStage(
        {
          checkpoint: flags.checkpoint,
          inputs,
          out: flags.out,
          style: flags.style,
          useEncoded: flags.useEncoded,
          seed: context.seed,
          ...(flags.clusters !== undefined ? { clusters: flags.clusters } : {}),
          ...(flags.styleMap !== undefined ? { styleMap: flags.styleMap } : {}),
          ...(flags.shard !== undefined ? { shard: flags.shard } : {}),
        },
        context.log,
      );
      context.emitJson(summary);
    }),
  );
}
