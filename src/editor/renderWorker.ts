/**
 * The editor's inference thread: ONNX Runtime's run (and tfjs's) blocks its
 * thread for a whole pass, so the model lives here and the server's event
 * loop stays free. Loads the synthesizer once, then answers render requests
 * one at a time (renderThread.ts is the other side).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { P2phdError } from '../errors.js';
import { checkpointFromFile, resolveCheckpointPath } from '../families/checkpoint.js';
import { familyOfMetadata } from '../families/index.js';
import { pix2pixCheckpointFromFile } from '../families/pix2pix/checkpoint.js';
import { readTensorFile } from '../data/files/tensorFile.js';
import type { BackendChoice } from '../backend/choices.js';
import { loadClustersFor, Synthesizer } from '../synthesis/synthesizer.js';
import { Pix2pixTranslator } from '../synthesis/pix2pixTranslator.js';
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

async function start(): Promise<Synthesizer | Pix2pixTranslator> {
  const { initBackend, inferenceEngineOf } = await import('../backend/index.js');
  const file = await readTensorFile(await resolveCheckpointPath(settings.checkpoint), 'checkpoint');
  const backendOptions = {
    wasmThreads: settings.wasmThreads,
    log: (line: string) => post({ kind: 'log', line }),
    warn: (line: string) => post({ kind: 'log', line, warning: true }),
  };
  if (familyOfMetadata(file.p2phd, file.source).name === 'pix2pix') {
    // As synthesize --inputs: G runs as an ONNX graph with --backend onnxruntime, on tfjs ops otherwise.
    const checkpoint = pix2pixCheckpointFromFile(file);
    const engine = settings.backend === 'onnxruntime' ? 'onnxruntime' : 'tfjs';
    const info = await initBackend(settings.backend as BackendChoice, engine === 'onnxruntime' ? { ...backendOptions, gradients: false, inference: true } : backendOptions);
    const translator = await Pix2pixTranslator.load(checkpoint, settings.pix2pixMode, settings.seed, engine);
    post({ kind: 'ready', family: 'pix2pix', config: checkpoint.meta.config, direction: checkpoint.meta.direction, backend: engine === 'onnxruntime' ? 'onnxruntime' : info.name, source: checkpoint.source });
    return translator;
  }
  const info = await initBackend(settings.backend as BackendChoice, { ...backendOptions, gradients: false, inference: true });
  const checkpoint = checkpointFromFile(file);
  const arch = checkpoint.meta.config;
  const clusters = arch.instance_feat && settings.clusters !== undefined ? await loadClustersFor(settings.clusters, arch, { warn: (line) => post({ kind: 'log', line, warning: true }) }) : undefined;
  const synthesizer = await Synthesizer.load({ checkpoint, engine: inferenceEngineOf(info), ...(clusters ? { clusters } : {}) });
  post({
    kind: 'ready',
    family: 'pix2pixhd',
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
      const model = await ready;
      const started = performance.now();
      let rgb: Uint8Array;
      let channels: number;
      if (model instanceof Pix2pixTranslator) {
        if (request.kind !== 'renderRgb') throw new Error('a pix2pix model renders RGB requests');
        rgb = await model.render(request.rgb, request.width, request.height);
        channels = model.config.output_nc;
      } else {
        if (request.kind !== 'render') throw new Error('a pix2pixHD model renders label-map requests');
        rgb = await model.render({ height: request.height, width: request.width, labels: request.labels, instanceMap: request.instances }, new Map(request.styles));
        channels = model.arch.output_nc;
      }
      post({ kind: 'rendered', id: request.id, rgb, channels, seconds: (performance.now() - started) / 1000 }, [rgb.buffer as ArrayBuffer]);
    } catch (error) {
      post({ kind: 'error', id: request.id, ...failure(error) });
    }
  });
});
