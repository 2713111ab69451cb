/**
 * Training data: a folder of sample files (written by preprocess) turned
 * into batches the way the reference's AlignedDataset + DataLoader do it.
 *
 * - Order: per epoch, a shuffle drawn from (seed, epoch), or sorted order
 *   with --serial. The reference drops the last partial batch (its dataset
 *   length is n // batch * batch); so do we.
 * - Augmentation (reference get_params): a crop position x, y and a flip
 *   coin per sample, drawn from (seed, epoch, position in the epoch). The
 *   crop to fine_size x fine_size applies where the sample's resize mode ends
 *   in "crop"; the flip unless --no-flip.
 * - Edges are recomputed on the cropped (and flipped) instance map, as the
 *   reference's get_edges runs on the transformed map.
 * - The network input is concat(one-hot(label), edges) in NHWC; label_nc 0
 *   means an RGB label image scaled to [-1, 1]. Photos are scaled to [-1, 1]
 *   with torchvision's float32 arithmetic: (x / 255 - 0.5) / 0.5.
 *
 * Randomness is a pure function of (seed, epoch, position), so resuming at
 * any step reproduces the order and the crops of an uninterrupted run with
 * no generator state to save.
 *
 * Sizes the generator cannot take: G needs H and W to be multiples of
 * 2^(n_downsample_global [+ n_local_enhancers]), and E (--instance-feat)
 * of 2^n_downsample_E (the model's inputSizeMultiple). A sample (after the
 * fine_size crop, if any) that is not is trimmed to the largest such size by
 * a centred crop of the excess (at most multiple - 1 pixels per side pair),
 * and training says so once. A sample smaller than the multiple is refused
 * up front (exit 3, naming the file); so are samples of different sizes in
 * one batch (--batch-size > 1 needs equal sizes after cropping).
 */
import { promises as fsp } from 'node:fs';
import { basename, join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { InputError, UsageError } from '../errors.js';
import { instanceEdges } from '../data/datasets/labels.js';
import { featureMapAtSize, featureMapPath, readFeatureMap } from '../data/files/featureMap.js';
import { readSample, type LoadedSample } from '../data/datasets/sample.js';
import type { TrainingResize } from '../families/checkpoint.js';
import { readTensorFileHeader } from '../data/files/tensorFile.js';
import { Random } from '../model/random.js';

/** What training needs to know about one sample file before reading it whole. */
export interface SampleInfo {
  path: string;
  labelNc: number;
  height: number;
  width: number;
  hasInstance: boolean;
  hasImage: boolean;
  /** The resize mode recorded by preprocess, and the crop side for the *crop modes. */
  mode: string;
  fineSize: number;
  /** preprocess's --load-size (0 where the mode has none). */
  loadSize: number;
}

export interface SampleFolder {
  dir: string;
  samples: SampleInfo[];
  labelNc: number;
  instance: boolean;
}

/** Lists and checks the samples of a preprocess output folder. */
export async function openSampleFolder(dir: string): Promise<SampleFolder> {
  let entries: string[];
  try {
    entries = await fsp.readdir(dir);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new UsageError(`--data ${dir}: ${code === 'ENOENT' ? 'no such folder' : code === 'ENOTDIR' ? 'not a folder' : `cannot read (${code})`}`);
  }
  const files = entries.filter((name) => name.endsWith('.safetensors') && !name.startsWith('.')).sort();
  if (files.length === 0) throw new InputError(`--data ${dir}: holds no .safetensors sample files (write them with p2phd preprocess)`);
  const samples: SampleInfo[] = [];
  for (const name of files) {
    const path = join(dir, name);
    const { p2phd, tensors } = await readTensorFileHeader(path, 'sample');
    if (p2phd['aligned'] === true) throw new InputError(`${path}: is an aligned A|B (pix2pix) sample, not a label/photo sample (train it with p2phd train pix2pix)`);
    const names = tensors.map((tensor) => tensor.name);
    const size = p2phd['size'];
    const labelNc = p2phd['label_nc'];
    if (!Array.isArray(size) || size.length !== 2 || typeof labelNc !== 'number') {
      throw new InputError(`${path}: sample metadata lacks label_nc or size`);
    }
    const resize = (p2phd['resize'] ?? {}) as Record<string, unknown>;
    samples.push({
      path,
      labelNc,
      height: size[0] as number,
      width: size[1] as number,
      hasInstance: names.includes('inst'),
      hasImage: names.includes('image'),
      mode: typeof resize['mode'] === 'string' ? resize['mode'] : 'none',
      fineSize: typeof resize['fine_size'] === 'number' ? resize['fine_size'] : 0,
      loadSize: typeof resize['load_size'] === 'number' && (resize['mode'] === 'scale_width' || resize['mode'] === 'scale_width_and_crop' || resize['mode'] === 'resize_and_crop') ? resize['load_size'] : 0,
    });
  }
  const first = samples[0]!;
  for (const sample of samples) {
    if (sample.labelNc !== first.labelNc) {
      throw new InputError(`${sample.path}: label_nc ${sample.labelNc} differs from ${first.path}'s ${first.labelNc}; one run trains on one label set`);
    }
    if (sample.hasInstance !== first.hasInstance) {
      throw new InputError(`${sample.path}: ${sample.hasInstance ? 'has' : 'lacks'} an instance map, unlike ${first.path}`);
    }
    if (!sample.hasImage) throw new InputError(`${sample.path}: has no photo ("image" tensor); training needs label/photo pairs`);
  }
  return { dir, samples, labelNc: first.labelNc, instance: first.hasInstance };
}

/**
 * --max-dataset-size N: the first N samples in sorted order (the reference's
 * max_dataset_size only shortens its reported epoch length; here it is the
 * set trained on, so an epoch really is N samples).
 */
export function limitSamples(folder: SampleFolder, maxSize: number | undefined): SampleFolder {
  if (maxSize === undefined || folder.samples.length <= maxSize) return folder;
  return { ...folder, samples: folder.samples.slice(0, maxSize) };
}

/**
 * --load-features DIR: checked before training starts, so a missing map is
 * refused up front rather than at the step that needs it.
 */
export async function checkFeatureMapFolder(dir: string, folder: SampleFolder): Promise<void> {
  let entries: Set<string>;
  try {
    entries = new Set(await fsp.readdir(dir));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new UsageError(`--load-features ${dir}: ${code === 'ENOENT' ? 'no such folder' : code === 'ENOTDIR' ? 'not a folder' : `cannot read (${code})`}`);
  }
  const missing = folder.samples.filter((sample) => !entries.has(basename(sample.path)));
  if (missing.length > 0) {
    throw new InputError(
      `--load-features ${dir}: has no feature map for ${missing.length} of the ${folder.samples.length} samples (first: ${basename(missing[0]!.path)}); write them with p2phd encode --maps ${dir}`,
    );
  }
}

/** How the folder's samples were resized, and their median size: recorded in checkpoints for synthesize's scale check. */
export function trainingResize(folder: SampleFolder): TrainingResize {
  const median = (values: number[]): number => values.sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)]!;
  const first = folder.samples[0]!;
  return {
    mode: first.mode,
    loadSize: first.loadSize,
    width: median(folder.samples.map((sample) => sample.width)),
    height: median(folder.samples.map((sample) => sample.height)),
  };
}

/** Whether preprocess's resize mode leaves the crop to training. */
export function modeCrops(mode: string): boolean {
  return mode.endsWith('crop');
}

export interface CropPlan {
  x: number;
  y: number;
  width: number;
  height: number;
  flip: boolean;
}

type CropInfo = Pick<SampleInfo, 'height' | 'width' | 'mode' | 'fineSize'>;

/**
 * The size a sample trains at before the trim to the size multiple: its
 * fine_size crop (at most the sample) in the *crop modes, else all of it.
 */
export function trainingCropSize(info: CropInfo): { width: number; height: number } {
  if (!(modeCrops(info.mode) && info.fineSize > 0)) return { width: info.width, height: info.height };
  return { width: Math.min(info.fineSize, info.width), height: Math.min(info.fineSize, info.height) };
}

/**
 * The crop and flip of one sample. Draws x, y, flip in the reference's
 * order (get_params), always, so the stream does not depend on the mode.
 */
export function planCrop(info: CropInfo, multiple: number, random: Random, allowFlip: boolean): CropPlan {
  // random.randint(0, max(0, size - fine)) is inclusive.
  const x = random.nextInt(Math.max(0, info.width - info.fineSize) + 1);
  const y = random.nextInt(Math.max(0, info.height - info.fineSize) + 1);
  const flip = random.nextFloat() > 0.5;
  // Without a crop, the crop is the whole sample and x, y clamp to 0.
  const { width, height } = trainingCropSize(info);
  const plan = fitToMultiple({ x: Math.min(x, info.width - width), y: Math.min(y, info.height - height), width, height, flip }, multiple);
  return { ...plan, flip: allowFlip && flip };
}

/** Trims a crop to the largest multiple of `multiple` per side, centred. */
export function fitToMultiple(plan: CropPlan, multiple: number): CropPlan {
  const height = Math.floor(plan.height / multiple) * multiple;
  const width = Math.floor(plan.width / multiple) * multiple;
  return {
    ...plan,
    x: plan.x + Math.floor((plan.width - width) / 2),
    y: plan.y + Math.floor((plan.height - height) / 2),
    width,
    height,
  };
}

/**
 * Checks up front that G can take every sample (after its crop and the trim
 * to `multiple`: at least `minimumSide` per side, families/pix2pixhd/config.ts's
 * generatorMinimumSide) and, when `uniform` (batches above 1, or an image
 * pool), that all train at one size. Returns the first sample's training size.
 */
export function checkTrainingSizes(
  folder: SampleFolder,
  sizes: { multiple: number; minimumSide: number },
  uniform: { batchSize: number; poolSize: number },
  warn: (line: string) => void,
): { height: number; width: number } {
  const { multiple, minimumSide } = sizes;
  const needOneSize = uniform.batchSize > 1 || uniform.poolSize > 0;
  let size: { height: number; width: number; path: string } | undefined;
  let trimmed: string | undefined;
  for (const sample of folder.samples) {
    const { width, height } = trainingCropSize(sample);
    const fitted = fitToMultiple({ x: 0, y: 0, width, height, flip: false }, multiple);
    if (fitted.height < minimumSide || fitted.width < minimumSide) {
      throw new InputError(
        `${sample.path}: ${width}x${height} is too small: the networks need sides of at least ${minimumSide} that are multiples of ${multiple} ` +
          '(2^downsamplings, and 2 pixels at the bottleneck for the residual blocks\' reflection pad); preprocess at a larger size or use fewer downsamplings',
      );
    }
    if ((fitted.height !== height || fitted.width !== width) && trimmed === undefined) {
      trimmed = `${sample.path} is ${width}x${height}: the networks need sides that are multiples of ${multiple}, so training uses centred ${fitted.width}x${fitted.height} crops of such samples`;
    }
    if (size && needOneSize && (size.height !== fitted.height || size.width !== fitted.width)) {
      throw new InputError(
        `${sample.path}: trains at ${fitted.width}x${fitted.height} but ${size.path} at ${size.width}x${size.height}; ` +
          `--batch-size ${uniform.batchSize} and --pool-size ${uniform.poolSize} need one size (preprocess with a crop mode, or use --batch-size 1 and --pool-size 0)`,
      );
    }
    size ??= { height: fitted.height, width: fitted.width, path: sample.path };
  }
  if (trimmed) warn(trimmed);
  return { height: size!.height, width: size!.width };
}

/** One batch, NHWC, ready to become tensors. */
export interface Batch {
  count: number;
  height: number;
  width: number;
  /** concat(one-hot labels | RGB label, edges): [count, H, W, inputChannels]. */
  input: Float32Array;
  inputChannels: number;
  /** Photos in [-1, 1]: [count, H, W, 3]. */
  image: Float32Array;
  /** Instance ids [count, H, W] (for the encoder's instance-wise pooling), when the samples have them. */
  inst?: Int32Array;
  /** Label ids [count, H, W], for the encoder's per-label pooling (--label-feat). */
  labelIds?: Int32Array;
  /** Precomputed feature maps [count, H, W, featNum] (--load-features), cropped and flipped as the labels. */
  features?: Float32Array;
  /** Class ids of the first sample (or its RGB label), for sample strips. */
  firstLabel: { ids?: Uint8Array | Uint16Array; rgb?: Uint8Array };
}

/** (x / 255 - 0.5) / 0.5 in float32 steps, as torchvision's ToTensor + Normalize. */
const UNIT_TO_SIGNED: Float32Array = (() => {
  const table = new Float32Array(256);
  for (let value = 0; value < 256; value++) table[value] = Math.fround(Math.fround(Math.fround(value / 255) - 0.5) / 0.5);
  return table;
})();

function cropMap<T extends Uint8Array | Uint16Array | Int32Array | Float32Array>(map: T, sourceWidth: number, plan: CropPlan, channels: number): T {
  const out = new (map.constructor as new (length: number) => T)(plan.width * plan.height * channels);
  for (let row = 0; row < plan.height; row++) {
    for (let col = 0; col < plan.width; col++) {
      const sourceCol = plan.flip ? plan.x + plan.width - 1 - col : plan.x + col;
      const from = ((plan.y + row) * sourceWidth + sourceCol) * channels;
      const to = (row * plan.width + col) * channels;
      for (let c = 0; c < channels; c++) out[to + c] = map[from + c]!;
    }
  }
  return out;
}

/** Writes one cropped sample into the batch arrays at position `b`. */
function fillBatchItem(batch: Batch, b: number, sample: LoadedSample, plan: CropPlan, labelNc: number, instance: boolean, featureMap: Float32Array | undefined): void {
  const { height, width, inputChannels } = batch;
  const pixels = height * width;
  const inputBase = b * pixels * inputChannels;
  if (labelNc > 0) {
    const ids = cropMap(sample.label!, sample.width, plan, 1);
    for (let p = 0; p < pixels; p++) batch.input[inputBase + p * inputChannels + ids[p]!] = 1;
    if (b === 0) batch.firstLabel = { ids };
    batch.labelIds?.set(ids, b * pixels);
  } else {
    const rgb = cropMap(sample.labelRgb!, sample.width, plan, 3);
    for (let p = 0; p < pixels; p++) {
      for (let c = 0; c < 3; c++) batch.input[inputBase + p * inputChannels + c] = UNIT_TO_SIGNED[rgb[p * 3 + c]!]!;
    }
    if (b === 0) batch.firstLabel = { rgb };
  }
  if (instance) {
    const inst = cropMap(sample.inst!, sample.width, plan, 1);
    const edges = instanceEdges(inst, width, height);
    const edgeChannel = inputChannels - 1;
    for (let p = 0; p < pixels; p++) batch.input[inputBase + p * inputChannels + edgeChannel] = edges[p]!;
    batch.inst!.set(inst, b * pixels);
  }
  if (featureMap && batch.features) {
    const channels = batch.features.length / (batch.count * pixels);
    batch.features.set(cropMap(featureMap, sample.width, plan, channels), b * pixels * channels);
  }
  const photo = cropMap(sample.image!, sample.width, plan, 3);
  const imageBase = b * pixels * 3;
  for (let i = 0; i < pixels * 3; i++) batch.image[imageBase + i] = UNIT_TO_SIGNED[photo[i]!]!;
}

export interface LoaderOptions {
  seed: number;
  batchSize: number;
  serial: boolean;
  flip: boolean;
  /** What H and W must be multiples of: the model's inputSizeMultiple (G's, and E's with --instance-feat). */
  multiple: number;
  /** --label-feat: batches carry the label ids for E's per-label pooling. */
  labelIds?: boolean;
  /** --load-features: the folder of feature maps, and their channels (feat_num). */
  featureMaps?: { dir: string; featNum: number };
}

/** Steps per epoch: the reference drops the last partial batch. */
export function stepsPerEpoch(folder: SampleFolder, batchSize: number): number {
  return Math.floor(folder.samples.length / batchSize);
}

/** The sample order of `epoch` (1-based). */
export function epochOrder(count: number, epoch: number, seed: number, serial: boolean): number[] {
  const order = Array.from({ length: count }, (_, i) => i);
  return serial ? order : Random.forLabel(seed, `data-order/epoch-${epoch}`).shuffle(order);
}

/**
 * Builds batch (epoch, index): reads the samples, plans each crop from
 * (seed, epoch, position), and fills the arrays. Pure given the files, so
 * the worker and the in-thread fallback produce identical batches.
 */
export async function buildBatch(folder: SampleFolder, options: LoaderOptions, order: readonly number[], epoch: number, index: number): Promise<Batch> {
  const { batchSize, multiple, seed, flip } = options;
  const { labelNc, instance } = folder;
  const positions = Array.from({ length: batchSize }, (_, b) => index * batchSize + b);
  const loaded = await Promise.all(positions.map((position) => readSample(folder.samples[order[position]!]!.path)));
  const maps = options.featureMaps ? await Promise.all(loaded.map((sample) => loadFeatureMapFor(sample, options.featureMaps!))) : undefined;
  const plans = positions.map((position, b) => {
    const sample = loaded[b]!;
    const info = folder.samples[order[position]!]!;
    const random = Random.forLabel(seed, `augment/epoch-${epoch}/position-${position}`);
    return planCrop({ ...info, height: sample.height, width: sample.width }, multiple, random, flip);
  });
  const { height, width } = plans[0]!;
  const inputChannels = (labelNc > 0 ? labelNc : 3) + (instance ? 1 : 0);
  const pixels = height * width;
  const batch: Batch = {
    count: batchSize,
    height,
    width,
    input: new Float32Array(batchSize * pixels * inputChannels),
    inputChannels,
    image: new Float32Array(batchSize * pixels * 3),
    inst: instance ? new Int32Array(batchSize * pixels) : undefined,
    labelIds: options.labelIds ? new Int32Array(batchSize * pixels) : undefined,
    features: options.featureMaps ? new Float32Array(batchSize * pixels * options.featureMaps.featNum) : undefined,
    firstLabel: {},
  };
  plans.forEach((plan, b) => {
    const sample = loaded[b]!;
    if (plan.height !== height || plan.width !== width) {
      throw new InputError(`${sample.source}: crops to ${plan.width}x${plan.height}, not the ${width}x${height} of the rest of the batch`);
    }
    fillBatchItem(batch, b, sample, plan, labelNc, instance, maps?.[b]);
  });
  return batch;
}

/** The --load-features map of one sample at the sample's size, checked against feat_num. */
async function loadFeatureMapFor(sample: LoadedSample, featureMaps: { dir: string; featNum: number }): Promise<Float32Array> {
  const path = featureMapPath(featureMaps.dir, sample.source);
  const map = await readFeatureMap(path);
  if (map.featNum !== featureMaps.featNum) {
    throw new InputError(`${path}: holds ${map.featNum} feature channels, but the model takes feat_num ${featureMaps.featNum}`);
  }
  return featureMapAtSize(map, sample.height, sample.width, path);
}

/** The last epoch's order, recomputed only when the epoch changes. */
export class EpochOrders {
  private epoch = 0;
  private order: number[] = [];

  constructor(private readonly count: number, private readonly seed: number, private readonly serial: boolean) {}

  of(epoch: number): number[] {
    if (epoch !== this.epoch) {
      this.order = epochOrder(this.count, epoch, this.seed, this.serial);
      this.epoch = epoch;
    }
    return this.order;
  }
}

/** What the batch worker receives at start-up. */
export interface BatchWorkerData {
  folder: SampleFolder;
  options: LoaderOptions;
}

/** A request to the worker and its answer (errors travel as their class name, message and exit code). */
export interface BatchRequest {
  id: number;
  epoch: number;
  index: number;
}
export type BatchReply = { id: number; batch: Batch } | { id: number; error: { name: string; message: string; stack?: string } };

/** The arrays of a batch, moved (not copied) between threads. */
export function batchTransferList(batch: Batch): ArrayBuffer[] {
  const buffers = [batch.input.buffer, batch.image.buffer];
  if (batch.inst) buffers.push(batch.inst.buffer);
  if (batch.labelIds) buffers.push(batch.labelIds.buffer);
  if (batch.features) buffers.push(batch.features.buffer);
  return buffers as ArrayBuffer[];
}

/**
 * Batches by (epoch, index in epoch). `prefetch` starts preparing a batch
 * ahead. With `worker` (the default), reading, decoding and augmentation run
 * on a worker thread, truly in parallel with the synchronous training step
 * on the main thread; otherwise only the file reads overlap it.
 */
export class BatchLoader {
  private readonly orders: EpochOrders;
  private pending: { key: string; batch: Promise<Batch> } | undefined;
  private worker: Worker | undefined;
  private nextId = 0;
  private readonly waiting = new Map<number, { resolve: (batch: Batch) => void; reject: (error: Error) => void }>();

  constructor(readonly folder: SampleFolder, readonly options: LoaderOptions & { worker?: boolean }) {
    this.orders = new EpochOrders(folder.samples.length, options.seed, options.serial);
  }

  /** Starts preparing the batch (epoch, index) if it is not already under way. */
  prefetch(epoch: number, index: number): void {
    const key = `${epoch}/${index}`;
    if (this.pending?.key === key) return;
    const batch = this.options.worker === false ? buildBatch(this.folder, this.options, this.orders.of(epoch), epoch, index) : this.requestFromWorker(epoch, index);
    // A prefetched batch that is never awaited must not become an unhandled rejection.
    batch.catch(() => undefined);
    this.pending = { key, batch };
  }

  async batch(epoch: number, index: number): Promise<Batch> {
    this.prefetch(epoch, index);
    const batch = this.pending!.batch;
    this.pending = undefined;
    return batch;
  }

  /** Stops the worker (the process would otherwise stay alive for it). */
  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    if (worker) await worker.terminate();
  }

  private requestFromWorker(epoch: number, index: number): Promise<Batch> {
    if (!this.worker) {
      const workerData: BatchWorkerData = { folder: this.folder, options: { ...this.options } };
      this.worker = new Worker(join(__dirname, 'batchWorker.js'), { workerData });
      this.worker.on('message', (reply: BatchReply) => {
        const waiter = this.waiting.get(reply.id);
        if (!waiter) return;
        this.waiting.delete(reply.id);
        if ('batch' in reply) waiter.resolve(reply.batch);
        else waiter.reject(reviveError(reply.error));
      });
      this.worker.on('error', (error) => {
        for (const waiter of this.waiting.values()) waiter.reject(error);
        this.waiting.clear();
      });
    }
    const id = this.nextId++;
    const request: BatchRequest = { id, epoch, index };
    return new Promise<Batch>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.worker!.postMessage(request);
    });
  }
}

/** Rebuilds a worker's error as the class the CLI maps to an exit code. */
function reviveError(error: { name: string; message: string; stack?: string }): Error {
  const revived = error.name === 'InputError' ? new InputError(error.message) : error.name === 'UsageError' ? new UsageError(error.message) : new Error(error.message);
  if (error.stack) revived.stack = error.stack;
  return revived;
}
