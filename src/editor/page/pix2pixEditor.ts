/**
 * The A-image editor (pix2pix sessions): the RGB A image as a typed array,
 * painted with exact stamps (../shared/paintRgb.ts: brush, flood fill of a
 * same-colour region, eyedropper), never read back from canvas pixels; a
 * palette of the image's own colours (label-colour inputs such as facades')
 * and a colour picker. Rendering, zoom/pan, views, undo and the shared
 * controls are renderer.ts, viewport.ts, history.ts and controls.ts, as in
 * the label editor.
 */
import { postRenderRgb, postSaveRgb } from './api.js';
import { bindCommonControls, commonTestHook, type EditorCore } from './controls.js';
import { byId, setStatus } from './dom.js';
import { History } from './history.js';
import { Renderer } from './renderer.js';
import { bindViews, Viewport } from './viewport.js';
import { unionRect, type Brush, type BrushShape, type Rect } from '../shared/paint.js';
import { colourAt, floodFillRgb, paintSegmentRgb, type Colour } from '../shared/paintRgb.js';
import { base64ToBytes, bytesToBase64, validSaveName, type SessionInfo } from '../shared/protocol.js';

type Pix2pixTool = 'brush' | 'fill' | 'eyedropper';
const TOOLS: ReadonlyArray<{ tool: Pix2pixTool; key: string; label: string }> = [
  { tool: 'brush', key: 'b', label: 'brush' },
  { tool: 'fill', key: 'f', label: 'fill' },
  { tool: 'eyedropper', key: 'i', label: 'pick' },
];

/** Most memory the undo history may hold. */
const HISTORY_BYTES = 256 * 1024 * 1024;
const FULL_RENDER_DELAY_MS = 150;
const STROKE_IDLE_MS = 500;
const PREVIEW_INTERVAL_MS = 250;

const hex = (colour: Colour): string => `#${colour.map((v) => v.toString(16).padStart(2, '0')).join('')}`;
const fromHex = (text: string): Colour => [parseInt(text.slice(1, 3), 16), parseInt(text.slice(3, 5), 16), parseInt(text.slice(5, 7), 16)];

class Pix2pixEditor implements EditorCore {
  readonly width: number;
  readonly height: number;
  rgb: Uint8Array;
  tool: Pix2pixTool = 'brush';
  colour: Colour;
  brush: { shape: BrushShape; size: number } = { shape: 'round', size: 9 };
  readonly history = new History<Uint8Array>(HISTORY_BYTES);
  savedKey: string;
  idleTimer: number | undefined;
  readonly imageCanvas = byId<HTMLCanvasElement>('label-canvas');
  readonly selectCanvas = byId<HTMLCanvasElement>('select-canvas');
  readonly resultCanvas = byId<HTMLCanvasElement>('result-canvas');
  readonly overlayCanvas = byId<HTMLCanvasElement>('overlay-canvas');
  readonly imageContext: CanvasRenderingContext2D;
  readonly imageData: ImageData;
  readonly renderer: Renderer;
  readonly viewport: Viewport;
  stroke: { pointer: number; x: number; y: number; colour: Colour; dirty: Rect; lastPreview: number; points: Array<[number, number]> } | undefined;
  lastStroke: { points: Array<[number, number]>; brush: Brush; colour: Colour } | undefined;

  constructor(readonly session: SessionInfo) {
    const pix2pix = session.pix2pix!;
    this.width = session.width;
    this.height = session.height;
    this.rgb = base64ToBytes(pix2pix.image).slice(0, this.width * this.height * 3);
    const first = pix2pix.colours[0] ?? [0, 0, 0];
    this.colour = [first[0], first[1], first[2]];
    for (const canvas of [this.imageCanvas, this.selectCanvas, this.resultCanvas, this.overlayCanvas]) {
      canvas.width = this.width;
      canvas.height = this.height;
    }
    this.imageContext = this.imageCanvas.getContext('2d')!;
    this.imageData = this.imageContext.createImageData(this.width, this.height);
    this.savedKey = this.stateKey();
    this.renderer = new Renderer(
      { stateKey: () => this.stateKey(), stroking: () => this.stroke !== undefined, post: (scale) => postRenderRgb({ scale, lane: 'main' }, this.rgb) },
      this.resultCanvas,
      session,
    );
    this.viewport = new Viewport(this.width, this.height, [this.imageCanvas, this.selectCanvas, this.resultCanvas, this.overlayCanvas], () => this.drawOverlay());
  }

  /** A 64-bit FNV-1a style hash of the A image: the render cache's key. */
  stateKey(): string {
    let a = 0x811c9dc5 | 0;
    let b = 0x01000193 ^ 0x5bd1e995;
    const { rgb } = this;
    for (let o = 0; o < rgb.length; o += 3) {
      const value = (rgb[o]! << 16) | (rgb[o + 1]! << 8) | rgb[o + 2]!;
      a = Math.imul(a ^ value, 0x01000193);
      b = Math.imul(b ^ value, 0x5bd1e995) ^ (b >>> 15);
    }
    return `${(a >>> 0).toString(16)}-${(b >>> 0).toString(16)}`;
  }

  pushHistory(): void {
    this.history.push(this.rgb.slice(), this.rgb.byteLength);
  }

  restore(rgb: Uint8Array): void {
    this.rgb = rgb.slice();
    this.afterEdit({ x0: 0, y0: 0, x1: this.width, y1: this.height }, 0);
  }

  undo(): void {
    const previous = this.history.undo(() => this.rgb.slice());
    if (previous) this.restore(previous);
  }

  redo(): void {
    const next = this.history.redo(() => this.rgb.slice());
    if (next) this.restore(next);
  }

  afterEdit(rect: Rect, delay = FULL_RENDER_DELAY_MS): void {
    this.drawImage(rect);
    this.updateButtons();
    this.renderer.scheduleFull(delay);
  }

  drawImage(rect: Rect): void {
    const { width, height, rgb } = this;
    const data = this.imageData.data;
    const x0 = Math.max(0, rect.x0);
    const y0 = Math.max(0, rect.y0);
    const x1 = Math.min(width, rect.x1);
    const y1 = Math.min(height, rect.y1);
    if (x1 <= x0 || y1 <= y0) return;
    for (let y = y0; y < y1; y++) {
      for (let x = x0; x < x1; x++) {
        const p = y * width + x;
        data[p * 4] = rgb[p * 3]!;
        data[p * 4 + 1] = rgb[p * 3 + 1]!;
        data[p * 4 + 2] = rgb[p * 3 + 2]!;
        data[p * 4 + 3] = 255;
      }
    }
    this.imageContext.putImageData(this.imageData, 0, 0, x0, y0, x1 - x0, y1 - y0);
    if (this.viewport.view === 'overlay') this.drawOverlay();
  }

  drawOverlay(): void {
    const context = this.overlayCanvas.getContext('2d')!;
    context.clearRect(0, 0, this.width, this.height);
    context.drawImage(this.imageCanvas, 0, 0);
  }

  brushOf(): Brush {
    return { shape: this.brush.shape, size: this.brush.size };
  }

  setColour(colour: Colour): void {
    this.colour = [colour[0], colour[1], colour[2]];
    byId<HTMLInputElement>('colour-picker').value = hex(this.colour);
    byId<HTMLElement>('colour-value').textContent = `rgb(${this.colour.join(', ')})`;
    const current = hex(this.colour);
    for (const button of document.querySelectorAll<HTMLButtonElement>('#palette .colour')) button.classList.toggle('active', button.dataset['colour'] === current);
  }

  setTool(tool: Pix2pixTool): void {
    this.tool = tool;
    for (const button of document.querySelectorAll<HTMLButtonElement>('#tools button')) button.classList.toggle('active', button.dataset['tool'] === tool);
  }

  pointerDown(event: PointerEvent, view: HTMLElement): void {
    if (this.viewport.startPan(event, view)) return;
    if (event.button !== 0) return;
    const point = this.viewport.imagePoint(event, view);
    const p = this.viewport.pixelAt(point);
    switch (this.tool) {
      case 'eyedropper':
        if (p === undefined) return;
        this.setColour(colourAt(this, p % this.width, Math.floor(p / this.width)));
        this.setTool('brush');
        return;
      case 'fill': {
        if (p === undefined) return;
        this.pushHistory();
        const rect = floodFillRgb(this, p % this.width, Math.floor(p / this.width), this.colour);
        if (rect.x1 <= rect.x0) {
          this.history.dropLast();
          return;
        }
        this.afterEdit(rect, 0);
        return;
      }
      case 'brush': {
        this.pushHistory();
        const colour = this.colour;
        const dirty = paintSegmentRgb(this, this.brushOf(), point.x, point.y, point.x, point.y, colour);
        this.stroke = { pointer: event.pointerId, x: point.x, y: point.y, colour, dirty, lastPreview: performance.now(), points: [[point.x, point.y]] };
        this.renderer.cancelFull();
        view.setPointerCapture(event.pointerId);
        this.drawImage(dirty);
      }
    }
  }

  pointerMove(event: PointerEvent, view: HTMLElement): void {
    if (this.viewport.movePan(event)) return;
    const stroke = this.stroke;
    if (!stroke || event.pointerId !== stroke.pointer) return;
    const point = this.viewport.imagePoint(event, view);
    const rect = paintSegmentRgb(this, this.brushOf(), stroke.x, stroke.y, point.x, point.y, stroke.colour);
    stroke.x = point.x;
    stroke.y = point.y;
    stroke.points.push([point.x, point.y]);
    stroke.dirty = unionRect(stroke.dirty, rect);
    this.drawImage(rect);
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer);
    this.idleTimer = window.setTimeout(() => {
      this.idleTimer = undefined;
      if (this.stroke === stroke) this.renderer.request(1);
    }, STROKE_IDLE_MS);
    const now = performance.now();
    if (this.session.previewScale > 1 && now - stroke.lastPreview >= PREVIEW_INTERVAL_MS && !this.renderer.inflight) {
      stroke.lastPreview = now;
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
    this.lastStroke = { points: stroke.points, brush: this.brushOf(), colour: stroke.colour };
    this.afterEdit(stroke.dirty);
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
    const key = this.stateKey();
    try {
      const reply = await postSaveRgb({ name }, this.rgb);
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

/** The palette: the A image's colours (most frequent first) and a picker for any other. */
function buildPalette(editor: Pix2pixEditor): void {
  const palette = byId<HTMLElement>('palette');
  const heading = document.createElement('div');
  heading.textContent = 'colour';
  const picker = document.createElement('input');
  picker.type = 'color';
  picker.id = 'colour-picker';
  picker.addEventListener('input', () => editor.setColour(fromHex(picker.value)));
  const value = document.createElement('output');
  value.id = 'colour-value';
  const grid = document.createElement('div');
  grid.className = 'colours';
  for (const colour of editor.session.pix2pix!.colours) {
    const button = document.createElement('button');
    button.className = 'colour';
    button.dataset['colour'] = hex(colour);
    button.title = `rgb(${colour.join(', ')})`;
    button.style.background = hex(colour);
    button.addEventListener('click', () => editor.setColour(colour));
    grid.append(button);
  }
  const note = document.createElement('div');
  note.className = 'caption';
  note.textContent = `image colours, most frequent first; test mode ${editor.session.pix2pix!.mode}`;
  palette.append(heading, picker, value, grid, note);
  editor.setColour(editor.colour);
}

async function buildToolbar(editor: Pix2pixEditor): Promise<void> {
  const tools = byId<HTMLElement>('tools');
  for (const { tool, key, label } of TOOLS) {
    const button = document.createElement('button');
    button.dataset['tool'] = tool;
    button.textContent = label;
    button.title = `${label} (${key.toUpperCase()})`;
    button.addEventListener('click', () => editor.setTool(tool));
    tools.append(button);
  }
  editor.setTool('brush');
  const real = editor.session.pix2pix!.real;
  let toggleReal: (() => void) | undefined;
  if (real !== undefined) {
    // The input's real B, shown in the result view while toggled on (R).
    const bytes = base64ToBytes(real);
    const image = new ImageData(editor.width, editor.height);
    for (let p = 0; p < editor.width * editor.height; p++) image.data.set([bytes[p * 3]!, bytes[p * 3 + 1]!, bytes[p * 3 + 2]!, 255], p * 4);
    editor.renderer.realImage = await createImageBitmap(image);
    const button = document.createElement('button');
    button.id = 'real';
    button.textContent = 'real B';
    button.title = 'show the real image (R)';
    toggleReal = (): void => {
      editor.renderer.toggleCompare('real');
      button.classList.toggle('active', editor.renderer.compare === 'real');
      byId<HTMLButtonElement>('before').classList.toggle('active', editor.renderer.compare === 'before');
    };
    button.addEventListener('click', toggleReal);
    byId<HTMLButtonElement>('before').after(button);
  }
  bindCommonControls(editor, `${editor.session.stem}_edited`, (key) => {
    const tool = TOOLS.find((entry) => entry.key === key);
    if (tool) editor.setTool(tool.tool);
    else if (key === 'r' && toggleReal) toggleReal();
    else return false;
    return true;
  });
}

function exposeForTests(editor: Pix2pixEditor): void {
  const hook = {
    family: 'pix2pix',
    /** The A image, base64 RGB. */
    image: () => bytesToBase64(editor.rgb),
    lastStroke: () => editor.lastStroke ?? null,
    ...commonTestHook(editor, { stroking: () => editor.stroke !== undefined, undoDepth: () => editor.history.undoStack.length, redoDepth: () => editor.history.redoStack.length }),
    setColour: (colour: [number, number, number]) => editor.setColour(colour),
    setTool: (tool: Pix2pixTool) => editor.setTool(tool),
  };
  Object.defineProperty(window, 'p2phdEditor', { value: Object.freeze(hook) });
}

/** Starts the A-image editor on a pix2pix session. */
export async function startPix2pixEditor(session: SessionInfo): Promise<void> {
  const editor = new Pix2pixEditor(session);
  buildPalette(editor);
  await buildToolbar(editor);
  bindViews(editor.viewport, { down: (event, view) => editor.pointerDown(event, view), move: (event, view) => editor.pointerMove(event, view), up: (event) => editor.pointerUp(event) });
  editor.viewport.setView('side');
  editor.drawImage({ x0: 0, y0: 0, x1: editor.width, y1: editor.height });
  editor.updateButtons();
  editor.viewport.zoomFit();
  window.addEventListener('resize', () => editor.viewport.zoomFit());
  exposeForTests(editor);
  editor.renderer.scheduleFull(0);
}
