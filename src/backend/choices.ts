/**
 * The --backend values. Kept apart from index.ts, which loads tfjs, so that
 * the CLI can declare the flag without paying for tfjs on `--help`.
 * `onnxruntime` runs inference only (synthesize, encode): G and E as ONNX
 * graphs in ONNX Runtime.
 */
export const BACKEND_CHOICES = Object.freeze(['auto', 'tensorflow', 'webgpu', 'wasm', 'cpu', 'onnxruntime'] as const);
export type BackendChoice = (typeof BACKEND_CHOICES)[number];
