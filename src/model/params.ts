/**
 * Parameter maps and the checkpoint boundary: conversion between tfjs
 * layouts (inside) and the reference's PyTorch layouts (in files), and
 * loading a file's tensors into the parameters a config needs, strictly or
 * partially.
 *
 * Both conv layouts convert by the same permutation: PyTorch [A, B, kh, kw]
 * (conv [out, in], transposed [in, out]) <-> tfjs [kh, kw, B, A]
 * (conv [in, out], transposed [out, in]).
 */
import * as tf from '@tensorflow/tfjs-core';
import { InputError } from '../errors.js';
import { makeTensor, type Tensor } from '../data/formats/tensor.js';
import { flatDiscriminatorKey } from './discriminator.js';
import { initialTensor } from './init.js';
import { isTrainable, type ParamSpec, type Params } from './layers.js';

function isConvWeight(spec: ParamSpec): boolean {
  return spec.role === 'convWeight' || spec.role === 'convTransposeWeight';
}

/** The shape the reference stores `spec` with. */
export function referenceShape(spec: ParamSpec): number[] {
  if (!isConvWeight(spec)) return [...spec.shape];
  const [kh, kw, b, a] = spec.shape as [number, number, number, number];
  return [a, b, kh, kw];
}

/** The file dtype of a parameter: num_batches_tracked is a PyTorch long. */
export function referenceDtype(spec: ParamSpec): 'F32' | 'I64' {
  return spec.role === 'numBatchesTracked' ? 'I64' : 'F32';
}

/**
 * Both conversions move element (i, j, s) of [A, B, k] (k = kh * kw) to
 * (s, j, i) of [k, B, A]. Done in tiles of LAYOUT_TILE values of i and of j
 * (all k taps of each), so that the lines read and the lines written both
 * stay in cache while they are used: the default G1's 182 M weights load in
 * ~0.7 s instead of 2.3 s element by element. 16 measured fastest of 16-64.
 */
const LAYOUT_TILE = 16;

/**
 * [A, B, k] <-> [k, B, A], tile by tile (see LAYOUT_TILE), into `out`;
 * `toTfjs` picks the direction. One function for both keeps the tiling in
 * one place; the branch is per row of a tile, not per element.
 */
function convertLayout(data: Float32Array, a: number, b: number, k: number, toTfjs: boolean, out: Float32Array): Float32Array {
  for (let j0 = 0; j0 < b; j0 += LAYOUT_TILE) {
    const j1 = Math.min(j0 + LAYOUT_TILE, b);
    for (let i0 = 0; i0 < a; i0 += LAYOUT_TILE) {
      const i1 = Math.min(i0 + LAYOUT_TILE, a);
      for (let s = 0; s < k; s++) {
        for (let j = j0; j < j1; j++) {
          const tfjsRow = (s * b + j) * a;
          const referenceStride = b * k;
          const referenceColumn = j * k + s;
          if (toTfjs) {
            for (let i = i0; i < i1; i++) out[tfjsRow + i] = data[i * referenceStride + referenceColumn]!;
          } else {
            for (let i = i0; i < i1; i++) out[i * referenceStride + referenceColumn] = data[tfjsRow + i]!;
          }
        }
      }
    }
  }
  return out;
}

/**
 * The values of `spec` (tfjs layout) in the reference's layout, as a new
 * array: conv weights [kh, kw, B, A] -> [A, B, kh, kw], the rest copied.
 */
export function toReferenceLayout(spec: ParamSpec, data: Float32Array): Float32Array {
  if (!isConvWeight(spec)) return data.slice();
  const [kh, kw, b, a] = spec.shape as [number, number, number, number];
  return convertLayout(data, a, b, kh * kw, false, new Float32Array(data.length));
}

/**
 * The inverse of toReferenceLayout: values of `spec` in the reference's
 * layout into tfjs's, written to `out` (a new array by default).
 */
export function fromReferenceLayout(spec: ParamSpec, data: Float32Array, out: Float32Array = new Float32Array(data.length)): Float32Array {
  if (!isConvWeight(spec)) {
    out.set(data);
    return out;
  }
  const [kh, kw, b, a] = spec.shape as [number, number, number, number];
  return convertLayout(data, a, b, kh * kw, true, out);
}

/** A parameter (tfjs layout) as a file tensor in the reference's layout. Reads the data back from the backend. */
export function toReferenceTensor(spec: ParamSpec, value: tf.Tensor): Tensor {
  return referenceTensorOf(spec, value.dataSync());
}

/** toReferenceTensor with an asynchronous read (the only kind WebGPU has under Node). */
export async function readReferenceTensor(spec: ParamSpec, value: tf.Tensor): Promise<Tensor> {
  return referenceTensorOf(spec, await value.data());
}

function referenceTensorOf(spec: ParamSpec, values: tf.TypedArray): Tensor {
  const shape = referenceShape(spec);
  if (spec.role === 'numBatchesTracked') {
    return makeTensor('I64', shape, BigInt64Array.from(values, (n) => BigInt(Math.round(n))));
  }
  return makeTensor('F32', shape, toReferenceLayout(spec, values as Float32Array));
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((dim, i) => dim === b[i]);
}

/** Why a file tensor cannot be `spec`, or null when it fits. */
function misfit(spec: ParamSpec, tensor: Tensor): string | null {
  const expected = referenceShape(spec);
  if (!sameShape(expected, tensor.shape)) {
    return `has shape [${tensor.shape.join(', ')}], expected [${expected.join(', ')}]`;
  }
  // F64 is accepted (and narrowed) for weights exported from a double-precision state_dict.
  const allowed = spec.role === 'numBatchesTracked' ? ['I64', 'I32'] : ['F32', 'F64'];
  if (!allowed.includes(tensor.dtype)) return `is ${tensor.dtype}, expected ${allowed.join(' or ')}`;
  return null;
}

/** Exit 3 for a tensor that strict loading cannot use: missing, or `problem` (misfit's reason). */
function strictLoadError(spec: ParamSpec, storedKey: string, problem: string, source: string): InputError {
  return new InputError(
    problem === 'is missing'
      ? `${source}: has no tensor "${spec.key}" (shape [${referenceShape(spec).join(', ')}]), which its architecture config needs`
      : `${source}: tensor "${storedKey}" ${problem} for this architecture config`,
  );
}

/**
 * The float32 values of `spec` as the file stores them (reference name and
 * layout), strictly: exit 3 naming the tensor when it is missing or does not
 * fit, as loadParams in strict mode. For writers that keep the reference's
 * layouts (ONNX export); F64 files are narrowed, F32 ones shared, not copied.
 */
export function referenceValues(spec: ParamSpec, tensors: ReadonlyMap<string, Tensor>, source: string): Float32Array {
  const tensor = tensors.get(spec.key);
  const problem = tensor === undefined ? 'is missing' : misfit(spec, tensor);
  if (problem !== null) throw strictLoadError(spec, spec.key, problem, source);
  if (spec.role === 'numBatchesTracked') throw new Error(`referenceValues: ${spec.key} is a count, not float values`);
  return tensor!.data instanceof Float32Array ? tensor!.data : Float32Array.from(tensor!.data as Float64Array);
}

/** A file tensor (reference layout) as a parameter in tfjs layout; the caller has checked it fits. */
export function fromReferenceTensor(spec: ParamSpec, tensor: Tensor): tf.Tensor {
  if (spec.role === 'numBatchesTracked') {
    const data = tensor.data as BigInt64Array | Int32Array;
    return tf.tensor(Int32Array.from(data as ArrayLike<number | bigint>, (n) => Number(n)), [...spec.shape], 'int32');
  }
  const data = tensor.data instanceof Float32Array ? tensor.data : Float32Array.from(tensor.data as Float64Array);
  // A new array: the parameter never shares the file's buffer.
  return tf.tensor(fromReferenceLayout(spec, data), [...spec.shape], 'float32');
}

/** Fresh parameters for every spec. */
export function initParams(specs: readonly ParamSpec[], seed: number): Map<string, tf.Tensor> {
  return new Map(specs.map((spec) => [spec.key, initialTensor(spec, seed)]));
}

export interface LoadOptions {
  /** Names the file in messages. */
  readonly source: string;
  /**
   * strict: every spec must be in the file with its shape (exit 3 naming the
   * first that is missing or does not fit). partial (train --init): tensors
   * that fit are loaded, the rest freshly initialised from `seed`.
   */
  readonly mode: 'strict' | 'partial';
  /** Seed of the fresh tensors in partial mode. */
  readonly seed?: number;
}

export interface LoadResult {
  readonly params: Map<string, tf.Tensor>;
  /** Keys taken from the file. */
  readonly loaded: string[];
  /** Keys freshly initialised, with the reason (partial mode only). */
  readonly initialised: Array<{ key: string; reason: string }>;
  /** Keys loaded from the reference's other naming (a D saved without intermediate features). */
  readonly renamed: Array<{ key: string; from: string }>;
  /** File tensors of the requested networks that no spec uses (e.g. G1's output conv in a local enhancer). */
  readonly unused: string[];
}

/**
 * Loads the parameters `specs` describes from file tensors (reference names
 * and layouts). Loading is by name, as the reference's own load_network: a G1
 * checkpoint fits the global part of a local enhancer (same `G.model.N` keys),
 * and a D with another num_D keeps the scales whose names exist.
 */
export function loadParams(specs: readonly ParamSpec[], tensors: ReadonlyMap<string, Tensor>, options: LoadOptions): LoadResult {
  const params = new Map<string, tf.Tensor>();
  const loaded: string[] = [];
  const initialised: Array<{ key: string; reason: string }> = [];
  const consumed = new Set<string>();
  const renamed: Array<{ key: string; from: string }> = [];
  try {
    for (const spec of specs) {
      // A D saved by the reference without intermediate features uses flat names.
      const flatKey = tensors.has(spec.key) ? null : flatDiscriminatorKey(spec.key);
      const storedKey = flatKey !== null && tensors.has(flatKey) ? flatKey : spec.key;
      consumed.add(storedKey);
      const tensor = tensors.get(storedKey);
      const problem = tensor === undefined ? 'is missing' : misfit(spec, tensor);
      if (problem === null) {
        params.set(spec.key, fromReferenceTensor(spec, tensor!));
        loaded.push(spec.key);
        if (storedKey !== spec.key) renamed.push({ key: spec.key, from: storedKey });
        continue;
      }
      // PyTorch before 0.4.1 saved no num_batches_tracked, and nothing but
      // training's momentum schedule would read it: a count of 0 is harmless.
      const optional = tensor === undefined && spec.role === 'numBatchesTracked';
      if (options.mode === 'strict' && !optional) throw strictLoadError(spec, storedKey, problem, options.source);
      params.set(spec.key, initialTensor(spec, options.seed ?? 0));
      if (!optional) initialised.push({ key: spec.key, reason: problem });
    }
  } catch (error) {
    disposeParams(params);
    throw error;
  }
  const wanted = new Set(specs.map((spec) => spec.key));
  const networks = new Set(specs.map((spec) => spec.key.slice(0, spec.key.indexOf('.') + 1)));
  const unused = [...tensors.keys()].filter(
    (key) => !wanted.has(key) && !consumed.has(key) && networks.has(key.slice(0, key.indexOf('.') + 1)),
  );
  return { params, loaded, initialised, unused, renamed };
}

/** Parameters as tf.Variables for training; running statistics are not trainable. */
export function toVariables(params: Params, specs: readonly ParamSpec[]): Map<string, tf.Variable> {
  const variables = new Map<string, tf.Variable>();
  for (const spec of specs) {
    const value = params.get(spec.key);
    if (value === undefined) throw new Error(`toVariables: parameter "${spec.key}" is missing`);
    variables.set(spec.key, tf.variable(value, isTrainable(spec)));
  }
  return variables;
}

export function disposeParams(params: Params): void {
  for (const value of params.values()) value.dispose();
}
