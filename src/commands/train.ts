/**
 * `p2phd train global | local | joint`: flags in, one request out, the
 * training module does the rest (src/train/trainer.ts). Heavy modules load
 * only when a stage runs, so `--help` stays instant.
 */
import type { Command } from 'commander';
import { STAGES, type Stage } from '../data/stages.js';
import { action, addCommonOptions } from './common.js';
import { TRAIN_FLAGS, trainOptions, type TrainFlagName, type TrainFlagValues } from '../train/flags.js';

const SIZES_NOTE = `
Samples whose size (after the fine_size crop of the *crop resize modes) is not
a multiple of 2^(n_downsample_global [+ n_local_enhancers]) (and of
2^n_downsample_e with --instance-feat) are trained on centred crops of the
largest size that is; samples whose sides are then below 2 * 2^(n_downsample_global
[+ n_local_enhancers]) (G's residual blocks reflect-pad a bottleneck, which needs
at least 2x2) are refused (exit 3).

Exit codes: 0 done (or --max-steps reached), 1 a loss became NaN or infinite
(latest.safetensors stays the last good one), 2 usage (a run folder holding a
checkpoint without --resume, or in use by another process), 3 bad input, 75
stopped by SIGTERM/SIGINT or --time-limit after saving latest.safetensors
(continue with --resume). A second signal ends the process at once (75, or
143/130 before the first save); the last saved checkpoint is intact.
More: docs/recipes.md and docs/batch.md (in the p2phd package's docs/ folder).`;

/** The flags the user typed (not defaulted), for --resume's consistency check. */
function explicitFlags(command: Command): Set<TrainFlagName> {
  return new Set((Object.keys(TRAIN_FLAGS) as TrainFlagName[]).filter((name) => command.getOptionValueSource(name) === 'cli'));
}

export function registerTrain(program: Command): void {
  const train = program.command('train').description('train a generator stage (global, local, joint)');
  for (const stage of Object.keys(STAGES) as Stage[]) {
    const command = addCommonOptions(train.command(stage).description(STAGES[stage]));
    for (const option of trainOptions()) command.addOption(option);
    command.addHelpText('after', SIZES_NOTE);
    command.action(
      action<TrainFlagValues>(async (flags, context) => {
        const { runTraining } = await import('../train/trainer.js');
        const summary = await runTraining({
          stage,
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
}
