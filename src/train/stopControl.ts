/**
 * When an unattended run must stop: SIGTERM / SIGINT (finish the step, save,
 * exit 75), a second signal (exit at once: 75 when a resumable checkpoint is
 * on disk, else 143 / 130; the last checkpoint stays intact because every
 * save is write-then-rename, and the exit hooks remove the save's temporary
 * files), and --time-limit (stop early enough that the step in flight and
 * the save both fit).
 *
 * Signals reach this class through the process-wide routing of
 * src/lifecycle.ts, which hands it every SIGTERM and SIGINT while it is
 * installed. Node runs signal listeners only between synchronous
 * computations, so a first signal during a step is seen when the step ends;
 * after it no other step starts, only the save, whose writes are
 * asynchronous, so a second signal is seen within one write.
 *
 * A step that may outlast that patience (the run's first step in this
 * process, whose length is unknown, and every step once one took longer
 * than LONG_STEP_SECONDS: the cpu backend at full size takes minutes) runs
 * with the signals' default action instead (lifecycle.ts,
 * computeWithSignalsEndingAtOnce): a signal during it ends the process at
 * once (143 / 130), without a save; the last saved checkpoint is intact and
 * --resume continues from it. A step writes nothing, so nothing is torn.
 */
import type { StopSignal } from '../errors.js';
import { onStopSignal } from '../lifecycle.js';

export interface StopControlOptions {
  /** --time-limit in minutes. */
  timeLimitMinutes?: number;
  /** Called on the first signal (a log line). */
  onFirstSignal: (signal: StopSignal) => void;
  /** Called on a second signal: must end the process. */
  onSecondSignal: (signal: StopSignal) => never;
}

/** Wall-time margin kept before the limit, beyond the predicted step and save. */
const SAFETY_SECONDS = 5;

/**
 * A step longer than this makes a signal wait too long for the step's end
 * (a batch system's grace period is typically 30 s, for the step and the
 * save together): later steps let a signal end the process at once.
 */
export const LONG_STEP_SECONDS = 10;

export class StopControl {
  private signal: StopSignal | undefined;
  private readonly deadline: number | undefined;
  private release: (() => void) | undefined;
  private longestStepSeconds = 0;
  private stepsRecorded = 0;
  private longestSaveSeconds = 0;

  constructor(private readonly options: StopControlOptions) {
    // The limit counts from the process's start, as a batch system's wall clock does.
    const started = Date.now() - process.uptime() * 1000;
    this.deadline = options.timeLimitMinutes === undefined ? undefined : started + options.timeLimitMinutes * 60_000;
  }

  install(): void {
    this.release ??= onStopSignal((signal) => {
      if (this.signal !== undefined) this.options.onSecondSignal(signal);
      this.signal = signal;
      this.options.onFirstSignal(signal);
    });
  }

  uninstall(): void {
    this.release?.();
    this.release = undefined;
  }

  /** The signal that asked for the stop, if one did. */
  get receivedSignal(): StopSignal | undefined {
    return this.signal;
  }

  recordStep(seconds: number): void {
    this.longestStepSeconds = Math.max(this.longestStepSeconds, seconds);
    this.stepsRecorded += 1;
  }

  /**
   * Whether the next step may run too long to wait for before a signal is
   * seen: the first step (its length unknown), or any once a step took
   * longer than LONG_STEP_SECONDS. Such a step runs with signals ending the
   * process at once (see the module comment).
   */
  nextStepMayOutlastSignals(): boolean {
    return this.stepsRecorded === 0 || this.longestStepSeconds > LONG_STEP_SECONDS;
  }

  recordSave(seconds: number): void {
    this.longestSaveSeconds = Math.max(this.longestSaveSeconds, seconds);
  }

  /**
   * Why the run must stop before its next step, or undefined to go on. The
   * time limit counts the next step and a save after it (the longest seen of
   * each), plus a margin, so the save lands before the limit.
   */
  reasonToStop(): string | undefined {
    if (this.signal !== undefined) return `${this.signal} received`;
    if (this.deadline !== undefined) {
      const needed = (this.longestStepSeconds + this.longestSaveSeconds + SAFETY_SECONDS) * 1000;
      if (Date.now() + needed > this.deadline) return `--time-limit ${this.options.timeLimitMinutes} minutes reached`;
    }
    return undefined;
  }
}
