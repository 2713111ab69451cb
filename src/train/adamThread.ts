/**
 * The main thread's side of the Adam worker (adamWorker.ts): hands each
 * weight gradient over the moment the backward pass produces it (the buffer
 * is transferred, not copied), and waits for all updates before the new
 * weights are uploaded. Slots live in shared memory (adam.ts), so the
 * moments and master weights are read in place for saves and uploads.
 */
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { AdamHyperparameters, AdamSlot } from './adam.js';

export type AdamWorkerRequest =
  | { type: 'slots'; slots: Array<{ key: string } & AdamSlot> }
  | { type: 'update'; key: string; gradient: Float32Array; step: number; hyper: AdamHyperparameters };

export interface AdamWorkerReply {
  key: string;
  error?: string;
  /** The update's gradient array, handed back for reuse. */
  gradient?: Float32Array;
}

export class AdamThread {
  private readonly worker: Worker;
  private pending = 0;
  private failure: Error | undefined;
  private idle: (() => void) | undefined;
  /** Gradient arrays the worker handed back, by length: the next step reads its gradients into them. */
  private readonly spare = new Map<number, Float32Array[]>();

  constructor(slots: ReadonlyMap<string, AdamSlot>) {
    this.worker = new Worker(join(__dirname, 'adamWorker.js'));
    this.worker.on('message', (reply: AdamWorkerReply) => {
      if (reply.error !== undefined) this.failure ??= new Error(`Adam worker: ${reply.error}`);
      if (reply.gradient !== undefined) {
        const list = this.spare.get(reply.gradient.length) ?? [];
        list.push(reply.gradient);
        this.spare.set(reply.gradient.length, list);
      }
      this.pending -= 1;
      if (this.pending === 0) this.idle?.();
    });
    this.worker.on('error', (error) => {
      this.failure ??= error;
      this.pending = 0;
      this.idle?.();
    });
    // Views of shared memory travel as views of the same memory (and a wasm
    // memory as the memory itself), so the worker updates them in place.
    const entries = [...slots].map(([key, slot]) => {
      for (const array of [slot.weights, slot.m, slot.v]) {
        if (!(array.buffer instanceof SharedArrayBuffer)) throw new Error(`AdamThread: slot ${key} is not in shared memory`);
      }
      return { key, ...slot };
    });
    const request: AdamWorkerRequest = { type: 'slots', slots: entries };
    this.worker.postMessage(request);
  }

  /**
   * An array of `length` floats for a gradient: one the worker handed back
   * (the same layers' gradients come every step; a reused array has its
   * pages already), else a new one.
   */
  gradientArray(length: number): Float32Array {
    return this.spare.get(length)?.pop() ?? new Float32Array(length);
  }

  /** Queues one update; `gradient` is transferred to the worker (unusable here afterwards). */
  update(key: string, gradient: Float32Array, step: number, hyper: AdamHyperparameters): void {
    this.pending += 1;
    const request: AdamWorkerRequest = { type: 'update', key, gradient, step, hyper };
    this.worker.postMessage(request, [gradient.buffer as ArrayBuffer]);
  }

  /** Resolves once every queued update is applied; rejects if one failed. */
  async drain(): Promise<void> {
    if (this.pending > 0) {
      await new Promise<void>((resolve) => {
        this.idle = resolve;
      });
      this.idle = undefined;
    }
    if (this.failure) throw this.failure;
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }
}
