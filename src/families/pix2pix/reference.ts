/**
 * The reference's pix2pix files (pytorch-CycleGAN-and-pix2pix): its
 * `<epoch>_net_G.pth` / `_net_D.pth` state_dicts and its `train_opt.txt`,
 * to a p2phd config and parameter tensors (and back, for export).
 *
 * A state_dict's keys are G's / D's own (`model.model.0.weight`); p2phd's
 * checkpoints hold them under `G.` / `D.`. Without train_opt.txt the
 * architecture is inferred from the keys and shapes: every candidate
 * (netG x norm x dropout, netD x n_layers) is built and the one whose keys and
 * shapes are exactly the file's is taken. pix2pix's bias rule tells the three
 * norms apart (batch: running statistics; instance: conv biases; none:
 * neither), unlike pix2pixHD's. What the file cannot tell is said: a U-Net's
 * dropout holds no parameters (the reference's default, dropout on, is
 * assumed), nor do n_layers_D of basic and n_layers 3 differ (basic taken).
 */
import { InputError } from '../../errors.js';
import type { Tensor } from '../../data/formats/safetensors.js';
import { referenceShape } from '../../model/params.js';
import type { ParamSpec } from '../../model/layers.js';
import {
  PIX2PIX_CONFIG_KEYS,
  PIX2PIX_DISCRIMINATORS,
  PIX2PIX_GENERATORS,
  PIX2PIX_INTEGER_BOUNDS,
  PIX2PIX_NORMS,
  resolvePix2pixConfig,
  type Pix2pixConfig,
  type Pix2pixDiscriminator,
  type Pix2pixGenerator,
  type Pix2pixNorm,
} from './config.js';
import { pix2pixSpecs, type Pix2pixNetwork } from './networks.js';

/** The file the reference's train.py writes its options to (options/base_options.py, `{phase}_opt.txt`). */
export const PIX2PIX_OPT_TXT = 'train_opt.txt';

/**
 * Parses the reference's `{phase}_opt.txt`: `----------------- Options ---------------`,
 * then `{key:>25}: {value:<30}` lines, each followed by `\t[default: X]`
 * where the value differs from the default, then `----------------- End -------------------`.
 * Values are kept as text (Python's str()).
 */
export function parsePix2pixOptTxt(text: string, source: string): Map<string, string> {
  const options = new Map<string, string>();
  for (const [index, rawLine] of text.split(/\r?\n/).entries()) {
    const line = rawLine.replace(/\t\[default: .*\]\s*$/, '');
    if (line.trim() === '' || line.trim().startsWith('---')) continue;
    const colon = line.indexOf(':');
    if (colon <= 0) throw new InputError(`${source}: line ${index + 1} "${rawLine.trim()}" is not "key: value" (is this the reference's train_opt.txt?)`);
    options.set(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
  }
  if (!options.has('netG') || !options.has('ngf')) throw new InputError(`${source}: has no netG or ngf option: not a pytorch-CycleGAN-and-pix2pix options file`);
  return options;
}

/** What an options file tells: the architecture, and --direction (a data option, used by synthesize). */
export interface Pix2pixOptions {
  readonly config: Pix2pixConfig;
  readonly direction?: 'AtoB' | 'BtoA';
  /** Notes for the user (a CycleGAN file, options p2phd does not have). */
  readonly notes: string[];
}

function parseBoolean(value: string, key: string, source: string): boolean {
  if (value === 'True') return true;
  if (value === 'False') return false;
  throw new InputError(`${source}: option ${key} is "${value}", expected True or False`);
}

/** The architecture a train_opt.txt records, validated (exit 3 naming the file and option). */
export function pix2pixOptionsFromOpt(options: ReadonlyMap<string, string>, source: string): Pix2pixOptions {
  const fail = (message: string): Error => new InputError(`${source}: ${message}`);
  const overrides: Record<string, unknown> = {};
  const notes: string[] = [];
  for (const key of PIX2PIX_CONFIG_KEYS) {
    const value = options.get(key);
    if (value === undefined) continue;
    if (key === 'no_dropout') overrides[key] = parseBoolean(value, key, source);
    else if (key in PIX2PIX_INTEGER_BOUNDS || key === 'init_gain') {
      const number = Number(value);
      if (value === '' || !Number.isFinite(number)) throw fail(`option ${key} is "${value}", expected a number`);
      overrides[key] = number;
    } else overrides[key] = value;
  }
  const model = options.get('model');
  if (model !== undefined && model !== 'pix2pix') notes.push(`${source}: model is ${model}, not pix2pix; its G is read as pix2pix's (the networks are the same code)`);
  if (options.get('norm') === 'syncbatch') {
    overrides['norm'] = 'batch';
    notes.push(`${source}: norm syncbatch is batch norm on one process: read as batch`);
  }
  const direction = options.get('direction');
  if (direction !== undefined && direction !== 'AtoB' && direction !== 'BtoA') throw fail(`option direction is "${direction}", expected AtoB or BtoA`);
  const config = resolvePix2pixConfig(overrides, fail);
  return direction !== undefined ? { config, direction, notes } : { config, notes };
}

/**
 * A state_dict as the reference saves it, to p2phd's keys: `prefix` + key.
 * A `module.` prefix (a DataParallel-wrapped save) is dropped, and so are
 * the running statistics PyTorch before 0.4 stored for InstanceNorm layers
 * (the reference's __patch_instance_norm_state_dict): they are recognised
 * as statistics no spec of the chosen config has.
 */
export function prefixStateDict(tensors: ReadonlyMap<string, Tensor>, network: Pix2pixNetwork): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  for (const [key, tensor] of tensors) out.set(`${network}.${key.startsWith('module.') ? key.slice('module.'.length) : key}`, tensor);
  return out;
}

const OPTIONAL_BUFFER = /\.(running_mean|running_var|num_batches_tracked)$/;

/**
 * Whether `tensors` (prefixed keys) are exactly `specs`: every spec present
 * with its shape, and nothing else but statistics a legacy file may carry
 * (InstanceNorm running statistics) or lack (num_batches_tracked).
 */
function fits(specs: readonly ParamSpec[], tensors: ReadonlyMap<string, Tensor>, network: Pix2pixNetwork): boolean {
  const wanted = new Map(specs.map((spec) => [spec.key, spec]));
  for (const spec of specs) {
    const tensor = tensors.get(spec.key);
    if (tensor === undefined) {
      if (spec.role === 'numBatchesTracked') continue;
      return false;
    }
    const expected = referenceShape(spec);
    if (tensor.shape.length !== expected.length || tensor.shape.some((d, i) => d !== expected[i])) return false;
  }
  for (const key of tensors.keys()) {
    if (!key.startsWith(`${network}.`) || wanted.has(key)) continue;
    if (!OPTIONAL_BUFFER.test(key)) return false;
    // A stray statistic must belong to a layer that exists (a legacy InstanceNorm's), not to a missing batch norm.
    if (wanted.has(key.replace(OPTIONAL_BUFFER, '.weight'))) return false;
  }
  return true;
}

function shapeOf(tensors: ReadonlyMap<string, Tensor>, key: string): readonly number[] | undefined {
  return tensors.get(key)?.shape;
}

export interface InferredConfig {
  readonly config: Pix2pixConfig;
  /** What the files could not tell, and what was taken. */
  readonly assumed: string[];
}

/**
 * The architecture of G's (and D's) tensors, prefixed keys. `known` fixes
 * options that an options file gave; the rest are inferred. Exit 3 naming
 * `source` when no pix2pix network has exactly these tensors.
 */
export function inferPix2pixConfig(tensors: ReadonlyMap<string, Tensor>, source: string, known: Partial<Pix2pixConfig> = {}, withD = false): InferredConfig {
  const assumed: string[] = [];
  // Widths and channels from the first conv of G: a U-Net's 4x4 (model.model.0), a ResNet G's 7x7 (model.1).
  const unetFirst = shapeOf(tensors, 'G.model.model.0.weight');
  const resnetFirst = shapeOf(tensors, 'G.model.1.weight');
  const first = unetFirst ?? resnetFirst;
  if (first === undefined || first.length !== 4) {
    throw new InputError(`${source}: has neither model.model.0.weight (U-Net) nor model.1.weight (ResNet generator): not a pix2pix generator`);
  }
  const [ngf, inputNc] = first as [number, number];
  let outputNc: number | undefined;
  if (unetFirst) outputNc = shapeOf(tensors, 'G.model.model.3.weight')?.[1];
  else {
    // The ResNet G's last conv: 7x7, ngf -> output_nc, the highest-numbered weight.
    const last = [...tensors.keys()].filter((key) => /^G\.model\.\d+\.weight$/.test(key)).sort((a, b) => Number(b.split('.')[2]) - Number(a.split('.')[2]))[0];
    outputNc = last === undefined ? undefined : shapeOf(tensors, last)?.[0];
  }
  if (outputNc === undefined) throw new InputError(`${source}: cannot find G's output layer`);
  const base = { ngf, input_nc: inputNc, output_nc: outputNc };
  const generators = (unetFirst ? ['unet_256', 'unet_128'] : ['resnet_9blocks', 'resnet_6blocks']) as Pix2pixGenerator[];
  const fitting: Pix2pixConfig[] = [];
  for (const netG of known.netG ? [known.netG] : generators) {
    for (const norm of known.norm ? [known.norm] : (Object.keys(PIX2PIX_NORMS) as Pix2pixNorm[])) {
      for (const noDropout of known.no_dropout !== undefined ? [known.no_dropout] : [false, true]) {
        let config: Pix2pixConfig;
        try {
          config = resolvePix2pixConfig({ ...known, ...base, netG, norm, no_dropout: noDropout });
        } catch {
          continue;
        }
        if (fits(pix2pixSpecs(config, ['G']), tensors, 'G')) fitting.push(config);
      }
    }
  }
  if (fitting.length === 0) {
    throw new InputError(`${source}: its tensors fit no pix2pix generator (${Object.keys(PIX2PIX_GENERATORS).join(', ')}; norm ${Object.keys(PIX2PIX_NORMS).join(', ')}) with ngf ${ngf}, input_nc ${inputNc}, output_nc ${outputNc}`);
  }
  // A U-Net's dropout has no parameters: both settings fit; the reference's default (dropout on) is taken.
  let config = fitting.find((candidate) => !candidate.no_dropout) ?? fitting[0]!;
  if (known.no_dropout === undefined && fitting.some((candidate) => candidate.no_dropout) && fitting.some((candidate) => !candidate.no_dropout)) {
    assumed.push('dropout: a U-Net\'s dropout holds no weights, so the file cannot tell; took the reference\'s default (dropout on; give --opt train_opt.txt with no_dropout True, or --no-dropout, otherwise)');
  }
  if (!withD) return { config, assumed };
  const pixelFirst = shapeOf(tensors, 'D.net.0.weight');
  const layerFirst = shapeOf(tensors, 'D.model.0.weight');
  const dFirst = pixelFirst ?? layerFirst;
  if (dFirst === undefined) throw new InputError(`${source}: has neither net.0.weight (pixel) nor model.0.weight (PatchGAN): not a pix2pix discriminator`);
  const ndf = dFirst[0]!;
  if (dFirst[1] !== config.input_nc + config.output_nc) {
    throw new InputError(`${source}: D takes ${dFirst[1]} channels, but G's input_nc + output_nc is ${config.input_nc + config.output_nc}`);
  }
  const discriminators: Array<{ netD: Pix2pixDiscriminator; n_layers_D: number }> = pixelFirst
    ? [{ netD: 'pixel', n_layers_D: known.n_layers_D ?? 3 }]
    : [{ netD: 'basic', n_layers_D: known.n_layers_D ?? 3 }, ...Array.from({ length: PIX2PIX_INTEGER_BOUNDS.n_layers_D.max }, (_, i) => ({ netD: 'n_layers' as Pix2pixDiscriminator, n_layers_D: i + 1 }))];
  const dFitting = discriminators
    .filter((candidate) => known.netD === undefined || known.netD === candidate.netD)
    .map((candidate) => resolvePix2pixConfig({ ...config, ...candidate, ndf }))
    .filter((candidate) => fits(pix2pixSpecs(candidate, ['D']), tensors, 'D'));
  if (dFitting.length === 0) {
    throw new InputError(`${source}: its D tensors fit no pix2pix discriminator (${Object.keys(PIX2PIX_DISCRIMINATORS).join(', ')}) with ndf ${ndf} and norm ${config.norm}`);
  }
  config = dFitting[0]!;
  return { config, assumed };
}

/** The state_dict of `network` in the reference's keys (prefix dropped), for `torch.load` + load_state_dict(strict=True). */
export function referenceStateDict(tensors: ReadonlyMap<string, Tensor>, network: Pix2pixNetwork): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  for (const [key, tensor] of tensors) if (key.startsWith(`${network}.`)) out.set(key.slice(network.length + 1), tensor);
  return out;
}
