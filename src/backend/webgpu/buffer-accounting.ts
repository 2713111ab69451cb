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
  releaseBuffer(buffer: { size: number }, reuse?: boolean): void;
}

export interface WebgpuBufferFigures {
  /** Bytes in buffers held by tensors (and pending uniforms, staging) now. */
  liveBytes: number;
  /** The largest liveBytes since the accounting opened or resetPeak. */
  livePeakBytes: number;
  /** Bytes of every buffer the pool holds now (in use or free). */
  poolBytes: number;
  /** The largest poolBytes since the accounting opened or resetPeak: the device memory tfjs held at most. */
  poolPeakBytes: number;
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
  let poolPeak = manager.numBytesAllocated;
  const wrapped = function (this: BufferManagerLike, ...args: unknown[]): unknown {
    const buffer = original.apply(this, args);
    if (this.numBytesUsed > peak) peak = this.numBytesUsed;
    if (this.numBytesAllocated > poolPeak) poolPeak = this.numBytesAllocated;
    return buffer;
  };
  manager.acquireBuffer = wrapped;
  return {
    figures: () => ({
      liveBytes: manager.numBytesUsed,
      livePeakBytes: Math.max(peak, manager.numBytesUsed),
      poolBytes: manager.numBytesAllocated,
      poolPeakBytes: Math.max(poolPeak, manager.numBytesAllocated),
    }),
    resetPeak: () => {
      peak = manager.numBytesUsed;
      poolPeak = manager.numBytesAllocated;
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

/**
 * Buffers of `bytes` or more go back to the device when their tensor is
 * freed instead of waiting in tfjs's pool (which reuses a buffer only for a
 * tensor of exactly the same size, so a step's many activation sizes each
 * keep their own buffers: the pool grew to 1.2x to 1.9x the live peak on
 * lavapipe). The device gives such a buffer back at once or reuses its
 * memory for the next one; each new buffer costs an allocation and a clear.
 * 0 or Infinity: tfjs's own pooling. A no-op on every other backend.
 */
export function poolWebgpuBuffersBelow(bytes: number): void {
  const manager = bufferManager();
  if (!manager) return;
  const tagged = manager as BufferManagerLike & { p2phdOriginalRelease?: BufferManagerLike['releaseBuffer'] };
  const original = tagged.p2phdOriginalRelease ?? manager.releaseBuffer;
  tagged.p2phdOriginalRelease = original;
  if (!(bytes > 0 && Number.isFinite(bytes))) {
    manager.releaseBuffer = original;
    return;
  }
  manager.releaseBuffer = function (this: BufferManagerLike, buffer: { size: number }, reuse = true): void {
    original.call(this, buffer, reuse && buffer.size < bytes);
  };
}
