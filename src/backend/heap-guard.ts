/**
 * Heap guard for the wasm backend.
 *
 * tfjs-backend-wasm allocates every tensor with the module's `_malloc` and
 * never checks the result. When the 4 GB wasm32 heap cannot grow, malloc
 * returns 0 and tfjs writes the tensor over whatever lives at offset 0; a
 * request of 4 GB or more is worse still, since the size wraps around to a
 * small number when it crosses into wasm. Either way other tensors are
 * silently corrupted. The guard turns both cases into an error thrown before
 * anything is written.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ExitCode, P2phdError } from '../errors';

/** The part of the Emscripten module the guard needs. */
export interface WasmHeapModule {
  _malloc(bytes: number): number;
  _free(pointer: number): void;
  HEAPU8: Uint8Array;
  /** Present in the threaded build, whose heap is a growable SharedArrayBuffer. */
  wasmMemory?: { readonly buffer: ArrayBufferLike };
}

/** Emscripten's getHeapMax() for this build: 65536 short of 4 GiB. */
export const WASM_HEAP_MAX_BYTES = 4294901760;

const MIB = 1024 * 1024;

export class WasmHeapError extends P2phdError {
  constructor(readonly requestedBytes: number, heapBytes: number) {
    super(
      `wasm heap exhausted: cannot allocate ${(requestedBytes / MIB).toFixed(1)} MiB ` +
        `(heap at ${(heapBytes / MIB).toFixed(0)} MiB, hard limit ${(WASM_HEAP_MAX_BYTES / MIB).toFixed(0)} MiB); ` +
        'use a smaller --batch-size or image size, or --backend tensorflow',
      ExitCode.internal,
    );
  }
}

const GUARDED = Symbol('p2phd.heapGuard');

/** Wraps `module._malloc` in place so that a failed or oversize allocation throws. Idempotent. */
export function guardMalloc(module: WasmHeapModule): void {
  const marked = module as WasmHeapModule & { [GUARDED]?: true };
  if (marked[GUARDED]) return;
  // Emscripten's exported `_malloc` is a lazy stub that, on first call,
  // replaces Module._malloc with the raw wasm export: a plain wrapper would be
  // overwritten. Keep the guard as the property's value and let such
  // assignments update only the function it forwards to.
  let unguardedMalloc = module._malloc.bind(module);
  let unaccountedFree = module._free.bind(module);
  const guardedMalloc = (bytes: number): number => {
    if (!(bytes <= WASM_HEAP_MAX_BYTES)) throw new WasmHeapError(bytes, module.HEAPU8.length);
    const pointer = unguardedMalloc(bytes);
    // Zero-byte tensors may legitimately get any pointer; anything else at 0 is a failure.
    if (pointer === 0 && bytes > 0) throw new WasmHeapError(bytes, module.HEAPU8.length);
    // A shared heap grown by another thread leaves the main thread's view at
    // the old size (tfjs writes through Module.HEAPU8 right after malloc).
    const memory = module.wasmMemory;
    if (memory != null && module.HEAPU8.buffer !== memory.buffer) module.HEAPU8 = new Uint8Array(memory.buffer);
    if (accounting !== undefined) accounting.allocated(pointer, bytes);
    return pointer;
  };
  const accountedFree = (pointer: number): void => {
    if (accounting !== undefined) accounting.freed(pointer);
    unaccountedFree(pointer);
  };
  Object.defineProperty(module, '_free', {
    configurable: true,
    enumerable: true,
    get: () => accountedFree,
    set: (replacement: (pointer: number) => void) => {
      unaccountedFree = replacement;
    },
  });
  Object.defineProperty(module, '_malloc', {
    configurable: true,
    enumerable: true,
    get: () => guardedMalloc,
    set: (replacement: (bytes: number) => number) => {
      unguardedMalloc = replacement;
    },
  });
  marked[GUARDED] = true;
}

/** Installs the guard on the initialised wasm backend. */
export function installHeapGuard(): void {
  const backend = tf.findBackend('wasm') as unknown as { wasm?: WasmHeapModule } | null;
  if (backend?.wasm == null) throw new Error('installHeapGuard: the wasm backend is not initialised');
  guardMalloc(backend.wasm);
}

/**
 * Bytes the wasm backend allocates from JavaScript (every tensor's data and
 * the kernels' JavaScript-side buffers), live and at their peak, while an
 * accounting is open: the heap's high-water mark of tensor memory, exact
 * (the heap's own size grows in steps of up to 96 MiB, and never shrinks).
 * Allocations inside the wasm module's C++ (XNNPACK's packed weights, its
 * scratch) are not seen.
 */
export class HeapAccounting {
  private readonly sizes = new Map<number, number>();
  live = 0;
  peak = 0;

  allocated(pointer: number, bytes: number): void {
    // wasm32 hands back pointers as signed i32 (negative past 2 GiB); tfjs frees them as unsigned (>>> 0).
    const address = pointer >>> 0;
    // A block handed out again was freed by a path not seen here.
    this.freed(address);
    this.sizes.set(address, bytes);
    this.live += bytes;
    if (this.live > this.peak) this.peak = this.live;
  }

  freed(pointer: number): void {
    const address = pointer >>> 0;
    const bytes = this.sizes.get(address);
    if (bytes === undefined) return;
    this.sizes.delete(address);
    this.live -= bytes;
  }

  /** Starts a new peak from what is live now. */
  resetPeak(): void {
    this.peak = this.live;
  }
}

let accounting: HeapAccounting | undefined;

/** Opens (or returns the open) accounting of the wasm heap; allocations made before it are not counted. */
export function heapAccounting(): HeapAccounting {
  accounting ??= new HeapAccounting();
  return accounting;
}

/** Closes the accounting. */
export function stopHeapAccounting(): void {
  accounting = undefined;
}
