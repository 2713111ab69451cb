/**
 * From parsed flags to the two objects training runs on: the architecture
 * (an ArchConfig, validated by the model's resolveConfig) and the training
 * settings (everything else). Pure functions, so the rules that decide an
 * architecture from flags, --init and the data are testable without tfjs.
 */
import { UsageError } from '../errors.js';
import { DEFAULT_CONFIG, type ArchConfig } from '../families/pix2pixhd/config.js';
import { resolveArchitecture } from '../families/pix2pixhd/networks.js';
import type { Stage } from '../families/pix2pixhd/stages.js';
import { flagName, flagSpec, RESUMABLE_FLAGS, TRAIN_FLAGS, type TrainFlagName, type TrainFlagValues } from './flags.js';

/** Adam's beta2 is fixed at the reference's value. */
export const ADAM_BETA2 = 0.999;
export const ADAM_EPSILON = 1e-8;

/** Architecture flags and the ArchConfig key each one sets. */
export const ARCHITECTURE_FLAGS = Object.freeze({
  ngf: 'ngf',
  nDownsampleGlobal: 'n_downsample_global',
  nBlocksGlobal: 'n_blocks_global',
  nLocalEnhancers: 'n_local_enhancers',
  nBlocksLocal: 'n_blocks_local',
  norm: 'norm',
  numD: 'num_D',
  nLayersD: 'n_layers_D',
  ndf: 'ndf',
  instanceFeat: 'instance_feat',
  labelFeat: 'label_feat',
  featNum: 'feat_num',
  nef: 'nef',
  nDownsampleE: 'n_downsample_E',
} as const satisfies Partial<Record<TrainFlagName, keyof ArchConfig>>);

type ArchitectureFlagName = keyof typeof ARCHITECTURE_FLAGS;
type SettingFlagName = Exclude<TrainFlagName, ArchitectureFlagName>;

/** Every non-architecture flag's value, plus what the command adds. Stored in options.json. */
export type TrainSettings = { readonly [K in SettingFlagName]: TrainFlagValues[K] } & {
  readonly stage: Stage;
  readonly seed: number;
  readonly data: string;
  readonly out: string;
};

/** What the sample folder says about the input: decided by preprocess, not by flags. */
export interface DataDescription {
  label_nc: number;
  instance: boolean;
}

export function isArchitectureFlag(name: TrainFlagName): name is ArchitectureFlagName {
  return Object.prototype.hasOwnProperty.call(ARCHITECTURE_FLAGS, name);
}

/** train local builds its enhancer on a trained G1: without --init (`init` undefined) it is refused (exit 2). */
export function requireInitForLocal(stage: Stage, init: unknown): void {
  if (stage === 'local' && init === undefined) {
    throw new UsageError('train local needs --init: a G1 checkpoint (from train global) whose weights the enhancer builds on');
  }
}

/** The settings part of the flags (architecture flags left out). */
export function settingsFromFlags(values: TrainFlagValues, stage: Stage, seed: number, paths: { data: string; out: string }): TrainSettings {
  const settings: Record<string, unknown> = { stage, seed };
  for (const name of Object.keys(TRAIN_FLAGS) as TrainFlagName[]) {
    if (!isArchitectureFlag(name)) settings[name] = values[name];
  }
  settings['data'] = paths.data;
  settings['out'] = paths.out;
  return Object.freeze(settings) as TrainSettings;
}

/** The architecture options the user set explicitly on the command line. */
export function architectureOverrides(values: TrainFlagValues): Partial<Record<keyof ArchConfig, unknown>> {
  const overrides: Partial<Record<keyof ArchConfig, unknown>> = {};
  for (const [flag, key] of Object.entries(ARCHITECTURE_FLAGS) as Array<[ArchitectureFlagName, keyof ArchConfig]>) {
    const value = values[flag];
    if (value !== undefined) overrides[key] = value;
  }
  return overrides;
}

function flagFor(key: keyof ArchConfig): string {
  const entry = Object.entries(ARCHITECTURE_FLAGS).find(([, k]) => k === key);
  return entry ? flagName(entry[0] as TrainFlagName) : key;
}

/**
 * The architecture a stage trains:
 *
 * - label_nc and instance come from the samples (preprocess decided them);
 * - otherwise start from --init's config when given, else the reference's
 *   defaults, and apply the flags the user gave;
 * - global trains netG 'global'; local and joint train netG 'local'. From a
 *   G1 checkpoint, the enhancer's ngf is G1's ngf / 2^n_local_enhancers
 *   unless --ngf says otherwise (and then it must still fit that G1). From a
 *   local checkpoint with another --n-local-enhancers (growing a model by
 *   an enhancer), G1's ngf stays and the enhancers' ngf follows from it, so
 *   G1 and the existing enhancers load.
 * - --label-feat implies --instance-feat (E's features, pooled per label).
 * - `partial` (--init-partial): a checkpoint of another label set is
 *   accepted; its tensors that still fit are loaded by the caller.
 */
export function resolveTrainingArchitecture(
  stage: Stage,
  overrides: Partial<Record<keyof ArchConfig, unknown>>,
  data: DataDescription,
  initConfig?: ArchConfig,
  options: { partial?: boolean } = {},
): ArchConfig {
  const base: Record<string, unknown> = { ...(initConfig ?? DEFAULT_CONFIG) };
  if (initConfig && !options.partial) {
    if (initConfig.label_nc !== data.label_nc) {
      throw new UsageError(`--init was trained with label_nc ${initConfig.label_nc}, but the samples in --data have label_nc ${data.label_nc} (add --init-partial to fine-tune to this label set: the input layers start fresh)`);
    }
    if (initConfig.instance !== data.instance) {
      throw new UsageError(`--init was trained ${initConfig.instance ? 'with' : 'without'} instance maps, but the samples in --data ${data.instance ? 'have' : 'have none'} (add --init-partial to load what fits: the input layers start fresh)`);
    }
  }
  base['label_nc'] = data.label_nc;
  base['instance'] = data.instance;

  if (stage === 'global') {
    if (initConfig?.netG === 'local') {
      throw new UsageError('train global: --init holds a local enhancer; continue it with train joint (or train local)');
    }
    base['netG'] = 'global';
  } else {
    requireInitForLocal(stage, initConfig);
    const enhancers = (overrides.n_local_enhancers as number | undefined) ?? (initConfig?.netG === 'local' ? initConfig.n_local_enhancers : DEFAULT_CONFIG.n_local_enhancers);
    if (initConfig && initConfig.netG === 'global') {
      // The G1 inside a local enhancer with ngf n has ngf n * 2^enhancers.
      const scale = 2 ** enhancers;
      const ngf = (overrides.ngf as number | undefined) ?? initConfig.ngf / scale;
      if (!Number.isInteger(ngf) || ngf * scale !== initConfig.ngf) {
        throw new UsageError(
          `train ${stage}: the G1 in --init has ngf ${initConfig.ngf}, which does not fit an enhancer with ${flagFor('ngf')} ${ngf} and ${enhancers} enhancer(s) ` +
            `(its G1 needs ngf ${ngf * scale}); give ${flagFor('ngf')} ${Number.isInteger(initConfig.ngf / scale) ? initConfig.ngf / scale : '(a divisor)'}`,
        );
      }
      base['ngf'] = ngf;
    } else if (initConfig && initConfig.netG === 'local' && enhancers !== initConfig.n_local_enhancers && overrides.ngf === undefined) {
      base['ngf'] = enhancerNgfForGrowth(initConfig, enhancers);
    } else if (!initConfig && overrides.ngf === undefined) {
      // The reference's local recipes use ngf 32 (so G1 inside has 64).
      base['ngf'] = 32;
    }
    base['netG'] = 'local';
    base['n_local_enhancers'] = enhancers;
  }
  for (const [key, value] of Object.entries(overrides)) {
    if (key === 'ngf' && stage !== 'global' && initConfig?.netG === 'global') continue;
    base[key] = value;
  }
  if (overrides.label_feat === true) base['instance_feat'] = true;
  return resolveArchitecture(base);
}

/**
 * The enhancer ngf of a local enhancer with `enhancers` enhancers built on
 * the local checkpoint `initConfig`: its G1 keeps ngf initConfig.ngf *
 * 2^initConfig.n_local_enhancers, so G1 and the enhancers the checkpoint has
 * load by name (the reference's enhancer n has ngf * 2^(enhancers - n)).
 */
export function enhancerNgfForGrowth(initConfig: ArchConfig, enhancers: number): number {
  const globalNgf = initConfig.ngf * 2 ** initConfig.n_local_enhancers;
  const ngf = globalNgf / 2 ** enhancers;
  if (!Number.isInteger(ngf) || ngf < 1) {
    throw new UsageError(
      `--n-local-enhancers ${enhancers}: the G1 in --init has ngf ${globalNgf}, which ${enhancers} enhancers cannot halve to a whole ngf; ` +
        `give ${flagFor('ngf')} explicitly (nothing of G then loads) or fewer enhancers`,
    );
  }
  return ngf;
}

/** "--max-steps, ... and --sample-every": the flags that may change on --resume (--resume itself aside). */
function resumableList(): string {
  const names = RESUMABLE_FLAGS.filter((name) => name !== 'resume').map(flagName);
  return `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]!}`;
}

/** Why a flag cannot change on --resume, for the refusal. */
export function whyFixedOnResume(name: TrainFlagName): string {
  if (isArchitectureFlag(name)) return 'the checkpoint\'s weights have the run\'s architecture (start a new run with --init to change it)';
  switch (name) {
    case 'batchSize':
    case 'serial':
    case 'flip':
    case 'maxDatasetSize':
      return 'the data order, crops and the position in the epoch follow from it';
    case 'lr':
    case 'beta1':
      return 'the Adam state and the schedule were built with it (extend a run with --epochs / --decay-epochs instead)';
    case 'niterFixGlobal':
      return 'the optimizer state holds the parameters its phase trains';
    case 'loadFeatures':
      return 'whether E runs or feature maps are read decides which networks the checkpoint holds';
    default:
      return 'the losses and the data of a resumed run stay those it was started with';
  }
}

/**
 * On --resume the run folder's options.json decides; flags repeated on the
 * command line must agree with it, except the run-control ones
 * (RESUMABLE_FLAGS), which may change.
 */
export function checkResumeFlags(
  stored: { stage: Stage; settings: Record<string, unknown>; config: ArchConfig },
  stage: Stage,
  explicit: ReadonlySet<TrainFlagName>,
  values: TrainFlagValues,
  seed: number | undefined,
): void {
  if (stored.stage !== stage) {
    throw new UsageError(`--resume: the run in this folder is a "train ${stored.stage}" run, not "train ${stage}"`);
  }
  if (seed !== undefined && stored.settings['seed'] !== seed) {
    throw new UsageError(`--resume: the run was started with --seed ${String(stored.settings['seed'])}, not ${seed}`);
  }
  for (const name of explicit) {
    const spec = flagSpec(name);
    if (spec.changeableOnResume || name === 'data' || name === 'out' || name === 'init' || name === 'initPartial' || name === 'vggWeights') continue;
    // A moved feature-map folder is fine (its maps are checked before training); switching E on or off is not.
    if (name === 'loadFeatures' && values.loadFeatures !== undefined && stored.settings['loadFeatures'] !== undefined) continue;
    const given = values[name];
    const recorded = isArchitectureFlag(name) ? stored.config[ARCHITECTURE_FLAGS[name]] : stored.settings[name];
    if (given !== recorded) {
      throw new UsageError(
        `--resume: ${flagName(name)} ${JSON.stringify(given)} differs from the run's ${JSON.stringify(recorded)}: ${whyFixedOnResume(name)} ` +
          `(only ${resumableList()} may change)`,
      );
    }
  }
}
