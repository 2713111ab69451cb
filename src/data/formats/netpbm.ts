/**
 * Netpbm images (PPM, PGM: P2, P3, P5, P6) decoded to 8-bit RGB as PIL's
 * Image.open(...).convert('RGB') gives them (Pillow 9.4's PpmImagePlugin):
 * maxval 255 raw samples as they are; any other maxval scaled to 8 bits by
 * round(v / maxval * 255) (halves to even, Python's round), grey replicated.
 * A PGM with maxval > 255 opens as PIL mode 'I' scaled to 16 bits, and
 * convert('RGB') clips it at 255: so does this. Bitmaps (P1, P4) are refused.
 *
 * Why: sharp's prebuilt libvips reads no PPM, and the reference's image lists
 * (pix2pix's make_dataset, pix2pixHD's) take `.ppm`.
 */
import { InputError } from '../../errors.js';

export interface DecodedRgb {
  width: number;
  height: number;
  /** Interleaved RGB bytes, row-major. */
  data: Uint8Array;
}

const WHITESPACE = new Set([0x20, 0x09, 0x0a, 0x0b, 0x0c, 0x0d]);

/** Whether the bytes start like a Netpbm file (P1..P6). */
export function isNetpbm(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x50 && bytes[1]! >= 0x31 && bytes[1]! <= 0x36;
}

/** Python's round() for non-negative values: halves to even. */
function roundHalfEvenPositive(value: number): number {
  const floor = Math.floor(value);
  const fraction = value - floor;
  if (fraction !== 0.5) return Math.round(value);
  return floor % 2 === 0 ? floor : floor + 1;
}

/** Reads whitespace-separated decimal tokens, skipping '#' comments to the end of their line. */
class Tokens {
  position: number;
  constructor(private readonly bytes: Uint8Array, start: number, private readonly source: string) {
    this.position = start;
  }
  next(what: string): number {
    const { bytes } = this;
    for (;;) {
      while (this.position < bytes.length && WHITESPACE.has(bytes[this.position]!)) this.position++;
      if (bytes[this.position] !== 0x23) break;
      while (this.position < bytes.length && bytes[this.position] !== 0x0a && bytes[this.position] !== 0x0d) this.position++;
    }
    const start = this.position;
    let value = 0;
    while (this.position < bytes.length && bytes[this.position]! >= 0x30 && bytes[this.position]! <= 0x39) {
      value = value * 10 + (bytes[this.position]! - 0x30);
      this.position++;
    }
    if (this.position === start) throw new InputError(`${this.source}: Netpbm file ends or breaks where its ${what} should be`);
    return value;
  }
}

/** Decodes a PPM/PGM file's bytes; `source` names it in errors. */
export function decodeNetpbm(bytes: Uint8Array, source: string): DecodedRgb {
  const kind = bytes[1]! - 0x30;
  if (kind === 1 || kind === 4) throw new InputError(`${source}: PBM bitmaps (P${kind}) are not supported; convert to PNG`);
  const tokens = new Tokens(bytes, 2, source);
  const width = tokens.next('width');
  const height = tokens.next('height');
  const maxval = tokens.next('maxval');
  if (width < 1 || height < 1 || maxval < 1 || maxval > 65535) throw new InputError(`${source}: Netpbm header ${width}x${height}, maxval ${maxval} is not valid`);
  const bands = kind === 3 || kind === 6 ? 3 : 1;
  const count = width * height * bands;
  const samples = new Uint16Array(count);
  if (kind === 5 || kind === 6) {
    // One whitespace byte ends the header; then raw samples (big-endian when maxval > 255).
    const start = tokens.position + 1;
    const size = maxval > 255 ? 2 : 1;
    if (bytes.length < start + count * size) throw new InputError(`${source}: Netpbm file is truncated (${width}x${height} needs ${count * size} bytes of samples)`);
    for (let i = 0; i < count; i++) samples[i] = size === 1 ? bytes[start + i]! : (bytes[start + 2 * i]! << 8) | bytes[start + 2 * i + 1]!;
  } else {
    for (let i = 0; i < count; i++) samples[i] = tokens.next('samples');
  }
  // Grey beyond 8 bits is PIL mode 'I' (scaled to 16 bits), which convert('RGB') clips at 255.
  const outMax = bands === 1 && maxval > 255 ? 65535 : 255;
  const scale = (value: number): number => {
    if (maxval === 255) return value;
    return Math.min(255, Math.min(outMax, roundHalfEvenPositive((value / maxval) * outMax)));
  };
  const data = new Uint8Array(width * height * 3);
  for (let p = 0; p < width * height; p++) {
    for (let c = 0; c < 3; c++) data[3 * p + c] = scale(samples[bands === 3 ? 3 * p + c : p]!);
  }
  return { width, height, data };
}
