/**
 * The architecture configuration: every option needed to rebuild the
 * networks, under the reference's option names, which are also the keys of
 * a checkpoint's `config` metadata. Validated once, on a copy, into a frozen
 * object; nothing downstream re-specifies it.
 *
 * Training options (no_lsgan, no_ganFeat_loss, lambda_feat, ...) are not
 * architecture and live with the training command.
 */
import { UsageError } from '../../errors.js';
import { NORMS, type NormKind } from '../../model/layers.js';

export { NORMS, type NormKind };

/** Generator kinds, as the reference's --netG. */
export const GENERATORS = Object.freeze({
  global: 'the global generator G1 alone',
  local: 'G1 (ngf * 2^n_local_enhancers) inside n_local_enhancers local enhancers G2',
} as const);
export type GeneratorKind = keyof typeof GENERATORS;


export interface ArchConfig {
  /** Number of label classes; 0 means the input is an RGB image (3 channels). */
  readonly label_nc: number;
  /** Instance boundaries (edges) are an input channel (the reference's `not no_instance`). */
  readonly instance: boolean;
  /** Per-instance features from the encoder E are input channels. */
  readonly instance_feat: boolean;
  /**
   * With instance_feat: E's features are pooled per semantic label instead
   * of per instance (the reference's label_feat), in training, encoding and
   * synthesis alike.
   */
  readonly label_feat: boolean;
  readonly feat_num: number;
  readonly netG: GeneratorKind;
  readonly ngf: number;
  readonly n_downsample_global: number;
  readonly n_blocks_global: number;
  readonly n_local_enhancers: number;
  readonly n_blocks_local: number;
  readonly norm: NormKind;
  readonly output_nc: number;
  readonly nef: number;
  readonly n_downsample_E: number;
  readonly num_D: number;
  readonly n_layers_D: number;
  readonly ndf: number;
}

/** The reference's defaults (options/base_options.py, train_options.py). */
export const DEFAULT_CONFIG: ArchConfig = Object.freeze({
  label_nc: 35,
  instance: true,
  instance_feat: false,
  label_feat: false,
  feat_num: 3,
  netG: 'global',
  ngf: 64,
  n_downsample_global: 4,
  n_blocks_global: 9,
  n_local_enhancers: 1,
  n_blocks_local: 3,
  norm: 'instance',
  output_nc: 3,
  nef: 16,
  n_downsample_E: 4,
  num_D: 2,
  n_layers_D: 3,
  ndf: 64,
});

export const CONFIG_KEYS = Object.freeze(Object.keys(DEFAULT_CONFIG) as Array<keyof ArchConfig>);

/** Keys added after checkpoints were first written: a file without them means the default. */
export const OPTIONAL_CONFIG_KEYS: readonly (keyof ArchConfig)[] = Object.freeze(['label_feat'] as Array<keyof ArchConfig>);

type IntegerKey = { [K in keyof ArchConfig]: ArchConfig[K] extends number ? K : never }[keyof ArchConfig];

/**
 * The allowed range of each integer option, wherever the value comes from
 * (flags, a checkpoint's metadata, options.json). Minima are the reference's.
 * Maxima cover real use many times over (the reference's defaults and
 * recipes in brackets) while keeping a hostile file from asking for a
 * billion layers: the count options bound the number of layers built, the
 * width options together are bounded by the parameter budget checked after
 * them (families/pix2pixhd/networks.ts, resolveArchitecture).
 */
export const INTEGER_BOUNDS: Readonly<Record<IntegerKey, { readonly min: number; readonly max: number }>> = Object.freeze({
  // U16 label maps hold ids up to 65535 (preprocess's --label-nc bound) [35; ADE20K 150, COCO-Stuff 182].
  label_nc: { min: 0, max: 65536 },
  feat_num: { min: 1, max: 256 }, // [3]
  ngf: { min: 1, max: 1024 }, // [64; 32 for local]
  n_downsample_global: { min: 0, max: 10 }, // [4]; 2^10 is already a 1024-pixel size multiple
  n_blocks_global: { min: 0, max: 256 }, // [9]
  n_local_enhancers: { min: 1, max: 5 }, // [1, 2]; each doubles the resolution: 5 is 32x G1's
  n_blocks_local: { min: 0, max: 256 }, // [3]
  output_nc: { min: 1, max: 4 }, // [3]; PNG holds 1 to 4 channels
  nef: { min: 1, max: 1024 }, // [16]
  n_downsample_E: { min: 0, max: 10 }, // [4]
  num_D: { min: 1, max: 8 }, // [2, 3]; each halves the resolution again
  n_layers_D: { min: 1, max: 8 }, // [3]
  ndf: { min: 1, max: 1024 }, // [64]
});

function isIntegerKey(key: keyof ArchConfig): key is IntegerKey {
  return Object.prototype.hasOwnProperty.call(INTEGER_BOUNDS, key);
}

/**
 * Fills defaults into `overrides` and validates the result. Every problem is
 * reported through `fail` (UsageError by default: flags; checkpoint readers
 * pass an InputError factory naming the file), with the bad value and what is
 * allowed. Unknown keys are refused so that a misspelt option cannot vanish.
 */
export function resolveConfig(
  overrides: unknown = {},
  fail: (message: string) => Error = (message) => new UsageError(message),
): ArchConfig {
  if (overrides === null || typeof overrides !== 'object' || Array.isArray(overrides)) {
    throw fail(`architecture config must be an object, got ${JSON.stringify(overrides)}`);
  }
  const given = overrides as Record<string, unknown>;
  for (const key of Object.keys(given)) {
    if (!(CONFIG_KEYS as readonly string[]).includes(key)) {
      throw fail(`unknown architecture option "${key}"; known: ${CONFIG_KEYS.join(', ')}`);
    }
  }
  const merged: Record<string, unknown> = { ...DEFAULT_CONFIG };
  for (const [key, value] of Object.entries(given)) if (value !== undefined) merged[key] = value;

  for (const key of CONFIG_KEYS) {
    const value = merged[key];
    if (isIntegerKey(key)) {
      const { min, max } = INTEGER_BOUNDS[key];
      if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
        throw fail(`architecture option ${key} must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`);
      }
    } else if (key === 'netG') {
      if (typeof value !== 'string' || !Object.prototype.hasOwnProperty.call(GENERATORS, value)) {
        throw fail(`architecture option netG must be one of ${Object.keys(GENERATORS).join(', ')}, got ${JSON.stringify(value)}`);
      }
    } else if (key === 'norm') {
      if (typeof value !== 'string' || !Object.prototype.hasOwnProperty.call(NORMS, value)) {
        throw fail(`architecture option norm must be one of ${Object.keys(NORMS).join(', ')}, got ${JSON.stringify(value)}`);
      }
    } else if (typeof value !== 'boolean') {
      throw fail(`architecture option ${key} must be true or false, got ${JSON.stringify(value)}`);
    }
  }
  if (merged['label_feat'] === true && merged['instance_feat'] !== true) {
    throw fail('architecture option label_feat pools the encoder\'s features per label, so it needs instance_feat true');
  }
  return Object.freeze(merged as unknown as ArchConfig);
}

/** Channels of the label part of the input: one-hot classes, or an RGB image when label_nc is 0. */
export function labelChannels(config: ArchConfig): number {
  return config.label_nc !== 0 ? config.label_nc : 3;
}

/** G's input: labels, + the instance-boundary map, + the encoder's features. */
export function generatorInputChannels(config: ArchConfig): number {
  return labelChannels(config) + (config.instance ? 1 : 0) + (config.instance_feat ? config.feat_num : 0);
}

/** D's input: G's input without the features, concatenated with an image. */
export function discriminatorInputChannels(config: ArchConfig): number {
  return labelChannels(config) + (config.instance ? 1 : 0) + config.output_nc;
}

/** The encoder sees the photo. */
export function encoderInputChannels(config: ArchConfig): number {
  return config.output_nc;
}

/**
 * Spatial sizes must survive every stride-2 step exactly for G's skip sum and
 * output size to line up: H and W must be multiples of this.
 */
export function generatorSizeMultiple(config: ArchConfig): number {
  const enhancers = config.netG === 'local' ? config.n_local_enhancers : 0;
  return 2 ** (config.n_downsample_global + enhancers);
}

/** E's stride-2 steps: H and W of its input must be multiples of this for its output to have the input's size. */
export function encoderSizeMultiple(config: ArchConfig): number {
  return 2 ** config.n_downsample_E;
}

/** Reflection pads need more pixels than they add: ReflectionPad2d(p) takes sides > p. G's 7x7 layers reflect 3. */
const OUTER_REFLECT_PAD = 3;

/**
 * The smallest side G runs on. Its 7x7 input layer reflects 3 pixels, so
 * the global part's input needs at least 4 (a local enhancer halves the
 * input per enhancer before G1 sees it); its residual blocks reflect 1 at
 * the bottleneck (the input divided by the size multiple), which needs at
 * least 2, so a side of exactly the size multiple (a 1x1 bottleneck) is too
 * small. The local enhancers' own layers run at larger sizes than these, and
 * E (7x7 layers at full size, zero-padded inner layers) needs only 4.
 */
export function generatorMinimumSide(config: ArchConfig): number {
  const multiple = generatorSizeMultiple(config);
  // 2^(local enhancers): the size multiple without the global part's own downsamplings.
  const globalPartScale = multiple / 2 ** config.n_downsample_global;
  const bottleneck = config.n_blocks_global > 0 ? 2 * multiple : multiple;
  return Math.max(bottleneck, (OUTER_REFLECT_PAD + 1) * globalPartScale);
}

/**
 * What H and W of a network input must be multiples of: G's requirement,
 * and E's (its output is concatenated to G's input) with instance features.
 * Both are powers of two, so the larger is a multiple of the smaller.
 */
export function inputSizeMultiple(config: ArchConfig): number {
  const generator = generatorSizeMultiple(config);
  return config.instance_feat ? Math.max(generator, 2 ** config.n_downsample_E) : generator;
}
