/**
 * `p2phd synthesize` as a library call: the checkpoint's architecture and G
 * (and E with --use-encoded) loaded once, then the inputs streamed through
 * one at a time: decode, build G's input at the input's own size, run G
 * (padded to a size it takes and cropped back), write the PNG.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { UsageError, InputError } from '../errors.js';
import type { Logger } from '../log.js';
import { createProgress } from '../log.js';
import { takeShard, type Shard } from '../flagValues.js';
import { readCheckpoint, type Checkpoint } from '../families/checkpoint.js';
import { maxClusterCount, type ClusterSet } from '../data/files/clusters.js';
import { writeFileAtomically } from '../data/formats/atomicWrite.js';
import { computeWithSignalsEndingAtOnce } from '../lifecycle.js';
import { colourLabels } from '../data/datasets/palette.js';
import { PAGE_IMAGES_DIR, writeResultsPage, type ResultRow } from '../report/resultsPage.js';
import { prepareOutputFolder } from '../data/datasets/preprocess.js';
import { inputSizeMultiple, type ArchConfig } from '../families/pix2pixhd/config.js';
import { countParameters } from '../model/layers.js';
import { modelSpecs } from '../families/pix2pixhd/networks.js';
import type { ResizeMode } from '../data/datasets/resize.js';
import { Random } from '../model/random.js';
import { listInputItems, type InputItem, type InputSource, type LoadedInput } from './inputs.js';
import { featurePoolIds } from './featurePooling.js';
import { activeBackendName } from './networks.js';
import { checkImageMemory } from './memory.js';
import type { InferenceEngine } from './inferenceNetworks.js';
import { unknownStyleMapIds, type StyleMap, type StyleMode, type StyleRule } from './styles.js';
import { instanceMapOf, loadClustersFor, loadStyleMap, Synthesizer, type PreparedInput } from './synthesizer.js';

export interface SynthesizeStageConfig {
  readonly checkpoint: string;
  readonly inputs: InputSource;
  readonly out: string;
  readonly clusters?: string;
  readonly style: StyleMode;
  readonly styleMap?: string;
  readonly useEncoded: boolean;
  readonly shard?: Shard;
  readonly seed: number;
  /** Resize label-map inputs as preprocess does (default: not at all). */
  readonly resize?: { readonly mode: ResizeMode; readonly loadSize: number };
  /** Where G and E run (default tfjs): the backend selection's inferenceEngineOf. */
  readonly engine?: InferenceEngine;
}

export interface SynthesizeSummary {
  readonly inputs: number;
  readonly outputs: string[];
  readonly modelLoadSeconds: number;
  readonly synthesisSeconds: number;
  /** Per input, wall clock: decoding, every style's G pass and PNG writing. */
  readonly imageSeconds: number[];
  /** The same in process CPU time (all threads): on a shared machine, what the work itself cost. */
  readonly imageCpuSeconds: number[];
  /** The results page (index.html, or the shard's page). */
  readonly page: string;
}

/** How the feature channels are filled, decided once from the flags and the checkpoint. */
type FeatureSource =
  | { readonly kind: 'none' }
  | { readonly kind: 'encoded' }
  | { readonly kind: 'clusters'; readonly clusters: ClusterSet; readonly styleMap: StyleMap };

/** Output file name of style `index` for `--style all`: `<stem>_s<NN>.png`. */
export function styleOutputName(stem: string, index: number): string {
  return `${stem}_s${String(index).padStart(2, '0')}.png`;
}

/** Flags that the checkpoint's architecture makes wrong or useless: refused (exit 2) or warned about. */
function checkFlagsAgainstModel(config: SynthesizeStageConfig, arch: ArchConfig, checkpoint: Checkpoint, log: Logger): void {
  if (!arch.instance_feat) {
    const unused = [
      config.clusters !== undefined ? '--clusters' : undefined,
      config.styleMap !== undefined ? '--style-map' : undefined,
      config.useEncoded ? '--use-encoded' : undefined,
    ].filter((flag): flag is string => flag !== undefined);
    if (unused.length > 0) log.warn(`${checkpoint.source}: the model has no instance features; ${unused.join(', ')} ignored`);
    return;
  }
  if (config.useEncoded && config.clusters !== undefined) {
    throw new UsageError('--use-encoded and --clusters exclude each other: features come either from the photos or from the cluster centres');
  }
  if (!config.useEncoded && config.clusters === undefined) {
    throw new UsageError(
      `${checkpoint.source}: the model was trained with instance features; give --clusters FILE (from p2phd cluster) or --use-encoded --images GLOB`,
    );
  }
  if (config.useEncoded) {
    if (config.styleMap !== undefined) throw new UsageError('--style-map chooses cluster centres; it needs --clusters, not --use-encoded');
    if (config.style !== 'random') log.warn(`--style ${config.style} ignored: with --use-encoded the features come from the photos`);
    if (config.inputs.kind === 'files' && config.inputs.images === undefined) {
      throw new UsageError('--use-encoded needs the photos: --images GLOB (paired with the labels in sorted order)');
    }
  }
}

async function loadFeatureSource(config: SynthesizeStageConfig, arch: ArchConfig, log: Logger): Promise<FeatureSource> {
  if (!arch.instance_feat) return { kind: 'none' };
  if (config.useEncoded) return { kind: 'encoded' };
  const clusters = await loadClustersFor(config.clusters!, arch, log);
  const styleMap: StyleMap = config.styleMap !== undefined ? await loadStyleMap(config.styleMap, clusters) : new Map();
  return { kind: 'clusters', clusters, styleMap };
}

/** A factor between the input's width and the training samples' width beyond which objects look another size to the model. */
const SCALE_WARNING_FACTOR = 1.5;

/**
 * Warns (once: returns true) when an input's width differs from the width
 * the model trained at (the checkpoint's training_resize) by more than
 * SCALE_WARNING_FACTOR: a G1 trained on 1024-wide maps given 2048-wide
 * ones sees every object at twice its training size.
 */
function warnAboutScale(input: LoadedInput, checkpoint: Checkpoint, resize: SynthesizeStageConfig['resize'], log: Logger): boolean {
  const trained = checkpoint.meta.trainingResize;
  if (!trained) return false;
  const ratio = input.width / trained.width;
  if (ratio <= SCALE_WARNING_FACTOR && ratio >= 1 / SCALE_WARNING_FACTOR) return false;
  const given = resize ? ` after --resize-or-crop ${resize.mode} --load-size ${resize.loadSize}` : '';
  log.warn(
    `${input.source}: ${input.width}x${input.height}${given} is ${ratio.toFixed(2)}x the width ${checkpoint.source} was trained at ` +
      `(${trained.width}x${trained.height} samples, preprocessed with ${trained.mode}${trained.loadSize > 0 ? ` --load-size ${trained.loadSize}` : ''}); ` +
      `objects will look ${ratio > 1 ? 'larger' : 'smaller'} to it than in training: pass --load-size ${trained.width} to synthesize at the training scale`,
  );
  return true;
}

/**
 * Before any output is written: every instance id the style map names must
 * be in at least one input's instance map (a typo otherwise). Under --shard
 * the other shards' inputs are not read, so this is a warning there.
 */
async function checkStyleMapIds(items: readonly InputItem[], arch: ArchConfig, styleMap: StyleMap, source: string, sharded: boolean, log: Logger): Promise<void> {
  if (styleMap.size === 0) return;
  const seen = new Set<number>();
  for (const item of items) {
    const input = await item.load();
    const instances = featurePoolIds(arch, input, instanceMapOf(input));
    if (instances) for (const id of instances) seen.add(id);
  }
  const unknown = unknownStyleMapIds(styleMap, seen);
  if (unknown.length === 0) return;
  const message = `--style-map ${source}: instance id(s) ${unknown.join(', ')} are in none of the ${sharded ? "shard's " : ''}instance maps`;
  if (sharded) log.warn(message);
  else throw new UsageError(message);
}

export async function runSynthesizeStage(config: SynthesizeStageConfig, log: Logger): Promise<SynthesizeSummary> {
  const loadStart = performance.now();
  const checkpoint = await readCheckpoint(config.checkpoint);
  const readSeconds = (performance.now() - loadStart) / 1000;
  const arch = checkpoint.meta.config;
  checkFlagsAgainstModel(config, arch, checkpoint, log);
  const features = await loadFeatureSource(config, arch, log);

  if (config.resize && config.inputs.kind === 'samples') {
    throw new UsageError('--load-size and --resize-or-crop resize label maps; sample files (--data) were resized by preprocess');
  }
  const networkNames: Array<'G' | 'E'> = features.kind === 'encoded' ? ['G', 'E'] : ['G'];
  const model = { weights: countParameters(modelSpecs(arch, networkNames), 'all'), backend: activeBackendName() };
  const allItems = listInputItems(config.inputs, arch.label_nc, {
    // 'none' rounds to a size G takes, as preprocess's --size-base does for training.
    ...(config.resize ? { resize: { ...config.resize, fineSize: 0, sizeBase: inputSizeMultiple(arch) } } : {}),
    checkSize: (size, source) => checkImageMemory(arch, { source, ...size }, model),
  });
  const items = takeShard(allItems, config.shard);
  if (items.length === 0) {
    log.warn(`shard ${config.shard!.index}/${config.shard!.count} has no inputs (${allItems.length} in all)`);
  }
  if (features.kind === 'clusters' && config.styleMap !== undefined) {
    await checkStyleMapIds(items, arch, features.styleMap, config.styleMap, config.shard !== undefined && config.shard.count > 1, log);
  }
  prepareOutputFolder(config.out);

  // Model load time = reading the file + building the parameter tensors (or ONNX Runtime sessions)
  // (input listing and style-map checks in between are not counted).
  const paramsStart = performance.now();
  const synthesizer = await Synthesizer.load({
    checkpoint,
    networks: networkNames,
    engine: config.engine ?? 'tfjs',
    ...(features.kind === 'clusters' ? { clusters: features.clusters } : {}),
  });
  const modelLoadSeconds = readSeconds + (performance.now() - paramsStart) / 1000;
  log.info(`model: ${arch.netG} generator, label_nc ${arch.label_nc}${arch.instance ? ', instance edges' : ''}${arch.instance_feat ? `, ${arch.feat_num} instance features` : ''}; loaded in ${modelLoadSeconds.toFixed(2)} s`);

  const stylesPerInput = features.kind === 'clusters' && config.style === 'all' ? Math.max(1, maxClusterCount(features.clusters)) : 1;
  const outputs: string[] = [];
  const imageSeconds: number[] = [];
  const imageCpuSeconds: number[] = [];
  const pageRows: ResultRow[] = [];
  const progress = createProgress('synthesize', items.length);
  const synthesisStart = performance.now();
  let warnedStandIn = false;
  let warnedScale = false;
  try {
    for (const item of items) {
      const imageStart = performance.now();
      const cpuStart = process.cpuUsage();
      const input = await item.load();
      if (!warnedScale) warnedScale = warnAboutScale(input, checkpoint, config.resize, log);
      // Labels and edges once per input; each output overwrites only the feature channels.
      const prepared = synthesizer.prepare(input);
      if (prepared.standIn && !warnedStandIn) {
        log.warn('no instance maps given for a model trained with instance maps: each label map stands in for its instance map (every class region is one instance)');
        warnedStandIn = true;
      }
      const featureMaps = featureMapsFor(item, input, prepared, features, config, synthesizer, stylesPerInput);
      for (const [name, buildFeatureMap] of featureMaps) {
        // One forward pass never yields: a signal during it ends the process at once (nothing is being written then).
        const pixels = await computeWithSignalsEndingAtOnce(async () => synthesizer.generate(prepared, await buildFeatureMap()));
        const path = join(config.out, name);
        await writePng(path, pixels, input.width, input.height, arch.output_nc);
        outputs.push(path);
      }
      pageRows.push({ stem: item.stem, outputs: featureMaps.map(([name]) => name), ...(await writePageImages(config.out, item.stem, input, arch.label_nc)) });
      imageSeconds.push((performance.now() - imageStart) / 1000);
      const cpu = process.cpuUsage(cpuStart);
      imageCpuSeconds.push((cpu.user + cpu.system) / 1e6);
      progress.tick();
    }
  } finally {
    progress.stop();
    await synthesizer.dispose();
  }
  const synthesisSeconds = (performance.now() - synthesisStart) / 1000;
  const style = !arch.instance_feat ? 'none' : features.kind === 'encoded' ? 'encoded' : config.style;
  const page = await writeResultsPage(config.out, { checkpoint: checkpoint.source, style, ...(config.shard ? { shard: config.shard } : {}), rows: pageRows });
  log.info(`synthesize: ${outputs.length} image(s) from ${items.length} input(s) in ${synthesisSeconds.toFixed(1)} s -> ${config.out} (page: ${page})`);
  return { inputs: items.length, outputs, modelLoadSeconds, synthesisSeconds, imageSeconds, imageCpuSeconds, page };
}

/**
 * The outputs of one input: file name -> the feature map G gets (undefined
 * without instance features), built only when that output's turn comes,
 * placed by the prepared input's pool ids (the instance map, or the label
 * map with label_feat: featurePoolIds).
 */
function featureMapsFor(
  item: InputItem,
  input: LoadedInput,
  prepared: PreparedInput,
  features: FeatureSource,
  config: SynthesizeStageConfig,
  synthesizer: Synthesizer,
  stylesPerInput: number,
): Array<[string, () => Promise<Float32Array | undefined>]> {
  switch (features.kind) {
    case 'none':
      return [[`${item.stem}.png`, async () => undefined]];
    case 'encoded': {
      if (!input.photo) throw new InputError(`${item.source}: --use-encoded needs a photo, and this input has none`);
      const photo = input.photo;
      return [[`${item.stem}.png`, () => synthesizer.encode(photo, prepared.poolIds!, input.height, input.width)]];
    }
    case 'clusters': {
      const mapFor = async (rule: StyleRule): Promise<Float32Array> => synthesizer.styleFeatures(prepared, rule, features.styleMap);
      if (config.style === 'all') {
        return Array.from({ length: stylesPerInput }, (_, s) => [styleOutputName(item.stem, s), () => mapFor({ mode: 'index', index: s })]);
      }
      // Seeded per input by its name, so an image's styles do not depend on
      // which other inputs (or shard) share the run.
      const rule: StyleRule = config.style === 'first' ? { mode: 'first' } : { mode: 'random', random: Random.forLabel(config.seed, item.stem) };
      return [[`${item.stem}.png`, () => mapFor(rule)]];
    }
  }
}

/**
 * The results page's own images of one input: its label map in the palette
 * and its real photo (when --images or the sample has one), in
 * OUT/index_files/; paths relative to OUT.
 */
async function writePageImages(out: string, stem: string, input: LoadedInput, labelNc: number): Promise<Pick<ResultRow, 'label' | 'real'>> {
  const files: Pick<ResultRow, 'label' | 'real'> = {};
  const labelRgb = input.labels ? colourLabels(input.labels, labelNc) : input.labelRgb;
  // Made with the first input's images, so a run refused before any output leaves OUT empty.
  if (labelRgb || input.photo) await mkdir(join(out, PAGE_IMAGES_DIR), { recursive: true });
  if (labelRgb) {
    files.label = join(PAGE_IMAGES_DIR, `${stem}_label.png`);
    await writePng(join(out, files.label), labelRgb, input.width, input.height, 3);
  }
  if (input.photo) {
    files.real = join(PAGE_IMAGES_DIR, `${stem}_real.png`);
    await writePng(join(out, files.real), input.photo, input.width, input.height, 3);
  }
  return files;
}

/** Writes 8-bit pixels (1 = gray, 3 = RGB, interleaved) as a PNG, atomically. */
export async function writePng(path: string, pixels: Uint8Array, width: number, height: number, channels: number): Promise<void> {
  if (channels !== 1 && channels !== 3 && channels !== 4) throw new UsageError(`cannot write a ${channels}-channel image as PNG (output_nc must be 1, 3 or 4)`);
  const png = await sharp(Buffer.from(pixels.buffer, pixels.byteOffset, pixels.byteLength), { raw: { width, height, channels } }).png().toBuffer();
  await writeFileAtomically(path, png);
}
