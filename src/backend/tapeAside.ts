/**
 * A computation that runs while a gradient tape is recording, but apart
 * from it: its operations are not recorded on that tape, and a
 * differentiation inside it (leanVariableGrads) starts a tape of its own
 * as a top-level pass, so it frees what it saved as it walks back instead
 * of leaving it to the outer tape's end.
 *
 * pix2pix's step needs this: G runs once on the tape that G's gradient is
 * later taken on, and D's whole step (its two passes, its gradients, its
 * update) happens between G's forward pass and G's loss. Nested in G's tape
 * as tf.variableGrads nests it, D's step would record its passes and its
 * backward pass's operations on G's tape, and keep every tensor they saved
 * until G's backward pass begins.
 *
 * Only what the outer tape never differentiates through may run apart (a
 * value computed here is a constant to the outer tape). It reads tfjs-core's
 * engine state, as leanGradients.ts does: tfjs-core is pinned to 4.22.0.
 */
import * as tf from '@tensorflow/tfjs-core';

/** The part of tfjs-core's engine state a tape lives in. */
interface TapeState {
  activeTape: unknown[] | null | undefined;
  gradientDepth: number;
}

function tapeState(): TapeState {
  const state = (tf.engine() as unknown as { state?: Partial<TapeState> }).state;
  if (state === undefined || typeof state.gradientDepth !== 'number' || !('activeTape' in state)) {
    throw new Error('apartFromTape: tfjs-core engine internals changed (state.activeTape/gradientDepth not found)');
  }
  return state as TapeState;
}

/** Runs `fn` with the active gradient tape (if any) set aside; the tape resumes as it was afterwards. */
export function apartFromTape<T>(fn: () => T): T {
  const state = tapeState();
  const { activeTape, gradientDepth } = state;
  state.activeTape = null;
  state.gradientDepth = 0;
  try {
    return fn();
  } finally {
    state.activeTape = activeTape;
    state.gradientDepth = gradientDepth;
  }
}
