/**
 * The ground-level tensor: a dtype, a shape and a typed array, in row-major
 * order. Every file format (safetensors, .pth, ONNX) reads into it and
 * writes from it, and the model's parameter tables hold it, so it belongs to
 * no format in particular.
 */

export const DTYPES = Object.freeze({
  F32: { bytes: 4 },
  F64: { bytes: 8 },
  I32: { bytes: 4 },
  I64: { bytes: 8 },
  U8: { bytes: 1 },
  U16: { bytes: 2 },
  BOOL: { bytes: 1 },
} as const);

export type DType = keyof typeof DTYPES;

export type TensorData = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array | Uint16Array;

/** The typed array each dtype is held in. BOOL is a Uint8Array of 0/1. */
export interface DTypeArrays {
  F32: Float32Array;
  F64: Float64Array;
  I32: Int32Array;
  I64: BigInt64Array;
  U8: Uint8Array;
  U16: Uint16Array;
  BOOL: Uint8Array;
}

export interface Tensor<D extends DType = DType> {
  dtype: D;
  shape: number[];
  data: DTypeArrays[D];
}

export function elementCount(shape: readonly number[]): number {
  let count = 1;
  for (const dim of shape) count *= dim;
  return count;
}

/** A zero-filled typed array of `length` elements of `dtype`. */
export function allocateTyped<D extends DType>(dtype: D, length: number): DTypeArrays[D] {
  switch (dtype) {
    case 'F32': return new Float32Array(length) as DTypeArrays[D];
    case 'F64': return new Float64Array(length) as DTypeArrays[D];
    case 'I32': return new Int32Array(length) as DTypeArrays[D];
    case 'I64': return new BigInt64Array(length) as DTypeArrays[D];
    case 'U16': return new Uint16Array(length) as DTypeArrays[D];
    default: return new Uint8Array(length) as DTypeArrays[D];
  }
}

/** Creates a tensor, checking that the data's length fits the shape. */
export function makeTensor<D extends DType>(dtype: D, shape: readonly number[], data: DTypeArrays[D]): Tensor<D> {
  const expected = elementCount(shape);
  if (data.length !== expected) {
    throw new Error(`tensor data has ${data.length} elements but shape [${shape.join(', ')}] needs ${expected}`);
  }
  return { dtype, shape: [...shape], data };
}
