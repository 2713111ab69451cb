/**
 * The native column form's memory passes as generated kernels (plain SIMD
 * and bulk memory; no FMA, so the bits do not depend on it).
 *
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

/**
 * im2colBand(col, x, first, count, H, W, ciBytes, kh, kw, outH, outW, sh,
 * sw, padTop, padLeft), byte addresses: rows first .. first + count - 1 of
 * the NHWC im2col of x, each output pixel's window tap-major then channel,
 * zero outside the image (see ./conv2d-native-column). Per pixel and tap
 * row: a zero fill left of the image, one memory.copy of the window row's
 * inside part, a zero fill right of it (either fill and the copy may be
 * empty; a row above or below the image is all fill). In JavaScript the
 * same loop cost ~40 ns per run in call overhead (copyWithin, fill).
 */
function buildIm2colBand(): FunctionBuilder {
  const f = new FunctionBuilder(15);
  const [col, x, first, count, height, width, ciBytes, kh, kw, outHeight, outWidth, sh, sw, padTop, padLeft] = f.params() as Local[] as [
    Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local,
  ];
  const [q, p, ow, rest, oh, n, left, j0, j1, i, ih, inside, rowBytes, rowTop, leftBytes, insideBytes, end] = f.i32Locals(17) as [
    Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local,
  ];
  f.product(rowBytes, kw, ciBytes);
  f.forRange(q, 0, count, 1, () => {
    f.get(first).get(q).add().set(p);
    f.get(p).get(outWidth).remU().set(ow);
    f.get(p).get(outWidth).divU().set(rest);
    f.get(rest).get(outHeight).remU().set(oh);
    f.get(rest).get(outHeight).divU().set(n);
    // left = ow * sw - padLeft; taps j in [j0, j1) read inside the image's columns, clamped to [0, kw].
    f.get(ow).get(sw).mul().get(padLeft).sub().set(left);
    f.i32(0).get(left).sub().set(j0);
    f.max(j0, j0, 0).min(j0, j0, kw);
    f.get(width).get(left).sub().set(j1);
    f.min(j1, j1, kw).max(j1, j1, j0);
    f.forRange(i, 0, kh, 1, () => {
      f.get(oh).get(sh).mul().get(i).add().get(padTop).sub().set(ih);
      f.get(ih).i32(0).atLeast().get(ih).get(height).lessThan().and().set(inside);
      // Outside: the whole row is the left fill and nothing is copied.
      f.get(j0).get(ciBytes).mul().get(rowBytes).get(inside).select().set(leftBytes);
      f.get(j1).get(j0).sub().get(ciBytes).mul().i32(0).get(inside).select().set(insideBytes);
      f.get(col).i32(0).get(leftBytes).memoryFill();
      // The source address only where inside (memory.copy traps on an out-of-range address even for 0 bytes).
      f.get(n).get(height).mul().get(ih).add().get(width).mul().get(left).add().get(j0).add().get(ciBytes).mul().get(x).add();
      f.get(x).get(inside).select().set(rowTop);
      f.get(col).get(leftBytes).add().get(rowTop).get(insideBytes).memoryCopy();
      f.get(col).get(rowBytes).add().set(end);
      f.get(col).get(leftBytes).add().get(insideBytes).add().i32(0).get(end).get(col).get(leftBytes).add().get(insideBytes).add().sub().memoryFill();
      f.get(end).set(col);
    });
  });
  return f;
}

export type Im2colBand = (
  col: number, x: number, first: number, count: number, height: number, width: number, ciBytes: number, kh: number, kw: number,
  outHeight: number, outWidth: number, sh: number, sw: number, padTop: number, padLeft: number,
) => void;

/** The im2col kernel on `memory` (tfjs's heap), compiled on first use. */
export const im2colBandOn = perMemory((memory): Im2colBand => instantiateOnMemory([{ name: 'im2col', builder: buildIm2colBand() }], memory)['im2col'] as Im2colBand);
