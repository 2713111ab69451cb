/**
 * Pure functions over label and instance maps that preprocessing and
 * training share: instance edges, one-hot encoding, the label range check.
 * Training recomputes edges after its random crop, as the reference does.
 */
import { InputError } from '../../errors.js';

/**
 * 1 where a pixel's instance id differs from any of its 4 neighbours, else 0.
 * Both pixels of a differing pair are marked, as the reference's get_edges
 * (which compares horizontal and vertical neighbours and marks both sides).
 */
export function instanceEdges(inst: ArrayLike<number>, width: number, height: number): Uint8Array {
  const edges = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    const row = y * width;
    for (let x = 0; x + 1 < width; x++) {
      const i = row + x;
      if (inst[i] !== inst[i + 1]) {
        edges[i] = 1;
        edges[i + 1] = 1;
      }
    }
    if (y + 1 < height) {
      const below = row + width;
      for (let x = 0; x < width; x++) {
        if (inst[row + x] !== inst[below + x]) {
          edges[row + x] = 1;
          edges[below + x] = 1;
        }
      }
    }
  }
  return edges;
}

/** The first label id >= labelNc, with its position, or undefined when all are in range. */
export function findLabelOutOfRange(labels: ArrayLike<number>, width: number, labelNc: number): { id: number; x: number; y: number } | undefined {
  for (let i = 0; i < labels.length; i++) {
    const id = labels[i]!;
    if (id >= labelNc) return { id, x: i % width, y: Math.floor(i / width) };
  }
  return undefined;
}

/** InputError naming the file, the id and where, when any label id is >= labelNc. */
export function checkLabelRange(labels: ArrayLike<number>, width: number, labelNc: number, source: string): void {
  const bad = findLabelOutOfRange(labels, width, labelNc);
  if (bad) {
    throw new InputError(
      `${source}: label id ${bad.id} at pixel (${bad.x}, ${bad.y}) is out of range (--label-nc ${labelNc} allows ids 0..${labelNc - 1})`,
    );
  }
}

/** One-hot [labelNc, H, W] (channel-major, like the reference's scatter_) of in-range labels. */
export function oneHot(labels: ArrayLike<number>, labelNc: number): Uint8Array {
  const planeSize = labels.length;
  const out = new Uint8Array(labelNc * planeSize);
  for (let i = 0; i < planeSize; i++) out[labels[i]! * planeSize + i] = 1;
  return out;
}
