/**
 * Backend selection: the only module that imports a tfjs backend package.
 *
 * Everything else in p2phd imports ops from @tensorflow/tfjs-core and runs on
 * whichever backend this module made current. `auto` prefers the native
 * TensorFlow binding (tfjs-node-gpu, then tfjs-node), then wasm, then the pure
 * JS cpu backend; a binding that fails to load costs one warning line.
 */
import { availableParallelism } from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import { UsageError } from '../errors';
import { registerAllGradients } from './gradients';
import { installHeapGuard } from './heap-guard';
import { registerWasmKernels } from './wasm/kernels';
import { useThreadedWasm } from './wasm/threads';
import { BACKEND_CHOICES, type BackendChoice } from './choices.js';

export { setConv2dOperatorCaching } from './wasm/kernels';
export { BACKEND_CHOICES, type BackendChoice } from './choices.js';

export interface BackendInfo {
  name: 'tensorflow' | 'wasm' | 'cpu';
  simd: boolean;
  threads: number;
  detail: string;
}

export interface InitBackendOptions {
  log?: (line: string) => void;
  warn?: (line: string) => void;
  /**
   * Register tfjs's gradient functions (default true). Loading them takes
   * about half a second; commands that never differentiate (synthesize,
   * encode) may pass false. A later call without `false` registers them.
   */
  gradients?: boolean;
  /**
   * wasm threads when P2PHD_WASM_THREADS is not set (default 1). A failure
   * to load the threaded build falls back to one thread with a warning.
   */
  wasmThreads?: number;
}

/** Most threads P2PHD_WASM_THREADS or `wasmThreads` may ask for. */
const MAX_WASM_THREADS = 8;

/**
 * Threads for inference-only commands: one per core (up to 8). XNNPACK's
 * threaded convs give the same results as one thread (identical PNGs,
 * checked), so this changes only the speed: the default G1 at 1024x512 takes
 * 8.8 s per image on 2 cores against 14.5 s on one. Training gives the same
 * bits on any thread count too (test/train/threads.test.ts) but keeps one by
 * default: measured with other jobs on the machine, two threads made its
 * steps slower (the pool's threads wait on a descheduled partner), and the
 * demo's small models slower still (thread hand-offs per small op).
 */
export function inferenceWasmThreads(): number {
  return Math.max(1, Math.min(MAX_WASM_THREADS, availableParallelism()));
}

/** npm packages that provide the native 'tensorflow' backend, in order of preference. */
const NATIVE_BINDING_PACKAGES = Object.freeze(['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'] as const);

/** Thrown inside this module when one candidate backend cannot be used; carries the reason. */
class BackendUnavailable extends Error {}

function reasonOf(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  // Native loader errors can span many lines (dlopen paths, npm hints); one line is enough.
  return message.split('\n')[0]!.trim();
}

async function activate(name: string): Promise<void> {
  let ok: boolean;
  try {
    ok = await tf.setBackend(name);
  } catch (error) {
    throw new BackendUnavailable(reasonOf(error));
  }
  if (!ok) throw new BackendUnavailable(`tfjs could not initialise the '${name}' backend`);
  await tf.ready();
}

/** Thrown when a native binding is simply not installed: normal, so never worth a warning in auto mode. */
class BindingNotInstalled extends BackendUnavailable {}

function nativeInitialiser(packageName: (typeof NATIVE_BINDING_PACKAGES)[number]): () => Promise<BackendInfo> {
  return async () => {
    try {
      // A plain require: the binding is optional, has no types here, and
      // registers its backend as a side effect of loading.
      require(packageName);
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (code === 'MODULE_NOT_FOUND' && reasonOf(error).includes(packageName)) {
        throw new BindingNotInstalled(`${packageName} is not installed`);
      }
      throw new BackendUnavailable(`${packageName} failed to load: ${reasonOf(error)}`);
    }
    if (tf.findBackendFactory('tensorflow') == null) {
      // The binding brought its own copy of tfjs-core (a version mismatch):
      // its backend is invisible to the core every other module uses.
      throw new BackendUnavailable(`${packageName} registered its backend with another copy of @tensorflow/tfjs-core`);
    }
    await activate('tensorflow');
    return { name: 'tensorflow', simd: true, threads: 0, detail: `native TensorFlow via ${packageName}` };
  };
}

/** --backend tensorflow: whichever native binding loads first. */
async function initNative(): Promise<BackendInfo> {
  const reasons: string[] = [];
  for (const packageName of NATIVE_BINDING_PACKAGES) {
    try {
      return await nativeInitialiser(packageName)();
    } catch (error) {
      if (!(error instanceof BackendUnavailable)) throw error;
      reasons.push(error.message);
    }
  }
  throw new BackendUnavailable(reasons.join('; '));
}

/**
 * Threads for the wasm backend: P2PHD_WASM_THREADS=N when set (1 = the
 * single-threaded SIMD build, as tfjs ships it for Node), else `fallback`.
 */
function requestedWasmThreads(fallback: number): number {
  const raw = process.env['P2PHD_WASM_THREADS'];
  if (raw == null || raw === '') return Math.max(1, Math.min(MAX_WASM_THREADS, Math.floor(fallback)));
  const threads = Number(raw);
  if (!Number.isInteger(threads) || threads < 1 || threads > MAX_WASM_THREADS) {
    throw new UsageError(`P2PHD_WASM_THREADS=${raw}: expected an integer from 1 to ${MAX_WASM_THREADS}`);
  }
  return threads;
}

async function initWasm({ warn, wasmThreads }: InitSettings): Promise<BackendInfo> {
  let wasmPackage: typeof import('@tensorflow/tfjs-backend-wasm');
  try {
    wasmPackage = require('@tensorflow/tfjs-backend-wasm') as typeof import('@tensorflow/tfjs-backend-wasm');
  } catch (error) {
    throw new BackendUnavailable(`@tensorflow/tfjs-backend-wasm: ${reasonOf(error)}`);
  }
  const threads = requestedWasmThreads(wasmThreads);
  if (threads > 1 && tf.findBackend('wasm') == null) {
    // The threaded build is a workaround over tfjs internals: on any failure,
    // fall back to the build tfjs itself uses rather than failing.
    try {
      const threaded = useThreadedWasm(threads);
      try {
        await activate('wasm');
      } catch (error) {
        threaded.restore();
        throw new Error(threaded.failure() ?? reasonOf(error));
      }
    } catch (error) {
      warn(`warning: threaded wasm unavailable (${reasonOf(error)}); using one thread`);
    }
  }
  await activate('wasm');
  const simd = (await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')) === true;
  installHeapGuard();
  registerWasmKernels();
  const actualThreads = wasmPackage.getThreadsCount();
  return {
    name: 'wasm',
    simd,
    threads: actualThreads,
    detail: `tfjs-backend-wasm ${wasmPackage.version_wasm}${simd ? ' SIMD' : ''}${actualThreads > 1 ? ' threaded' : ''}, p2phd kernels`,
  };
}

async function initCpu(): Promise<BackendInfo> {
  require('@tensorflow/tfjs-backend-cpu');
  await activate('cpu');
  // The cpu backend prints a multi-line "install tfjs-node" banner on first use;
  // our one log line already says which backend runs and why.
  const cpuBackend = tf.findBackend('cpu') as unknown as { firstUse?: boolean } | null;
  if (cpuBackend != null) cpuBackend.firstUse = false;
  return { name: 'cpu', simd: false, threads: 1, detail: 'tfjs-backend-cpu (pure JavaScript, slow)' };
}

interface InitSettings {
  warn: (line: string) => void;
  /** wasm threads unless P2PHD_WASM_THREADS is set. */
  wasmThreads: number;
}

type Initialiser = (settings: InitSettings) => Promise<BackendInfo>;

const INITIALISERS: Readonly<Record<Exclude<BackendChoice, 'auto'>, Initialiser>> = Object.freeze({
  tensorflow: initNative,
  wasm: initWasm,
  cpu: initCpu,
} as const);

function describe(info: BackendInfo): string {
  const threads = info.threads > 0 ? `${info.threads} thread${info.threads === 1 ? '' : 's'}` : 'native threads';
  return `backend: ${info.name} (${info.simd ? 'SIMD' : 'no SIMD'}, ${threads}; ${info.detail})`;
}

/** What auto tries, in order. */
const AUTO_CANDIDATES: ReadonlyArray<{ label: string; init: Initialiser }> = Object.freeze([
  ...NATIVE_BINDING_PACKAGES.map((packageName) => ({ label: packageName, init: nativeInitialiser(packageName) })),
  { label: 'wasm', init: initWasm },
  { label: 'cpu', init: initCpu },
]);

async function select(choice: BackendChoice, settings: InitSettings): Promise<BackendInfo> {
  const { warn } = settings;
  if (choice !== 'auto') {
    try {
      return await INITIALISERS[choice](settings);
    } catch (error) {
      if (error instanceof BackendUnavailable) {
        throw new UsageError(`--backend ${choice} is not available here: ${error.message}`);
      }
      throw error;
    }
  }
  for (const candidate of AUTO_CANDIDATES) {
    try {
      return await candidate.init(settings);
    } catch (error) {
      if (error instanceof BindingNotInstalled) continue;
      if (!(error instanceof BackendUnavailable)) throw error;
      warn(`warning: ${candidate.label} unavailable, trying the next backend: ${error.message}`);
    }
  }
  throw new UsageError('--backend auto: no tfjs backend could be initialised');
}

let current: { choice: BackendChoice; info: Promise<BackendInfo> } | undefined;

/**
 * Selects and initialises the backend once (idempotent per choice), registers
 * p2phd's kernels, and logs one line naming the backend in use. Asking for a
 * different choice later switches backends (tests compare wasm with cpu).
 */
export async function initBackend(choice: BackendChoice, options: InitBackendOptions = {}): Promise<BackendInfo> {
  if (!(BACKEND_CHOICES as readonly string[]).includes(choice)) {
    throw new UsageError(`--backend ${String(choice)}: expected one of ${BACKEND_CHOICES.join(', ')}`);
  }
  const wantGradients = options.gradients !== false;
  if (current?.choice === choice) {
    const info = await current.info;
    if (wantGradients) await registerAllGradients();
    return info;
  }
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const warn = options.warn ?? log;
  const info = select(choice, { warn, wasmThreads: options.wasmThreads ?? 1 }).then(async (selected) => {
    if (wantGradients) await registerAllGradients();
    log(describe(selected));
    return selected;
  });
  current = { choice, info };
  // A failed selection must not be cached: a later call may try again.
  info.catch(() => {
    if (current?.info === info) current = undefined;
  });
  return info;
}
