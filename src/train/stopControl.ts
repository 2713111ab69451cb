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

export class StopControl {
  private signal: StopSignal | undefined;
  private readonly deadline: number | undefined;
  private release: (() => void) | undefined;
  private longestStepSeconds = 0;
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
