/**
 * A minimal WebAssembly binary writer for p2phd's generated SIMD kernels.
 *
 * Just what straight-line transform kernels need: i32 arithmetic, counted
 * loops, f32/v128 loads and stores, and f32x4 add/sub/mul/splat/lanes, in a
 * module that imports its memory (tfjs's heap) and exports functions; and
 * for Adam (adam-simd.ts) f64x2 arithmetic with the f32 <-> f64 lane
 * conversions and 64-bit (two-float) loads and stores. Kernels
 * are generated at startup from their transform matrices, so there is no
 * toolchain and no binary in the repository. Opcodes: WebAssembly core spec
 * 2.0 and its fixed-width SIMD proposal (checked against wabt 1.0.39's
 * encoder while writing this; the f64x2 and 64-bit lane opcodes against the
 * final SIMD proposal's opcode table, and proven by adam-simd's bit-for-bit
 * test against JavaScript), plus relaxed SIMD's f32x4.relaxed_madd and
 * relaxed_nmadd, which a module may use only where `relaxedSimdAvailable()`
 * (./relaxed-simd) says the runtime compiles them.
 */

const enum ValueType {
  I32 = 0x7f,
  V128 = 0x7b,
}

function unsignedLeb(value: number): number[] {
  const bytes: number[] = [];
  let v = value >>> 0;
  do {
    let byte = v & 0x7f;
    v >>>= 7;
    if (v !== 0) byte |= 0x80;
    bytes.push(byte);
  } while (v !== 0);
  return bytes;
}

function signedLeb(value: number): number[] {
  const bytes: number[] = [];
  let v = value | 0;
  for (;;) {
    const byte = v & 0x7f;
    v >>= 7;
    const done = (v === 0 && (byte & 0x40) === 0) || (v === -1 && (byte & 0x40) !== 0);
    bytes.push(done ? byte : byte | 0x80);
    if (done) return bytes;
  }
}

function name(text: string): number[] {
  const bytes = [...Buffer.from(text, 'utf8')];
  return [...unsignedLeb(bytes.length), ...bytes];
}

function section(id: number, body: number[]): number[] {
  return [id, ...unsignedLeb(body.length), ...body];
}

function vector(items: number[][]): number[] {
  return [...unsignedLeb(items.length), ...items.flat()];
}

/** A local variable (parameters first, then declared locals); an object, so it is never mistaken for an i32 constant. */
export class Local {
  constructor(readonly index: number) {}
}

/** Byte alignment exponent for memargs: 2 for f32, 3 for 64-bit, 4 for v128. */
const F32_ALIGN = 2;
const F64_ALIGN = 3;
const V128_ALIGN = 4;

/** Builds one function body as a stack-machine instruction stream. */
export class FunctionBuilder {
  readonly code: number[] = [];
  private readonly localTypes: ValueType[] = [];
  private readonly constants = new Map<number, Local>();
  private readonly constantInit: number[] = [];

  constructor(readonly parameterCount: number) {}

  /** Parameter `index` as a local. */
  param(index: number): Local {
    return new Local(index);
  }

  /** Every parameter, in order. */
  params(): Local[] {
    return Array.from({ length: this.parameterCount }, (_, i) => new Local(i));
  }

  i32Locals(count: number): Local[] {
    return Array.from({ length: count }, () => this.i32Local());
  }

  v128Locals(count: number): Local[] {
    return Array.from({ length: count }, () => this.v128Local());
  }

  i32Local(): Local {
    this.localTypes.push(ValueType.I32);
    return new Local(this.parameterCount + this.localTypes.length - 1);
  }

  v128Local(): Local {
    this.localTypes.push(ValueType.V128);
    return new Local(this.parameterCount + this.localTypes.length - 1);
  }

  /** A v128 local holding `value` in every lane, set once at function entry. */
  splatConstant(value: number): Local {
    let local = this.constants.get(value);
    if (local === undefined) {
      local = this.v128Local();
      const bits = new Uint8Array(new Float32Array([value]).buffer);
      this.constantInit.push(0x43, ...bits, 0xfd, 0x13, 0x21, ...unsignedLeb(local.index));
      this.constants.set(value, local);
    }
    return local;
  }

  get(local: Local): this {
    this.code.push(0x20, ...unsignedLeb(local.index));
    return this;
  }
  set(local: Local): this {
    this.code.push(0x21, ...unsignedLeb(local.index));
    return this;
  }
  /** local.tee: sets `local` and leaves the value on the stack. */
  tee(local: Local): this {
    this.code.push(0x22, ...unsignedLeb(local.index));
    return this;
  }
  i32(value: number): this {
    this.code.push(0x41, ...signedLeb(value));
    return this;
  }
  add(): this {
    this.code.push(0x6a);
    return this;
  }
  mul(): this {
    this.code.push(0x6c);
    return this;
  }
  sub(): this {
    this.code.push(0x6b);
    return this;
  }
  /** i32 `local = max(a, b)` (signed). */
  max(local: Local, a: Local | number, b: Local | number): this {
    return this.pickSigned(local, a, b, 0x4a); // a > b ? a : b
  }
  /** i32 `local = min(a, b)` (signed). */
  min(local: Local, a: Local | number, b: Local | number): this {
    return this.pickSigned(local, a, b, 0x48); // a < b ? a : b
  }
  /** Pushes an i32 local, or a constant. */
  operand(value: Local | number): this {
    return typeof value === 'number' ? this.i32(value) : this.get(value);
  }
  private pickSigned(local: Local, a: Local | number, b: Local | number, comparison: number): this {
    this.operand(a).operand(b).operand(a).operand(b);
    this.code.push(comparison, 0x1b); // select(a, b, a <cmp> b)
    return this.set(local);
  }
  /** i32.div_u and i32.rem_u of the two pushed values. */
  divU(): this {
    this.code.push(0x6e);
    return this;
  }
  remU(): this {
    this.code.push(0x70);
    return this;
  }
  /** i32.lt_s, i32.ge_s (1 or 0) and i32.and of the two pushed values. */
  lessThan(): this {
    this.code.push(0x48);
    return this;
  }
  atLeast(): this {
    this.code.push(0x4e);
    return this;
  }
  and(): this {
    this.code.push(0x71);
    return this;
  }
  /** select: pushed a, b, condition -> condition ? a : b. */
  select(): this {
    this.code.push(0x1b);
    return this;
  }
  /** memory.copy (bulk memory, in WebAssembly 2.0): pushed destination, source, byte count; memmove semantics. */
  memoryCopy(): this {
    this.code.push(0xfc, 0x0a, 0x00, 0x00);
    return this;
  }

  /** memory.fill: pushed destination, byte value, byte count. */
  memoryFill(): this {
    this.code.push(0xfc, 0x0b, 0x00);
    return this;
  }

  /** A v128 of zeros. */
  v128Zero(): this {
    this.code.push(0xfd, 0x0c, ...new Array<number>(16).fill(0));
    return this;
  }
  /** `local += step` (i32). */
  increment(local: Local, step: Local | number): this {
    return this.get(local).operand(step).add().set(local);
  }
  /** `local = a * b` (i32 locals or constants). */
  product(local: Local, a: Local | number, b: Local | number): this {
    return this.operand(a).operand(b).mul().set(local);
  }

  i32Load(offset = 0): this {
    this.code.push(0x28, 2, ...unsignedLeb(offset));
    return this;
  }
  f32Load(offset = 0): this {
    this.code.push(0x2a, F32_ALIGN, ...unsignedLeb(offset));
    return this;
  }
  f32Store(offset = 0): this {
    this.code.push(0x38, F32_ALIGN, ...unsignedLeb(offset));
    return this;
  }
  v128Load(offset = 0): this {
    this.code.push(0xfd, 0x00, V128_ALIGN, ...unsignedLeb(offset));
    return this;
  }
  v128Store(offset = 0): this {
    this.code.push(0xfd, 0x0b, V128_ALIGN, ...unsignedLeb(offset));
    return this;
  }
  /** v128.load64_splat: one 64-bit value (an f64) into both 64-bit lanes. */
  v128Load64Splat(offset = 0): this {
    this.code.push(0xfd, 0x0a, F64_ALIGN, ...unsignedLeb(offset));
    return this;
  }
  /** v128.load64_zero: 64 bits (two f32) into the low half, zeros above. */
  v128Load64Zero(offset = 0): this {
    this.code.push(0xfd, 0x5d, F64_ALIGN, ...unsignedLeb(offset));
    return this;
  }
  /** v128.store64_lane: stores 64-bit lane `lane` (lane 0: f32 lanes 0 and 1); pushed address, then value. */
  v128Store64Lane(lane: number, offset = 0): this {
    this.code.push(0xfd, 0x5b, F64_ALIGN, ...unsignedLeb(offset), lane);
    return this;
  }
  /** f32x4.demote_f64x2_zero: two f64 -> f32 lanes 0 and 1 (round to nearest even, as Math.fround), zeros above. */
  f32x4DemoteF64x2Zero(): this {
    this.code.push(0xfd, 0x5e);
    return this;
  }
  /** f64x2.promote_low_f32x4: f32 lanes 0 and 1 -> two f64 (exact). */
  f64x2PromoteLowF32x4(): this {
    this.code.push(0xfd, 0x5f);
    return this;
  }
  /** f64x2.sqrt, add, sub, mul, div: IEEE double operations, rounded once each (as JavaScript's). */
  f64x2Sqrt(): this {
    this.code.push(0xfd, 0xef, 0x01);
    return this;
  }
  f64x2Add(): this {
    this.code.push(0xfd, 0xf0, 0x01);
    return this;
  }
  f64x2Sub(): this {
    this.code.push(0xfd, 0xf1, 0x01);
    return this;
  }
  f64x2Mul(): this {
    this.code.push(0xfd, 0xf2, 0x01);
    return this;
  }
  f64x2Div(): this {
    this.code.push(0xfd, 0xf3, 0x01);
    return this;
  }
  f32x4Splat(): this {
    this.code.push(0xfd, 0x13);
    return this;
  }
  f32x4ExtractLane(lane: number): this {
    this.code.push(0xfd, 0x1f, lane);
    return this;
  }
  f32x4ReplaceLane(lane: number): this {
    this.code.push(0xfd, 0x20, lane);
    return this;
  }
  f32x4Add(): this {
    this.code.push(0xfd, 0xe4, 0x01);
    return this;
  }
  f32x4Sub(): this {
    this.code.push(0xfd, 0xe5, 0x01);
    return this;
  }
  f32x4Mul(): this {
    this.code.push(0xfd, 0xe6, 0x01);
    return this;
  }
  /**
   * Relaxed SIMD's f32x4.relaxed_madd (0xfd, LEB128 0x105): pops c, then b,
   * then a (pushed a, b, c in that order) and pushes a * b + c, rounded once
   * (fused) or twice, as the hardware does it: the same on one machine, but
   * it may differ in the last bit between machines.
   */
  f32x4RelaxedMadd(): this {
    this.code.push(0xfd, 0x85, 0x02);
    return this;
  }
  /** Relaxed SIMD's f32x4.relaxed_nmadd (0xfd, LEB128 0x106): a, b, c -> -(a * b) + c, fused or not as relaxed_madd. */
  f32x4RelaxedNmadd(): this {
    this.code.push(0xfd, 0x86, 0x02);
    return this;
  }

  /**
   * `for (counter = start; counter < end; counter += step) body()`, with
   * start, end and step i32 locals or constants; the body runs at least once
   * (callers guarantee start < end).
   */
  loop(counter: Local, start: Local | number, end: Local, step: Local | number, body: () => void): this {
    this.operand(start).set(counter);
    this.code.push(0x03, 0x40); // loop (no result)
    body();
    this.increment(counter, step);
    this.get(counter).get(end).code.push(0x48); // i32.lt_s
    this.code.push(0x0d, 0x00, 0x0b); // br_if 0; end
    return this;
  }

  /**
   * `for (counter = start; counter < end; counter += step) body()`, which
   * may run zero times (`loop` runs its body at least once).
   */
  forRange(counter: Local, start: Local | number, end: Local, step: Local | number, body: () => void): this {
    this.code.push(0x02, 0x40); // block
    this.operand(start).get(end).code.push(0x4e, 0x0d, 0x00); // start >= end: br_if 0 (skip)
    this.loop(counter, start, end, step, body);
    this.code.push(0x0b); // end block
    return this;
  }

  /** The encoded body: local declarations, constant set-up, code, end. */
  encode(): number[] {
    const groups: number[][] = [];
    for (const type of this.localTypes) {
      const last = groups[groups.length - 1];
      if (last !== undefined && last[1] === type) last[0]!++;
      else groups.push([1, type]);
    }
    const body = [
      ...vector(groups.map(([count, type]) => [...unsignedLeb(count!), type!])),
      ...this.constantInit,
      ...this.code,
      0x0b,
    ];
    return [...unsignedLeb(body.length), ...body];
  }
}

export interface ExportedFunction {
  name: string;
  builder: FunctionBuilder;
}

/**
 * A module importing `env.memory` (shared when the host's memory is, as in
 * tfjs's threaded build) and exporting `functions`, all with i32 parameters
 * and no results.
 */
export function assembleModule(functions: readonly ExportedFunction[], sharedMemory: boolean): Uint8Array {
  const arities = [...new Set(functions.map((f) => f.builder.parameterCount))];
  const typeIndex = new Map(arities.map((arity, index) => [arity, index]));
  const types = vector(arities.map((arity) => [0x60, ...vector(Array.from({ length: arity }, () => [ValueType.I32])), 0x00]));
  // Memory limits: min 1 page; a shared memory must state its maximum (4 GiB).
  const limits = sharedMemory ? [0x03, ...unsignedLeb(1), ...unsignedLeb(65536)] : [0x00, ...unsignedLeb(1)];
  const imports = vector([[...name('env'), ...name('memory'), 0x02, ...limits]]);
  const declarations = vector(functions.map((f) => unsignedLeb(typeIndex.get(f.builder.parameterCount)!)));
  const exports = vector(functions.map((f, index) => [...name(f.name), 0x00, ...unsignedLeb(index)]));
  const code = vector(functions.map((f) => f.builder.encode()));
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, types),
    ...section(2, imports),
    ...section(3, declarations),
    ...section(7, exports),
    ...section(10, code),
  ]);
}

/** The WebAssembly global (lib "dom" is not in this project's tsconfig). */
export const webAssembly = (
  globalThis as unknown as {
    WebAssembly: {
      Module: new (bytes: Uint8Array) => object;
      Memory: new (descriptor: { initial: number; maximum?: number; shared?: boolean }) => { buffer: ArrayBufferLike };
      validate(bytes: Uint8Array): boolean;
      Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
    };
  }
).WebAssembly;

/**
 * Assembles `functions` into a module importing `memory` (tfjs's heap;
 * shared when it is, as in the threaded build), instantiates it on that
 * memory and returns its exports.
 */
export function instantiateOnMemory(functions: readonly ExportedFunction[], memory: { buffer: ArrayBufferLike }): Record<string, unknown> {
  const shared = typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer;
  const module = new webAssembly.Module(assembleModule(functions, shared));
  return new webAssembly.Instance(module, { env: { memory } }).exports;
}

/**
 * `build(memory)` once per memory (tfjs's heap; one per process in practice):
 * the modules p2phd generates are compiled when first used and kept.
 */
export function perMemory<T>(build: (memory: { buffer: ArrayBufferLike }) => T): (memory: { buffer: ArrayBufferLike }) => T {
  const built = new WeakMap<object, T>();
  return (memory) => {
    let value = built.get(memory);
    if (value === undefined) {
      value = build(memory);
      built.set(memory, value);
    }
    return value;
  };
}
