/**
 * Dev script: the wasm heap after one pix2pix training step (the heap only
 * grows, so its size is the step's peak) beside pix2pixMemory.ts's estimate,
 * for calibrating PIX2PIX_ACTIVATION_FACTOR. Random weights and images; D's
 * update is left out (Adam's state lives outside the heap on wasm).
 *
 *   npx tsc -p tsconfig.json && node dist/scripts/measure-pix2pix-heap.js resnet_9blocks 256
 */
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/backend/index.js';
import { resolvePix2pixConfig } from '../src/families/pix2pix/config.js';
import { initPix2pixParams } from '../src/families/pix2pix/init.js';
import { pix2pixSpecs } from '../src/families/pix2pix/networks.js';
import { pix2pixStep } from '../src/families/pix2pix/step.js';
import { isTrainable } from '../src/model/layers.js';
import { toVariables } from '../src/model/params.js';
import { estimatePix2pixTrainingMemory } from '../src/train/pix2pixMemory.js';

async function main(): Promise<void> {
  const netG = process.argv[2] ?? 'unet_256';
  const size = Number(process.argv[3] ?? 256);
  await initBackend('wasm', { log: () => {} });
  const config = resolvePix2pixConfig({ netG });
  const specs = pix2pixSpecs(config);
  const variables = toVariables(initPix2pixParams(specs, config, 1), specs);
  const trained = specs.filter(isTrainable);
  const keysG = trained.filter((spec) => spec.key.startsWith('G.')).map((spec) => spec.key);
  const keysD = trained.filter((spec) => spec.key.startsWith('D.')).map((spec) => spec.key);
  const A = tf.randomUniform([1, size, size, config.input_nc], -1, 1) as tf.Tensor4D;
  const B = tf.randomUniform([1, size, size, config.output_nc], -1, 1) as tf.Tensor4D;
  const heapGiB = (): number => ((tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm.HEAPU8.length / 2 ** 30);
  pix2pixStep({ config, variables, keysG, keysD }, { A, B }, { ganMode: 'vanilla', lambdaL1: 100 }, { updateD: () => {} });
  const estimate = estimatePix2pixTrainingMemory(config, { height: size, width: size }, 1, true).totalBytes / 2 ** 30;
  process.stdout.write(`${netG} ${size}x${size} batch 1: wasm heap ${heapGiB().toFixed(2)} GiB, estimate ${estimate.toFixed(2)} GiB\n`);
}

void main();
