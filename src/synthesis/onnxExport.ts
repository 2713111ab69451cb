/**
 * A checkpoint's generator G (global, or with local enhancers) or encoder E
 * as an ONNX graph: `p2phd export CKPT --format onnx`, and the model that
 * `--backend onnxruntime` runs, built in memory.
 *
 * The graph is read off the same layer lists the tfjs forward runs
 * (model/globalGenerator.ts, localEnhancer.ts, encoder.ts), so the two
 * cannot drift apart; each layer becomes one standard ONNX operator (opset
 * 17), weights are initializers in the reference's layouts (which are
 * ONNX's: conv [out, in, kh, kw], transposed conv [in, out, kh, kw]):
 *
 * | layer | ONNX |
 * |---|---|
 * | ReflectionPad2d(p) | Pad, mode reflect, pads [0, 0, p, p, 0, 0, p, p] |
 * | Conv2d | Conv (kernel_shape, strides, pads) |
 * | ConvTranspose2d(3, 2, 1, output_padding 1) | ConvTranspose (kernel_shape, strides, pads, output_padding) |
 * | InstanceNorm2d(affine=False) | InstanceNormalization, scale 1, bias 0, epsilon 1e-5 |
 * | BatchNorm2d | InstanceNormalization with its weight and bias (see below) |
 * | ReLU, Tanh | Relu, Tanh |
 * | ResnetBlock | its layers, then Add with the block input |
 * | the enhancer's input pyramid | AveragePool 3x3, strides 2, pads 1, count_include_pad 0 |
 * | the enhancer's skip | Add |
 *
 * Batch norm: the reference's test.py never calls eval(), so its images are
 * normalised with the batch's own statistics; for one image those are the
 * image's per-channel statistics over H and W, i.e. instance normalisation
 * followed by the affine weight and bias (what the tfjs path computes too,
 * REFERENCE_INFERENCE). Such graphs therefore take batch 1 only; instance-norm
 * graphs take any batch.
 *
 * Inputs and outputs (NCHW float32, H and W dynamic: multiples of the
 * `size_multiple` metadata, as the tfjs path pads to):
 * - G: `input` [batch, label channels (+1 edges) (+feat_num features), H, W]:
 *   one-hot labels (or an RGB label image in [-1, 1] when label_nc is 0),
 *   the instance-boundary map, the instance features; `output`
 *   [batch, output_nc, H, W] in [-1, 1].
 * - E: `image` [batch, output_nc, H, W], the photo in [-1, 1]; `features`
 *   [batch, feat_num, H, W], E's output before the instance-wise average
 *   pooling (a per-instance mean over the instance map, done outside the graph).
 */
import { resolve } from 'node:path';
import { InputError, UsageError } from '../errors.js';
import { VERSION } from '../version.js';
import { writeFileAtomically } from '../data/formats/atomicWrite.js';
import { missingNetworkMessage, readCheckpoint, resolveCheckpointPath, type Checkpoint } from '../families/checkpoint.js';
import { encodeOnnxModel, type OnnxInitializer, type OnnxModel, type OnnxNode } from '../data/formats/onnx.js';
import { encoderInputChannels, encoderSizeMultiple, generatorInputChannels, generatorSizeMultiple, type ArchConfig } from '../families/pix2pixhd/config.js';
import { encoder } from '../families/pix2pixhd/encoder.js';
import { globalGenerator } from '../model/globalGenerator.js';
import type { Layer, Sequential } from '../model/layers.js';
import { localEnhancer } from '../families/pix2pixhd/localEnhancer.js';
import { encoderShape, globalGeneratorShape, localEnhancerShape, networkSpecs } from '../families/pix2pixhd/networks.js';
import { referenceValues } from '../model/params.js';

/** Opset 17: every operator used here is final there; ONNX Runtime 1.13+ and TensorRT 8.5+ load it. */
export const ONNX_OPSET = 17;

/** Every operator an exported graph may hold: standard ONNX (default domain) only. */
export const ONNX_EXPORT_OPERATORS = Object.freeze([
  'Conv',
  'ConvTranspose',
  'InstanceNormalization',
  'Pad',
  'Relu',
  'Tanh',
  'AveragePool',
  'Add',
  'LeakyRelu',
  'Concat',
  'BatchNormalization',
] as const);
type ExportOperator = (typeof ONNX_EXPORT_OPERATORS)[number];

/** The networks that export: the generator and the instance-feature encoder. */
export type OnnxNetwork = 'G' | 'E';

export interface OnnxExportOptions {
  readonly checkpoint: string;
  readonly out: string;
  readonly network: OnnxNetwork;
}

/** What a graph takes and gives, for the code that runs it. */
export interface OnnxGraphInterface {
  readonly inputName: string;
  readonly outputName: string;
  readonly inputChannels: number;
  readonly outputChannels: number;
  /** H and W of the input must be multiples of this. */
  readonly sizeMultiple: number;
}

export const GENERATOR_GRAPH_INPUT = 'input';
export const GENERATOR_GRAPH_OUTPUT = 'output';
export const ENCODER_GRAPH_INPUT = 'image';
export const ENCODER_GRAPH_OUTPUT = 'features';

/** InstanceNorm2d's and BatchNorm2d's epsilon (PyTorch's default, which the reference keeps). */
const NORM_EPSILON = 1e-5;

/** ONNX caps a protobuf at 2 GiB; larger models would need external data files. */
const PROTOBUF_LIMIT_BYTES = 2 ** 31 - 1;

/** Collects nodes and initializers; value names are the layers' state_dict prefixes. */
class GraphBuilder {
  readonly nodes: OnnxNode[] = [];
  readonly initializers: OnnxInitializer[] = [];
  private readonly initializerNames = new Set<string>();

  constructor(
    private readonly weights: ReadonlyMap<string, Float32Array>,
    private readonly weightShapes: ReadonlyMap<string, readonly number[]>,
    /** Batch norm on its running statistics (BatchNormalization) instead of the image's own (InstanceNormalization). */
    readonly runningBatchNorm = false,
  ) {}

  node(opType: ExportOperator, inputs: string[], output: string, attributes?: OnnxNode['attributes']): string {
    this.nodes.push({ opType, inputs, outputs: [output], name: output, ...(attributes ? { attributes } : {}) });
    return output;
  }

  /** A checkpoint tensor as an initializer named by its key (added once). */
  weight(key: string): string {
    if (!this.initializerNames.has(key)) {
      const data = this.weights.get(key);
      const dims = this.weightShapes.get(key);
      if (data === undefined || dims === undefined) throw new Error(`onnx export: no tensor ${key} among the network's parameters`);
      this.addInitializer({ name: key, dims, data });
    }
    return key;
  }

  /** A constant tensor, built once per name. */
  constant(name: string, dims: readonly number[], make: () => Float32Array | BigInt64Array): string {
    if (!this.initializerNames.has(name)) this.addInitializer({ name, dims, data: make() });
    return name;
  }

  /** Gives the value `from` (a node output nothing consumes yet) the name `to`. */
  rename(from: string, to: string): void {
    const index = this.nodes.findIndex((node) => node.outputs.includes(from));
    if (index < 0) throw new Error(`onnx export: no node produces ${from}`);
    const node = this.nodes[index]!;
    this.nodes[index] = { ...node, outputs: node.outputs.map((name) => (name === from ? to : name)) };
  }

  private addInitializer(initializer: OnnxInitializer): void {
    this.initializers.push(initializer);
    this.initializerNames.add(initializer.name);
  }
}

function emitLayer(graph: GraphBuilder, layer: Layer, prefix: string, x: string): string {
  switch (layer.kind) {
    case 'reflectPad': {
      const p = layer.pad;
      const pads = graph.constant(`reflect_pad_${p}`, [8], () => BigInt64Array.from([0, 0, p, p, 0, 0, p, p], BigInt));
      return graph.node('Pad', [x, pads], prefix, { mode: { string: 'reflect' } });
    }
    case 'conv':
      return graph.node('Conv', [x, graph.weight(`${prefix}.weight`), ...(layer.bias === false ? [] : [graph.weight(`${prefix}.bias`)])], prefix, {
        kernel_shape: { ints: [layer.kernel, layer.kernel] },
        strides: { ints: [layer.stride, layer.stride] },
        pads: { ints: [layer.pad, layer.pad, layer.pad, layer.pad] },
      });
    case 'convTranspose':
      return graph.node('ConvTranspose', [x, graph.weight(`${prefix}.weight`), ...(layer.bias === false ? [] : [graph.weight(`${prefix}.bias`)])], prefix, {
        kernel_shape: { ints: [layer.kernel, layer.kernel] },
        strides: { ints: [layer.stride, layer.stride] },
        pads: { ints: [layer.pad, layer.pad, layer.pad, layer.pad] },
        output_padding: { ints: [layer.outputPadding, layer.outputPadding] },
      });
    case 'norm': {
      if (layer.norm === 'none') return x;
      if (layer.norm === 'batch' && graph.runningBatchNorm) {
        const inputs = ['weight', 'bias', 'running_mean', 'running_var'].map((name) => graph.weight(`${prefix}.${name}`));
        return graph.node('BatchNormalization', [x, ...inputs], prefix, { epsilon: { float: NORM_EPSILON } });
      }
      const c = layer.channels;
      const [scale, bias] =
        layer.norm === 'instance'
          ? [
              graph.constant(`instance_norm_scale_${c}`, [c], () => new Float32Array(c).fill(1)),
              graph.constant(`instance_norm_bias_${c}`, [c], () => new Float32Array(c)),
            ]
          : [graph.weight(`${prefix}.weight`), graph.weight(`${prefix}.bias`)];
      return graph.node('InstanceNormalization', [x, scale, bias], prefix, { epsilon: { float: NORM_EPSILON } });
    }
    case 'relu':
      return graph.node('Relu', [x], prefix);
    case 'tanh':
      return graph.node('Tanh', [x], prefix);
    case 'resnetBlock': {
      const branch = emitLayers(graph, layer.convBlock, `${prefix}.conv_block`, x);
      return graph.node('Add', [x, branch], prefix);
    }
    case 'leakyRelu':
      return graph.node('LeakyRelu', [x], prefix, { alpha: { float: layer.slope } });
    case 'dropout':
      // Exported graphs run without dropout (eval()'s behaviour).
      return x;
    case 'unetSkip': {
      const inner = emitLayers(graph, layer.layers, `${prefix}.model`, x);
      const first = layer.layers[0];
      // The reference's in-place LeakyReLU: the skip carries its output (see layers.ts).
      const skip = first?.kind === 'leakyRelu' ? graph.node('LeakyRelu', [x], `${prefix}.skip`, { alpha: { float: first.slope } }) : x;
      return graph.node('Concat', [skip, inner], prefix, { axis: { int: 1 } });
    }
  }
}

function emitLayers(graph: GraphBuilder, layers: readonly Layer[], prefix: string, x: string): string {
  let value = x;
  layers.forEach((layer, index) => {
    value = emitLayer(graph, layer, `${prefix}.${index}`, value);
  });
  return value;
}

function emitSequential(graph: GraphBuilder, sequential: Sequential, x: string): string {
  return emitLayers(graph, sequential.layers, sequential.name, x);
}

/** The local enhancer: the input pyramid, the global part on its coarsest level, each enhancer on its own. */
function emitLocalEnhancer(graph: GraphBuilder, config: ArchConfig, input: string): string {
  const { global, enhancers } = localEnhancer(localEnhancerShape(config));
  const pyramid = [input];
  for (let level = 1; level <= enhancers.length; level++) {
    pyramid.push(
      graph.node('AveragePool', [pyramid[level - 1]!], `${input}_downsampled_${level}`, {
        kernel_shape: { ints: [3, 3] },
        strides: { ints: [2, 2] },
        pads: { ints: [1, 1, 1, 1] },
        count_include_pad: { int: 0 },
      }),
    );
  }
  let output = emitSequential(graph, global, pyramid[enhancers.length]!);
  enhancers.forEach(({ frontEnd, backEnd }, index) => {
    const front = emitSequential(graph, frontEnd, pyramid[enhancers.length - 1 - index]!);
    const sum = graph.node('Add', [front, output], `${backEnd.name}.input`);
    output = emitSequential(graph, backEnd, sum);
  });
  return output;
}

/** The graph's interface for a network of `config`. */
export function onnxGraphInterface(config: ArchConfig, network: OnnxNetwork): OnnxGraphInterface {
  return network === 'G'
    ? {
        inputName: GENERATOR_GRAPH_INPUT,
        outputName: GENERATOR_GRAPH_OUTPUT,
        inputChannels: generatorInputChannels(config),
        outputChannels: config.output_nc,
        sizeMultiple: generatorSizeMultiple(config),
      }
    : {
        inputName: ENCODER_GRAPH_INPUT,
        outputName: ENCODER_GRAPH_OUTPUT,
        inputChannels: encoderInputChannels(config),
        outputChannels: config.feat_num,
        sizeMultiple: encoderSizeMultiple(config),
      };
}

/**
 * The ONNX model of a checkpoint's G or E (weights shared with the
 * checkpoint's arrays where they are float32). Exit 3 when the checkpoint
 * lacks the network or a tensor of it does not fit its config.
 */
export function onnxModelOf(checkpoint: Checkpoint, network: OnnxNetwork): { model: OnnxModel; io: OnnxGraphInterface } {
  const config = checkpoint.meta.config;
  if (!checkpoint.networks.includes(network)) {
    throw new InputError(missingNetworkMessage(checkpoint, network));
  }
  const weights = new Map<string, Float32Array>();
  const shapes = new Map<string, readonly number[]>();
  for (const spec of networkSpecs(config, network)) {
    if (spec.role === 'numBatchesTracked') continue; // a training count; inference never reads it
    weights.set(spec.key, referenceValues(spec, checkpoint.tensors, checkpoint.source));
    shapes.set(spec.key, checkpoint.tensors.get(spec.key)!.shape);
  }
  const io = onnxGraphInterface(config, network);
  const graph = new GraphBuilder(weights, shapes);
  const last =
    network === 'E'
      ? emitSequential(graph, encoder(encoderShape(config)), io.inputName)
      : config.netG === 'global'
        ? emitSequential(graph, globalGenerator(globalGeneratorShape(config)), io.inputName)
        : emitLocalEnhancer(graph, config, io.inputName);
  graph.rename(last, io.outputName);
  // Batch norm on one image's statistics is what the graph computes (see above): batch 1 only.
  const batch = config.norm === 'batch' ? 1 : 'batch';
  const model: OnnxModel = {
    graphName: network === 'G' ? `p2phd ${config.netG} generator` : 'p2phd instance-feature encoder',
    opsetVersion: ONNX_OPSET,
    producerName: 'p2phd',
    producerVersion: VERSION,
    doc:
      network === 'G'
        ? `pix2pixHD generator (${config.netG}). input: NCHW [one-hot labels (${config.label_nc || 'RGB'}) | edges (${config.instance ? 1 : 0}) | features (${config.instance_feat ? config.feat_num : 0})]; H, W multiples of ${io.sizeMultiple}. output: NCHW image in [-1, 1].`
        : `pix2pixHD instance-feature encoder. image: NCHW photo in [-1, 1]; H, W multiples of ${io.sizeMultiple}. features: raw, before instance-wise average pooling.`,
    inputs: [{ name: io.inputName, dims: [batch, io.inputChannels, 'height', 'width'] }],
    outputs: [{ name: io.outputName, dims: [batch, io.outputChannels, 'height', 'width'] }],
    nodes: graph.nodes,
    initializers: graph.initializers,
    metadata: {
      network,
      stage: checkpoint.meta.stage,
      size_multiple: String(io.sizeMultiple),
      config: JSON.stringify(config),
    },
  };
  return { model, io };
}

/** The encoded ONNX model of a checkpoint's G or E (see onnxModelOf). */
export function onnxModelBytes(checkpoint: Checkpoint, network: OnnxNetwork): Uint8Array {
  const { model } = onnxModelOf(checkpoint, network);
  const weightBytes = model.initializers.reduce((total, tensor) => total + tensor.data.byteLength, 0);
  if (weightBytes > PROTOBUF_LIMIT_BYTES) {
    throw new InputError(
      `${checkpoint.source}: ${network} has ${(weightBytes / 2 ** 30).toFixed(2)} GiB of weights; an ONNX file holds at most 2 GiB (external data is not supported)`,
    );
  }
  return encodeOnnxModel(model);
}

/** `p2phd export CKPT --format onnx --network G|E --out FILE`: the network as an ONNX file, written atomically. */
export async function exportOnnx(options: OnnxExportOptions): Promise<void> {
  if (options.network !== 'G' && options.network !== 'E') {
    throw new UsageError(`--network ${String(options.network)}: ONNX export takes G or E`);
  }
  const source = await resolveCheckpointPath(options.checkpoint);
  if (options.out === '-' ? false : resolve(options.out) === resolve(source)) {
    throw new UsageError(`--out ${options.out}: is the checkpoint being exported; an output never overwrites its input`);
  }
  const checkpoint = await readCheckpoint(source);
  await writeFileAtomically(options.out, onnxModelBytes(checkpoint, options.network));
}

/**
 * Any one-Sequential network (pix2pix's G) as an ONNX model: weights by
 * their checkpoint keys (reference layouts), NCHW input `input` of
 * `inputChannels`, output `output`. Batch norm becomes InstanceNormalization
 * with the layer's affine weights (one image's own statistics, batch 1), or
 * with `runningBatchNorm` BatchNormalization on the running statistics;
 * dropout is left out.
 */
export function sequentialOnnxModel(options: {
  readonly sequential: Sequential;
  readonly weights: ReadonlyMap<string, Float32Array>;
  readonly shapes: ReadonlyMap<string, readonly number[]>;
  readonly inputChannels: number;
  readonly outputChannels: number;
  readonly graphName: string;
  readonly doc: string;
  readonly metadata: Readonly<Record<string, string>>;
  /** Batch norm on running statistics (eval()) rather than the image's own. */
  readonly runningBatchNorm?: boolean;
}): OnnxModel {
  const graph = new GraphBuilder(options.weights, options.shapes, options.runningBatchNorm === true);
  const last = emitSequential(graph, options.sequential, GENERATOR_GRAPH_INPUT);
  graph.rename(last, GENERATOR_GRAPH_OUTPUT);
  return {
    graphName: options.graphName,
    opsetVersion: ONNX_OPSET,
    producerName: 'p2phd',
    producerVersion: VERSION,
    doc: options.doc,
    inputs: [{ name: GENERATOR_GRAPH_INPUT, dims: [1, options.inputChannels, 'height', 'width'] }],
    outputs: [{ name: GENERATOR_GRAPH_OUTPUT, dims: [1, options.outputChannels, 'height', 'width'] }],
    nodes: graph.nodes,
    initializers: graph.initializers,
    metadata: { ...options.metadata },
  };
}
