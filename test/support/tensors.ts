/** tfjs tensor bookkeeping shared by the backend and model tests. */
import * as tf from '@tensorflow/tfjs-core';

/** The live tensor count after `run`, minus before: 0 when nothing leaked. */
export function leakedTensors(run: () => void): number {
  const before = tf.memory().numTensors;
  run();
  return tf.memory().numTensors - before;
}
