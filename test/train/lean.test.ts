/**
 * The lean schedule (backend/leanGradients.ts) against tfjs's tape on the
 * same backend: the same losses and the same gradient bits for every
 * trained parameter, on the golden train steps (G1 + 2-scale D, with and
 * without instance features) and on a small config with the image pool
 * drawing old fakes and the vanilla GAN (sigmoid) loss; and a lower peak of
 * tensor memory (tf.profile's peakBytes), which is the point of it.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { heapAccounting, initBackend, SavedTensorOffload, stopHeapAccounting } from '../../src/backend/index.js';
import { DEFAULT_CONFIG, generatorInputChannels, resolveConfig, type ArchConfig } from '../../src/families/pix2pixhd/config.js';
import { instanceSegments, type InstanceSegments } from '../../src/families/pix2pixhd/encoder.js';
import { modelSpecs, trainingNetworks } from '../../src/families/pix2pixhd/networks.js';
import { initParams, loadParams } from '../../src/model/params.js';
import { Random } from '../../src/model/random.js';
import { ImagePool } from '../../src/train/imagePool.js';
import { createTrainingModel, disposeTrainingModel, type TrainingModel } from '../../src/train/model.js';
import { computeDeviceStep, computeStepGradients, type LossSettings, type StepGradients, type StepSchedule } from '../../src/train/step.js';
import { onWebgpu } from '../support/webgpu.js';
import { nchwToNhwc, readGoldenStep, setUpBackend, tensorOf } from './helpers.js';

interface Case {
  readonly config: ArchConfig;
  readonly model: () => TrainingModel;
  readonly input: tf.Tensor4D;
  readonly real: tf.Tensor4D;
  readonly segments?: InstanceSegments;
  readonly losses: LossSettings;
  /** Image pool capacity (0: off). */
  readonly pool: number;
}

async function goldenCase(name: string): Promise<Case> {
  const golden = await readGoldenStep(name);
  const { config } = golden;
  const input = nchwToNhwc(tensorOf(golden, 'input_label'));
  const [n, h, w] = input.shape;
  return {
    config,
    model: () => createTrainingModel(config, 'global', loadParams(modelSpecs(config, trainingNetworks(config)), golden.tensors, { source: 'golden', mode: 'strict' }).params, { adamOnHost: true }),
    input,
    real: nchwToNhwc(tensorOf(golden, 'real')),
    segments: instanceSegments(tensorOf(golden, 'inst').data as Int32Array, n, h, w),
    losses: { gan: 'lsgan', ganFeatLoss: true, lambdaFeat: golden.training['lambda_feat'] as number },
    pool: 0,
  };
}

/** Instance features, the image pool drawing, vanilla GAN: the step's other branches, small. */
function syntheticCase(): Case {
  const config = resolveConfig({ ...DEFAULT_CONFIG, label_nc: 5, ngf: 4, n_downsample_global: 2, n_blocks_global: 2, ndf: 4, n_layers_D: 2, num_D: 2, instance_feat: true, nef: 4, n_downsample_E: 1, feat_num: 2 });
  const [n, h, w] = [2, 16, 24];
  const random = new Random(7);
  const channels = generatorInputChannels({ ...config, instance_feat: false });
  const input = new Float32Array(n * h * w * channels);
  const inst = new Int32Array(n * h * w);
  for (let p = 0; p < n * h * w; p++) {
    const label = Math.floor((p % w) / 5 + p / (w * 7)) % config.label_nc;
    input[p * channels + label] = 1;
    inst[p] = label + 10 * Math.floor(p / (w * 5));
  }
  return {
    config,
    model: () => createTrainingModel(config, 'global', initParams(modelSpecs(config, trainingNetworks(config)), 3), { adamOnHost: true }),
    input: tf.tensor4d(input, [n, h, w, channels]),
    real: tf.tensor4d(random.fillNormal(new Float32Array(n * h * w * 3), 0, 0.5), [n, h, w, 3]),
    segments: instanceSegments(inst, n, h, w),
    losses: { gan: 'vanilla', ganFeatLoss: true, lambdaFeat: 10 },
    pool: 2,
  };
}

interface Run {
  result: StepGradients;
  peakBytes: number;
}

async function runStep(testCase: Case, schedule: StepSchedule, how: Pick<LossSettings, 'checkpointActivations' | 'offload'> = {}): Promise<Run> {
  const model = testCase.model();
  try {
    // The same pool history for both schedules: one step to fill it, then the measured step draws from it.
    const pool = new ImagePool(testCase.pool);
    const inputs = { input: testCase.input, real: testCase.real, segments: testCase.segments };
    const losses = { ...testCase.losses, ...how };
    if (testCase.pool > 0) computeStepGradients(model, inputs, losses, { pool: { pool, random: Random.forLabel(1, 'fill') }, schedule });
    let result: StepGradients | undefined;
    const profile = await tf.profile(() => {
      result = computeStepGradients(model, inputs, losses, { pool: { pool, random: Random.forLabel(1, 'draw') }, schedule, keepFake: true });
      return [];
    });
    return { result: result!, peakBytes: profile.peakBytes };
  } finally {
    disposeTrainingModel(model);
  }
}

function assertSameBits(lean: StepGradients, tape: StepGradients): void {
  assert.deepEqual(lean.losses, tape.losses);
  assert.deepEqual([...lean.gradients.keys()].sort(), [...tape.gradients.keys()].sort());
  let differing = 0;
  for (const [key, gradient] of tape.gradients) {
    const ours = lean.gradients.get(key)!;
    if (!Buffer.from(ours.buffer, ours.byteOffset, ours.byteLength).equals(Buffer.from(gradient.buffer, gradient.byteOffset, gradient.byteLength))) differing++;
  }
  assert.equal(differing, 0, `${differing} of ${tape.gradients.size} gradients differ in their bits`);
  assert.ok(lean.fake && tape.fake && Buffer.from(lean.fake.buffer).equals(Buffer.from(tape.fake.buffer)));
}

const CASES: ReadonlyArray<readonly [string, () => Promise<Case>]> = [
  ['golden train_step (G1 + 2-scale D, LSGAN + feature matching)', () => goldenCase('train_step')],
  ['golden train_step_features (E in G\'s optimizer)', () => goldenCase('train_step_features')],
  ['instance features, image pool drawing, vanilla GAN', async () => syntheticCase()],
];

async function leanAgainstTape(backend: string, title: string, make: () => Promise<Case>): Promise<void> {
  const testCase = await make();
  try {
    const tape = await runStep(testCase, 'tape');
    const lean = await runStep(testCase, 'lean');
    assertSameBits(lean.result, tape.result);
    // tf.profile counts a tensor's bytes once per tensor object (clones and reshapes again): a relative figure.
    process.stdout.write(`# ${backend} ${title}: peak tensor bytes (tf.profile) lean ${lean.peakBytes}, tape ${tape.peakBytes} (${(lean.peakBytes / tape.peakBytes).toFixed(2)}x)\n`);
    assert.ok(lean.peakBytes < tape.peakBytes, `lean peak ${lean.peakBytes} not below the tape's ${tape.peakBytes}`);
  } finally {
    tf.dispose([testCase.input, testCase.real]);
  }
}

for (const backend of ['wasm', 'cpu'] as const) {
  describe(`lean schedule against the tape (${backend})`, () => {
    before(async () => {
      await initBackend(backend, { log: () => {} });
    });
    after(setUpBackend);
    for (const [title, make] of CASES) {
      it(`${title}: same losses and gradient bits, lower peak`, () => leanAgainstTape(backend, title, make));
    }
  });
}

/** The device step (webgpu reads nothing synchronously): every gradient kept as a tensor, read after the step. */
async function deviceGradients(testCase: Case, schedule: StepSchedule): Promise<{ losses: Float32Array; gradients: Map<string, Float32Array> }> {
  const model = testCase.model();
  const kept = new Map<string, tf.Tensor>();
  try {
    const result = computeDeviceStep(model, { input: testCase.input, real: testCase.real, segments: testCase.segments }, testCase.losses, {
      schedule,
      onGradient: (key, gradient) => kept.set(key, tf.keep(gradient.clone())),
    });
    const losses = (await result.losses.data()) as Float32Array;
    result.losses.dispose();
    const gradients = new Map<string, Float32Array>();
    for (const [key, tensor] of kept) gradients.set(key, (await tensor.data()) as Float32Array);
    return { losses, gradients };
  } finally {
    tf.dispose([...kept.values()]);
    disposeTrainingModel(model);
  }
}

describe('--checkpoint-activations (wasm): residual blocks recomputed in backward', () => {
  before(setUpBackend);
  for (const [title, make] of [CASES[0]!, CASES[2]!]) {
    it(`${title}: the same bits as the plain lean step, a lower heap peak`, async () => {
      const testCase = await make();
      try {
        stopHeapAccounting();
        const plainAccounting = heapAccounting();
        const plain = await runStep(testCase, 'lean');
        const plainPeak = plainAccounting.peak;
        stopHeapAccounting();
        const checkpointAccounting = heapAccounting();
        const checkpointed = await runStep(testCase, 'lean', { checkpointActivations: true });
        const checkpointPeak = checkpointAccounting.peak;
        stopHeapAccounting();
        assertSameBits(checkpointed.result, plain.result);
        process.stdout.write(`# ${title}: heap tensor peak ${checkpointPeak} checkpointed, ${plainPeak} plain\n`);
        assert.ok(checkpointPeak < plainPeak, `checkpointed peak ${checkpointPeak} not below ${plainPeak}`);
      } finally {
        tf.dispose([testCase.input, testCase.real]);
      }
    });
  }

  it('refuses the tape schedule with a clear error', async () => {
    const testCase = await goldenCase('train_step');
    try {
      await assert.rejects(runStep(testCase, 'tape', { checkpointActivations: true }), /needs the lean schedule/);
    } finally {
      tf.dispose([testCase.input, testCase.real]);
    }
  });
});

/** The heap's tensor high-water mark over one runStep, and its result. */
async function measuredStep(testCase: Case, how: Pick<LossSettings, 'checkpointActivations' | 'offload'>): Promise<Run & { heapPeak: number }> {
  stopHeapAccounting();
  const accounting = heapAccounting();
  try {
    const run = await runStep(testCase, 'lean', how);
    return { ...run, heapPeak: accounting.peak };
  } finally {
    stopHeapAccounting();
  }
}

describe('saved tensors offloaded out of the wasm heap between the passes', () => {
  before(setUpBackend);
  for (const [title, make, checkpointActivations] of [[...CASES[0]!, false], [...CASES[0]!, true], [...CASES[2]!, false]] as const) {
    it(`${title}${checkpointActivations ? ', checkpointed' : ''}: the same bits as in the heap, a lower heap peak, the pool reused`, async () => {
      const testCase = await make();
      // Every saved tensor of 1 KB or more leaves the heap (the test sizes are small).
      const offload = new SavedTensorOffload(1024);
      try {
        const inHeap = await measuredStep(testCase, { checkpointActivations });
        const offloaded = await measuredStep(testCase, { checkpointActivations, offload });
        assertSameBits(offloaded.result, inHeap.result);
        process.stdout.write(`# ${title}: heap tensor peak ${offloaded.heapPeak} offloaded (${offload.lastPeakBytes} bytes out at most), ${inHeap.heapPeak} in the heap\n`);
        assert.ok(offload.lastPeakBytes > 0, 'nothing was offloaded');
        assert.ok(offloaded.heapPeak < inHeap.heapPeak, `offloaded peak ${offloaded.heapPeak} not below ${inHeap.heapPeak}`);
        // Taken out and put back: everything offloaded was restored or freed, the arrays back in the pool.
        const tensors = tf.memory().numTensors;
        const poolBytes = offload.poolBytes;
        const again = await measuredStep(testCase, { checkpointActivations, offload });
        assertSameBits(again.result, inHeap.result);
        assert.equal(offload.poolBytes, poolBytes, 'a second step allocated new arrays instead of reusing the pool');
        assert.equal(tf.memory().numTensors, tensors, 'tensors left behind');
      } finally {
        offload.clear();
        tf.dispose([testCase.input, testCase.real]);
      }
    });
  }

  it('refuses a backend without a heap', async () => {
    await initBackend('cpu', { log: () => {} });
    const testCase = syntheticCase();
    try {
      await assert.rejects(runStep(testCase, 'lean', { offload: new SavedTensorOffload() }), /wasm only/);
    } finally {
      tf.dispose([testCase.input, testCase.real]);
      await setUpBackend();
    }
  });
});

onWebgpu('lean schedule against the tape (webgpu)', (setUp) => {
  before(setUp);
  after(setUpBackend);
  it('golden train_step (G1 + 2-scale D) through the device step: same losses and gradient bits', async () => {
    const testCase = await goldenCase('train_step');
    try {
      const tape = await deviceGradients(testCase, 'tape');
      const lean = await deviceGradients(testCase, 'lean');
      assert.deepEqual([...lean.losses], [...tape.losses]);
      assert.deepEqual([...lean.gradients.keys()].sort(), [...tape.gradients.keys()].sort());
      const differing = [...tape.gradients].filter(([key, gradient]) => !Buffer.from(gradient.buffer).equals(Buffer.from(lean.gradients.get(key)!.buffer)));
      assert.equal(differing.length, 0, `${differing.length} gradients differ in their bits`);
    } finally {
      tf.dispose([testCase.input, testCase.real]);
    }
  });
});
