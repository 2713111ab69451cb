/**
 * The page's side of rendering, shared by both editors: at most one request
 * in flight and one pending (the newest state; a full render outranks a
 * preview), results cached by the state's key so undo is instant, a
 * progress bar with an estimate from the last pass, and the result view
 * (with a before/after or real-image comparison).
 */
import { fetchImage } from './api.js';
import { byId, setStatus } from './dom.js';
import type { RenderReply } from '../shared/protocol.js';

/** Rendered full-resolution images kept for instant undo. */
const CACHE_IMAGES = 48;

/** What the renderer asks of its editor. */
export interface RenderSource {
  /** The current state's key (equal keys, equal images). */
  stateKey(): string;
  /** Posts the current state for a render at `scale` (1 or the preview scale). */
  post(scale: number): Promise<RenderReply>;
  /** Whether a stroke is under way (a full render waits for its end). */
  stroking(): boolean;
}

/** What the result view shows instead of the current image: the first render, or the input's real image. */
export type Comparison = 'before' | 'real' | undefined;

export class Renderer {
  readonly cache = new Map<string, ImageBitmap>();
  shownKey = '';
  inflight = false;
  pending: 1 | 'preview' | undefined;
  fullTimer: number | undefined;
  lastFullSeconds = 0;
  lastPreviewSeconds = 0;
  renderStarted = 0;
  renderEstimate = 0;
  firstImage: ImageBitmap | undefined;
  /** A real image to compare with (pix2pix's B), when the input has one. */
  realImage: ImageBitmap | undefined;
  compare: Comparison;
  fullRequests = 0;

  constructor(
    private readonly source: RenderSource,
    readonly canvas: HTMLCanvasElement,
    private readonly size: { readonly width: number; readonly height: number; readonly previewScale: number; readonly backend: string },
  ) {}

  /** After an edit: the cached image at once, else a full render after `delay` ms (not while a stroke lasts). */
  scheduleFull(delay: number): void {
    if (this.fullTimer !== undefined) clearTimeout(this.fullTimer);
    this.fullTimer = undefined;
    const key = this.source.stateKey();
    const hit = this.cache.get(key);
    if (hit) {
      this.show(hit, key, false);
      return;
    }
    if (delay <= 0) this.request(1);
    else
      this.fullTimer = window.setTimeout(() => {
        this.fullTimer = undefined;
        if (!this.source.stroking()) this.request(1);
      }, delay);
  }

  cancelFull(): void {
    if (this.fullTimer !== undefined) clearTimeout(this.fullTimer);
    this.fullTimer = undefined;
  }

  request(scale: 1 | 'preview'): void {
    if (this.inflight) {
      this.pending = scale === 1 || this.pending === 1 ? 1 : 'preview';
      return;
    }
    const key = this.source.stateKey();
    if (scale === 1) {
      const hit = this.cache.get(key);
      if (hit) {
        this.show(hit, key, false);
        return;
      }
      this.fullRequests++;
    }
    this.inflight = true;
    this.startProgress(scale === 1 ? this.lastFullSeconds : this.lastPreviewSeconds, scale === 1 ? 'rendering' : 'preview');
    this.source
      .post(scale === 1 ? 1 : this.size.previewScale)
      .then(async (reply) => {
        if (!reply.image) return;
        const bitmap = await fetchImage(reply.image);
        if (scale === 1) {
          if (!reply.cached) this.lastFullSeconds = reply.seconds ?? this.lastFullSeconds;
          this.remember(key, bitmap);
          if (!this.firstImage) this.firstImage = bitmap;
          // A result for a state that is no longer current is kept in the cache, not shown.
          if (key === this.source.stateKey()) this.show(bitmap, key, false);
        } else {
          if (!reply.cached) this.lastPreviewSeconds = reply.seconds ?? this.lastPreviewSeconds;
          if (this.shownKey !== this.source.stateKey()) this.show(bitmap, key, true);
        }
      })
      .catch((error: unknown) => setStatus(`render failed: ${(error as Error).message}`))
      .finally(() => {
        this.inflight = false;
        this.stopProgress();
        const next = this.pending;
        this.pending = undefined;
        if (next !== undefined) this.request(next);
      });
  }

  remember(key: string, bitmap: ImageBitmap): void {
    this.cache.delete(key);
    this.cache.set(key, bitmap);
    while (this.cache.size > CACHE_IMAGES) {
      const oldest = this.cache.keys().next().value!;
      if (this.cache.get(oldest) !== this.firstImage) this.cache.get(oldest)!.close();
      this.cache.delete(oldest);
    }
  }

  show(bitmap: ImageBitmap, key: string, preview: boolean): void {
    const { width, height } = this.size;
    const context = this.canvas.getContext('2d')!;
    context.imageSmoothingEnabled = false;
    context.clearRect(0, 0, width, height);
    const other = this.compare === 'before' ? this.firstImage : this.compare === 'real' ? this.realImage : undefined;
    context.drawImage(other ?? bitmap, 0, 0, width, height);
    this.shownKey = preview ? '' : key;
    byId<HTMLElement>('badge').textContent = other ? (this.compare === 'real' ? 'real B' : 'before') : preview ? 'preview' : '';
    if (!preview) setStatus(`${width}x${height}, ${this.size.backend}; last pass ${this.lastFullSeconds.toFixed(2)} s`);
  }

  /** Switches the comparison (the same again turns it off) and redraws. */
  toggleCompare(which: Exclude<Comparison, undefined>): void {
    this.compare = this.compare === which ? undefined : which;
    const key = this.source.stateKey();
    const current = this.cache.get(key);
    if (current) this.show(current, key, false);
    else if (this.firstImage && this.compare !== undefined) this.show(this.firstImage, '', false);
  }

  get idle(): boolean {
    return !this.inflight && this.pending === undefined && this.fullTimer === undefined;
  }

  startProgress(estimate: number, what: string): void {
    this.renderStarted = performance.now();
    this.renderEstimate = estimate;
    const progress = byId<HTMLProgressElement>('progress');
    progress.classList.add('running');
    setStatus(estimate > 0 ? `${what}… (about ${estimate.toFixed(2)} s, as the last pass)` : `${what}…`);
    const tick = (): void => {
      if (!this.inflight) return;
      const elapsed = (performance.now() - this.renderStarted) / 1000;
      progress.value = this.renderEstimate > 0 ? Math.min(0.97, elapsed / this.renderEstimate) : elapsed % 1;
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  }

  stopProgress(): void {
    const progress = byId<HTMLProgressElement>('progress');
    progress.classList.remove('running');
    progress.value = 0;
  }
}
