/**
 * Reading the reference's pix2pix files from disk: `<epoch>_net_G.pth`
 * (zip or legacy torch.save: data/pth.ts), optionally `_net_D.pth` and
 * `train_opt.txt`, into p2phd's prefixed tensors and a config (reference.ts
 * infers what the options file does not give, and says so).
 */
import { promises as fsp } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { InputError } from '../../errors.js';
import { readPth, writePth } from '../../data/formats/pth.js';
import { makeTensor, type Tensor } from '../../data/formats/safetensors.js';
import { writeFileAtomically } from '../../data/formats/atomicWrite.js';
import { writeTensorFile } from '../../data/files/tensorFile.js';
import { referenceShape } from '../../model/params.js';
import { pix2pixCheckpointRecord, type Pix2pixCheckpoint } from './checkpoint.js';
import { pix2pixSpecs } from './networks.js';
import type { Pix2pixConfig } from './config.js';
import { inferPix2pixConfig, parsePix2pixOptTxt, pix2pixOptionsFromOpt, prefixStateDict, referenceStateDict, PIX2PIX_OPT_TXT } from './reference.js';

export interface Pix2pixReferenceFiles {
  readonly netG: string;
  readonly netD?: string;
  readonly opt?: string;
}

export interface ImportedPix2pix {
  readonly tensors: Map<string, Tensor>;
  readonly config: Pix2pixConfig;
  readonly direction: 'AtoB' | 'BtoA';
  /** What was read, inferred or assumed: for the user. */
  readonly notes: string[];
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await fsp.stat(path)).isFile();
  } catch {
    return false;
  }
}

/** `<x>_net_G.pth`'s companions that exist: `<x>_net_D.pth`, and train_opt.txt in the same folder. */
export async function referencePathsBeside(netG: string): Promise<Pix2pixReferenceFiles> {
  const name = basename(netG);
  const d = name.includes('net_G') ? join(dirname(netG), name.replace('net_G', 'net_D')) : undefined;
  const opt = join(dirname(netG), PIX2PIX_OPT_TXT);
  return { netG, ...(d !== undefined && (await isFile(d)) ? { netD: d } : {}), ...((await isFile(opt)) ? { opt } : {}) };
}

/** Reads the files; exit 3 naming a file that is not what it should be. */
export async function readPix2pixReferenceFiles(files: Pix2pixReferenceFiles): Promise<ImportedPix2pix> {
  const notes: string[] = [];
  const g = await readPth(files.netG);
  const tensors = prefixStateDict(g.tensors, 'G');
  if (files.netD !== undefined) for (const [key, tensor] of prefixStateDict((await readPth(files.netD)).tensors, 'D')) tensors.set(key, tensor);
  let known: Partial<Pix2pixConfig> = {};
  let direction: 'AtoB' | 'BtoA' = 'AtoB';
  if (files.opt !== undefined) {
    let text: string;
    try {
      text = await fsp.readFile(files.opt, 'utf8');
    } catch (error) {
      throw new InputError(`${files.opt}: cannot read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
    }
    const options = pix2pixOptionsFromOpt(parsePix2pixOptTxt(text, files.opt), files.opt);
    known = options.config;
    direction = options.direction ?? 'AtoB';
    notes.push(...options.notes);
    notes.push(`${files.opt}: netG ${options.config.netG}, netD ${options.config.netD}, norm ${options.config.norm}, ${options.config.no_dropout ? 'no dropout' : 'dropout'}, direction ${direction}`);
  }
  const { config, assumed } = inferPix2pixConfig(tensors, files.netD !== undefined ? `${files.netG} + ${files.netD}` : files.netG, known, files.netD !== undefined);
  if (files.opt === undefined) {
    notes.push(`${files.netG}: no train_opt.txt; inferred from the keys and shapes: netG ${config.netG}, norm ${config.norm} (told apart by running statistics and conv biases), ngf ${config.ngf}, input_nc ${config.input_nc}, output_nc ${config.output_nc}${files.netD !== undefined ? `, netD ${config.netD}${config.netD === 'n_layers' ? ` ${config.n_layers_D}` : ''}, ndf ${config.ndf}` : ''}; direction AtoB assumed`);
  }
  notes.push(...assumed);
  if (![...tensors.keys()].some((key) => key.endsWith('num_batches_tracked')) && config.norm === 'batch') {
    notes.push(`${files.netG}: no num_batches_tracked (a PyTorch < 0.4.1 file): counted from 0`);
  }
  // Drop what no spec of the config has (legacy InstanceNorm statistics).
  return { tensors, config, direction, notes };
}

// ---------------------------------------------------------------------------
// `p2phd import` / `p2phd export --format pytorch` for pix2pix.

/**
 * The tensors of `config`'s networks in spec order, as a p2phd checkpoint
 * holds them: statistics no spec has (legacy InstanceNorm ones) dropped, a
 * missing num_batches_tracked (PyTorch < 0.4.1) written as 0.
 */
export function checkpointTensorsOf(config: Pix2pixConfig, tensors: ReadonlyMap<string, Tensor>, networks: ReadonlyArray<'G' | 'D'>, source: string): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  for (const spec of pix2pixSpecs(config, networks)) {
    const tensor = tensors.get(spec.key);
    if (tensor === undefined) {
      if (spec.role === 'numBatchesTracked') {
        out.set(spec.key, makeTensor('I64', [], new BigInt64Array(1)));
        continue;
      }
      throw new InputError(`${source}: has no tensor "${spec.key.slice(2)}" (${spec.key[0]}), which its architecture needs`);
    }
    const expected = referenceShape(spec);
    if (tensor.shape.join() !== expected.join()) throw new InputError(`${source}: tensor "${spec.key.slice(2)}" has shape [${tensor.shape.join(', ')}], expected [${expected.join(', ')}]`);
    out.set(spec.key, tensor);
  }
  return out;
}

export interface Pix2pixImportResult {
  readonly out: string;
  readonly config: Pix2pixConfig;
  readonly direction: 'AtoB' | 'BtoA';
  readonly networks: Array<'G' | 'D'>;
  readonly tensors: number;
  readonly notes: string[];
}

/** Reads the reference's files and writes one p2phd pix2pix checkpoint (atomically). */
export async function importPix2pix(files: Pix2pixReferenceFiles, out: string, overrides: { direction?: 'AtoB' | 'BtoA' } = {}): Promise<Pix2pixImportResult> {
  const imported = await readPix2pixReferenceFiles(files);
  const networks: Array<'G' | 'D'> = files.netD !== undefined ? ['G', 'D'] : ['G'];
  const tensors = checkpointTensorsOf(imported.config, imported.tensors, networks, files.netG);
  const direction = overrides.direction ?? imported.direction;
  await writeTensorFile(out, 'checkpoint', tensors, pix2pixCheckpointRecord({ epoch: 0, step: 0, lr: 0.0002, config: imported.config, direction }));
  return { out, config: imported.config, direction, networks, tensors: tensors.size, notes: imported.notes };
}

/** The reference's command-line flags that rebuild `config` (for test.py / train.py). */
export function pix2pixReferenceFlags(config: Pix2pixConfig, direction: 'AtoB' | 'BtoA'): string[] {
  const flags = ['--model', 'pix2pix', '--netG', config.netG, '--netD', config.netD, '--norm', config.norm, '--ngf', String(config.ngf), '--ndf', String(config.ndf), '--input_nc', String(config.input_nc), '--output_nc', String(config.output_nc), '--direction', direction];
  if (config.netD === 'n_layers') flags.push('--n_layers_D', String(config.n_layers_D));
  if (config.no_dropout) flags.push('--no_dropout');
  if (config.init_type !== 'normal') flags.push('--init_type', config.init_type);
  return flags;
}

/** train_opt.txt as the reference's print_options writes it (`{key:>25}: {value:<30}`), for the architecture and data options. */
export function formatPix2pixOptTxt(config: Pix2pixConfig, direction: 'AtoB' | 'BtoA', extra: Readonly<Record<string, string | number | boolean>> = {}): string {
  const python = (value: unknown): string => (value === true ? 'True' : value === false ? 'False' : String(value));
  const options: Record<string, unknown> = { ...config, model: 'pix2pix', dataset_mode: 'aligned', direction, ...extra };
  const lines = Object.keys(options)
    .sort()
    .map((key) => `${key.padStart(25)}: ${python(options[key]).padEnd(30)}`);
  return ['----------------- Options ---------------', ...lines, '----------------- End -------------------', ''].join('\n');
}

/** `p2phd export CKPT --format pytorch --out DIR` for a pix2pix checkpoint: latest_net_G.pth (+ D) and train_opt.txt. */
export async function exportPix2pix(checkpoint: Pix2pixCheckpoint, outDir: string): Promise<{ files: string[]; flags: string[] }> {
  try {
    await fsp.mkdir(outDir, { recursive: true });
  } catch (error) {
    throw new InputError(`--out ${outDir}: cannot create the folder (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  const { config, direction } = checkpoint.meta;
  const files: string[] = [];
  for (const network of checkpoint.networks) {
    const tensors = checkpointTensorsOf(config, checkpoint.tensors, [network], checkpoint.source);
    const file = join(outDir, `latest_net_${network}.pth`);
    await writePth(file, referenceStateDict(tensors, network));
    files.push(file);
  }
  const optFile = join(outDir, PIX2PIX_OPT_TXT);
  await writeFileAtomically(optFile, formatPix2pixOptTxt(config, direction, { name: basename(outDir), epoch: 'latest', lr: checkpoint.meta.lr }));
  files.push(optFile);
  return { files, flags: pix2pixReferenceFlags(config, direction) };
}

/**
 * Whether the reference files are pix2pix's (pytorch-CycleGAN-and-pix2pix)
 * rather than pix2pixHD's: the options file's `model` says so when given;
 * otherwise G's keys and shapes must fit a pix2pix generator.
 */
export async function isPix2pixReference(files: Pix2pixReferenceFiles): Promise<boolean> {
  if (files.opt !== undefined) {
    let text = '';
    try {
      text = await fsp.readFile(files.opt, 'utf8');
    } catch {
      return false;
    }
    const model = /^\s*model:\s*(\S+)/m.exec(text)?.[1];
    if (model !== undefined) return model !== 'pix2pixHD';
  }
  try {
    inferPix2pixConfig(prefixStateDict((await readPth(files.netG)).tensors, 'G'), files.netG);
    return true;
  } catch {
    return false;
  }
}
