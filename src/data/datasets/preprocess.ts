/**
 * Preprocessing: raw label / instance / photo files -> sample files, the
 * reference's aligned_dataset loading done once ahead of training.
 *
 * Per pair: the label and instance PNGs are decoded exactly (png.ts), checked
 * to have one size, resized by nearest sampling, label ids range-checked, and
 * edges computed on the resized instance map; the photo is decoded and
 * resized bicubically (image.ts). Pairs run a few at a time: zlib inflate
 * runs on libuv's thread pool and sharp on its own threads, so both cores
 * work while the main thread unfilters and samples the maps.
 */
import { createOutputFolder } from '../formats/atomicWrite.js';
import { join } from 'node:path';
import { InputError } from '../../errors.js';
import { readIdMap, readIdMapResized } from '../formats/png.js';
import { readRgbImage } from '../formats/image.js';
import { checkTargetSize, targetSize, type ResizeSettings } from './resize.js';
import { nearestIndices, type Size } from '../formats/nearest.js';
import { checkLabelRange, instanceEdges, oneHot } from './labels.js';
import { writeSample, type Sample, type SampleMetadata } from './sample.js';
import type { InputPair } from './inputs.js';

export interface PreprocessConfig {
  pairs: InputPair[];
  /** Output file name of each pair (same order). */
  outputNames: string[];
  outDir: string;
  /** 0: the label maps are colour images (label_rgb). */
  labelNc: number;
  onehot: boolean;
  resize: ResizeSettings;
  /** Pairs processed at once. */
  concurrency: number;
}

export interface PreprocessedSample {
  path: string;
  sources: InputPair;
  size: [number, number];
  sourceSize: [number, number];
}

function sameSize(a: Size, b: Size): boolean {
  return a.width === b.width && a.height === b.height;
}

function sizeMismatch(file: string, size: Size, reference: string, referenceSize: Size): InputError {
  return new InputError(
    `${file}: is ${size.width}x${size.height} but its label map ${reference} is ${referenceSize.width}x${referenceSize.height} (paired files must have one size)`,
  );
}

/** Widens 16-bit ids to the I32 the sample schema stores. */
function toInt32(ids: Uint16Array): Int32Array {
  const out = new Int32Array(ids.length);
  out.set(ids);
  return out;
}

/**
 * Turns one pair into a sample in memory (no file written). `checkSize` sees
 * each file's size after the resize, before its pixels are decoded (e.g.
 * synthesize's memory check).
 */
export async function buildSample(
  pair: InputPair,
  labelNc: number,
  withOnehot: boolean,
  settings: ResizeSettings,
  checkSize?: (target: Size, source: string) => void,
): Promise<{ sample: Sample; sourceSize: Size }> {
  const labelIsColour = labelNc === 0;
  const resizeTo = (source: string) => (size: Size): Size => {
    const target = targetSize(size, settings);
    checkTargetSize(target, size, source);
    checkSize?.(target, source);
    return target;
  };
  // All three decode at once: the photo on sharp's threads, the maps'
  // inflate on the thread pool while this thread unfilters and samples them.
  // Each file is resized by its own size; sizes are compared afterwards.
  const [labelMap, labelRgb, instMap, image] = await Promise.all([
    labelIsColour ? undefined : readIdMapResized(pair.label, resizeTo(pair.label), nearestIndices),
    labelIsColour ? readRgbImage(pair.label, { target: resizeTo(pair.label) }) : undefined,
    pair.inst ? readIdMapResized(pair.inst, resizeTo(pair.inst), nearestIndices, { scanMaxId: false }) : undefined,
    pair.image ? readRgbImage(pair.image, { target: resizeTo(pair.image) }) : undefined,
  ]);
  const sourceSize: Size = labelMap?.sourceSize ?? labelRgb!.sourceSize;
  const target = targetSize(sourceSize, settings);
  if (instMap && !sameSize(instMap.sourceSize, sourceSize)) throw sizeMismatch(pair.inst!, instMap.sourceSize, pair.label, sourceSize);
  if (image && !sameSize(image.sourceSize, sourceSize)) throw sizeMismatch(pair.image!, image.sourceSize, pair.label, sourceSize);

  const sample: Sample = { height: target.height, width: target.width, labelNc };
  if (labelMap) {
    if (labelMap.maxId >= labelNc) await reportLabelOutOfRange(pair.label, labelNc);
    sample.label = labelNc > 256 ? labelMap.ids : narrowToBytes(labelMap.ids);
    if (withOnehot) sample.onehot = oneHot(sample.label, labelNc);
  } else {
    sample.labelRgb = labelRgb!.data;
  }
  if (instMap) {
    const inst = toInt32(instMap.ids);
    sample.inst = inst;
    sample.edges = instanceEdges(inst, target.width, target.height);
  }
  if (image) sample.image = image.data;
  return { sample, sourceSize };
}

/** Slow path, only on failure: decodes the whole map to name the first out-of-range pixel. */
async function reportLabelOutOfRange(path: string, labelNc: number): Promise<never> {
  const map = await readIdMap(path);
  checkLabelRange(map.ids, map.width, labelNc, path);
  throw new Error(`${path}: label range check disagreed with the decoder`);
}

function narrowToBytes(ids: Uint16Array): Uint8Array {
  const narrow = new Uint8Array(ids.length);
  narrow.set(ids);
  return narrow;
}

function sampleMetadata(pair: InputPair, labelNc: number, sample: Sample, sourceSize: Size, settings: ResizeSettings): SampleMetadata {
  const sources: SampleMetadata['sources'] = { label: pair.label };
  if (pair.inst) sources.inst = pair.inst;
  if (pair.image) sources.image = pair.image;
  return {
    label_nc: labelNc,
    size: [sample.height, sample.width],
    sources,
    resize: {
      mode: settings.mode,
      load_size: settings.loadSize,
      fine_size: settings.fineSize,
      size_base: settings.sizeBase,
      source_size: [sourceSize.height, sourceSize.width],
      map_filter: 'nearest',
      image_filter: 'bicubic',
    },
  };
}

/** Creates the output folder; a file in its place, a read-only file system or no permission is a usage error. */
export function prepareOutputFolder(outDir: string): void {
  createOutputFolder(outDir, '--out');
}

/**
 * Runs preprocessing over every pair, `concurrency` at a time, writing each
 * sample atomically (an existing file of the same name is replaced).
 * `onDone` is called after each file (progress). Stops at the first error.
 */
export async function preprocess(config: PreprocessConfig, onDone: (result: PreprocessedSample) => void = () => undefined): Promise<PreprocessedSample[]> {
  prepareOutputFolder(config.outDir);
  return runConcurrently(config.pairs.length, config.concurrency, async (index) => {
    const pair = config.pairs[index]!;
    const { sample, sourceSize } = await buildSample(pair, config.labelNc, config.onehot, config.resize);
    const path = join(config.outDir, config.outputNames[index]!);
    await writeSample(path, sample, sampleMetadata(pair, config.labelNc, sample, sourceSize, config.resize));
    const result: PreprocessedSample = {
      path,
      sources: pair,
      size: [sample.height, sample.width],
      sourceSize: [sourceSize.height, sourceSize.width],
    };
    onDone(result);
    return result;
  });
}

/**
 * Runs `task(0..count-1)`, `concurrency` at a time, and returns the results
 * in index order. Stops starting tasks at the first failure, waits for those
 * running (no write left half-way), then throws the first failure.
 */
export async function runConcurrently<T>(count: number, concurrency: number, task: (index: number) => Promise<T>): Promise<T[]> {
  const results: T[] = new Array(count);
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (!failed && next < count) {
      const index = next++;
      try {
        results[index] = await task(index);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  };
  const workers = Array.from({ length: Math.max(1, Math.min(concurrency, count)) }, worker);
  const settled = await Promise.allSettled(workers);
  const failure = settled.find((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected');
  if (failure) throw failure.reason;
  return results;
}
