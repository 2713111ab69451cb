/**
 * What the webgpu backend holds on the device, over time. tfjs-backend-webgpu
 * keeps every GPU buffer it ever made in a pool keyed by exact size and usage
 * (a freed tensor's buffer waits there for a tensor of the same size), so
 * `tf.memory().numBytesAllocatedInGPU`, the pool, only grows: read after a
 * step it is the device memory the step made the backend hold at its peak,
 * the figure a GPU's memory must have room for. `numBytesInGPU` is what live
 * buffers (tensors, uniforms, staging) hold now; its high-water mark during a
 * step is the analogue of PyTorch's `torch.cuda.max_memory_allocated`, and is
 * what the memory estimate predicts. tfjs keeps only the current value, so
 * the accounting here wraps the backend's buffer manager to record the peak
 * at every acquisition.
 */
import * as tf from '@tensorflow/tfjs-core';

/** The parts of tfjs-backend-webgpu's BufferManager read here. */
interface BufferManagerLike {
  numBytesUsed: number;
  numBytesAllocated: number;
  acquireBuffer(...args: unknown[]): unknown;
}

export interface WebgpuBufferFigures {
  /** Bytes in buffers held by tensors (and pending uniforms, staging) now. */
  liveBytes: number;
  /** The largest liveBytes since the accounting opened or resetPeak. */
  livePeakBytes: number;
  /** Bytes of every buffer the pool holds (in use or free): only grows, so also its peak. */
  poolBytes: number;
}

export interface WebgpuBufferAccounting {
  figures(): WebgpuBufferFigures;
  /** Starts a new live peak from what is live now. */
  resetPeak(): void;
  /** Unwraps the buffer manager. */
  stop(): void;
}

function bufferManager(): BufferManagerLike | undefined {
  if (tf.getBackend() !== 'webgpu') return undefined;
  const manager = (tf.backend() as unknown as { bufferManager?: BufferManagerLike }).bufferManager;
  return manager && typeof manager.acquireBuffer === 'function' && typeof manager.numBytesUsed === 'number' ? manager : undefined;
}

/**
 * Opens an accounting of the webgpu backend's buffers (undefined on any other
 * backend). Acquisitions made before it count toward liveBytes, since the
 * buffer manager's own counter is read.
 */
export function webgpuBufferAccounting(): WebgpuBufferAccounting | undefined {
  const manager = bufferManager();
  if (!manager) return undefined;
  const original = manager.acquireBuffer;
  let peak = manager.numBytesUsed;
  const wrapped = function (this: BufferManagerLike, ...args: unknown[]): unknown {
    const buffer = original.apply(this, args);
    if (this.numBytesUsed > peak) peak = this.numBytesUsed;
    return buffer;
  };
  manager.acquireBuffer = wrapped;
  return {
    figures: () => ({ liveBytes: manager.numBytesUsed, livePeakBytes: Math.max(peak, manager.numBytesUsed), poolBytes: manager.numBytesAllocated }),
    resetPeak: () => {
      peak = manager.numBytesUsed;
    },
    stop: () => {
      if (manager.acquireBuffer === wrapped) manager.acquireBuffer = original;
    },
  };
}

/** The parts of tfjs-backend-webgpu's WebGPUBackend that releaseDisposedWebgpuBuffers drives. */
interface QueueOwner {
  commandEncoder: unknown;
  endComputePassEncoder(): void;
  submitQueue(): void;
}

/**
 * Submits the commands tfjs-webgpu has recorded so far (it submits every 15
 * dispatches by itself), so that the buffers of tensors disposed since go
 * back to the pool now: tfjs defers releasing a buffer that a recorded,
 * unsubmitted command uses until the next submission, so a run of
 * element-wise ops on large tensors otherwise holds every temporary it
 * disposed until then. Changes no result; a no-op on every other backend.
 */
export function releaseDisposedWebgpuBuffers(): void {
  if (tf.getBackend() !== 'webgpu') return;
  const backend = tf.backend() as unknown as Partial<QueueOwner>;
  if (!backend.commandEncoder || typeof backend.submitQueue !== 'function' || typeof backend.endComputePassEncoder !== 'function') return;
  backend.endComputePassEncoder();
  backend.submitQueue();
}
