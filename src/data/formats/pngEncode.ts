/**
 * A small PNG encoder for id maps and photos: gray (1-16 bit), RGB, RGBA
 * and palette, non-interlaced. Used by the fixtures generator (16-bit
 * instance maps, which sharp cannot write from ids exactly) and by tests that
 * round-trip the decoder through every filter type.
 */
import { crc32, deflateSync } from 'node:zlib';
import { bytesPerPixel, CHANNELS, PNG_SIGNATURE, PngColorType, rowBytes, type PngColorTypeValue } from './png.js';

export interface PngImage {
  width: number;
  height: number;
  bitDepth: 1 | 2 | 4 | 8 | 16;
  colorType: PngColorTypeValue;
  /** Interleaved samples, row-major (palette images: indices). */
  samples: ArrayLike<number>;
  /** RGB triples, for palette images. */
  palette?: Uint8Array;
}

/** 0-4 forces one filter on every row; 'adaptive' picks per row (minimum sum of absolute differences). */
export type FilterChoice = 0 | 1 | 2 | 3 | 4 | 'adaptive';

function chunk(type: string, body: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + body.length);
  out.writeUInt32BE(body.length, 0);
  out.write(type, 4, 'latin1');
  out.set(body, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + body.length)), 8 + body.length);
  return out;
}

/** Packs one row of samples into bytes (big-endian for 16 bits, high bits first below 8). */
function packRow(samples: ArrayLike<number>, start: number, count: number, bitDepth: number, out: Uint8Array): void {
  if (bitDepth === 8) {
    for (let i = 0; i < count; i++) out[i] = samples[start + i]!;
  } else if (bitDepth === 16) {
    for (let i = 0; i < count; i++) {
      const value = samples[start + i]!;
      out[2 * i] = value >> 8;
      out[2 * i + 1] = value & 0xff;
    }
  } else {
    out.fill(0);
    const perByte = 8 / bitDepth;
    for (let i = 0; i < count; i++) {
      out[Math.floor(i / perByte)]! |= samples[start + i]! << (8 - bitDepth * ((i % perByte) + 1));
    }
  }
}

function predictor(filter: number, left: number, up: number, upLeft: number): number {
  switch (filter) {
    case 1: return left;
    case 2: return up;
    case 3: return (left + up) >> 1;
    case 4: {
      const estimate = left + up - upLeft;
      const dLeft = Math.abs(estimate - left);
      const dUp = Math.abs(estimate - up);
      const dUpLeft = Math.abs(estimate - upLeft);
      if (dLeft <= dUp && dLeft <= dUpLeft) return left;
      return dUp <= dUpLeft ? up : upLeft;
    }
    default: return 0;
  }
}

function filterRow(filter: number, row: Uint8Array, previous: Uint8Array | undefined, bpp: number, out: Uint8Array): void {
  out[0] = filter;
  for (let i = 0; i < row.length; i++) {
    const left = i >= bpp ? row[i - bpp]! : 0;
    const up = previous ? previous[i]! : 0;
    const upLeft = previous && i >= bpp ? previous[i - bpp]! : 0;
    out[i + 1] = (row[i]! - predictor(filter, left, up, upLeft)) & 0xff;
  }
}

function costOf(filtered: Uint8Array): number {
  let cost = 0;
  for (let i = 1; i < filtered.length; i++) {
    const value = filtered[i]!;
    cost += value < 128 ? value : 256 - value;
  }
  return cost;
}

export function encodePng(image: PngImage, options: { filter?: FilterChoice; level?: number } = {}): Buffer {
  const { width, height, bitDepth, colorType } = image;
  const channels = CHANNELS[colorType]!;
  const stride = rowBytes(width, channels, bitDepth);
  const bpp = bytesPerPixel(channels, bitDepth);
  const choice = options.filter ?? 'adaptive';
  const raw = new Uint8Array(height * (stride + 1));
  let previous: Uint8Array | undefined;
  const candidate = new Uint8Array(stride + 1);
  for (let y = 0; y < height; y++) {
    const row = new Uint8Array(stride);
    packRow(image.samples, y * width * channels, width * channels, bitDepth, row);
    const target = raw.subarray(y * (stride + 1), (y + 1) * (stride + 1));
    if (choice === 'adaptive') {
      let best = Infinity;
      for (let filter = 0; filter <= 4; filter++) {
        filterRow(filter, row, previous, bpp, candidate);
        const cost = costOf(candidate);
        if (cost < best) {
          best = cost;
          target.set(candidate);
        }
      }
    } else {
      filterRow(choice, row, previous, bpp, target);
    }
    previous = row;
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = bitDepth;
  ihdr[9] = colorType;
  const chunks = [Buffer.from(PNG_SIGNATURE), chunk('IHDR', ihdr)];
  if (colorType === PngColorType.palette) {
    if (!image.palette) throw new Error('encodePng: a palette image needs a palette');
    chunks.push(chunk('PLTE', image.palette));
  }
  chunks.push(chunk('IDAT', deflateSync(raw, { level: options.level ?? 9 })));
  chunks.push(chunk('IEND', new Uint8Array(0)));
  return Buffer.concat(chunks);
}
