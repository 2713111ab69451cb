/**
 * `p2phd edit` as a library call: the model loaded once in the inference
 * thread, the input read, the starting state built (maps and a complete
 * set of styles, drawn as synthesize draws them for the same --seed), the
 * server started. Returns the URL and a close().
 */
import { UsageError } from '../errors.js';
import type { Logger } from '../log.js';
import { createOutputFolder } from '../data/formats/atomicWrite.js';
import { defaultClasses, readClassNames, type ClassInfo } from '../data/datasets/classNames.js';
import { labelPalette } from '../data/datasets/palette.js';
import { Random } from '../model/random.js';
import { listInputItems, type InputSource } from '../synthesis/inputs.js';
import { loadAssets } from './assets.js';
import { RenderThread } from './renderThread.js';
import { startEditorServer, type EditorState } from './server.js';
import { INSTANCE_FACTOR, MAX_INSTANCE_ID, type ClassEntry, type StyleUnit } from './shared/protocol.js';

export interface EditorConfig {
  readonly checkpoint: string;
  readonly clusters?: string;
  readonly inputs: InputSource;
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
    { checkpoint: config.checkpoint, backend: config.backend, wasmThreads: config.wasmThreads, ...(config.clusters !== undefined ? { clusters: config.clusters } : {}) },
    (line, warning) => (warning ? log.warn(line.replace(/^warning: /, '')) : log.info(line)),
  );
  try {
    const { arch } = thread.model;
    if (arch.label_nc === 0) throw new UsageError(`${thread.model.source}: the model takes colour label maps (label_nc 0); p2phd edit paints class ids`);
    if (arch.instance_feat && config.clusters === undefined) {
      throw new UsageError(`${thread.model.source}: the model was trained with instance features; give --clusters FILE (from p2phd cluster)`);
    }
    if (!arch.instance_feat && config.clusters !== undefined) log.warn(`${thread.model.source}: the model has no instance features; --clusters ignored`);
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
      styles: styleUnit === 'none' ? 0 : (thread.model.clusterCounts.get(id) ?? 0),
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
    const initial: EditorState = { width: input.width, height: input.height, labels, instances, styles };
    const protectedPaths = [config.checkpoint, ...(config.clusters !== undefined ? [config.clusters] : []), ...config.classNames !== undefined ? [config.classNames] : [], ...item.files];
    const server = await startEditorServer({
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
  } catch (error) {
    await thread.close();
    throw error;
  }
}
