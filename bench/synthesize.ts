/**
 * Synthesis benchmark: the reference's default G1 (label_nc 35, instance
 * edges, ngf 64, 4 downsamplings, 9 residual blocks) through the real
 * `p2phd synthesize` code path (PNG decode, input building, G, PNG write),
 * with model load reported separately from per-image time.
 *
 *   npm run bench -- synthesize [--json] [--backend=wasm] [--sizes=256x128,1024x512] [--images=3] [--pytorch]
 *
 * The backend is set up as `p2phd synthesize` sets it up: one wasm thread
 * per core unless P2PHD_WASM_THREADS says otherwise. The first image may
 * carry one-time backend costs (weight packing on first use of a filter);
 * the best image time after it is the steady state. CPU seconds are reported
 * too: on a shared machine they show what the work cost when the wall clock
 * does not. Reference point (issue 6): PyTorch 1.13 CPU,
 * 2 threads, G1 forward at 256x128 in 1.45 s on the same machine class; G1's
 * cost is linear in pixels, so 1024x512 (16x the pixels) is about 23 s there.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { inferenceWasmThreads, initBackend, type BackendChoice } from '../src/backend/index.js';
import { createLogger } from '../src/log.js';
import { encodePng } from '../src/data/pngEncode.js';
import { PngColorType } from '../src/data/png.js';
import { writeFileAtomically } from '../src/data/atomicWrite.js';
import { makeTensor, type Tensor } from '../src/data/safetensors.js';
import { writeTensorFile } from '../src/data/tensorFile.js';
import { resolveConfig } from '../src/model/config.js';
import { modelSpecs } from '../src/model/networks.js';
import { referenceShape } from '../src/model/params.js';
import { Random } from '../src/model/random.js';
import { runSynthesizeStage } from '../src/synthesis/synthesizeStage.js';
import { benchOption } from './options.js';
import type { BenchArgs, BenchRow, StageResult } from './run.js';

/** PyTorch 1.13 CPU, 2 threads, G1 forward at 256x128 (issue 6). */
const PYTORCH_SECONDS_256x128 = 1.45;

/** G1 forward timed in PyTorch (the generator of bench/train_step_torch.py). */
const PYTORCH_FORWARD = `
import sys, time, torch
sys.path.insert(0, sys.argv[1])
from train_step_torch import global_generator
torch.set_num_threads(int(sys.argv[2]))
width, height, runs = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
g = global_generator(36, 64, 4, 9)
x = torch.zeros(1, 36, height, width)
times = []
with torch.no_grad():
    for _ in range(runs + 1):
        start = time.perf_counter()
        g(x)
        times.append(time.perf_counter() - start)
print('seconds=%f' % min(times[1:]))
`;

function pytorchForwardSeconds(width: number, height: number, runs: number, progress: (line: string) => void): number | null {
  const python = '/usr/bin/python3';
  if (!existsSync(python)) return null;
  progress(`synthesize bench: PyTorch G1 forward at ${width}x${height}, 2 threads`);
  const result = spawnSync(python, ['-c', PYTORCH_FORWARD, __dirname.replace(/dist[\\/]bench$/, 'bench'), '2', String(width), String(height), String(runs)], { encoding: 'utf8' });
  const match = /seconds=([\d.]+)/.exec(result.stdout ?? '');
  if (result.status !== 0 || !match) {
    progress(`synthesize bench: PyTorch unavailable (${(result.stderr ?? '').trim().split('\n').pop() ?? 'no output'})`);
    return null;
  }
  return Number(match[1]);
}

/** A street-like label map: sky, buildings, road, a few cars and people (things get class*1000+k ids). */
function sceneMaps(width: number, height: number): { labels: Uint8Array; instances: Uint16Array } {
  const labels = new Uint8Array(width * height);
  const instances = new Uint16Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = y * width + x;
      const v = y / height;
      let label = v < 0.3 ? 23 : v < 0.6 ? 11 : 7; // sky, building, road
      let instance = label;
      const car = Math.floor((x / width) * 5);
      if (v > 0.55 && v < 0.75 && (x / width) * 5 - car < 0.6) {
        label = 26;
        instance = 26000 + car;
      } else if (v > 0.45 && v < 0.7 && Math.abs(x / width - 0.93) < 0.01) {
        label = 24;
        instance = 24000;
      }
      labels[p] = label;
      instances[p] = instance;
    }
  }
  return { labels, instances };
}

export async function runBench(args: BenchArgs): Promise<StageResult> {
  const backend = (benchOption(args.rest, 'backend') ?? 'auto') as BackendChoice;
  const sizes = (benchOption(args.rest, 'sizes') ?? '256x128,1024x512').split(',').map((size) => size.split('x').map(Number) as [number, number]);
  const imagesPerSize = Math.max(1, Number(benchOption(args.rest, 'images') ?? '3'));
  // As `p2phd synthesize` runs: no gradients, one wasm thread per core unless P2PHD_WASM_THREADS says otherwise.
  const info = await initBackend(backend, { log: args.progress, warn: args.progress, gradients: false, wasmThreads: inferenceWasmThreads() });
  const config = resolveConfig({ label_nc: 35, instance: true, instance_feat: false, netG: 'global', ngf: 64, n_downsample_global: 4, n_blocks_global: 9, norm: 'instance' });
  const folder = await mkdtemp(join(tmpdir(), 'p2phd-bench-synth-'));
  const rows: BenchRow[] = [];
  try {
    args.progress('synthesize bench: writing a default G1 checkpoint (random weights, N(0, 0.02))');
    const random = new Random(1);
    const tensors = new Map<string, Tensor>();
    for (const spec of modelSpecs(config, ['G'])) {
      const shape = referenceShape(spec);
      tensors.set(spec.key, makeTensor('F32', shape, random.fillNormal(new Float32Array(shape.reduce((a, b) => a * b, 1)), 0, 0.02)));
    }
    const checkpoint = join(folder, 'g1.safetensors');
    await writeTensorFile(checkpoint, 'checkpoint', tensors, { stage: 'global', epoch: 0, step: 0, lr: 0.0002, config });

    for (const [width, height] of sizes) {
      const labelsDir = join(folder, `labels-${width}x${height}`);
      const instancesDir = join(folder, `inst-${width}x${height}`);
      mkdirSync(labelsDir);
      mkdirSync(instancesDir);
      const { labels, instances } = sceneMaps(width, height);
      for (let i = 0; i < imagesPerSize; i++) {
        await writeFileAtomically(join(labelsDir, `scene${i}.png`), encodePng({ width, height, bitDepth: 8, colorType: PngColorType.gray, samples: labels }));
        await writeFileAtomically(join(instancesDir, `scene${i}.png`), encodePng({ width, height, bitDepth: 16, colorType: PngColorType.gray, samples: instances }));
      }
      args.progress(`synthesize bench: ${imagesPerSize} image(s) at ${width}x${height} on ${info.name}`);
      const summary = await runSynthesizeStage(
        { checkpoint, inputs: { kind: 'files', labels: labelsDir, instances: instancesDir }, out: join(folder, `out-${width}x${height}`), style: 'random', useEncoded: false, seed: 0 },
        createLogger({ quiet: true }),
      );
      const afterFirst = <T>(list: T[]): T[] => (list.length > 1 ? list.slice(1) : list);
      const steadySeconds = Math.min(...afterFirst(summary.imageSeconds));
      const steadyCpuSeconds = Math.min(...afterFirst(summary.imageCpuSeconds));
      const measured = args.rest.includes('--pytorch') ? pytorchForwardSeconds(width, height, imagesPerSize, args.progress) : null;
      const pytorch = measured ?? PYTORCH_SECONDS_256x128 * ((width * height) / (256 * 128));
      rows.push({
        size: `${width}x${height}`,
        'model load s': Number(summary.modelLoadSeconds.toFixed(2)),
        'first image s': Number(summary.imageSeconds[0]!.toFixed(2)),
        'image s (best after first)': Number(steadySeconds.toFixed(2)),
        'image CPU s': Number(steadyCpuSeconds.toFixed(2)),
        'PyTorch s': Number(pytorch.toFixed(2)),
        'PyTorch source': measured === null ? 'issue 6, scaled by pixels' : 'measured, 2 threads',
        'ratio to PyTorch': Number((steadySeconds / pytorch).toFixed(2)),
      });
    }
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
  return {
    stage: 'synthesize',
    notes: [
      `backend ${info.name}: ${info.detail}${info.threads ? `, ${info.threads} threads` : ''}; ${cpus().length} CPUs`,
      'default G1: label_nc 35 + edges, ngf 64, 4 downsamplings, 9 blocks; image time = decode + G + PNG write, model load separate',
      `PyTorch reference: measured with --pytorch (G1 forward only, no_grad, 2 threads), else ${PYTORCH_SECONDS_256x128} s at 256x128 from issue 6 scaled by pixel count`,
    ],
    rows,
  };
}
