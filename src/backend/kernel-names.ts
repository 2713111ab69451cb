/**
 * Names of p2phd's own fused kernels. Backends that register them (wasm, via
 * `initBackend`) run the fused version; elsewhere ops.ts composes tfjs ops.
 */
export const P2phdKernel = Object.freeze({
  /** inputs {x}; attrs {pad}: ReflectionPad2d on NHWC. */
  reflectPad: 'P2phdReflectPad',
  /** inputs {dy}; attrs {pad}: the adjoint, borders folded back. */
  reflectPadGrad: 'P2phdReflectPadGrad',
  /** inputs {x}; attrs {eps}: outputs [y, invStd] (invStd [N,1,1,C]). */
  instanceNorm: 'P2phdInstanceNorm',
  /** inputs {dy, y, invStd}: dx. */
  instanceNormGrad: 'P2phdInstanceNormGrad',
  /** inputs {x} [B, R, C]: [B, C, R], cache-blocked (wasm's Transpose thrashes on large matrices). */
  batchTranspose: 'P2phdBatchTranspose',
} as const);

export interface ReflectPadAttrs {
  pad: number;
}
export interface InstanceNormAttrs {
  eps: number;
}
