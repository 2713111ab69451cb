/**
 * `p2phd preprocess`: raw label / instance / photo files -> sample files.
 * Thin: flags -> one PreprocessConfig -> src/data/datasets/preprocess.ts -> report.
 * No tfjs here, so the command starts fast.
 */
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Option, type Command } from 'commander';
import { UsageError, InputError } from '../errors.js';
import { createProgress } from '../log.js';
import { action, addCommonOptions } from './common.js';
import { integerFlag, parseShard, takeShard, type Shard } from '../flagValues.js';
import { MAX_RESIZE_SIDE, MAX_SIZE_BASE, RESIZE_MODES, type ResizeMode } from '../data/datasets/resize.js';
import type { InputLists } from '../data/datasets/inputs.js';
import type { InputArgument } from '../data/files/outputPath.js';
import type { PreprocessConfig, PreprocessedSample } from '../data/datasets/preprocess.js';

/** data/datasets/inputs.ts (fast-glob), loaded only when the command runs. */
type Inputs = typeof import('../data/datasets/inputs.js');

/** The reference's defaults (options/base_options.py). */
export const PREPROCESS_DEFAULTS = Object.freeze({
  phase: 'train',
  labelNc: 35,
  resizeOrCrop: 'scale_width' as ResizeMode,
  loadSize: 1024,
  fineSize: 512,
  /** 2^n_downsample_global with the reference's default of 4. */
  sizeBase: 16,
});

interface PreprocessFlags {
  dataroot?: string;
  phase: string;
  labels?: string;
  instances?: string;
  images?: string;
  labelNc: number;
  instance: boolean;
  resizeOrCrop: ResizeMode;
  loadSize: number;
  fineSize: number;
  sizeBase: number;
  onehot: boolean;
  shard?: Shard;
  out?: string;
  jobs: number;
}

/** The reference's layout: <phase>_label, <phase>_inst, <phase>_img (<phase>_A, <phase>_B for colour labels). */
function datarootFolders(flags: PreprocessFlags, dataroot: string): { labels: string; instances: string; images: string } {
  const colourLabels = flags.labelNc === 0;
  return {
    labels: join(dataroot, `${flags.phase}_${colourLabels ? 'A' : 'label'}`),
    instances: join(dataroot, `${flags.phase}_inst`),
    images: join(dataroot, `${flags.phase}_${colourLabels ? 'B' : 'img'}`),
  };
}

/** The inputs --out must not overwrite: the layout's folders, or the globs. */
function inputArguments(flags: PreprocessFlags): InputArgument[] {
  if (flags.dataroot === undefined) {
    return [{ flag: '--labels', path: flags.labels }, { flag: '--instances', path: flags.instances }, { flag: '--images', path: flags.images }];
  }
  const folders = datarootFolders(flags, flags.dataroot);
  return [folders.labels, folders.instances, folders.images].map((path) => ({ flag: '--dataroot', path }));
}

/** Which file lists the flags name: the --dataroot layout or explicit globs. */
function inputLists(flags: PreprocessFlags, inputs: Inputs): InputLists {
  const { folderExists, listFiles } = inputs;
  if (flags.dataroot !== undefined && (flags.labels !== undefined || flags.instances !== undefined || flags.images !== undefined)) {
    throw new UsageError('--dataroot conflicts with --labels/--instances/--images: give one or the other');
  }
  if (flags.instances !== undefined && !flags.instance) throw new UsageError('--instances conflicts with --no-instance');
  if (flags.dataroot === undefined) {
    if (flags.labels === undefined) throw new UsageError('give --dataroot DIR (with --phase) or --labels GLOB');
    return inputs.globInputLists({ labels: flags.labels, instances: flags.instances, images: flags.images });
  }
  const { labels: labelDir, instances: instDir, images: imageDir } = datarootFolders(flags, flags.dataroot);
  if (!folderExists(labelDir)) throw new InputError(`${labelDir}: no such folder (--dataroot ${flags.dataroot} --phase ${flags.phase})`);
  const lists: InputLists = { labels: { pattern: labelDir, files: listFiles(labelDir, 'label maps') } };
  if (flags.instance) {
    if (!folderExists(instDir)) throw new InputError(`${instDir}: no such folder (pass --no-instance for data without instance maps)`);
    lists.instances = { pattern: instDir, files: listFiles(instDir, 'instance maps') };
  }
  // Photos are optional (a test phase may have none).
  if (folderExists(imageDir)) lists.images = { pattern: imageDir, files: listFiles(imageDir, 'photos') };
  return lists;
}

function buildConfig(flags: PreprocessFlags, inputs: Inputs, warn: (line: string) => void): PreprocessConfig {
  if (flags.out === undefined) throw new UsageError('--out DIR is required (the folder the sample files go to)');
  if (flags.out === '-') throw new UsageError('--out must be a folder: preprocess writes one sample file per pair, not a stream');
  if (flags.onehot && flags.labelNc === 0) throw new UsageError('--onehot needs class ids: it cannot be used with --label-nc 0');
  const allPairs = inputs.pairInputs(inputLists(flags, inputs));
  const misnamed = inputs.findMisnamedPair(allPairs);
  if (misnamed) warn(`files are paired in sorted order, and ${misnamed.label} is paired with ${misnamed.other}, whose name differs: check that no file is missing`);
  // Names come from the whole set, so every shard of a job array sees the same clashes.
  const names = inputs.outputNames(allPairs, '.safetensors');
  const indices = takeShard(allPairs.map((_, i) => i), flags.shard);
  return {
    pairs: indices.map((i) => allPairs[i]!),
    outputNames: indices.map((i) => names[i]!),
    outDir: flags.out,
    labelNc: flags.labelNc,
    onehot: flags.onehot,
    resize: { mode: flags.resizeOrCrop, loadSize: flags.loadSize, fineSize: flags.fineSize, sizeBase: flags.sizeBase },
    concurrency: flags.jobs,
  };
}

export function registerPreprocess(program: Command): void {
  const defaultJobs = Math.max(2, availableParallelism() * 2);
  const command = program.command('preprocess')
    .description('raw label/instance/photo files -> sample files')
    .option('--dataroot <dir>', 'dataset folder in the reference layout: <phase>_label, <phase>_inst, <phase>_img (<phase>_A, <phase>_B with --label-nc 0)')
    .option('--phase <name>', 'which split of --dataroot', PREPROCESS_DEFAULTS.phase)
    .option('--labels <glob>', 'label maps: a quoted glob or a folder (instead of --dataroot)')
    .option('--instances <glob>', 'instance maps, paired with the labels in sorted order')
    .option('--images <glob>', 'photos, paired with the labels in sorted order')
    .option('--label-nc <n>', 'number of label classes (0: label maps are colour images)', integerFlag('--label-nc', 0, 65536), PREPROCESS_DEFAULTS.labelNc)
    .option('--no-instance', 'no instance maps (no inst or edges tensors)')
    .addOption(new Option('--resize-or-crop <mode>', 'resize mode (crops happen at training time)').choices([...RESIZE_MODES]).default(PREPROCESS_DEFAULTS.resizeOrCrop))
    .option('--load-size <n>', 'resize target: width (scale_width*) or side (resize_and_crop)', integerFlag('--load-size', 1, MAX_RESIZE_SIDE), PREPROCESS_DEFAULTS.loadSize)
    .option('--fine-size <n>', "side of training's random crop (recorded in the samples)", integerFlag('--fine-size', 1, MAX_RESIZE_SIDE), PREPROCESS_DEFAULTS.fineSize)
    .option('--size-base <n>', "with --resize-or-crop none: round sizes to a multiple of this (the reference's 2^n_downsample_global; 32 for one local enhancer)", integerFlag('--size-base', 1, MAX_SIZE_BASE), PREPROCESS_DEFAULTS.sizeBase)
    .option('--onehot', 'also store the one-hot label tensor', false)
    .option('--shard <index/count>', 'take every COUNT-th pair starting at INDEX (0-based)', parseShard)
    .option('--out <dir>', 'output folder (created if missing; files of the same name are replaced)')
    .option('--jobs <n>', 'pairs processed at once', integerFlag('--jobs', 1, 64), defaultJobs);
  addCommonOptions(command).action(action<PreprocessFlags>(async (flags, context) => {
    // Loaded here, not at the top: sharp and fast-glob would slow every other command and --help.
    const [inputs, { preprocess }] = await Promise.all([import('../data/datasets/inputs.js'), import('../data/datasets/preprocess.js')]);
    const config = buildConfig(flags, inputs, (line) => context.log.warn(line));
    const { log } = context;
    const started = Date.now();
    log.info(`preprocess: ${config.pairs.length} pair(s) -> ${config.outDir} (label_nc ${config.labelNc}, ${config.resize.mode}, load ${config.resize.loadSize}, fine ${config.resize.fineSize})`);
    const progress = createProgress('preprocess', config.pairs.length);
    let results: PreprocessedSample[];
    try {
      results = await preprocess(config, () => progress.tick());
    } finally {
      progress.stop();
    }
    const seconds = (Date.now() - started) / 1000;
    const perSample = results.length > 0 ? seconds / results.length : 0;
    log.info(`wrote ${results.length} sample(s) in ${seconds.toFixed(2)} s (${perSample.toFixed(3)} s per pair)`);
    context.emitJson({
      command: 'preprocess',
      out: config.outDir,
      samples: results.map((result) => ({ file: result.path, ...result.sources, size: result.size, source_size: result.sourceSize })),
      count: results.length,
      seconds,
    });
  }, (flags) => ({ output: { flag: '--out', path: flags.out, kind: 'folder' }, inputs: inputArguments(flags) })));
}
