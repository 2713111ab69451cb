/**
 * The toolbar controls and keyboard shortcuts both editors share: brush
 * size and shape, undo/redo, view mode, overlay opacity, before/after (and
 * real-image) comparison, zoom, save, the unsaved-edits warning; and the
 * read-only hook tests use. Each editor adds its own tools through `keys`.
 */
import { bytesToBase64 } from '../shared/protocol.js';
import type { BrushShape } from '../shared/paint.js';
import { byId } from './dom.js';
import type { Renderer } from './renderer.js';
import type { ViewMode, Viewport } from './viewport.js';

/** What the shared controls drive. */
export interface EditorCore {
  readonly width: number;
  readonly height: number;
  readonly viewport: Viewport;
  readonly renderer: Renderer;
  readonly overlayCanvas: HTMLCanvasElement;
  readonly resultCanvas: HTMLCanvasElement;
  brush: { shape: BrushShape; size: number };
  undo(): void;
  redo(): void;
  save(): Promise<void>;
  readonly unsaved: boolean;
  stateKey(): string;
}

export interface CommonControls {
  setSize(size: number): void;
  toggleBefore(): void;
}

/**
 * Binds the shared controls; `keys` gets every plain key press (no
 * modifiers, not typing in a field) first and returns true when it used it.
 */
export function bindCommonControls(editor: EditorCore, saveName: string, keys: (key: string) => boolean): CommonControls {
  const { viewport, renderer } = editor;
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
  view.addEventListener('change', () => viewport.setView(view.value as ViewMode));
  const opacity = byId<HTMLInputElement>('opacity');
  const setOpacity = (): void => void (editor.overlayCanvas.style.opacity = String(Number(opacity.value) / 100));
  opacity.addEventListener('input', setOpacity);
  setOpacity();
  const toggleBefore = (): void => {
    renderer.toggleCompare('before');
    byId<HTMLButtonElement>('before').classList.toggle('active', renderer.compare === 'before');
    document.getElementById('real')?.classList.toggle('active', false);
  };
  byId<HTMLButtonElement>('before').addEventListener('click', toggleBefore);
  byId<HTMLButtonElement>('zoom-in').addEventListener('click', () => viewport.zoomBy(2));
  byId<HTMLButtonElement>('zoom-out').addEventListener('click', () => viewport.zoomBy(0.5));
  byId<HTMLButtonElement>('zoom-fit').addEventListener('click', () => viewport.zoomFit());
  byId<HTMLInputElement>('save-name').value = saveName;
  byId<HTMLButtonElement>('save').addEventListener('click', () => void editor.save());

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
    if (keys(key)) return;
    if (key === '[') return setSize(editor.brush.size - (editor.brush.size > 10 ? 4 : 1));
    if (key === ']') return setSize(editor.brush.size + (editor.brush.size >= 10 ? 4 : 1));
    if (key === 'v') return toggleBefore();
    if (key === '+' || key === '=') return viewport.zoomBy(2);
    if (key === '-') return viewport.zoomBy(0.5);
    if (key === '0') return viewport.zoomFit();
    if (key === ' ') {
      viewport.spaceDown = true;
      event.preventDefault();
    }
  });
  window.addEventListener('keyup', (event) => {
    if (event.key === ' ') viewport.spaceDown = false;
  });
  window.addEventListener('beforeunload', (event) => {
    if (!editor.unsaved) return;
    event.preventDefault();
    event.returnValue = '';
  });
  return { setSize, toggleBefore };
}

/** The hook parts both editors expose to tests: the shown image, render counts, view geometry. */
export function commonTestHook(editor: EditorCore, extra: { stroking: () => boolean; undoDepth: () => number; redoDepth: () => number }): Record<string, unknown> {
  const { viewport, renderer } = editor;
  return {
    /** RGBA of the result view (the shown image), base64. */
    resultPixels: () => bytesToBase64(new Uint8Array(editor.resultCanvas.getContext('2d')!.getImageData(0, 0, editor.width, editor.height).data.buffer)),
    status: () => ({
      currentKey: editor.stateKey(),
      shownKey: renderer.shownKey,
      idle: renderer.idle && !extra.stroking(),
      fullRequests: renderer.fullRequests,
      undo: extra.undoDepth(),
      redo: extra.redoDepth(),
      zoom: viewport.zoom,
    }),
    /** Client coordinates of image point (x, y) in a view ('label' or 'result'). */
    clientPoint: (x: number, y: number, which: 'label' | 'result' = 'label') => viewport.clientPoint(x, y, which),
    setZoom: (zoom: number, panX: number, panY: number) => {
      viewport.zoom = zoom;
      viewport.panX = panX;
      viewport.panY = panY;
      viewport.applyTransform();
    },
    setBrush: (shape: BrushShape, size: number) => {
      editor.brush = { shape, size };
    },
  };
}
