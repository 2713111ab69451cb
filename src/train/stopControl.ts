/**
 * When an unattended run must stop: SIGTERM / SIGINT (finish the step, save,
 * exit 75), a second signal (exit at once; the last checkpoint on disk stays
 * intact because every save is write-then-rename), and --time-limit (stop
 * early enough that the step in flight and the save both fit).
 *
 * A training step is one long synchronous computation, and Node runs signal
 * listeners only between such computations. So the first signal's listener
 * (which runs once the step ends) removes itself: a later signal then takes
 * Node's default action and ends the process immediately, even mid-step or
 * mid-save (exit 128 + signal number: 143 for SIGTERM, 130 for SIGINT). Two
 * signals that both arrive during one step reach the listener together; the
 * second then exits at once through `onSecondSignal`.
 */

export interface StopControlOptions {
  /** --time-limit in minutes. */
  timeLimitMinutes?: number;
  /** Called on the first signal (a log line). */
  onFirstSignal: (signal: NodeJS.Signals) => void;
  /** Called on a second signal: must end the process. */
  onSecondSignal: (signal: NodeJS.Signals) => never;
}

/** Wall-time margin kept before the limit, beyond the predicted step and save. */
const SAFETY_SECONDS = 5;

export class StopControl {
  private signal: NodeJS.Signals | undefined;
  private readonly deadline: number | undefined;
  private readonly handlers: Array<[NodeJS.Signals, () => void]> = [];
  private longestStepSeconds = 0;
  private longestSaveSeconds = 0;

  constructor(private readonly options: StopControlOptions) {
    // The limit counts from the process's start, as a batch system's wall clock does.
    const started = Date.now() - process.uptime() * 1000;
    this.deadline = options.timeLimitMinutes === undefined ? undefined : started + options.timeLimitMinutes * 60_000;
  }

  install(): void {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      const handler = (): void => {
        if (this.signal !== undefined) this.options.onSecondSignal(signal);
        this.signal = signal;
        this.options.onFirstSignal(signal);
        this.uninstall();
      };
      process.on(signal, handler);
      this.handlers.push([signal, handler]);
    }
  }

  uninstall(): void {
    for (const [signal, handler] of this.handlers) process.off(signal, handler);
    this.handlers.length = 0;
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
