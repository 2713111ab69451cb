/**
 * ONNX Runtime's CPU GEMM (MLAS: AVX2 / AVX-512 kernels with fused
 * multiply-adds, its own thread pool) as a synchronous matrix product over
 * memory the caller owns.
 *
 * Why: wasm's 128-bit SIMD without FMA caps XNNPACK's matmuls at ~45 GFLOP/s
 * on two cores of the machines p2phd trains on; MLAS reaches ~90-100 on the
 * same cores and shapes. The wasm backend's matrix products (its
 * BatchMatMul kernel, and the native column form of its convs,
 * ../wasm/conv2d-native-column.ts) hand their operands to MLAS in place: the
 * single-threaded wasm build's heap is a plain ArrayBuffer: ONNX Runtime
 * reads the operands and writes the product where tfjs keeps them, no copy.
 * (The threaded build's heap is a SharedArrayBuffer, which onnxruntime-node
 * refuses as tensor data.)
 *
 * onnxruntime-node's public `InferenceSession.run` is asynchronous only in
 * wrapping: it defers the synchronous native call with setImmediate. A tfjs
 * kernel must return its result, so this module calls the package's
 * native binding (`dist/binding`) directly. That is an internal path of
 * onnxruntime-node 1.30: when it is missing or behaves differently, the
 * probe below fails and the caller keeps XNNPACK.
 */
import { dirname, join } from 'node:path';
import { loadOnnxRuntime, ONNXRUNTIME_PACKAGE } from './index';

/** The slice of onnxruntime-node's native InferenceSession used here. */
interface BindingSession {
  loadModel(buffer: ArrayBuffer, byteOffset: number, byteLength: number, options: Record<string, unknown>): void;
  run(feeds: Record<string, unknown>, fetches: Record<string, unknown>, options: Record<string, unknown>): Record<string, unknown>;
  dispose(): void;
}

interface BindingModule {
  readonly binding: { InferenceSession: new () => BindingSession };
  readonly initOrt: () => void;
}

type OrtTensorConstructor = new (type: 'float32', data: Float32Array, dims: readonly number[]) => unknown;

/** Matrix products written into memory the caller owns. */
export interface MatMulSession {
  /** ONNX Runtime's intra-op threads (the calling thread is one of them). */
  readonly threads: number;
  /** c = a · b with numpy broadcasting over the leading (batch) dimensions. */
  run(a: Float32Array, aDims: readonly number[], b: Float32Array, bDims: readonly number[], c: Float32Array, cDims: readonly number[]): void;
  /**
   * c [m, n] = op(a) · op(b) for 2-D operands, op transposing where asked:
   * a is [k, m] when `transposeA`, b is [n, k] when `transposeB` (MLAS reads
   * them transposed as they lie; no copy).
   */
  gemm(transposeA: boolean, transposeB: boolean, a: Float32Array, b: Float32Array, c: Float32Array, m: number, n: number, k: number): void;
}

// --- a minimal protobuf writer: the one ONNX model below needs nothing more ---

function varint(value: number): number[] {
  const bytes: number[] = [];
  let rest = value;
  while (rest >= 0x80) {
    bytes.push((rest & 0x7f) | 0x80);
    rest = Math.floor(rest / 128);
  }
  bytes.push(rest);
  return bytes;
}

/** A varint field. */
function intField(field: number, value: number): number[] {
  return [...varint(field << 3), ...varint(value)];
}

/** A length-delimited field (string, bytes or embedded message). */
function bytesField(field: number, payload: readonly number[] | string): number[] {
  const bytes = typeof payload === 'string' ? [...Buffer.from(payload, 'utf8')] : payload;
  return [...varint((field << 3) | 2), ...varint(bytes.length), ...bytes];
}

const ONNX_FLOAT = 1;

/**
 * ModelProto for one MatMul node, `c = MatMul(a, b)`, float32, with no shape
 * on any value (any rank, any size): ir_version 8, default opset 17.
 * Field numbers from onnx.proto: ModelProto ir_version 1, graph 7,
 * opset_import 8; GraphProto node 1, name 2, input 11, output 12; NodeProto
 * input 1, output 2, op_type 4; ValueInfoProto name 1, type 2; TypeProto
 * tensor_type 1; TypeProto.Tensor elem_type 1; OperatorSetIdProto version 2.
 */
export function matMulModelBytes(): Uint8Array {
  return productModelBytes([...bytesField(1, 'a'), ...bytesField(1, 'b'), ...bytesField(2, 'c'), ...bytesField(4, 'MatMul')]);
}

/**
 * The same for `c = Gemm(a, b)` with attributes transA, transB (NodeProto
 * attribute 5; AttributeProto name 1, i 3, type 20 = INT 2) and no bias.
 */
export function gemmModelBytes(transposeA: boolean, transposeB: boolean): Uint8Array {
  const attribute = (name: string, value: boolean): number[] => bytesField(5, [...bytesField(1, name), ...intField(3, value ? 1 : 0), ...intField(20, 2)]);
  return productModelBytes([
    ...bytesField(1, 'a'),
    ...bytesField(1, 'b'),
    ...bytesField(2, 'c'),
    ...bytesField(4, 'Gemm'),
    ...attribute('transA', transposeA),
    ...attribute('transB', transposeB),
  ]);
}

/** A model of one node reading float inputs a, b and writing float c. */
function productModelBytes(node: readonly number[]): Uint8Array {
  const floatValue = (name: string): number[] => [...bytesField(1, name), ...bytesField(2, bytesField(1, intField(1, ONNX_FLOAT)))];
  const graph = [
    ...bytesField(1, node),
    ...bytesField(2, 'p2phd_matmul'),
    ...bytesField(11, floatValue('a')),
    ...bytesField(11, floatValue('b')),
    ...bytesField(12, floatValue('c')),
  ];
  return Uint8Array.from([...intField(1, 8), ...bytesField(7, graph), ...bytesField(8, intField(2, 17))]);
}

/** onnxruntime-node's native binding module, next to its entry point. */
function loadBinding(): BindingModule {
  const entry = require.resolve(ONNXRUNTIME_PACKAGE);
  return require(join(dirname(entry), 'binding')) as BindingModule;
}

/**
 * A MatMul session on `threads` threads (spinning off, so idle pool threads
 * do not take the core from the step's own JavaScript and workers).
 * Throws when onnxruntime-node or its binding cannot be used.
 */
export function createMatMulSession(threads: number): MatMulSession {
  const ort = loadOnnxRuntime() as unknown as { Tensor: OrtTensorConstructor };
  const { binding, initOrt } = loadBinding();
  initOrt();
  const open = (model: Uint8Array): BindingSession => {
    const session = new binding.InferenceSession();
    session.loadModel(model.buffer as ArrayBuffer, model.byteOffset, model.byteLength, {
      executionProviders: ['cpu'],
      graphOptimizationLevel: 'all',
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      logSeverityLevel: 3,
      extra: { session: { intra_op: { allow_spinning: '0' } } },
    });
    return session;
  };
  const noOptions = {};
  const product = (session: BindingSession, a: Float32Array, aDims: readonly number[], b: Float32Array, bDims: readonly number[], c: Float32Array, cDims: readonly number[]): void => {
    session.run(
      { a: new ort.Tensor('float32', a, aDims), b: new ort.Tensor('float32', b, bDims) },
      { c: new ort.Tensor('float32', c, cDims) },
      noOptions,
    );
  };
  const matMul = open(matMulModelBytes());
  // One session per transposition pattern (Gemm's attributes are fixed in its graph), opened on first use.
  const gemms = new Map<number, BindingSession>();
  // The binding is an internal path: check that it writes the product where asked (another version might not).
  const probe = new Float32Array(4);
  product(matMul, Float32Array.of(1, 2, 3, 4), [2, 2], Float32Array.of(5, 6, 7, 8), [2, 2], probe, [2, 2]);
  if (probe.join(',') !== '19,22,43,50') throw new Error(`onnxruntime-node's binding did not write a product in place (got ${probe.join(', ')})`);
  return {
    threads,
    run(a, aDims, b, bDims, c, cDims) {
      product(matMul, a, aDims, b, bDims, c, cDims);
    },
    gemm(transposeA, transposeB, a, b, c, m, n, k) {
      const key = (transposeA ? 2 : 0) + (transposeB ? 1 : 0);
      let session = gemms.get(key);
      if (session === undefined) {
        session = open(gemmModelBytes(transposeA, transposeB));
        gemms.set(key, session);
      }
      product(session, a, transposeA ? [k, m] : [m, k], b, transposeB ? [n, k] : [k, n], c, [m, n]);
    },
  };
}
