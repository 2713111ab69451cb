/**
 * What pix2pix's lean training step (step.ts) keeps on the heap for its
 * backward passes, walked over G's and D's layer lists at a training size
 * (no tensor is made): train/pix2pixMemory.ts's estimate starts from it.
 *
 * The rules follow what each layer records under a gradient tape (model/
 * layers.ts runLayers, tfjs-core 4.22's gradients):
 * - a conv unit (backend/convUnit.ts: activation, padding, conv, with or
 *   without bias) saves its input; its output is saved by whatever reads it;
 * - instance norm saves its output (and its statistics, a few floats);
 * - batch norm saves its input (the lean schedule checkpoints it: model/
 *   layers.ts checkpointBatchNorm); its backward pass recomputes it, holding
 *   six tensors of its size for a moment (x - mean twice, its square, the
 *   normalised and the scaled values, and the output); its output is not
 *   saved;
 * - norm none (an identity) shares its input's data;
 * - dropout saves its input and its scaled mask;
 * - a lone ReLU or LeakyReLU saves its input, tanh its output;
 * - a residual block's sum saves its two inputs; a U-Net block's skip
 *   (LeakyReLU of the block's input) reads what the block's first unit
 *   saved, and the concatenation saves nothing;
 * - what operations off the gradient's path save (the dropout masks'
 *   scaling, the running statistics' updates) is freed as they are
 *   recorded (backend/leanGradients.ts).
 * A tensor saved twice (or shared by a clone) counts once.
 */
import { convUnitAt, type Layer } from '../../model/layers.js';
import type { Pix2pixConfig } from './config.js';
import { pix2pixDiscriminator, pix2pixGenerator } from './networks.js';

interface Walk {
  height: number;
  width: number;
  channels: number;
  /** Whether the current tensor's data is already saved. */
  saved: boolean;
  /** Floats saved so far. */
  floats: number;
  /** The largest single activation so far (floats). */
  largest: number;
  /** The largest im2col column buffer a conv of the walk asks for (floats). */
  columns: number;
  /** The largest batch-norm layer (floats). */
  largestNorm: number;
}

function floatsOf(state: { height: number; width: number; channels: number }): number {
  return state.height * state.width * state.channels;
}

/**
 * Whether p2phd's wasm kernels run a conv from `inChannels` to
 * `outChannels` as a GEMM over im2col columns (backend/wasm/conv2d-native-column.ts
 * preferNativeColumn), the one form whose scratch grows with the image.
 */
function columnConv(inChannels: number, outChannels: number, kernel: number): boolean {
  return outChannels >= 16 && inChannels * kernel * kernel >= 64;
}

/** The size after one layer that changes it (pads, convs). */
function sizeAfter(layer: Layer, state: Walk): Walk {
  switch (layer.kind) {
    case 'reflectPad':
      return { ...state, height: state.height + 2 * layer.pad, width: state.width + 2 * layer.pad };
    case 'conv': {
      const height = Math.floor((state.height + 2 * layer.pad - layer.kernel) / layer.stride) + 1;
      const width = Math.floor((state.width + 2 * layer.pad - layer.kernel) / layer.stride) + 1;
      // Forward, input gradient and filter gradient all use [output pixels, kernel taps x input channels] columns.
      const columns = columnConv(layer.inChannels, layer.outChannels, layer.kernel) ? height * width * layer.kernel * layer.kernel * layer.inChannels : 0;
      return { ...state, height, width, channels: layer.outChannels, columns: Math.max(state.columns, columns) };
    }
    case 'convTranspose': {
      // The input gradient of a conv from outChannels to inChannels: [input pixels, kernel taps x output channels].
      const columns = columnConv(layer.outChannels, layer.inChannels, layer.kernel) ? state.height * state.width * layer.kernel * layer.kernel * layer.outChannels : 0;
      return {
        ...state,
        height: (state.height - 1) * layer.stride - 2 * layer.pad + layer.kernel + layer.outputPadding,
        width: (state.width - 1) * layer.stride - 2 * layer.pad + layer.kernel + layer.outputPadding,
        channels: layer.outChannels,
        columns: Math.max(state.columns, columns),
      };
    }
    default:
      return state;
  }
}

function savedWalk(layers: readonly Layer[], start: Walk): Walk {
  let state = { ...start };
  const save = (): void => {
    if (!state.saved) state.floats += floatsOf(state);
    state.saved = true;
  };
  let index = 0;
  while (index < layers.length) {
    const unit = convUnitAt(layers, index);
    if (unit !== undefined) {
      save();
      for (let j = index; j <= unit.convIndex; j++) {
        state = sizeAfter(layers[j]!, state);
        // The padded input is a tensor too (in the forward pass, and again in the filter gradient).
        state.largest = Math.max(state.largest, floatsOf(state));
      }
      state.saved = false;
      index = unit.convIndex + 1;
    } else {
      const layer = layers[index]!;
      switch (layer.kind) {
        case 'norm':
          if (layer.norm === 'instance') {
            state.floats += floatsOf(state);
            state.saved = true;
          } else if (layer.norm === 'batch') {
            save();
            state.saved = false;
            state.largestNorm = Math.max(state.largestNorm, floatsOf(state));
          }
          break;
        case 'dropout':
          save();
          state.floats += floatsOf(state);
          state.saved = false;
          break;
        case 'relu':
        case 'leakyRelu':
          save();
          state.saved = false;
          break;
        case 'tanh':
          state.floats += floatsOf(state);
          state.saved = true;
          break;
        case 'resnetBlock': {
          save();
          const inner = savedWalk(layer.convBlock, state);
          if (!inner.saved) inner.floats += floatsOf(inner);
          state = { ...state, floats: inner.floats, largest: inner.largest, columns: inner.columns, largestNorm: inner.largestNorm, saved: false };
          break;
        }
        case 'unetSkip': {
          const inner = savedWalk(layer.layers, state);
          state = { ...state, channels: state.channels + inner.channels, floats: inner.floats, largest: inner.largest, columns: inner.columns, largestNorm: inner.largestNorm, saved: false };
          break;
        }
        default:
          state = { ...sizeAfter(layer, state), saved: false };
      }
      index++;
    }
    state.largest = Math.max(state.largest, floatsOf(state));
  }
  return state;
}

function startAt(channels: number, height: number, width: number): Walk {
  return { height, width, channels, saved: false, floats: 0, largest: height * width * channels, columns: 0, largestNorm: 0 };
}

/** What one sample's lean step saves, in floats (see the module comment), per network. */
export interface Pix2pixSavedFloats {
  /** G's pass, its output (tanh) and the L1 loss's two differences. */
  readonly G: number;
  /** One pass of D, its input (the concatenated pair) included. */
  readonly D: number;
  /** The largest single activation of either network (webgpu's buffer limit applies to it). */
  readonly largest: number;
  /** The largest single activation of G, and of D. */
  readonly largestG: number;
  readonly largestD: number;
  /** The largest conv column buffer (a GEMM conv's scratch) of G, and of D, for one sample, before the kernels' banding caps it. */
  readonly columnsG: number;
  readonly columnsD: number;
  /** The largest batch-norm layer (floats): its recomputation in backward holds about seven of these. */
  readonly largestNorm: number;
}

export function pix2pixSavedStepFloats(config: Pix2pixConfig, height: number, width: number): Pix2pixSavedFloats {
  const g = savedWalk(pix2pixGenerator(config).layers, startAt(config.input_nc, height, width));
  const l1 = 2 * height * width * config.output_nc;
  const d = savedWalk(pix2pixDiscriminator(config).layers, startAt(config.input_nc + config.output_nc, height, width));
  return {
    G: g.floats + l1,
    D: d.floats,
    largest: Math.max(g.largest, d.largest),
    largestG: g.largest,
    largestD: d.largest,
    columnsG: g.columns,
    columnsD: d.columns,
    largestNorm: Math.max(g.largestNorm, d.largestNorm),
  };
}
