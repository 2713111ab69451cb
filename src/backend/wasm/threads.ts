/**
 * Multi-threaded wasm under Node (tfjs#3830).
 *
 * tfjs-backend-wasm turns threads off under Node because it hands Emscripten
 * its pthread worker script as a Blob URL, which Node's worker_threads cannot
 * load. The threaded SIMD build itself works in Node. This module registers a
 * 'wasm' backend factory that loads that build the way Node can:
 *
 * - the worker script (shipped as a string in the package) is written to a
 *   private temporary file, removed at exit, and handed to Emscripten as a path;
 * - the main script is given as a path too, for the workers to import;
 * - the core count the C++ side sees is overridden: it uses half the logical
 *   cores (assuming hyper-threading), which on a 2-core machine means one;
 * - pthread workers are unref'd so an idle pool never keeps the process alive.
 *
 * Everything here depends on tfjs-backend-wasm 4.22.0's file layout and
 * Emscripten glue (pinned exactly in package.json).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { webAssembly } from './wasm-assembler';

interface NodeWorkerLike {
  unref(): void;
}

/** The parts of the Emscripten module this file and BackendWasm use. */
interface ThreadedModule {
  cwrap(name: string, returnType: string | null, argTypes: string[]): (...args: number[]) => unknown;
  PThread?: { runningWorkers: NodeWorkerLike[]; unusedWorkers: NodeWorkerLike[] };
  tfjs?: Record<string, (...args: number[]) => unknown>;
}

interface EmscriptenConfig {
  locateFile(path: string, prefix: string): string;
  mainScriptUrlOrBlob: string;
  instantiateWasm(
    imports: { env: Record<string, unknown> },
    receive: (instance: unknown, module: unknown) => void,
  ): Record<string, unknown>;
}

type EmscriptenFactory = (config: EmscriptenConfig) => Promise<ThreadedModule>;

const WASM_PACKAGE = '@tensorflow/tfjs-backend-wasm';
const GLUE_FILE = 'tfjs-backend-wasm-threaded-simd.js';
const WORKER_FILE = 'tfjs-backend-wasm-threaded-simd.worker.js';
const BINARY_FILE = 'tfjs-backend-wasm-threaded-simd.wasm';

/** Writes the pthread worker script to a fresh private directory, removed when the process exits. */
function writeWorkerScript(workerSource: string): string {
  const directory = mkdtempSync(join(tmpdir(), 'p2phd-wasm-'));
  process.once('exit', () => rmSync(directory, { recursive: true, force: true }));
  const path = join(directory, 'pthread-worker.js');
  // The package stores the script in a template literal, where its "\n"
  // escapes became real newlines; tfjs restores them the same way.
  writeFileSync(path, workerSource.replace(/\n/g, '\\n'));
  return path;
}

export interface ThreadedWasmInstall {
  /** Puts tfjs's own wasm factory back (after a failed initialisation). */
  restore(): void;
  /** Why the threaded factory failed, if it did. */
  failure(): string | undefined;
}

/**
 * Replaces the 'wasm' backend factory with one that loads the threaded SIMD
 * build with `threads` threads. Must run before the wasm backend is first
 * initialised. Throws (changing nothing) if the build's files cannot be
 * prepared.
 */
export function useThreadedWasm(threads: number): ThreadedWasmInstall {
  const wasmPackage = require(WASM_PACKAGE) as typeof import('@tensorflow/tfjs-backend-wasm');
  const outDir = dirname(require.resolve(`${WASM_PACKAGE}/wasm-out/${GLUE_FILE}`));
  const distDir = dirname(require.resolve(WASM_PACKAGE));
  const factory = require(join(outDir, GLUE_FILE)) as EmscriptenFactory;
  const { wasmWorkerContents } = require(join(outDir, WORKER_FILE)) as { wasmWorkerContents: string };

  const original = tf.findBackendFactory('wasm');
  if (original == null) throw new Error('no wasm backend registered');
  const workerScript = writeWorkerScript(wasmWorkerContents);
  let failure: string | undefined;
  const restore = (): void => {
    tf.removeBackend('wasm');
    tf.registerBackend('wasm', original, 2);
  };

  const createBackend = async (): Promise<tf.KernelBackend> => {
    const module = await factory({
      locateFile: (path, prefix) => {
        if (path.endsWith('.worker.js')) return workerScript;
        if (path.endsWith('.wasm')) return join(distDir, BINARY_FILE);
        return prefix + path;
      },
      mainScriptUrlOrBlob: join(outDir, GLUE_FILE),
      instantiateWasm: (imports, receive) => {
        // backend.cc caps its pool at emscripten_num_logical_cores() / 2.
        imports.env['emscripten_num_logical_cores'] = () => 2 * threads;
        // Synchronous, so that a failure throws here and Emscripten rejects the factory's promise.
        const compiled = new webAssembly.Module(readFileSync(join(distDir, BINARY_FILE)));
        const instance = new webAssembly.Instance(compiled, imports);
        receive(instance, compiled);
        return instance.exports;
      },
    });
    module.tfjs = {
      init: module.cwrap('init', null, []),
      initWithThreadsCount: module.cwrap('init_with_threads_count', null, ['number']),
      getThreadsCount: module.cwrap('get_threads_count', 'number', []),
      registerTensor: module.cwrap('register_tensor', null, ['number', 'number', 'number']),
      disposeData: module.cwrap('dispose_data', null, ['number']),
      dispose: module.cwrap('dispose', null, []),
    };
    wasmPackage.setThreadsCount(threads);
    const backend = new wasmPackage.BackendWasm(module as never) as unknown as tf.KernelBackend;
    // The pool's threads are running pthreads, which Emscripten keeps ref'd.
    for (const worker of module.PThread?.runningWorkers ?? []) worker.unref();
    return backend;
  };

  tf.removeBackend('wasm');
  tf.registerBackend(
    'wasm',
    () =>
      createBackend().catch((error: unknown) => {
        failure = error instanceof Error ? error.message : String(error);
        throw error;
      }),
    2,
  );
  return { restore, failure: () => failure };
}
