/**
 * What runs on the inference thread, and when. The main lane holds at most
 * one pass running and one pending; a newer request replaces the pending
 * one (which is answered "superseded"), so the editor always converges on
 * its newest state. Style-gallery thumbnails wait in their own lane and run
 * only while the main lane is empty. Results are cached by the state's key,
 * so an undo to a state seen before costs no pass; a request for the state
 * that is running joins it.
 */

export interface QueueJob<Result> {
  /** The state's key (equal keys give equal results). */
  readonly key: string;
  run(): Promise<Result>;
}

export type QueueOutcome<Result> = { readonly result: Result; readonly cached: boolean } | { readonly superseded: true };

interface Waiting<Result> {
  readonly job: QueueJob<Result>;
  readonly settle: Array<{ resolve: (outcome: QueueOutcome<Result>) => void; reject: (error: unknown) => void }>;
}

/** Most gallery thumbnails waiting; older ones are dropped first. */
const MAX_THUMBS_WAITING = 32;

export class RenderQueue<Result> {
  private running: { key: string; promise: Promise<Result> } | undefined;
  private pending: Waiting<Result> | undefined;
  private readonly thumbs: Waiting<Result>[] = [];
  private readonly cache = new Map<string, Result>();

  constructor(private readonly cacheSize = 64) {}

  /** Passes run so far. */
  passes = 0;

  cached(key: string): Result | undefined {
    const hit = this.cache.get(key);
    if (hit !== undefined) {
      // Most recently used last.
      this.cache.delete(key);
      this.cache.set(key, hit);
    }
    return hit;
  }

  /** Main lane: newest wins. */
  submit(job: QueueJob<Result>): Promise<QueueOutcome<Result>> {
    return this.enqueue(job, 'main');
  }

  /** Thumbnail lane: runs when the main lane is idle. */
  submitThumb(job: QueueJob<Result>): Promise<QueueOutcome<Result>> {
    return this.enqueue(job, 'thumb');
  }

  private enqueue(job: QueueJob<Result>, lane: 'main' | 'thumb'): Promise<QueueOutcome<Result>> {
    const hit = this.cached(job.key);
    if (hit !== undefined) return Promise.resolve({ result: hit, cached: true });
    if (this.running?.key === job.key) return this.running.promise.then((result) => ({ result, cached: true }));
    return new Promise<QueueOutcome<Result>>((resolve, reject) => {
      if (lane === 'main') {
        if (this.pending?.job.key === job.key) {
          this.pending.settle.push({ resolve, reject });
        } else {
          for (const waiter of this.pending?.settle ?? []) waiter.resolve({ superseded: true });
          this.pending = { job, settle: [{ resolve, reject }] };
        }
      } else {
        const same = this.thumbs.find((entry) => entry.job.key === job.key);
        if (same) same.settle.push({ resolve, reject });
        else {
          this.thumbs.push({ job, settle: [{ resolve, reject }] });
          while (this.thumbs.length > MAX_THUMBS_WAITING) for (const waiter of this.thumbs.shift()!.settle) waiter.resolve({ superseded: true });
        }
      }
      this.pump();
    });
  }

  private pump(): void {
    if (this.running) return;
    const next = this.pending ?? this.thumbs.shift();
    if (next === this.pending) this.pending = undefined;
    if (!next) return;
    const hit = this.cached(next.job.key);
    if (hit !== undefined) {
      for (const waiter of next.settle) waiter.resolve({ result: hit, cached: true });
      this.pump();
      return;
    }
    this.passes++;
    const promise = next.job.run();
    this.running = { key: next.job.key, promise };
    promise.then(
      (result) => {
        this.cache.set(next.job.key, result);
        while (this.cache.size > this.cacheSize) this.cache.delete(this.cache.keys().next().value!);
        for (const waiter of next.settle) waiter.resolve({ result, cached: false });
      },
      (error: unknown) => {
        for (const waiter of next.settle) waiter.reject(error);
      },
    ).finally(() => {
      this.running = undefined;
      this.pump();
    });
  }

  /** Whether a pass is running or waiting. */
  get busy(): boolean {
    return this.running !== undefined || this.pending !== undefined || this.thumbs.length > 0;
  }
}
