/**
 * BatchMatMul on ONNX Runtime's MLAS, in place on the wasm heap (see
 * ../onnxruntime/matmul-session.ts for why), for products large enough to
 * pay for the call; XNNPACK keeps the small ones and those with transposed
 * operands (p2phd's kernels never ask for them).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { MatMulSession } from '../onnxruntime/matmul-session';
import { asWasmBackend } from './heap-views';
import { wrapKernel } from './tensor-kernel';

/**
 * Products below this many multiply-adds (and convs below it, in
 * ./kernels) stay on XNNPACK: a session call costs 10-15 µs (tensor
 * wrappers, shape checks, waking the pool), about what XNNPACK takes for
 * 256K multiply-adds on one thread; MLAS then runs at 40-120 GFLOP/s.
 */
export const NATIVE_MATMUL_MIN_MACS = 1 << 18;

let session: MatMulSession | null = null;
let registered = false;

/** The session the wasm BatchMatMul hands large products to (null: XNNPACK only). */
export function nativeMatMulSession(): MatMulSession | null {
  return session;
}

/** Whether the wasm backend's convs keep XNNPACK's packed copy of their filters (no native GEMM registered). */
export function wasmPacksConvWeights(): boolean {
  return session === null;
}

function isPlainHeap(array: Float32Array): boolean {
  return array.buffer instanceof ArrayBuffer;
}

/** Routes the wasm BatchMatMul's large products to `matMul` (registered once; a later call swaps the session). */
export function registerNativeMatMul(matMul: MatMulSession | null): void {
  session = matMul;
  if (registered) return;
  registered = true;
  wrapKernel(tf.BatchMatMul, 'wasm', (xnnpack) => (args) => {
    const attrs = args.attrs as unknown as tf.BatchMatMulAttrs;
    const a = args.inputs['a']!;
    const b = args.inputs['b']!;
    const native = session;
    if (native === null || attrs.transposeA || attrs.transposeB || a.dtype !== 'float32' || b.dtype !== 'float32') return xnnpack(args);
    const aRank = a.shape.length;
    const bRank = b.shape.length;
    const m = a.shape[aRank - 2]!;
    const k = a.shape[aRank - 1]!;
    const n = b.shape[bRank - 1]!;
    if (b.shape[bRank - 2] !== k) return xnnpack(args);
    const batch = tf.backend_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
    const macs = tf.util.sizeFromShape(batch) * m * k * n;
    if (macs < NATIVE_MATMUL_MIN_MACS) return xnnpack(args);
    const backend = asWasmBackend(args.backend);
    const aValues = backend.typedArrayFromHeap(a) as Float32Array;
    if (!isPlainHeap(aValues)) return xnnpack(args);
    const outShape = [...batch, m, n];
    const out = backend.makeOutput(outShape, 'float32');
    // Views taken after makeOutput: a heap growth there detaches earlier ones.
    native.run(
      backend.typedArrayFromHeap(a) as Float32Array,
      a.shape,
      backend.typedArrayFromHeap(b) as Float32Array,
      b.shape,
      backend.typedArrayFromHeap(out) as Float32Array,
      outShape,
    );
    return out;
  });
}
