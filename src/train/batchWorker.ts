/**
 * The training data worker: builds the batches BatchLoader asks for (file
 * reads, sample validation, crops, flips, edges, one-hot, scaling) on its
 * own thread, so this work runs in parallel with the training step, which
 * keeps the main thread busy with one long synchronous computation.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { batchTransferList, buildBatch, EpochOrders, type BatchReply, type BatchRequest, type BatchWorkerData } from './data.js';

const { folder, options } = workerData as BatchWorkerData;
const orders = new EpochOrders(folder.samples.length, options.seed, options.serial);
const port = parentPort!;

port.on('message', (request: BatchRequest) => {
  buildBatch(folder, options, orders.of(request.epoch), request.epoch, request.index).then(
    (batch) => {
      const reply: BatchReply = { id: request.id, batch };
      port.postMessage(reply, batchTransferList(batch));
    },
    (error: unknown) => {
      const failure = error instanceof Error ? error : new Error(String(error));
      const reply: BatchReply = { id: request.id, error: { name: failure.name, message: failure.message, stack: failure.stack } };
      port.postMessage(reply);
    },
  );
});
