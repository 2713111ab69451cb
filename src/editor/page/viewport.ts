/**
 * Zoom and pan of the two views (nearest-neighbour display: CSS transforms
 * of canvases at image size, `image-rendering: pixelated`), the view mode
 * (side by side, overlay, result only), and image coordinates of pointer
 * events. Shared by both editors.
 */
import { byId } from './dom.js';

export type ViewMode = 'side' | 'overlay' | 'result';

export class Viewport {
  zoom = 1;
  panX = 0;
  panY = 0;
  view: ViewMode = 'side';
  panning: { pointer: number; x: number; y: number } | undefined;
  spaceDown = false;

  constructor(
    private readonly width: number,
    private readonly height: number,
    private readonly canvases: readonly HTMLCanvasElement[],
    /** Called when the overlay view needs redrawing. */
    private readonly drawOverlay: () => void,
  ) {}

  applyTransform(): void {
    const transform = `translate(${this.panX}px, ${this.panY}px) scale(${this.zoom})`;
    for (const canvas of this.canvases) canvas.style.transform = transform;
    byId<HTMLOutputElement>('zoom-value').value = `${this.zoom >= 1 ? this.zoom : this.zoom.toFixed(2)}x`;
  }

  zoomFit(): void {
    const view = byId<HTMLElement>(this.view === 'side' ? 'label-view' : 'result-view');
    const fit = Math.min(view.clientWidth / this.width, view.clientHeight / this.height);
    this.zoom = fit >= 1 ? Math.floor(fit) : 2 ** Math.floor(Math.log2(fit));
    this.panX = Math.floor((view.clientWidth - this.width * this.zoom) / 2);
    this.panY = Math.floor((view.clientHeight - this.height * this.zoom) / 2);
    this.applyTransform();
  }

  zoomBy(factor: number, centreX?: number, centreY?: number): void {
    const view = byId<HTMLElement>('result-view');
    const cx = centreX ?? view.clientWidth / 2;
    const cy = centreY ?? view.clientHeight / 2;
    const next = Math.min(32, Math.max(1 / 8, this.zoom * factor));
    this.panX = Math.round(cx - ((cx - this.panX) * next) / this.zoom);
    this.panY = Math.round(cy - ((cy - this.panY) * next) / this.zoom);
    this.zoom = next;
    this.applyTransform();
  }

  setView(view: ViewMode): void {
    this.view = view;
    document.body.classList.remove('view-side', 'view-overlay', 'view-result');
    document.body.classList.add(`view-${view}`);
    byId<HTMLElement>('result-view').classList.toggle('paintable', view !== 'side');
    if (view === 'overlay') this.drawOverlay();
  }

  /** Image coordinates (continuous) of a pointer event over a view. */
  imagePoint(event: { clientX: number; clientY: number }, view: HTMLElement): { x: number; y: number } {
    const rect = view.getBoundingClientRect();
    return { x: (event.clientX - rect.left - view.clientLeft - this.panX) / this.zoom, y: (event.clientY - rect.top - view.clientTop - this.panY) / this.zoom };
  }

  pixelAt(point: { x: number; y: number }): number | undefined {
    const x = Math.floor(point.x);
    const y = Math.floor(point.y);
    return x >= 0 && y >= 0 && x < this.width && y < this.height ? y * this.width + x : undefined;
  }

  /** Middle button or space + left starts a pan; returns whether it did. */
  startPan(event: PointerEvent, view: HTMLElement): boolean {
    if (!(event.button === 1 || (event.button === 0 && this.spaceDown))) return false;
    this.panning = { pointer: event.pointerId, x: event.clientX - this.panX, y: event.clientY - this.panY };
    view.setPointerCapture(event.pointerId);
    return true;
  }

  /** Moves a pan under way; returns whether the event was the pan's. */
  movePan(event: PointerEvent): boolean {
    if (!this.panning || event.pointerId !== this.panning.pointer) return false;
    this.panX = event.clientX - this.panning.x;
    this.panY = event.clientY - this.panning.y;
    this.applyTransform();
    return true;
  }

  endPan(event: PointerEvent): boolean {
    if (!this.panning || event.pointerId !== this.panning.pointer) return false;
    this.panning = undefined;
    return true;
  }

  /** Client coordinates of image point (x, y) in a view (tests and scripts). */
  clientPoint(x: number, y: number, which: 'label' | 'result'): { x: number; y: number } {
    const view = byId<HTMLElement>(which === 'label' ? 'label-view' : 'result-view');
    const rect = view.getBoundingClientRect();
    return { x: rect.left + view.clientLeft + this.panX + x * this.zoom, y: rect.top + view.clientTop + this.panY + y * this.zoom };
  }
}

/** Pointer and wheel events of both views, routed to an editor's handlers. */
export function bindViews(
  viewport: Viewport,
  handlers: { down(event: PointerEvent, view: HTMLElement): void; move(event: PointerEvent, view: HTMLElement): void; up(event: PointerEvent): void },
): void {
  for (const id of ['label-view', 'result-view']) {
    const view = byId<HTMLElement>(id);
    view.addEventListener('pointerdown', (event) => {
      if (id === 'result-view' && viewport.view === 'side' && !(event.button === 1 || viewport.spaceDown)) return;
      event.preventDefault();
      handlers.down(event, view);
    });
    view.addEventListener('pointermove', (event) => handlers.move(event, view));
    view.addEventListener('pointerup', (event) => handlers.up(event));
    view.addEventListener('pointercancel', (event) => handlers.up(event));
    view.addEventListener('contextmenu', (event) => event.preventDefault());
    view.addEventListener(
      'wheel',
      (event) => {
        event.preventDefault();
        const rect = view.getBoundingClientRect();
        viewport.zoomBy(event.deltaY < 0 ? 2 : 0.5, event.clientX - rect.left, event.clientY - rect.top);
      },
      { passive: false },
    );
  }
}
