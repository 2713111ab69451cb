/**
 * The reference's opt.txt: the options its train.py records beside its
 * checkpoints (options/base_options.py), one `key: value` line each between
 * `------------ Options -------------` and `-------------- End ----------------`,
 * values as Python's str() prints them (True/False, 3, 0.0002, [0], text).
 *
 * Reading maps the architecture options onto p2phd's config keys (the same
 * names, except p2phd's `instance` = not `no_instance`); writing records a
 * p2phd config the same way, so the reference's user sees the options a
 * checkpoint was built with.
 */
import { readInputText } from '../../data/formats/inputFile.js';
import { InputError } from '../../errors.js';
import { CONFIG_KEYS, type ArchConfig } from './config.js';

export const OPT_TXT = 'opt.txt';
const OPT_HEADER = '------------ Options -------------';
const OPT_FOOTER = '-------------- End ----------------';

export type OptValue = string | number | boolean;

/** Python's str() of a simple value, back: True/False, ints and floats, the rest as text. */
function parseValue(text: string): OptValue {
  if (text === 'True') return true;
  if (text === 'False') return false;
  if (/^[+-]?\d+$/.test(text)) return Number(text);
  if (/^[+-]?(\d+\.\d*|\.\d+|\d+)(e[+-]?\d+)?$/i.test(text)) return Number(text);
  return text;
}

/** Parses an opt.txt's text; `source` names the file in errors. */
export function parseOptTxt(text: string, source: string): Map<string, OptValue> {
  const options = new Map<string, OptValue>();
  for (const [index, line] of text.split(/\r?\n/).entries()) {
    if (line.trim() === '' || line.startsWith('---')) continue;
    const colon = line.indexOf(':');
    if (colon <= 0) throw new InputError(`${source}: line ${index + 1} "${line}" is not "key: value" (is this the reference's opt.txt?)`);
    options.set(line.slice(0, colon).trim(), parseValue(line.slice(colon + 1).trim()));
  }
  if (!options.has('netG') && !options.has('label_nc')) {
    throw new InputError(`${source}: has no netG or label_nc option: not a pix2pixHD opt.txt`);
  }
  return options;
}

export async function readOptTxt(path: string): Promise<Map<string, OptValue>> {
  return parseOptTxt(await readInputText(path, 'an opt.txt file'), path);
}

/**
 * The architecture options an opt.txt records, as p2phd config keys (only
 * those it has; resolveConfig fills and checks the rest). Options p2phd
 * cannot build are refused naming the option.
 */
export function configFromOptions(options: ReadonlyMap<string, OptValue>, source: string): Partial<Record<keyof ArchConfig, unknown>> {
  const config: Partial<Record<keyof ArchConfig, unknown>> = {};
  for (const key of CONFIG_KEYS) {
    if (key === 'instance') continue;
    if (options.has(key)) config[key] = options.get(key);
  }
  if (options.has('no_instance')) config.instance = options.get('no_instance') !== true;
  if (options.get('label_feat') === true) {
    throw new InputError(`${source}: label_feat is True; p2phd builds instance features (--instance_feat) only`);
  }
  const inputNc = options.get('input_nc');
  if (options.get('label_nc') === 0 && inputNc !== undefined && inputNc !== 3) {
    throw new InputError(`${source}: label_nc 0 with input_nc ${String(inputNc)}; p2phd takes 3-channel colour label maps only`);
  }
  return config;
}

function pythonStr(value: OptValue): string {
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  return String(value);
}

/**
 * An opt.txt recording `config` in the reference's option names (sorted, as
 * the reference writes them), with `extra` options beside.
 */
export function formatOptTxt(config: ArchConfig, extra: Readonly<Record<string, OptValue>> = {}): string {
  const options: Record<string, OptValue> = { ...extra };
  for (const key of CONFIG_KEYS) {
    if (key === 'instance') options['no_instance'] = !config.instance;
    else options[key] = config[key];
  }
  // The reference needs input_nc only for label_nc 0 (colour label maps).
  options['input_nc'] ??= 3;
  options['label_feat'] ??= false;
  const lines = Object.keys(options).sort().map((key) => `${key}: ${pythonStr(options[key]!)}`);
  return `${OPT_HEADER}\n${lines.join('\n')}\n${OPT_FOOTER}\n`;
}

/** The reference's test.py flags that rebuild the networks of `config`. */
export function referenceFlags(config: ArchConfig): string[] {
  const flags = ['--label_nc', String(config.label_nc), '--netG', config.netG, '--ngf', String(config.ngf),
    '--n_downsample_global', String(config.n_downsample_global), '--n_blocks_global', String(config.n_blocks_global),
    '--norm', config.norm, '--output_nc', String(config.output_nc)];
  if (config.netG === 'local') flags.push('--n_local_enhancers', String(config.n_local_enhancers), '--n_blocks_local', String(config.n_blocks_local));
  if (!config.instance) flags.push('--no_instance');
  if (config.instance_feat) {
    flags.push('--instance_feat', '--feat_num', String(config.feat_num), '--nef', String(config.nef), '--n_downsample_E', String(config.n_downsample_E));
  }
  return flags;
}
