/**
 * The label-map editor (pix2pixHD sessions): label and instance maps as
 * typed arrays, edited with exact stamps (../shared/paint.ts), drawn with
 * Canvas 2D; objects and styles. Rendering, zoom/pan and undo are the
 * shared renderer.ts, viewport.ts and history.ts.
 */
import { fetchImage, postRender, postSave } from './api.js';
import { byId, setStatus } from './dom.js';
import { History } from './history.js';
import { Renderer } from './renderer.js';
import { bindViews, Viewport } from './viewport.js';
import { bindCommonControls, commonTestHook } from './controls.js';
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

/** Most memory the undo history may hold. */
const HISTORY_BYTES = 256 * 1024 * 1024;
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
  readonly history = new History<Snapshot>(HISTORY_BYTES);
  savedKey: string;
  idleTimer: number | undefined;
  readonly renderer: Renderer;
  readonly viewport: Viewport;
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
    this.renderer = new Renderer(
      {
        stateKey: () => this.stateKey(),
        stroking: () => this.stroke !== undefined,
        post: (scale) => postRender({ styles: this.stylesRecord(), scale, lane: 'main' }, this.labels, this.instances),
      },
      this.resultCanvas,
      session,
    );
    this.viewport = new Viewport(this.width, this.height, [this.labelCanvas, this.selectCanvas, this.resultCanvas, this.overlayCanvas], () => this.drawOverlay());
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

  stylesRecord(): Record<string, number> {
    return Object.fromEntries([...this.styles].map(([id, index]) => [String(id), index]));
  }

  snapshot(): Snapshot {
    return { labels: this.labels.slice(), instances: this.instances.slice(), styles: new Map(this.styles) };
  }

  /** Call before every edit: the current state goes onto the undo stack. */
  pushHistory(): void {
    this.history.push(this.snapshot(), this.labels.byteLength + this.instances.byteLength);
  }

  restore(snapshot: Snapshot): void {
    this.labels = snapshot.labels.slice();
    this.instances = snapshot.instances.slice();
    this.styles = new Map(snapshot.styles);
    if (this.selected !== undefined && !this.instances.includes(this.selected)) this.selected = undefined;
    this.afterEdit({ x0: 0, y0: 0, x1: this.width, y1: this.height }, 0);
  }

  undo(): void {
    const previous = this.history.undo(() => this.snapshot());
    if (previous) this.restore(previous);
  }

  redo(): void {
    const next = this.history.redo(() => this.snapshot());
    if (next) this.restore(next);
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
    this.renderer.scheduleFull(delay);
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
    if (this.viewport.view === 'overlay') this.drawOverlay();
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

  // ---- painting ----

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
      setStatus(`class ${this.classes[label]!.name} has no free instance id`);
      return undefined;
    }
    this.forceNewObject = false;
    byId<HTMLButtonElement>('new-object')?.classList.remove('active');
    return id;
  }

  pointerDown(event: PointerEvent, view: HTMLElement): void {
    if (this.viewport.startPan(event, view)) return;
    if (event.button !== 0) return;
    const point = this.viewport.imagePoint(event, view);
    const p = this.viewport.pixelAt(point);
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
          this.history.dropLast();
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
        this.renderer.cancelFull();
        view.setPointerCapture(event.pointerId);
        this.drawLabels(dirty);
      }
    }
  }

  brushOf(): Brush {
    return { shape: this.brush.shape, size: this.brush.size };
  }

  pointerMove(event: PointerEvent, view: HTMLElement): void {
    if (this.viewport.movePan(event)) return;
    const stroke = this.stroke;
    if (!stroke || event.pointerId !== stroke.pointer) return;
    const point = this.viewport.imagePoint(event, view);
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
      this.renderer.request(1);
    }, STROKE_IDLE_MS);
    const now = performance.now();
    if (this.session.previewScale > 1 && now - stroke.lastPreview >= PREVIEW_INTERVAL_MS && !this.renderer.inflight) {
      stroke.lastPreview = now;
      this.completeStyles();
      this.renderer.request('preview');
    }
  }

  pointerUp(event: PointerEvent): void {
    if (this.viewport.endPan(event)) return;
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
      this.history.dropLast();
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
    byId<HTMLButtonElement>('undo').disabled = this.history.undoStack.length === 0;
    byId<HTMLButtonElement>('redo').disabled = this.history.redoStack.length === 0;
  }

  async save(): Promise<void> {
    const name = byId<HTMLInputElement>('save-name').value.trim();
    if (!validSaveName(name)) {
      setStatus('save: the name may hold letters, digits, ".", "_" and "-" (not starting with ".")');
      return;
    }
    const styles = this.stylesRecord();
    const key = this.stateKey();
    try {
      const reply = await postSave({ styles, name }, this.labels, this.instances);
      this.savedKey = key;
      setStatus(`saved ${reply.files.join(', ')}`);
    } catch (error) {
      setStatus(`save failed: ${(error as Error).message}`);
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
      setStatus(`eraser paints ${entry.name}`);
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
  byId<HTMLButtonElement>('random-styles').addEventListener('click', () => editor.randomStyles());
  byId<HTMLButtonElement>('random-styles').disabled = editor.session.styleUnit === 'none';
  bindCommonControls(editor, editor.session.stem.replace(/_gtFine_labelIds$/, '') + '_edited', (key) => {
    const tool = TOOLS.find((entry) => entry.key === key);
    if (tool) {
      editor.setTool(tool.tool);
      return true;
    }
    if (key === 'n') newObject.click();
    else if (key === 'delete' || key === 'backspace') editor.deleteSelected();
    else return false;
    return true;
  });
}

/** Read-only access for tests and scripts: the maps, the shown image, render counts, and where image points are on screen. */
function exposeForTests(editor: Editor): void {
  const hook = {
    family: 'pix2pixhd',
    maps: () => ({
      labels: bytesToBase64(new Uint8Array(editor.labels.buffer.slice(0))),
      instances: bytesToBase64(new Uint8Array(editor.instances.buffer.slice(0))),
      styles: Object.fromEntries(editor.styles),
      selected: editor.selected ?? null,
    }),
    lastStroke: () => editor.lastStroke ?? null,
    ...commonTestHook(editor, { stroking: () => editor.stroke !== undefined, undoDepth: () => editor.history.undoStack.length, redoDepth: () => editor.history.redoStack.length }),
    selectClass: (id: number) => editor.selectClass(id),
    setTool: (tool: Tool) => editor.setTool(tool),
  };
  Object.defineProperty(window, 'p2phdEditor', { value: Object.freeze(hook) });
}

/** Starts the label-map editor on a pix2pixHD session. */
export function startLabelEditor(session: SessionInfo): void {
  const editor = new Editor(session);
  buildPalette(editor);
  buildToolbar(editor);
  bindViews(editor.viewport, { down: (event, view) => editor.pointerDown(event, view), move: (event, view) => editor.pointerMove(event, view), up: (event) => editor.pointerUp(event) });
  editor.viewport.setView('side');
  editor.drawLabels({ x0: 0, y0: 0, x1: editor.width, y1: editor.height });
  editor.updateButtons();
  editor.viewport.zoomFit();
  window.addEventListener('resize', () => editor.viewport.zoomFit());
  exposeForTests(editor);
  editor.renderer.scheduleFull(0);
}
