/**
 * A pix2pix checkpoint's G loaded once, translating any number of A images
 * on request in one test mode: `p2phd edit` re-renders the painted A image
 * through one (in its worker thread). Its steps are synthesize --inputs's
 * (synthesis/pix2pix.ts): grey inputs as PIL's 'L', bytes to [-1, 1], G
 * (tfjs ops, or the ONNX graph for the deterministic modes), the
 * reference's tensor2im; the reference mode's dropout masks come from the
 * stream of input index 0, so an edited A gives what `synthesize --inputs A`
 * (one file) gives.
 */
import { UsageError } from '../errors.js';
import { createGraphSession, type GraphSession } from '../backend/index.js';
import { BYTE_TO_SIGNED, rgbToLuma } from '../data/datasets/aligned.js';
import type { Pix2pixCheckpoint } from '../families/pix2pix/checkpoint.js';
import type { Pix2pixConfig } from '../families/pix2pix/config.js';
import { testModeOptions, testRandom, type Pix2pixTestMode } from '../families/pix2pix/inference.js';
import { pix2pixSpecs } from '../families/pix2pix/networks.js';
import type { Params } from '../model/layers.js';
import { disposeParams, loadParams } from '../model/params.js';
import { translate, translateOnGraph } from './pix2pix.js';
import { pix2pixOnnxBytes } from './pix2pixOnnx.js';

export class Pix2pixTranslator {
  private constructor(
    readonly config: Pix2pixConfig,
    private readonly params: Params,
    private readonly session: GraphSession | undefined,
    readonly mode: Pix2pixTestMode,
    private readonly seed: number,
  ) {}

  /** Loads G; `engine` onnxruntime runs the deterministic modes only (a usage error otherwise). */
  static async load(checkpoint: Pix2pixCheckpoint, mode: Pix2pixTestMode, seed: number, engine: 'tfjs' | 'onnxruntime'): Promise<Pix2pixTranslator> {
    if (engine === 'onnxruntime' && mode === 'reference') {
      throw new UsageError('--backend onnxruntime runs the deterministic test modes (--dropout off, --eval); --dropout on draws dropout masks: run it on a tfjs backend (auto, wasm)');
    }
    const { config } = checkpoint.meta;
    const session = engine === 'onnxruntime' ? await createGraphSession(pix2pixOnnxBytes(checkpoint, mode === 'eval' ? 'eval' : 'no-dropout')) : undefined;
    const { params } = loadParams(pix2pixSpecs(config, ['G']), checkpoint.tensors, { source: checkpoint.source, mode: 'strict' });
    return new Pix2pixTranslator(config, params, session, mode, seed);
  }

  /** G(A): [H*W*output_nc] bytes from [H*W*3] RGB bytes. */
  async render(rgb: Uint8Array, width: number, height: number): Promise<Uint8Array> {
    const input = this.config.input_nc === 1 ? rgbToLuma(rgb) : rgb;
    const image = Float32Array.from(input, (v) => BYTE_TO_SIGNED[v]!);
    const output = this.session
      ? await translateOnGraph(this.config, this.session, { image, height, width })
      : translate(this.config, this.params, { image, height, width }, testModeOptions(this.mode, testRandom(this.seed, 0)));
    // The reference's tensor2im: (x + 1) / 2 * 255, clipped, truncated.
    const bytes = new Uint8Array(output.length);
    for (let i = 0; i < output.length; i++) bytes[i] = Math.trunc(Math.min(255, Math.max(0, ((output[i]! + 1) / 2) * 255)));
    return bytes;
  }

  async dispose(): Promise<void> {
    disposeParams(this.params);
    await this.session?.release();
  }
}
