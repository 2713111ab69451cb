/**
 * Training-step benchmark: seconds per step of the step `p2phd train` runs
 * (runStep: forward, one backward for G and D, Adam on both), on synthetic
 * street-like batches, for
 *
 *   default  the reference's default architecture (label_nc 35 + instance,
 *            G1 ngf 64, 4 downsamplings, 9 blocks, 182.5M parameters;
 *            D 2 scales x 3 layers, ndf 64) at 256x128, batch 1;
 *   small    G1 ngf 32, 2 downsamplings, 2 blocks, default D (ndf 64), at
 *            256x128 (issue 15's size; issue 5's 0.80 s was at 128x128);
 *   g1-1024  the default architecture at the reference's 1024x512 (GPU);
 *   local-2048  the reference's 1024p local enhancer (ngf 32, 1 enhancer)
 *            at 2048x1024 (GPU);
 *   tiny     G1 ngf 8, 2 downsamplings, 1 block; D 1 scale x 2 layers, ndf 8,
 *            at 64x32 (scripts/gpu-run.sh's CI path on lavapipe).
 *
 *   npm run bench -- train [--json] [--backend wasm] [--configs small,default] [--steps 3] [--size WxH] [--profile] [--pytorch]
 *
 * On a device backend (webgpu, tensorflow, cpu) the step is the
 * device-resident one (runDeviceStep: Adam on the device, only the losses
 * read back), and the default configs are g1-1024 and local-2048;
 * `--size WxH` overrides every config's size (a tiny run on lavapipe, say).
 * Also reported there: images/s and the peak tensor memory of one step
 * (tf.profile's peakBytes, from one more step; `--no-peak-profile` skips
 * it) and, on webgpu, the device memory (backend/webgpu/buffer-accounting.ts):
 * gpu_live_peak_MiB, the high-water mark of the bytes in live buffers over
 * the run (the analogue of torch.cuda.max_memory_allocated), and
 * gpu_pool_MiB, the most tfjs's buffer pool held during the run (freed
 * buffers stay there for reuse, so this is the memory the device must have;
 * without P2PHD_WEBGPU_POOL_BELOW_MIB the pool never shrinks;
 * gpu_pool_step1_MiB over the first step), beside the estimate's device
 * figure (estimate_device_MiB, src/train/memory.ts).
 *
 * Reported: the first step (kernel set-up included) and the mean of the
 * following steps; the wasm heap's size after the run (it only grows, so
 * this is its peak), its tensor high-water mark (HeapAccounting; what the
 * memory estimate predicts) and the process's peak RSS (the kernel's maxRSS:
 * the heap plus Adam's moments and master weights in ordinary memory; run
 * one config per process for a per-config figure); with --profile, the kernels that
 * dominate one step. With --pytorch, the same step in PyTorch (Debian's
 * python3-torch, if installed: /usr/bin/python3) runs side by side from
 * bench/train_step_torch.py, for a ratio measured on this machine, with one
 * more untimed PyTorch step for its peak of live tensor bytes
 * (pytorch_peak_tensor_MiB: torch.profiler's allocator events, see
 * train_step_torch.py --memory) and the ratios gpu_pool_ratio and
 * gpu_live_ratio of the webgpu figures to it (issue 26's target: the pool at
 * most 1.25x).
 * Issue 5's reference points (PyTorch 1.13 CPU, 2 threads): 6.6 s (default),
 * 0.80 s (small).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { conv2dOperatorCaching, heapAccounting, initBackend, SavedTensorOffload, setConv2dOperatorCaching, stopHeapAccounting, wasmThreadsPerCore, webgpuBufferAccounting, type BackendChoice } from '../src/backend/index.js';
import { DEFAULT_CONFIG, generatorInputChannels, labelChannels, resolveConfig, type ArchConfig } from '../src/families/pix2pixhd/config.js';
import { countParameters } from '../src/model/layers.js';
import { modelSpecs, trainingNetworks } from '../src/families/pix2pixhd/networks.js';
import { initParams } from '../src/model/params.js';
import { Random } from '../src/model/random.js';
import type { Batch } from '../src/train/data.js';
import { AdamThread } from '../src/train/adamThread.js';
import { ImagePool } from '../src/train/imagePool.js';
import { checkTrainingMemory, estimateTrainingMemory } from '../src/train/memory.js';
import type { Stage } from '../src/families/pix2pixhd/stages.js';
import { createTrainingModel, disposeTrainingModel } from '../src/train/model.js';
import { runStep } from '../src/train/trainer.js';
import { runDeviceStep } from '../src/train/deviceStep.js';
import { trainsOnHost } from '../src/backend/capabilities.js';
import { benchOption } from './options.js';
import type { BenchArgs, BenchRow, StageResult } from './run.js';

const MIB = 1024 * 1024;

interface BenchConfig {
  name: string;
  config: ArchConfig;
  /** The training stage (default global): what optimizer_G trains. */
  stage?: Stage;
  height: number;
  width: number;
  /** Issue 5's PyTorch 1.13 CPU (2 threads) seconds per step on this machine class. */
  pytorchSeconds: number;
}

const CONFIGS: Readonly<Record<string, BenchConfig>> = Object.freeze({
  small: { name: 'small', config: resolveConfig({ ...DEFAULT_CONFIG, ngf: 32, n_downsample_global: 2, n_blocks_global: 2 }), height: 128, width: 256, pytorchSeconds: 0.8 },
  default: { name: 'default', config: resolveConfig({ ...DEFAULT_CONFIG }), height: 128, width: 256, pytorchSeconds: 6.6 },
  // The demo's first stage (src/pipeline/demo.ts) without E: tiny layers, where per-op costs dominate.
  'demo-global': {
    name: 'demo-global',
    config: resolveConfig({ ...DEFAULT_CONFIG, ngf: 16, n_downsample_global: 2, n_blocks_global: 3, num_D: 2, n_layers_D: 2, ndf: 16 }),
    height: 64,
    width: 128,
    pytorchSeconds: Number.NaN,
  },
  // scripts/gpu-run.sh's tiny path (CI, lavapipe): the smallest network that still has every layer kind.
  tiny: {
    name: 'tiny',
    config: resolveConfig({ ...DEFAULT_CONFIG, ngf: 8, n_downsample_global: 2, n_blocks_global: 1, num_D: 1, n_layers_D: 2, ndf: 8 }),
    height: 32,
    width: 64,
    pytorchSeconds: Number.NaN,
  },
  // PyTorch figures for the GPU sizes: issue 5's CPU step scaled by pixels (no GPU figure measured yet).
  'g1-1024': { name: 'g1-1024', config: resolveConfig({ ...DEFAULT_CONFIG }), height: 512, width: 1024, pytorchSeconds: 6.6 * 16 },
  // The reference's 1024p model (train_1024p_24G.sh: --netG local --ngf 32 --num_D 3) at 2048x1024, its two stages.
  'local-2048': { name: 'local-2048', config: resolveConfig({ ...DEFAULT_CONFIG, netG: 'local', ngf: 32, n_local_enhancers: 1, num_D: 3 }), stage: 'local', height: 1024, width: 2048, pytorchSeconds: Number.NaN },
  'joint-2048': { name: 'joint-2048', config: resolveConfig({ ...DEFAULT_CONFIG, netG: 'local', ngf: 32, n_local_enhancers: 1, num_D: 3 }), stage: 'joint', height: 1024, width: 2048, pytorchSeconds: Number.NaN },
});

/** Bytes the device holds now, where the backend says: the GPU buffer pool (webgpu), else null. */
function gpuAllocatedBytes(): number | null {
  const memory = tf.memory() as tf.MemoryInfo & { numBytesAllocatedInGPU?: number };
  return typeof memory.numBytesAllocatedInGPU === 'number' ? memory.numBytesAllocatedInGPU : null;
}

/** A street-like batch: sky, buildings, road, cars as instances; a noisy photo. */
export function syntheticBatch(config: ArchConfig, height: number, width: number, seed: number): Batch {
  const random = new Random(seed);
  const channels = generatorInputChannels({ ...config, instance_feat: false });
  const pixels = height * width;
  const input = new Float32Array(pixels * channels);
  const inst = new Int32Array(pixels);
  const ids = new Uint8Array(pixels);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const v = y / height;
      let label = v < 0.3 ? 23 : v < 0.6 ? 11 : 7;
      let instance = label;
      const car = Math.floor((x / width) * 5);
      if (v > 0.55 && v < 0.75 && (x / width) * 5 - car < 0.6) {
        label = 26;
        instance = 26000 + car;
      }
      const p = y * width + x;
      ids[p] = label % labelChannels(config);
      inst[p] = instance;
      input[p * channels + ids[p]!] = 1;
    }
  }
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = y * width + x;
      const differs = (q: number): boolean => inst[q] !== inst[p];
      const edge = (x > 0 && differs(p - 1)) || (x + 1 < width && differs(p + 1)) || (y > 0 && differs(p - width)) || (y + 1 < height && differs(p + width));
      if (config.instance) input[p * channels + channels - 1] = edge ? 1 : 0;
    }
  }
  const image = new Float32Array(pixels * 3);
  for (let i = 0; i < image.length; i++) image[i] = random.uniform(-1, 1);
  return { count: 1, height, width, input, inputChannels: channels, image, inst, firstLabel: { ids } };
}

function loadAverage(): string {
  return loadavg().map((l) => l.toFixed(2)).join(' ');
}

function wasmHeapBytes(): number | null {
  const backend = tf.findBackend('wasm') as unknown as { wasm?: { HEAPU8: Uint8Array } } | null;
  return backend?.wasm ? backend.wasm.HEAPU8.length : null;
}

function topKernels(profile: Awaited<ReturnType<typeof tf.profile>>, count: number): string {
  const totals = new Map<string, number>();
  for (const kernel of profile.kernels) totals.set(kernel.name, (totals.get(kernel.name) ?? 0) + (kernel.kernelTimeMs as number));
  const all = [...totals.values()].reduce((a, b) => a + b, 0);
  return [...totals.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([name, ms]) => `${name} ${(ms / 1000).toFixed(2)} s (${((100 * ms) / all).toFixed(0)}%)`)
    .join(', ');
}

/** The kernels that dominate one step, grouped by name and input shapes (where a layer's time goes). */
function topKernelShapes(profile: Awaited<ReturnType<typeof tf.profile>>, count: number): string {
  const totals = new Map<string, { ms: number; calls: number }>();
  for (const kernel of profile.kernels) {
    const key = `${kernel.name}(${kernel.inputShapes.map((s) => (s ? s.join('x') : '-')).join(', ')})`;
    const total = totals.get(key) ?? { ms: 0, calls: 0 };
    total.ms += kernel.kernelTimeMs as number;
    total.calls += 1;
    totals.set(key, total);
  }
  return [...totals.entries()]
    .sort((a, b) => b[1].ms - a[1].ms)
    .slice(0, count)
    .map(([key, { ms, calls }]) => `\n#   ${(ms / 1000).toFixed(3)} s  ${calls}x ${key}`)
    .join('');
}

interface PytorchStep {
  wall: number;
  cpu: number;
  peakRssMiB: number | null;
  /** The peak of live tensor bytes in one step (train_step_torch.py --memory: torch.profiler's allocator events on the CPU). */
  peakTensorMiB: number | null;
}

/**
 * The PyTorch step of the same configuration (wall and CPU seconds, peak RSS,
 * peak live tensor bytes), when Debian's python3-torch is installed.
 */
function pytorchSecondsPerStep(bench: BenchConfig, steps: number, progress: (line: string) => void): PytorchStep | null {
  const python = '/usr/bin/python3';
  const script = join(__dirname, '..', '..', 'bench', 'train_step_torch.py');
  if (!existsSync(python) || !existsSync(script)) return null;
  const { config } = bench;
  const args = [script, `--height=${bench.height}`, `--width=${bench.width}`, `--ngf=${config.ngf}`, `--n-downsample=${config.n_downsample_global}`,
    `--n-blocks=${config.n_blocks_global}`, `--ndf=${config.ndf}`, `--n-layers-d=${config.n_layers_D}`, `--num-d=${config.num_D}`,
    `--input-nc=${generatorInputChannels(config)}`, `--steps=${steps}`, '--threads=2', '--memory'];
  progress(`train bench: PyTorch ${bench.name} (${python} ${args.join(' ')})`);
  const result = spawnSync(python, args, { encoding: 'utf8' });
  if (result.status !== 0) {
    progress(`train bench: PyTorch unavailable: ${(result.stderr || result.error?.message || '').split('\n').filter(Boolean).pop() ?? 'failed'}`);
    return null;
  }
  const wall = /seconds_per_step=([\d.]+)/.exec(result.stdout);
  const cpu = /cpu_seconds_per_step=([\d.]+)/.exec(result.stdout);
  const rss = /peak_rss_mib=([\d.]+)/.exec(result.stdout);
  const tensors = /peak_tensor_mib=([\d.]+)/.exec(result.stdout);
  return wall && cpu ? { wall: Number(wall[1]), cpu: Number(cpu[1]), peakRssMiB: rss ? Number(rss[1]) : null, peakTensorMiB: tensors ? Number(tensors[1]) : null } : null;
}

export async function runBench(args: BenchArgs): Promise<StageResult> {
  const family = benchOption(args.rest, 'family') ?? 'pix2pixhd';
  if (family === 'pix2pix') return (await import('./trainPix2pix.js')).runPix2pixBench(args);
  if (family !== 'pix2pixhd') throw new Error(`--family ${family}: the train bench knows pix2pixhd and pix2pix`);
  const backend = (benchOption(args.rest, 'backend') ?? 'wasm') as BackendChoice;
  const steps = Number(benchOption(args.rest, 'steps') ?? '3');
  const onHost = trainsOnHost(backend === 'auto' ? 'wasm' : backend);
  const names = (benchOption(args.rest, 'configs') ?? (onHost ? 'small,default' : 'g1-1024,local-2048')).split(',');
  const sizeOption = benchOption(args.rest, 'size');
  const size = sizeOption?.split('x').map(Number) as [number, number] | undefined;
  if (size && (size.length !== 2 || !size.every((n) => Number.isInteger(n) && n > 0))) throw new Error(`--size ${sizeOption}: expected WxH`);
  const profile = args.rest.includes('--profile');
  const withPytorch = args.rest.includes('--pytorch');
  // tf.profile's extra step (peak_tensor_MiB) costs a whole step: minutes on lavapipe at the default's sizes.
  const peakProfile = !args.rest.includes('--no-peak-profile');
  // As `p2phd train` runs: one wasm thread per core unless P2PHD_WASM_THREADS says otherwise.
  const info = await initBackend(backend, { log: () => {}, wasmThreads: wasmThreadsPerCore() });
  const device = !trainsOnHost(info.name);
  const notes = [
    `backend ${info.name} (${info.detail}; ${info.threads} thread(s)); ${cpus().length} CPU(s) ${cpus()[0]?.model ?? ''}; load average at start ${loadAverage()}`,
    device
      ? 'step = p2phd runDeviceStep: E/G forward, D on fake.detach() / real / fake, LSGAN + feature matching, one backward, Adam on G and D on the device; only the losses are read back'
      : 'step = p2phd runStep: E/G forward, D on fake.detach() / real / fake, LSGAN + feature matching, one backward, Adam on G and D (moments in JS memory, on a worker thread during the backward pass)',
  ];
  const rows: BenchRow[] = [];
  let peakRss = process.memoryUsage().rss;
  for (const name of names) {
    const known = CONFIGS[name];
    if (!known) throw new Error(`unknown config ${name}; known: ${Object.keys(CONFIGS).join(', ')}`);
    const bench = size ? { ...known, width: size[0], height: size[1] } : known;
    const { config } = bench;
    const specs = modelSpecs(config, trainingNetworks(config));
    args.progress(`train bench: ${name} (${(countParameters(specs) / 1e6).toFixed(1)}M parameters) at ${bench.width}x${bench.height}`);
    // The heap's tensor high-water mark from here on (wasm): what the memory estimate predicts.
    stopHeapAccounting();
    const accounting = heapAccounting();
    const stage = bench.stage ?? 'global';
    // As `p2phd train` runs it: offloaded where the wasm heap cannot hold the step otherwise.
    const memory =
      info.name === 'wasm' ? checkTrainingMemory(config, stage, { height: bench.height, width: bench.width }, 1, info.name) : estimateTrainingMemory(config, stage, { height: bench.height, width: bench.width }, 1);
    // The webgpu buffer pool's figures (live buffers' high-water mark, the pool), from before the model is made.
    const buffers = webgpuBufferAccounting();
    let firstStepBuffers: ReturnType<NonNullable<typeof buffers>['figures']> | undefined;
    // As train does: an offloaded step rewrites its weights in place, which needs XNNPACK to cache no packed copies.
    const previousCaching = conv2dOperatorCaching();
    if (memory.offload) setConv2dOperatorCaching(false);
    const model = createTrainingModel(config, stage, initParams(specs, 1));
    const pool = new ImagePool(0);
    const devicePool = new ImagePool<tf.Tensor>(0);
    const hyper = { lr: 0.0002, beta1: 0.5, beta2: 0.999, epsilon: 1e-8 };
    const losses = { gan: 'lsgan', ganFeatLoss: true, lambdaFeat: 10, ...(memory.offload ? { offload: new SavedTensorOffload() } : {}) } as const;
    const adam = device ? undefined : new AdamThread(new Map([...model.optimizers.G.slots, ...model.optimizers.D.slots]));
    const step = (batch: Batch, index: number): Promise<unknown> =>
      device ? runDeviceStep(model, batch, losses, devicePool, 1, index, false, hyper) : runStep(model, batch, losses, pool, 1, index, false, hyper, adam);
    const times: number[] = [];
    let peakTensorBytes: number | null = null;
    const cpuTimes: number[] = [];
    try {
      for (let stepIndex = 0; stepIndex <= steps; stepIndex++) {
        const batch = syntheticBatch(config, bench.height, bench.width, stepIndex);
        const started = process.hrtime.bigint();
        const cpuStarted = process.cpuUsage();
        await step(batch, stepIndex);
        times.push(Number(process.hrtime.bigint() - started) / 1e9);
        const cpu = process.cpuUsage(cpuStarted);
        cpuTimes.push((cpu.user + cpu.system) / 1e6);
        if (stepIndex === 0) firstStepBuffers = buffers?.figures();
        // The kernel's high-water mark (maxRSS, KiB): the true peak, not a sample between steps.
        peakRss = Math.max(peakRss, process.resourceUsage().maxRSS * 1024);
        args.progress(
          `train bench: ${name} step ${stepIndex + 1}/${steps + 1}: ${times[times.length - 1]!.toFixed(2)} s (CPU ${cpuTimes[cpuTimes.length - 1]!.toFixed(2)} s; load ${loadAverage()}; ` +
            `peak RSS ${Math.round(peakRss / MIB)} MiB, ` +
            (buffers ? `GPU live peak ${Math.round(buffers.figures().livePeakBytes / MIB)} MiB, pool ${Math.round(buffers.figures().poolBytes / MIB)} MiB)` : `heap tensor peak ${Math.round(accounting.peak / MIB)} MiB)`),
        );
      }
      if (device && peakProfile) {
        // One more step under tf.profile, for its peak tensor bytes (not timed).
        const batch = syntheticBatch(config, bench.height, bench.width, 98);
        peakTensorBytes = (await tf.profile(async () => {
          await step(batch, 98);
        })).peakBytes;
      }
      if (profile) {
        const batch = syntheticBatch(config, bench.height, bench.width, 99);
        const profiled = await tf.profile(async () => {
          await step(batch, 99);
        });
        notes.push(`${name} profile (one step): ${topKernels(profiled, 8)}`);
        if (args.rest.includes('--profile-shapes')) notes.push(`${name} profile by shape (one step): ${topKernelShapes(profiled, 40)}`);
      }
    } finally {
      buffers?.stop();
      await adam?.close();
      disposeTrainingModel(model);
      setConv2dOperatorCaching(previousCaching);
    }
    const steady = times.slice(1);
    const mean = steady.reduce((a, b) => a + b, 0) / Math.max(1, steady.length);
    const steadyCpu = cpuTimes.slice(1);
    const meanCpu = steadyCpu.reduce((a, b) => a + b, 0) / Math.max(1, steadyCpu.length);
    const heap = wasmHeapBytes();
    const estimate = memory;
    const pytorch = withPytorch ? pytorchSecondsPerStep(bench, steps, args.progress) : null;
    const lastBuffers = buffers?.figures();
    const mib = (bytes: number | undefined): number | null => (bytes === undefined ? null : Math.round(bytes / MIB));
    const poolBytes = lastBuffers?.poolPeakBytes ?? gpuAllocatedBytes() ?? undefined;
    rows.push({
      config: name,
      size: `${bench.width}x${bench.height}`,
      params_M: Number((countParameters(specs) / 1e6).toFixed(1)),
      first_step_s: Number(times[0]!.toFixed(2)),
      s_per_step: Number(mean.toFixed(2)),
      images_per_s: Number((1 / mean).toFixed(3)),
      cpu_s_per_step: Number(meanCpu.toFixed(2)),
      pytorch_s: pytorch?.wall ?? bench.pytorchSeconds,
      pytorch_cpu_s: pytorch?.cpu ?? null,
      pytorch_source: pytorch === null ? 'issue 5' : 'measured',
      ratio: Number((mean / (pytorch?.wall ?? bench.pytorchSeconds)).toFixed(2)),
      wasm_heap_MiB: heap === null ? null : Math.round(heap / MIB),
      peak_tensor_MiB: peakTensorBytes === null ? null : Math.round(peakTensorBytes / MIB),
      gpu_pool_MiB: mib(poolBytes),
      gpu_pool_step1_MiB: mib(firstStepBuffers?.poolPeakBytes),
      gpu_live_peak_MiB: mib(lastBuffers?.livePeakBytes),
      estimate_device_MiB: Math.round(estimate.deviceBytes / MIB),
      pytorch_peak_tensor_MiB: pytorch?.peakTensorMiB ?? null,
      gpu_pool_ratio: poolBytes !== undefined && pytorch?.peakTensorMiB ? Number((poolBytes / MIB / pytorch.peakTensorMiB).toFixed(2)) : null,
      gpu_live_ratio: lastBuffers && pytorch?.peakTensorMiB ? Number((lastBuffers.livePeakBytes / MIB / pytorch.peakTensorMiB).toFixed(2)) : null,
      estimate_MiB: Math.round(estimate.totalBytes / MIB),
      offloaded: estimate.offload ? 'yes' : 'no',
      heap_tensor_peak_MiB: info.name === 'wasm' ? Math.round(accounting.peak / MIB) : null,
      estimate_tensor_MiB: Math.round(estimate.tensorBytes / MIB),
      peak_rss_MiB: Math.round(peakRss / MIB),
      pytorch_peak_rss_MiB: pytorch?.peakRssMiB ?? null,
      rss_ratio: pytorch?.peakRssMiB ? Number((peakRss / MIB / pytorch.peakRssMiB).toFixed(2)) : null,
      load_avg_1m: Number(loadavg()[0]!.toFixed(2)),
    });
  }
  return { stage: 'train', notes, rows };
}
