/**
 * WebGPU under Node: Dawn's bindings (the optional `webgpu` package) and
 * tfjs-backend-webgpu 4.22 (optional too), with the device made here rather
 * than by tfjs, because tfjs's own setup (a) asks for WebGPU's default
 * storage buffers per shader stage (8; tf.addN of 8 tensors then comes out
 * silently wrong) and (b) never listens for Dawn's errors (a tensor above
 * maxStorageBufferBindingSize comes back silently wrong). Here:
 *
 * - the device gets the adapter's own limits (buffer sizes, storage buffers
 *   per stage, workgroup sizes);
 * - every validation or out-of-memory error Dawn reports, and a lost device,
 *   is recorded and raised by `checkWebgpuErrors` (called after each training
 *   step and each synthesized image): one line, exit 3 for out of memory
 *   (the input is too large), exit 1 for anything else (a bug);
 * - `checkWebgpuTensorBytes` refuses, before running, a configuration whose
 *   largest tensor exceeds the device's binding limit;
 * - AddN runs in chunks that fit the storage-buffer limit (kernels.ts).
 *
 * Software adapters (Mesa's lavapipe / llvmpipe, SwiftShader) are used only
 * when asked for (`--backend webgpu` or tests); `auto` refuses them.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { ExitCode, InputError, P2phdError } from '../../errors.js';

/** What p2phd uses of Dawn's GPUAdapterInfo. */
export interface AdapterDescription {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** A CPU implementation (lavapipe, llvmpipe, SwiftShader) rather than a GPU. */
  software: boolean;
  limits: Record<string, number>;
}

/** Minimal structural types for the parts of WebGPU used here (no @webgpu/types dependency). */
interface GpuError {
  message: string;
  constructor: { name: string };
}
interface GpuDevice {
  limits: Record<string, number>;
  lost: Promise<{ reason: string; message: string }>;
  onuncapturederror: ((event: { error: GpuError }) => void) | null;
  queue: { onSubmittedWorkDone(): Promise<void> };
  destroy(): void;
}
interface GpuAdapter {
  info: { vendor: string; architecture: string; device: string; description: string; isFallbackAdapter?: boolean };
  isFallbackAdapter?: boolean;
  limits: Record<string, number>;
  features: Set<string>;
  requestDevice(descriptor: { requiredLimits: Record<string, number>; requiredFeatures: string[] }): Promise<GpuDevice>;
}
interface Gpu {
  requestAdapter(options?: { powerPreference?: string; forceFallbackAdapter?: boolean }): Promise<GpuAdapter | null>;
}
interface DawnModule {
  create(flags: string[]): Gpu;
  globals: Record<string, unknown>;
}

/** The device's limits tfjs's kernels depend on, all raised to the adapter's maxima. */
const REQUESTED_LIMITS = Object.freeze([
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxStorageBuffersPerShaderStage',
  'maxComputeWorkgroupStorageSize',
  'maxComputeWorkgroupsPerDimension',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ',
  'maxComputeInvocationsPerWorkgroup',
  'maxUniformBufferBindingSize',
] as const);

/** Limits reported by doctor. */
export const REPORTED_LIMITS = REQUESTED_LIMITS;

/** Thrown when WebGPU cannot be used here; the message says why (one line). */
export class WebgpuUnavailable extends Error {}

/** No adapter, or only a software one: the normal case on a machine without a GPU (auto skips it silently). */
export class WebgpuNoHardware extends WebgpuUnavailable {}

let dawnModule: Promise<DawnModule> | undefined;
let gpuInstance: Gpu | undefined;

/** Loads Dawn's Node bindings (an ES module) once. */
function loadDawn(): Promise<DawnModule> {
  dawnModule ??= (async () => {
    let path: string;
    try {
      path = require.resolve('webgpu');
    } catch {
      throw new WebgpuUnavailable('the optional package "webgpu" (Dawn for Node) is not installed');
    }
    try {
      // A variable specifier: the package is optional and has no types here.
      const specifier = require('node:url').pathToFileURL(path).href as string;
      return (await import(specifier)) as DawnModule;
    } catch (error) {
      throw new WebgpuUnavailable(`the "webgpu" package failed to load: ${firstLine(error)}${glibcHint(error)}`);
    }
  })();
  dawnModule.catch(() => {
    dawnModule = undefined;
  });
  return dawnModule;
}

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0]!.trim();
}

/** Dawn's prebuilt module needs glibc >= 2.34 and a recent libstdc++: say so when the loader complains. */
function glibcHint(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  if (!/GLIBC|GLIBCXX|CXXABI|libstdc\+\+|libvulkan/.test(message)) return '';
  const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined;
  const glibc = report?.header?.glibcVersionRuntime;
  return ` (Dawn for Node needs glibc >= 2.34 and a recent libstdc++${glibc ? `; this system has glibc ${glibc}` : ''})`;
}

const SOFTWARE_PATTERN = /llvmpipe|lavapipe|swiftshader|software|cpu/i;

export function describeAdapter(adapter: GpuAdapter): AdapterDescription {
  const info = adapter.info;
  const text = `${info.vendor} ${info.architecture} ${info.device} ${info.description}`;
  const limits: Record<string, number> = {};
  for (const name of REPORTED_LIMITS) limits[name] = adapter.limits[name]!;
  return {
    vendor: info.vendor,
    architecture: info.architecture,
    device: info.device,
    description: info.description,
    software: adapter.isFallbackAdapter === true || info.isFallbackAdapter === true || SOFTWARE_PATTERN.test(text),
    limits,
  };
}

export function adapterName(adapter: AdapterDescription): string {
  const name = adapter.description || adapter.device || 'unnamed adapter';
  const maker = [adapter.vendor, adapter.architecture].filter((part) => part !== '').join(' ');
  return `${name}${maker ? ` [${maker}]` : ''}, ${adapter.software ? 'software' : 'hardware'}`;
}

/** The best adapter Dawn offers (high-performance first), or null. */
async function requestAdapter(): Promise<{ dawn: DawnModule; adapter: GpuAdapter | null }> {
  const dawn = await loadDawn();
  // One GPU instance per process, held for its life: Dawn crashes when it is
  // collected while a device made from it is in use.
  gpuInstance ??= dawn.create([]);
  const gpu = gpuInstance;
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  return { dawn, adapter };
}

/**
 * probeAdapter in a child process, with its stderr dropped: what `auto` asks
 * before loading Dawn here. Dawn prints warnings of its own on software
 * adapters (lavapipe's oversized limits), which a CPU machine that merely has
 * Mesa installed should not see on every command. Null when there is no
 * adapter or the probe fails.
 */
export function probeAdapterQuietly(): AdapterDescription | null {
  if (!resolvableQuietly('webgpu') || !mayHaveVulkanDriver()) return null;
  const script = `require(${JSON.stringify(__filename)}).probeAdapter().then((a) => { process.stdout.write(JSON.stringify(a)); process.exit(0); }, () => process.exit(0));`;
  const result = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 60_000 });
  try {
    return result.stdout ? (JSON.parse(result.stdout) as AdapterDescription | null) : null;
  } catch {
    return null;
  }
}

/**
 * Whether the Vulkan loader could find a driver here: false on Linux when no
 * ICD manifest is in any folder the loader searches and no VK_* variable
 * names one, so that `auto` on an ordinary CPU machine starts no probe
 * process (about 0.4 s on every command). Elsewhere (macOS's Metal,
 * Windows's D3D12) the probe always runs.
 */
function mayHaveVulkanDriver(): boolean {
  if (process.platform !== 'linux') return true;
  if (process.env['VK_ICD_FILENAMES'] || process.env['VK_DRIVER_FILES'] || process.env['VK_ADD_DRIVER_FILES']) return true;
  const configDirs = (process.env['XDG_CONFIG_DIRS'] || '/etc/xdg').split(':');
  const dataDirs = (process.env['XDG_DATA_DIRS'] || '/usr/local/share:/usr/share').split(':');
  const home = process.env['HOME'];
  const folders = [
    ...configDirs.map((dir) => join(dir, 'vulkan/icd.d')),
    '/etc/vulkan/icd.d',
    ...dataDirs.map((dir) => join(dir, 'vulkan/icd.d')),
    ...(home ? [join(home, '.local/share/vulkan/icd.d')] : []),
  ];
  return folders.some((folder) => {
    try {
      return readdirSync(folder).some((name) => name.endsWith('.json'));
    } catch {
      return false;
    }
  });
}

function resolvableQuietly(name: string): boolean {
  try {
    require.resolve(name);
    return true;
  } catch {
    return false;
  }
}

/** The adapter WebGPU would use, for doctor (no device is made). */
export async function probeAdapter(): Promise<AdapterDescription | null> {
  const { adapter } = await requestAdapter();
  return adapter ? describeAdapter(adapter) : null;
}

interface DeviceState {
  device: GpuDevice;
  adapter: AdapterDescription;
  /** The first error Dawn reported and nobody raised yet. */
  failure?: P2phdError;
}

let state: DeviceState | undefined;

function failureOf(error: GpuError): P2phdError {
  const kind = error.constructor?.name ?? 'GPUError';
  const message = error.message.split('\n')[0]!.trim();
  // A buffer above the binding limit is a validation error in WebGPU's terms, but the input's size is the cause.
  if (kind === 'GPUOutOfMemoryError' || /maxStorageBufferBindingSize|maxBufferSize|maximum (storage )?buffer (binding )?size/i.test(error.message)) {
    return new InputError(`webgpu: the input is too large for this device (${message}); use smaller images, a smaller --batch-size or a smaller model`);
  }
  return new P2phdError(`webgpu: ${kind}: ${message} (a bug in p2phd or tfjs-backend-webgpu; please report it with the command line)`, ExitCode.internal);
}

/**
 * Makes the GPUDevice with the adapter's limits and registers tfjs's
 * WebGPUBackend on it as 'webgpu'. `allowSoftware` false refuses a software
 * adapter (auto); true accepts it (explicit --backend webgpu, tests).
 */
export async function createWebgpuBackend(allowSoftware: boolean): Promise<AdapterDescription> {
  if (state) return state.adapter;
  if (!allowSoftware) {
    // auto: look first from a quiet child, so that a machine without a GPU never loads Dawn here.
    const probed = probeAdapterQuietly();
    if (!probed || probed.software) {
      throw new WebgpuNoHardware(probed ? `the only adapter is a software one, ${adapterName(probed)}` : 'no hardware WebGPU adapter');
    }
  }
  const { dawn, adapter } = await requestAdapter();
  if (!adapter) throw new WebgpuNoHardware('no WebGPU adapter (no Vulkan driver found: install your GPU driver\'s Vulkan ICD, or Mesa\'s lavapipe for a software adapter)');
  const description = describeAdapter(adapter);
  if (description.software && !allowSoftware) {
    throw new WebgpuNoHardware(`the only adapter is a software one, ${adapterName(description)}: ask for it with --backend webgpu`);
  }
  // tfjs-backend-webgpu reads WebGPU's enums (GPUBufferUsage, ...) as globals.
  for (const [name, value] of Object.entries(dawn.globals)) {
    if (!(name in globalThis)) (globalThis as Record<string, unknown>)[name] = value;
  }
  let webgpuPackage: { WebGPUBackend: new (device: GpuDevice, adapterInfo: unknown) => tf.KernelBackend };
  try {
    webgpuPackage = require('@tensorflow/tfjs-backend-webgpu') as typeof webgpuPackage;
  } catch (error) {
    throw new WebgpuUnavailable(`@tensorflow/tfjs-backend-webgpu failed to load: ${firstLine(error)}`);
  }
  const requiredLimits: Record<string, number> = {};
  for (const name of REQUESTED_LIMITS) requiredLimits[name] = adapter.limits[name]!;
  const requiredFeatures = adapter.features.has('timestamp-query') ? ['timestamp-query'] : [];
  const device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
  const current: DeviceState = { device, adapter: description };
  device.onuncapturederror = (event) => {
    current.failure ??= failureOf(event.error);
  };
  void device.lost.then((info) => {
    if (state === current) current.failure ??= new P2phdError(`webgpu: the device was lost (${info.reason}: ${info.message.split('\n')[0]})`, ExitCode.internal);
  });
  // WebGPUBackend's constructor checks navigator.gpu, which Node (20) does
  // not define; give it one for the constructor only.
  const globals = globalThis as { navigator?: unknown };
  const hadNavigator = 'navigator' in globals;
  const previous = globals.navigator;
  let backend: tf.KernelBackend;
  try {
    if (!hadNavigator || previous == null) globals.navigator = { gpu: {} };
    backend = new webgpuPackage.WebGPUBackend(device, adapter.info);
  } finally {
    if (!hadNavigator) delete globals.navigator;
    else globals.navigator = previous;
  }
  tf.registerBackend('webgpu', () => backend, 3);
  state = current;
  return description;
}

/** The current WebGPU device's limits, or undefined when webgpu is not the backend. */
export function webgpuLimits(): Record<string, number> | undefined {
  return tf.getBackend() === 'webgpu' && state ? state.device.limits : undefined;
}

/**
 * Raises the first error Dawn reported since the last call (after the
 * queue's work so far is done). A no-op on every other backend.
 */
export async function checkWebgpuErrors(): Promise<void> {
  if (!state || tf.getBackend() !== 'webgpu') return;
  await state.device.queue.onSubmittedWorkDone();
  const failure = state.failure;
  if (failure) {
    state.failure = undefined;
    throw failure;
  }
}

/**
 * Refuses (exit 3) a tensor of `bytes` that the device cannot bind: tfjs
 * would run it and return wrong numbers. `what` names it; `suggestion` says
 * what to make smaller. A no-op on every other backend.
 */
export function checkWebgpuTensorBytes(bytes: number, what: string, suggestion: string): void {
  const limits = webgpuLimits();
  if (!limits) return;
  const limit = Math.min(limits['maxStorageBufferBindingSize']!, limits['maxBufferSize']!);
  if (bytes > limit) {
    const mib = (value: number): string => `${(value / 2 ** 20).toFixed(0)} MiB`;
    throw new InputError(`webgpu: ${what} needs a ${mib(bytes)} tensor, above this device's limit of ${mib(limit)} per buffer (maxStorageBufferBindingSize); ${suggestion}`);
  }
}
