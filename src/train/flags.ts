/**
 * The pix2pixHD training commands' flags, declared once in a frozen table
 * (src/flagTable.ts): the loop's own (paths, schedule, augmentation, run
 * control) here, the architecture and losses from the family
 * (families/pix2pixhd/flags.ts). Commander options, the typed flag values
 * and the help text all derive from the table.
 *
 * This module stays free of tfjs so that `--help` is instant.
 */
import type { Option } from 'commander';
import { UsageError } from '../errors.js';
import { integerFlag, numberFlag } from '../flagValues.js';
import { PIX2PIXHD_TRAIN_FLAGS } from '../families/pix2pixhd/flags.js';
import { defaulted, optionalString, commanderOptions, runControlFlags, toggle, valued, type FlagSpec } from '../flagTable.js';

/**
 * Keys are commander's attribute names for each flag (registration checks
 * this), so parsed options index straight into the table.
 */
export const TRAIN_FLAGS = Object.freeze({
  // Paths.
  data: valued<string>({ flags: '--data <dir>', help: 'folder of sample files (written by p2phd preprocess)', parse: optionalString }),
  out: valued<string>({ flags: '--out <run_dir>', help: 'run folder: checkpoints, log.jsonl, options.json, samples/, tensorboard/, index.html', parse: optionalString }),
  resume: toggle('--resume', 'continue the run in --out from its latest checkpoint (only latest has the Adam state: start a new run from an epoch_NNN file with --init)', { changeableOnResume: true }),
  init: valued<string>({ flags: '--init <ckpt>', help: 'start from this checkpoint (a folder means its latest.safetensors; a reference latest_net_G.pth works too, with the opt.txt and D/E beside it); tensors that fit are loaded', parse: optionalString }),
  initPartial: toggle('--init-partial', 'with --init: also from a checkpoint of another label set (label_nc, instance maps): load every tensor whose name and shape fit, initialise the rest (the input layers) fresh'),
  loadFeatures: valued<string>({ flags: '--load-features <dir>', help: 'feature maps written by p2phd encode --maps (one per sample, same names): G takes them instead of running the encoder E, which is not built, trained or saved (reference load_features). To synthesize, encode and cluster with the checkpoint that wrote the maps, then synthesize this model with --clusters', parse: optionalString }),

  // Optimizer and schedule.
  epochs: defaulted<number>({ flags: '--epochs <n>', help: 'epochs at the initial learning rate (reference niter); on --resume, extends (or shortens) the schedule', parse: integerFlag('--epochs', 0), defaultValue: 100, changeableOnResume: true }),
  decayEpochs: defaulted<number>({ flags: '--decay-epochs <n>', help: 'then epochs of linear decay to zero (reference niter_decay); on --resume, extends the schedule', parse: integerFlag('--decay-epochs', 0), defaultValue: 100, changeableOnResume: true }),
  niterFixGlobal: defaulted<number>({ flags: '--niter-fix-global <n>', help: 'train local: for the first N (> 0) epochs train only the outermost enhancer, then every G parameter with a fresh Adam (reference niter_fix_global N). Not given: G1 stays fixed throughout. The reference\'s 0 (every G parameter from the start) is train joint here: 0 is refused', parse: integerFlag('--niter-fix-global', 0), defaultValue: 0 }),
  batchSize: defaulted<number>({ flags: '--batch-size <n>', help: 'samples per step', parse: integerFlag('--batch-size', 1), defaultValue: 1 }),
  lr: defaulted<number>({ flags: '--lr <rate>', help: 'initial Adam learning rate', parse: numberFlag('--lr', 0), defaultValue: 0.0002 }),
  beta1: defaulted<number>({ flags: '--beta1 <b>', help: 'Adam beta1 (beta2 is 0.999)', parse: numberFlag('--beta1', 0, 0.999999), defaultValue: 0.5 }),

  // Architecture and losses: the family's own flags (families/pix2pixhd/flags.ts).
  ...PIX2PIXHD_TRAIN_FLAGS,

  // Data augmentation and order.
  flip: toggle('--no-flip', 'no random horizontal flips'),
  serial: toggle('--serial', 'keep the samples in sorted order (no shuffling)'),
  maxDatasetSize: valued<number>({ flags: '--max-dataset-size <n>', help: 'train on the first N samples of --data (sorted order) only, for quick trials (reference max_dataset_size)', parse: integerFlag('--max-dataset-size', 1) }),

  // Run control.
  ...runControlFlags({ saveEpochEveryDefault: 10, strip: 'PNG strip', keepSamplesNote: ' (every strip stays in tensorboard/)' }),
});

export type TrainFlagName = keyof typeof TRAIN_FLAGS;

type FlagValue<S> = S extends FlagSpec<infer T> ? T : never;

/** Parsed flag values: present when given or defaulted, undefined otherwise. */
export type TrainFlagValues = {
  [K in TrainFlagName]: (typeof TRAIN_FLAGS)[K] extends { defaultValue: unknown }
    ? FlagValue<(typeof TRAIN_FLAGS)[K]>
    : FlagValue<(typeof TRAIN_FLAGS)[K]> | undefined;
};

export function flagSpec(name: TrainFlagName): FlagSpec<unknown> {
  return TRAIN_FLAGS[name] as FlagSpec<unknown>;
}

/**
 * The schedule flags: changeable on --resume (extending a run), but only
 * when given, since their defaults would otherwise replace the run's.
 */
export const SCHEDULE_FLAGS: readonly TrainFlagName[] = Object.freeze(['epochs', 'decayEpochs'] as TrainFlagName[]);

/** Run-control flags: they may differ on --resume, where they take this invocation's values. */
export const RESUMABLE_FLAGS: readonly TrainFlagName[] = Object.freeze(
  (Object.keys(TRAIN_FLAGS) as TrainFlagName[]).filter((name) => flagSpec(name).changeableOnResume),
);

/** The flag's spelling without its value placeholder, for messages. */
export function flagName(name: TrainFlagName): string {
  return flagSpec(name).flags.split(' ')[0]!;
}

/** Builds the commander Options of the table, checking that each key is commander's attribute name. */
export function trainOptions(): Option[] {
  return commanderOptions(TRAIN_FLAGS, 'train');
}

/** --data and --out are required (checked here rather than by commander so the exit code is 2 with our message). */
export function requirePaths(values: TrainFlagValues): { data: string; out: string } {
  if (values.data === undefined) throw new UsageError(`${flagName('data')} is required: the folder of sample files to train on`);
  if (values.out === undefined) throw new UsageError(`${flagName('out')} is required: the run folder to write`);
  return { data: values.data, out: values.out };
}
