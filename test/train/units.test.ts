/**
 * The pure pieces of training: the flag table against commander, the
 * architecture a stage resolves, the lr schedule, Adam against torch's
 * formula, the image pool, crops, and the per-epoch order.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Command } from 'commander';
import { UsageError } from '../../src/errors.js';
import { resolveConfig } from '../../src/families/pix2pixhd/config.js';
import { Random } from '../../src/model/random.js';
import { adamUpdate, createSharedSlot, createSlot } from '../../src/train/adam.js';
import { epochOrder, fitToMultiple, planCrop } from '../../src/train/data.js';
import { TRAIN_FLAGS, trainOptions, type TrainFlagValues } from '../../src/train/flags.js';
import { ImagePool } from '../../src/train/imagePool.js';
import { learningRateForEpoch } from '../../src/train/schedule.js';
import { architectureOverrides, checkResumeFlags, resolveTrainingArchitecture } from '../../src/train/settings.js';
import { registerTrain } from '../../src/commands/train.js';

function parse(args: string[]): TrainFlagValues {
  const command = new Command('t').exitOverride();
  for (const option of trainOptions()) command.addOption(option);
  command.parse(args, { from: 'user' });
  return command.opts() as TrainFlagValues;
}

describe('train flags', () => {
  it('declares every contract flag once, with the reference defaults', () => {
    const contract = ['--data', '--out', '--resume', '--init', '--epochs', '--decay-epochs', '--batch-size', '--lr', '--beta1', '--ngf',
      '--n-downsample-global', '--n-blocks-global', '--n-local-enhancers', '--n-blocks-local', '--norm', '--num-d', '--n-layers-d', '--ndf',
      '--lambda-feat', '--no-gan-feat-loss', '--no-lsgan', '--vgg-weights', '--pool-size', '--instance-feat', '--feat-num', '--nef',
      '--n-downsample-e', '--no-flip', '--serial', '--max-steps', '--time-limit', '--save-every', '--sample-every'];
    const declared = Object.values(TRAIN_FLAGS).map((spec) => spec.flags.split(' ')[0]);
    for (const flag of contract) assert.ok(declared.includes(flag), `${flag} is missing`);
    const values = parse([]);
    assert.equal(values.epochs, 100);
    assert.equal(values.decayEpochs, 100);
    assert.equal(values.lr, 0.0002);
    assert.equal(values.beta1, 0.5);
    assert.equal(values.lambdaFeat, 10);
    assert.equal(values.flip, true);
    assert.equal(values.lsgan, true);
    assert.equal(values.ganFeatLoss, true);
    assert.equal(values.serial, false);
    assert.equal(values.ngf, undefined, 'architecture flags stay undefined unless given');
  });

  it('parses and validates values (usage errors name the flag)', () => {
    const values = parse(['--no-flip', '--no-lsgan', '--ngf', '32', '--num-d', '3', '--norm', 'batch']);
    assert.equal(values.flip, false);
    assert.equal(values.lsgan, false);
    assert.deepEqual(architectureOverrides(values), { ngf: 32, num_D: 3, norm: 'batch' });
    assert.throws(() => parse(['--batch-size', '0']), (error: unknown) => error instanceof UsageError && /--batch-size/.test(error.message));
    assert.throws(() => parse(['--lr', 'fast']), (error: unknown) => error instanceof UsageError && /--lr/.test(error.message));
  });

  it('registers the three stages on the CLI with every flag', () => {
    const program = new Command('p2phd');
    registerTrain(program);
    const train = program.commands.find((command) => command.name() === 'train')!;
    assert.deepEqual(train.commands.map((command) => command.name()), ['global', 'local', 'joint']);
    for (const stage of train.commands) assert.ok(stage.options.some((option) => option.long === '--time-limit'));
  });
});

describe('architecture of a stage', () => {
  const data = { label_nc: 35, instance: true };
  it('global: reference defaults, flags on top, label_nc and instance from the samples', () => {
    const config = resolveTrainingArchitecture('global', { ngf: 32 }, { label_nc: 5, instance: false });
    assert.equal(config.netG, 'global');
    assert.equal(config.ngf, 32);
    assert.equal(config.n_blocks_global, 9);
    assert.equal(config.label_nc, 5);
    assert.equal(config.instance, false);
  });
  it('local from a G1: the enhancer gets half of G1\'s ngf; a misfit --ngf is refused', () => {
    const g1 = resolveConfig({ ngf: 64, n_downsample_global: 3, num_D: 2 });
    const config = resolveTrainingArchitecture('local', { num_D: 3 }, data, g1);
    assert.equal(config.netG, 'local');
    assert.equal(config.ngf, 32);
    assert.equal(config.n_downsample_global, 3);
    assert.equal(config.num_D, 3);
    assert.throws(() => resolveTrainingArchitecture('local', { ngf: 48 }, data, g1), UsageError);
    assert.throws(() => resolveTrainingArchitecture('local', {}, data), UsageError, 'local needs --init');
    assert.throws(() => resolveTrainingArchitecture('global', {}, data, config), UsageError, 'global from a local checkpoint');
    assert.throws(() => resolveTrainingArchitecture('global', {}, { label_nc: 20, instance: true }, g1), UsageError, 'label_nc mismatch');
  });
  it('--resume refuses changed flags but lets run control change', () => {
    const config = resolveConfig({});
    const stored = { stage: 'global' as const, settings: { seed: 1, lr: 0.0002 }, config };
    const values = { ...parse(['--lr', '0.0002', '--max-steps', '9']) };
    checkResumeFlags(stored, 'global', new Set(['lr', 'maxSteps'] as const), values, 1);
    assert.throws(() => checkResumeFlags(stored, 'global', new Set(['lr'] as const), { ...values, lr: 0.1 }, 1), UsageError);
    assert.throws(() => checkResumeFlags(stored, 'local', new Set(), values, 1), UsageError);
    assert.throws(() => checkResumeFlags(stored, 'global', new Set(), values, 2), UsageError, 'another seed');
  });
});

describe('lr schedule (reference update_learning_rate)', () => {
  it('is constant through epoch niter + 1, then drops lr / niter_decay per epoch', () => {
    const schedule = { lr: 0.0002, epochs: 100, decayEpochs: 100 };
    assert.equal(learningRateForEpoch(schedule, 1), 0.0002);
    assert.equal(learningRateForEpoch(schedule, 101), 0.0002);
    assert.ok(Math.abs(learningRateForEpoch(schedule, 102) - 0.000198) < 1e-15);
    assert.ok(Math.abs(learningRateForEpoch(schedule, 200) - 0.000002) < 1e-12);
    assert.equal(learningRateForEpoch({ lr: 0.1, epochs: 3, decayEpochs: 0 }, 3), 0.1);
  });
});

describe('Adam (torch.optim.Adam)', () => {
  for (const [path, makeSlot] of [
    ['JavaScript loop', createSlot],
    ['wasm SIMD kernel', createSharedSlot],
  ] as const) {
    it(`first steps match the closed form in float64 within float32 rounding (${path})`, () => {
      const weights = Float32Array.of(1, -2, 0.5);
      const slot = makeSlot(weights);
      assert.equal(slot.memory !== undefined, path === 'wasm SIMD kernel');
      const hyper = { lr: 0.01, beta1: 0.9, beta2: 0.999, epsilon: 1e-8 };
      const gradients = [Float32Array.of(0.1, -0.2, 0), Float32Array.of(0.3, 0.1, 0)];
      const m = [0, 0, 0];
      const v = [0, 0, 0];
      const w = [1, -2, 0.5];
      gradients.forEach((g, t) => {
        adamUpdate(slot, g, t + 1, hyper);
        for (let i = 0; i < 3; i++) {
          m[i] = 0.9 * m[i]! + 0.1 * g[i]!;
          v[i] = 0.999 * v[i]! + 0.001 * g[i]! * g[i]!;
          const mHat = m[i]! / (1 - 0.9 ** (t + 1));
          const denom = Math.sqrt(v[i]!) / Math.sqrt(1 - 0.999 ** (t + 1)) + 1e-8;
          w[i] = w[i]! - (0.01 * mHat) / denom / 1;
          assert.ok(Math.abs(slot.weights[i]! - w[i]!) < 1e-6, `step ${t + 1} weight ${i}: ${slot.weights[i]} vs ${w[i]}`);
        }
      });
      assert.equal(slot.weights[2], 0.5, 'a zero gradient leaves the weight');
    });
  }
});

describe('image pool (reference ImagePool)', () => {
  it('fills first, then swaps with probability 1/2; restored pools draw the same', () => {
    const pool = new ImagePool(2);
    const random = new Random(3);
    const image = (value: number): Float32Array => Float32Array.of(value, value);
    assert.deepEqual([...pool.query(image(1), 1, random)], [1, 1]);
    assert.deepEqual([...pool.query(image(2), 1, random)], [2, 2]);
    assert.equal(pool.size, 2);
    const copy = new ImagePool(2);
    copy.restore(pool.stored().map((stored) => Float32Array.from(stored)));
    const a = new Random(9);
    const b = new Random(9);
    for (let i = 0; i < 10; i++) assert.deepEqual([...pool.query(image(10 + i), 1, a)], [...copy.query(image(10 + i), 1, b)]);
    assert.equal(new ImagePool(0).query(image(5), 1, random)[0], 5);
  });
});

describe('data order and crops', () => {
  it('shuffles per epoch from the seed; --serial keeps sorted order', () => {
    assert.deepEqual(epochOrder(5, 1, 7, true), [0, 1, 2, 3, 4]);
    assert.deepEqual(epochOrder(20, 2, 7, false), epochOrder(20, 2, 7, false));
    assert.notDeepEqual(epochOrder(20, 1, 7, false), epochOrder(20, 2, 7, false));
    assert.deepEqual([...epochOrder(20, 3, 7, false)].sort((a, b) => a - b), Array.from({ length: 20 }, (_, i) => i));
  });
  it('crops to fine_size in *crop modes, trims to the generator multiple, flips unless told not to', () => {
    const info = { height: 100, width: 300, mode: 'scale_width_and_crop', fineSize: 64 };
    const plan = planCrop(info, 16, new Random(1), true);
    assert.equal(plan.width, 64);
    assert.equal(plan.height, 64);
    assert.ok(plan.x >= 0 && plan.x + plan.width <= 300 && plan.y >= 0 && plan.y + plan.height <= 100);
    const whole = planCrop({ ...info, mode: 'none' }, 16, new Random(1), false);
    assert.deepEqual({ x: whole.x, y: whole.y, width: whole.width, height: whole.height, flip: whole.flip }, { x: 6, y: 2, width: 288, height: 96, flip: false });
    assert.deepEqual(fitToMultiple({ x: 0, y: 0, width: 32, height: 32, flip: true }, 16), { x: 0, y: 0, width: 32, height: 32, flip: true });
  });
});

describe('optimizer file layouts', () => {
  it('moments of conv weights are stored in the reference layout, as checkpoints store weights', async () => {
    const tf = await import('@tensorflow/tfjs-core');
    await import('@tensorflow/tfjs-backend-cpu');
    await tf.setBackend('cpu');
    const { toReferenceTensor } = await import('../../src/model/params.js');
    const { momentFromReference, momentToReference } = await import('../../src/train/model.js');
    const random = new Random(4);
    for (const spec of [
      { key: 'G.model.1.weight', role: 'convWeight', shape: [7, 7, 6, 4], fanIn: 294 },
      { key: 'G.model.12.weight', role: 'convTransposeWeight', shape: [3, 3, 8, 16], fanIn: 72 },
      { key: 'G.model.1.bias', role: 'convBias', shape: [4], fanIn: 294 },
    ] as const) {
      const data = random.fillNormal(new Float32Array(spec.shape.reduce((a, b) => a * b, 1)), 0, 1);
      const expected = toReferenceTensor(spec, tf.tensor(data, [...spec.shape]));
      const ours = momentToReference(spec, data);
      assert.deepEqual([...ours], [...(expected.data as Float32Array)], spec.key);
      const back = new Float32Array(data.length);
      momentFromReference(spec, ours, back);
      assert.deepEqual([...back], [...data]);
    }
  });
});
