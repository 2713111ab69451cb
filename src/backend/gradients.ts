/**
 * Registers tfjs's gradient functions.
 *
 * @tensorflow/tfjs-core's CommonJS bundle (what Node loads) contains the ops
 * and the tape but registers no gradient: the gradients are registered by
 * `@tensorflow/tfjs-core/dist/register_all_gradients`, an ES module tree that
 * only the @tensorflow/tfjs union bundle pulls in. Without it every tf.grad
 * fails with "gradient function not found". We load that module tree directly
 * with a resolution hook for its extension-less imports. Its functions land in
 * tfjs's process-global gradient registry and run on the global engine, so
 * they serve the CommonJS copy every other module uses. (Relies on tfjs-core's
 * file layout: the version is pinned to 4.22.0 exactly.)
 */
import { register } from 'node:module';
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';

let loading: Promise<void> | undefined;

/** Loads and registers every tfjs gradient once (about half a second). */
export function registerAllGradients(): Promise<void> {
  loading ??= (async () => {
    if (tf.getGradient(tf.Add) != null) return; // someone (e.g. @tensorflow/tfjs) already did it
    register(pathToFileURL(require.resolve('./esm-extension-hooks')).href);
    const entry = require.resolve('@tensorflow/tfjs-core/dist/register_all_gradients.js');
    await import(pathToFileURL(entry).href);
    if (tf.getGradient(tf.Add) == null) {
      throw new Error('registerAllGradients: tfjs gradients did not register (tfjs-core layout changed?)');
    }
  })();
  return loading;
}
