/**
 * The webgpu backend's own guards, on any adapter (lavapipe in CI): AddN
 * past the storage-buffer limit, the up-front tensor-size refusal, and
 * Dawn's errors surfacing as one-line failures instead of wrong numbers;
 * and p2phd's tiled kernels, called directly, against the cpu backend.
 */
import { before, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { checkWebgpuErrors, initBackend } from '../../src/backend/index.js';
import { Random } from '../../src/model/random.js';
import { tiledConv2DBackpropFilter } from '../../src/backend/webgpu/conv2d-backprop-filter.js';
import { tiledConv2DBackpropInput } from '../../src/backend/webgpu/conv2d-backprop-input.js';
import { P2phdError } from '../../src/errors.js';
import { resolveConfig, generatorInputChannels } from '../../src/families/pix2pixhd/config.js';
import { modelSpecs } from '../../src/families/pix2pixhd/networks.js';
import { disposeParams, initParams } from '../../src/model/params.js';
import { runGenerator } from '../../src/synthesis/networks.js';
import { onWebgpu, setUpWebgpu } from '../support/webgpu.js';

onWebgpu('webgpu backend guards', (setUp) => {
  before(setUp);

  it('tf.addN of 20 tensors (past the storage buffers per shader) sums every term', async () => {
    const terms = Array.from({ length: 20 }, (_, i) => tf.fill([5], i + 1));
    const sum = tf.addN(terms);
    assert.deepEqual(Array.from(await sum.data()), [210, 210, 210, 210, 210]);
    tf.dispose([...terms, sum]);
  });

  it('the tiled Conv2DBackpropFilter matches the cpu backend (strides, padding, one and many slices)', async () => {
    const cases = [
      { x: [2, 19, 23, 5], filter: [7, 7, 5, 7], strides: 1, pad: 3 },
      { x: [1, 16, 20, 17], filter: [4, 4, 17, 33], strides: 2, pad: 2 },
      { x: [1, 9, 11, 3], filter: [3, 3, 3, 4], strides: 2, pad: 1 },
      { x: [2, 40, 64, 3], filter: [3, 3, 3, 18], strides: 1, pad: 1 }, // 5120 pixels: three slices
    ] as const;
    const tiledKernel = tiledConv2DBackpropFilter(tf.getKernel(tf.Conv2DBackpropFilter, 'webgpu')!.kernelFunc as never);
    for (const c of cases) {
      const random = new Random(c.filter[3]);
      const [n, h, w, ci] = c.x;
      const [kh, kw, , co] = c.filter;
      const outH = Math.floor((h + 2 * c.pad - kh) / c.strides) + 1;
      const outW = Math.floor((w + 2 * c.pad - kw) / c.strides) + 1;
      const xValues = random.fillNormal(new Float32Array(n * h * w * ci), 0, 1);
      const dyValues = random.fillNormal(new Float32Array(n * outH * outW * co), 0, 1);
      await assertTiledKernelMatchesCpu(
        JSON.stringify(c),
        tf.Conv2DBackpropFilter,
        tiledKernel,
        () => ({ x: tf.tensor4d(xValues, [n, h, w, ci]), dy: tf.tensor4d(dyValues, [n, outH, outW, co]) }),
        { strides: c.strides, pad: c.pad, dataFormat: 'NHWC', filterShape: [...c.filter] },
        [...c.filter],
      );
    }
  });

  it('the tiled Conv2DBackpropInput matches the cpu backend (the generator\'s upsampling, strides, padding, odd sizes and channels, batch 2)', async () => {
    // dx: the input gradient's (the transposed conv's output) shape; filter [kh, kw, dx channels, dy channels].
    const cases = [
      // G's upsampling, ConvTranspose2d(3, stride 2, pad 1, output_padding 1): 5x7 -> 10x14, as ops.conv2dTranspose asks for it.
      { dx: [2, 10, 14, 5], filter: [3, 3, 5, 19], strides: 2, pad: [[0, 0], [1, 1], [1, 1], [0, 0]] },
      // The same without output padding (odd output), and with channels past one 64-channel block.
      { dx: [1, 9, 13, 70], filter: [3, 3, 70, 17], strides: 2, pad: [[0, 0], [1, 1], [1, 1], [0, 0]] },
      { dx: [2, 11, 9, 7], filter: [3, 3, 7, 13], strides: 1, pad: 1 },
      { dx: [1, 13, 10, 3], filter: [7, 7, 3, 18], strides: 1, pad: 3 },
      { dx: [1, 12, 15, 6], filter: [4, 4, 6, 5], strides: 2, pad: 2 },
      { dx: [1, 8, 8, 4], filter: [1, 1, 4, 3], strides: 2, pad: 'valid' }, // taps of one phase only: the others are zero
      // Pixel tiles folded into z (as past a million pixels per phase), by a lowered dispatch limit.
      { dx: [2, 21, 19, 3], filter: [3, 3, 3, 4], strides: 2, pad: [[0, 0], [1, 1], [1, 1], [0, 0]], maxWorkgroups: 3 },
    ] as const;
    const originalKernel = tf.getKernel(tf.Conv2DBackpropInput, 'webgpu')!.kernelFunc as never;
    for (const c of cases) {
      const tiledKernel = tiledConv2DBackpropInput(originalKernel, 'maxWorkgroups' in c ? c.maxWorkgroups : undefined);
      const random = new Random(c.filter[3] + 100);
      const [n, h, w] = c.dx;
      const [kh, kw, , co] = c.filter;
      const [padH, padW] = c.pad === 'valid' ? [0, 0] : typeof c.pad === 'number' ? [c.pad, c.pad] : [c.pad[1][0], c.pad[2][0]];
      const outH = Math.floor((h + 2 * padH - kh) / c.strides) + 1;
      const outW = Math.floor((w + 2 * padW - kw) / c.strides) + 1;
      const dyValues = random.fillNormal(new Float32Array(n * outH * outW * co), 0, 1);
      const filterValues = random.fillNormal(new Float32Array(kh * kw * c.filter[2] * co), 0, 1);
      await assertTiledKernelMatchesCpu(
        JSON.stringify(c),
        tf.Conv2DBackpropInput,
        tiledKernel,
        () => ({ dy: tf.tensor4d(dyValues, [n, outH, outW, co]), filter: tf.tensor4d(filterValues, [...c.filter]) }),
        { strides: c.strides, pad: c.pad as never, dataFormat: 'NHWC', inputShape: [...c.dx] },
        [...c.dx],
      );
    }
  });

  it('refuses, before computing, a generator whose largest tensor exceeds the device limit (exit 3)', async () => {
    const config = resolveConfig({ label_nc: 3, ngf: 64, n_downsample_global: 1, n_blocks_global: 1 });
    const params = initParams(modelSpecs(config, ['G']), 1);
    const [height, width] = [1024, 2048];
    try {
      const limit = (tf.backend() as unknown as { device: { limits: { maxStorageBufferBindingSize: number } } }).device.limits.maxStorageBufferBindingSize;
      // The first conv's output: 64 channels at the padded size.
      if (4 * 64 * height * width <= limit) return; // a device this large cannot be made to refuse at a test-sized input
      await assert.rejects(runGenerator(config, params, new Float32Array(height * width * generatorInputChannels(config)), height, width), (error: unknown) => {
        assert.ok(error instanceof P2phdError && error.exitCode === 3, String(error));
        assert.match(error.message, /the generator at 2048x1024 needs a \d+ MiB tensor, above this device's limit/);
        return true;
      });
    } finally {
      disposeParams(params);
    }
  });

  it('a tensor past the binding limit fails loudly (exit 3), not with silent wrong numbers', async () => {
    const limit = (tf.backend() as unknown as { device: { limits: { maxStorageBufferBindingSize: number } } }).device.limits.maxStorageBufferBindingSize;
    if (limit > 2 ** 30) return; // too large to provoke in a test
    const big = tf.fill([limit / 4 + 1024], 1);
    const sum = tf.add(big, 1);
    await sum.data().catch(() => undefined);
    await assert.rejects(checkWebgpuErrors(), (error: unknown) => error instanceof P2phdError && error.exitCode === 3);
    await checkWebgpuErrors(); // raised once
    tf.dispose([big, sum]);
  });
});

/**
 * Runs p2phd's `tiledKernel` itself on webgpu (it is registered on hardware
 * adapters only) and tfjs's `kernelName` on cpu, on the same inputs, and
 * asserts that they agree within 1e-5 of the largest value.
 */
async function assertTiledKernelMatchesCpu(
  label: string,
  kernelName: string,
  tiledKernel: (args: { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend; attrs?: tf.NamedAttrMap }) => unknown,
  makeInputs: () => tf.NamedTensorMap,
  attrs: tf.NamedAttrMap,
  shape: number[],
): Promise<void> {
  const compute = async (): Promise<Float32Array> => {
    const inputs = makeInputs();
    const output =
      tf.getBackend() === 'webgpu'
        ? tf.engine().makeTensorFromTensorInfo(tiledKernel({ inputs, backend: tf.backend(), attrs }) as tf.TensorInfo)
        : (tf.engine().runKernel(kernelName, inputs, attrs) as tf.Tensor);
    const values = (await output.data()) as Float32Array;
    assert.deepEqual(output.shape, shape, label);
    tf.dispose([...Object.values(inputs), output]);
    return values;
  };
  const ours = await compute();
  await initBackend('cpu', { log: () => {} });
  const expected = await compute();
  await setUpWebgpu();
  let worst = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    worst = Math.max(worst, Math.abs(ours[i]! - expected[i]!));
    scale = Math.max(scale, Math.abs(expected[i]!));
  }
  assert.ok(scale > 0, `${label}: the expected values are all zero`);
  assert.ok(worst <= 1e-5 * scale, `${label}: worst difference ${worst} (largest value ${scale})`);
}
