/**
 * pix2pix at test time: G on one image of any size, in one of three modes,
 * named for what the reference's users ask about (its test.py never calls
 * eval() unless --eval is given, so by default its outputs come from batch
 * statistics and keep dropout on: random, and different from run to run).
 *
 * - `reference` (default): batch statistics, dropout on with masks drawn from
 *   p2phd's generator seeded by --seed: the reference's behaviour, repeatable.
 * - `eval`: running statistics, no dropout (the reference's --eval).
 * - `no-dropout`: batch statistics, no dropout: deterministic, and the
 *   closest to how G behaved when training.
 *
 * The image-size handling (pad to G's multiple, crop back) is
 * synthesis/pix2pix.ts's.
 */
import type { ForwardOptions } from '../../model/layers.js';
import { Random } from '../../model/random.js';
import { SeededDropout } from './dropout.js';

export const PIX2PIX_TEST_MODES = Object.freeze({
  reference: 'batch statistics, dropout on (seeded by --seed): what the reference\'s test.py does by default',
  eval: 'running statistics, no dropout: the reference\'s test.py --eval',
  'no-dropout': 'batch statistics, no dropout: deterministic',
} as const);
export type Pix2pixTestMode = keyof typeof PIX2PIX_TEST_MODES;

/** The forward options of a test mode; `random` seeds dropout in the reference mode. */
export function testModeOptions(mode: Pix2pixTestMode, random: Random): ForwardOptions {
  switch (mode) {
    case 'reference':
      return { training: false, batchNormStatistics: 'batch', dropout: new SeededDropout(random) };
    case 'eval':
      return { training: false, batchNormStatistics: 'running' };
    case 'no-dropout':
      return { training: false, batchNormStatistics: 'batch' };
  }
}

/** The generator stream of an input: one per (seed, input index), so outputs do not depend on what ran before. */
export function testRandom(seed: number, index: number): Random {
  return Random.forLabel(seed, `pix2pix-dropout/input-${index}`);
}
