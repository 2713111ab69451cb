/**
 * The editor's page: label and instance maps as typed arrays, edited with
 * exact stamps (../shared/paint.ts), drawn with Canvas 2D; renders asked
 * of the server with at most one request in flight and one pending (the
 * newest state), cached by state so undo is instant.
 */
import { fetchImage, getSession, postRender, postSave } from './api.js';
import {
  classOfId,
  deleteInstance,
  distinctIds,
  floodFill,
  instanceBounds,
  nextInstanceId,
  paintSegment,
  relabelInstance,
  unionRect,
  emptyRect,
  type Brush,
  type BrushShape,
  type Rect,
} from '../shared/paint.js';
import { base64ToBytes, bytesToBase64, INSTANCE_FACTOR, validSaveName, type ClassEntry, type SessionInfo } from '../shared/protocol.js';

type Tool = 'brush' | 'fill' | 'eraser' | 'eyedropper' | 'select';
const TOOLS: ReadonlyArray<{ tool: Tool; key: string; label: string }> = [
  { tool: 'brush', key: 'b', label: 'brush' },
  { tool: 'fill', key: 'f', label: 'fill' },
  { tool: 'eraser', key: 'e', label: 'eraser' },
  { tool: 'eyedropper', key: 'i', label: 'pick' },
  { tool: 'select', key: 's', label: 'select' },
];

interface Snapshot {
  readonly labels: Uint16Array;
  readonly instances: Int32Array;
  readonly styles: Map<number, number>;
}

const byId = <T extends HTMLElement>(id: string): T => {
  const element = document.getElementById(id);
  if (!element) throw new Error(`missing #${id}`);
  return element as T;
};

/** Most memory the undo history may hold. */
const HISTORY_BYTES = 256 * 1024 * 1024;
/** Rendered full-resolution images kept for instant undo. */
const CACHE_IMAGES = 48;
/** Idle time after an edit before the full-resolution render. */
const FULL_RENDER_DELAY_MS = 150;
/** A pause this long mid-stroke asks for the full-resolution render. */
const STROKE_IDLE_MS = 500;
/** While dragging, a preview at most this often. */
const PREVIEW_INTERVAL_MS = 250;

class Editor {
  readonly width: number;
  readonly height: number;
  labels: Uint16Array;
  instances: Int32Array;
  styles: Map<number, number>;
  readonly classes: readonly ClassEntry[];
  tool: Tool = 'brush';
  currentClass: number;
  eraserClass = 0;
  brush: { shape: BrushShape; size: number } = { shape: 'round', size: 9 };
  selected: number | undefined;
  forceNewObject = false;
  zoom = 1;
  panX = 0;
  panY = 0;
  view: 'side' | 'overlay' | 'result' = 'side';
  showBefore = false;
  readonly undoStack: Snapshot[] = [];
  readonly redoStack: Snapshot[] = [];
  savedKey: string;
  // Rendering.
  readonly cache = new Map<string, ImageBitmap>();
  shownKey = '';
  inflight = false;
  pending: 1 | 'preview' | undefined;
  fullTimer: number | undefined;
  idleTimer: number | undefined;
  lastFullSeconds = 0;
  lastPreviewSeconds = 0;
  renderStarted = 0;
  renderEstimate = 0;
  firstImage: ImageBitmap | undefined;
  fullRequests = 0;
  // Drawing.
  readonly labelCanvas = byId<HTMLCanvasElement>('label-canvas');
  readonly selectCanvas = byId<HTMLCanvasElement>('select-canvas');
  readonly resultCanvas = byId<HTMLCanvasElement>('result-canvas');
  readonly overlayCanvas = byId<HTMLCanvasElement>('overlay-canvas');
  readonly labelContext: CanvasRenderingContext2D;
  readonly labelImage: ImageData;
  readonly palette: Uint8Array;
  stroke: { pointer: number; x: number; y: number; label: number; instance: number; dirty: Rect; lastPreview: number; points: Array<[number, number]> } | undefined;
  /** The image points and brush of the last stroke (for tests). */
  lastStroke: { points: Array<[number, number]>; brush: Brush; label: number; instance: number } | undefined;
  panning: { pointer: number; x: number; y: number } | undefined;
  spaceDown = false;

  constructor(readonly session: SessionInfo) {
    this.width = session.width;
    this.height = session.height;
    const labelBytes = base64ToBytes(session.labels);
    const instanceBytes = base64ToBytes(session.instances);
    this.labels = new Uint16Array(labelBytes.buffer, 0, this.width * this.height).slice();
    this.instances = new Int32Array(instanceBytes.buffer, 0, this.width * this.height).slice();
    this.styles = new Map(Object.entries(session.styles).map(([id, index]) => [Number(id), index]));
    this.classes = session.classes;
    this.currentClass = this.classes.find((entry) => entry.name === 'car')?.id ?? Math.min(1, this.classes.length - 1);
    this.palette = new Uint8Array(this.classes.length * 3);
    for (const entry of this.classes) this.palette.set(entry.colour, entry.id * 3);
    for (const canvas of [this.labelCanvas, this.selectCanvas, this.resultCanvas, this.overlayCanvas]) {
      canvas.width = this.width;
      canvas.height = this.height;
    }
    this.labelContext = this.labelCanvas.getContext('2d')!;
    this.labelImage = this.labelContext.createImageData(this.width, this.height);
    this.savedKey = this.stateKey();
  }

  // ---- state ----

  /** A 64-bit FNV-1a style hash of the maps and styles: the render cache's key. */
  stateKey(): string {
    let a = 0x811c9dc5 | 0;
    let b = 0x01000193 ^ 0x5bd1e995;
    const mix = (value: number): void => {
      a = Math.imul(a ^ value, 0x01000193);
      b = Math.imul(b ^ value, 0x5bd1e995) ^ (b >>> 15);
    };
    for (let p = 0; p < this.labels.length; p++) mix(this.labels[p]! * 65599 + this.instances[p]!);
    for (const [id, index] of [...this.styles].sort((x, y) => x[0] - y[0])) {
      mix(id);
      mix(index + 7);
    }
    return `${(a >>> 0).toString(16)}-${(b >>> 0).toString(16)}`;
  }

  snapshot(): Snapshot {
    return { labels: this.labels.slice(), instances: this.instances.slice(), styles: new Map(this.styles) };
  }

  /** Call before every edit: the current state goes onto the undo stack. */
  pushHistory(): void {
    this.undoStack.push(this.snapshot());
    this.redoStack.length = 0;
    const perState = this.labels.byteLength + this.instances.byteLength;
    while (this.undoStack.length > 1 && this.undoStack.length * perState > HISTORY_BYTES) this.undoStack.shift();
  }

  restore(snapshot: Snapshot): void {
    this.labels = snapshot.labels.slice();
    this.instances = snapshot.instances.slice();
    this.styles = new Map(snapshot.styles);
    if (this.selected !== undefined && !this.instances.includes(this.selected)) this.selected = undefined;
    this.afterEdit({ x0: 0, y0: 0, x1: this.width, y1: this.height }, 0);
  }

  undo(): void {
    const previous = this.undoStack.pop();
    if (!previous) return;
    this.redoStack.push(this.snapshot());
    this.restore(previous);
  }

  redo(): void {
    const next = this.redoStack.pop();
    if (!next) return;
    this.undoStack.push(this.snapshot());
    this.restore(next);
  }

  styleCount(id: number): number {
    return this.classes[classOfId(id)]?.styles ?? 0;
  }

  /** The ids styles attach to, present now. */
  styleIds(): number[] {
    if (this.session.styleUnit === 'none') return [];
    return distinctIds(this.session.styleUnit === 'label' ? this.labels : this.instances);
  }

  /** Every present id with styles has one (new ones drawn at random, once: the draw is part of the state), absent ones none. */
  completeStyles(): void {
    const present = new Set(this.styleIds());
    for (const id of [...this.styles.keys()]) if (!present.has(id)) this.styles.delete(id);
    for (const id of present) {
      const count = this.styleCount(id);
      if (count > 0 && !this.styles.has(id)) this.styles.set(id, Math.floor(Math.random() * count));
    }
  }

  /** After an edit: styles completed, the label view redrawn over `rect`, a full render after `delay`. */
  afterEdit(rect: Rect, delay = FULL_RENDER_DELAY_MS): void {
    this.completeStyles();
    this.drawLabels(rect);
    this.drawSelection();
    this.updateInspector();
    this.updateButtons();
    this.scheduleFull(delay);
  }

  // ---- drawing ----

  drawLabels(rect: Rect): void {
    const { width, height, labels, instances, palette } = this;
    const data = this.labelImage.data;
    const x0 = Math.max(0, rect.x0 - 1);
    const y0 = Math.max(0, rect.y0 - 1);
    const x1 = Math.min(width, rect.x1 + 1);
    const y1 = Math.min(height, rect.y1 + 1);
    if (x1 <= x0 || y1 <= y0) return;
    for (let y = y0; y < y1; y++) {
      for (let x = x0; x < x1; x++) {
        const p = y * width + x;
        const label = labels[p]!;
        const id = instances[p]!;
        // Object boundaries darker, so objects of one class stay apart.
        const edge = id >= INSTANCE_FACTOR && ((x + 1 < width && instances[p + 1] !== id) || (y + 1 < height && instances[p + width] !== id) || (x > 0 && instances[p - 1] !== id) || (y > 0 && instances[p - width] !== id));
        const shade = edge ? 0.45 : 1;
        data[p * 4] = palette[label * 3]! * shade;
        data[p * 4 + 1] = palette[label * 3 + 1]! * shade;
        data[p * 4 + 2] = palette[label * 3 + 2]! * shade;
        data[p * 4 + 3] = 255;
      }
    }
    this.labelContext.putImageData(this.labelImage, 0, 0, x0, y0, x1 - x0, y1 - y0);
    if (this.view === 'overlay') this.drawOverlay();
  }

  drawOverlay(): void {
    const context = this.overlayCanvas.getContext('2d')!;
    context.clearRect(0, 0, this.width, this.height);
    context.drawImage(this.labelCanvas, 0, 0);
  }

  drawSelection(): void {
    const context = this.selectCanvas.getContext('2d')!;
    context.clearRect(0, 0, this.width, this.height);
    const id = this.selected;
    if (id === undefined) return;
    const image = context.createImageData(this.width, this.height);
    const { width, height, instances } = this;
    for (let p = 0; p < instances.length; p++) {
      if (instances[p] !== id) continue;
      const x = p % width;
      const y = (p - x) / width;
      const edge = x === 0 || y === 0 || x === width - 1 || y === height - 1 || instances[p - 1] !== id || instances[p + 1] !== id || instances[p - width] !== id || instances[p + width] !== id;
      if (!edge) continue;
      image.data.set([255, 255, 255, 255], p * 4);
    }
    context.putImageData(image, 0, 0);
  }

  applyTransform(): void {
    const transform = `translate(${this.panX}px, ${this.panY}px) scale(${this.zoom})`;
    for (const canvas of [this.labelCanvas, this.selectCanvas, this.resultCanvas, this.overlayCanvas]) canvas.style.transform = transform;
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

  setView(view: 'side' | 'overlay' | 'result'): void {
    this.view = view;
    document.body.classList.remove('view-side', 'view-overlay', 'view-result');
    document.body.classList.add(`view-${view}`);
    byId<HTMLElement>('result-view').classList.toggle('paintable', view !== 'side');
    if (view === 'overlay') this.drawOverlay();
  }

  // ---- rendering ----

  scheduleFull(delay: number): void {
    if (this.fullTimer !== undefined) clearTimeout(this.fullTimer);
    this.fullTimer = undefined;
    const key = this.stateKey();
    const hit = this.cache.get(key);
    if (hit) {
      this.show(hit, key, false);
      return;
    }
    if (delay <= 0) this.request(1);
    else this.fullTimer = window.setTimeout(() => {
      this.fullTimer = undefined;
      if (!this.stroke) this.request(1);
    }, delay);
  }

  request(scale: 1 | 'preview'): void {
    if (this.inflight) {
      // One pending slot, for the newest state; a full render outranks a preview.
      this.pending = scale === 1 || this.pending === 1 ? 1 : 'preview';
      return;
    }
    const key = this.stateKey();
    if (scale === 1) {
      const hit = this.cache.get(key);
      if (hit) {
        this.show(hit, key, false);
        return;
      }
      this.fullRequests++;
    }
    this.inflight = true;
    const numericScale = scale === 1 ? 1 : this.session.previewScale;
    this.startProgress(scale === 1 ? this.lastFullSeconds : this.lastPreviewSeconds, scale === 1 ? 'rendering' : 'preview');
    const styles = Object.fromEntries([...this.styles].map(([id, index]) => [String(id), index]));
    postRender({ styles, scale: numericScale, lane: 'main' }, this.labels, this.instances)
      .then(async (reply) => {
        if (!reply.image) return;
        const bitmap = await fetchImage(reply.image);
        if (scale === 1) {
          if (!reply.cached) this.lastFullSeconds = reply.seconds ?? this.lastFullSeconds;
          this.remember(key, bitmap);
          if (!this.firstImage) this.firstImage = bitmap;
          // A result for a state that is no longer current is kept in the cache, not shown.
          if (key === this.stateKey()) this.show(bitmap, key, false);
        } else {
          if (!reply.cached) this.lastPreviewSeconds = reply.seconds ?? this.lastPreviewSeconds;
          if (this.shownKey !== this.stateKey()) this.show(bitmap, key, true);
        }
      })
      .catch((error: unknown) => this.setStatus(`render failed: ${(error as Error).message}`))
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
    const context = this.resultCanvas.getContext('2d')!;
    context.imageSmoothingEnabled = false;
    context.clearRect(0, 0, this.width, this.height);
    const image = this.showBefore && this.firstImage ? this.firstImage : bitmap;
    context.drawImage(image, 0, 0, this.width, this.height);
    this.shownKey = preview ? '' : key;
    byId<HTMLElement>('badge').textContent = this.showBefore ? 'before' : preview ? 'preview' : '';
    if (!preview) this.setStatus(`${this.width}x${this.height}, ${this.session.backend}; last pass ${this.lastFullSeconds.toFixed(2)} s`);
  }

  startProgress(estimate: number, what: string): void {
    this.renderStarted = performance.now();
    this.renderEstimate = estimate;
    const progress = byId<HTMLProgressElement>('progress');
    progress.classList.add('running');
    this.setStatus(estimate > 0 ? `${what}… (about ${estimate.toFixed(2)} s, as the last pass)` : `${what}…`);
    const tick = (): void => {
      if (!this.inflight) return;
      const elapsed = (performance.now() - this.renderStarted) / 1000;
      progress.value = this.renderEstimate > 0 ? Math.min(0.97, elapsed / this.renderEstimate) : (elapsed % 1);
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  }

  stopProgress(): void {
    const progress = byId<HTMLProgressElement>('progress');
    progress.classList.remove('running');
    progress.value = 0;
  }

  setStatus(text: string): void {
    byId<HTMLElement>('status-text').textContent = text;
  }

  // ---- painting ----

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

  /** The instance id a stroke or fill of `label` starting at pixel `p` paints with; undefined when the class has no free id. */
  instanceFor(label: number, p: number | undefined): number | undefined {
    if (!this.classes[label]?.thing) return label;
    if (!this.forceNewObject && p !== undefined) {
      const under = this.instances[p]!;
      // A stroke that starts on an object of its class grows it; anywhere else it makes a new one.
      if (under >= INSTANCE_FACTOR && classOfId(under) === label) return under;
    }
    const id = nextInstanceId(this.instances, label);
    if (id < 0) {
      this.setStatus(`class ${this.classes[label]!.name} has no free instance id`);
      return undefined;
    }
    this.forceNewObject = false;
    byId<HTMLButtonElement>('new-object')?.classList.remove('active');
    return id;
  }

  pointerDown(event: PointerEvent, view: HTMLElement): void {
    if (event.button === 1 || (event.button === 0 && this.spaceDown)) {
      this.panning = { pointer: event.pointerId, x: event.clientX - this.panX, y: event.clientY - this.panY };
      view.setPointerCapture(event.pointerId);
      return;
    }
    if (event.button !== 0) return;
    const point = this.imagePoint(event, view);
    const p = this.pixelAt(point);
    switch (this.tool) {
      case 'eyedropper':
        if (p === undefined) return;
        this.selectClass(this.labels[p]!);
        this.selected = this.instances[p]!;
        this.drawSelection();
        this.updateInspector();
        this.setTool('brush');
        return;
      case 'select':
        this.selected = p === undefined ? undefined : this.instances[p]!;
        this.drawSelection();
        this.updateInspector();
        return;
      case 'fill': {
        if (p === undefined) return;
        const instance = this.instanceFor(this.currentClass, undefined);
        if (instance === undefined) return;
        this.pushHistory();
        const rect = floodFill(this, p % this.width, Math.floor(p / this.width), this.currentClass, instance);
        if (rect.x1 <= rect.x0) {
          this.undoStack.pop();
          return;
        }
        if (instance >= INSTANCE_FACTOR) this.selected = instance;
        this.afterEdit(rect, 0);
        return;
      }
      case 'brush':
      case 'eraser': {
        const label = this.tool === 'eraser' ? this.eraserClass : this.currentClass;
        const instance = this.instanceFor(label, p);
        if (instance === undefined) return;
        this.pushHistory();
        if (instance >= INSTANCE_FACTOR) this.selected = instance;
        const dirty = paintSegment(this, this.brushOf(), point.x, point.y, point.x, point.y, label, instance);
        this.stroke = { pointer: event.pointerId, x: point.x, y: point.y, label, instance, dirty, lastPreview: performance.now(), points: [[point.x, point.y]] };
        if (this.fullTimer !== undefined) clearTimeout(this.fullTimer);
        this.fullTimer = undefined;
        view.setPointerCapture(event.pointerId);
        this.drawLabels(dirty);
      }
    }
  }

  brushOf(): Brush {
    return { shape: this.brush.shape, size: this.brush.size };
  }

  pointerMove(event: PointerEvent, view: HTMLElement): void {
    if (this.panning && event.pointerId === this.panning.pointer) {
      this.panX = event.clientX - this.panning.x;
      this.panY = event.clientY - this.panning.y;
      this.applyTransform();
      return;
    }
    const stroke = this.stroke;
    if (!stroke || event.pointerId !== stroke.pointer) return;
    const point = this.imagePoint(event, view);
    const rect = paintSegment(this, this.brushOf(), stroke.x, stroke.y, point.x, point.y, stroke.label, stroke.instance);
    stroke.x = point.x;
    stroke.y = point.y;
    stroke.points.push([point.x, point.y]);
    stroke.dirty = unionRect(stroke.dirty, rect);
    this.drawLabels(rect);
    // Holding still mid-stroke: the full-resolution render of what is there.
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer);
    this.idleTimer = window.setTimeout(() => {
      this.idleTimer = undefined;
      if (this.stroke !== stroke) return;
      this.completeStyles();
      this.request(1);
    }, STROKE_IDLE_MS);
    const now = performance.now();
    if (this.session.previewScale > 1 && now - stroke.lastPreview >= PREVIEW_INTERVAL_MS && !this.inflight) {
      stroke.lastPreview = now;
      this.completeStyles();
      this.request('preview');
    }
  }

  pointerUp(event: PointerEvent): void {
    if (this.panning && event.pointerId === this.panning.pointer) {
      this.panning = undefined;
      return;
    }
    const stroke = this.stroke;
    if (!stroke || event.pointerId !== stroke.pointer) return;
    this.stroke = undefined;
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    this.lastStroke = { points: stroke.points, brush: this.brushOf(), label: stroke.label, instance: stroke.instance };
    this.afterEdit(stroke.dirty);
  }

  // ---- objects and styles ----

  selectClass(id: number): void {
    this.currentClass = id;
    for (const button of document.querySelectorAll<HTMLButtonElement>('#palette .class')) button.classList.toggle('active', Number(button.dataset['id']) === id);
  }

  setTool(tool: Tool): void {
    this.tool = tool;
    for (const button of document.querySelectorAll<HTMLButtonElement>('#tools button')) button.classList.toggle('active', button.dataset['tool'] === tool);
  }

  changeClass(id: number, label: number): void {
    const instance = this.classes[label]?.thing ? nextInstanceId(this.instances, label) : label;
    if (instance < 0) return;
    this.pushHistory();
    const rect = relabelInstance(this, id, label, instance);
    this.selected = instance;
    this.afterEdit(rect, 0);
  }

  deleteSelected(): void {
    const id = this.selected;
    if (id === undefined) return;
    this.pushHistory();
    const rect = deleteInstance(this, id);
    if (rect.x1 <= rect.x0) {
      this.undoStack.pop();
      return;
    }
    this.selected = undefined;
    this.afterEdit(rect, 0);
  }

  chooseStyle(id: number, index: number): void {
    if (this.styles.get(id) === index) return;
    this.pushHistory();
    this.styles.set(id, index);
    this.afterEdit(emptyRect(), 0);
  }

  randomStyles(): void {
    if (this.session.styleUnit === 'none') return;
    this.pushHistory();
    for (const id of this.styleIds()) {
      const count = this.styleCount(id);
      if (count > 0) this.styles.set(id, Math.floor(Math.random() * count));
    }
    this.afterEdit(emptyRect(), 0);
  }

  /** The id whose styles the gallery shows: the selected instance (or its label with label_feat). */
  styledId(): number | undefined {
    if (this.selected === undefined || this.session.styleUnit === 'none') return undefined;
    return this.session.styleUnit === 'label' ? classOfId(this.selected) : this.selected;
  }

  updateInspector(): void {
    const info = byId<HTMLElement>('object-info');
    const actions = byId<HTMLElement>('object-actions');
    actions.replaceChildren();
    const id = this.selected;
    if (id === undefined || !this.instances.includes(id)) {
      info.textContent = 'Select tool (S): click an object.';
      byId<HTMLElement>('gallery').replaceChildren();
      return;
    }
    const label = classOfId(id);
    let area = 0;
    for (let p = 0; p < this.instances.length; p++) if (this.instances[p] === id) area++;
    info.textContent = `${this.classes[label]?.name ?? label} · id ${id} · ${area} px`;
    const select = document.createElement('select');
    select.id = 'object-class';
    for (const entry of this.classes) {
      const option = document.createElement('option');
      option.value = String(entry.id);
      option.textContent = `${entry.id} ${entry.name}`;
      option.selected = entry.id === label;
      select.append(option);
    }
    select.addEventListener('change', () => this.changeClass(id, Number(select.value)));
    const remove = document.createElement('button');
    remove.id = 'delete-object';
    remove.textContent = 'delete';
    remove.title = 'Delete';
    remove.addEventListener('click', () => this.deleteSelected());
    actions.append('class ', select, ' ', remove);
    this.updateGallery();
  }

  galleryToken = 0;

  /** Thumbnails of the styled id under each of its class's styles, rendered at preview scale in the background lane. */
  updateGallery(): void {
    const gallery = byId<HTMLElement>('gallery');
    gallery.replaceChildren();
    const id = this.styledId();
    if (id === undefined) return;
    const count = this.styleCount(id);
    if (count === 0) {
      gallery.textContent = 'This class has no styles.';
      return;
    }
    const token = ++this.galleryToken;
    const bounds = this.session.styleUnit === 'label' ? { x0: 0, y0: 0, x1: this.width, y1: this.height } : instanceBounds(this.instances, this.width, id);
    const labels = this.labels.slice();
    const instances = this.instances.slice();
    for (let index = 0; index < count; index++) {
      const button = document.createElement('button');
      button.className = 'style';
      button.dataset['index'] = String(index);
      button.classList.toggle('active', this.styles.get(id) === index);
      const canvas = document.createElement('canvas');
      const caption = document.createElement('div');
      caption.className = 'caption';
      caption.textContent = `style ${index}`;
      button.append(canvas, caption);
      button.addEventListener('click', () => this.chooseStyle(id, index));
      gallery.append(button);
      const styles = Object.fromEntries([...this.styles].map(([key, value]) => [String(key), key === id ? index : value]));
      postRender({ styles, scale: this.session.previewScale, lane: 'thumb' }, labels, instances)
        .then(async (reply) => {
          if (!reply.image || token !== this.galleryToken) return;
          const bitmap = await fetchImage(reply.image);
          const scale = bitmap.width / this.width;
          const pad = 4;
          const sx = Math.max(0, (bounds.x0 - pad) * scale);
          const sy = Math.max(0, (bounds.y0 - pad) * scale);
          const sw = Math.min(bitmap.width - sx, (bounds.x1 - bounds.x0 + 2 * pad) * scale);
          const sh = Math.min(bitmap.height - sy, (bounds.y1 - bounds.y0 + 2 * pad) * scale);
          canvas.width = Math.max(1, Math.round(sw));
          canvas.height = Math.max(1, Math.round(sh));
          canvas.getContext('2d')!.drawImage(bitmap, sx, sy, sw, sh, 0, 0, canvas.width, canvas.height);
          bitmap.close();
        })
        .catch(() => undefined);
    }
  }

  updateButtons(): void {
    byId<HTMLButtonElement>('undo').disabled = this.undoStack.length === 0;
    byId<HTMLButtonElement>('redo').disabled = this.redoStack.length === 0;
  }

  async save(): Promise<void> {
    const name = byId<HTMLInputElement>('save-name').value.trim();
    if (!validSaveName(name)) {
      this.setStatus('save: the name may hold letters, digits, ".", "_" and "-" (not starting with ".")');
      return;
    }
    const styles = Object.fromEntries([...this.styles].map(([id, index]) => [String(id), index]));
    const key = this.stateKey();
    try {
      const reply = await postSave({ styles, name }, this.labels, this.instances);
      this.savedKey = key;
      this.setStatus(`saved ${reply.files.join(', ')}`);
    } catch (error) {
      this.setStatus(`save failed: ${(error as Error).message}`);
    }
  }

  get unsaved(): boolean {
    return this.stateKey() !== this.savedKey;
  }
}

function buildPalette(editor: Editor): void {
  const palette = byId<HTMLElement>('palette');
  const eraser = byId<HTMLSelectElement>('eraser-class');
  for (const entry of editor.classes) {
    const button = document.createElement('button');
    button.className = 'class';
    button.dataset['id'] = String(entry.id);
    button.title = `class ${entry.id}${entry.styles > 0 ? `, ${entry.styles} styles` : ''}; right-click: eraser class`;
    const swatch = document.createElement('span');
    swatch.className = 'swatch';
    swatch.style.background = `rgb(${entry.colour.join(',')})`;
    const name = document.createElement('span');
    name.textContent = entry.name;
    button.append(swatch, name);
    if (entry.thing) {
      const thing = document.createElement('span');
      thing.className = 'thing';
      thing.textContent = 'objects';
      button.append(thing);
    }
    button.addEventListener('click', () => editor.selectClass(entry.id));
    button.addEventListener('contextmenu', (event) => {
      event.preventDefault();
      editor.eraserClass = entry.id;
      eraser.value = String(entry.id);
      editor.setStatus(`eraser paints ${entry.name}`);
    });
    palette.append(button);
    const option = document.createElement('option');
    option.value = String(entry.id);
    option.textContent = `${entry.id} ${entry.name}`;
    eraser.append(option);
  }
  eraser.value = String(editor.eraserClass);
  eraser.addEventListener('change', () => (editor.eraserClass = Number(eraser.value)));
  editor.selectClass(editor.currentClass);
}

function buildToolbar(editor: Editor): void {
  const tools = byId<HTMLElement>('tools');
  for (const { tool, key, label } of TOOLS) {
    const button = document.createElement('button');
    button.dataset['tool'] = tool;
    button.textContent = label;
    button.title = `${label} (${key.toUpperCase()})`;
    button.addEventListener('click', () => editor.setTool(tool));
    tools.append(button);
  }
  const newObject = document.createElement('button');
  newObject.id = 'new-object';
  newObject.textContent = 'new object';
  newObject.title = 'the next stroke starts a new object (N)';
  newObject.addEventListener('click', () => {
    editor.forceNewObject = !editor.forceNewObject;
    newObject.classList.toggle('active', editor.forceNewObject);
  });
  tools.append(newObject);
  editor.setTool('brush');
  const size = byId<HTMLInputElement>('size');
  const setSize = (value: number): void => {
    editor.brush.size = Math.max(1, Math.min(64, value));
    size.value = String(editor.brush.size);
    byId<HTMLOutputElement>('size-value').value = String(editor.brush.size);
  };
  size.addEventListener('input', () => setSize(Number(size.value)));
  const shape = byId<HTMLSelectElement>('shape');
  shape.addEventListener('change', () => (editor.brush.shape = shape.value as BrushShape));
  byId<HTMLButtonElement>('undo').addEventListener('click', () => editor.undo());
  byId<HTMLButtonElement>('redo').addEventListener('click', () => editor.redo());
  const view = byId<HTMLSelectElement>('view');
  view.addEventListener('change', () => editor.setView(view.value as 'side' | 'overlay' | 'result'));
  const opacity = byId<HTMLInputElement>('opacity');
  const setOpacity = (): void => void (editor.overlayCanvas.style.opacity = String(Number(opacity.value) / 100));
  opacity.addEventListener('input', setOpacity);
  setOpacity();
  const toggleBefore = (): void => {
    editor.showBefore = !editor.showBefore;
    byId<HTMLButtonElement>('before').classList.toggle('active', editor.showBefore);
    const current = editor.cache.get(editor.stateKey());
    if (current) editor.show(current, editor.stateKey(), false);
    else if (editor.firstImage && editor.showBefore) editor.show(editor.firstImage, '', false);
  };
  byId<HTMLButtonElement>('before').addEventListener('click', toggleBefore);
  byId<HTMLButtonElement>('zoom-in').addEventListener('click', () => editor.zoomBy(2));
  byId<HTMLButtonElement>('zoom-out').addEventListener('click', () => editor.zoomBy(0.5));
  byId<HTMLButtonElement>('zoom-fit').addEventListener('click', () => editor.zoomFit());
  byId<HTMLButtonElement>('random-styles').addEventListener('click', () => editor.randomStyles());
  byId<HTMLButtonElement>('random-styles').disabled = editor.session.styleUnit === 'none';
  byId<HTMLInputElement>('save-name').value = editor.session.stem.replace(/_gtFine_labelIds$/, '') + '_edited';
  byId<HTMLButtonElement>('save').addEventListener('click', () => void editor.save());
  bindKeys(editor, { setSize, toggleBefore, newObject });
}

/** Keyboard shortcuts (tools, sizes, undo/redo, zoom, before/after, delete) and the unsaved-edits warning. */
function bindKeys(editor: Editor, controls: { setSize: (size: number) => void; toggleBefore: () => void; newObject: HTMLButtonElement }): void {
  const { setSize, toggleBefore, newObject } = controls;
  window.addEventListener('keydown', (event) => {
    const target = event.target as HTMLElement | null;
    // Typing in the name box is typing; a focused list keeps its letter keys, but not the shortcuts.
    if (target && target.tagName === 'INPUT' && (target as HTMLInputElement).type !== 'range') return;
    const inList = target !== null && target.tagName === 'SELECT';
    const key = event.key.toLowerCase();
    if ((event.ctrlKey || event.metaKey) && key === 'z') {
      event.preventDefault();
      if (event.shiftKey) editor.redo();
      else editor.undo();
      return;
    }
    if ((event.ctrlKey || event.metaKey) && key === 'y') {
      event.preventDefault();
      editor.redo();
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey || inList) return;
    const tool = TOOLS.find((entry) => entry.key === key);
    if (tool) return editor.setTool(tool.tool);
    if (key === '[') return setSize(editor.brush.size - (editor.brush.size > 10 ? 4 : 1));
    if (key === ']') return setSize(editor.brush.size + (editor.brush.size >= 10 ? 4 : 1));
    if (key === 'n') return newObject.click();
    if (key === 'v') return toggleBefore();
    if (key === 'delete' || key === 'backspace') return editor.deleteSelected();
    if (key === '+' || key === '=') return editor.zoomBy(2);
    if (key === '-') return editor.zoomBy(0.5);
    if (key === '0') return editor.zoomFit();
    if (key === ' ') {
      editor.spaceDown = true;
      event.preventDefault();
    }
  });
  window.addEventListener('keyup', (event) => {
    if (event.key === ' ') editor.spaceDown = false;
  });
  window.addEventListener('beforeunload', (event) => {
    if (!editor.unsaved) return;
    event.preventDefault();
    event.returnValue = '';
  });
}

function bindViews(editor: Editor): void {
  for (const id of ['label-view', 'result-view']) {
    const view = byId<HTMLElement>(id);
    view.addEventListener('pointerdown', (event) => {
      if (id === 'result-view' && editor.view === 'side' && !(event.button === 1 || editor.spaceDown)) return;
      event.preventDefault();
      editor.pointerDown(event, view);
    });
    view.addEventListener('pointermove', (event) => editor.pointerMove(event, view));
    view.addEventListener('pointerup', (event) => editor.pointerUp(event));
    view.addEventListener('pointercancel', (event) => editor.pointerUp(event));
    view.addEventListener('contextmenu', (event) => event.preventDefault());
    view.addEventListener(
      'wheel',
      (event) => {
        event.preventDefault();
        const rect = view.getBoundingClientRect();
        editor.zoomBy(event.deltaY < 0 ? 2 : 0.5, event.clientX - rect.left, event.clientY - rect.top);
      },
      { passive: false },
    );
  }
}

/** Read-only access for tests and scripts: the maps, the shown image, render counts, and where image points are on screen. */
function exposeForTests(editor: Editor): void {
  const hook = {
    maps: () => ({
      labels: bytesToBase64(new Uint8Array(editor.labels.buffer.slice(0))),
      instances: bytesToBase64(new Uint8Array(editor.instances.buffer.slice(0))),
      styles: Object.fromEntries(editor.styles),
      selected: editor.selected ?? null,
    }),
    lastStroke: () => editor.lastStroke ?? null,
    /** RGBA of the result view (the shown image), base64. */
    resultPixels: () => bytesToBase64(new Uint8Array(editor.resultCanvas.getContext('2d')!.getImageData(0, 0, editor.width, editor.height).data.buffer)),
    status: () => ({
      currentKey: editor.stateKey(),
      shownKey: editor.shownKey,
      idle: !editor.inflight && editor.pending === undefined && editor.fullTimer === undefined && editor.stroke === undefined,
      fullRequests: editor.fullRequests,
      undo: editor.undoStack.length,
      redo: editor.redoStack.length,
      zoom: editor.zoom,
    }),
    /** Client coordinates of image point (x, y) in a view ('label' or 'result'). */
    clientPoint: (x: number, y: number, which: 'label' | 'result' = 'label') => {
      const view = byId<HTMLElement>(which === 'label' ? 'label-view' : 'result-view');
      const rect = view.getBoundingClientRect();
      return { x: rect.left + view.clientLeft + editor.panX + x * editor.zoom, y: rect.top + view.clientTop + editor.panY + y * editor.zoom };
    },
    setZoom: (zoom: number, panX: number, panY: number) => {
      editor.zoom = zoom;
      editor.panX = panX;
      editor.panY = panY;
      editor.applyTransform();
    },
    selectClass: (id: number) => editor.selectClass(id),
    setTool: (tool: Tool) => editor.setTool(tool),
    setBrush: (shape: BrushShape, size: number) => {
      editor.brush = { shape, size };
    },
  };
  Object.defineProperty(window, 'p2phdEditor', { value: Object.freeze(hook) });
}

async function start(): Promise<void> {
  const session = await getSession();
  const editor = new Editor(session);
  buildPalette(editor);
  buildToolbar(editor);
  bindViews(editor);
  editor.setView('side');
  editor.drawLabels({ x0: 0, y0: 0, x1: editor.width, y1: editor.height });
  editor.updateButtons();
  editor.zoomFit();
  window.addEventListener('resize', () => editor.zoomFit());
  exposeForTests(editor);
  editor.scheduleFull(0);
  document.body.dataset['ready'] = 'true';
}

start().catch((error: unknown) => {
  const status = document.getElementById('status-text');
  if (status) status.textContent = `could not start: ${(error as Error).message}`;
  console.error(error);
});
