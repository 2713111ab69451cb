/**
 * ONNX export and the onnxruntime engine:
 * - the written protobuf, decoded with protobufjs against the schema, holds
 *   standard operators only, opset >= 13, dynamic H and W, and the
 *   checkpoint's weights bit for bit under their checkpoint names;
 * - ONNX Runtime on the exported graphs gives what the tfjs path gives (a
 *   small G1, a small local enhancer, E; sizes that need padding);
 * - the reference's golden weights through export + ONNX Runtime give the
 *   reference's golden outputs.
 * The ONNX Runtime parts skip where onnxruntime-node is not installed.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { initBackend, onnxRuntimeAvailable } from '../../src/backend/index.js';
import { readCheckpoint } from '../../src/families/checkpoint.js';
import { decodeOnnxModel } from '../../src/data/formats/onnx.js';
import type { Tensor } from '../../src/data/formats/safetensors.js';
import { writeTensorFile } from '../../src/data/files/tensorFile.js';
import { resolveConfig, generatorInputChannels, type ArchConfig } from '../../src/families/pix2pixhd/config.js';
import { networkSpecs } from '../../src/families/pix2pixhd/networks.js';
import { Random } from '../../src/model/random.js';
import { loadInferenceNetworks } from '../../src/synthesis/inferenceNetworks.js';
import { onnxSession } from '../../src/synthesis/onnxNetworks.js';
import { exportOnnx } from '../../src/synthesis/onnxExport.js';
import { goldenTensor, readGolden, temporaryFolder, writeRandomCheckpoint } from './helpers.js';

/** ONNX's standard operators this export may use (the list), default domain. */
const STANDARD_OPERATORS = new Set(['Conv', 'ConvTranspose', 'InstanceNormalization', 'Pad', 'Relu', 'Tanh', 'AveragePool', 'Add', 'Concat']);

const ORT_SKIP = onnxRuntimeAvailable() ? false : 'skipped: onnxruntime-node not installed';
if (ORT_SKIP) process.stdout.write(`# ${ORT_SKIP}\n`);

function relativeL2(ours: Float32Array, reference: Float32Array): number {
  assert.equal(ours.length, reference.length);
  let difference = 0;
  let norm = 0;
  for (let i = 0; i < ours.length; i++) {
    difference += (ours[i]! - reference[i]!) ** 2;
    norm += reference[i]! ** 2;
  }
  return Math.sqrt(difference / norm);
}

const G1 = resolveConfig({ label_nc: 4, instance: true, ngf: 4, n_downsample_global: 2, n_blocks_global: 2, norm: 'instance' });
const LOCAL = resolveConfig({
  netG: 'local', label_nc: 3, instance: true, instance_feat: true, feat_num: 2, ngf: 3, n_downsample_global: 1, n_blocks_global: 1,
  n_local_enhancers: 1, n_blocks_local: 1, nef: 4, n_downsample_E: 2, norm: 'instance',
});
const BATCH_NORM_G1 = resolveConfig({ label_nc: 3, instance: false, ngf: 4, n_downsample_global: 1, n_blocks_global: 1, norm: 'batch' });

describe('ONNX export', () => {
  const folder = temporaryFolder('onnx-export');
  const g1Path = join(folder.path, 'g1.safetensors');
  const localPath = join(folder.path, 'local.safetensors');
  const batchPath = join(folder.path, 'batch.safetensors');

  before(async () => {
    await initBackend('wasm', { log: () => {} });
    await writeRandomCheckpoint(g1Path, G1, 5, ['G']);
    await writeRandomCheckpoint(localPath, LOCAL, 6, ['G', 'E']);
    await writeRandomCheckpoint(batchPath, BATCH_NORM_G1, 7, ['G']);
  });
  after(() => folder.remove());

  it('writes standard operators only, opset >= 13, dynamic H and W, the checkpoint weights under their names', async () => {
    for (const [path, config, network] of [[g1Path, G1, 'G'], [localPath, LOCAL, 'G'], [localPath, LOCAL, 'E']] as const) {
      const out = join(folder.path, `${network}-${config.netG}.onnx`);
      await exportOnnx({ checkpoint: path, out, network });
      const model = decodeOnnxModel(readFileSync(out));
      const domains = model.opset_import.filter((opset) => (opset.domain ?? '') === '');
      assert.equal(domains.length, 1);
      assert.ok(domains[0]!.version >= 13, `opset ${domains[0]!.version}`);
      const operators = new Set(model.graph.node.map((node) => node.op_type));
      for (const operator of operators) assert.ok(STANDARD_OPERATORS.has(operator), `non-standard operator ${operator}`);
      assert.ok(model.graph.node.every((node) => (node.domain ?? '') === ''));
      if (config.netG === 'local' && network === 'G') assert.ok(operators.has('AveragePool'), 'the enhancer downsamples its input');
      const pool = model.graph.node.find((node) => node.op_type === 'AveragePool');
      if (pool) assert.equal(pool.attribute!.find((a) => a.name === 'count_include_pad')!.i ?? 0, 0);
      const pads = model.graph.node.filter((node) => node.op_type === 'Pad');
      assert.ok(pads.length > 0 && pads.every((node) => Buffer.from(node.attribute!.find((a) => a.name === 'mode')!.s!).toString() === 'reflect'));

      const [input] = model.graph.input;
      const channels = network === 'G' ? generatorInputChannels(config) : config.output_nc;
      assert.deepEqual(input!.type.tensor_type.shape.dim!.map((d) => d.dim_value ?? d.dim_param), ['batch', channels, 'height', 'width']);
      const [output] = model.graph.output;
      const outputChannels = network === 'G' ? config.output_nc : config.feat_num;
      assert.deepEqual(output!.type.tensor_type.shape.dim!.map((d) => d.dim_value ?? d.dim_param), ['batch', outputChannels, 'height', 'width']);

      // Every parameter of the network, bit for bit, under its checkpoint name and reference layout.
      const checkpoint = await readCheckpoint(path);
      const initializers = new Map((model.graph.initializer ?? []).map((t) => [t.name, t]));
      for (const spec of networkSpecs(config, network)) {
        const stored = checkpoint.tensors.get(spec.key)!;
        const written = initializers.get(spec.key);
        assert.ok(written, `${spec.key} is an initializer`);
        assert.deepEqual(written.dims, stored.shape);
        assert.deepEqual(Buffer.from(written.raw_data!), Buffer.from((stored.data as Float32Array).buffer, (stored.data as Float32Array).byteOffset, stored.data.byteLength));
      }
    }
  });

  it('refuses an output that is the checkpoint itself (exit 2) and a checkpoint without E (exit 3)', async () => {
    await assert.rejects(exportOnnx({ checkpoint: g1Path, out: g1Path, network: 'G' }), (error: Error & { exitCode?: number }) => error.exitCode === 2 && /never overwrites/.test(error.message));
    await assert.rejects(exportOnnx({ checkpoint: g1Path, out: join(folder.path, 'e.onnx'), network: 'E' }), (error: Error & { exitCode?: number }) => error.exitCode === 3 && /holds no E/.test(error.message));
  });

  describe('ONNX Runtime against the tfjs path', { skip: ORT_SKIP }, () => {
    /** A random G input: one-hot labels, 0/1 edges, features in [-1, 1]. */
    function generatorInput(config: ArchConfig, height: number, width: number, seed: number): Float32Array {
      const channels = generatorInputChannels(config);
      const random = new Random(seed);
      const input = new Float32Array(height * width * channels);
      for (let p = 0; p < height * width; p++) {
        input[p * channels + random.nextInt(config.label_nc)] = 1;
        if (config.instance) input[p * channels + config.label_nc] = random.nextInt(2);
        for (let f = 0; f < (config.instance_feat ? config.feat_num : 0); f++) input[p * channels + config.label_nc + 1 + f] = 2 * random.nextFloat() - 1;
      }
      return input;
    }

    for (const [name, path, config] of [['G1', g1Path, G1], ['local enhancer', localPath, LOCAL], ['batch-norm G1', batchPath, BATCH_NORM_G1]] as const) {
      it(`${name}: the same output within 1e-5 relative, on a size that needs padding`, async () => {
        const checkpoint = await readCheckpoint(path);
        const tfjs = await loadInferenceNetworks(checkpoint, ['G'], 'tfjs');
        const ort = await loadInferenceNetworks(checkpoint, ['G'], 'onnxruntime');
        try {
          for (const [height, width] of [[16, 24], [13, 21]] as const) {
            const input = generatorInput(config, height, width, height);
            const expected = await tfjs.generate(input, height, width);
            const actual = await ort.generate(input, height, width);
            assert.equal(actual.length, height * width * config.output_nc);
            const error = relativeL2(actual, expected);
            process.stdout.write(`# onnxruntime vs tfjs, ${name} ${height}x${width}: relative L2 ${error.toExponential(2)}\n`);
            assert.ok(error <= 1e-5, `relative L2 ${error}`);
          }
        } finally {
          await tfjs.dispose();
          await ort.dispose();
        }
      });
    }

    it('E: the same per-instance features within 1e-5 relative', async () => {
      const checkpoint = await readCheckpoint(localPath);
      const tfjs = await loadInferenceNetworks(checkpoint, ['E'], 'tfjs');
      const ort = await loadInferenceNetworks(checkpoint, ['E'], 'onnxruntime');
      try {
        const [height, width] = [18, 23];
        const random = new Random(9);
        const photo = Uint8Array.from({ length: height * width * 3 }, () => random.nextInt(256));
        const instances = Int32Array.from({ length: height * width }, (_, p) => (p % width < width / 2 ? 1 : 2000 + (p < (height * width) / 2 ? 0 : 1)));
        const expected = await tfjs.encode(photo, instances, height, width);
        const actual = await ort.encode(photo, instances, height, width);
        const error = relativeL2(actual, expected);
        process.stdout.write(`# onnxruntime vs tfjs, E ${height}x${width}: relative L2 ${error.toExponential(2)}\n`);
        assert.ok(error <= 1e-5, `relative L2 ${error}`);
      } finally {
        await tfjs.dispose();
        await ort.dispose();
      }
    });
  });

  describe('golden: the reference weights through export + ONNX Runtime', { skip: ORT_SKIP }, () => {
    /** Writes a checkpoint of the golden file's `network` tensors with `config`. */
    async function goldenCheckpoint(name: string, config: ArchConfig, network: 'G' | 'E'): Promise<string> {
      const golden = await readGolden(name);
      const tensors = new Map<string, Tensor>([...golden.tensors].filter(([key]) => key.startsWith(`${network}.`)));
      const path = join(folder.path, `${name}.safetensors`);
      await writeTensorFile(path, 'checkpoint', tensors, { stage: 'global', epoch: 0, step: 0, lr: 0.0002, config });
      return path;
    }

    async function check(name: string, config: ArchConfig, network: 'G' | 'E', inputName: string, outputName: string): Promise<void> {
      const golden = await readGolden(name);
      const session = await onnxSession(await readCheckpoint(await goldenCheckpoint(name, config, network)), network);
      try {
        const input = goldenTensor(golden, inputName);
        // The golden tensors are NCHW, as the graph takes them.
        const output = await session.run({ data: input.data as Float32Array, dims: input.shape });
        const expected = goldenTensor(golden, outputName);
        assert.deepEqual(output.dims, expected.shape);
        const error = relativeL2(output.data, expected.data as Float32Array);
        process.stdout.write(`# golden ${name} through ONNX Runtime: relative L2 ${error.toExponential(2)}\n`);
        assert.ok(error <= 1e-4, `relative L2 ${error}`);
      } finally {
        await session.release();
      }
    }

    it('global generator G1', async () => {
      const g = (await readGolden('global_generator')).config;
      const config = resolveConfig({
        label_nc: (g['input_nc'] as number) - 1, output_nc: g['output_nc'], ngf: g['ngf'],
        n_downsample_global: g['n_downsample_global'], n_blocks_global: g['n_blocks_global'], norm: g['norm'],
      });
      await check('global_generator', config, 'G', 'input', 'output');
    });

    it('local enhancer G2', async () => {
      const g = (await readGolden('local_enhancer')).config;
      const config = resolveConfig({
        netG: 'local', label_nc: (g['input_nc'] as number) - 1, output_nc: g['output_nc'], ngf: g['ngf'],
        n_downsample_global: g['n_downsample_global'], n_blocks_global: g['n_blocks_global'],
        n_local_enhancers: g['n_local_enhancers'], n_blocks_local: g['n_blocks_local'], norm: g['norm'],
      });
      await check('local_enhancer', config, 'G', 'input', 'output');
    });

    it('encoder E (raw output, before instance pooling)', async () => {
      const g = (await readGolden('encoder')).config;
      const config = resolveConfig({ output_nc: g['input_nc'], feat_num: g['feat_num'], nef: g['nef'], n_downsample_E: g['n_downsample_E'], norm: g['norm'] });
      await check('encoder', config, 'E', 'image', 'raw');
    });
  });
});
