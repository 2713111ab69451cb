/**
 * `p2phd export --format onnx`: a network of a checkpoint as an ONNX graph.
 * A placeholder until the ONNX writer lands (issue 13, deliverable 5).
 */
import { UsageError } from '../errors.js';

export async function exportOnnx(options: { checkpoint: string; out: string; network: 'G' | 'E' }): Promise<void> {
  throw new UsageError(`export --format onnx (network ${options.network} of ${options.checkpoint}): not built yet`);
}
