/**
 * Tensors a kernel derives from one of its inputs (a filter's transpose, its
 * flipped phases, its Winograd transform), kept for as long as that input's
 * data lives.
 *
 * A training step runs the discriminator three times (on the detached fake,
 * the real image, and the fake again for G's loss) with the same weight
 * tensors, and the input gradient of each pass again: every conv kernel
 * would otherwise transpose, flip or transform the same filter six times a
 * step. The derived tensors are freed when the backend frees the source's
 * data (the wasm backend's `disposeData` is wrapped once to say so), so a
 * step's weights and their derived forms go together.
 *
 * Only sources of at most `MAX_CACHED_SOURCE_ELEMENTS` are cached: inference
 * keeps its weights for the whole run, and the Winograd transform of the
 * generator's 1024-channel residual filters (4x their 9.4M elements each)
 * would hold gigabytes. Larger sources are derived afresh on every call.
 */
import * as tf from '@tensorflow/tfjs-core';

/** 4M elements (16 MB): D's largest filter (4x4x256x512, 2M) is cached; G1's residual filters (9.4M) are not. */
const MAX_CACHED_SOURCE_ELEMENTS = 4 * 1024 * 1024;

type DataId = object;

const derived = new Map<DataId, Map<string, tf.Tensor[]>>();
const hooked = new WeakSet<object>();

/** Frees what was derived from `dataId` (its data has just been freed). */
function release(dataId: DataId): void {
  const entries = derived.get(dataId);
  if (entries === undefined) return;
  derived.delete(dataId);
  for (const tensors of entries.values()) tf.dispose(tensors);
}

interface DisposingBackend {
  disposeData(dataId: DataId, force?: boolean): boolean;
}

/** Wraps `backend.disposeData` once, so that freeing a source frees what was derived from it. */
function hookDisposal(backend: tf.KernelBackend): void {
  if (hooked.has(backend)) return;
  hooked.add(backend);
  const target = backend as unknown as DisposingBackend;
  const original = target.disposeData.bind(backend);
  target.disposeData = (dataId, force) => {
    const freed = original(dataId, force);
    if (freed) release(dataId);
    return freed;
  };
}

/**
 * The tensors `compute()` derives from `source` under `key`: computed once
 * and kept while the source's data lives, where the source is small enough
 * (see above); otherwise computed afresh. `cached` says which: the caller
 * frees uncached tensors when done (as early as it likes) and never frees
 * cached ones.
 */
export function derivedTensors(source: tf.TensorInfo, key: string, compute: () => tf.Tensor[]): { tensors: tf.Tensor[]; cached: boolean } {
  if (tf.util.sizeFromShape(source.shape) > MAX_CACHED_SOURCE_ELEMENTS) return { tensors: compute(), cached: false };
  const backend = tf.backend();
  hookDisposal(backend);
  let entries = derived.get(source.dataId);
  const cached = entries?.get(key);
  if (cached !== undefined) return { tensors: cached, cached: true };
  // Computed in a kernel's tidy scope: kept out of it.
  const tensors = compute().map((t) => tf.keep(t));
  if (entries === undefined) {
    entries = new Map();
    derived.set(source.dataId, entries);
  }
  entries.set(key, tensors);
  return { tensors, cached: true };
}

/** How many sources have derived tensors cached (for tests). */
export function cachedSourceCount(): number {
  return derived.size;
}
