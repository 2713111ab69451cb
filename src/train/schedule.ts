/**
 * The reference's learning-rate schedule (train.py + update_learning_rate):
 * epochs are numbered from 1; after each epoch e with e > niter the rate
 * drops by lr / niter_decay. So epochs 1..niter+1 run at lr, epoch niter+1+k
 * at lr - k * lr / niter_decay, and the last epoch (niter + niter_decay) at
 * lr / niter_decay: the rate reaches zero only after training ends.
 *
 * The rate is recomputed from the epoch number by the same repeated
 * subtraction (in double precision, as Python does), so a resumed run gets
 * exactly the rate an uninterrupted one would have.
 */

export interface Schedule {
  /** Initial rate (--lr). */
  readonly lr: number;
  /** Epochs at the initial rate (--epochs, reference niter). */
  readonly epochs: number;
  /** Epochs of linear decay (--decay-epochs, reference niter_decay). */
  readonly decayEpochs: number;
}

/** Total epochs of the run. */
export function totalEpochs(schedule: Schedule): number {
  return schedule.epochs + schedule.decayEpochs;
}

/** The learning rate in force during `epoch` (1-based). */
export function learningRateForEpoch(schedule: Schedule, epoch: number): number {
  if (!Number.isInteger(epoch) || epoch < 1) throw new RangeError(`learningRateForEpoch: epoch must be an integer >= 1, got ${epoch}`);
  let rate = schedule.lr;
  if (schedule.decayEpochs === 0) return rate;
  const decrement = schedule.lr / schedule.decayEpochs;
  // update_learning_rate() runs at the end of every epoch e > niter, before epoch e + 1.
  for (let ended = schedule.epochs + 1; ended < epoch; ended++) rate -= decrement;
  return rate;
}
