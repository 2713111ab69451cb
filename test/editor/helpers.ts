/**
 * Shared by the editor tests: a tiny instance-feature checkpoint (random
 * weights) and style clusters, and `p2phd edit` started on a fixture with
 * its URL read from --json.
 */
import { once } from 'node:events';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { writeClustersFile } from '../../src/data/files/clusters';
import { DEFAULT_CONFIG, type ArchConfig } from '../../src/families/pix2pixhd/config';
import { Random } from '../../src/model/random';
import { makeTensor, type Tensor } from '../../src/data/formats/safetensors';
import { writeTensorFile } from '../../src/data/files/tensorFile';
import { modelSpecs } from '../../src/families/pix2pixhd/networks';
import { referenceDtype, referenceShape } from '../../src/model/params';
import { FIXTURES_DIR, startCli, type CliResult } from '../support/cli';

export const FIXTURE_STEM = 'synthcity_001000_000019_gtFine_labelIds';
export const FIXTURE_LABELS = join(FIXTURES_DIR, 'test_label', `${FIXTURE_STEM}.png`);
export const FIXTURE_INSTANCES = join(FIXTURES_DIR, 'test_inst', 'synthcity_001000_000019_gtFine_instanceIds.png');
export const WIDTH = 256;
export const HEIGHT = 128;

/** A small G1 with instance edges and 3 instance features (fast on 2 cores at 256x128). */
export const TINY_CONFIG: ArchConfig = Object.freeze({
  ...DEFAULT_CONFIG,
  label_nc: 35,
  instance: true,
  instance_feat: true,
  feat_num: 3,
  ngf: 8,
  n_downsample_global: 3,
  n_blocks_global: 2,
  nef: 8,
  n_downsample_E: 3,
});

/** Classes with styles in the test clusters: car (26) with 4, person (24) with 3, road (7) with 2. */
export const STYLE_COUNTS: ReadonlyMap<number, number> = new Map([
  [7, 2],
  [24, 3],
  [26, 4],
]);

/**
 * Random weights scaled by fan-in (std 1/sqrt(inputs per output), biases
 * zero), so the untrained G is neither saturated nor chaotic: a change in
 * one region shows mostly there, as in a trained model.
 */
export async function writeScaledRandomCheckpoint(path: string, config: ArchConfig, seed: number): Promise<void> {
  const random = new Random(seed);
  const tensors = new Map<string, Tensor>();
  for (const spec of modelSpecs(config, ['G'])) {
    const shape = referenceShape(spec);
    const count = shape.reduce((a, b) => a * b, 1);
    if (referenceDtype(spec) === 'I64') {
      tensors.set(spec.key, makeTensor('I64', shape, new BigInt64Array(count)));
      continue;
    }
    const values = new Float32Array(count);
    if (shape.length === 4) random.fillNormal(values, 0, 1 / Math.sqrt(shape[1]! * shape[2]! * shape[3]!));
    tensors.set(spec.key, makeTensor('F32', shape, values));
  }
  await writeTensorFile(path, 'checkpoint', tensors, { stage: 'global', epoch: 0, step: 0, lr: 0.0002, config });
}

export async function writeModel(folder: string, config: ArchConfig = TINY_CONFIG): Promise<{ checkpoint: string; clusters: string }> {
  const checkpoint = join(folder, 'tiny.safetensors');
  const clusters = join(folder, 'tiny_clusters.safetensors');
  await writeScaledRandomCheckpoint(checkpoint, config, 7);
  const random = new Random(11);
  const centers = new Map([...STYLE_COUNTS].map(([classId, count]) => [classId, { count, values: random.fillNormal(new Float32Array(count * 3), 0, 1) }]));
  await writeClustersFile(clusters, { featNum: 3, centers, k: 4, minArea: 0.5, seed: 0 });
  return { checkpoint, clusters };
}

export interface RunningEdit {
  readonly child: ChildProcess;
  readonly url: string;
  readonly origin: string;
  readonly port: number;
  readonly done: Promise<CliResult>;
  stop(): Promise<CliResult>;
}

/** Starts `p2phd edit --json --no-open` and resolves with its URL once it prints it. */
export async function startEdit(args: readonly string[]): Promise<RunningEdit> {
  const { child, done } = startCli(['edit', '--json', '--no-open', '--seed', '3', ...args], { env: { P2PHD_WASM_THREADS: '1' } });
  let stdout = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const match = /"url":\s*"([^"]+)"/.exec(stdout);
      if (match) resolve(match[1]!);
    });
    void done.then((result) => reject(new Error(`p2phd edit exited ${result.status} before printing its URL: ${result.stderr}`)));
  });
  const parsed = new URL(url);
  return {
    child,
    url,
    origin: parsed.origin,
    port: Number(parsed.port),
    done,
    stop: async () => {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await once(child, 'close').catch(() => undefined);
      }
      return done;
    },
  };
}
