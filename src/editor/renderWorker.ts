/**
 * The editor's inference thread: ONNX Runtime's run (and tfjs's) blocks its
 * thread for a whole pass, so the model lives here and the server's event
 * loop stays free. Loads the synthesizer once, then answers render requests
 * one at a time (renderThread.ts is the other side).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { P2phdError } from '../errors.js';
import { readCheckpoint } from '../families/checkpoint.js';
import type { BackendChoice } from '../backend/choices.js';
import { loadClustersFor, Synthesizer } from '../synthesis/synthesizer.js';
import type { WorkerReply, WorkerRequest, WorkerSettings } from './renderThread.js';

const port = parentPort!;
const settings = workerData as WorkerSettings;

function post(reply: WorkerReply, transfer: ArrayBuffer[] = []): void {
  port.postMessage(reply, transfer);
}

function failure(error: unknown): { message: string; exitCode: number } {
  if (error instanceof P2phdError) return { message: error.message, exitCode: error.exitCode };
  return { message: error instanceof Error ? (error.stack ?? error.message) : String(error), exitCode: 1 };
}

async function start(): Promise<Synthesizer> {
  const { initBackend, inferenceEngineOf } = await import('../backend/index.js');
  const info = await initBackend(settings.backend as BackendChoice, {
    gradients: false,
    inference: true,
    wasmThreads: settings.wasmThreads,
    log: (line) => post({ kind: 'log', line }),
    warn: (line) => post({ kind: 'log', line, warning: true }),
  });
  const checkpoint = await readCheckpoint(settings.checkpoint);
  const arch = checkpoint.meta.config;
  const clusters = arch.instance_feat && settings.clusters !== undefined ? await loadClustersFor(settings.clusters, arch, { warn: (line) => post({ kind: 'log', line, warning: true }) }) : undefined;
  const synthesizer = await Synthesizer.load({ checkpoint, engine: inferenceEngineOf(info), ...(clusters ? { clusters } : {}) });
  post({
    kind: 'ready',
    arch,
    backend: info.name,
    source: checkpoint.source,
    clusterCounts: clusters ? [...clusters.centers].map(([classId, centers]) => [classId, centers.count] as [number, number]) : [],
    ...(checkpoint.meta.trainingResize ? { trainingWidth: checkpoint.meta.trainingResize.width } : {}),
  });
  return synthesizer;
}

const ready = start();
ready.catch((error: unknown) => post({ kind: 'failed', ...failure(error) }));

// Requests are handled strictly one after another (the server sends one at a time).
let chain: Promise<void> = Promise.resolve();
port.on('message', (request: WorkerRequest) => {
  chain = chain.then(async () => {
    if (request.kind === 'close') {
      const synthesizer = await ready.catch(() => undefined);
      await synthesizer?.dispose();
      port.close();
      return;
    }
    try {
      const synthesizer = await ready;
      const started = performance.now();
      const rgb = await synthesizer.render(
        { height: request.height, width: request.width, labels: request.labels, instanceMap: request.instances },
        new Map(request.styles),
      );
      post({ kind: 'rendered', id: request.id, rgb, channels: synthesizer.arch.output_nc, seconds: (performance.now() - started) / 1000 }, [rgb.buffer as ArrayBuffer]);
    } catch (error) {
      post({ kind: 'error', id: request.id, ...failure(error) });
    }
  });
});
