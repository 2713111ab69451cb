/**
 * The training command's flags, declared once in a frozen table. Commander
 * options, the typed flag values and the help text all derive from this
 * table, so a flag cannot exist in one place and be missing in another.
 *
 * Architecture flags have no commander default: "not given" must stay
 * distinguishable from "given the default value", because the architecture
 * otherwise comes from --init or the resumed checkpoint. Their defaults (the
 * reference's) are shown in the help.
 *
 * This module stays free of tfjs so that `--help` is instant.
 */
import { Option } from 'commander';
import { UsageError } from '../errors.js';
import { integerFlag, numberFlag } from '../flagValues.js';
import { INTEGER_BOUNDS, NORMS } from '../families/pix2pixhd/config.js';

/** An architecture flag's parser: the range is the one model/config.ts allows from any source. */
function architectureFlag(flag: string, key: keyof typeof INTEGER_BOUNDS): (value: string) => number {
  return integerFlag(flag, INTEGER_BOUNDS[key].min, INTEGER_BOUNDS[key].max);
}

interface FlagSpec<T> {
  /** Commander's spelling, e.g. '--n-blocks-global <n>'. */
  readonly flags: string;
  readonly help: string;
  readonly parse?: (value: string) => T;
  /** Commander default (undefined: the value is undefined when the flag is absent). */
  readonly defaultValue?: T;
  /** Shown in --help when the default is computed elsewhere. */
  readonly defaultHelp?: string;
  readonly choices?: readonly string[];
  /** Run-control flags may differ on --resume; everything else must match the run folder. */
  readonly changeableOnResume?: boolean;
  /** Only marks the value type (never read at run time). */
  readonly type?: T;
}

/** A flag whose value is undefined when it is not given. */
function valued<T>(spec: FlagSpec<T>): FlagSpec<T> {
  return Object.freeze(spec);
}

type Defaulted<T> = FlagSpec<T> & { readonly defaultValue: T };

/** A flag with a commander default: its value is always present. */
function defaulted<T>(spec: Defaulted<T>): Defaulted<T> {
  return Object.freeze(spec);
}

/** A boolean switch; `--no-x` switches default to true (commander's negatable form). */
function toggle(flags: string, help: string, extra: Partial<FlagSpec<boolean>> = {}): Defaulted<boolean> {
  return Object.freeze({ flags, help, ...extra, defaultValue: flags.startsWith('--no-') });
}

const optionalString = (value: string): string => value;

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

  // Architecture.
  ngf: valued<number>({ flags: '--ngf <n>', help: 'generator filters in the first layer', parse: architectureFlag('--ngf', 'ngf'), defaultHelp: '64 for global; for local, half the --init G1\'s' }),
  nDownsampleGlobal: valued<number>({ flags: '--n-downsample-global <n>', help: 'stride-2 convolutions in G1', parse: architectureFlag('--n-downsample-global', 'n_downsample_global'), defaultHelp: '4' }),
  nBlocksGlobal: valued<number>({ flags: '--n-blocks-global <n>', help: 'residual blocks in G1', parse: architectureFlag('--n-blocks-global', 'n_blocks_global'), defaultHelp: '9' }),
  nLocalEnhancers: valued<number>({ flags: '--n-local-enhancers <n>', help: 'local enhancers (train local / joint)', parse: architectureFlag('--n-local-enhancers', 'n_local_enhancers'), defaultHelp: '1' }),
  nBlocksLocal: valued<number>({ flags: '--n-blocks-local <n>', help: 'residual blocks per local enhancer', parse: architectureFlag('--n-blocks-local', 'n_blocks_local'), defaultHelp: '3' }),
  norm: valued<string>({ flags: '--norm <kind>', help: 'normalisation layers', choices: Object.keys(NORMS), defaultHelp: 'instance' }),
  numD: valued<number>({ flags: '--num-d <n>', help: 'discriminator scales', parse: architectureFlag('--num-d', 'num_D'), defaultHelp: '2' }),
  nLayersD: valued<number>({ flags: '--n-layers-d <n>', help: 'layers per discriminator', parse: architectureFlag('--n-layers-d', 'n_layers_D'), defaultHelp: '3' }),
  ndf: valued<number>({ flags: '--ndf <n>', help: 'discriminator filters in the first layer', parse: architectureFlag('--ndf', 'ndf'), defaultHelp: '64' }),
  instanceFeat: valued<boolean>({ flags: '--instance-feat', help: 'train the encoder E; its per-instance features join G\'s input', defaultHelp: 'off' }),
  labelFeat: valued<boolean>({ flags: '--label-feat', help: 'like --instance-feat, but E\'s features are pooled per semantic label instead of per instance (reference label_feat)', defaultHelp: 'off' }),
  featNum: valued<number>({ flags: '--feat-num <n>', help: 'encoder feature channels', parse: architectureFlag('--feat-num', 'feat_num'), defaultHelp: '3' }),
  nef: valued<number>({ flags: '--nef <n>', help: 'encoder filters in the first layer', parse: architectureFlag('--nef', 'nef'), defaultHelp: '16' }),
  nDownsampleE: valued<number>({ flags: '--n-downsample-e <n>', help: 'stride-2 convolutions in the encoder', parse: architectureFlag('--n-downsample-e', 'n_downsample_E'), defaultHelp: '4' }),

  // Losses.
  lambdaFeat: defaulted<number>({ flags: '--lambda-feat <w>', help: 'weight of the feature-matching and VGG losses', parse: numberFlag('--lambda-feat', 0), defaultValue: 10 }),
  ganFeatLoss: toggle('--no-gan-feat-loss', 'turn off discriminator feature matching'),
  lsgan: toggle('--no-lsgan', 'vanilla GAN loss (sigmoid + BCE) instead of least squares'),
  vggWeights: valued<string>({ flags: '--vgg-weights <file>', help: "torchvision's VGG19 (vgg19-dcbb9e9d.pth, or any .pth/.safetensors with its features.N names): enables the VGG loss", parse: optionalString }),
  poolSize: defaulted<number>({ flags: '--pool-size <n>', help: 'image pool of past fakes shown to D (0: none)', parse: integerFlag('--pool-size', 0), defaultValue: 0 }),

  // Data augmentation and order.
  flip: toggle('--no-flip', 'no random horizontal flips'),
  serial: toggle('--serial', 'keep the samples in sorted order (no shuffling)'),
  maxDatasetSize: valued<number>({ flags: '--max-dataset-size <n>', help: 'train on the first N samples of --data (sorted order) only, for quick trials (reference max_dataset_size)', parse: integerFlag('--max-dataset-size', 1) }),

  // Run control.
  maxSteps: valued<number>({ flags: '--max-steps <n>', help: 'stop (exit 0) after this many steps in total', parse: integerFlag('--max-steps', 1), changeableOnResume: true }),
  timeLimit: valued<number>({ flags: '--time-limit <minutes>', help: 'save and exit 75 before this much wall time has passed', parse: numberFlag('--time-limit', 0), changeableOnResume: true }),
  saveEvery: defaulted<number>({ flags: '--save-every <steps>', help: 'write latest.safetensors every this many steps', parse: integerFlag('--save-every', 1), defaultValue: 1000, changeableOnResume: true }),
  saveEpochEvery: defaulted<number>({ flags: '--save-epoch-every <n>', help: 'keep an epoch_NNN checkpoint every this many epochs, and after the last (reference save_epoch_freq)', parse: integerFlag('--save-epoch-every', 1), defaultValue: 10, changeableOnResume: true }),
  sampleEvery: defaulted<number>({ flags: '--sample-every <steps>', help: 'write a samples/ PNG strip every this many steps (and at epoch ends)', parse: integerFlag('--sample-every', 1), defaultValue: 100, changeableOnResume: true }),
  keepSamples: defaulted<number>({ flags: '--keep-samples <n>', help: 'keep the latest N samples/ strips plus the last of each epoch (every strip stays in tensorboard/)', parse: integerFlag('--keep-samples', 0), defaultValue: 20, changeableOnResume: true }),
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
  return (Object.keys(TRAIN_FLAGS) as TrainFlagName[]).map((name) => {
    const spec = flagSpec(name);
    const defaultNote = spec.defaultHelp ? ` (default: ${spec.defaultHelp})` : '';
    const option = new Option(spec.flags, `${spec.help}${defaultNote}`);
    if (option.attributeName() !== name) {
      throw new Error(`train flag table: key ${name} does not match commander's attribute ${option.attributeName()}`);
    }
    if (spec.parse) option.argParser(spec.parse as (value: string, previous: unknown) => unknown);
    if (spec.choices) option.choices([...spec.choices]);
    if (spec.defaultValue !== undefined && !option.negate) option.default(spec.defaultValue);
    return option;
  });
}

/** --data and --out are required (checked here rather than by commander so the exit code is 2 with our message). */
export function requirePaths(values: TrainFlagValues): { data: string; out: string } {
  if (values.data === undefined) throw new UsageError(`${flagName('data')} is required: the folder of sample files to train on`);
  if (values.out === undefined) throw new UsageError(`${flagName('out')} is required: the run folder to write`);
  return { data: values.data, out: values.out };
}
