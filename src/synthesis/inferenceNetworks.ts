/**
 * A checkpoint's G (and E) loaded once for inference on the engine the
 * backend selection chose: tfjs (parameter tensors, networks.ts) or ONNX
 * Runtime (graphs built from the checkpoint, onnxNetworks.ts). The stages
 * (synthesize, encode) call these and never know which runs.
 */
import type { GraphSession, InferenceEngine } from '../backend/index.js';
import { checkpointParams, type Checkpoint } from '../families/checkpoint.js';
import { disposeParams } from '../model/params.js';
import { encodeInstanceFeatures, runGenerator } from './networks.js';
import { encodeInstanceFeaturesGraph, onnxSession, runGeneratorGraph } from './onnxNetworks.js';

export type { InferenceEngine } from '../backend/index.js';

export interface InferenceNetworks {
  /** G on an HWC input (G's input channels) of any size; HWC output_nc values in [-1, 1]. */
  generate(input: Float32Array, height: number, width: number): Promise<Float32Array>;
  /** E's per-instance features (HWC, feat_num) for a photo (interleaved RGB bytes) and its instance map. */
  encode(photo: Uint8Array, instanceMap: Int32Array, height: number, width: number): Promise<Float32Array>;
  /** Frees the parameters or sessions. */
  dispose(): Promise<void>;
}

/** Loads `networks` (G, E or both) of a checkpoint; exit 3 when one is missing or does not fit its config. */
export async function loadInferenceNetworks(
  checkpoint: Checkpoint,
  networks: ReadonlyArray<'G' | 'E'>,
  engine: InferenceEngine,
): Promise<InferenceNetworks> {
  const config = checkpoint.meta.config;
  const missing = (network: string) => (): never => {
    throw new Error(`inference networks: ${network} was not loaded`);
  };
  if (engine === 'tfjs') {
    const params = checkpointParams(checkpoint, networks);
    return {
      generate: networks.includes('G') ? async (input, height, width) => runGenerator(config, params, input, height, width) : missing('G'),
      encode: networks.includes('E')
        ? async (photo, instanceMap, height, width) => encodeInstanceFeatures(config, params, photo, instanceMap, height, width)
        : missing('E'),
      dispose: async () => disposeParams(params),
    };
  }
  const generator = networks.includes('G') ? await onnxSession(checkpoint, 'G') : undefined;
  let encoder: GraphSession | undefined;
  try {
    encoder = networks.includes('E') ? await onnxSession(checkpoint, 'E') : undefined;
  } catch (error) {
    await generator?.release();
    throw error;
  }
  return {
    generate: generator ? (input, height, width) => runGeneratorGraph(generator, config, input, height, width) : missing('G'),
    encode: encoder
      ? (photo, instanceMap, height, width) => encodeInstanceFeaturesGraph(encoder, config, photo, instanceMap, height, width)
      : missing('E'),
    dispose: async () => {
      await generator?.release();
      await encoder?.release();
    },
  };
}
