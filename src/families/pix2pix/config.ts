/**
 * pix2pix's architecture configuration (Isola et al. 2017, as
 * junyanz/pytorch-CycleGAN-and-pix2pix builds it): every option needed to
 * rebuild G and D, under the reference's option names, which are also the
 * keys of a pix2pix checkpoint's `config` metadata. Validated once, on a
 * copy, into a frozen object, like the pix2pixHD family's (model/config.ts).
 * Training options (gan_mode, lambda_L1, lr, ...) are not architecture.
 */
import { UsageError } from '../../errors.js';

/** The logged losses, in the reference's loss_names order (Pix2PixModel). */
export const PIX2PIX_LOSS_NAMES = Object.freeze(['G_GAN', 'G_L1', 'D_real', 'D_fake'] as const);
export type Pix2pixLossName = (typeof PIX2PIX_LOSS_NAMES)[number];
export type Pix2pixLosses = Record<Pix2pixLossName, number>;

/** --netG, as the reference's define_G. */
export const PIX2PIX_GENERATORS = Object.freeze({
  unet_256: 'U-Net with 8 stride-2 levels (inputs: multiples of 256)',
  unet_128: 'U-Net with 7 stride-2 levels (inputs: multiples of 128)',
  resnet_9blocks: 'ResNet generator, 2 downsamplings, 9 residual blocks',
  resnet_6blocks: 'ResNet generator, 2 downsamplings, 6 residual blocks',
} as const);
export type Pix2pixGenerator = keyof typeof PIX2PIX_GENERATORS;

/** --netD, as the reference's define_D. */
export const PIX2PIX_DISCRIMINATORS = Object.freeze({
  basic: '70x70 PatchGAN (n_layers 3)',
  n_layers: 'PatchGAN with n_layers_D stride-2 layers',
  pixel: '1x1 PixelGAN',
} as const);
export type Pix2pixDiscriminator = keyof typeof PIX2PIX_DISCRIMINATORS;

/** --norm, as the reference's get_norm_layer. */
export const PIX2PIX_NORMS = Object.freeze({
  batch: 'BatchNorm2d (affine, running statistics)',
  instance: 'InstanceNorm2d without affine parameters',
  none: 'no normalisation',
} as const);
export type Pix2pixNorm = keyof typeof PIX2PIX_NORMS;

/** --init_type, as the reference's init_weights. */
export const PIX2PIX_INITS = Object.freeze({
  normal: 'N(0, init_gain)',
  xavier: 'Xavier normal with gain init_gain',
  kaiming: 'Kaiming normal (fan_in, a = 0; init_gain unused)',
  orthogonal: 'orthogonal with gain init_gain',
} as const);
export type Pix2pixInit = keyof typeof PIX2PIX_INITS;

export interface Pix2pixConfig {
  readonly netG: Pix2pixGenerator;
  readonly netD: Pix2pixDiscriminator;
  /** Used by netD n_layers only (basic is 3, pixel has none). */
  readonly n_layers_D: number;
  readonly norm: Pix2pixNorm;
  readonly no_dropout: boolean;
  readonly init_type: Pix2pixInit;
  readonly init_gain: number;
  readonly ngf: number;
  readonly ndf: number;
  readonly input_nc: number;
  readonly output_nc: number;
}

/** The reference's pix2pix defaults (base_options.py as pix2pix_model.py rewrites them). */
export const PIX2PIX_DEFAULTS: Pix2pixConfig = Object.freeze({
  netG: 'unet_256',
  netD: 'basic',
  n_layers_D: 3,
  norm: 'batch',
  no_dropout: false,
  init_type: 'normal',
  init_gain: 0.02,
  ngf: 64,
  ndf: 64,
  input_nc: 3,
  output_nc: 3,
});

export const PIX2PIX_CONFIG_KEYS = Object.freeze(Object.keys(PIX2PIX_DEFAULTS) as Array<keyof Pix2pixConfig>);

type IntegerKey = 'n_layers_D' | 'ngf' | 'ndf' | 'input_nc' | 'output_nc';

/**
 * Integer options' ranges, wherever the value comes from. Minima are the
 * reference's; maxima cover real use (defaults in brackets) while keeping a
 * hostile file from asking for absurd networks. ngf is bounded so that
 * unet_256's ngf * 8 channels stay at most 4096.
 */
export const PIX2PIX_INTEGER_BOUNDS: Readonly<Record<IntegerKey, { readonly min: number; readonly max: number }>> = Object.freeze({
  n_layers_D: { min: 1, max: 8 }, // [3]
  ngf: { min: 1, max: 512 }, // [64]
  ndf: { min: 1, max: 512 }, // [64]
  input_nc: { min: 1, max: 4 }, // [3]; PNG holds 1 to 4 channels
  output_nc: { min: 1, max: 4 }, // [3]
});

/** init_gain's range: the reference takes any float; a std beyond 10 is no initialisation anyone means. */
export const INIT_GAIN_MAX = 10;

const CHOICES: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  netG: PIX2PIX_GENERATORS,
  netD: PIX2PIX_DISCRIMINATORS,
  norm: PIX2PIX_NORMS,
  init_type: PIX2PIX_INITS,
};

/**
 * Fills defaults into `overrides` and validates the result; every problem is
 * reported through `fail` (UsageError by default: flags; checkpoint readers
 * pass an InputError factory naming the file). Unknown keys are refused.
 */
export function resolvePix2pixConfig(
  overrides: unknown = {},
  fail: (message: string) => Error = (message) => new UsageError(message),
): Pix2pixConfig {
  if (overrides === null || typeof overrides !== 'object' || Array.isArray(overrides)) {
    throw fail(`pix2pix architecture config must be an object, got ${JSON.stringify(overrides)}`);
  }
  const given = overrides as Record<string, unknown>;
  for (const key of Object.keys(given)) {
    if (!(PIX2PIX_CONFIG_KEYS as readonly string[]).includes(key)) {
      throw fail(`unknown pix2pix architecture option "${key}"; known: ${PIX2PIX_CONFIG_KEYS.join(', ')}`);
    }
  }
  const merged: Record<string, unknown> = { ...PIX2PIX_DEFAULTS };
  for (const [key, value] of Object.entries(given)) if (value !== undefined) merged[key] = value;
  for (const key of PIX2PIX_CONFIG_KEYS) {
    const value = merged[key];
    if (Object.prototype.hasOwnProperty.call(PIX2PIX_INTEGER_BOUNDS, key)) {
      const { min, max } = PIX2PIX_INTEGER_BOUNDS[key as IntegerKey];
      if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
        throw fail(`pix2pix architecture option ${key} must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`);
      }
    } else if (key in CHOICES) {
      const choices = CHOICES[key]!;
      if (typeof value !== 'string' || !Object.prototype.hasOwnProperty.call(choices, value)) {
        throw fail(`pix2pix architecture option ${key} must be one of ${Object.keys(choices).join(', ')}, got ${JSON.stringify(value)}`);
      }
    } else if (key === 'init_gain') {
      if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || value > INIT_GAIN_MAX) {
        throw fail(`pix2pix architecture option init_gain must be a number above 0 and at most ${INIT_GAIN_MAX}, got ${JSON.stringify(value)}`);
      }
    } else if (typeof value !== 'boolean') {
      throw fail(`pix2pix architecture option ${key} must be true or false, got ${JSON.stringify(value)}`);
    }
  }
  return Object.freeze(merged as unknown as Pix2pixConfig);
}

/** The U-Net's number of stride-2 levels (the reference's num_downs), or undefined for a ResNet G. */
export function unetLevels(config: Pick<Pix2pixConfig, 'netG'>): number | undefined {
  return config.netG === 'unet_256' ? 8 : config.netG === 'unet_128' ? 7 : undefined;
}

/**
 * What H and W of G's input must be multiples of for its output to have the
 * input's size: a U-Net concatenates every level with its upsampled inner
 * part (2^levels); the ResNet G halves twice and doubles twice (4).
 */
export function pix2pixSizeMultiple(config: Pick<Pix2pixConfig, 'netG'>): number {
  const levels = unetLevels(config);
  return levels !== undefined ? 2 ** levels : 4;
}

/**
 * The smallest side G runs on: a U-Net needs one pixel at its innermost
 * level (the size multiple); the ResNet G's 7x7 input layer reflects 3
 * pixels (sides > 3) and its blocks reflect 1 at a quarter size (sides >= 8).
 */
export function pix2pixMinimumSide(config: Pick<Pix2pixConfig, 'netG'>): number {
  return unetLevels(config) !== undefined ? pix2pixSizeMultiple(config) : 8;
}

/** The number of stride-2 layers of D (its receptive field and minimum input follow). */
export function discriminatorLayers(config: Pick<Pix2pixConfig, 'netD' | 'n_layers_D'>): number {
  return config.netD === 'basic' ? 3 : config.netD === 'n_layers' ? config.n_layers_D : 0;
}

/**
 * The smallest side D runs on: each stride-2 4x4 conv (padding 1) halves,
 * then two stride-1 4x4 convs (padding 1) take one pixel each, and the
 * output must keep one: 2^n * 3 pixels. PixelGAN takes any size.
 */
export function discriminatorMinimumSide(config: Pick<Pix2pixConfig, 'netD' | 'n_layers_D'>): number {
  if (config.netD === 'pixel') return 1;
  return 2 ** discriminatorLayers(config) * 3;
}
