/**
 * Ops benchmark: per op and shape, milliseconds and GFLOP/s on each available
 * backend. Shapes are pix2pixHD's (the issue's target is [1,128,128,64] 3x3).
 *
 *   npm run bench -- ops [--json] [--backends=wasm,wasm:2,cpu,torch:1,torch:2] [--filter=conv] [--min-ms=600]
 *
 * `wasm:N` is the wasm backend with N threads (P2PHD_WASM_THREADS), measured
 * in a child process since a process picks its wasm build once. `torch:N`
 * runs the same cases in PyTorch with N threads (bench/ops_torch.py, needs
 * Debian's python3-torch at /usr/bin/python3), for a ratio on this machine.
 *
 * Default backends: tensorflow (if installed), wasm, wasm:<cores>; add cpu
 * explicitly (its conv gradients take minutes). Each case is warmed up, then
 * run until --min-ms have passed (at least 3 runs); a case slower than a
 * second is timed once, by its first run. `ms` is the median; GFLOP/s and
 * elements/s use the best run, which is the figure least disturbed by other
 * load on the machine (the load average is printed in the notes). Conv-type
 * rows count 2 * multiply-adds of the ideal computation (work on inserted
 * zeros or padding is not counted).
 */
import { spawnSync } from 'node:child_process';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, type BackendChoice, type BackendInfo } from '../src/backend';
import { avgPoolDownsample, conv2d, conv2dTranspose, instanceNorm, reflectPad } from '../src/backend/ops';
import { UsageError } from '../src/errors';
import { benchOption } from './options';
import type { BenchArgs, BenchRow, StageResult } from './run';

type Shape4 = [number, number, number, number];

/** How bench/ops_torch.py rebuilds a case in PyTorch. */
type TorchSpec =
  | {
      kind: 'conv' | 'convInput' | 'convFilter';
      xShape: Shape4;
      kernel: number;
      outChannels: number;
      stride: number;
      pad: number;
      freshWeights?: boolean;
    }
  | { kind: 'transposed'; xShape: Shape4; kernel: number; outChannels: number; stride: number; pad: number; outputPadding: number }
  | { kind: 'fwd' | 'fwdbwd'; xShape: Shape4; op: string };

interface OpCase {
  name: string;
  torch: TorchSpec;
  shape: string;
  /** Floating-point operations of one call, or null for memory-bound ops. */
  flops: number | null;
  /** Output elements of one call (for memory-bound ops). */
  elements: number;
  /** Creates inputs and returns the timed call, plus a disposer. */
  setUp: () => { call: () => tf.Tensor | tf.Tensor[]; inputs: tf.Tensor[] };
}

const convFlops = (n: number, ho: number, wo: number, k: number, ci: number, co: number): number =>
  2 * n * ho * wo * k * k * ci * co;

function filterGradient(x: tf.Tensor4D, dy: tf.Tensor4D, filterShape: Shape4, stride: number, pad: number): tf.Tensor {
  const attrs = { strides: stride, pad: [[0, 0], [pad, pad], [pad, pad], [0, 0]], dataFormat: 'NHWC', filterShape };
  return tf.engine().runKernel(tf.Conv2DBackpropFilter, { x, dy }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
}

/**
 * Forward, input gradient and filter gradient of one convolution. With
 * `freshWeights` every call gets a new copy of the filter, as in training
 * (the weights change every step), so that backends that cache a packed
 * filter per tensor pay the packing as they would in training; the copy is
 * included in the time.
 */
function convCases(
  label: string,
  xShape: Shape4,
  kernel: number,
  outChannels: number,
  stride: number,
  pad: number,
  freshWeights = false,
): OpCase[] {
  const [n, h, w, ci] = xShape;
  const ho = Math.floor((h + 2 * pad - kernel) / stride) + 1;
  const wo = Math.floor((w + 2 * pad - kernel) / stride) + 1;
  const filterShape: Shape4 = [kernel, kernel, ci, outChannels];
  const dyShape: Shape4 = [n, ho, wo, outChannels];
  const flops = convFlops(n, ho, wo, kernel, ci, outChannels);
  const shape = `${xShape.join('x')} k${kernel} s${stride} p${pad} ->${outChannels}`;
  const explicit: [[number, number], [number, number], [number, number], [number, number]] = [[0, 0], [pad, pad], [pad, pad], [0, 0]];
  const geometry = { xShape, kernel, outChannels, stride, pad, freshWeights };
  const weights = (f: tf.Tensor4D): tf.Tensor4D => (freshWeights ? tf.clone(f) : f);
  return [
    {
      name: `${label} conv2d`,
      torch: { kind: 'conv', ...geometry },
      shape,
      flops,
      elements: n * ho * wo * outChannels,
      setUp: () => {
        const x = tf.randomNormal(xShape) as tf.Tensor4D;
        const f = tf.randomNormal(filterShape) as tf.Tensor4D;
        return { inputs: [x, f], call: () => tf.tidy(() => conv2d(x, weights(f), stride, pad)) };
      },
    },
    {
      name: `${label} input grad`,
      torch: { kind: 'convInput', ...geometry },
      shape,
      flops,
      elements: n * h * w * ci,
      setUp: () => {
        const dy = tf.randomNormal(dyShape) as tf.Tensor4D;
        const f = tf.randomNormal(filterShape) as tf.Tensor4D;
        return {
          inputs: [dy, f],
          call: () => tf.tidy(() => tf.conv2dTranspose(dy, weights(f), xShape, stride, pad === 0 ? 'valid' : explicit)),
        };
      },
    },
    {
      name: `${label} filter grad`,
      torch: { kind: 'convFilter', ...geometry },
      shape,
      flops,
      elements: kernel * kernel * ci * outChannels,
      setUp: () => {
        const x = tf.randomNormal(xShape) as tf.Tensor4D;
        const dy = tf.randomNormal(dyShape) as tf.Tensor4D;
        return { inputs: [x, dy], call: () => filterGradient(x, dy, filterShape, stride, pad) };
      },
    },
  ];
}

/**
 * G's input layer as synthesis runs it: one-hot labels plus a sparse 0/1
 * boundary channel, which p2phd's wasm Conv2D sums as filter rows (the flop
 * count is the dense conv's, so GFLOP/s is an effective figure). PyTorch
 * times the same geometry on random values: its dense conv does not look at them.
 */
function oneHotConvCase(label: string, xShape: Shape4, kernel: number, outChannels: number): OpCase {
  const [n, h, w, channels] = xShape;
  const ho = h - kernel + 1;
  const wo = w - kernel + 1;
  return {
    name: `${label} conv2d`,
    torch: { kind: 'conv', xShape, kernel, outChannels, stride: 1, pad: 0 },
    shape: `${xShape.join('x')} k${kernel} s1 p0 ->${outChannels}`,
    flops: convFlops(n, ho, wo, kernel, channels, outChannels),
    elements: n * ho * wo * outChannels,
    setUp: () => {
      const values = new Float32Array(n * h * w * channels);
      for (let p = 0; p < n * h * w; p++) {
        values[p * channels + ((p * 7919) % (channels - 1))] = 1; // a label
        if (p % 5 === 0) values[p * channels + channels - 1] = 1; // a boundary
      }
      const x = tf.tensor4d(values, xShape);
      const f = tf.randomNormal([kernel, kernel, channels, outChannels]) as tf.Tensor4D;
      return { inputs: [x, f], call: () => tf.tidy(() => conv2d(x, f, 1, 0)) };
    },
  };
}

/** Forward, and forward plus backward (vector-Jacobian product with a fixed dy), of a unary op. */
function unaryCases(name: string, xShape: Shape4, op: (x: tf.Tensor4D) => tf.Tensor4D, outElements: number): OpCase[] {
  const shape = xShape.join('x');
  return [
    {
      name: `${name} fwd`,
      torch: { kind: 'fwd', xShape, op: name },
      shape,
      flops: null,
      elements: outElements,
      setUp: () => {
        const x = tf.randomNormal(xShape) as tf.Tensor4D;
        return { inputs: [x], call: () => op(x) };
      },
    },
    {
      name: `${name} fwd+bwd`,
      torch: { kind: 'fwdbwd', xShape, op: name },
      shape,
      flops: null,
      elements: outElements,
      setUp: () => {
        const x = tf.randomNormal(xShape) as tf.Tensor4D;
        const dy = tf.tidy(() => tf.randomNormal(op(x).shape));
        // tf.grad with an explicit dy is the vector-Jacobian product: no extra loss ops timed.
        const gradient = tf.grad((input: tf.Tensor) => op(input as tf.Tensor4D));
        return { inputs: [x, dy], call: () => gradient(x, dy) };
      },
    },
  ];
}

function allCases(): OpCase[] {
  const base: Shape4 = [1, 128, 128, 64];
  const elements = base.reduce((a, b) => a * b);
  return [
    ...convCases('3x3', base, 3, 64, 1, 1),
    ...convCases('3x3/2', base, 3, 128, 2, 1),
    ...convCases('7x7', [1, 134, 134, 36], 7, 64, 1, 0),
    oneHotConvCase('G input 7x7 one-hot', [1, 134, 134, 36], 7, 64),
    ...convCases('1x1', base, 1, 64, 1, 0),
    ...convCases('D 4x4/2', base, 4, 128, 2, 2),
    ...convCases('D 4x4', [1, 17, 17, 256], 4, 512, 1, 2),
    // The reference generator's residual blocks at 256x128: 8x16 pixels, 1024 channels, weights new every step.
    ...convCases('G res 3x3 fresh w', [1, 10, 18, 1024], 3, 1024, 1, 0, true),
    {
      name: 'transposed 3x3/2 op1',
      torch: { kind: 'transposed', xShape: [1, 64, 64, 128], kernel: 3, outChannels: 64, stride: 2, pad: 1, outputPadding: 1 },
      shape: '1x64x64x128 ->1x128x128x64',
      flops: convFlops(1, 64, 64, 3, 128, 64),
      elements,
      setUp: () => {
        const x = tf.randomNormal([1, 64, 64, 128]) as tf.Tensor4D;
        const w = tf.randomNormal([3, 3, 64, 128]) as tf.Tensor4D;
        return { inputs: [x, w], call: () => conv2dTranspose(x, w, 2, 1, 1) };
      },
    },
    ...unaryCases('reflectPad 1', base, (x) => reflectPad(x, 1), 130 * 130 * 64),
    ...unaryCases('reflectPad 3', [1, 128, 128, 36], (x) => reflectPad(x, 3), 134 * 134 * 36),
    ...unaryCases('instanceNorm', base, (x) => instanceNorm(x), elements),
    ...unaryCases('avgPoolDownsample', base, (x) => avgPoolDownsample(x), 64 * 64 * 64),
    ...unaryCases('relu', base, (x) => tf.relu(x), elements),
    ...unaryCases('leakyRelu 0.2', base, (x) => tf.leakyRelu(x, 0.2), elements),
    ...unaryCases('tanh', [1, 256, 256, 3], (x) => tf.tanh(x), 256 * 256 * 3),
    ...unaryCases('concat C', base, (x) => tf.concat([x, x], 3), 2 * elements),
    ...unaryCases('slice C', base, (x) => tf.slice(x, [0, 0, 0, 0], [-1, -1, -1, 32]), elements / 2),
  ];
}

interface Timing {
  medianMs: number;
  bestMs: number;
  runs: number;
}

function time(call: () => tf.Tensor | tf.Tensor[], minMs: number): Timing {
  const once = (): number => {
    const start = performance.now();
    const out = call();
    // wasm and cpu are synchronous; reading one value forces lazy backends too.
    const first = Array.isArray(out) ? out[0]! : out;
    first.dataSync();
    const elapsed = performance.now() - start;
    tf.dispose(out);
    return elapsed;
  };
  const warmup = once();
  // Slow cases (the cpu backend takes seconds to minutes per conv) count their first run.
  if (warmup > 1000) return { medianMs: warmup, bestMs: warmup, runs: 1 };
  const samples: number[] = [];
  const maxRuns = 25;
  let total = 0;
  while (samples.length < maxRuns && (total < minMs || samples.length < 3)) {
    const ms = once();
    samples.push(ms);
    total += ms;
  }
  samples.sort((a, b) => a - b);
  return { medianMs: samples[Math.floor(samples.length / 2)]!, bestMs: samples[0]!, runs: samples.length };
}

/** Runs this stage for `wasm` with `threads` threads in a child process and relabels its rows. */
function runThreadedChild(threads: number, args: BenchArgs): { rows: BenchRow[]; notes: string[] } {
  const passOn = args.rest.filter((arg) => !arg.startsWith('--backends='));
  const child = spawnSync(process.execPath, [require.resolve('./run'), 'ops', '--json', '--backends=wasm', ...passOn], {
    env: { ...process.env, P2PHD_WASM_THREADS: String(threads) },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 64 * 1024 * 1024,
  });
  if (child.status !== 0) throw new Error(`bench: the wasm:${threads} child failed (exit ${child.status})`);
  const parsed = JSON.parse(child.stdout) as { stages: StageResult[] };
  const stage = parsed.stages[0]!;
  const label = `wasm:${threads}`;
  return {
    rows: stage.rows.map((row) => ({ ...row, backend: label })),
    notes: stage.notes.filter((note) => note.startsWith('wasm:')).map((note) => note.replace(/^wasm:/, `${label}:`)),
  };
}

const TORCH_PYTHON = '/usr/bin/python3';

/** Runs the same cases in PyTorch (Debian's python3-torch) with `threads` threads. */
function runTorch(threads: number, cases: OpCase[], minMs: number): { rows: BenchRow[]; notes: string[] } {
  const script = join(__dirname, '..', '..', 'bench', 'ops_torch.py');
  const input = JSON.stringify(
    cases.map((c) => ({ name: c.name, shape: c.shape, flops: c.flops, elements: c.elements, ...c.torch })),
  );
  const child = spawnSync(TORCH_PYTHON, [script, '--threads', String(threads), '--min-ms', String(minMs)], {
    input,
    encoding: 'utf8',
    stdio: ['pipe', 'pipe', 'inherit'],
    maxBuffer: 64 * 1024 * 1024,
  });
  if (child.error != null || child.status !== 0) {
    return { rows: [], notes: [`torch:${threads}: skipped (${child.error?.message ?? `exit ${child.status}`}; needs ${TORCH_PYTHON} with torch)`] };
  }
  const parsed = JSON.parse(child.stdout) as { torch: string; rows: BenchRow[] };
  return { rows: parsed.rows, notes: [`torch:${threads}: PyTorch ${parsed.torch} CPU, ${threads} thread(s), NCHW`] };
}

function defaultBackends(): string[] {
  const cores = Math.min(availableParallelism(), 8);
  // cpu is left out unless asked for: its filter gradient alone takes minutes per case.
  return ['tensorflow', 'wasm', ...(cores > 1 ? [`wasm:${cores}`] : [])];
}

export async function runBench(args: BenchArgs): Promise<StageResult> {
  const backends = benchOption(args.rest, 'backends')?.split(',') ?? defaultBackends();
  const filter = benchOption(args.rest, 'filter');
  const minMs = Number(benchOption(args.rest, 'min-ms') ?? 600);
  const cases = allCases().filter((c) => filter == null || c.name.includes(filter));
  const rows: BenchRow[] = [];
  const notes: string[] = [`load average at start ${loadavg().map((l) => l.toFixed(2)).join(' ')} on ${availableParallelism()} cores`];
  for (const backend of backends) {
    const torch = /^torch:(\d+)$/.exec(backend);
    if (torch != null) {
      const result = runTorch(Number(torch[1]), cases, minMs);
      rows.push(...result.rows);
      notes.push(...result.notes);
      continue;
    }
    const threaded = /^wasm:(\d+)$/.exec(backend);
    if (threaded != null) {
      const child = runThreadedChild(Number(threaded[1]), args);
      rows.push(...child.rows);
      notes.push(...child.notes);
      continue;
    }
    let info: BackendInfo;
    try {
      info = await initBackend(backend as BackendChoice, { log: () => {} });
    } catch (error) {
      if (!(error instanceof UsageError)) throw error;
      notes.push(`${backend}: skipped (${error.message})`);
      continue;
    }
    notes.push(`${backend}: ${info.detail}; SIMD ${info.simd}; threads ${info.threads}`);
    for (const c of cases) {
      const { call, inputs } = c.setUp();
      const before = tf.memory().numTensors;
      const { medianMs, bestMs, runs } = time(call, minMs);
      const leaked = tf.memory().numTensors - before;
      tf.dispose(inputs);
      const row: BenchRow = {
        op: c.name,
        shape: c.shape,
        backend,
        ms: Number(medianMs.toFixed(3)),
        'best ms': Number(bestMs.toFixed(3)),
        'GFLOP/s': c.flops == null ? null : Number((c.flops / bestMs / 1e6).toFixed(2)),
        'Melem/s': c.flops == null ? Number((c.elements / bestMs / 1e3).toFixed(1)) : null,
        runs,
      };
      if (leaked !== 0) row['leaked'] = leaked;
      rows.push(row);
      args.progress(`ops: ${backend} ${c.name} ${c.shape}: ${medianMs.toFixed(2)} ms`);
    }
  }
  return { stage: 'ops', notes, rows };
}
