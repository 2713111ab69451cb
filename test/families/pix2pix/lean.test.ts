/**
 * pix2pix's lean schedule (leanGradients.ts, D's step apart from G's tape,
 * G's gradients through sinks, batch norm checkpointed)
 * against tfjs's tape (tf.variableGrads, D's step nested in G's tape) on
 * the same backend, from the same weights, inputs and dropout masks: the
 * same losses, the same bits for D's gradients (taken midway), for G's
 * gradients (through the updated D), for the generated image and for the
 * running statistics after the step; and a lower peak of the wasm heap's
 * tensor memory, which is the point of it. Host step on wasm and cpu, the
 * device step on cpu and on webgpu.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { heapAccounting, initBackend, stopHeapAccounting } from '../../../src/backend/index.js';
import { resolvePix2pixConfig, type Pix2pixConfig } from '../../../src/families/pix2pix/config.js';
import { SeededDropout } from '../../../src/families/pix2pix/dropout.js';
import { initPix2pixParams } from '../../../src/families/pix2pix/init.js';
import type { Pix2pixGanMode } from '../../../src/families/pix2pix/losses.js';
import { pix2pixSpecs } from '../../../src/families/pix2pix/networks.js';
import { PIX2PIX_LOSS_NAMES, pix2pixDeviceStep, pix2pixStep, type Pix2pixStepSchedule } from '../../../src/families/pix2pix/step.js';
import { isTrainable, type DropoutMasks } from '../../../src/model/layers.js';
import { disposeParams, loadParams, toVariables } from '../../../src/model/params.js';
import { Random } from '../../../src/model/random.js';
import { onWebgpu } from '../../support/webgpu.js';
import { GoldenDropout, goldenPix2pixConfig, goldenTensor, imageOf, readPix2pixGolden, setUpBackend } from './helpers.js';

interface Case {
  readonly config: Pix2pixConfig;
  readonly ganMode: Pix2pixGanMode;
  /** Fresh weights (the same values at every call). */
  readonly params: () => Map<string, tf.Tensor>;
  readonly A: () => tf.Tensor4D;
  readonly B: () => tf.Tensor4D;
  /** Fresh dropout masks (the same sequence at every call). */
  readonly dropout: () => DropoutMasks;
}

async function goldenCase(name: string): Promise<Case> {
  const golden = await readPix2pixGolden(name);
  const config = goldenPix2pixConfig(golden);
  const training = JSON.parse(golden.metadata['training']!) as Record<string, string>;
  return {
    config,
    ganMode: training['gan_mode'] as Pix2pixGanMode,
    params: () => loadParams(pix2pixSpecs(config), golden.tensors, { source: name, mode: 'strict' }).params,
    A: () => imageOf(goldenTensor(golden, 'A_u8')),
    B: () => imageOf(goldenTensor(golden, 'B_u8')),
    dropout: () => new GoldenDropout(golden),
  };
}

/** resnet_6blocks (dropout in its blocks) + n_layers D (2 layers), instance norm, LSGAN, batch 2. */
function syntheticCase(): Case {
  const config = resolvePix2pixConfig({ netG: 'resnet_6blocks', netD: 'n_layers', n_layers_D: 2, norm: 'instance', ngf: 4, ndf: 4, input_nc: 2, output_nc: 3 });
  const [n, h, w] = [2, 20, 24];
  const image = (seed: number, channels: number) => (): tf.Tensor4D =>
    tf.tensor4d(new Random(seed).fillNormal(new Float32Array(n * h * w * channels), 0, 0.5), [n, h, w, channels]);
  return {
    config,
    ganMode: 'lsgan',
    params: () => initPix2pixParams(pix2pixSpecs(config), config, 5),
    A: image(1, config.input_nc),
    B: image(2, config.output_nc),
    dropout: () => new SeededDropout(new Random(9)),
  };
}

const CASES: ReadonlyArray<readonly [string, () => Promise<Case>]> = [
  ['golden step_unet_256_basic (unet_256 + basic D, batch norm, vanilla GAN, dropout)', () => goldenCase('step_unet_256_basic')],
  ['golden step_resnet_9blocks_pixel (resnet_9blocks + pixel D, instance norm, lsgan, dropout)', () => goldenCase('step_resnet_9blocks_pixel')],
  ['resnet_6blocks + n_layers D (2), instance norm, lsgan, dropout, batch 2', async () => syntheticCase()],
];

/** What a step produced, read to the host. */
interface Outcome {
  losses: number[];
  gradientsD: Map<string, Float32Array>;
  gradientsG: Map<string, Float32Array>;
  fake: Float32Array;
  /** Every variable after the step (D's SGD update, the running statistics). */
  after: Map<string, Float32Array>;
  heapPeak: number;
}

/** D's update in both runs of the host step: w - 0.01 g, on the host, so that G's loss sees a moved D. */
function sgd(variable: tf.Variable, gradient: Float32Array): void {
  const weights = Float32Array.from(variable.dataSync() as Float32Array, (w, i) => Math.fround(w - Math.fround(0.01 * gradient[i]!)));
  const updated = tf.tensor(weights, variable.shape);
  variable.assign(updated);
  updated.dispose();
}

async function runStep(testCase: Case, schedule: Pix2pixStepSchedule, onDevice: boolean): Promise<Outcome> {
  const { config } = testCase;
  const specs = pix2pixSpecs(config);
  const params = testCase.params();
  const variables = toVariables(params, specs);
  disposeParams(params);
  const trained = specs.filter(isTrainable);
  const keysG = trained.filter((spec) => spec.key.startsWith('G.')).map((spec) => spec.key);
  const keysD = trained.filter((spec) => spec.key.startsWith('D.')).map((spec) => spec.key);
  const A = testCase.A();
  const B = testCase.B();
  const settings = { ganMode: testCase.ganMode, lambdaL1: 100 };
  const dropout = config.no_dropout ? undefined : testCase.dropout();
  const tensorsBefore = tf.memory().numTensors;
  const gradientsD = new Map<string, Float32Array>();
  const gradientsG = new Map<string, Float32Array>();
  const keptD = new Map<string, tf.Tensor>();
  let losses: number[];
  let fake: Float32Array;
  stopHeapAccounting();
  const accounting = tf.getBackend() === 'wasm' ? heapAccounting() : undefined;
  try {
    if (onDevice) {
      const result = pix2pixDeviceStep({ config, variables, keysG, keysD }, { A, B }, settings, {
        ...(dropout ? { dropout } : {}),
        schedule,
        keepFake: true,
        updateD: (gradients) => {
          // No synchronous reads on webgpu: the gradients are kept and read after the step; the update runs on the device.
          for (const [key, gradient] of gradients) keptD.set(key, tf.keep(gradient.clone()));
          for (const key of keysD) {
            const variable = variables.get(key)!;
            variable.assign(tf.tidy(() => tf.sub(variable, tf.mul(gradients.get(key)!, 0.01))));
          }
        },
      });
      for (const [key, gradient] of keptD) gradientsD.set(key, (await gradient.data()) as Float32Array);
      tf.dispose([...keptD.values()]);
      keptD.clear();
      losses = [...((await result.losses.data()) as Float32Array)];
      for (const [key, gradient] of result.gradientsG) gradientsG.set(key, (await gradient.data()) as Float32Array);
      fake = (await result.fake!.data()) as Float32Array;
      tf.dispose([result.losses, result.fake!, ...result.gradientsG.values()]);
    } else {
      const result = pix2pixStep({ config, variables, keysG, keysD }, { A, B }, settings, {
        ...(dropout ? { dropout } : {}),
        schedule,
        keepFake: true,
        updateD: (gradients) => {
          for (const [key, gradient] of gradients) gradientsD.set(key, gradient);
          for (const key of keysD) sgd(variables.get(key)!, gradients.get(key)!);
        },
      });
      losses = PIX2PIX_LOSS_NAMES.map((name) => result.losses[name]);
      for (const [key, gradient] of result.gradientsG) gradientsG.set(key, gradient);
      fake = result.fake!;
    }
    const heapPeak = accounting?.peak ?? 0;
    assert.equal(tf.memory().numTensors, tensorsBefore, `${schedule}: the step leaves no tensor behind`);
    const after = new Map<string, Float32Array>();
    for (const [key, variable] of variables) after.set(key, Float32Array.from((await variable.data()) as ArrayLike<number>));
    return { losses, gradientsD, gradientsG, fake, after, heapPeak };
  } finally {
    stopHeapAccounting();
    tf.dispose([A, B, ...keptD.values()]);
    disposeParams(variables);
  }
}

function sameBits(a: Float32Array, b: Float32Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

function assertSameBits(lean: Outcome, tape: Outcome): void {
  assert.deepEqual(lean.losses, tape.losses, 'losses');
  for (const [what, ours, theirs] of [
    ['D gradients', lean.gradientsD, tape.gradientsD],
    ['G gradients', lean.gradientsG, tape.gradientsG],
    ['weights and buffers after the step', lean.after, tape.after],
  ] as const) {
    assert.deepEqual([...ours.keys()].sort(), [...theirs.keys()].sort(), what);
    assert.ok(ours.size > 0, what);
    const differing = [...theirs].filter(([key, value]) => !sameBits(ours.get(key)!, value)).map(([key]) => key);
    assert.deepEqual(differing, [], `${what} that differ in their bits`);
  }
  assert.ok(sameBits(lean.fake, tape.fake), 'the generated image');
}

async function leanAgainstTape(title: string, make: () => Promise<Case>, onDevice: boolean): Promise<void> {
  const testCase = await make();
  const tape = await runStep(testCase, 'tape', onDevice);
  const lean = await runStep(testCase, 'lean', onDevice);
  assertSameBits(lean, tape);
  if (tf.getBackend() === 'wasm') {
    process.stdout.write(`# ${title}: wasm heap tensor peak lean ${lean.heapPeak}, tape ${tape.heapPeak} (${(lean.heapPeak / tape.heapPeak).toFixed(2)}x)\n`);
    assert.ok(lean.heapPeak < tape.heapPeak, `lean peak ${lean.heapPeak} not below the tape's ${tape.heapPeak}`);
  }
}

for (const backend of ['wasm', 'cpu'] as const) {
  describe(`pix2pix: lean schedule against the tape (${backend})`, () => {
    before(async () => {
      await initBackend(backend, { log: () => {} });
    });
    after(setUpBackend);
    // tfjs's cpu backend is slow at 256x256: the U-Net case runs on wasm and webgpu only.
    const cases = backend === 'cpu' ? CASES.slice(1) : CASES;
    for (const [title, make] of cases) {
      it(`host step, ${title}: same losses and bits${backend === 'wasm' ? ', lower heap peak' : ''}`, () => leanAgainstTape(title, make, false));
    }
    if (backend === 'cpu') {
      for (const [title, make] of cases) it(`device step, ${title}: same losses and bits`, () => leanAgainstTape(title, make, true));
    }
  });
}

onWebgpu('pix2pix: lean schedule against the tape (webgpu, device step)', (setUp) => {
  before(setUp);
  after(setUpBackend);
  for (const [title, make] of [CASES[0]!, CASES[2]!]) it(`${title}: same losses and bits`, () => leanAgainstTape(title, make, true));
});
