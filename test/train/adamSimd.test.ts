/**
 * The wasm SIMD Adam kernel against the JavaScript loop it replaces: two
 * implementations of one arithmetic, compared bit for bit.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { adamSimdAvailable } from '../../src/backend/wasm/adam-simd.js';
import { adamUpdate, adamUpdateJs, createSharedSlots, createSlot, type AdamHyperparameters, type AdamSlot } from '../../src/train/adam.js';
import { Random } from '../../src/model/random.js';

/** A gradient with ordinary values and the awkward ones: zeros, huge (g * g overflows float32), tiny and subnormal. */
function gradient(length: number, random: Random, scale: number): Float32Array {
  const values = new Float32Array(length);
  for (let i = 0; i < length; i++) {
    const kind = random.nextFloat();
    const sign = random.nextFloat() < 0.5 ? -1 : 1;
    if (kind < 0.05) values[i] = 0;
    else if (kind < 0.08) values[i] = sign * 3e20 * (1 + random.nextFloat());
    else if (kind < 0.11) values[i] = sign * 1e-30 * random.nextFloat();
    else if (kind < 0.13) values[i] = sign * 1e-44 * (1 + random.nextFloat());
    else values[i] = sign * scale * random.nextFloat();
  }
  return values;
}

function bits(values: Float32Array): Uint32Array {
  return new Uint32Array(values.slice().buffer);
}

function assertSameBits(actual: Float32Array, expected: Float32Array, what: string): void {
  const a = bits(actual);
  const e = bits(expected);
  assert.equal(a.length, e.length, `${what}: length`);
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== e[i]) assert.fail(`${what}[${i}]: ${actual[i]} (0x${a[i]!.toString(16)}) vs ${expected[i]} (0x${e[i]!.toString(16)})`);
  }
}

const HYPERPARAMETER_SETS: AdamHyperparameters[] = [
  { lr: 0.0002, beta1: 0.5, beta2: 0.999, epsilon: 1e-8 }, // pix2pixHD's
  { lr: 0.001, beta1: 0.9, beta2: 0.999, epsilon: 1e-8 }, // torch's defaults
  { lr: 0.1, beta1: 0, beta2: 0.5, epsilon: 1e-3 },
];

describe('Adam wasm SIMD kernel', () => {
  it('gives the JavaScript loop\'s weights and moments bit for bit (lengths around the 4-lane step and the 16K staging chunk, several slots per memory)', () => {
    assert.ok(adamSimdAvailable(), 'this runtime compiles the kernel (Node has WebAssembly SIMD)');
    const lengths = [1, 2, 3, 4, 5, 7, 9, 16383, 16384, 16385, 40003];
    HYPERPARAMETER_SETS.forEach((hyper, set) => {
      const random = new Random(11 + set);
      const simdSlots = createSharedSlots(lengths);
      const jsSlots: AdamSlot[] = lengths.map((length, index) => {
        const initial = gradient(length, random, 2);
        simdSlots[index]!.weights.set(initial);
        return createSlot(initial.slice());
      });
      for (const slot of simdSlots) assert.ok(slot.memory !== undefined, 'the slot is in wasm memory, so adamUpdate runs the kernel');
      for (let step = 1; step <= 4; step++) {
        lengths.forEach((length, index) => {
          const g = gradient(length, random, step === 3 ? 1e-6 : 0.5);
          adamUpdate(simdSlots[index]!, g, step, hyper);
          adamUpdateJs(jsSlots[index]!, g, step, hyper);
        });
        lengths.forEach((length, index) => {
          for (const array of ['weights', 'm', 'v'] as const) {
            assertSameBits(simdSlots[index]![array], jsSlots[index]![array], `set ${set} step ${step} length ${length} ${array}`);
          }
        });
      }
    });
  });

  it('changes nothing outside the slot it updates', () => {
    const [before, slot, after] = createSharedSlots([5, 7, 3]);
    before!.weights.fill(1);
    after!.weights.fill(2);
    adamUpdate(slot!, new Float32Array(7).fill(1), 1, HYPERPARAMETER_SETS[0]!);
    assert.deepEqual([...before!.weights, ...before!.m, ...before!.v], [...[1, 1, 1, 1, 1], ...new Array<number>(10).fill(0)]);
    assert.deepEqual([...after!.weights, ...after!.m, ...after!.v], [...[2, 2, 2], ...new Array<number>(6).fill(0)]);
    assert.throws(() => adamUpdate(slot!, new Float32Array(6), 2, HYPERPARAMETER_SETS[0]!), RangeError);
  });
});
