/**
 * `p2phd train global | local | joint`: flags in, one request out, the
 * training module does the rest (src/train/trainer.ts). Heavy modules load
 * only when a stage runs, so `--help` stays instant.
 */
import type { Command } from 'commander';
import { allStages } from '../families/index.js';
import type { Stage } from '../families/pix2pixhd/stages.js';
import { action, addCommonOptions } from './common.js';
import { TRAIN_FLAGS, trainOptions, type TrainFlagName, type TrainFlagValues } from '../train/flags.js';
import { PIX2PIX_TRAIN_FLAGS, pix2pixFlagValues, pix2pixTrainOptions, type Pix2pixFlagName } from '../families/pix2pix/flags.js';

const SIZES_NOTE = `
Samples whose size (after the fine_size crop of the *crop resize modes) is not
a multiple of 2^(n_downsample_global [+ n_local_enhancers]) (and of
2^n_downsample_e with --instance-feat) are trained on centred crops of the
largest size that is; samples whose sides are then below 2 * 2^(n_downsample_global
[+ n_local_enhancers]) (G's residual blocks reflect-pad a bottleneck, which needs
at least 2x2) are refused (exit 3).

Exit codes: 0 done (or --max-steps reached), 1 internal failure (a bug:
please report it with the trace), 2 usage (a run folder holding a checkpoint
without --resume, or in use by another process), 3 bad input, 4 training
diverged: a loss became NaN or infinite (nothing saved; latest.safetensors
stays the last good one: try a lower --lr), 75 stopped by SIGTERM/SIGINT or
--time-limit after saving latest.safetensors (continue with --resume). A second
signal ends the process at once (75, or 143/130 before the first save). A
signal during a step that cannot be waited for (the first step of a process,
and every step once one took over 10 s, e.g. on --backend cpu) ends the
process at once with 143/130, without a save. The last saved checkpoint is
always intact.
More: docs/recipes.md and docs/batch.md (in the p2phd package's docs/ folder).`;

/** The flags the user typed (not defaulted), for --resume's consistency check. */
function explicitFlags(command: Command): Set<TrainFlagName> {
  return new Set((Object.keys(TRAIN_FLAGS) as TrainFlagName[]).filter((name) => command.getOptionValueSource(name) === 'cli'));
}

/**
 * How each family's stages become commands: its flag table, its help text,
 * and the request its training takes. A new family adds one entry (the
 * registry in src/families/index.ts gives its stages).
 */
interface FamilyTrainCommand {
  register(command: Command, stage: string): void;
}

const TRAIN_COMMANDS: Readonly<Record<string, FamilyTrainCommand>> = Object.freeze({
  pix2pixhd: { register: registerPix2pixhdStage },
  pix2pix: { register: registerPix2pixStage },
});

function registerPix2pixhdStage(command: Command, stage: string): void {
  for (const option of trainOptions()) command.addOption(option);
  command.addHelpText('after', SIZES_NOTE);
  command.action(
    action<TrainFlagValues>(async (flags, context) => {
      const { runTraining } = await import('../train/trainer.js');
      const summary = await runTraining({
        stage: stage as Stage,
        values: flags,
        explicit: explicitFlags(command),
        seed: context.seed,
        seedExplicit: command.getOptionValueSource('seed') === 'cli',
        log: context.log,
        useBackend: context.useBackend,
      });
      context.emitJson(summary);
    }, (flags) => ({
      output: { flag: '--out', path: flags.out, kind: 'folder' },
      // --resume reads the run folder itself: that is the point, not a clash.
      inputs: [
        { flag: '--data', path: flags.data },
        { flag: '--init', path: flags.init, kind: 'checkpoint' },
        { flag: '--vgg-weights', path: flags.vggWeights },
      ],
    })),
  );
}

export function registerTrain(program: Command): void {
  const stages = allStages();
  const train = program.command('train').description(`train a stage: ${stages.map(({ stage }) => stage).join(', ')}`);
  for (const { stage, description, family } of stages) {
    const register = TRAIN_COMMANDS[family.name]?.register;
    if (register === undefined) throw new Error(`family ${family.name} has stages but no train command (src/commands/train.ts)`);
    register(addCommonOptions(train.command(stage).description(`${description} [${family.name}]`)), stage);
  }
}

const PIX2PIX_NOTE = `
Trains the reference pix2pix (pytorch-CycleGAN-and-pix2pix, --model pix2pix)
on aligned samples (p2phd preprocess --aligned). Each step: G(A) once; D's
update on (A, G(A) detached) and (A, B), loss_D = 0.5 (D_fake + D_real); then
G's loss through the updated D: G_GAN + --lambda-l1 * L1(G(A), B); G's update.
Sides must be multiples of 256 (unet_256), 128 (unet_128) or 4 (resnet_*).
--gan-mode wgangp is the reference's pix2pix wgangp: plain WGAN means, no
gradient penalty (the reference never adds it for pix2pix).

Exit codes: 0 done (or --max-steps reached), 1 a loss became NaN or infinite,
2 usage, 3 bad input, 75 stopped by SIGTERM/SIGINT or --time-limit after
saving latest.safetensors (continue with --resume). Docs: docs/pix2pix-training.md.`;

/** `p2phd train pix2pix`: its own flag table (families/pix2pix/flags.ts), one request to train/pix2pix.ts. */
function registerPix2pixStage(command: Command): void {
  for (const option of pix2pixTrainOptions()) command.addOption(option);
  command.addHelpText('after', PIX2PIX_NOTE);
  command.action(
    action<Record<string, unknown> & { out?: string; data?: string; init?: string }>(async (flags, context) => {
      const { runPix2pixTraining } = await import('../train/pix2pix.js');
      const values = pix2pixFlagValues(flags);
      const explicit = new Set(
        (Object.keys(PIX2PIX_TRAIN_FLAGS) as Pix2pixFlagName[]).filter((name) => command.getOptionValueSource(name === 'noDropout' ? 'dropout' : name) === 'cli'),
      );
      const summary = await runPix2pixTraining({
        values,
        explicit,
        seed: context.seed,
        seedExplicit: command.getOptionValueSource('seed') === 'cli',
        log: context.log,
        useBackend: context.useBackend,
      });
      context.emitJson(summary);
    }, (flags) => ({
      output: { flag: '--out', path: flags.out, kind: 'folder' },
      inputs: [
        { flag: '--data', path: flags.data },
        { flag: '--init', path: flags.init, kind: 'checkpoint' },
      ],
    })),
  );
}
