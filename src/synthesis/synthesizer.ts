/**
 * A checkpoint's G (and E) loaded once, rendering any number of inputs on
 * request: `p2phd synthesize` streams its inputs through one, and `p2phd
 * edit` re-renders the edited state through another (in a worker thread).
 * Both go through the same steps here (G's input from the label map, the
 * instance edges and the chosen styles' features; G; 8-bit pixels), so the
 * same maps and styles give the same pixels in either.
 */
import { readInputText } from '../data/formats/inputFile.js';
import { InputError, UsageError } from '../errors.js';
import type { Logger } from '../log.js';
import { readCheckpoint, type Checkpoint } from '../families/checkpoint.js';
import { readClustersFile, type ClusterSet } from '../data/files/clusters.js';
import { instanceEdges } from '../data/datasets/labels.js';
import type { ArchConfig } from '../families/pix2pixhd/config.js';
import { distinctInstanceIds } from './featureRows.js';
import { buildGeneratorInputWithoutFeatures, setFeatureChannels, toImageBytes } from './generatorInput.js';
import type { SynthesisMaps } from './inputs.js';
import { loadInferenceNetworks, type InferenceEngine, type InferenceNetworks } from './inferenceNetworks.js';
import { checkStyleMap, chooseStyles, parseStyleMap, styleFeatureMap, type StyleMap, type StyleRule } from './styles.js';


/** One input made ready for G: its input tensor (feature channels filled per output) and the ids features are placed by. */
export interface PreparedInput {
  readonly height: number;
  readonly width: number;
  /** G's HWC input; the feature channels are overwritten by each generate. */
  readonly generatorInput: Float32Array;
  /** The ids features are pooled and placed by (instance_feat): the instance map, or the label map with label_feat. */
  readonly poolIds?: Int32Array;
  /** The instance map G's edges came from (the input's own, or its label map standing in). */
  readonly instanceMap?: Int32Array;
  /** Whether the label map stood in for a missing instance map the model needs. */
  readonly standIn: boolean;
}

export interface SynthesizerOptions {
  /** A checkpoint file or run folder, or a checkpoint already read. */
  readonly checkpoint: string | Checkpoint;
  /** Loaded style centres (instance-feature models). */
  readonly clusters?: ClusterSet;
  /** Which networks to load (default G). */
  readonly networks?: ReadonlyArray<'G' | 'E'>;
  /** Where G and E run: the backend selection's inferenceEngineOf. */
  readonly engine: InferenceEngine;
}

/** The instance map G's edges and features come from: the input's own, or its label map (or colours) standing in. */
export function instanceMapOf(maps: SynthesisMaps): Int32Array | undefined {
  if (maps.instanceMap) return maps.instanceMap;
  if (maps.labels) return Int32Array.from(maps.labels);
  if (maps.labelRgb) {
    const ids = new Int32Array(maps.height * maps.width);
    for (let p = 0; p < ids.length; p++) ids[p] = (maps.labelRgb[3 * p]! << 16) | (maps.labelRgb[3 * p + 1]! << 8) | maps.labelRgb[3 * p + 2]!;
    return ids;
  }
  return undefined;
}

/** Whether a model reads instance maps (edges, or per-instance features not pooled by label). */
export function modelNeedsInstances(arch: ArchConfig): boolean {
  return arch.instance || (arch.instance_feat && !arch.label_feat);
}

/**
 * Reads a clusters file for a model: centres must have the model's
 * feat_num (exit 3); a file with none gives zero features (warned).
 */
export async function loadClustersFor(path: string, arch: ArchConfig, log?: Pick<Logger, 'warn'>): Promise<ClusterSet> {
  const clusters = await readClustersFile(path);
  if (clusters.centers.size > 0 && clusters.featNum !== arch.feat_num) {
    throw new InputError(`${path}: centres have ${clusters.featNum} features but the model takes feat_num ${arch.feat_num}`);
  }
  // Centres of a class the model has no label for: the file was made for another model or dataset.
  const foreign = arch.label_nc > 0 ? [...clusters.centers.keys()].filter((classId) => classId >= arch.label_nc).sort((a, b) => a - b) : [];
  if (foreign.length > 0) {
    throw new InputError(
      `${path}: holds centres for class${foreign.length > 1 ? 'es' : ''} ${foreign.slice(0, 5).join(', ')}${foreign.length > 5 ? ', ...' : ''}, ` +
        `but the model has ${arch.label_nc} labels (0-${arch.label_nc - 1}); it was clustered for another model or dataset`,
    );
  }
  if (clusters.centers.size === 0) {
    log?.warn(`${path}: holds no cluster centres; every instance gets zero features`);
    return { ...clusters, featNum: arch.feat_num };
  }
  return clusters;
}

/** Reads and checks a --style-map file against the clusters. */
export async function loadStyleMap(path: string, clusters: ClusterSet): Promise<StyleMap> {
  let text: string;
  try {
    text = await readInputText(path, 'a style map');
  } catch (error) {
    throw new InputError(`--style-map ${(error as Error).message}`);
  }
  const styleMap = parseStyleMap(text, path);
  checkStyleMap(styleMap, clusters, path);
  return styleMap;
}

export class Synthesizer {
  private constructor(
    readonly checkpoint: Checkpoint,
    readonly clusters: ClusterSet | undefined,
    private readonly networks: InferenceNetworks,
  ) {}

  /** Reads the checkpoint (unless given) and loads its networks once. */
  static async load(options: SynthesizerOptions): Promise<Synthesizer> {
    const checkpoint = typeof options.checkpoint === 'string' ? await readCheckpoint(options.checkpoint) : options.checkpoint;
    const arch = checkpoint.meta.config;
    if (arch.instance_feat && options.clusters === undefined && !(options.networks ?? []).includes('E')) {
      throw new UsageError(`${checkpoint.source}: the model was trained with instance features; give --clusters FILE (from p2phd cluster)`);
    }
    const networks = await loadInferenceNetworks(checkpoint, options.networks ?? ['G'], options.engine);
    return new Synthesizer(checkpoint, options.clusters, networks);
  }

  get arch(): ArchConfig {
    return this.checkpoint.meta.config;
  }

  /** G's input without features (labels and edges), and the ids features go by. */
  prepare(maps: SynthesisMaps): PreparedInput {
    const arch = this.arch;
    const needsInstances = modelNeedsInstances(arch);
    const instanceMap = needsInstances ? instanceMapOf(maps) : undefined;
    const edges = arch.instance ? (maps.instanceMap && maps.edges ? maps.edges : instanceEdges(instanceMap!, maps.width, maps.height)) : undefined;
    const generatorInput = buildGeneratorInputWithoutFeatures(arch, {
      height: maps.height,
      width: maps.width,
      ...(maps.labels ? { labels: maps.labels } : {}),
      ...(maps.labelRgb ? { labelRgb: maps.labelRgb } : {}),
      ...(edges ? { edges } : {}),
    });
    const poolIds = arch.instance_feat ? (arch.label_feat ? (maps.labels ? Int32Array.from(maps.labels) : undefined) : instanceMap) : undefined;
    return {
      height: maps.height,
      width: maps.width,
      generatorInput,
      ...(poolIds ? { poolIds } : {}),
      ...(instanceMap ? { instanceMap } : {}),
      standIn: needsInstances && !maps.instanceMap,
    };
  }

  /** The ids that take a style (ascending): the pooled ids of an instance-feature model, else none. */
  styleIds(prepared: PreparedInput): number[] {
    return prepared.poolIds ? distinctInstanceIds(prepared.poolIds) : [];
  }

  /** The feature map for a rule (instances without a style-map entry) and a style map. */
  styleFeatures(prepared: PreparedInput, rule: StyleRule, styleMap: StyleMap = new Map()): Float32Array {
    if (!this.clusters || !prepared.poolIds) throw new Error('styleFeatures: the model has no instance features or no clusters were loaded');
    const choice = chooseStyles(this.styleIds(prepared), this.clusters, rule, styleMap);
    return styleFeatureMap(prepared.poolIds, this.clusters, choice);
  }

  /** Runs G on a prepared input with `features` in its feature channels (instance-feature models); RGB (output_nc) bytes. */
  async generate(prepared: PreparedInput, features?: Float32Array): Promise<Uint8Array> {
    if (this.arch.instance_feat) setFeatureChannels(this.arch, prepared.generatorInput, features);
    const output = await this.networks.generate(prepared.generatorInput, prepared.height, prepared.width);
    return toImageBytes(output);
  }

  /**
   * One render for a complete style map (the editor's state): every id with
   * centres that the map lacks gets centre 0, so no draw is random.
   */
  async render(maps: SynthesisMaps, styles: StyleMap = new Map()): Promise<Uint8Array> {
    const prepared = this.prepare(maps);
    const features = this.arch.instance_feat ? this.styleFeatures(prepared, { mode: 'first' }, styles) : undefined;
    return this.generate(prepared, features);
  }

  /** E's per-instance features for a photo (networks included E). */
  encode(photo: Uint8Array, poolIds: Int32Array, height: number, width: number): Promise<Float32Array> {
    return this.networks.encode(photo, poolIds, height, width);
  }

  async dispose(): Promise<void> {
    await this.networks.dispose();
  }
}
