/**
 * Exact edits of label and instance maps, on typed arrays: ids are written
 * directly, never read back from canvas pixels (which antialiasing would
 * blend). Pixel (x, y) covers [x, x+1) x [y, y+1); a brush covers a pixel
 * when the pixel's centre lies within the brush swept along the stroke:
 * round brushes within size/2 (Euclidean) of the stroke's segment, square
 * ones within size/2 in the max norm. Pure code shared by the page and the
 * tests.
 */
import { INSTANCE_FACTOR } from './protocol.js';

export interface EditMaps {
  readonly width: number;
  readonly height: number;
  readonly labels: Uint16Array;
  readonly instances: Int32Array;
}

export type BrushShape = 'round' | 'square';

export interface Brush {
  readonly shape: BrushShape;
  /** Diameter (round) or side (square), in image pixels. */
  readonly size: number;
}

/** A region of changed pixels, [x0, x1) x [y0, y1); empty when x1 <= x0. */
export interface Rect {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

export const emptyRect = (): Rect => ({ x0: 0, y0: 0, x1: 0, y1: 0 });

export function unionRect(a: Rect, b: Rect): Rect {
  if (a.x1 <= a.x0 || a.y1 <= a.y0) return { ...b };
  if (b.x1 <= b.x0 || b.y1 <= b.y0) return { ...a };
  return { x0: Math.min(a.x0, b.x0), y0: Math.min(a.y0, b.y0), x1: Math.max(a.x1, b.x1), y1: Math.max(a.y1, b.y1) };
}

/** Class of an instance id: the id below 1000, else id / 1000 rounded down. */
export function classOfId(id: number): number {
  return id < INSTANCE_FACTOR ? id : Math.floor(id / INSTANCE_FACTOR);
}

/** Squared Euclidean distance from (px, py) to the segment (ax, ay)-(bx, by). */
function segmentDistanceSquared(px: number, py: number, ax: number, ay: number, bx: number, by: number): number {
  const dx = bx - ax;
  const dy = by - ay;
  const length = dx * dx + dy * dy;
  let t = length > 0 ? ((px - ax) * dx + (py - ay) * dy) / length : 0;
  t = t < 0 ? 0 : t > 1 ? 1 : t;
  const ex = px - (ax + t * dx);
  const ey = py - (ay + t * dy);
  return ex * ex + ey * ey;
}

/** Max-norm distance from (px, py) to the segment: a convex function of the segment parameter, minimised by ternary search. */
function segmentChebyshev(px: number, py: number, ax: number, ay: number, bx: number, by: number): number {
  const at = (t: number): number => Math.max(Math.abs(px - (ax + t * (bx - ax))), Math.abs(py - (ay + t * (by - ay))));
  let lo = 0;
  let hi = 1;
  for (let i = 0; i < 48 && hi - lo > 1e-9; i++) {
    const m1 = lo + (hi - lo) / 3;
    const m2 = hi - (hi - lo) / 3;
    if (at(m1) <= at(m2)) hi = m2;
    else lo = m1;
  }
  return Math.min(at(lo), at(hi), at(0), at(1));
}

/** Whether pixel (x, y) is covered by `brush` swept from (ax, ay) to (bx, by) (image coordinates, continuous). */
export function brushCovers(brush: Brush, x: number, y: number, ax: number, ay: number, bx: number, by: number): boolean {
  const half = brush.size / 2;
  const cx = x + 0.5;
  const cy = y + 0.5;
  if (brush.shape === 'round') return segmentDistanceSquared(cx, cy, ax, ay, bx, by) <= half * half;
  return segmentChebyshev(cx, cy, ax, ay, bx, by) <= half;
}

/**
 * Paints `label` / `instance` where the brush swept from a to b covers; the
 * rectangle of pixels examined (clipped to the image) is returned.
 */
export function paintSegment(maps: EditMaps, brush: Brush, ax: number, ay: number, bx: number, by: number, label: number, instance: number): Rect {
  const half = brush.size / 2;
  const x0 = Math.max(0, Math.floor(Math.min(ax, bx) - half - 1));
  const y0 = Math.max(0, Math.floor(Math.min(ay, by) - half - 1));
  const x1 = Math.min(maps.width, Math.ceil(Math.max(ax, bx) + half + 1));
  const y1 = Math.min(maps.height, Math.ceil(Math.max(ay, by) + half + 1));
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      if (!brushCovers(brush, x, y, ax, ay, bx, by)) continue;
      const p = y * maps.width + x;
      maps.labels[p] = label;
      maps.instances[p] = instance;
    }
  }
  return x1 > x0 && y1 > y0 ? { x0, y0, x1, y1 } : emptyRect();
}

/**
 * Flood fill: the 4-connected region of pixels with the seed's label and
 * instance id gets `label` / `instance`. Returns the region's bounding box.
 */
export function floodFill(maps: EditMaps, sx: number, sy: number, label: number, instance: number): Rect {
  const { width, height, labels, instances } = maps;
  if (sx < 0 || sy < 0 || sx >= width || sy >= height) return emptyRect();
  const seed = sy * width + sx;
  const fromLabel = labels[seed]!;
  const fromInstance = instances[seed]!;
  if (fromLabel === label && fromInstance === instance) return emptyRect();
  const visited = new Uint8Array(width * height);
  const stack: number[] = [seed];
  visited[seed] = 1;
  const rect: Rect = { x0: sx, y0: sy, x1: sx + 1, y1: sy + 1 };
  while (stack.length > 0) {
    const p = stack.pop()!;
    const x = p % width;
    const y = (p - x) / width;
    labels[p] = label;
    instances[p] = instance;
    if (x < rect.x0) rect.x0 = x;
    if (x + 1 > rect.x1) rect.x1 = x + 1;
    if (y < rect.y0) rect.y0 = y;
    if (y + 1 > rect.y1) rect.y1 = y + 1;
    const visit = (q: number): void => {
      if (visited[q] === 0 && labels[q] === fromLabel && instances[q] === fromInstance) {
        visited[q] = 1;
        stack.push(q);
      }
    };
    if (x > 0) visit(p - 1);
    if (x + 1 < width) visit(p + 1);
    if (y > 0) visit(p - width);
    if (y + 1 < height) visit(p + width);
  }
  return rect;
}

/** The next free instance id of a thing class: class x 1000 + (largest n in use + 1), or + 0 when none is. */
export function nextInstanceId(instances: Int32Array, classId: number): number {
  const base = classId * INSTANCE_FACTOR;
  let largest = -1;
  for (let p = 0; p < instances.length; p++) {
    const id = instances[p]!;
    if (id >= base && id < base + INSTANCE_FACTOR && id - base > largest) largest = id - base;
  }
  if (largest + 1 >= INSTANCE_FACTOR) return -1;
  return base + largest + 1;
}

/** The pixels' bounding box of instance `id`, empty when absent. */
export function instanceBounds(instances: Int32Array, width: number, id: number): Rect {
  let rect = emptyRect();
  let found = false;
  for (let p = 0; p < instances.length; p++) {
    if (instances[p] !== id) continue;
    const x = p % width;
    const y = (p - x) / width;
    if (!found) {
      rect = { x0: x, y0: y, x1: x + 1, y1: y + 1 };
      found = true;
    } else {
      if (x < rect.x0) rect.x0 = x;
      if (x + 1 > rect.x1) rect.x1 = x + 1;
      if (y < rect.y0) rect.y0 = y;
      if (y + 1 > rect.y1) rect.y1 = y + 1;
    }
  }
  return rect;
}

/**
 * Gives every pixel of instance `id` the class `label` and the id
 * `instance` (the new id: a fresh one for a thing class, the class id for
 * stuff). Returns the changed bounds.
 */
export function relabelInstance(maps: EditMaps, id: number, label: number, instance: number): Rect {
  const rect = instanceBounds(maps.instances, maps.width, id);
  for (let p = 0; p < maps.instances.length; p++) {
    if (maps.instances[p] !== id) continue;
    maps.labels[p] = label;
    maps.instances[p] = instance;
  }
  return rect;
}

/**
 * What lies around instance `id`: the (label, instance) pair most common
 * among the 4-neighbours outside it, or undefined when it has none (it
 * covers the image).
 */
export function surroundingOf(maps: EditMaps, id: number): { label: number; instance: number } | undefined {
  const { width, height, labels, instances } = maps;
  const counts = new Map<number, { label: number; instance: number; count: number }>();
  const note = (q: number): void => {
    const instance = instances[q]!;
    if (instance === id) return;
    const key = instance * 65536 + labels[q]!;
    const entry = counts.get(key);
    if (entry) entry.count++;
    else counts.set(key, { label: labels[q]!, instance, count: 1 });
  };
  for (let p = 0; p < instances.length; p++) {
    if (instances[p] !== id) continue;
    const x = p % width;
    const y = (p - x) / width;
    if (x > 0) note(p - 1);
    if (x + 1 < width) note(p + 1);
    if (y > 0) note(p - width);
    if (y + 1 < height) note(p + width);
  }
  let best: { label: number; instance: number; count: number } | undefined;
  for (const entry of counts.values()) if (!best || entry.count > best.count) best = entry;
  return best ? { label: best.label, instance: best.instance } : undefined;
}

/** Deletes instance `id`: its pixels take what surrounds it. */
export function deleteInstance(maps: EditMaps, id: number): Rect {
  const around = surroundingOf(maps, id);
  if (!around) return emptyRect();
  return relabelInstance(maps, id, around.label, around.instance);
}

/** The distinct ids of a map (ascending). */
export function distinctIds(ids: ArrayLike<number>): number[] {
  const seen = new Set<number>();
  for (let i = 0; i < ids.length; i++) seen.add(ids[i]!);
  return [...seen].sort((a, b) => a - b);
}

/**
 * Nearest-neighbour downscale of a map by an integer factor to
 * (width / factor) x (height / factor): each output pixel takes the input
 * pixel at the centre of its block.
 */
export function downscaleNearest<T extends Uint16Array | Int32Array>(map: T, width: number, height: number, factor: number, make: (n: number) => T): T {
  const w = Math.floor(width / factor);
  const h = Math.floor(height / factor);
  const out = make(w * h);
  const offset = Math.floor(factor / 2);
  for (let y = 0; y < h; y++) {
    const row = (y * factor + offset) * width;
    for (let x = 0; x < w; x++) out[y * w + x] = map[row + x * factor + offset]!;
  }
  return out;
}
