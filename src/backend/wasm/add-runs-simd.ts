/**
 * `addRun(target, source, vectorBytes, tailBytes)`: target[e] += source[e]
 * over a run of floats on the wasm heap (byte addresses; the first
 * `vectorBytes`, a multiple of 16, four lanes at a time, then `tailBytes`
 * one float at a time). The native column form's col2im adds its column
 * gradients back into the image one window row at a time (kw * Ci floats):
 * a JavaScript loop over heap views took ~6 ns per float there, this ~0.3.
 * Plain SIMD, no FMA: a sum of two floats is the same bits either way.
 */
import { FunctionBuilder, instantiateOnMemory, perMemory, type Local } from './wasm-assembler';

export type AddRun = (target: number, source: number, vectorBytes: number, tailBytes: number) => void;

function buildAddRun(): FunctionBuilder {
  const f = new FunctionBuilder(4);
  const [target, source, vectorBytes, tailBytes] = f.params() as [Local, Local, Local, Local];
  const end = f.i32Local();
  f.get(target).get(vectorBytes).add().set(end);
  f.forRange(target, target, end, 16, () => {
    f.get(target);
    f.get(target).v128Load().get(source).v128Load().f32x4Add();
    f.v128Store();
    f.increment(source, 16);
  });
  f.get(target).get(tailBytes).add().set(end);
  f.forRange(target, target, end, 4, () => {
    f.get(target);
    f.get(target).f32Load().f32x4Splat().get(source).f32Load().f32x4Splat().f32x4Add().f32x4ExtractLane(0);
    f.f32Store();
    f.increment(source, 4);
  });
  return f;
}

/** The kernel on `memory` (tfjs's heap), compiled on first use. */
export const addRunOn = perMemory((memory): AddRun => instantiateOnMemory([{ name: 'addRun', builder: buildAddRun() }], memory)['addRun'] as AddRun);
