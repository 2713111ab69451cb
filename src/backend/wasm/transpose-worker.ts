/**
 * A helper thread for large transposes on the threaded wasm build.
 *
 * The blocked transpose is bound by memory latency (~35 ms for a 9.4M-float
 * filter, against ~7 ms to copy it), and it runs on the calling thread while
 * XNNPACK's pool idles, so splitting it by rows with one more thread nearly
 * halves it. The helper reads and writes tfjs's heap directly (the threaded
 * build's memory is shared); the caller does one half, the helper the other,
 * and the caller blocks until both are done (Atomics on a small shared
 * control block: no message round trip). A transpose moves bits, so the
 * result is the same whoever writes it.
 *
 * Used only where the heap is shared (tfjs's threaded build, which p2phd
 * loads when it may use more than one core): with P2PHD_WASM_THREADS=1 the
 * process stays on one thread.
 */
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { transposeRows } from './transpose-rows';

/** Planes below this are transposed on the calling thread (a hand-over costs tens of microseconds). */
export const PARALLEL_TRANSPOSE_MIN_ELEMENTS = 1 << 20;

/** Int32 slots of the control block (Atomics.wait needs an Int32Array). */
export const CONTROL = Object.freeze({ sequence: 0, done: 1, ready: 2, failed: 3 });
/** Uint32 slots of the job's arguments (byte addresses may pass 2^31). */
export const ARGUMENTS = Object.freeze({ source: 8, target: 9, rows: 10, cols: 11, rowStart: 12, rowEnd: 13 });
const CONTROL_WORDS = 16;

export interface TransposeHelper {
  /** dst [cols, rows] = src [rows, cols]^T for 4-byte elements at these byte addresses of the heap. */
  transpose(sourceByte: number, targetByte: number, rows: number, cols: number): void;
}

interface SharedHeap {
  buffer: ArrayBufferLike;
}

let helper: TransposeHelper | null | undefined;

/** The helper on `memory` (started on first use), or null where the heap is not shared or the helper is not ready yet. */
export function transposeHelper(memory: SharedHeap | null): TransposeHelper | null {
  if (memory === null || typeof SharedArrayBuffer === 'undefined' || !(memory.buffer instanceof SharedArrayBuffer)) return null;
  if (helper === undefined) helper = startHelper(memory);
  return helper;
}

function startHelper(memory: SharedHeap): TransposeHelper | null {
  const shared = new SharedArrayBuffer(4 * CONTROL_WORDS);
  const control = new Int32Array(shared);
  const args = new Uint32Array(shared);
  let worker: Worker;
  try {
    worker = new Worker(join(__dirname, 'transpose-worker-thread.js'), { workerData: { memory, control: shared } });
  } catch {
    return null;
  }
  // An idle helper (blocked in Atomics.wait) never keeps the process alive.
  worker.unref();
  worker.on('error', () => Atomics.store(control, CONTROL.failed, 1));
  let sequence = 0;
  return {
    transpose(sourceByte, targetByte, rows, cols) {
      // A fresh view: the heap may have grown since the last call.
      const view = new Float32Array(memory.buffer);
      const split = rows >> 1;
      // Until the helper has started (its first call), or if it failed: all rows here.
      if (Atomics.load(control, CONTROL.ready) !== 1 || Atomics.load(control, CONTROL.failed) === 1) {
        transposeRows(view, sourceByte / 4, view, targetByte / 4, rows, cols, 0, rows);
        return;
      }
      args[ARGUMENTS.source] = sourceByte;
      args[ARGUMENTS.target] = targetByte;
      args[ARGUMENTS.rows] = rows;
      args[ARGUMENTS.cols] = cols;
      args[ARGUMENTS.rowStart] = split;
      args[ARGUMENTS.rowEnd] = rows;
      sequence += 1;
      Atomics.store(control, CONTROL.sequence, sequence);
      Atomics.notify(control, CONTROL.sequence);
      transposeRows(view, sourceByte / 4, view, targetByte / 4, rows, cols, 0, split);
      for (;;) {
        const done = Atomics.load(control, CONTROL.done);
        if (done === sequence) return;
        if (Atomics.load(control, CONTROL.failed) === 1) throw new Error('transpose helper thread failed');
        Atomics.wait(control, CONTROL.done, done, 1000);
      }
    },
  };
}
