/**
 * The transpose helper thread (./transpose-worker): waits for a job on the
 * control block, transposes its rows of the shared heap, says it is done.
 */
import { workerData } from 'node:worker_threads';
import { transposeRows } from './transpose-rows';
import { ARGUMENTS, CONTROL } from './transpose-worker';

const { memory, control: shared } = workerData as { memory: { buffer: ArrayBufferLike }; control: SharedArrayBuffer };
const control = new Int32Array(shared);
const args = new Uint32Array(shared);
let seen = 0;
Atomics.store(control, CONTROL.ready, 1);
for (;;) {
  Atomics.wait(control, CONTROL.sequence, seen);
  seen = Atomics.load(control, CONTROL.sequence);
  try {
    // A fresh view each job: the heap may have grown since the last one.
    const heap = new Float32Array(memory.buffer);
    transposeRows(heap, args[ARGUMENTS.source]! / 4, heap, args[ARGUMENTS.target]! / 4, args[ARGUMENTS.rows]!, args[ARGUMENTS.cols]!, args[ARGUMENTS.rowStart]!, args[ARGUMENTS.rowEnd]!);
  } catch {
    Atomics.store(control, CONTROL.failed, 1);
  }
  Atomics.store(control, CONTROL.done, seen);
  Atomics.notify(control, CONTROL.done);
}
