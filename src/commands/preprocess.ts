/**
 * `p2phd preprocess`: raw label / instance / photo files -> sample files, or
 * with --aligned pix2pix's A|B files -> aligned samples.
 * Thin: flags -> one PreprocessConfig -> src/data/datasets/preprocess.ts (or
 * one AlignedPreprocessConfig -> src/data/datasets/alignedPreprocess.ts) -> report.
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
import { ALIGNED_DEFAULTS, DIRECTIONS, type Direction } from '../data/datasets/aligned.js';
import type { AlignedPreprocessConfig } from '../data/datasets/alignedPreprocess.js';
import type { CommandContext } from './common.js';

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

/** Flags whose defaults depend on --aligned are undefined unless given. */
interface PreprocessFlags {
  dataroot?: string;
  phase: string;
  labels?: string;
  instances?: string;
  images?: string;
  labelNc?: number;
  instance: boolean;
  resizeOrCrop?: ResizeMode;
  loadSize?: number;
  fineSize?: number;
  cropSize?: number;
  sizeBase?: number;
  onehot: boolean;
  aligned: boolean;
  direction?: Direction;
  inputNc?: number;
  outputNc?: number;
  shard?: Shard;
  out?: string;
  jobs: number;
}

/** The flags with pix2pixHD's defaults filled in. */
type LabelFlags = PreprocessFlags & { labelNc: number; resizeOrCrop: ResizeMode; loadSize: number; fineSize: number; sizeBase: number };

/** --fine-size and its pix2pix name --crop-size. */
function cropSideFlag(flags: PreprocessFlags): number | undefined {
  if (flags.fineSize !== undefined && flags.cropSize !== undefined && flags.fineSize !== flags.cropSize) {
    throw new UsageError(`--fine-size ${flags.fineSize} and --crop-size ${flags.cropSize} name one setting: give one of them`);
  }
  return flags.fineSize ?? flags.cropSize;
}

function withLabelDefaults(flags: PreprocessFlags): LabelFlags {
  const given = (['direction', 'inputNc', 'outputNc'] as const).filter((key) => flags[key] !== undefined);
  if (given.length > 0) throw new UsageError(`--${given[0]!.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} is for A|B data: add --aligned`);
  return {
    ...flags,
    labelNc: flags.labelNc ?? PREPROCESS_DEFAULTS.labelNc,
    resizeOrCrop: flags.resizeOrCrop ?? PREPROCESS_DEFAULTS.resizeOrCrop,
    loadSize: flags.loadSize ?? PREPROCESS_DEFAULTS.loadSize,
    fineSize: cropSideFlag(flags) ?? PREPROCESS_DEFAULTS.fineSize,
    sizeBase: flags.sizeBase ?? PREPROCESS_DEFAULTS.sizeBase,
  };
}

/** The reference's layout: <phase>_label, <phase>_inst, <phase>_img (<phase>_A, <phase>_B for colour labels). */
function datarootFolders(flags: LabelFlags, dataroot: string): { labels: string; instances: string; images: string } {
  const colourLabels = flags.labelNc === 0;
  return {
    labels: join(dataroot, `${flags.phase}_${colourLabels ? 'A' : 'label'}`),
    instances: join(dataroot, `${flags.phase}_inst`),
    images: join(dataroot, `${flags.phase}_${colourLabels ? 'B' : 'img'}`),
  };
}

/** The inputs --out must not overwrite: the layout's folders, or the globs. */
function inputArguments(flags: PreprocessFlags): InputArgument[] {
  if (flags.aligned) return flags.dataroot === undefined ? [] : [{ flag: '--dataroot', path: join(flags.dataroot, flags.phase) }];
  if (flags.dataroot === undefined) {
    return [{ flag: '--labels', path: flags.labels }, { flag: '--instances', path: flags.instances }, { flag: '--images', path: flags.images }];
  }
  const folders = datarootFolders(withLabelDefaults(flags), flags.dataroot);
  return [folders.labels, folders.instances, folders.images].map((path) => ({ flag: '--dataroot', path }));
}

/** Which file lists the flags name: the --dataroot layout or explicit globs. */
function inputLists(flags: LabelFlags, inputs: Inputs): InputLists {
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

function requireOutFolder(out: string | undefined): string {
  if (out === undefined) throw new UsageError('--out DIR is required (the folder the sample files go to)');
  if (out === '-') throw new UsageError('--out must be a folder: preprocess writes one sample file per pair, not a stream');
  return out;
}

/**
 * The default --load-size (1024, the reference's) upscales images narrower
 * than that, as the reference does without a word: a 300x200 pix2pix-style
 * photo becomes 1024x682, and training at that size needs many times the
 * memory and time. When --load-size was not given and any pair grew, one
 * line says so and how to keep the size (a given --load-size means it).
 */
export function upscaleWarning(results: readonly Pick<PreprocessedSample, 'sources' | 'size' | 'sourceSize'>[], loadSize: number, loadSizeDefaulted: boolean): string | undefined {
  if (!loadSizeDefaulted) return undefined;
  const grown = results.filter((result) => result.size[0] > result.sourceSize[0] || result.size[1] > result.sourceSize[1]);
  if (grown.length === 0) return undefined;
  const first = grown[0]!;
  const [height, width] = first.sourceSize;
  return (
    `${grown.length} of ${results.length} pair(s) were upscaled by the default --load-size ${loadSize} (the reference's, which upscales silently too), ` +
    `e.g. ${first.sources.label}: ${width}x${height} -> ${first.size[1]}x${first.size[0]}; training at the larger size needs far more memory and time. ` +
    `To keep the images' size, preprocess again with --load-size ${width} (or --resize-or-crop none); give --load-size ${loadSize} to upscale on purpose`
  );
}

/** Samples without photos serve synthesize --data only: a line saying so when no photos were found, or undefined. */
export function missingPhotosWarning(flags: Pick<LabelFlags, 'dataroot' | 'phase' | 'labelNc'>, lists: InputLists): string | undefined {
  if (lists.images !== undefined) return undefined;
  if (flags.dataroot !== undefined && flags.phase !== 'train') return undefined;
  const where = flags.dataroot === undefined ? 'no --images given' : `no ${flags.phase}_${flags.labelNc === 0 ? 'B' : 'img'}/ folder in ${flags.dataroot}`;
  return `${where}: the samples hold no photos; train and encode need them (give the photos with ${flags.dataroot === undefined ? '--images GLOB' : 'that folder'}); photo-less samples serve synthesize --data only`;
}

function buildConfig(givenFlags: PreprocessFlags, inputs: Inputs, warn: (line: string) => void): PreprocessConfig {
  const flags = withLabelDefaults(givenFlags);
  const outDir = requireOutFolder(flags.out);
  if (flags.onehot && flags.labelNc === 0) throw new UsageError('--onehot needs class ids: it cannot be used with --label-nc 0');
  const lists = inputLists(flags, inputs);
  const photoless = missingPhotosWarning(flags, lists);
  if (photoless) warn(photoless);
  const allPairs = inputs.pairInputs(lists);
  const misnamed = inputs.findMisnamedPair(allPairs);
  if (misnamed) warn(`files are paired in sorted order, and ${misnamed.label} is paired with ${misnamed.other}, whose name differs: check that no file is missing`);
  // Names come from the whole set, so every shard of a job array sees the same clashes.
  const names = inputs.outputNames(allPairs, '.safetensors');
  const indices = takeShard(allPairs.map((_, i) => i), flags.shard);
  return {
    pairs: indices.map((i) => allPairs[i]!),
    outputNames: indices.map((i) => names[i]!),
    outDir,
    labelNc: flags.labelNc,
    onehot: flags.onehot,
    resize: { mode: flags.resizeOrCrop, loadSize: flags.loadSize, fineSize: flags.fineSize, sizeBase: flags.sizeBase },
    concurrency: flags.jobs,
  };
}

/** With --aligned: the flags of label/photo data are refused, pix2pix's defaults fill the rest. */
function buildAlignedConfig(flags: PreprocessFlags, aligned: AlignedPreprocessModule): AlignedPreprocessConfig {
  const labelOnly: Array<[string, boolean]> = [
    ['--labels', flags.labels !== undefined], ['--instances', flags.instances !== undefined], ['--images', flags.images !== undefined],
    ['--label-nc', flags.labelNc !== undefined], ['--no-instance', !flags.instance], ['--onehot', flags.onehot], ['--size-base', flags.sizeBase !== undefined],
  ];
  const conflict = labelOnly.find(([, given]) => given);
  if (conflict) throw new UsageError(`${conflict[0]} is for label/photo data and conflicts with --aligned`);
  if (flags.dataroot === undefined) throw new UsageError('--aligned needs --dataroot DIR: the A|B images are read from DIR/<phase>');
  const outDir = requireOutFolder(flags.out);
  const resize = {
    mode: flags.resizeOrCrop ?? ALIGNED_DEFAULTS.resizeOrCrop,
    loadSize: flags.loadSize ?? ALIGNED_DEFAULTS.loadSize,
    cropSize: cropSideFlag(flags) ?? ALIGNED_DEFAULTS.cropSize,
  };
  if ((resize.mode === 'resize_and_crop' || resize.mode === 'scale_width_and_crop') && resize.loadSize < resize.cropSize) {
    throw new UsageError(`--load-size ${resize.loadSize} is below --crop-size ${resize.cropSize}: the crop must fit in the resized image`);
  }
  const root = join(flags.dataroot, flags.phase);
  const allFiles = aligned.listAlignedFiles(root);
  const names = aligned.alignedOutputNames(allFiles, root, '.safetensors');
  const indices = takeShard(allFiles.map((_, i) => i), flags.shard);
  return {
    files: indices.map((i) => allFiles[i]!),
    outputNames: indices.map((i) => names[i]!),
    outDir,
    direction: flags.direction ?? ALIGNED_DEFAULTS.direction,
    inputNc: flags.inputNc ?? ALIGNED_DEFAULTS.inputNc,
    outputNc: flags.outputNc ?? ALIGNED_DEFAULTS.outputNc,
    resize,
    concurrency: flags.jobs,
  };
}

type AlignedPreprocessModule = typeof import('../data/datasets/alignedPreprocess.js');

async function runAligned(flags: PreprocessFlags, context: CommandContext): Promise<void> {
  const aligned = await import('../data/datasets/alignedPreprocess.js');
  const config = buildAlignedConfig(flags, aligned);
  const { log } = context;
  const started = Date.now();
  log.info(
    `preprocess --aligned: ${config.files.length} A|B file(s) -> ${config.outDir} (${config.direction}, input_nc ${config.inputNc}, output_nc ${config.outputNc}, ` +
      `${config.resize.mode}, load ${config.resize.loadSize}, crop ${config.resize.cropSize})`,
  );
  const progress = createProgress('preprocess', config.files.length);
  let results: Awaited<ReturnType<AlignedPreprocessModule['preprocessAligned']>>;
  try {
    results = await aligned.preprocessAligned(config, () => progress.tick(), (line) => log.warn(line));
  } finally {
    progress.stop();
  }
  const seconds = (Date.now() - started) / 1000;
  log.info(`wrote ${results.length} aligned sample(s) in ${seconds.toFixed(2)} s`);
  context.emitJson({
    command: 'preprocess',
    aligned: true,
    out: config.outDir,
    samples: results.map((result) => ({ file: result.path, source: result.source, size: result.size, source_size: result.sourceSize })),
    count: results.length,
    seconds,
  });
}

const channelsFlag = (flag: string) => (value: string): number => {
  if (value !== '1' && value !== '3') throw new UsageError(`${flag}: "${value}" must be 1 (grey) or 3 (RGB)`);
  return Number(value);
};

export function registerPreprocess(program: Command): void {
  const defaultJobs = Math.max(2, availableParallelism() * 2);
  const command = program.command('preprocess')
    .description('raw label/instance/photo files (or pix2pix A|B files with --aligned) -> sample files')
    .option('--dataroot <dir>', 'dataset folder in the reference layout: <phase>_label, <phase>_inst, <phase>_img (<phase>_A, <phase>_B with --label-nc 0); with --aligned, A|B images under <dir>/<phase>')
    .option('--phase <name>', 'which split of --dataroot', PREPROCESS_DEFAULTS.phase)
    .option('--labels <glob>', 'label maps: a quoted glob or a folder (instead of --dataroot)')
    .option('--instances <glob>', 'instance maps, paired with the labels in sorted order')
    .option('--images <glob>', 'photos, paired with the labels in sorted order (training and encode need them)')
    .option('--label-nc <n>', `number of label classes (0: label maps are colour images; default ${PREPROCESS_DEFAULTS.labelNc})`, integerFlag('--label-nc', 0, 65536))
    .option('--no-instance', 'no instance maps (no inst or edges tensors)')
    .addOption(new Option('--resize-or-crop <mode>', `resize mode, crops happen at training time (default ${PREPROCESS_DEFAULTS.resizeOrCrop}; ${ALIGNED_DEFAULTS.resizeOrCrop} with --aligned)`).choices([...RESIZE_MODES]))
    .option('--load-size <n>', `resize target: width (scale_width*) or side (resize_and_crop) (default ${PREPROCESS_DEFAULTS.loadSize}, which upscales smaller images as the reference does, with a warning; ${ALIGNED_DEFAULTS.loadSize} with --aligned)`, integerFlag('--load-size', 1, MAX_RESIZE_SIDE))
    .option('--fine-size <n>', `side of training's random crop, recorded in the samples (default ${PREPROCESS_DEFAULTS.fineSize}; ${ALIGNED_DEFAULTS.cropSize} with --aligned)`, integerFlag('--fine-size', 1, MAX_RESIZE_SIDE))
    .option('--crop-size <n>', "the same as --fine-size (pix2pix's name)", integerFlag('--crop-size', 1, MAX_RESIZE_SIDE))
    .option('--size-base <n>', `with --resize-or-crop none: round sizes to a multiple of this (the reference's 2^n_downsample_global; 32 for one local enhancer; default ${PREPROCESS_DEFAULTS.sizeBase}; --aligned always rounds to 4)`, integerFlag('--size-base', 1, MAX_SIZE_BASE))
    .option('--onehot', 'also store the one-hot label tensor', false)
    .option('--aligned', "pix2pix's A|B data: one image per pair, A the left half, B the right, under <dataroot>/<phase> (see docs/pix2pix.md)", false)
    .addOption(new Option('--direction <dir>', `with --aligned: AtoB, or BtoA to make B the network input (default ${ALIGNED_DEFAULTS.direction})`).choices([...DIRECTIONS]))
    .option('--input-nc <n>', 'with --aligned: channels of the network input, 3 (RGB) or 1 (grey as PIL\'s L) (default 3)', channelsFlag('--input-nc'))
    .option('--output-nc <n>', 'with --aligned: channels of the target, 3 or 1 (default 3)', channelsFlag('--output-nc'))
    .option('--shard <index/count>', 'take every COUNT-th pair starting at INDEX (0-based)', parseShard)
    .option('--out <dir>', 'output folder (created if missing; files of the same name are replaced)')
    .option('--jobs <n>', 'pairs processed at once', integerFlag('--jobs', 1, 64), defaultJobs);
  addCommonOptions(command).action(action<PreprocessFlags>(async (flags, context) => {
    if (flags.aligned) return runAligned(flags, context);
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
    const upscaled = upscaleWarning(results, config.resize.loadSize, flags.loadSize === undefined);
    if (upscaled) log.warn(upscaled);
    context.emitJson({
      command: 'preprocess',
      out: config.outDir,
      samples: results.map((result) => ({ file: result.path, ...result.sources, size: result.size, source_size: result.sourceSize })),
      count: results.length,
      seconds,
    });
  }, (flags) => ({ output: { flag: '--out', path: flags.out, kind: 'folder' }, inputs: inputArguments(flags) })));
}
