/**
 * samples/ PNG strips: label colours | synthesized | real, side by side, for
 * the first image of a batch. Label colours use the Cityscapes palette for
 * label_nc 35 and a generated palette otherwise; images map [-1, 1] to bytes
 * as the reference's tensor2im does ((x + 1) / 2 * 255, clipped, truncated).
 */
import sharp from 'sharp';
import { colourLabels } from '../data/datasets/palette.js';
import { writeFileAtomically } from '../data/formats/atomicWrite.js';

/** [-1, 1] floats (interleaved RGB) to bytes. */
export function signedToBytes(values: Float32Array): Uint8Array {
  const bytes = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) bytes[i] = Math.trunc(Math.min(255, Math.max(0, ((values[i]! + 1) / 2) * 255)));
  return bytes;
}

export interface StripParts {
  width: number;
  height: number;
  labelNc: number;
  /** Class ids [H*W] (label_nc > 0) or an RGB label [H*W*3]. */
  label: { ids?: ArrayLike<number>; rgb?: Uint8Array };
  /** [H*W*3] in [-1, 1]. */
  synthesized: Float32Array;
  real: Float32Array;
}

/** The strip's RGB bytes, [H, 3W, 3]. */
export function composeStrip(parts: StripParts): Uint8Array {
  const { width, height } = parts;
  const label = parts.label.ids ? colourLabels(parts.label.ids, parts.labelNc) : parts.label.rgb ?? new Uint8Array(width * height * 3);
  const panels = [label, signedToBytes(parts.synthesized), signedToBytes(parts.real)];
  const strip = new Uint8Array(height * width * 3 * panels.length);
  const rowBytes = width * 3;
  for (let y = 0; y < height; y++) {
    panels.forEach((panel, p) => strip.set(panel.subarray(y * rowBytes, (y + 1) * rowBytes), (y * panels.length + p) * rowBytes));
  }
  return strip;
}

/** Writes the strip as a PNG and returns the PNG's bytes and size (TensorBoard gets the same bytes). */
export async function writeStrip(path: string, parts: StripParts): Promise<{ png: Buffer; width: number; height: number }> {
  const width = parts.width * 3;
  const png = await sharp(composeStrip(parts), { raw: { width, height: parts.height, channels: 3 } }).png().toBuffer();
  await writeFileAtomically(path, png);
  return { png, width, height: parts.height };
}
