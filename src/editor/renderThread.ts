/**
 * The server's side of the inference thread (renderWorker.ts): starts it,
 * waits for the model, and turns render requests into promises. One pass
 * runs at a time there; the queue in front of it (renderQueue.ts) decides
 * which.
 */
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { P2phdError, type ExitCodeValue } from '../errors.js';
import type { ArchConfig } from '../families/pix2pixhd/config.js';
import type { Pix2pixConfig } from '../families/pix2pix/config.js';
import type { Pix2pixTestMode } from '../families/pix2pix/inference.js';

export interface WorkerSettings {
  readonly checkpoint: string;
  readonly clusters?: string;
  readonly backend: string;
  readonly wasmThreads: number;
  /** pix2pix checkpoints: the test mode, and --seed (dropout masks of the reference mode). */
  readonly pix2pixMode: Pix2pixTestMode;
  readonly seed: number;
}

export type WorkerRequest =
  | { kind: 'render'; id: number; width: number; height: number; labels: Uint16Array; instances: Int32Array; styles: Array<[number, number]> }
  | { kind: 'renderRgb'; id: number; width: number; height: number; rgb: Uint8Array }
  | { kind: 'close' };

export type WorkerReply =
  | { kind: 'log'; line: string; warning?: boolean }
  | { kind: 'ready'; family: 'pix2pixhd'; arch: ArchConfig; backend: string; source: string; clusterCounts: Array<[number, number]>; trainingWidth?: number }
  | { kind: 'ready'; family: 'pix2pix'; config: Pix2pixConfig; direction: 'AtoB' | 'BtoA'; backend: string; source: string }
  | { kind: 'failed'; message: string; exitCode: number }
  | { kind: 'rendered'; id: number; rgb: Uint8Array; channels: number; seconds: number }
  | { kind: 'error'; id: number; message: string; exitCode: number };

export interface LabelModelInfo {
  readonly family: 'pix2pixhd';
  readonly arch: ArchConfig;
  readonly backend: string;
  readonly source: string;
  /** Class id -> number of cluster centres. */
  readonly clusterCounts: ReadonlyMap<number, number>;
  readonly trainingWidth?: number;
}

export interface Pix2pixModelInfo {
  readonly family: 'pix2pix';
  readonly config: Pix2pixConfig;
  readonly direction: 'AtoB' | 'BtoA';
  readonly backend: string;
  readonly source: string;
}

export type ModelInfo = LabelModelInfo | Pix2pixModelInfo;

export interface LabelRenderInput {
  readonly width: number;
  readonly height: number;
  readonly labels: Uint16Array;
  readonly instances: Int32Array;
  readonly styles: ReadonlyMap<number, number>;
}

/** pix2pix: the A image, [H*W*3] RGB bytes. */
export interface RgbRenderInput {
  readonly width: number;
  readonly height: number;
  readonly rgb: Uint8Array;
}

export type RenderInput = LabelRenderInput | RgbRenderInput;

export interface RenderOutput {
  readonly rgb: Uint8Array;
  readonly channels: number;
  readonly seconds: number;
}

const errorOf = (reply: { message: string; exitCode: number }): Error =>
  reply.exitCode === 1 ? new Error(`render thread: ${reply.message}`) : new P2phdError(reply.message, reply.exitCode as ExitCodeValue);

export class RenderThread {
  private readonly waiting = new Map<number, { resolve: (output: RenderOutput) => void; reject: (error: Error) => void }>();
  private nextId = 1;
  private closed = false;
  private unexpectedExit: ((error: Error) => void) | undefined;

  private constructor(
    private readonly worker: Worker,
    readonly model: ModelInfo,
  ) {}

  /** Starts the thread and resolves once the model is loaded (rejects with the thread's error, exit code kept). */
  static start(settings: WorkerSettings, log: (line: string, warning: boolean) => void): Promise<RenderThread> {
    const worker = new Worker(join(__dirname, 'renderWorker.js'), { workerData: settings });
    return new Promise<RenderThread>((resolve, reject) => {
      let thread: RenderThread | undefined;
      worker.on('message', (reply: WorkerReply) => {
        switch (reply.kind) {
          case 'log':
            log(reply.line, reply.warning === true);
            return;
          case 'ready':
            thread = new RenderThread(
              worker,
              reply.family === 'pix2pix'
                ? { family: 'pix2pix', config: reply.config, direction: reply.direction, backend: reply.backend, source: reply.source }
                : {
                    family: 'pix2pixhd',
                    arch: reply.arch,
                    backend: reply.backend,
                    source: reply.source,
                    clusterCounts: new Map(reply.clusterCounts),
                    ...(reply.trainingWidth !== undefined ? { trainingWidth: reply.trainingWidth } : {}),
                  },
            );
            resolve(thread);
            return;
          case 'failed':
            reject(errorOf(reply));
            void worker.terminate();
            return;
          case 'rendered':
          case 'error': {
            const entry = thread?.waiting.get(reply.id);
            if (!entry) return;
            thread!.waiting.delete(reply.id);
            if (reply.kind === 'rendered') entry.resolve({ rgb: reply.rgb, channels: reply.channels, seconds: reply.seconds });
            else entry.reject(errorOf(reply));
          }
        }
      });
      worker.on('error', (error) => {
        reject(error);
        thread?.failAll(error);
      });
      worker.on('exit', (code) => {
        const error = new Error(`render thread exited (code ${code})`);
        reject(error);
        thread?.failAll(error);
      });
    });
  }

  render(input: RenderInput): Promise<RenderOutput> {
    if (this.closed) return Promise.reject(new Error('render thread closed'));
    const id = this.nextId++;
    let request: WorkerRequest;
    let transfer: ArrayBuffer[];
    if ('rgb' in input) {
      const rgb = input.rgb.slice();
      request = { kind: 'renderRgb', id, width: input.width, height: input.height, rgb };
      transfer = [rgb.buffer];
    } else {
      const labels = input.labels.slice();
      const instances = input.instances.slice();
      request = { kind: 'render', id, width: input.width, height: input.height, labels, instances, styles: [...input.styles] };
      transfer = [labels.buffer, instances.buffer];
    }
    return new Promise<RenderOutput>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.worker.postMessage(request, transfer);
    });
  }

  /** Calls `listener` once if the thread ends without close() (a crash, running out of memory). */
  onUnexpectedExit(listener: (error: Error) => void): void {
    this.unexpectedExit = listener;
  }

  private failAll(error: Error): void {
    if (!this.closed) this.unexpectedExit?.(error);
    this.unexpectedExit = undefined;
    this.closed = true;
    for (const entry of this.waiting.values()) entry.reject(error);
    this.waiting.clear();
  }

  /** Frees the model and ends the thread. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
    this.worker.postMessage({ kind: 'close' } satisfies WorkerRequest);
    const timer = setTimeout(() => void this.worker.terminate(), 5000);
    await exited;
    clearTimeout(timer);
  }
}
