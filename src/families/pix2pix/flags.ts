/**
 * `p2phd train pix2pix`'s flags, one frozen table (as train/flags.ts for
 * pix2pixHD): commander options, typed values and help derive from it. The
 * reference's option names in kebab-case; its pix2pix defaults. Free of tfjs.
 *
 * Architecture flags have no commander default, so that "not given" stays
 * distinguishable from the default (the architecture may come from --init or
 * the resumed run); their defaults are shown in the help.
 */
import type { Option } from 'commander';
import { UsageError } from '../../errors.js';
import { integerFlag, numberFlag } from '../../flagValues.js';
import { defaulted, optionalString, commanderOptions, runControlFlags, toggle, valued, type FlagSpec } from '../../flagTable.js';
import { INIT_GAIN_MAX, PIX2PIX_DISCRIMINATORS, PIX2PIX_GENERATORS, PIX2PIX_INITS, PIX2PIX_INTEGER_BOUNDS, PIX2PIX_NORMS } from './config.js';
import { PIX2PIX_GAN_MODES } from './losses.js';

const LR_POLICY_NAMES = ['linear', 'step', 'plateau', 'cosine'] as const;

const text = optionalString;
const bounded = (flag: string, key: keyof typeof PIX2PIX_INTEGER_BOUNDS): ((value: string) => number) =>
  integerFlag(flag, PIX2PIX_INTEGER_BOUNDS[key].min, PIX2PIX_INTEGER_BOUNDS[key].max);

export const PIX2PIX_TRAIN_FLAGS = Object.freeze({
  // Paths.
  data: valued<string>({ flags: '--data <dir>', help: 'folder of aligned sample files (written by p2phd preprocess --aligned)', parse: text }),
  out: valued<string>({ flags: '--out <run_dir>', help: 'run folder: checkpoints, log.jsonl, options.json, samples/, tensorboard/, index.html', parse: text }),
  resume: toggle('--resume', 'continue the run in --out from its latest checkpoint', { changeableOnResume: true }),
  init: valued<string>({ flags: '--init <ckpt>', help: 'start from this checkpoint: a p2phd pix2pix checkpoint (a folder means its latest.safetensors) or the reference\'s <epoch>_net_G.pth (its _net_D.pth and train_opt.txt beside it are used too); tensors that fit are loaded, the rest initialised', parse: text }),

  // Optimizer and schedule (the reference's train_options.py).
  epochs: defaulted<number>({ flags: '--epochs <n>', help: 'epochs at the initial learning rate (reference n_epochs)', parse: integerFlag('--epochs', 0), defaultValue: 100, changeableOnResume: true }),
  decayEpochs: defaulted<number>({ flags: '--decay-epochs <n>', help: 'then epochs of decay (reference n_epochs_decay)', parse: integerFlag('--decay-epochs', 0), defaultValue: 100, changeableOnResume: true }),
  epochCount: defaulted<number>({ flags: '--epoch-count <n>', help: 'the first epoch\'s number (reference epoch_count): the lr policy counts from it', parse: integerFlag('--epoch-count', 1), defaultValue: 1 }),
  lrPolicy: defaulted<string>({ flags: '--lr-policy <policy>', help: 'learning-rate policy (reference lr_policy): linear keeps --lr for --epochs epochs then decays by lr / (decay epochs + 1) per epoch; step multiplies by 0.1 every --lr-decay-iters epochs; plateau by 0.2 every 6th epoch (the reference\'s metric is always 0); cosine anneals over --epochs', choices: LR_POLICY_NAMES, defaultValue: 'linear' }),
  lrDecayIters: defaulted<number>({ flags: '--lr-decay-iters <n>', help: 'the step policy\'s period, in epochs (reference lr_decay_iters)', parse: integerFlag('--lr-decay-iters', 1), defaultValue: 50 }),
  batchSize: defaulted<number>({ flags: '--batch-size <n>', help: 'samples per step; batch norm normalises over the batch', parse: integerFlag('--batch-size', 1), defaultValue: 1 }),
  lr: defaulted<number>({ flags: '--lr <rate>', help: 'initial Adam learning rate', parse: numberFlag('--lr', 0), defaultValue: 0.0002 }),
  beta1: defaulted<number>({ flags: '--beta1 <b>', help: 'Adam beta1 (beta2 is 0.999)', parse: numberFlag('--beta1', 0, 0.999999), defaultValue: 0.5 }),

  // Architecture.
  netG: valued<string>({ flags: '--net-g <kind>', help: 'generator', choices: Object.keys(PIX2PIX_GENERATORS), defaultHelp: 'unet_256' }),
  netD: valued<string>({ flags: '--net-d <kind>', help: 'discriminator', choices: Object.keys(PIX2PIX_DISCRIMINATORS), defaultHelp: 'basic' }),
  nLayersD: valued<number>({ flags: '--n-layers-d <n>', help: 'stride-2 layers of --net-d n_layers', parse: bounded('--n-layers-d', 'n_layers_D'), defaultHelp: '3' }),
  norm: valued<string>({ flags: '--norm <kind>', help: 'normalisation layers', choices: Object.keys(PIX2PIX_NORMS), defaultHelp: 'batch' }),
  noDropout: valued<boolean>({ flags: '--no-dropout', help: 'no dropout in G (the reference\'s no_dropout)', defaultHelp: 'dropout on' }),
  initType: valued<string>({ flags: '--init-type <kind>', help: 'weight initialisation', choices: Object.keys(PIX2PIX_INITS), defaultHelp: 'normal' }),
  initGain: valued<number>({ flags: '--init-gain <g>', help: 'scale of normal, xavier and orthogonal initialisation', parse: numberFlag('--init-gain', 0, INIT_GAIN_MAX), defaultHelp: '0.02' }),
  ngf: valued<number>({ flags: '--ngf <n>', help: 'generator filters in the last conv layer', parse: bounded('--ngf', 'ngf'), defaultHelp: '64' }),
  ndf: valued<number>({ flags: '--ndf <n>', help: 'discriminator filters in the first conv layer', parse: bounded('--ndf', 'ndf'), defaultHelp: '64' }),

  // Losses.
  ganMode: defaulted<string>({ flags: '--gan-mode <mode>', help: 'GAN objective: vanilla (BCE on logits), lsgan (least squares), wgangp (Wasserstein means; like the reference\'s pix2pix, no gradient penalty is added)', choices: Object.keys(PIX2PIX_GAN_MODES), defaultValue: 'vanilla' }),
  lambdaL1: defaulted<number>({ flags: '--lambda-l1 <w>', help: 'weight of the L1 loss (reference lambda_L1)', parse: numberFlag('--lambda-l1', 0), defaultValue: 100 }),

  // Augmentation and order.
  flip: toggle('--no-flip', 'no random horizontal flips (one flip shared by A and B otherwise)'),
  serial: toggle('--serial', 'keep the samples in sorted order (no shuffling; reference serial_batches)'),

  // Run control.
  ...runControlFlags({ saveEpochEveryDefault: 5, strip: 'strip (A | fake B | real B)', keepSamplesNote: '' }),
});

export type Pix2pixFlagName = keyof typeof PIX2PIX_TRAIN_FLAGS;
type FlagValue<S> = S extends FlagSpec<infer T> ? T : never;
export type Pix2pixFlagValues = {
  [K in Pix2pixFlagName]: (typeof PIX2PIX_TRAIN_FLAGS)[K] extends { defaultValue: unknown }
    ? FlagValue<(typeof PIX2PIX_TRAIN_FLAGS)[K]>
    : FlagValue<(typeof PIX2PIX_TRAIN_FLAGS)[K]> | undefined;
};

function spec(name: Pix2pixFlagName): FlagSpec<unknown> {
  return PIX2PIX_TRAIN_FLAGS[name] as FlagSpec<unknown>;
}

export const PIX2PIX_RESUMABLE_FLAGS: readonly Pix2pixFlagName[] = Object.freeze(
  (Object.keys(PIX2PIX_TRAIN_FLAGS) as Pix2pixFlagName[]).filter((name) => spec(name).changeableOnResume),
);

export function pix2pixFlagName(name: Pix2pixFlagName): string {
  return spec(name).flags.split(' ')[0]!;
}

export function pix2pixTrainOptions(): Option[] {
  // Commander names --no-dropout's value "dropout"; the table keys it noDropout (valued: absent = not given).
  return commanderOptions(PIX2PIX_TRAIN_FLAGS, 'pix2pix', ['noDropout']);
}

/** The parsed options as the table's values (commander stores --no-dropout as dropout: false). */
export function pix2pixFlagValues(parsed: Record<string, unknown>): Pix2pixFlagValues {
  const values: Record<string, unknown> = { ...parsed };
  values['noDropout'] = parsed['dropout'] === false ? true : undefined;
  delete values['dropout'];
  return values as Pix2pixFlagValues;
}

export function requirePix2pixPaths(values: Pix2pixFlagValues): { data: string; out: string } {
  if (values.data === undefined) throw new UsageError('--data is required: the folder of aligned sample files to train on (p2phd preprocess --aligned)');
  if (values.out === undefined) throw new UsageError('--out is required: the run folder to write');
  return { data: values.data, out: values.out };
}

/** The architecture the flags give (only those given). */
export function pix2pixArchitectureFlags(values: Pix2pixFlagValues): Record<string, unknown> {
  const overrides: Record<string, unknown> = {
    netG: values.netG,
    netD: values.netD,
    n_layers_D: values.nLayersD,
    norm: values.norm,
    no_dropout: values.noDropout,
    init_type: values.initType,
    init_gain: values.initGain,
    ngf: values.ngf,
    ndf: values.ndf,
  };
  for (const key of Object.keys(overrides)) if (overrides[key] === undefined) delete overrides[key];
  return overrides;
}
