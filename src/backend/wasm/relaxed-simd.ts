/**
 * Whether p2phd's generated wasm kernels use relaxed SIMD's fused
 * multiply-add (f32x4.relaxed_madd / relaxed_nmadd).
 *
 * Node 22+ (V8 12.x) compiles relaxed SIMD by default. Node 20 (V8 11.3)
 * has it behind `--experimental-wasm-relaxed-simd`, and V8 reads that flag
 * when a module is validated or compiled, so setting it at run time (before
 * our first module) is enough: no command-line flag is needed. The flag
 * changes nothing else: tfjs's own binary uses no relaxed instructions.
 *
 * relaxed_madd is a * b + c rounded once where the CPU has FMA (x86-64 with
 * FMA3, ARM64) and rounded twice where it has not, so results may differ in
 * the last bit between machines, though never between runs on one machine.
 * That is why it is an explicit choice, reported in the backend line, and
 * P2PHD_WASM_FMA=0 turns it off (the plain SIMD kernels, as before FMA).
 */
import { setFlagsFromString } from 'node:v8';
import { UsageError } from '../../errors';
import { assembleModule, FunctionBuilder, webAssembly } from './wasm-assembler';

/** A one-function module that uses both instructions on vectors at address 0 of its memory. */
function probeModule(): Uint8Array {
  const f = new FunctionBuilder(1);
  const [address] = f.params();
  f.get(address!);
  f.get(address!).v128Load().get(address!).v128Load(16).get(address!).v128Load(32).f32x4RelaxedMadd();
  f.get(address!).v128Load(16).get(address!).v128Load(32).f32x4RelaxedNmadd();
  f.v128Store();
  return assembleModule([{ name: 'probe', builder: f }], false);
}

let available: boolean | undefined;

/**
 * Whether this runtime compiles relaxed_madd and relaxed_nmadd, turning on
 * V8's experimental flag where that is what it takes (Node 20); found out
 * once per process.
 */
export function relaxedSimdAvailable(): boolean {
  if (available === undefined) {
    const probe = probeModule();
    available = webAssembly.validate(probe);
    if (!available) {
      try {
        setFlagsFromString('--experimental-wasm-relaxed-simd');
        available = webAssembly.validate(probe);
      } catch {
        available = false; // a runtime without V8's flags (not Node): plain SIMD
      }
    }
  }
  return available;
}

/** P2PHD_WASM_FMA: '0' turns FMA off; '1' or unset uses it where the runtime has it. */
function fmaAllowed(): boolean {
  const raw = process.env['P2PHD_WASM_FMA'];
  if (raw == null || raw === '' || raw === '1') return true;
  if (raw === '0') return false;
  throw new UsageError(`P2PHD_WASM_FMA=${raw}: expected 0 (no FMA in p2phd's wasm kernels) or 1 (FMA where the runtime has it)`);
}

let override: boolean | null = null;

/**
 * Whether kernels generated now use FMA: the setting of
 * `setGeneratedKernelFma` if any, else yes unless P2PHD_WASM_FMA=0, where
 * the runtime has relaxed SIMD. Kernel caches key on it.
 */
export function generatedKernelFma(): boolean {
  if (override !== null) return override;
  return fmaAllowed() && relaxedSimdAvailable();
}

/**
 * Sets the mode kernels are generated in from now on (tests and benchmarks
 * compare both), or with null hands it back to P2PHD_WASM_FMA and the
 * runtime; returns the previous setting. FMA where the runtime lacks relaxed
 * SIMD is an error.
 */
export function setGeneratedKernelFma(enabled: boolean | null): boolean | null {
  if (enabled === true && !relaxedSimdAvailable()) throw new Error('setGeneratedKernelFma: this runtime has no wasm relaxed SIMD');
  const previous = override;
  override = enabled;
  return previous;
}
