/**
 * `p2phd export CKPT --format onnx [--network E] --out FILE` as a user runs
 * it. The command itself is registered by the PyTorch-export work (issue 13,
 * deliverable 4); until both are merged, this file skips with a line saying so.
 * The written file must decode to a graph whose run in ONNX Runtime is the
 * tfjs path's output.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createGraphSession, initBackend, onnxRuntimeAvailable } from '../../src/backend/index.js';
import { readCheckpoint } from '../../src/families/checkpoint.js';
import { decodeOnnxModel } from '../../src/data/formats/onnx.js';
import { generatorInputChannels, resolveConfig } from '../../src/families/pix2pixhd/config.js';
import { loadInferenceNetworks } from '../../src/synthesis/inferenceNetworks.js';
import { chwToHwc, hwcToChw } from '../../src/synthesis/onnxNetworks.js';
import { runCliSync } from '../support/cli.js';
import { temporaryFolder, writeRandomCheckpoint } from './helpers.js';

// (An unknown command prints the top-level help and exits 0, so look for the command in it.)
const exportRegistered = /^\s+export\b/m.test(runCliSync(['--help']).stdout);
const SKIP = !exportRegistered ? 'skipped: p2phd export is not registered in this build' : false;
if (SKIP) process.stdout.write(`# ${SKIP}\n`);

describe('p2phd export --format onnx', { skip: SKIP }, () => {
  const folder = temporaryFolder('export-onnx-cli');
  const config = resolveConfig({ label_nc: 5, instance: true, instance_feat: true, feat_num: 2, ngf: 4, n_downsample_global: 2, n_blocks_global: 1, nef: 4, n_downsample_E: 2 });
  const checkpoint = join(folder.path, 'ge.safetensors');

  before(async () => {
    await initBackend('wasm', { log: () => {} });
    await writeRandomCheckpoint(checkpoint, config, 31, ['G', 'E']);
  });
  after(() => folder.remove());

  it('writes G and E as ONNX files with dynamic H and W', () => {
    for (const network of ['G', 'E']) {
      const out = join(folder.path, `${network}.onnx`);
      const result = runCliSync(['export', checkpoint, '--format', 'onnx', ...(network === 'E' ? ['--network', 'E'] : []), '--out', out]);
      assert.equal(result.status, 0, result.stderr);
      const model = decodeOnnxModel(readFileSync(out));
      const dims = model.graph.input[0]!.type.tensor_type.shape.dim!.map((d) => d.dim_value ?? d.dim_param);
      assert.deepEqual(dims, ['batch', network === 'G' ? generatorInputChannels(config) : 3, 'height', 'width']);
    }
  });

  it('the written G runs in ONNX Runtime to the tfjs path\'s output', { skip: onnxRuntimeAvailable() ? false : 'skipped: onnxruntime-node not installed' }, async () => {
    const out = join(folder.path, 'G.onnx');
    if (runCliSync(['export', checkpoint, '--format', 'onnx', '--out', out]).status !== 0) assert.fail('export failed');
    const [height, width] = [12, 20];
    const channels = generatorInputChannels(config);
    const input = Float32Array.from({ length: height * width * channels }, (_, i) => ((i * 7919) % 13) / 13 - 0.5);
    const session = await createGraphSession(readFileSync(out));
    const networks = await loadInferenceNetworks(await readCheckpoint(checkpoint), ['G'], 'tfjs');
    try {
      const output = await session.run({ data: hwcToChw(input, height, width, channels), dims: [1, channels, height, width] });
      const ours = chwToHwc(output.data, height, width, config.output_nc);
      const expected = await networks.generate(input, height, width);
      let difference = 0;
      let norm = 0;
      for (let i = 0; i < ours.length; i++) {
        difference += (ours[i]! - expected[i]!) ** 2;
        norm += expected[i]! ** 2;
      }
      assert.ok(Math.sqrt(difference / norm) <= 1e-5, `relative L2 ${Math.sqrt(difference / norm)}`);
    } finally {
      await session.release();
      await networks.dispose();
    }
  });
});
