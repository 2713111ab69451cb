/**
 * Extending a run (the reference's issue #147): `--resume` with other
 * `--epochs` / `--decay-epochs` continues under the new schedule as if it
 * had been given from the start. The rate of every epoch from the resume
 * point on is the new schedule's (learningRateForEpoch is a function of the
 * epoch number, so nothing else has to be carried over); epochs already run
 * keep the rate they ran at. An epoch already in progress finishes at the
 * rate it started with: the new schedule takes over at the next epoch
 * boundary. So extending a finished 10 + 10 run to 10 + 20 trains epoch 21
 * at lr - 10 * lr / 20 = lr / 2, what an uninterrupted 10 + 20 run has there.
 *
 * What cannot change: a schedule shorter than the epochs already finished
 * (they cannot be undone), and every other setting (checkResumeFlags).
 */
import { UsageError } from '../errors.js';
import { learningRateForEpoch, totalEpochs, type Schedule } from './schedule.js';

export interface ScheduleChange {
  /** The schedule from now on. */
  readonly schedule: Schedule;
  /** Whether it differs from the recorded one (options.json is then updated). */
  readonly changed: boolean;
  /** For the log. */
  readonly message?: string;
}

/**
 * Checks a schedule given on --resume against the run's (`recorded`) at
 * `position` (the next batch is batch `index` of `epoch`).
 */
export function checkScheduleChange(recorded: Schedule, requested: Schedule, position: { epoch: number; index: number }): ScheduleChange {
  const changed = recorded.epochs !== requested.epochs || recorded.decayEpochs !== requested.decayEpochs;
  if (!changed) return { schedule: recorded, changed: false };
  const finished = position.epoch - 1;
  const inProgress = position.index > 0 ? position.epoch : finished;
  const total = totalEpochs(requested);
  if (total < inProgress) {
    throw new UsageError(
      `--resume: --epochs ${requested.epochs} + --decay-epochs ${requested.decayEpochs} = ${total} epochs, but the run has already ` +
        `${position.index > 0 ? `started epoch ${inProgress}` : `finished ${finished}`}; a schedule cannot end before the epochs already trained`,
    );
  }
  const next = position.index > 0 ? position.epoch + 1 : position.epoch;
  const detail =
    next <= total
      ? `epoch ${next} trains at lr ${learningRateForEpoch(requested, next)} (the old schedule: ${next <= totalEpochs(recorded) ? learningRateForEpoch(recorded, next) : 'ended'})`
      : 'no epoch is left to train';
  return {
    schedule: requested,
    changed: true,
    message:
      `--resume: schedule changed from ${recorded.epochs} + ${recorded.decayEpochs} to ${requested.epochs} + ${requested.decayEpochs} epochs ` +
      `from the next epoch boundary on; ${detail}`,
  };
}

/**
 * The rate of the epoch the loop is entering: the schedule's, except for an
 * epoch a resumed run re-enters mid-way, which keeps the rate it ran at
 * (`resumedMidEpochLr`, from the optimizer file).
 */
export function epochLearningRate(schedule: Schedule, epoch: number, resumedMidEpochLr: number | undefined): number {
  return resumedMidEpochLr ?? learningRateForEpoch(schedule, epoch);
}
