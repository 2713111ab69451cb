/**
 * `p2phd edit` as a library call: the model loaded once in the inference
 * thread, the input read, the starting state built (maps and a complete
 * set of styles, drawn as synthesize draws them for the same --seed), the
 * server started. Returns the URL and a close().
 */
import { statSync } from 'node:fs';
import { basename, extname } from 'node:path';
import { UsageError } from '../errors.js';
import { readRgbImage } from '../data/formats/image.js';
import { splitColumns } from '../data/datasets/aligned.js';
import { openAlignedSampleFolder, readAlignedSample } from '../data/datasets/alignedSample.js';
import { pix2pixMinimumSide, pix2pixSizeMultiple } from '../families/pix2pix/config.js';
import type { Pix2pixTestMode } from '../families/pix2pix/inference.js';
import { paddingFor } from '../synthesis/padding.js';
import { distinctColours } from './shared/paintRgb.js';
import type { Logger } from '../log.js';
import { createOutputFolder } from '../data/formats/atomicWrite.js';
import { defaultClasses, readClassNames, type ClassInfo } from '../data/datasets/classNames.js';
import { labelPalette } from '../data/datasets/palette.js';
import { Random } from '../model/random.js';
import { listInputItems, type InputSource } from '../synthesis/inputs.js';
import { loadAssets } from './assets.js';
import { RenderThread, type Pix2pixModelInfo } from './renderThread.js';
import { startEditorServer, type EditorServer, type LabelState } from './server.js';
import { INSTANCE_FACTOR, MAX_INSTANCE_ID, type ClassEntry, type StyleUnit } from './shared/protocol.js';

export interface EditorConfig {
  readonly checkpoint: string;
  readonly clusters?: string;
  /** pix2pixHD models: the maps (--labels/--instances or --data); pix2pix models: --data, an aligned sample file or folder. */
  readonly inputs?: InputSource;
  /** pix2pix models: the A image (--image), or an A|B file with `aligned`. */
  readonly image?: { readonly path: string; readonly aligned: boolean; readonly direction?: 'AtoB' | 'BtoA' };
  /** pix2pix models: the test mode renders use (default no-dropout: --dropout off). */
  readonly pix2pixMode?: Pix2pixTestMode;
  readonly out: string;
  readonly classNames?: string;
  /** 127.0.0.1 unless the user named another address. */
  readonly host: string;
  readonly port: number;
  /** The --backend choice (the inference thread initialises it). */
  readonly backend: string;
  readonly wasmThreads: number;
  readonly seed: number;
}

export interface RunningEditor {
  readonly url: string;
  readonly port: number;
  /** Rejects (after closing the server) if the inference thread dies; never resolves otherwise. */
  readonly failure: Promise<never>;
  close(): Promise<void>;
}

/** Preview renders are this many times smaller per side (full resolution when the image is small already). */
export function previewScaleFor(width: number, height: number): number {
  if (width * height >= 512 * 256) return 4;
  return width >= 64 && height >= 32 ? 2 : 1;
}

/** pix2pix: G pads to its size multiple, so a smaller preview helps only when its padded size is smaller. */
export function pix2pixPreviewScale(width: number, height: number, multiple: number, minimum: number): number {
  const paddedArea = (w: number, h: number): number => {
    const padding = paddingFor(h, w, multiple, minimum);
    return (w + padding.left + padding.right) * (h + padding.top + padding.bottom);
  };
  const scale = previewScaleFor(width, height);
  return scale > 1 && paddedArea(Math.floor(width / scale), Math.floor(height / scale)) < paddedArea(width, height) ? scale : 1;
}

/** How synthesize names a test mode with its flags. */
export const PIX2PIX_MODE_FLAGS: Readonly<Record<Pix2pixTestMode, string>> = Object.freeze({ 'no-dropout': '--dropout off', eval: '--eval', reference: '--dropout on' });

/** Palette entries offered from the A image's own colours. */
const MAX_PALETTE_COLOURS = 64;

/** The A image to paint (RGB bytes), its real B when the input holds one, the stem, and the files read. */
async function readPix2pixInput(config: EditorConfig, model: Pix2pixModelInfo): Promise<{ rgb: Uint8Array; real?: Uint8Array; width: number; height: number; stem: string; files: string[] }> {
  const toRgb = (bytes: Uint8Array, channels: number): Uint8Array => (channels === 3 ? bytes : Uint8Array.from({ length: bytes.length * 3 }, (_v, i) => bytes[Math.floor(i / 3)]!));
  if (config.image !== undefined) {
    const { path, aligned } = config.image;
    const image = await readRgbImage(path);
    const stem = basename(path, extname(path));
    if (!aligned) return { rgb: image.data, width: image.width, height: image.height, stem, files: [path] };
    const split = splitColumns(image.width);
    const width = split.a[1];
    const columns = (start: number): Uint8Array => {
      const out = new Uint8Array(width * image.height * 3);
      for (let y = 0; y < image.height; y++) out.set(image.data.subarray((y * image.width + start) * 3, (y * image.width + start + width) * 3), y * width * 3);
      return out;
    };
    const [a, b] = (config.image.direction ?? model.direction) === 'AtoB' ? [columns(0), columns(split.b[0])] : [columns(split.b[0]), columns(0)];
    return { rgb: a, real: b, width, height: image.height, stem, files: [path] };
  }
  const data = config.inputs?.kind === 'samples' ? config.inputs.data : undefined;
  if (data === undefined) throw new UsageError(`${model.source}: a pix2pix model paints an A image: give --image FILE (an A|B file with --aligned) or --data SAMPLE (from preprocess --aligned)`);
  let path = data;
  let isFolder = false;
  try {
    isFolder = statSync(data).isDirectory();
  } catch {
    throw new UsageError(`--data ${data}: no such file or folder`);
  }
  if (isFolder) {
    const folder = await openAlignedSampleFolder(data);
    path = folder.samples[0]!.path;
  }
  const sample = await readAlignedSample(path);
  return { rgb: toRgb(sample.a, sample.aChannels), real: toRgb(sample.b, sample.bChannels), width: sample.width, height: sample.height, stem: basename(path, extname(path)), files: [path] };
}

/**
 * Instance ids that do not belong to their pixel's label (a stand-in or a
 * foreign map) become the label itself; counted so the caller can warn.
 */
function normaliseInstances(labels: Uint16Array, instances: Int32Array): number {
  let fixed = 0;
  for (let p = 0; p < labels.length; p++) {
    const label = labels[p]!;
    const instance = instances[p]!;
    const ok = instance >= 0 && instance <= MAX_INSTANCE_ID && (instance < INSTANCE_FACTOR ? instance === label : Math.floor(instance / INSTANCE_FACTOR) === label);
    if (!ok) {
      instances[p] = label;
      fixed++;
    }
  }
  return fixed;
}

export async function startEditor(config: EditorConfig, log: Logger): Promise<RunningEditor> {
  createOutputFolder(config.out, '--out');
  const assets = loadAssets();
  const thread = await RenderThread.start(
    {
      checkpoint: config.checkpoint,
      backend: config.backend,
      wasmThreads: config.wasmThreads,
      pix2pixMode: config.pix2pixMode ?? 'no-dropout',
      seed: config.seed,
      ...(config.clusters !== undefined ? { clusters: config.clusters } : {}),
    },
    (line, warning) => (warning ? log.warn(line.replace(/^warning: /, '')) : log.info(line)),
  );
  try {
    const started = thread.model.family === 'pix2pix' ? await startPix2pixServer(config, thread.model, assets, thread, log) : await startLabelServer(config, thread, assets, log);
    return running(started, thread, log);
  } catch (error) {
    await thread.close();
    throw error;
  }
}

function running(server: EditorServer, thread: RenderThread, log: Logger): RunningEditor {
  const failure = new Promise<never>((_resolve, reject) => {
    thread.onUnexpectedExit((error) => {
      log.warn(`edit: the inference thread ended (${error.message}); closing the editor`);
      void server.close().finally(() => reject(error));
    });
  });
  return {
    url: server.url,
    port: server.port,
    failure,
    close: async () => {
      await server.close();
      await thread.close();
    },
  };
}

/** A pix2pix session: the A image painted in RGB, the output G's in the chosen test mode. */
async function startPix2pixServer(config: EditorConfig, model: Pix2pixModelInfo, assets: ReturnType<typeof loadAssets>, thread: RenderThread, log: Logger): Promise<EditorServer> {
  if (config.clusters !== undefined) log.warn(`${model.source}: a pix2pix model has no styles; --clusters ignored`);
  if (config.classNames !== undefined) log.warn(`${model.source}: a pix2pix model paints colours; --class-names ignored`);
  if (config.inputs?.kind === 'files') throw new UsageError(`${model.source}: is a pix2pix model: give --image FILE (the A image) or --data SAMPLE, not --labels`);
  const input = await readPix2pixInput(config, model);
  const mode = config.pix2pixMode ?? 'no-dropout';
  log.info(`edit: pix2pix, G ${model.config.netG}, test mode ${PIX2PIX_MODE_FLAGS[mode]} (synthesize --inputs with the same flag gives the same pixels)`);
  return startEditorServer({
    host: config.host,
    port: config.port,
    out: config.out,
    stem: input.stem,
    labelNc: 0,
    classes: [],
    styleUnit: 'none',
    previewScale: pix2pixPreviewScale(input.width, input.height, pix2pixSizeMultiple(model.config), pix2pixMinimumSide(model.config)),
    backend: model.backend,
    initial: { width: input.width, height: input.height, rgb: input.rgb },
    pix2pix: { colours: distinctColours(input.rgb, MAX_PALETTE_COLOURS), mode: PIX2PIX_MODE_FLAGS[mode], ...(input.real ? { real: input.real } : {}) },
    protectedPaths: [config.checkpoint, ...input.files],
    assets,
    render: (request) => thread.render(request),
    log,
  });
}

async function startLabelServer(config: EditorConfig, thread: RenderThread, assets: ReturnType<typeof loadAssets>, log: Logger): Promise<EditorServer> {
  const model = thread.model;
  if (model.family !== 'pix2pixhd') throw new Error('startLabelServer: a pix2pixHD model expected');
  if (config.image !== undefined) throw new UsageError(`${model.source}: is a pix2pixHD model: it takes --labels (and --instances) or --data, not --image`);
  if (config.inputs === undefined) throw new UsageError('give the inputs: --labels GLOB [--instances GLOB] or --data DIR (sample files)');
  {
    const { arch } = model;
    if (arch.label_nc === 0) throw new UsageError(`${model.source}: the model takes colour label maps (label_nc 0); p2phd edit paints class ids`);
    if (arch.instance_feat && config.clusters === undefined) {
      throw new UsageError(`${model.source}: the model was trained with instance features; give --clusters FILE (from p2phd cluster)`);
    }
    if (!arch.instance_feat && config.clusters !== undefined) log.warn(`${model.source}: the model has no instance features; --clusters ignored`);
    const classInfo: ClassInfo[] = config.classNames !== undefined ? await readClassNames(config.classNames, arch.label_nc) : defaultClasses(arch.label_nc);
    const tooLarge = classInfo.findIndex((info, id) => info.thing && id * INSTANCE_FACTOR + INSTANCE_FACTOR - 1 > MAX_INSTANCE_ID);
    if (tooLarge >= 0) throw new UsageError(`--class-names ${config.classNames}: class ${tooLarge} cannot be a thing class (its instance ids would pass ${MAX_INSTANCE_ID})`);
    const palette = labelPalette(arch.label_nc);
    const styleUnit: StyleUnit = !arch.instance_feat ? 'none' : arch.label_feat ? 'label' : 'instance';
    const classes: ClassEntry[] = classInfo.map((info, id) => ({
      id,
      name: info.name,
      thing: info.thing,
      colour: [palette[id * 3]!, palette[id * 3 + 1]!, palette[id * 3 + 2]!],
      styles: styleUnit === 'none' ? 0 : (model.clusterCounts.get(id) ?? 0),
    }));

    const items = listInputItems(config.inputs, arch.label_nc);
    if (items.length > 1) log.warn(`${items.length} inputs given; editing the first, ${items[0]!.source}`);
    const item = items[0]!;
    const input = await item.load();
    if (!input.labels) throw new UsageError(`${input.source}: has no label ids to edit`);
    const labels = Uint16Array.from(input.labels);
    const instances = input.instanceMap ? Int32Array.from(input.instanceMap) : Int32Array.from(input.labels);
    const fixed = normaliseInstances(labels, instances);
    if (fixed > 0) log.warn(`${input.source}: ${fixed} pixel(s) had instance ids of another class; they now hold their class id`);

    // Complete styles, drawn as synthesize --style random draws them for this stem and --seed.
    const styles = new Map<number, number>();
    if (styleUnit !== 'none') {
      const random = Random.forLabel(config.seed, item.stem);
      const ids = [...new Set(styleUnit === 'label' ? labels : instances)].sort((a, b) => a - b);
      for (const id of ids) {
        const count = classes[id < INSTANCE_FACTOR ? id : Math.floor(id / INSTANCE_FACTOR)]?.styles ?? 0;
        if (count > 0) styles.set(id, random.nextInt(count));
      }
    }
    const initial: LabelState = { width: input.width, height: input.height, labels, instances, styles };
    const protectedPaths = [config.checkpoint, ...(config.clusters !== undefined ? [config.clusters] : []), ...config.classNames !== undefined ? [config.classNames] : [], ...item.files];
    return startEditorServer({
      host: config.host,
      port: config.port,
      out: config.out,
      stem: item.stem,
      labelNc: arch.label_nc,
      classes,
      styleUnit,
      previewScale: previewScaleFor(input.width, input.height),
      backend: thread.model.backend,
      initial,
      protectedPaths,
      assets,
      render: (request) => thread.render(request),
      log,
    });
  }
}
