/**
 * pix2pix's training-step benchmark (`npm run bench -- train --family pix2pix [--pytorch]`):
 * seconds per step of the step `p2phd train pix2pix` runs (G once with
 * dropout; D's update on the detached fake and the real; G's loss through the
 * updated D; Adam on the host), and of synthesize's G forward (the default
 * test mode: batch statistics, dropout on), for
 *
 *   default  the reference's default: unet_256 (ngf 64, 54.4M parameters) +
 *            basic D (ndf 64), batch norm, 256x256, batch 1;
 *   small    unet_128 ngf 16 + basic D ndf 16 at 128x128.
 *
 * With --pytorch the same step and forward run in PyTorch (Debian's
 * python3-torch: /usr/bin/python3, 2 threads) from
 * bench/train_step_pix2pix_torch.py, for ratios measured on this machine.
 * Memory: the process's peak RSS after the steps (the kernel's maxRSS; with
 * several configs, the peak so far), the wasm heap's tensor peak, and
 * PyTorch's peak RSS after its steps.
 * Options: --configs default,small  --steps 3  --backend wasm.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { heapAccounting, initBackend, stopHeapAccounting, wasmThreadsPerCore, type BackendChoice } from '../src/backend/index.js';
import { countParameters, isTrainable } from '../src/model/layers.js';
import { disposeParams, toVariables } from '../src/model/params.js';
import { Random } from '../src/model/random.js';
import { resolvePix2pixConfig, unetLevels, type Pix2pixConfig } from '../src/families/pix2pix/config.js';
import { SeededDropout } from '../src/families/pix2pix/dropout.js';
import { testModeOptions } from '../src/families/pix2pix/inference.js';
import { initPix2pixParams } from '../src/families/pix2pix/init.js';
import { pix2pixSpecs } from '../src/families/pix2pix/networks.js';
import { pix2pixStep } from '../src/families/pix2pix/step.js';
import { translate } from '../src/synthesis/pix2pix.js';
import { adamUpdate, createSharedSlots, type AdamSlot } from '../src/train/adam.js';
import { valuesForUpload } from '../src/backend/buffers.js';
import { benchOption } from './options.js';
import type { BenchArgs, BenchRow, StageResult } from './run.js';

interface Pix2pixBenchConfig {
  config: Pix2pixConfig;
  size: number;
}

const CONFIGS: Readonly<Record<string, Pix2pixBenchConfig>> = Object.freeze({
  default: { config: resolvePix2pixConfig({}), size: 256 },
  small: { config: resolvePix2pixConfig({ netG: 'unet_128', ngf: 16, ndf: 16 }), size: 128 },
});

function pytorchTimes(bench: Pix2pixBenchConfig, steps: number, progress: (line: string) => void): { wall: number; cpu: number; synthesize: number; peakRssMiB: number | null } | null {
  const python = '/usr/bin/python3';
  const script = join(__dirname, '..', '..', 'bench', 'train_step_pix2pix_torch.py');
  if (!existsSync(python) || !existsSync(script)) return null;
  const args = [script, `--size=${bench.size}`, `--levels=${unetLevels(bench.config) ?? 8}`, `--ngf=${bench.config.ngf}`, `--ndf=${bench.config.ndf}`, `--steps=${steps}`, '--threads=2'];
  progress(`train bench: PyTorch pix2pix (${python} ${args.join(' ')})`);
  const result = spawnSync(python, args, { encoding: 'utf8' });
  if (result.status !== 0) {
    progress(`train bench: PyTorch unavailable: ${(result.stderr || '').split('\n').filter(Boolean).pop() ?? 'failed'}`);
    return null;
  }
  const read = (name: string): number => Number(new RegExp(`^${name}=([\\d.]+)`, 'm').exec(result.stdout)?.[1]);
  const rss = read('peak_rss_mib');
  return { wall: read('seconds_per_step'), cpu: read('cpu_seconds_per_step'), synthesize: read('synthesize_seconds'), peakRssMiB: Number.isFinite(rss) ? rss : null };
}

export async function runPix2pixBench(args: BenchArgs): Promise<StageResult> {
  const backend = (benchOption(args.rest, 'backend') ?? 'wasm') as BackendChoice;
  const steps = Number(benchOption(args.rest, 'steps') ?? '3');
  const names = (benchOption(args.rest, 'configs') ?? 'default').split(',');
  const info = await initBackend(backend, { log: () => {}, wasmThreads: wasmThreadsPerCore() });
  const notes = [
    `backend ${info.name} (${info.detail}; ${info.threads} thread(s)); ${cpus().length} CPU(s) ${cpus()[0]?.model ?? ''}; load average at start ${loadavg().map((l) => l.toFixed(2)).join(' ')}`,
    'step = p2phd train pix2pix\'s: G once (dropout), D on fake.detach() and real + Adam D, G loss (vanilla + 100 L1) through the updated D + Adam G; synthesize = G forward at the same size, batch statistics, dropout on',
  ];
  const rows: BenchRow[] = [];
  for (const name of names) {
    const bench = CONFIGS[name];
    if (!bench) throw new Error(`unknown pix2pix config ${name}; known: ${Object.keys(CONFIGS).join(', ')}`);
    const { config, size } = bench;
    const specs = pix2pixSpecs(config);
    // The wasm heap's tensor high-water mark over this config's steps (weights included).
    stopHeapAccounting();
    const accounting = heapAccounting();
    args.progress(`train bench: pix2pix ${name} (${(countParameters(specs) / 1e6).toFixed(1)}M parameters) at ${size}x${size}`);
    const initial = initPix2pixParams(specs, config, 1);
    const variables = toVariables(initial, specs);
    // The variables share the initial tensors' data: those are let go now, or they would keep the first weights alive beside the updated ones.
    disposeParams(initial);
    const trained = specs.filter(isTrainable);
    const slotList = createSharedSlots(trained.map((spec) => variables.get(spec.key)!.size));
    const slots = new Map<string, AdamSlot>(trained.map((spec, i) => [spec.key, slotList[i]!]));
    for (const [key, slot] of slots) slot.weights.set(variables.get(key)!.dataSync() as Float32Array);
    const keysG = trained.filter((spec) => spec.key.startsWith('G.')).map((spec) => spec.key);
    const keysD = trained.filter((spec) => spec.key.startsWith('D.')).map((spec) => spec.key);
    const hyper = { lr: 0.0002, beta1: 0.5, beta2: 0.999, epsilon: 1e-8 };
    const apply = (gradients: ReadonlyMap<string, Float32Array>, keys: readonly string[], step: number): void => {
      for (const key of keys) {
        const slot = slots.get(key)!;
        adamUpdate(slot, gradients.get(key)!, step, hyper);
        const updated = tf.tensor(valuesForUpload(slot.weights), variables.get(key)!.shape, 'float32');
        variables.get(key)!.assign(updated);
        updated.dispose();
      }
    };
    const random = new Random(3);
    const image = (channels: number): tf.Tensor4D => tf.tensor4d(Float32Array.from({ length: size * size * channels }, () => random.uniform(-1, 1)), [1, size, size, channels]);
    const times: number[] = [];
    const cpuTimes: number[] = [];
    for (let step = 0; step <= steps; step++) {
      const A = image(config.input_nc);
      const B = image(config.output_nc);
      const started = process.hrtime.bigint();
      const cpuStarted = process.cpuUsage();
      const result = pix2pixStep({ config, variables, keysG, keysD }, { A, B }, { ganMode: 'vanilla', lambdaL1: 100 }, {
        dropout: new SeededDropout(Random.forLabel(1, `dropout/step-${step}`)),
        updateD: (gradients) => apply(gradients, keysD, step + 1),
      });
      apply(result.gradientsG, keysG, step + 1);
      times.push(Number(process.hrtime.bigint() - started) / 1e9);
      const cpu = process.cpuUsage(cpuStarted);
      cpuTimes.push((cpu.user + cpu.system) / 1e6);
      tf.dispose([A, B]);
      args.progress(`train bench: pix2pix ${name} step ${step + 1}/${steps + 1}: ${times[times.length - 1]!.toFixed(2)} s`);
    }
    // The kernel's high-water mark (maxRSS) after the training steps: the process's peak so far (configs run in order).
    const peakRss = process.resourceUsage().maxRSS * 1024;
    const heapPeak = accounting.peak;
    stopHeapAccounting();
    const input = Float32Array.from({ length: size * size * config.input_nc }, () => random.uniform(-1, 1));
    translate(config, variables, { image: input, height: size, width: size }, testModeOptions('reference', new Random(1)));
    const synthStarted = process.hrtime.bigint();
    for (let i = 0; i < steps; i++) translate(config, variables, { image: input, height: size, width: size }, testModeOptions('reference', new Random(i)));
    const synthesize = Number(process.hrtime.bigint() - synthStarted) / 1e9 / steps;
    for (const variable of variables.values()) variable.dispose();
    const mean = times.slice(1).reduce((a, b) => a + b, 0) / Math.max(1, steps);
    const meanCpu = cpuTimes.slice(1).reduce((a, b) => a + b, 0) / Math.max(1, steps);
    const pytorch = args.rest.includes('--pytorch') ? pytorchTimes(bench, steps, args.progress) : null;
    rows.push({
      config: `pix2pix-${name}`,
      size: `${size}x${size}`,
      params_M: Number((countParameters(specs) / 1e6).toFixed(1)),
      first_step_s: Number(times[0]!.toFixed(2)),
      s_per_step: Number(mean.toFixed(2)),
      cpu_s_per_step: Number(meanCpu.toFixed(2)),
      synthesize_s: Number(synthesize.toFixed(3)),
      pytorch_s: pytorch?.wall ?? null,
      pytorch_cpu_s: pytorch?.cpu ?? null,
      pytorch_synthesize_s: pytorch?.synthesize ?? null,
      ratio: pytorch ? Number((mean / pytorch.wall).toFixed(2)) : null,
      synthesize_ratio: pytorch ? Number((synthesize / pytorch.synthesize).toFixed(2)) : null,
      peak_rss_MiB: Math.round(peakRss / 2 ** 20),
      heap_tensor_peak_MiB: info.name === 'wasm' ? Math.round(heapPeak / 2 ** 20) : null,
      pytorch_peak_rss_MiB: pytorch?.peakRssMiB ?? null,
      rss_ratio: pytorch?.peakRssMiB ? Number((peakRss / 2 ** 20 / pytorch.peakRssMiB).toFixed(2)) : null,
      load_avg_1m: Number(loadavg()[0]!.toFixed(2)),
    });
  }
  return { stage: 'train', notes, rows };
}
