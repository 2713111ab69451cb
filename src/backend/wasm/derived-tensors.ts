/**
 * Tensors a kernel derives from one of its inputs (a filter's transpose, its
 * flipped phases, its Winograd transform; an input's ones per pixel), and
 * small values read from them (which channels hold only 0/1), kept for the
 * rest of a scope.
 *
 * A training step runs the discriminator three times (on the detached fake,
 * the real image, and the fake again for G's loss) with the same weight
 * tensors, and the input gradient of each pass again: every conv kernel
 * would otherwise transpose, flip or transform the same filter six times a
 * step. Inside `withDerivedTensorScope` (the training step opens one), the
 * first kernel to derive a form keeps it, the others reuse it, and the scope
 * frees them all at its end (or earlier, with their source: the wasm
 * backend's `disposeData` is wrapped once to say so). Outside a scope
 * nothing is kept: inference holds its weights for the whole run, and
 * derived forms kept that long would be a second copy of the model.
 *
 * Only sources of at most `MAX_CACHED_SOURCE_ELEMENTS` are kept: G1's
 * 9.4M-weight residual filters meet one conv of each kind a step, so keeping
 * their forms would only hold another ~680 MB through the step.
 */
import * as tf from '@tensorflow/tfjs-core';

/** 4M elements (16 MB): D's largest filter (4x4x256x512, 2M) is cached; G1's residual filters (9.4M) are not. */
const MAX_CACHED_SOURCE_ELEMENTS = 4 * 1024 * 1024;

type DataId = object;

/** Whether a source of `elements` is small enough to have its derived forms kept in a scope. */
export function cacheableSource(elements: number): boolean {
  return elements <= MAX_CACHED_SOURCE_ELEMENTS;
}

const derived = new Map<DataId, Map<string, tf.Tensor[]>>();
/** Scopes open now (nested scopes share the outermost one's cache). */
let openScopes = 0;
const hooked = new WeakSet<object>();

/** Plain values read from a source (which of its channels hold only 0/1, say), kept like the tensors. */
const derivedPlain = new Map<DataId, Map<string, unknown>>();

/** Frees what was derived from `dataId` (its data has just been freed). */
function release(dataId: DataId): void {
  derivedPlain.delete(dataId);
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
 * (see above) and a scope is open; otherwise computed afresh. `cached` says which: the caller
 * frees uncached tensors when done (as early as it likes) and never frees
 * cached ones.
 */
export function derivedTensors(source: tf.TensorInfo, key: string, compute: () => tf.Tensor[]): { tensors: tf.Tensor[]; cached: boolean } {
  if (openScopes === 0 || !cacheableSource(tf.util.sizeFromShape(source.shape))) return { tensors: compute(), cached: false };
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

/**
 * A value `compute()` reads from `source`'s data under `key`: computed once
 * per source while a scope is open (whatever the source's size: the value is
 * small), afresh otherwise.
 */
export function derivedValue<T>(source: tf.TensorInfo, key: string, compute: () => T): T {
  if (openScopes === 0) return compute();
  hookDisposal(tf.backend());
  let entries = derivedPlain.get(source.dataId);
  if (entries === undefined) {
    entries = new Map();
    derivedPlain.set(source.dataId, entries);
  } else if (entries.has(key)) {
    return entries.get(key) as T;
  }
  const value = compute();
  entries.set(key, value);
  return value;
}

/**
 * Runs `body` with derived tensors kept until it returns (see above), then
 * frees them. Synchronous: kernels run synchronously, and a scope left open
 * across an await would keep tensors for unrelated work.
 */
export function withDerivedTensorScope<T>(body: () => T): T {
  openScopes += 1;
  try {
    return body();
  } finally {
    openScopes -= 1;
    if (openScopes === 0) {
      for (const dataId of [...derived.keys()]) release(dataId);
      derivedPlain.clear();
    }
  }
}

/** How many sources have derived tensors cached (for tests). */
export function cachedSourceCount(): number {
  return derived.size;
}
