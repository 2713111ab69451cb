/**
 * `p2phd doctor`: which compute backends load on this machine, why the
 * others do not, and which one `auto` would take for training and for
 * inference. The first thing to run on a new machine or cluster node.
 *
 * Each backend is tried for real (loaded, initialised, one small op run);
 * a failure's reason is the loader's own first line, with what is known to
 * be missing (CUDA / cuDNN libraries for the native binding, glibc for
 * Dawn) spelled out.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { AUTO_INFERENCE_ONNXRUNTIME, initBackend, wasmThreadsPerCore, type BackendInfo } from './index';
import { adapterName, probeAdapter, type AdapterDescription } from './webgpu/device';
import { liveSystem, vulkanFacts, type SystemView, type VulkanFacts } from './webgpu/vulkan';

export type BackendState = 'ok' | 'not installed' | 'fails';

export interface BackendReport {
  /** tensorflow, webgpu, wasm (threaded), wasm (single thread), cpu, onnxruntime */
  name: string;
  state: BackendState;
  /** What runs (ok), or why it does not (one line each). */
  reason: string;
  /** Missing system pieces found (libraries, versions). */
  missing?: string[];
  /** webgpu: the adapter Dawn offers. */
  adapter?: AdapterDescription;
  /** webgpu on Linux: the Vulkan loader, ICD manifests and NVIDIA driver pieces found. */
  vulkan?: VulkanFacts;
}

export interface DoctorReport {
  node: string;
  platform: string;
  glibc: string | null;
  backends: BackendReport[];
  /** The backend `--backend auto` takes (webgpu only on a hardware adapter). */
  auto: { training: string; inference: string };
}

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0]!.trim();
}

function glibcVersion(): string | null {
  const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined;
  return report?.header?.glibcVersionRuntime ?? null;
}

/** Shared libraries the dynamic loader knows (Linux), for naming what is missing. */
function knownLibraries(): string {
  try {
    return execFileSync('ldconfig', ['-p'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 });
  } catch {
    return '';
  }
}

function resolvable(name: string): string | undefined {
  try {
    return require.resolve(name);
  } catch {
    return undefined;
  }
}

/** What tfjs-node-gpu 4.22 needs besides itself: its libtensorflow download, CUDA 11.2 and cuDNN 8.1 (Linux x86-64). */
function nativeMissing(packageName: string): string[] {
  const missing: string[] = [];
  const main = resolvable(packageName);
  if (main) {
    // The install script unpacks libtensorflow into deps/lib beside the package.
    const root = dirname(dirname(main));
    // Where tfjs-node 4.22's scripts/deps-constants.js puts libtensorflow 2.9.1.
    const libraryName = process.platform === 'win32' ? 'tensorflow.dll' : process.platform === 'darwin' ? 'libtensorflow.dylib' : 'libtensorflow.so.2.9.1';
    const lib = join(root, 'deps', 'lib', libraryName);
    if (!existsSync(lib)) missing.push(`${lib} (its install did not download libtensorflow; see docs/backends.md, "GPU routes")`);
  }
  if (packageName.endsWith('-gpu') && process.platform === 'linux') {
    if (process.arch !== 'x64') missing.push(`Linux x86-64 (this is ${process.arch})`);
    const libraries = knownLibraries();
    if (libraries !== '') {
      if (!/libcudart\.so\.11\.0/.test(libraries)) missing.push('CUDA 11.2 runtime (libcudart.so.11.0)');
      if (!/libcudnn\.so\.8/.test(libraries)) missing.push('cuDNN 8.1 (libcudnn.so.8)');
    }
  }
  return missing;
}

async function probeNative(): Promise<BackendReport> {
  const packages = ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'];
  const installed = packages.filter((name) => resolvable(name) !== undefined);
  if (installed.length === 0) return { name: 'tensorflow', state: 'not installed', reason: `neither ${packages.join(' nor ')} is installed` };
  const missing = installed.flatMap((name) => nativeMissing(name));
  try {
    const info = await initBackend('tensorflow', { log: () => {}, gradients: false });
    return { name: 'tensorflow', state: 'ok', reason: info.detail, ...(missing.length > 0 ? { missing } : {}) };
  } catch (error) {
    return { name: 'tensorflow', state: 'fails', reason: firstLine(error), ...(missing.length > 0 ? { missing } : {}) };
  }
}

/**
 * What WebGPU lacks here, one line each: with no adapter, or only a software
 * one on a machine with an NVIDIA GPU, the missing piece of NVIDIA's Vulkan
 * driver when the facts name one, else the generic need for a Vulkan driver.
 */
export function webgpuMissing(adapter: AdapterDescription | null, facts: VulkanFacts | null): string[] {
  if (adapter && !adapter.software) return [];
  if (facts && facts.nvidiaGpu && facts.missing.length > 0) return [...facts.missing];
  if (adapter) return [];
  const missing: string[] = [];
  if (facts && !facts.loader) missing.push('the Vulkan loader libvulkan.so.1 (Debian/Ubuntu package libvulkan1; Dawn loads it at run time)');
  if (!facts || facts.icds.length === 0) {
    missing.push('a Vulkan driver (ICD): the GPU vendor\'s, or Mesa\'s lavapipe for software; in containers NVIDIA_DRIVER_CAPABILITIES must include "graphics"');
  }
  return missing;
}

async function probeWebgpu(system: SystemView | null): Promise<BackendReport> {
  if (!resolvable('webgpu')) return { name: 'webgpu', state: 'not installed', reason: 'the optional package "webgpu" (Dawn for Node) is not installed' };
  if (!resolvable('@tensorflow/tfjs-backend-webgpu')) return { name: 'webgpu', state: 'not installed', reason: '@tensorflow/tfjs-backend-webgpu is not installed' };
  const facts = system ? vulkanFacts(system) : null;
  const withFacts = facts ? { vulkan: facts } : {};
  let adapter: AdapterDescription | null;
  try {
    adapter = await probeAdapter();
  } catch (error) {
    return { name: 'webgpu', state: 'fails', reason: firstLine(error), ...withFacts };
  }
  const missing = webgpuMissing(adapter, facts);
  const withMissing = missing.length > 0 ? { missing } : {};
  if (!adapter) {
    const reason = facts?.nvidiaGpu ? 'Dawn loads but finds no adapter: the NVIDIA GPU is not reachable through Vulkan' : 'Dawn loads but finds no adapter';
    return { name: 'webgpu', state: 'fails', reason, ...withMissing, ...withFacts };
  }
  try {
    const info = await initBackend('webgpu', { log: () => {}, gradients: false });
    const sum = tf.addN(Array.from({ length: 12 }, () => tf.ones([4])));
    const values = await sum.data();
    tf.dispose(sum);
    if (values[0] !== 12) return { name: 'webgpu', state: 'fails', reason: `a test sum came out ${values[0]}, not 12`, adapter, ...withFacts };
    const software = adapter.software ? (facts?.nvidiaGpu ? ' (software: the NVIDIA GPU is not reachable through Vulkan)' : ' (software: used only when asked for with --backend webgpu)') : '';
    return { name: 'webgpu', state: 'ok', reason: `${info.detail}${software}`, adapter, ...withMissing, ...withFacts };
  } catch (error) {
    return { name: 'webgpu', state: 'fails', reason: `${adapterName(adapter)}: ${firstLine(error)}`, adapter, ...withMissing, ...withFacts };
  }
}

async function probeWasm(): Promise<BackendReport[]> {
  const warnings: string[] = [];
  let info: BackendInfo;
  try {
    info = await initBackend('wasm', { log: () => {}, warn: (line) => warnings.push(line), gradients: false, wasmThreads: Math.max(2, wasmThreadsPerCore()) });
  } catch (error) {
    const reason = firstLine(error);
    return [
      { name: 'wasm (threaded)', state: 'fails', reason },
      { name: 'wasm (single thread)', state: 'fails', reason },
    ];
  }
  const threaded: BackendReport =
    info.threads > 1
      ? {
          name: 'wasm (threaded)',
          state: 'ok',
          // With the GEMMs on MLAS the threads are its pool's (tfjs then runs its single-threaded build).
          reason: `${info.detail}, ${info.threads} threads${info.detail.includes('GEMMs on') ? " (MLAS's; P2PHD_NATIVE_GEMM=0 for XNNPACK's)" : ''}`,
        }
      : { name: 'wasm (threaded)', state: 'fails', reason: warnings.map((line) => line.replace(/^warning: /, '')).join('; ') || `only ${info.threads} thread (P2PHD_WASM_THREADS?)` };
  return [threaded, { name: 'wasm (single thread)', state: 'ok', reason: `tfjs-backend-wasm${info.simd ? ' SIMD' : ''} (P2PHD_WASM_THREADS=1)` }];
}

async function probeCpu(): Promise<BackendReport> {
  try {
    const info = await initBackend('cpu', { log: () => {}, gradients: false });
    return { name: 'cpu', state: 'ok', reason: info.detail };
  } catch (error) {
    return { name: 'cpu', state: 'fails', reason: firstLine(error) };
  }
}

/** onnxruntime (an inference backend of its own), when its package is present: whether it loads. */
function probeOnnxruntime(): BackendReport {
  if (!resolvable('onnxruntime-node')) return { name: 'onnxruntime', state: 'not installed', reason: 'onnxruntime-node is not installed' };
  try {
    require('onnxruntime-node');
    return { name: 'onnxruntime', state: 'ok', reason: 'onnxruntime-node loads' };
  } catch (error) {
    return { name: 'onnxruntime', state: 'fails', reason: firstLine(error) };
  }
}

/**
 * Tries every backend; leaves the process on the cpu backend. `system` is
 * what the Vulkan probe reads (Linux: the live machine; tests give a fake).
 */
export async function diagnose(system: SystemView | null = process.platform === 'linux' ? liveSystem() : null): Promise<DoctorReport> {
  const backends: BackendReport[] = [await probeNative(), await probeWebgpu(system), ...(await probeWasm()), await probeCpu(), probeOnnxruntime()];
  const ok = (name: string): boolean => backends.some((entry) => entry.name === name && entry.state === 'ok');
  const webgpu = backends.find((entry) => entry.name === 'webgpu');
  const hardwareWebgpu = ok('webgpu') && webgpu?.adapter?.software === false;
  // auto's order (index.ts): the native binding, webgpu on a hardware adapter,
  // (for inference, where measured faster: onnxruntime), wasm, cpu.
  const pick = ok('tensorflow') ? 'tensorflow' : hardwareWebgpu ? `webgpu (${adapterName(webgpu!.adapter!)})` : ok('wasm (single thread)') ? 'wasm' : 'cpu';
  const onnxruntimeFirst = AUTO_INFERENCE_ONNXRUNTIME && ok('onnxruntime') && (pick === 'wasm' || pick === 'cpu');
  return {
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    glibc: glibcVersion(),
    backends,
    auto: {
      training: pick === 'wasm' ? 'wasm (host Adam; 4 GiB heap: the default model trains at 256x128)' : pick,
      inference: onnxruntimeFirst ? 'onnxruntime (CPU execution provider)' : pick === 'wasm' ? `wasm (${Math.max(1, wasmThreadsPerCore())} threads)` : pick,
    },
  };
}

/** The Vulkan facts in one line: the loader, each ICD manifest and its library, NVIDIA's container capabilities. */
export function describeVulkan(facts: VulkanFacts): string {
  const icds = facts.icds.map((icd) => `${icd.file} -> ${icd.library ?? '?'}${icd.libraryFound ? '' : ' (not found)'}`);
  const parts = [`loader ${facts.loader ?? 'not found'}`, `ICDs ${icds.length > 0 ? icds.join(', ') : 'none'}`];
  if (facts.strayNvidiaIcds.length > 0) parts.push(`NVIDIA ICD outside the search path: ${facts.strayNvidiaIcds.join(', ')}`);
  if (facts.nvidiaGpu) parts.push(`NVIDIA GPU visible, NVIDIA_DRIVER_CAPABILITIES ${facts.driverCapabilities ?? 'unset'}`);
  return parts.join('; ');
}

/** The report as text lines. */
export function formatDoctorReport(report: DoctorReport): string[] {
  const lines = [`node ${report.node} on ${report.platform}${report.glibc ? `, glibc ${report.glibc}` : ''}`];
  for (const entry of report.backends) {
    lines.push(`${entry.name.padEnd(22)} ${entry.state.padEnd(13)} ${entry.reason}`);
    for (const item of entry.missing ?? []) lines.push(`${''.padEnd(36)} missing: ${item}`);
    if (entry.vulkan) lines.push(`${''.padEnd(36)} vulkan: ${describeVulkan(entry.vulkan)}`);
    if (entry.adapter) {
      lines.push(`${''.padEnd(36)} adapter: ${adapterName(entry.adapter)}`);
      lines.push(`${''.padEnd(36)} limits: ${Object.entries(entry.adapter.limits).map(([name, value]) => `${name} ${value}`).join(', ')}`);
    }
  }
  lines.push(`auto picks for training: ${report.auto.training}`);
  lines.push(`auto picks for inference: ${report.auto.inference}`);
  return lines;
}
