/**
 * Gradient sinks: weight gradients handed out as a backward pass produces
 * them, instead of piling up until it ends.
 *
 * Each trained weight enters the forward pass through a sink, an identity
 * whose backward copies the incoming gradient out (to JavaScript memory, or
 * to Adam on the device) and frees it at once. The sinks take a shared
 * scalar anchor as a second input; differentiating with respect to the
 * anchor alone puts every sink on the backward path, so the weights'
 * gradients are produced, moved out, and never accumulate on the heap. A
 * sink's gradient is the sum of its weight's contributions in the order a
 * backward pass adds them: the weight's own gradient, bit for bit.
 */
import * as tf from '@tensorflow/tfjs-core';

/**
 * The parameter map the forward passes read: a trained weight is put behind
 * its gradient sink at its first use, not up front. The backward pass walks
 * the tape in reverse, so a sink recorded just before the layer that uses
 * it receives its gradient right after that layer's backward step; sinks
 * recorded at the start would all fire at the very end, after every weight
 * gradient had piled up on the heap.
 */
export class SinkingParams extends Map<string, tf.Tensor> {
  constructor(
    variables: ReadonlyMap<string, tf.Tensor>,
    private readonly trained: { has(key: string): boolean },
    private readonly anchor: tf.Scalar,
    private readonly receive: (key: string, gradient: tf.Tensor) => void,
  ) {
    super(variables);
  }

  override get(key: string): tf.Tensor | undefined {
    const value = super.get(key);
    if (value === undefined || !this.trained.has(key) || !(value instanceof tf.Variable)) return value;
    const sunk = gradientSink(value, this.anchor, (gradient) => this.receive(key, gradient));
    this.set(key, sunk);
    return sunk;
  }
}

/**
 * `weight` forward; backward, its gradient is handed to `receive` and the
 * tensor freed right after (`receive` copies or consumes it). `anchor` only
 * puts the sink on the backward path; it gets a zero gradient.
 */
export function gradientSink(weight: tf.Tensor, anchor: tf.Scalar, receive: (gradient: tf.Tensor) => void): tf.Tensor {
  const sink = tf.customGrad((...inputs) => {
    const [value] = inputs as [tf.Tensor, tf.Scalar];
    return {
      // A reshape to the same shape shares the data; clone() would copy it
      // on wasm (and XNNPACK would pack the copy again).
      value: tf.reshape(value, value.shape),
      gradFunc: (dy: tf.Tensor) => {
        receive(dy);
        // No later node reads this gradient: free it now, not at the end of the backward pass.
        dy.dispose();
        return [tf.scalar(0), tf.scalar(0)];
      },
    };
  });
  return sink(weight, anchor) as tf.Tensor;
}

/** The anchor sinks hang from: a trainable scalar variable (the caller disposes it). */
export function sinkAnchor(): tf.Variable<tf.Rank.R0> {
  return tf.tidy(() => tf.variable(tf.scalar(0), true));
}
