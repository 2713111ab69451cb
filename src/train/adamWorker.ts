/**
 * The Adam worker thread: applies adamUpdate to shared slots as gradients
 * arrive from the backward pass, so the optimizer's arithmetic (adam.ts
 * gives its cost) runs on the second core while the main thread is still
 * computing earlier layers' gradients. Same function, same arithmetic as
 * the in-thread path.
 */
import { parentPort } from 'node:worker_threads';
import { adamUpdate, type AdamSlot } from './adam.js';
import type { AdamWorkerReply, AdamWorkerRequest } from './adamThread.js';

const slots = new Map<string, AdamSlot>();
const port = parentPort!;

port.on('message', (request: AdamWorkerRequest) => {
  if (request.type === 'slots') {
    for (const { key, ...slot } of request.slots) slots.set(key, slot);
    return;
  }
  const slot = slots.get(request.key);
  let reply: AdamWorkerReply;
  if (!slot) {
    reply = { key: request.key, error: `no Adam slot for ${request.key}` };
  } else {
    try {
      adamUpdate(slot, request.gradient, request.step, request.hyper);
      reply = { key: request.key, gradient: request.gradient };
    } catch (error) {
      reply = { key: request.key, error: error instanceof Error ? error.message : String(error) };
    }
  }
  // The gradient array goes back to be reused for a later step's gradient.
  port.postMessage(reply, reply.gradient ? [reply.gradient.buffer as ArrayBuffer] : []);
});
