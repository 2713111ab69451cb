/**
 * The training stages: `p2phd train <stage>` and a checkpoint's `stage`,
 * with the CLI's description of each. Loads no tfjs, so `--help` reads it
 * for free.
 */
export const STAGES = Object.freeze({
  global: 'train the global generator G1 (+ D, + E)',
  local: 'train a local enhancer on top of a trained G1 (G1 frozen; needs --init)',
  joint: 'fine-tune all generator stages (+ D, + E) together',
} as const);
export type Stage = keyof typeof STAGES;

export function isStage(value: unknown): value is Stage {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(STAGES, value);
}
