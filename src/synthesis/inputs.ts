/**
 * Inputs of encode and synthesize: label PNGs (+ instance PNGs, + photos),
 * paired in sorted order, or sample files. Decoding, pairing, size and id
 * checks are preprocess's own (data/datasets/inputs.ts, data/datasets/preprocess.ts,
 * data/datasets/sample.ts), so a file that preprocess accepts is accepted here and
 * one it refuses is refused with the same message. Label maps (and their
 * instance maps and photos) are resized only when asked (synthesize
 * --load-size / --resize-or-crop, preprocess's resize); sample files never.
 */
import { InputError, UsageError } from '../errors.js';
import { globInputLists, listFiles, outputNames, pairInputs, uniqueOutputNames, type InputPair } from '../data/datasets/inputs.js';
import { buildSample } from '../data/datasets/preprocess.js';
import type { ResizeSettings } from '../data/datasets/resize.js';
import type { Size } from '../data/formats/nearest.js';
import { readSample, type Sample } from '../data/datasets/sample.js';

/** Where the inputs come from. */
export type InputSource =
  | { readonly kind: 'files'; readonly labels: string; readonly instances?: string; readonly images?: string }
  | { readonly kind: 'samples'; readonly data: string };

/** The maps of one input, row-major [H, W] (RGB interleaved). */
export interface SynthesisMaps {
  readonly height: number;
  readonly width: number;
  /** Class ids (label_nc > 0). */
  readonly labels?: Uint8Array | Uint16Array;
  /** Colour label map (label_nc = 0). */
  readonly labelRgb?: Uint8Array;
  /** Instance ids; without them the label map stands in (every class region one instance). */
  readonly instanceMap?: Int32Array;
  /** Precomputed instance edges (a sample file's); computed from the instance map otherwise. */
  readonly edges?: Uint8Array;
}

/** One input, decoded, at its own size: its maps, where it came from, and its photo when given. */
export interface LoadedInput extends SynthesisMaps {
  /** Names the input in messages. */
  readonly source: string;
  readonly photo?: Uint8Array;
}

export interface InputItem {
  /** Output file stem: the label (or sample) file's stem. */
  readonly stem: string;
  readonly source: string;
  /** Every file the input is read from (label, instance map, photo; or the sample file). */
  readonly files: readonly string[];
  load(): Promise<LoadedInput>;
}

/** The parts of a decoded sample that encode and synthesize use. */
function loadedInput(source: string, sample: Sample): LoadedInput {
  return {
    source,
    height: sample.height,
    width: sample.width,
    ...(sample.label ? { labels: sample.label } : {}),
    ...(sample.labelRgb ? { labelRgb: sample.labelRgb } : {}),
    ...(sample.inst ? { instanceMap: sample.inst } : {}),
    ...(sample.edges ? { edges: sample.edges } : {}),
    ...(sample.image ? { photo: sample.image } : {}),
  };
}

/** 'crop' resizes nothing at load time (the crop itself is training's). */
const KEEP_SIZE: ResizeSettings = Object.freeze({ mode: 'crop', loadSize: 0, fineSize: 0, sizeBase: 1 });

export interface ListOptions {
  /** How label-map inputs are resized (default: not at all). */
  readonly resize?: ResizeSettings;
  /** Sees each input's size before its pixels are decoded (sample files: after reading). */
  readonly checkSize?: (size: Size, source: string) => void;
}

/** The inputs in sorted order (before sharding), for a model of `labelNc` classes. */
export function listInputItems(source: InputSource, labelNc: number, options: ListOptions = {}): InputItem[] {
  if (source.kind === 'samples') {
    const paths = listFiles(source.data, 'sample files', ['safetensors']);
    const stems = uniqueOutputNames(paths, '', 'sample');
    return paths.map((path, i) => ({
      stem: stems[i]!,
      source: path,
      files: [path],
      load: async () => {
        const sample = await readSample(path);
        if (sample.labelNc !== labelNc) {
          throw new InputError(`${path}: sample has label_nc ${sample.labelNc} but the model was trained with label_nc ${labelNc}`);
        }
        options.checkSize?.({ width: sample.width, height: sample.height }, path);
        return loadedInput(path, sample);
      },
    }));
  }
  // An empty --instances or --images names no list here.
  const pairs: InputPair[] = pairInputs(globInputLists({ labels: source.labels, instances: source.instances || undefined, images: source.images || undefined }));
  const stems = outputNames(pairs, '');
  return pairs.map((pair, i) => ({
    stem: stems[i]!,
    source: pair.label,
    files: [pair.label, ...(pair.inst !== undefined ? [pair.inst] : []), ...(pair.image !== undefined ? [pair.image] : [])],
    load: async () => {
      const { sample } = await buildSample(pair, labelNc, false, options.resize ?? KEEP_SIZE, options.checkSize);
      return loadedInput(pair.label, sample);
    },
  }));
}

/** `--labels` or `--data`, exactly one. */
export function inputSourceFromFlags(flags: { labels?: string; instances?: string; images?: string; data?: string }): InputSource {
  if (flags.data !== undefined && flags.labels !== undefined) throw new UsageError('give either --labels (with --instances) or --data, not both');
  if (flags.data !== undefined) {
    if (flags.instances !== undefined) throw new UsageError('--instances goes with --labels; sample files (--data) hold their instance maps');
    if (flags.images !== undefined) throw new UsageError('--images goes with --labels; sample files (--data) hold their photos');
    return { kind: 'samples', data: flags.data };
  }
  if (flags.labels === undefined) throw new UsageError('give the inputs: --labels GLOB [--instances GLOB] or --data DIR (sample files)');
  return {
    kind: 'files',
    labels: flags.labels,
    ...(flags.instances !== undefined ? { instances: flags.instances } : {}),
    ...(flags.images !== undefined ? { images: flags.images } : {}),
  };
}
