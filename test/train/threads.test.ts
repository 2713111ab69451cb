/**
 * `p2phd train` on two wasm threads (P2PHD_WASM_THREADS=2) gives the same
 * weights, moments and losses, bit for bit, as on one thread (so the
 * default, one thread per core, repeats a run anywhere), both where the
 * products run on ONNX Runtime's MLAS (the default where onnxruntime-node
 * loads) and on XNNPACK's threaded build (P2PHD_NATIVE_GEMM=0): both split
 * each product's output between threads, never a sum, and p2phd's own
 * kernels run on the calling thread either way.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fileContents, useFixtureSamples, logLines, runCli } from './cli.js';
import { onnxRuntimeAvailable } from '../../src/backend/onnxruntime/index';

const MODES = [
  { name: 'GEMMs on MLAS', folder: 'mlas', env: {}, skip: onnxRuntimeAvailable() ? false : 'skipped: onnxruntime-node is not installed (optional dependency)', line: /GEMMs on onnxruntime-node/ },
  { name: 'XNNPACK (P2PHD_NATIVE_GEMM=0)', folder: 'xnnpack', env: { P2PHD_NATIVE_GEMM: '0' }, skip: false, line: /tfjs-backend-wasm [\d.]+ SIMD(?! threaded), p2phd kernels/ },
] as const;

describe('train: wasm threads', () => {
  const fixture = useFixtureSamples();

  for (const mode of MODES) it(`${mode.name}: one thread and two give the same checkpoint and losses`, { skip: mode.skip }, async () => {
    // ngf 16 with one downsampling: the residual conv has 32 channels at
    // 32x16 pixels, so the Winograd path runs too (besides per-tap matmuls,
    // the 0/1-input conv and XNNPACK's own convs).
    const train = (out: string, threads: string): Promise<Awaited<ReturnType<typeof runCli>>> =>
      runCli(
        ['train', 'global', '--data', fixture.samples, '--out', out, '--backend', 'wasm', '--ngf', '16', '--n-downsample-global', '1', '--n-blocks-global', '1',
          '--ndf', '8', '--n-layers-d', '2', '--seed', '3', '--max-steps', '2', '--sample-every', '100'],
        { env: { P2PHD_WASM_THREADS: threads, ...mode.env } },
      );
    const root = join(fixture.root, mode.folder);
    const single = await train(join(root, 'single'), '1');
    assert.equal(single.status, 0, single.stderr);
    assert.match(single.stderr, /backend: wasm \(SIMD, 1 thread;/);
    assert.match(single.stderr, mode.line);
    const threaded = await train(join(root, 'threaded'), '2');
    assert.equal(threaded.status, 0, threaded.stderr);
    assert.match(threaded.stderr, /backend: wasm \(SIMD, 2 threads;/);

    for (const name of ['latest.safetensors', 'latest.optim.safetensors']) {
      const [two, one] = await Promise.all([fileContents(join(root, 'threaded', name)), fileContents(join(root, 'single', name))]);
      assert.deepEqual([...two.tensors.keys()], [...one.tensors.keys()]);
      for (const [key, bytes] of one.tensors) assert.ok(bytes.equals(two.tensors.get(key)!), `${name} ${key}: same bytes on one thread and on two`);
    }
    const losses = (lines: Array<Record<string, number>>): unknown[] => lines.map(({ seconds: _seconds, ...rest }) => rest);
    assert.deepEqual(losses(await logLines(join(root, 'threaded', 'log.jsonl'))), losses(await logLines(join(root, 'single', 'log.jsonl'))));
  });
});
