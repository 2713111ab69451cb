import { Option, type Command } from 'commander';
import { UsageError } from '../errors.js';
import { action, addCommonOptions } from './common.js';
import { integerFlag, parseShard, type Shard } from '../flagValues.js';
import { MAX_RESIZE_SIDE, RESIZE_MODES, type ResizeMode } from '../data/datasets/resize.js';
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
  loadSize?: number;
  resizeOrCrop?: ResizeMode;
  inputs?: string;
  aligned: boolean;
  direction?: 'AtoB' | 'BtoA';
  eval: boolean;
  dropout?: 'on' | 'off';
}

const PIX2PIX_SYNTHESIS_NOTE = `
pix2pix checkpoints (p2phd train pix2pix, or p2phd import of the reference's
latest_net_G.pth) take --inputs instead of --labels. Test-time modes (the
reference's most asked question: its test.py, without --eval, normalises with
each image's own batch statistics and keeps dropout ON, so outputs are random):
  default         the reference's: batch statistics, dropout on, masks drawn
                  from --seed (the same seed gives the same images)
  --eval          running statistics, no dropout (the reference's --eval)
  --dropout off   batch statistics, no dropout: deterministic
Outputs have the input's size at any size (padded by reflection to G's size
multiple, cropped back).`;

/** preprocess's resize, when asked for: --load-size alone means scale_width (preprocess's default mode). */
function resizeFromFlags(flags: SynthesizeFlags): { mode: ResizeMode; loadSize: number } | undefined {
  if (flags.loadSize === undefined && flags.resizeOrCrop === undefined) return undefined;
  const mode = flags.resizeOrCrop ?? 'scale_width';
  const needsSize = mode === 'scale_width' || mode === 'scale_width_and_crop' || mode === 'resize_and_crop';
  if (needsSize && flags.loadSize === undefined) throw new UsageError(`--resize-or-crop ${mode} needs --load-size (the width or side to resize to)`);
  return { mode, loadSize: flags.loadSize ?? 0 };
}

export function registerSynthesize(program: Command): void {
  addCommonOptions(
    program
      .command('synthesize')
      .description('label (+ instance) maps -> photos (PNG); pix2pix: images -> images')
      .requiredOption('--checkpoint <file|dir>', 'checkpoint (a run folder means its latest.safetensors); the architecture comes from it')
      .option('--labels <glob|dir>', 'label map PNGs (class ids), sorted by path')
      .option('--instances <glob|dir>', 'instance map PNGs, paired with the labels in sorted order')
      .option('--data <dir>', 'sample files (from preprocess) instead of --labels')
      .option('--clusters <file>', 'style centres from p2phd cluster (models trained with --instance-feat)')
      .addOption(new Option('--style <mode>', 'random: a seeded centre per instance; first: centre 0; all: one output per cluster index (<stem>_sNN.png)').choices(Object.keys(STYLE_MODES)).default('random'))
      .option('--style-map <file>', 'JSON {"<instance id>": <cluster index>} fixing chosen instances\' styles')
      .option('--images <glob|dir>', 'real photos, paired with the labels in sorted order: shown beside the outputs in OUT/index.html, and encoded with --use-encoded')
      .option('--use-encoded', 'features from the encoder E over the real photos instead of cluster centres', false)
      .option('--load-size <n>', 'resize label maps (and instance maps, photos) as preprocess does: the width (scale_width*) or side (resize_and_crop); default: no resize, each input at its own size', integerFlag('--load-size', 1, MAX_RESIZE_SIDE))
      .addOption(new Option('--resize-or-crop <mode>', "preprocess's resize mode for --load-size (crops are training's: *_crop modes only resize); none rounds to a size G takes").choices([...RESIZE_MODES]))
      .option('--inputs <glob|dir>', 'pix2pix checkpoints: A images (network inputs), sorted by path')
      .option('--aligned', 'pix2pix: --inputs are A|B files (A left, B right): B is shown as the real image on the results page', false)
      .addOption(new Option('--direction <dir>', 'pix2pix with --aligned: which half is the input (default: the checkpoint\'s --direction)').choices(['AtoB', 'BtoA']))
      .option('--eval', 'pix2pix: running batch-norm statistics, no dropout (the reference\'s test.py --eval)', false)
      .addOption(new Option('--dropout <on|off>', 'pix2pix: off gives batch statistics without dropout (deterministic); on (default) is the reference\'s test.py, seeded by --seed').choices(['on', 'off']))
      .option('--shard <index/count>', 'take every COUNT-th input from INDEX (0-based)', parseShard)
      .requiredOption('--out <dir>', 'folder for the PNGs (named after the input stems) and index.html (index_shard_I_of_N.html per shard; p2phd report OUT merges them)'),
  ).addHelpText('after', PIX2PIX_SYNTHESIS_NOTE).action(
    action<SynthesizeFlags>(async (flags, context) => {
      if (flags.inputs !== undefined) {
        if (flags.labels !== undefined || flags.data !== undefined) throw new UsageError('--inputs (pix2pix) and --labels / --data (pix2pixHD) exclude each other');
        if (flags.eval && flags.dropout === 'on') throw new UsageError('--eval turns dropout off; --dropout on contradicts it');
        if (flags.direction !== undefined && !flags.aligned) throw new UsageError('--direction picks the input half of A|B files: it needs --aligned');
        const { runPix2pixSynthesis } = await import('../synthesis/pix2pix.js');
        // --backend onnxruntime runs G as an ONNX graph (the deterministic modes); otherwise tfjs ops (wasm by default).
        const engine = context.common.backend === 'onnxruntime' ? 'onnxruntime' : 'tfjs';
        await context.useBackend(engine === 'onnxruntime' ? { inference: true } : {});
        const summary = await runPix2pixSynthesis(
          {
            checkpoint: flags.checkpoint,
            inputs: flags.inputs,
            aligned: flags.aligned,
            ...(flags.direction !== undefined ? { direction: flags.direction } : {}),
            mode: flags.eval ? 'eval' : flags.dropout === 'off' ? 'no-dropout' : 'reference',
            seed: context.seed,
            out: flags.out,
            engine,
          },
          context.log,
        );
        context.emitJson(summary);
        return;
      }
      if (flags.aligned || flags.eval || flags.dropout !== undefined) throw new UsageError('--aligned, --eval and --dropout are for pix2pix checkpoints, with --inputs');
      const [{ runSynthesizeStage }, { inputSourceFromFlags }] = await Promise.all([
        import('../synthesis/synthesizeStage.js'),
        import('../synthesis/inputs.js'),
      ]);
      const inputs = inputSourceFromFlags(flags);
      const resize = resizeFromFlags(flags);
      const { inferenceEngineOf } = await import('../backend/index.js');
      const engine = inferenceEngineOf(await context.useBackend({ inference: true }));
      const summary = await runSynthesizeStage(
        {
          engine,
          checkpoint: flags.checkpoint,
          inputs,
          out: flags.out,
          style: flags.style,
          useEncoded: flags.useEncoded,
          seed: context.seed,
          ...(flags.clusters !== undefined ? { clusters: flags.clusters } : {}),
          ...(flags.styleMap !== undefined ? { styleMap: flags.styleMap } : {}),
          ...(flags.shard !== undefined ? { shard: flags.shard } : {}),
          ...(resize !== undefined ? { resize } : {}),
        },
        context.log,
      );
      context.emitJson(summary);
    }, (flags) => ({
      output: { flag: '--out', path: flags.out, kind: 'folder' },
      inputs: [
        { flag: '--checkpoint', path: flags.checkpoint, kind: 'checkpoint' },
        { flag: '--labels', path: flags.labels },
        { flag: '--instances', path: flags.instances },
        { flag: '--images', path: flags.images },
        { flag: '--data', path: flags.data },
        { flag: '--clusters', path: flags.clusters },
        { flag: '--style-map', path: flags.styleMap },
        { flag: '--inputs', path: flags.inputs },
      ],
    })),
  );
}
