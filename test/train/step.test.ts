/**
 * One training step against the reference: from the golden weights and
 * inputs, the four loss values (1e-4 relative) and the Adam update of every
 * weight (golden README: >= 99% of elements within 1e-6 of the reference's
 * update, no sign disagreement where the reference moves by more than lr/10),
 * through the same step functions `p2phd train` runs: the host step with
 * Adam on the host (wasm) and the device-resident step (cpu here; the same
 * code runs on webgpu and the native TensorFlow binding).
 */
import { nativeMatMulSession, registerNativeMatMul } from '../../src/backend/wasm/native-matmul';
import type { MatMulSession } from '../../src/backend/onnxruntime/matmul-session';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../src/backend/index.js';
import type { Tensor } from '../../src/data/formats/safetensors.js';
import { instanceSegments, type InstanceSegments } from '../../src/families/pix2pixhd/encoder.js';
import type { ParamSpec } from '../../src/model/layers.js';
import { modelSpecs, trainingNetworks } from '../../src/families/pix2pixhd/networks.js';
import { loadParams } from '../../src/model/params.js';
import { ADAM_BETA2, ADAM_EPSILON } from '../../src/train/settings.js';
import type { AdamHyperparameters } from '../../src/train/adam.js';
import type { Batch } from '../../src/train/data.js';
import { runDeviceStep } from '../../src/train/deviceStep.js';
import { ImagePool } from '../../src/train/imagePool.js';
import { checkpointTensors, createTrainingModel, disposeTrainingModel, readCheckpointTensors, type TrainingModel } from '../../src/train/model.js';
import { applyStep, computeStepGradients, type LossValues } from '../../src/train/step.js';
import { onWebgpu } from '../support/webgpu.js';
import { nchwToNhwc, readGoldenStep, relativeDifference, setUpBackend, tensorOf, type GoldenStep } from './helpers.js';

const GOLDEN_LOSSES = ['G_GAN', 'G_GAN_Feat', 'D_real', 'D_fake'] as const;

interface GoldenInputs {
  golden: GoldenStep;
  specs: ParamSpec[];
  lr: number;
  hyper: AdamHyperparameters;
  /** NHWC */
  input: tf.Tensor4D;
  real: tf.Tensor4D;
  inst: Int32Array;
}

async function goldenInputs(name: string): Promise<GoldenInputs> {
  const golden = await readGoldenStep(name);
  const { config } = golden;
  const lr = golden.training['lr'] as number;
  return {
    golden,
    specs: modelSpecs(config, trainingNetworks(config)),
    lr,
    hyper: { lr, beta1: golden.training['beta1'] as number, beta2: ADAM_BETA2, epsilon: ADAM_EPSILON },
    input: nchwToNhwc(tensorOf(golden, 'input_label')),
    real: nchwToNhwc(tensorOf(golden, 'real')),
    inst: tensorOf(golden, 'inst').data as Int32Array,
  };
}

function goldenModel(inputs: GoldenInputs, adamOnHost: boolean): TrainingModel {
  const { params } = loadParams(inputs.specs, inputs.golden.tensors, { source: 'golden', mode: 'strict' });
  return createTrainingModel(inputs.golden.config, 'global', params, { adamOnHost });
}

function segmentsOf(inputs: GoldenInputs): InstanceSegments {
  const [n, h, w] = [inputs.input.shape[0], inputs.input.shape[1], inputs.input.shape[2]];
  return instanceSegments(inputs.inst, n, h, w);
}

/**
 * The host step: losses, gradients read out, Adam on the host. Returns the
 * parameters that get no real gradient (see checkAgainstGolden).
 */
async function hostStep(inputs: GoldenInputs, name: string, check: boolean): Promise<Set<string>> {
  const model = goldenModel(inputs, true);
  try {
    const step = computeStepGradients(model, { input: inputs.input, real: inputs.real, segments: segmentsOf(inputs) }, { gan: 'lsgan', ganFeatLoss: true, lambdaFeat: inputs.golden.training['lambda_feat'] as number });
    // Biases of convolutions followed by instance norm have a gradient that
    // is zero in exact arithmetic (the norm subtracts the mean); both sides
    // get float noise there, which Adam's first step blows up to +-lr with a
    // random sign. The sign rule cannot apply to them; they are found by
    // their gradient (noise, far below any real gradient).
    const structurallyZero = new Set<string>();
    for (const [key, gradient] of step.gradients) {
      const largest = gradient.reduce((max, value) => Math.max(max, Math.abs(value)), 0);
      if (largest < 1e-4) structurallyZero.add(key);
    }
    if (check) {
      applyStep(model, step.gradients, inputs.hyper);
      checkAgainstGolden(inputs, name, step.losses, checkpointTensors(model), structurallyZero);
    }
    return structurallyZero;
  } finally {
    disposeTrainingModel(model);
  }
}

/** The device step (what every backend but wasm trains with), through runDeviceStep as `p2phd train` calls it. */
async function deviceStep(inputs: GoldenInputs, name: string, structurallyZero: ReadonlySet<string>): Promise<void> {
  const model = goldenModel(inputs, false);
  const [count, height, width, inputChannels] = inputs.input.shape;
  const batch: Batch = {
    count,
    height,
    width,
    inputChannels,
    input: (await inputs.input.data()) as Float32Array,
    image: (await inputs.real.data()) as Float32Array,
    inst: inputs.inst,
    firstLabel: {},
  };
  const pool = new ImagePool<tf.Tensor>(0);
  try {
    const before = tf.memory().numTensors;
    const outcome = await runDeviceStep(model, batch, { gan: 'lsgan', ganFeatLoss: true, lambdaFeat: inputs.golden.training['lambda_feat'] as number }, pool, 1, 0, false, inputs.hyper);
    assert.equal(tf.memory().numTensors, before, 'the device step leaves no tensor behind');
    assert.deepEqual({ G: model.optimizers.G.step, D: model.optimizers.D.step }, { G: 1, D: 1 });
    checkAgainstGolden(inputs, name, outcome.losses, await readCheckpointTensors(model), structurallyZero);
  } finally {
    disposeTrainingModel(model);
  }
}

function checkAgainstGolden(inputs: GoldenInputs, name: string, losses: LossValues, after: ReadonlyMap<string, Tensor>, structurallyZero: ReadonlySet<string>): void {
  const { golden, lr } = inputs;
  for (const loss of GOLDEN_LOSSES) {
    const expected = (tensorOf(golden, `loss.${loss}`).data as Float32Array)[0]!;
    const difference = relativeDifference(losses[loss], expected);
    process.stdout.write(`# ${name} ${loss}: ours ${losses[loss]} reference ${expected} (relative ${difference.toExponential(2)})\n`);
    assert.ok(difference <= 1e-4, `${loss}: ${losses[loss]} vs ${expected}`);
  }
  assert.equal(losses.G_VGG, 0);
  let total = 0;
  let close = 0;
  let worst = 0;
  for (const spec of inputs.specs) {
    const before = tensorOf(golden, spec.key).data as Float32Array;
    const expectedAfter = tensorOf(golden, `after.${spec.key}`).data as Float32Array;
    const ours = after.get(spec.key)!.data as Float32Array;
    for (let i = 0; i < before.length; i++) {
      const expectedUpdate = expectedAfter[i]! - before[i]!;
      const ourUpdate = ours[i]! - before[i]!;
      const difference = Math.abs(ourUpdate - expectedUpdate);
      worst = Math.max(worst, difference);
      total++;
      if (difference <= 1e-6) close++;
      if (Math.abs(expectedUpdate) > lr / 10 && !structurallyZero.has(spec.key)) {
        assert.equal(Math.sign(ourUpdate), Math.sign(expectedUpdate), `${spec.key}[${i}]: update ${ourUpdate} vs reference ${expectedUpdate}`);
      }
    }
  }
  process.stdout.write(`# ${name} updates: ${close}/${total} within 1e-6 (worst ${worst.toExponential(2)}); sign rule skipped on ${structurallyZero.size} zero-gradient biases\n`);
  assert.ok([...structurallyZero].every((key) => key.endsWith('.bias')), `only biases may have a zero gradient: ${[...structurallyZero].join(', ')}`);
  assert.ok(close / total >= 0.99, `${close}/${total} updates within 1e-6`);
}

async function withInputs(name: string, run: (inputs: GoldenInputs) => Promise<void>): Promise<void> {
  const inputs = await goldenInputs(name);
  try {
    await run(inputs);
  } finally {
    tf.dispose([inputs.input, inputs.real]);
  }
}

const GOLDEN_STEPS = [
  ['train_step', 'G1 + multi-scale D, LSGAN + feature matching (train_step)'],
  ['train_step_features', "with the instance-feature encoder in G's optimizer (train_step_features)"],
] as const;

/** Per golden step, the parameters without a real gradient, as the host step found them (the same on every backend). */
const zeroGradientKeys = new Map<string, Set<string>>();

describe('train step parity with the reference (wasm: host Adam)', () => {
  before(setUpBackend);
  for (const [name, title] of GOLDEN_STEPS) {
    it(title, async () => {
      await withInputs(name, async (inputs) => {
        zeroGradientKeys.set(name, await hostStep(inputs, name, true));
      });
    });
  }
});

describe('train step parity with the reference (wasm, products on XNNPACK: P2PHD_NATIVE_GEMM=0)', () => {
  // Winograd, the XNNPACK column form and the stride phases carry the convs when ONNX Runtime's GEMM is set aside.
  let nativeGemm: MatMulSession | null = null;
  before(async () => {
    await setUpBackend();
    nativeGemm = nativeMatMulSession();
    registerNativeMatMul(null);
  });
  after(() => registerNativeMatMul(nativeGemm));
  for (const [name, title] of GOLDEN_STEPS) {
    it(title, async () => {
      await withInputs(name, async (inputs) => {
        await hostStep(inputs, name, true);
      });
    });
  }
});

describe('train step parity with the reference (cpu: device-resident step and Adam)', () => {
  before(async () => {
    await initBackend('cpu', { log: () => {} });
  });
  after(setUpBackend);
  for (const [name, title] of GOLDEN_STEPS) {
    it(title, async () => {
      await withInputs(name, async (inputs) => {
        // The device step reads no gradient: which biases have none comes from the host step.
        const structurallyZero = zeroGradientKeys.get(name) ?? (await hostStep(inputs, name, false));
        await deviceStep(inputs, name, structurallyZero);
      });
    });
  }
});

onWebgpu('train step parity with the reference on webgpu (device-resident step and Adam)', (setUp) => {
  before(setUp);
  after(setUpBackend);
  for (const [name, title] of GOLDEN_STEPS) {
    it(title, async () => {
      await withInputs(name, async (inputs) => {
        const structurallyZero = zeroGradientKeys.get(name) ?? new Set<string>();
        await deviceStep(inputs, name, structurallyZero);
      });
    });
  }
});
