/**
 * Relaxed SIMD's multiply-adds in p2phd's generated wasm kernels: the
 * instructions' operand order (hand-computed values), the runtime detection,
 * P2PHD_WASM_FMA=0, and which instructions the Winograd modules contain in
 * each mode. That the FMA kernels compute the right convolutions is
 * winograd.test.ts's (both modes against float64 references).
 */
import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { UsageError } from '../../src/errors';
import { generatedKernelFma, relaxedSimdAvailable, setGeneratedKernelFma } from '../../src/backend/wasm/relaxed-simd';
import { assembleModule, FunctionBuilder, instantiateOnMemory, webAssembly } from '../../src/backend/wasm/wasm-assembler';
import { WINOGRAD_F3X3_4X4, WINOGRAD_F4X4_3X3, winogradSimdFunctions, winogradSimdKernels } from '../../src/backend/wasm/winograd-simd';

const RELAXED_MADD = [0xfd, 0x85, 0x02];
const RELAXED_NMADD = [0xfd, 0x86, 0x02];

function occurrences(bytes: Uint8Array, pattern: readonly number[]): number {
  let count = 0;
  for (let i = 0; i + pattern.length <= bytes.length; i++) {
    if (pattern.every((byte, k) => bytes[i + k] === byte)) count++;
  }
  return count;
}

/** A fresh wasm memory of one page (not tfjs's: these kernels only need some memory). */
function newMemory(): { buffer: ArrayBuffer } {
  const Memory = (globalThis as unknown as { WebAssembly: { Memory: new (descriptor: { initial: number }) => { buffer: ArrayBuffer } } }).WebAssembly.Memory;
  return new Memory({ initial: 1 });
}

const savedFmaVariable = process.env['P2PHD_WASM_FMA'];

function restoreFmaVariable(): void {
  if (savedFmaVariable === undefined) delete process.env['P2PHD_WASM_FMA'];
  else process.env['P2PHD_WASM_FMA'] = savedFmaVariable;
}

describe('wasm relaxed SIMD (FMA) in the generated kernels', () => {
  afterEach(() => {
    restoreFmaVariable();
    setGeneratedKernelFma(null);
  });

  it('is found on Node 20+ (by V8 flag on 20, by default from 22), and exactly when a relaxed_madd module compiles', () => {
    const available = relaxedSimdAvailable();
    const major = Number(process.versions.node.split('.')[0]);
    if (major >= 20) assert.equal(available, true, `Node ${process.versions.node}`);
    const f = new FunctionBuilder(0);
    const scratch = f.v128Local();
    f.get(scratch).get(scratch).get(scratch).f32x4RelaxedMadd().set(scratch);
    const module = assembleModule([{ name: 'madd', builder: f }], false);
    assert.equal(webAssembly.validate(module), available);
  });

  it('relaxed_madd(a, b, c) = a * b + c and relaxed_nmadd(a, b, c) = c - a * b, lane by lane', { skip: !relaxedSimdAvailable() && 'no relaxed SIMD here' }, () => {
    // madd(address): a, b, c at address, +16, +32; results at +48 (madd) and +64 (nmadd).
    const f = new FunctionBuilder(1);
    const address = f.param(0);
    const pushOperands = (): void => void f.get(address).v128Load().get(address).v128Load(16).get(address).v128Load(32);
    f.get(address);
    pushOperands();
    f.f32x4RelaxedMadd().v128Store(48);
    f.get(address);
    pushOperands();
    f.f32x4RelaxedNmadd().v128Store(64);
    const memory = newMemory();
    const run = instantiateOnMemory([{ name: 'run', builder: f }], memory)['run'] as (address: number) => void;
    const values = new Float32Array(memory.buffer, 0, 20);
    values.set([2, -1, 0.5, 3], 0); // a
    values.set([3, 4, 8, -2], 4); // b
    values.set([5, 1, -4, 0.25], 8); // c
    run(0);
    assert.deepEqual([...values.subarray(12, 16)], [11, -3, 0, -5.75]);
    assert.deepEqual([...values.subarray(16, 20)], [-1, 5, -8, 6.25]);
  });

  it('P2PHD_WASM_FMA=0 turns it off, 1 or unset leaves it to the runtime, anything else is a usage error', () => {
    process.env['P2PHD_WASM_FMA'] = '0';
    assert.equal(generatedKernelFma(), false);
    process.env['P2PHD_WASM_FMA'] = '1';
    assert.equal(generatedKernelFma(), relaxedSimdAvailable());
    delete process.env['P2PHD_WASM_FMA'];
    assert.equal(generatedKernelFma(), relaxedSimdAvailable());
    process.env['P2PHD_WASM_FMA'] = 'yes';
    assert.throws(() => generatedKernelFma(), (error: unknown) => error instanceof UsageError && /^P2PHD_WASM_FMA=yes: /.test(error.message));
    // setGeneratedKernelFma overrides the variable until handed back with null.
    process.env['P2PHD_WASM_FMA'] = '0';
    if (relaxedSimdAvailable()) {
      assert.equal(setGeneratedKernelFma(true), null);
      assert.equal(generatedKernelFma(), true);
    }
    setGeneratedKernelFma(null);
    assert.equal(generatedKernelFma(), false);
  });

  it('the Winograd modules use no relaxed instruction without FMA, and fuse most multiplies with it', () => {
    for (const variant of [WINOGRAD_F4X4_3X3, WINOGRAD_F3X3_4X4]) {
      const plain = assembleModule(winogradSimdFunctions(variant, false), false);
      assert.equal(occurrences(plain, RELAXED_MADD) + occurrences(plain, RELAXED_NMADD), 0, `${variant.name} without FMA`);
      const fused = assembleModule(winogradSimdFunctions(variant, true), false);
      const multiplies = (bytes: Uint8Array): number => occurrences(bytes, [0xfd, 0xe6, 0x01]);
      assert.ok(occurrences(fused, RELAXED_MADD) > 0 && occurrences(fused, RELAXED_NMADD) > 0, `${variant.name} with FMA`);
      assert.ok(multiplies(fused) < multiplies(plain) / 4, `${variant.name}: ${multiplies(fused)} multiplies left of ${multiplies(plain)}`);
    }
  });

  it('the Winograd kernels are built, and kept, per mode', { skip: !relaxedSimdAvailable() && 'no relaxed SIMD here' }, () => {
    const memory = newMemory();
    setGeneratedKernelFma(false);
    const plain = winogradSimdKernels(memory, WINOGRAD_F4X4_3X3);
    setGeneratedKernelFma(true);
    const fused = winogradSimdKernels(memory, WINOGRAD_F4X4_3X3);
    assert.notEqual(fused, plain);
    assert.equal(winogradSimdKernels(memory, WINOGRAD_F4X4_3X3), fused);
    setGeneratedKernelFma(false);
    assert.equal(winogradSimdKernels(memory, WINOGRAD_F4X4_3X3), plain);
  });
});
