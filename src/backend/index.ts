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
import { generatedKernelFma } from './wasm/relaxed-simd';
import { useThreadedWasm } from './wasm/threads';
import { createMatMulSession, type MatMulSession } from './onnxruntime/matmul-session';
import { nativeMatMulSession, registerNativeMatMul } from './wasm/native-matmul';
import { adapterName, createWebgpuBackend, WebgpuNoHardware, WebgpuUnavailable } from './webgpu/device';
import { registerWebgpuKernels } from './webgpu/kernels';
import { poolWebgpuBuffersBelow } from './webgpu/buffer-accounting.js';
import { BACKEND_CHOICES, type BackendChoice } from './choices.js';
import { describeOnnxRuntime, loadOnnxRuntime, OnnxRuntimeUnavailable, requestedOnnxRuntimeProvider } from './onnxruntime/index.js';

export { conv2dOperatorCaching, setConv2dOperatorCaching } from './wasm/kernels';
export { withDerivedTensorScope } from './wasm/derived-tensors';
export { checkWebgpuErrors, checkWebgpuTensorBytes } from './webgpu/device';
export { poolWebgpuBuffersBelow, releaseDisposedWebgpuBuffers, webgpuBufferAccounting, type WebgpuBufferAccounting, type WebgpuBufferFigures } from './webgpu/buffer-accounting.js';
export { trainsOnHost } from './capabilities';
export { wasmPacksConvWeights } from './wasm/native-matmul.js';
export { heapAccounting, stopHeapAccounting, type HeapAccounting } from './heap-guard.js';
export { lastLeanPassMemory, leanVariableGrads, SavedTensorOffload, type LeanPassMemory, type LeanPassOptions } from './leanGradients.js';
export { BACKEND_CHOICES, type BackendChoice } from './choices.js';
export { createGraphSession, onnxRuntimeAvailable, type GraphSession, type GraphTensor } from './onnxruntime/index.js';

export interface BackendInfo {
  /** onnxruntime: G and E run as ONNX graphs (inference only); tfjs ops run on the cpu backend. */
  name: 'tensorflow' | 'webgpu' | 'wasm' | 'cpu' | 'onnxruntime';
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
  /**
   * The command only runs networks forward (synthesize, encode): onnxruntime
   * may be chosen, and `auto` considers it (see AUTO_INFERENCE_ONNXRUNTIME).
   * Without it, --backend onnxruntime is refused (exit 2).
   */
  inference?: boolean;
  /**
   * Let `webgpu` run on a software adapter (lavapipe, SwiftShader): always
   * for an explicit --backend webgpu; never for auto (default); tests set it.
   */
  webgpuSoftware?: boolean;
}

/** Where a network runs: tfjs ops (on whichever tfjs backend is current) or ONNX Runtime graphs. */
export type InferenceEngine = 'tfjs' | 'onnxruntime';

/** The engine the stages run G and E on for a selected backend. */
export function inferenceEngineOf(info: Pick<BackendInfo, 'name'>): InferenceEngine {
  return info.name === 'onnxruntime' ? 'onnxruntime' : 'tfjs';
}

/** Most threads P2PHD_WASM_THREADS or `wasmThreads` may ask for. */
const MAX_WASM_THREADS = 8;

/**
 * Default wasm threads for every command: one per core (up to 8). XNNPACK's
 * threaded convs give the same results as one thread (identical PNGs; the
 * same trained weights: test/train/threads.test.ts), so this changes only
 * the speed. Measured on an idle 2-core machine: the default G1 at 1024x512
 * synthesizes in 8.8 s against 14.5 s on one thread; a training step of the
 * default architecture at 256x128 takes 9.5 s against 13.5 s, the small
 * config's 2.2 s against 3.1 s. Training's data and Adam workers run beside
 * the pool; on a machine crowded by other jobs the pool's threads wait on a
 * descheduled partner and one thread (P2PHD_WASM_THREADS=1) is faster, as it
 * is for the demo's tiny models (thread hand-offs per small op).
 */
export function wasmThreadsPerCore(): number {
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
  // Whether p2phd's generated kernels fuse multiply-adds (P2PHD_WASM_FMA=0: never), decided at start-up for the backend line.
  const fma = generatedKernelFma();
  // The GEMMs on ONNX Runtime when it loads: they need tfjs's single-threaded build (its heap is a plain ArrayBuffer), and take the threads.
  const nativeGemm = tf.findBackend('wasm') == null ? startNativeGemm(threads, warn) : nativeMatMulSession();
  if (threads > 1 && nativeGemm === null && tf.findBackend('wasm') == null) {
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
  registerNativeMatMul(nativeGemm);
  const wasmThreadCount = wasmPackage.getThreadsCount();
  const gemm = nativeGemm !== null ? `, GEMMs on ${describeOnnxRuntime('cpu')}` : '';
  return {
    name: 'wasm',
    simd,
    threads: nativeGemm !== null ? nativeGemm.threads : wasmThreadCount,
    detail: `tfjs-backend-wasm ${wasmPackage.version_wasm}${simd ? ' SIMD' : ''}${wasmThreadCount > 1 ? ' threaded' : ''}${gemm}, p2phd kernels${fma ? ' with FMA (relaxed SIMD)' : ', no FMA'}`,
  };
}

/**
 * Whether the wasm backend may hand its matrix products to ONNX Runtime
 * (P2PHD_NATIVE_GEMM: 1, the default, where onnxruntime-node loads; 0 never).
 */
function nativeGemmRequested(): boolean {
  const raw = process.env['P2PHD_NATIVE_GEMM'];
  if (raw === undefined || raw === '' || raw === '1') return true;
  if (raw === '0') return false;
  throw new UsageError(`P2PHD_NATIVE_GEMM=${raw}: expected 0 or 1`);
}

/**
 * ONNX Runtime's GEMM session on `threads` threads, or null: not asked for,
 * not installed (normal: it is optional), or failing to start (a warning;
 * XNNPACK carries on).
 */
function startNativeGemm(threads: number, warn: (line: string) => void): MatMulSession | null {
  if (!nativeGemmRequested()) return null;
  try {
    return createMatMulSession(threads);
  } catch (error) {
    if (!(error instanceof OnnxRuntimeUnavailable && error.notInstalled)) {
      warn(`warning: ONNX Runtime's GEMM unavailable (${reasonOf(error)}); matrix products stay on XNNPACK`);
    }
    return null;
  }
}

/**
 * webgpu: Dawn's Node bindings and tfjs-backend-webgpu, both optional; the
 * device is made by webgpu/device.ts with the adapter's limits. `auto` takes
 * only a hardware adapter; an explicit --backend webgpu takes any.
 */
function webgpuInitialiser(allowSoftware: (settings: InitSettings) => boolean): Initialiser {
  return async (settings) => {
    let adapter;
    try {
      adapter = await createWebgpuBackend(allowSoftware(settings));
    } catch (error) {
      if (error instanceof WebgpuUnavailable) {
        // Not installed, or no GPU: normal on a CPU machine, not worth a warning in auto mode.
        if (error instanceof WebgpuNoHardware || /is not installed/.test(error.message)) throw new BindingNotInstalled(error.message);
        throw new BackendUnavailable(error.message);
      }
      throw new BackendUnavailable(`webgpu: ${reasonOf(error)}`);
    }
    await activate('webgpu');
    registerWebgpuKernels(adapter.limits['maxStorageBuffersPerShaderStage']!, adapter.software);
    // P2PHD_WEBGPU_POOL_BELOW_MIB=N: freed buffers of N MiB or more go back to the device (less memory, slower; docs/memory.md).
    const poolBelow = process.env['P2PHD_WEBGPU_POOL_BELOW_MIB'];
    if (poolBelow !== undefined && poolBelow !== '') {
      const mib = Number(poolBelow);
      if (!(mib > 0)) throw new UsageError(`P2PHD_WEBGPU_POOL_BELOW_MIB=${poolBelow}: expected a positive number of MiB`);
      poolWebgpuBuffersBelow(mib * 2 ** 20);
    }
    return { name: 'webgpu', simd: true, threads: 0, detail: `tfjs-backend-webgpu on Dawn, adapter ${adapterName(adapter)}` };
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

/**
 * --backend onnxruntime: onnxruntime-node must load (the provider asked for
 * is checked when a session starts). tfjs stays usable for the little
 * host-side work around the graphs, on the cpu backend: nothing heavy runs
 * there.
 */
async function initOnnxRuntime(settings: InitSettings): Promise<BackendInfo> {
  if (!settings.inference) {
    throw new UsageError('--backend onnxruntime runs networks forward only (synthesize, encode); use auto, wasm, tensorflow or cpu here');
  }
  const provider = requestedOnnxRuntimeProvider();
  try {
    loadOnnxRuntime();
  } catch (error) {
    if (!(error instanceof OnnxRuntimeUnavailable)) throw error;
    if (error.notInstalled) throw new BindingNotInstalled(`${error.message} (npm install onnxruntime-node)`);
    throw new BackendUnavailable(error.message);
  }
  await initCpu();
  return { name: 'onnxruntime', simd: true, threads: 0, detail: describeOnnxRuntime(provider) };
}

interface InitSettings {
  warn: (line: string) => void;
  /** wasm threads unless P2PHD_WASM_THREADS is set. */
  wasmThreads: number;
  /** Forward passes only: onnxruntime allowed (see InitBackendOptions.inference). */
  inference: boolean;
  /** Whether auto may take a software WebGPU adapter (tests only). */
  webgpuSoftware: boolean;
}

type Initialiser = (settings: InitSettings) => Promise<BackendInfo>;

const INITIALISERS: Readonly<Record<Exclude<BackendChoice, 'auto'>, Initialiser>> = Object.freeze({
  tensorflow: initNative,
  webgpu: webgpuInitialiser(() => true),
  wasm: initWasm,
  cpu: initCpu,
  onnxruntime: initOnnxRuntime,
} as const);

function describe(info: BackendInfo): string {
  if (info.name === 'webgpu') return `backend: webgpu (${info.detail})`;
  const threads = info.threads > 0 ? `${info.threads} thread${info.threads === 1 ? '' : 's'}` : 'native threads';
  return `backend: ${info.name} (${info.simd ? 'SIMD' : 'no SIMD'}, ${threads}; ${info.detail})`;
}

/**
 * Whether `auto` runs inference on ONNX Runtime (where installed) ahead of
 * wasm: yes, measured faster per image at every size tried. The default G1
 * at 1024x512, 2 cores, interleaved in one run (`npm run bench -- synthesize
 * --sizes=1024x512 --engines=tfjs,onnxruntime --rounds=2 --pytorch`): 8.8
 * CPU-s per image against wasm's 17.8 (30 s against 59 s wall on a machine
 * loaded 13-26); at 256x128, 0.72 against 3.75 CPU-s. wasm starts faster
 * (the ONNX model is built and optimised at start: ~4 CPU-s for the default G1).
 */
export const AUTO_INFERENCE_ONNXRUNTIME: boolean = true;

/** What auto tries, in order. */
function autoCandidates(inference: boolean): ReadonlyArray<{ label: string; init: Initialiser }> {
  return [
    ...NATIVE_BINDING_PACKAGES.map((packageName) => ({ label: packageName, init: nativeInitialiser(packageName) })),
    { label: 'webgpu', init: webgpuInitialiser((settings) => settings.webgpuSoftware) },
    ...(inference && AUTO_INFERENCE_ONNXRUNTIME ? [{ label: 'onnxruntime', init: initOnnxRuntime }] : []),
    { label: 'wasm', init: initWasm },
    { label: 'cpu', init: initCpu },
  ];
}

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
  for (const candidate of autoCandidates(settings.inference)) {
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

let current: { choice: BackendChoice; inference: boolean; info: Promise<BackendInfo> } | undefined;

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
  const inference = options.inference === true;
  // Whether this call's inference flag can change the selection (onnxruntime is for inference only).
  const inferenceMatters = choice === 'onnxruntime' || (choice === 'auto' && AUTO_INFERENCE_ONNXRUNTIME);
  if (current?.choice === choice && (!inferenceMatters || current.inference === inference)) {
    const info = await current.info;
    if (wantGradients) await registerAllGradients();
    return info;
  }
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const warn = options.warn ?? log;
  const info = select(choice, { warn, wasmThreads: options.wasmThreads ?? 1, inference, webgpuSoftware: options.webgpuSoftware === true }).then(async (selected) => {
    if (wantGradients) await registerAllGradients();
    log(describe(selected));
    return selected;
  });
  current = { choice, inference, info };
  // A failed selection must not be cached: a later call may try again.
  info.catch(() => {
    if (current?.info === info) current = undefined;
  });
  return info;
}
