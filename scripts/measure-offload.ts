/**
 * Dev script: the wasm heap's tensor high-water mark of one lean training
 * step with and without offloading saved tensors (backend/leanGradients.ts
 * SavedTensorOffload), beside the memory estimate, for one configuration.
 *
 *   node dist/scripts/measure-offload.js STAGE WxH [key=value ...] [--offload] [--min-mib N]
 */
import * as tf from '@tensorflow/tfjs-core';
import { heapAccounting, initBackend, SavedTensorOffload, stopHeapAccounting } from '../src/backend/index.js';
import { DEFAULT_CONFIG, resolveConfig } from '../src/families/pix2pixhd/config.js';
import { instanceSegments } from '../src/families/pix2pixhd/encoder.js';
import { modelSpecs, trainingNetworks } from '../src/families/pix2pixhd/networks.js';
import type { Stage } from '../src/families/pix2pixhd/stages.js';
import { initParams } from '../src/model/params.js';
import { estimateTrainingMemory } from '../src/train/memory.js';
import { createTrainingModel, disposeTrainingModel } from '../src/train/model.js';
import { computeStepGradients } from '../src/train/step.js';
import { syntheticBatch } from '../bench/train.js';

function wasmHeapBytes(): number {
  const backend = tf.findBackend('wasm') as unknown as { wasm?: { HEAPU8: Uint8Array } } | null;
  return backend?.wasm?.HEAPU8.length ?? 0;
}

async function main(): Promise<void> {
  const [stage, size, ...rest] = process.argv.slice(2);
  const [width, height] = size!.split('x').map(Number) as [number, number];
  const overrides: Record<string, unknown> = {};
  for (const pair of rest.filter((arg) => arg.includes('='))) {
    const [key, value] = pair.split('=') as [string, string];
    overrides[key] = value === 'true' ? true : value === 'false' ? false : Number.isNaN(Number(value)) ? value : Number(value);
  }
  const minMib = rest.includes('--min-mib') ? Number(rest[rest.indexOf('--min-mib') + 1]) : 4;
  const offload = rest.includes('--offload') ? new SavedTensorOffload(minMib * 2 ** 20) : undefined;
  await initBackend('wasm', { log: () => {} });
  const config = resolveConfig({ ...DEFAULT_CONFIG, ...overrides });
  stopHeapAccounting();
  const accounting = heapAccounting();
  const model = createTrainingModel(config, stage as Stage, initParams(modelSpecs(config, trainingNetworks(config)), 1), { adamOnHost: true });
  const afterModel = accounting.peak;
  const batch = syntheticBatch(config, height, width, 1);
  const input = tf.tensor4d(batch.input, [1, height, width, batch.inputChannels]);
  const real = tf.tensor4d(batch.image, [1, height, width, 3]);
  const segments = config.instance_feat ? instanceSegments(batch.inst!, 1, height, width) : undefined;
  const started = Date.now();
  computeStepGradients(model, { input, real, segments }, { gan: 'lsgan', ganFeatLoss: true, lambdaFeat: 10, offload }, { onGradient: () => {} });
  const estimate = estimateTrainingMemory(config, stage as Stage, { height, width }, 1, { packed: false, offload: offload !== undefined });
  const mib = (bytes: number): string => (bytes / 2 ** 20).toFixed(1);
  process.stdout.write(
    `${stage} ${size} ${JSON.stringify(overrides)} offload=${offload !== undefined}: heap tensor peak ${mib(accounting.peak)} MiB (model ${mib(afterModel)}), ` +
      `estimate ${mib(estimate.tensorBytes)} MiB (${(estimate.tensorBytes / accounting.peak).toFixed(3)}x), offloaded at most ${mib(offload?.lastPeakBytes ?? 0)} MiB ` +
      `(estimate ${mib(estimate.offloadBytes ?? 0)}), heap ${mib(wasmHeapBytes())} MiB (estimate ${mib(estimate.totalBytes)}), ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
  );
  tf.dispose([input, real]);
  disposeTrainingModel(model);
}

void main();
