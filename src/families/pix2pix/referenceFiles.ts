/**
 * Reading the reference's pix2pix files from disk: `<epoch>_net_G.pth`
 * (zip or legacy torch.save: data/pth.ts), optionally `_net_D.pth` and
 * `train_opt.txt`, into p2phd's prefixed tensors and a config (reference.ts
 * infers what the options file does not give, and says so).
 */
import { promises as fsp } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { InputError } from '../../errors.js';
import { readPth } from '../../data/formats/pth.js';
import type { Tensor } from '../../data/formats/safetensors.js';
import type { Pix2pixConfig } from './config.js';
import { inferPix2pixConfig, parsePix2pixOptTxt, pix2pixOptionsFromOpt, prefixStateDict, PIX2PIX_OPT_TXT } from './reference.js';

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
