/**
 * `p2phd export CKPT --format onnx` for a pix2pix checkpoint: G as a
 * standard-operator ONNX graph (opset 17), dynamic height and width
 * (multiples of G's size multiple), batch 1. The test mode it fixes is
 * `--dropout off` by default: batch norm on the image's own statistics (as
 * the reference's test.py), no dropout, so the graph is deterministic;
 * `--eval` fixes running statistics instead.
 */
import { resolve } from 'node:path';
import { InputError, UsageError } from '../errors.js';
import { writeFileAtomically } from '../data/formats/atomicWrite.js';
import { encodeOnnxModel } from '../data/formats/onnx.js';
import { referenceValues } from '../model/params.js';
import { pix2pixSizeMultiple } from '../families/pix2pix/config.js';
import type { Pix2pixCheckpoint } from '../families/pix2pix/checkpoint.js';
import type { Pix2pixTestMode } from '../families/pix2pix/inference.js';
import { pix2pixGenerator, pix2pixSpecs } from '../families/pix2pix/networks.js';
import { sequentialOnnxModel } from './onnxExport.js';

/** The test modes a graph can fix: the two without dropout. */
export type Pix2pixGraphMode = Extract<Pix2pixTestMode, 'no-dropout' | 'eval'>;

export const PIX2PIX_ONNX_TEST_MODE: Pix2pixGraphMode = 'no-dropout';


export function pix2pixOnnxBytes(checkpoint: Pix2pixCheckpoint, mode: Pix2pixGraphMode = PIX2PIX_ONNX_TEST_MODE): Uint8Array {
  const { config } = checkpoint.meta;
  const weights = new Map<string, Float32Array>();
  const shapes = new Map<string, readonly number[]>();
  const running = mode === 'eval';
  for (const spec of pix2pixSpecs(config, ['G'])) {
    if (spec.role === 'numBatchesTracked' || (!running && (spec.role === 'runningMean' || spec.role === 'runningVar'))) continue;
    weights.set(spec.key, referenceValues(spec, checkpoint.tensors, checkpoint.source));
    shapes.set(spec.key, checkpoint.tensors.get(spec.key)!.shape);
  }
  const multiple = pix2pixSizeMultiple(config);
  const model = sequentialOnnxModel({
    sequential: pix2pixGenerator(config),
    weights,
    shapes,
    inputChannels: config.input_nc,
    outputChannels: config.output_nc,
    runningBatchNorm: running,
    graphName: `p2phd pix2pix ${config.netG} generator`,
    doc: `pix2pix generator (${config.netG}, ${config.norm} norm). input: NCHW, ${config.input_nc} channels in [-1, 1], H and W multiples of ${multiple}. output: NCHW, ${config.output_nc} channels in [-1, 1]. Test mode: ${running ? 'running statistics, no dropout (p2phd synthesize --eval)' : 'batch statistics of the one image, no dropout (p2phd synthesize --dropout off)'}.`,
    metadata: { family: 'pix2pix', network: 'G', size_multiple: String(multiple), test_mode: mode, config: JSON.stringify(config), direction: checkpoint.meta.direction },
  });
  const bytes = model.initializers.reduce((total, tensor) => total + tensor.data.byteLength, 0);
  if (bytes > 2 ** 31 - 1) throw new InputError(`${checkpoint.source}: G has more than 2 GiB of weights; an ONNX file holds at most 2 GiB`);
  return encodeOnnxModel(model);
}

export async function exportPix2pixOnnx(checkpoint: Pix2pixCheckpoint, out: string, mode: Pix2pixGraphMode = PIX2PIX_ONNX_TEST_MODE): Promise<Pix2pixTestMode> {
  if (out !== '-' && resolve(out) === resolve(checkpoint.source)) throw new UsageError(`--out ${out}: is the checkpoint being exported; an output never overwrites its input`);
  await writeFileAtomically(out, pix2pixOnnxBytes(checkpoint, mode));
  return mode;
}
