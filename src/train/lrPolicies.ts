/**
 * The reference pix2pix's learning-rate policies (pytorch-CycleGAN-and-pix2pix
 * models/networks.py get_scheduler), as pure functions of the epoch, for
 * `--lr-policy linear|step|plateau|cosine`. (pix2pixHD's own schedule is
 * schedule.ts.)
 *
 * How the reference drives them (train.py at 2a7afba and since): a scheduler
 * is made at setup (PyTorch's constructor sets last_epoch 0), epochs run from
 * epoch_count to n_epochs + n_epochs_decay, and update_learning_rate() calls
 * scheduler.step() at the END of every epoch. So during epoch e the scheduler
 * has stepped k = e - epoch_count times, and the rate in force is the
 * scheduler's after k steps:
 *
 * - linear: LambdaLR, lr * (1 - max(0, k + epoch_count - n_epochs) / (n_epochs_decay + 1))
 *   = lr * (1 - max(0, e - n_epochs) / (n_epochs_decay + 1)): n_epochs epochs
 *   at lr, then down by lr / (n_epochs_decay + 1) per epoch (never 0 within
 *   the run). Unlike pix2pixHD's (schedule.ts).
 * - step: StepLR(step_size = lr_decay_iters, gamma 0.1): the rate is
 *   multiplied by 0.1 (in float, step after step, as PyTorch's chained form)
 *   whenever k reaches a multiple of lr_decay_iters. Counted in epochs,
 *   despite the flag's name.
 * - plateau: ReduceLROnPlateau(mode min, factor 0.2, threshold 0.01 (rel),
 *   patience 5, cooldown 0, min_lr 0, eps 1e-8), stepped with the model's
 *   `metric`, which pix2pix never sets: it is always 0. So the first step
 *   sets best = 0, every later one is "no improvement" (0 < 0 * 0.99 fails),
 *   and the rate is multiplied by 0.2 after every 6th bad epoch (k = 7, 13,
 *   19, ...), while the drop exceeds eps. p2phd reproduces exactly that; a
 *   real metric would need a validation loss the reference never computes.
 * - cosine: CosineAnnealingLR(T_max = n_epochs, eta_min 0), PyTorch's
 *   recursive form: down to 0 at k = n_epochs, then back up (period
 *   2 * n_epochs), as the reference's runs do over n_epochs + n_epochs_decay
 *   epochs; n_epochs_decay does not shape it.
 *
 * Resuming with --epoch-count: the reference builds a fresh scheduler, so k
 * restarts at 0 there; the functions here take epoch_count and do the same.
 * Rates are computed by replaying the steps in double precision, so they
 * equal PyTorch's bit for bit except where its math.cos and V8's differ in
 * the last place (cosine only).
 */

export const LR_POLICIES = Object.freeze(['linear', 'step', 'plateau', 'cosine'] as const);
export type LrPolicy = (typeof LR_POLICIES)[number];

/** The reference's defaults (options/train_options.py). */
export const LR_POLICY_DEFAULTS = Object.freeze({
  policy: 'linear' as LrPolicy,
  lr: 0.0002,
  nEpochs: 100,
  nEpochsDecay: 100,
  lrDecayIters: 50,
  epochCount: 1,
});

export interface LrPolicySettings {
  policy: LrPolicy;
  /** Initial rate (--lr). */
  lr: number;
  /** --n-epochs (reference n_epochs, older niter). */
  nEpochs: number;
  /** --n-epochs-decay (niter_decay). */
  nEpochsDecay: number;
  /** --lr-decay-iters: the step policy's period, in epochs. */
  lrDecayIters: number;
  /** --epoch-count: the first epoch's number. */
  epochCount: number;
}

/** The last epoch of the run: n_epochs + n_epochs_decay (the reference's loop bound). */
export function lastEpoch(settings: Pick<LrPolicySettings, 'nEpochs' | 'nEpochsDecay'>): number {
  return settings.nEpochs + settings.nEpochsDecay;
}

/** ReduceLROnPlateau's reduction, as the reference configures it. */
const PLATEAU = Object.freeze({ factor: 0.2, threshold: 0.01, patience: 5, minLr: 0, eps: 1e-8 });

/** The reference's plateau scheduler, stepped with a metric (always 0 in pix2pix). */
export class PlateauScheduler {
  private best = Infinity;
  private badEpochs = 0;

  constructor(public lr: number) {}

  /** One end-of-epoch step with `metric`; returns the new rate. */
  step(metric: number): number {
    if (metric < this.best * (1 - PLATEAU.threshold)) {
      this.best = metric;
      this.badEpochs = 0;
    } else {
      this.badEpochs += 1;
    }
    if (this.badEpochs > PLATEAU.patience) {
      const reduced = Math.max(this.lr * PLATEAU.factor, PLATEAU.minLr);
      if (this.lr - reduced > PLATEAU.eps) this.lr = reduced;
      this.badEpochs = 0;
    }
    return this.lr;
  }
}

/** The rate after `k` end-of-epoch steps of the policy's scheduler. */
function rateAfterSteps(settings: LrPolicySettings, k: number): number {
  const { lr, nEpochs, nEpochsDecay, epochCount } = settings;
  switch (settings.policy) {
    case 'linear':
      return lr * (1.0 - Math.max(0, k + epochCount - nEpochs) / (nEpochsDecay + 1));
    case 'step': {
      let rate = lr;
      for (let step = 1; step <= k; step++) if (step % settings.lrDecayIters === 0) rate *= 0.1;
      return rate;
    }
    case 'plateau': {
      const scheduler = new PlateauScheduler(lr);
      for (let step = 1; step <= k; step++) scheduler.step(0);
      return scheduler.lr;
    }
    case 'cosine': {
      const tMax = nEpochs;
      let rate = lr;
      for (let step = 1; step <= k; step++) {
        if ((step - 1 - tMax) % (2 * tMax) === 0) {
          rate = rate + (lr * (1 - Math.cos(Math.PI / tMax))) / 2;
        } else {
          rate = ((1 + Math.cos((Math.PI * step) / tMax)) / (1 + Math.cos((Math.PI * (step - 1)) / tMax))) * rate;
        }
      }
      return rate;
    }
  }
}

/** Checks the settings the way the flags promise (positive periods, epoch_count >= 1). */
export function checkLrPolicySettings(settings: LrPolicySettings): void {
  if (!(LR_POLICIES as readonly string[]).includes(settings.policy)) throw new RangeError(`lr policy must be one of ${LR_POLICIES.join(', ')}, got ${settings.policy}`);
  if (!Number.isInteger(settings.epochCount) || settings.epochCount < 1) throw new RangeError(`epoch_count must be an integer >= 1, got ${settings.epochCount}`);
  if (settings.policy === 'step' && !(Number.isInteger(settings.lrDecayIters) && settings.lrDecayIters >= 1)) {
    throw new RangeError(`lr_decay_iters must be an integer >= 1, got ${settings.lrDecayIters}`);
  }
  if (settings.policy === 'cosine' && !(Number.isInteger(settings.nEpochs) && settings.nEpochs >= 1)) {
    throw new RangeError(`the cosine policy needs n_epochs >= 1 (its T_max), got ${settings.nEpochs}`);
  }
}

/** The learning rate in force during `epoch` (numbered as the reference numbers them, from epoch_count). */
export function policyLearningRate(settings: LrPolicySettings, epoch: number): number {
  checkLrPolicySettings(settings);
  if (!Number.isInteger(epoch) || epoch < settings.epochCount) {
    throw new RangeError(`policyLearningRate: epoch must be an integer >= epoch_count ${settings.epochCount}, got ${epoch}`);
  }
  return rateAfterSteps(settings, epoch - settings.epochCount);
}
