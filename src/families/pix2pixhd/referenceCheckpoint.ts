/**
 * The reference's checkpoints (NVIDIA pix2pixHD's `latest_net_G.pth`, `_D`,
 * `_E` and `opt.txt`) to and from p2phd checkpoints.
 *
 * A p2phd checkpoint holds the reference's state_dict keys under `G.`, `D.`
 * and `E.` in PyTorch's layouts, so conversion is renaming plus the
 * architecture config: from opt.txt when given, else inferred from the
 * tensors' shapes (and said so). Either way every tensor is then checked
 * against the config's parameter list, strictly, as load_state_dict(strict=True)
 * does: a missing, extra or misshapen tensor is exit 3 naming it.
 */
import { promises as fsp } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { InputError, UsageError } from '../../errors.js';
import { CONFIG_KEYS, DEFAULT_CONFIG, resolveConfig, type ArchConfig } from './config.js';
import { flatDiscriminatorKey } from '../../model/discriminator.js';
import { networkSpecs, type NetworkName } from './networks.js';
import { referenceShape } from '../../model/params.js';
import type { Checkpoint, CheckpointMeta } from '../checkpoint.js';
import { readCheckpoint } from '../checkpoint.js';
import { pix2pixhd } from './index.js';
import { configFromOptions, formatOptTxt, OPT_TXT, readOptTxt, referenceFlags } from './optTxt.js';
import { isPthFile, readPth, writePth } from '../../data/formats/pth.js';
import { makeTensor, type Tensor } from '../../data/formats/safetensors.js';
import { writeTensorFile } from '../../data/files/tensorFile.js';
import { writeFileAtomically } from '../../data/formats/atomicWrite.js';

export interface ReferenceFiles {
  readonly netG: string;
  readonly netD?: string;
  readonly netE?: string;
  readonly opt?: string;
}

export interface ImportedCheckpoint {
  readonly checkpoint: Checkpoint;
  /** What was inferred or adjusted, one line each, for the log. */
  readonly notes: string[];
}

/** A network's tensors as its state_dict names them (a DataParallel `module.` prefix dropped). */
type StateDict = Map<string, Tensor>;

async function readStateDict(path: string, network: NetworkName, notes: string[]): Promise<StateDict> {
  const file = await readPth(path);
  if (file.tensors.size === 0) throw new InputError(`${path}: holds no tensors (expected the reference's net${network} state_dict)`);
  const names = [...file.tensors.keys()];
  if (names.every((name) => name.startsWith('module.'))) {
    notes.push(`${path}: dropped the "module." prefix (a DataParallel state_dict)`);
    return new Map([...file.tensors].map(([name, tensor]) => [name.slice('module.'.length), tensor]));
  }
  return file.tensors;
}

// ---------------------------------------------------------------------------
// The architecture from the tensors' shapes.

function shapeOf(state: StateDict, key: string, source: string): number[] {
  const tensor = state.get(key);
  if (tensor === undefined) throw new InputError(`${source}: has no tensor "${key}": not a pix2pixHD network of a kind p2phd knows (give --opt)`);
  return tensor.shape;
}

function countMatches(state: StateDict, pattern: RegExp): number {
  return new Set([...state.keys()].map((key) => pattern.exec(key)?.[1]).filter((match) => match !== undefined)).size;
}

/** 3x3 convolutions (and transposed ones) of a `model.N` sequence outside its residual blocks: two per downsampling. */
function strided3x3(state: StateDict, prefix: string): number {
  return [...state].filter(([key, tensor]) => new RegExp(`^${prefix}\\.\\d+\\.weight$`).test(key) && tensor.shape.length === 4 && tensor.shape[2] === 3).length;
}

/** The 7x7 output convolution of a sequence: its last 4-D weight. */
function lastConv(state: StateDict, prefix: string): number[] | undefined {
  let best: { index: number; shape: number[] } | undefined;
  for (const [key, tensor] of state) {
    const match = new RegExp(`^${prefix}\\.(\\d+)\\.weight$`).exec(key);
    if (match && tensor.shape.length === 4 && (best === undefined || Number(match[1]) > best.index)) best = { index: Number(match[1]), shape: tensor.shape };
  }
  return best?.shape;
}

interface Inferred {
  config: Record<string, unknown>;
  notes: string[];
}

/**
 * The config the shapes imply. Some splits cannot be seen in shapes: the
 * generator's input channels are label_nc + instance map + features, so the
 * instance map is assumed (the reference's default) unless `known` says.
 */
export function inferConfig(
  nets: { G: StateDict; D?: StateDict; E?: StateDict },
  sources: { G: string; D?: string; E?: string },
  known: Partial<Pick<ArchConfig, 'label_nc' | 'instance'>> = {},
): Inferred {
  const { G, D, E } = nets;
  const config: Record<string, unknown> = {};
  const notes: string[] = [];
  const local = [...G.keys()].some((key) => /^model\d+_1\./.test(key));
  config['netG'] = local ? 'local' : 'global';
  let generatorIn: number;
  if (local) {
    const enhancers = countMatches(G, /^model(\d+)_1\./);
    config['n_local_enhancers'] = enhancers;
    config['ngf'] = shapeOf(G, `model${enhancers}_1.1.weight`, sources.G)[0];
    generatorIn = shapeOf(G, 'model1_1.1.weight', sources.G)[1]!;
    config['n_blocks_local'] = countMatches(G, /^model1_2\.(\d+)\.conv_block\.1\.weight$/);
    config['output_nc'] = lastConv(G, `model${enhancers}_2`)?.[0];
    config['norm'] = G.has('model1_1.2.running_mean') ? 'batch' : 'instance';
  } else {
    config['ngf'] = shapeOf(G, 'model.1.weight', sources.G)[0];
    generatorIn = shapeOf(G, 'model.1.weight', sources.G)[1]!;
    config['output_nc'] = lastConv(G, 'model')?.[0];
    config['norm'] = G.has('model.2.running_mean') ? 'batch' : 'instance';
  }
  config['n_blocks_global'] = countMatches(G, /^model\.(\d+)\.conv_block\.1\.weight$/);
  config['n_downsample_global'] = strided3x3(G, 'model') / 2;

  let featNum = 0;
  if (E) {
    const source = sources.E ?? 'netE';
    config['nef'] = shapeOf(E, 'model.1.weight', source)[0];
    config['n_downsample_E'] = strided3x3(E, 'model') / 2;
    featNum = lastConv(E, 'model')?.[0] ?? 0;
  }
  let labelAndInstance: number | undefined;
  if (D) {
    const source = sources.D ?? 'netD';
    const flat = [...D.keys()].some((key) => /^layer\d+\./.test(key));
    const first = flat ? 'layer0.0.weight' : 'scale0_layer0.0.weight';
    config['num_D'] = countMatches(D, flat ? /^layer(\d+)\./ : /^scale(\d+)_/);
    config['n_layers_D'] = flat
      ? [...D].filter(([key, tensor]) => /^layer0\.\d+\.weight$/.test(key) && tensor.shape.length === 4).length - 2
      : countMatches(D, /^scale0_layer(\d+)\./) - 2;
    config['ndf'] = shapeOf(D, first, source)[0];
    labelAndInstance = shapeOf(D, first, source)[1]! - (config['output_nc'] as number);
    if (!E && generatorIn > labelAndInstance) featNum = generatorIn - labelAndInstance;
  }
  if (featNum > 0) {
    config['instance_feat'] = true;
    config['feat_num'] = featNum;
  }
  const labelAndInstanceChannels = labelAndInstance ?? generatorIn - featNum;
  if (known.instance !== undefined) {
    config['instance'] = known.instance;
    config['label_nc'] = labelAndInstanceChannels - (known.instance ? 1 : 0);
  } else if (known.label_nc !== undefined) {
    config['label_nc'] = known.label_nc;
    config['instance'] = labelAndInstanceChannels - known.label_nc === 1;
  } else {
    config['instance'] = true;
    config['label_nc'] = labelAndInstanceChannels - 1;
    notes.push(
      `inferred label_nc ${labelAndInstanceChannels - 1} + 1 instance-map channel from the generator's ${generatorIn} input channels ` +
        `(the reference's default; for a model trained with --no_instance, give --opt an opt.txt with the lines "label_nc: ${labelAndInstanceChannels}" and "no_instance: True")`,
    );
  }
  if (featNum > 0 && !E) notes.push(`inferred instance features (feat_num ${featNum}) from G's and D's input channels; without netE there is no encoder (synthesize needs --clusters)`);
  if (!D) notes.push(`no netD: num_D, n_layers_D and ndf are the reference's defaults (${DEFAULT_CONFIG.num_D}, ${DEFAULT_CONFIG.n_layers_D}, ${DEFAULT_CONFIG.ndf})`);
  const shown = Object.entries(config).map(([key, value]) => `${key} ${String(value)}`).join(', ');
  notes.unshift(`no opt.txt: architecture inferred from the tensor shapes: ${shown}`);
  return { config, notes };
}

// ---------------------------------------------------------------------------
// Checking a state_dict against a config, strictly.

/**
 * The checkpoint tensors (`N.<key>`, PyTorch layouts, F32 / I64) of one
 * network's state_dict for `config`, in the reference's state_dict order.
 */
function checkedNetwork(network: NetworkName, state: StateDict, config: ArchConfig, source: string, hint: string): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  const used = new Set<string>();
  for (const spec of networkSpecs(config, network)) {
    const key = spec.key.slice(2);
    const flat = flatDiscriminatorKey(spec.key)?.slice(2);
    const stored = state.has(key) ? key : flat !== undefined && state.has(flat) ? flat : undefined;
    const expected = referenceShape(spec);
    if (stored === undefined) {
      if (spec.role === 'numBatchesTracked') {
        // PyTorch < 0.4.1 saved none; nothing but training's momentum schedule reads it.
        out.set(spec.key, makeTensor('I64', [], BigInt64Array.of(0n)));
        continue;
      }
      throw new InputError(`${source}: has no tensor "${key}" [${expected.join(', ')}], which ${hint} needs`);
    }
    used.add(stored);
    const tensor = state.get(stored)!;
    if (tensor.shape.join() !== expected.join()) {
      throw new InputError(`${source}: tensor "${stored}" has shape [${tensor.shape.join(', ')}], ${hint} needs [${expected.join(', ')}]`);
    }
    if (spec.role === 'numBatchesTracked') {
      const data = tensor.data;
      out.set(spec.key, makeTensor('I64', [], BigInt64Array.of(typeof data[0] === 'bigint' ? data[0] : BigInt(Math.round(Number(data[0] ?? 0))))));
    } else if (tensor.dtype === 'F32' || tensor.dtype === 'F64') {
      out.set(spec.key, makeTensor('F32', tensor.shape, tensor.data instanceof Float32Array ? tensor.data : Float32Array.from(tensor.data as Float64Array)));
    } else {
      throw new InputError(`${source}: tensor "${stored}" is ${tensor.dtype}, expected floating point`);
    }
  }
  const extra = [...state.keys()].filter((key) => !used.has(key));
  if (extra.length > 0) {
    throw new InputError(`${source}: has ${extra.length} tensor(s) ${hint} does not have, e.g. "${extra[0]}" [${state.get(extra[0]!)!.shape.join(', ')}]`);
  }
  return out;
}

/**
 * Reads the reference's .pth files (+ opt.txt) as a p2phd checkpoint in
 * memory. `known` (train --init: the samples' label_nc and instance maps)
 * settles what shapes cannot show when there is no opt.txt.
 */
export async function readReferenceCheckpoint(files: ReferenceFiles, known: Partial<Pick<ArchConfig, 'label_nc' | 'instance'>> = {}): Promise<ImportedCheckpoint> {
  const notes: string[] = [];
  const G = await readStateDict(files.netG, 'G', notes);
  const D = files.netD !== undefined ? await readStateDict(files.netD, 'D', notes) : undefined;
  const E = files.netE !== undefined ? await readStateDict(files.netE, 'E', notes) : undefined;
  let config: ArchConfig;
  let lr: number = 0.0002;
  let hint: string;
  const infer = (given: Partial<Pick<ArchConfig, 'label_nc' | 'instance'>>): Inferred =>
    inferConfig({ G, ...(D ? { D } : {}), ...(E ? { E } : {}) }, { G: files.netG, ...(files.netD ? { D: files.netD } : {}), ...(files.netE ? { E: files.netE } : {}) }, given);
  if (files.opt !== undefined) {
    const options = await readOptTxt(files.opt);
    const opt = files.opt;
    const fromOpt = configFromOptions(options, opt);
    // A hand-written opt.txt may state only what shapes cannot show (label_nc, no_instance): the rest comes from the shapes.
    const missing = CONFIG_KEYS.filter((key) => !(key in fromOpt));
    const filled: Record<string, unknown> = {};
    if (missing.length > 0) {
      const given = { ...known, ...(typeof fromOpt.label_nc === 'number' ? { label_nc: fromOpt.label_nc } : {}), ...(typeof fromOpt.instance === 'boolean' ? { instance: fromOpt.instance } : {}) };
      const inferred = infer(given).config;
      for (const key of missing) if (key in inferred) filled[key] = inferred[key];
      if (Object.keys(filled).length > 0) notes.push(`${opt} lacks ${Object.keys(filled).join(', ')}: taken from the tensor shapes (${Object.entries(filled).map(([key, value]) => `${key} ${String(value)}`).join(', ')})`);
    }
    config = resolveConfig({ ...filled, ...fromOpt }, (message) => new InputError(`${opt}: ${message}`));
    const optLr = options.get('lr');
    if (typeof optLr === 'number' && optLr >= 0) lr = optLr;
    hint = `the architecture in ${opt}`;
  } else {
    const inferred = infer(known);
    notes.push(...inferred.notes);
    config = resolveConfig(inferred.config, (message) => new InputError(`${files.netG}: cannot infer the architecture from its shapes (${message}); give the reference's opt.txt with --opt`));
    hint = 'the architecture its shapes suggest (give --opt to state it)';
  }
  if (E && !config.instance_feat) throw new InputError(`${files.netE!}: an encoder is given, but ${files.opt ?? 'the shapes'} say the model has no instance_feat`);
  const tensors = new Map<string, Tensor>();
  for (const [network, state, source] of [['G', G, files.netG], ['D', D, files.netD], ['E', E, files.netE]] as const) {
    if (state === undefined || source === undefined) continue;
    for (const [key, tensor] of checkedNetwork(network, state, config, source, hint)) tensors.set(key, tensor);
  }
  if (config.instance_feat && !E) notes.push('an instance-feature model without netE: synthesize needs --clusters (no encode, no --use-encoded)');
  const meta: CheckpointMeta = { stage: config.netG === 'global' ? 'global' : 'local', epoch: 0, step: 0, lr, config };
  const networks = (['G', 'D', 'E'] as const).filter((network) => network === 'G' || (network === 'D' ? D : E) !== undefined);
  return { checkpoint: { source: files.netG, meta, tensors, networks }, notes };
}

/** Writes a p2phd checkpoint from the reference's files; returns what the log should say. */
export async function importReferenceCheckpoint(files: ReferenceFiles, out: string): Promise<ImportedCheckpoint> {
  const inputs = [files.netG, files.netD, files.netE, files.opt].filter((path): path is string => path !== undefined);
  if (inputs.some((input) => resolve(input) === resolve(out))) throw new UsageError(`--out ${out} is one of the inputs; refusing to overwrite it`);
  const imported = await readReferenceCheckpoint(files);
  const { stage, epoch, step, lr, config } = imported.checkpoint.meta;
  await writeTensorFile(out, 'checkpoint', imported.checkpoint.tensors, { family: pix2pixhd.name, stage, epoch, step, lr, config });
  return imported;
}


/**
 * `train --init F.pth`: F is the reference's netG; its opt.txt and the D and
 * E files saved beside it (`<epoch>_net_D.pth`, `<epoch>_net_E.pth`, as the
 * reference names them) are used when they are there, and the notes say so.
 */
export async function readInitPth(path: string, known: Partial<Pick<ArchConfig, 'label_nc' | 'instance'>>): Promise<ImportedCheckpoint> {
  const folder = dirname(path);
  const match = /^(.*)_net_G\.pth$/.exec(basename(path));
  const exists = async (file: string): Promise<boolean> => fsp.stat(file).then((s) => s.isFile(), () => false);
  const sibling = async (network: 'D' | 'E'): Promise<string | undefined> => {
    if (match === null) return undefined;
    const file = join(folder, `${match[1]!}_net_${network}.pth`);
    return (await exists(file)) ? file : undefined;
  };
  const opt = join(folder, OPT_TXT);
  const netD = await sibling('D');
  const netE = await sibling('E');
  const files: ReferenceFiles = { netG: path, ...(netD ? { netD } : {}), ...(netE ? { netE } : {}), ...((await exists(opt)) ? { opt } : {}) };
  const imported = await readReferenceCheckpoint(files, known);
  const used = [files.netD, files.netE, files.opt].filter((file) => file !== undefined);
  if (used.length > 0) imported.notes.unshift(`--init ${path}: also read ${used.join(', ')} from beside it`);
  return imported;
}

// ---------------------------------------------------------------------------
// Export.

export interface ExportedFiles {
  readonly files: string[];
  /** The reference's test.py flags that rebuild these networks. */
  readonly flags: string[];
}

/**
 * Writes `latest_net_G.pth` (+ D, + E: the networks the checkpoint holds)
 * and `opt.txt` into `outDir`, as the reference's train.py leaves them.
 */
export async function exportReferenceCheckpoint(checkpointPath: string, outDir: string): Promise<ExportedFiles> {
  const checkpoint = await readCheckpoint(checkpointPath);
  const { config } = checkpoint.meta;
  try {
    await fsp.mkdir(outDir, { recursive: true });
  } catch (error) {
    throw new InputError(`--out ${outDir}: cannot create the folder (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  const files: string[] = [];
  for (const network of checkpoint.networks) {
    const state = new Map<string, Tensor>();
    for (const spec of networkSpecs(config, network)) {
      const flat = flatDiscriminatorKey(spec.key);
      const tensor = checkpoint.tensors.get(spec.key) ?? (flat !== null ? checkpoint.tensors.get(flat) : undefined);
      if (tensor === undefined) throw new InputError(`${checkpoint.source}: has no tensor "${spec.key}", which its config needs`);
      const expected = referenceShape(spec);
      if (tensor.shape.join() !== expected.join()) {
        throw new InputError(`${checkpoint.source}: tensor "${spec.key}" has shape [${tensor.shape.join(', ')}], its config needs [${expected.join(', ')}]`);
      }
      state.set(spec.key.slice(2), tensor);
    }
    const file = join(outDir, `latest_net_${network}.pth`);
    await writePth(file, state);
    files.push(file);
  }
  const optFile = join(outDir, OPT_TXT);
  await writeFileAtomically(optFile, formatOptTxt(config, { name: basename(outDir), which_epoch: 'latest', lr: checkpoint.meta.lr }));
  files.push(optFile);
  return { files, flags: referenceFlags(config) };
}

/**
 * `train --init PATH`: a p2phd checkpoint (a folder means its
 * latest.safetensors), or the reference's latest_net_G.pth (see
 * readInitPth), whose notes go to `note`.
 */
export async function readInitCheckpoint(
  path: string,
  known: Partial<Pick<ArchConfig, 'label_nc' | 'instance'>>,
  note: (line: string) => void,
): Promise<Checkpoint> {
  if (!(await isPthFile(path))) return readCheckpoint(path);
  const imported = await readInitPth(path, known);
  for (const line of imported.notes) note(line);
  return imported.checkpoint;
}
