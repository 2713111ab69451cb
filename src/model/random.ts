/**
 * A small seeded PRNG (xoshiro128**, seeded through splitmix32) for
 * everything in p2phd that must be repeatable for a `--seed`: weight
 * initialisation, data order, augmentation, image-pool draws.
 *
 * Math.random cannot be seeded, and tfjs's own random ops depend on the
 * backend; this generator gives the same numbers everywhere, and its state is
 * four 32-bit words, so a training run can save it and resume bit-exactly.
 */

/** splitmix32: spreads a 32-bit seed over the generator's 128-bit state. */
function splitmix32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
}

/** FNV-1a over the UTF-16 code units of a string: a stable 32-bit label hash. */
export function hashString(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

export type RandomState = [number, number, number, number];

export class Random {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;
  /** Box-Muller yields normals in pairs; the second waits here. */
  private spareNormal: number | null = null;

  constructor(seed: number) {
    if (!Number.isSafeInteger(seed)) throw new RangeError(`Random: seed must be an integer, got ${seed}`);
    // Fold seeds beyond 32 bits in, so that 2^32 + 1 and 1 differ.
    const next = splitmix32((seed >>> 0) ^ Math.floor(seed / 0x100000000));
    this.s0 = next();
    this.s1 = next();
    this.s2 = next();
    this.s3 = next();
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  /**
   * An independent stream named by `label` (e.g. a parameter's key), so that
   * a tensor's initial values depend only on the seed and its own name, not
   * on which other tensors were drawn first.
   */
  static forLabel(seed: number, label: string): Random {
    return new Random(((seed >>> 0) ^ Math.imul(hashString(label), 0x9e3779b1)) >>> 0);
  }

  static fromState(state: readonly number[]): Random {
    if (state.length !== 4 || !state.every((word) => Number.isInteger(word) && word >= 0 && word <= 0xffffffff)) {
      throw new RangeError(`Random: a state is four unsigned 32-bit integers, got ${JSON.stringify(state)}`);
    }
    const random = new Random(0);
    [random.s0, random.s1, random.s2, random.s3] = state as RandomState;
    return random;
  }

  /** The full state (the pending Box-Muller spare is dropped on purpose: state() is taken between draws of whole tensors). */
  state(): RandomState {
    return [this.s0 >>> 0, this.s1 >>> 0, this.s2 >>> 0, this.s3 >>> 0];
  }

  /** A uniform unsigned 32-bit integer. */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform in [0, 1) with 53 random bits. */
  nextFloat(): number {
    const high = this.nextUint32() >>> 5;
    const low = this.nextUint32() >>> 6;
    return (high * 67108864 + low) / 9007199254740992;
  }

  /** Uniform in [low, high). */
  uniform(low: number, high: number): number {
    return low + (high - low) * this.nextFloat();
  }

  /** Uniform integer in [0, n). */
  nextInt(n: number): number {
    if (!Number.isSafeInteger(n) || n <= 0) throw new RangeError(`Random.nextInt: n must be a positive integer, got ${n}`);
    return Math.floor(this.nextFloat() * n);
  }

  /** A normal sample (Box-Muller). */
  normal(mean = 0, std = 1): number {
    if (this.spareNormal !== null) {
      const spare = this.spareNormal;
      this.spareNormal = null;
      return mean + std * spare;
    }
    // 1 - u keeps the logarithm's argument in (0, 1].
    const radius = Math.sqrt(-2 * Math.log(1 - this.nextFloat()));
    const angle = 2 * Math.PI * this.nextFloat();
    this.spareNormal = radius * Math.sin(angle);
    return mean + std * radius * Math.cos(angle);
  }

  /**
   * Fills `out` with N(mean, std) samples. This initialises up to ~180M
   * weights, so it is the hot loop: the generator is inlined on local
   * variables and normals come in pairs from Marsaglia's polar method
   * (no trigonometry) on 32-bit uniforms, which float32 weights cannot tell
   * from finer ones.
   */
  fillNormal(out: Float32Array, mean: number, std: number): Float32Array {
    let s0 = this.s0 | 0;
    let s1 = this.s1 | 0;
    let s2 = this.s2 | 0;
    let s3 = this.s3 | 0;
    const next = (): number => {
      const result = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
      const t = s1 << 9;
      s2 ^= s0;
      s3 ^= s1;
      s1 ^= s2;
      s0 ^= s3;
      s2 ^= t;
      s3 = (s3 << 11) | (s3 >>> 21);
      return result;
    };
    const scale = 2 / 4294967296;
    let i = 0;
    while (i < out.length) {
      const u = next() * scale - 1;
      const v = next() * scale - 1;
      const r = u * u + v * v;
      if (r >= 1 || r === 0) continue;
      const factor = std * Math.sqrt((-2 * Math.log(r)) / r);
      out[i++] = mean + u * factor;
      if (i < out.length) out[i++] = mean + v * factor;
    }
    this.s0 = s0;
    this.s1 = s1;
    this.s2 = s2;
    this.s3 = s3;
    return out;
  }

  /** Fills `out` with U[low, high) samples. */
  fillUniform(out: Float32Array, low: number, high: number): Float32Array {
    for (let i = 0; i < out.length; i++) out[i] = this.uniform(low, high);
    return out;
  }

  /** Fisher-Yates shuffle in place. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.nextInt(i + 1);
      [items[i], items[j]] = [items[j]!, items[i]!];
    }
    return items;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
