/**
 * BMP images decoded to 8-bit RGB as PIL's Image.open(...).convert('RGB')
 * gives them (Pillow 9.4's BmpImagePlugin): uncompressed 1, 4, 8-bit
 * palette, 16, 24 and 32-bit, BI_BITFIELDS 16 and 32-bit, core (OS/2 1.x)
 * and Windows headers, bottom-up or top-down. Alpha is dropped. Run-length
 * compressed files are refused.
 *
 * 16-bit channels widen as PIL's unpackers do: a 5-bit value v becomes
 * v * 255 / 31 (integer division), 6-bit v * 255 / 63; 32-bit masks of 8 bits
 * are read as they are.
 *
 * Why: sharp's prebuilt libvips reads no BMP, and the reference's image lists
 * take `.bmp`.
 */
import { InputError } from '../../errors.js';
import type { DecodedRgb } from './netpbm.js';

/** Whether the bytes start like a BMP file ("BM"). */
export function isBmp(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x42 && bytes[1] === 0x4d;
}

const BI_RGB = 0;
const BI_BITFIELDS = 3;
const BI_ALPHABITFIELDS = 6;

interface Channel {
  shift: number;
  bits: number;
}

/** A bit mask as (shift, width); PIL supports only contiguous masks. */
function channelOf(mask: number, source: string): Channel {
  if (mask === 0) throw new InputError(`${source}: BMP colour mask is empty`);
  let shift = 0;
  while (((mask >>> shift) & 1) === 0) shift++;
  let bits = 0;
  while (((mask >>> (shift + bits)) & 1) === 1) bits++;
  if ((mask >>> (shift + bits)) !== 0) throw new InputError(`${source}: BMP colour mask 0x${(mask >>> 0).toString(16)} is not contiguous`);
  return { shift, bits };
}

/** Widens a `bits`-wide value to 8 bits as PIL's unpackers do. */
function widen(value: number, bits: number): number {
  if (bits === 8) return value;
  if (bits > 8) return value >>> (bits - 8);
  return Math.floor((value * 255) / ((1 << bits) - 1));
}

/** Decodes a BMP file's bytes; `source` names it in errors. */
export function decodeBmp(bytes: Uint8Array, source: string): DecodedRgb {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const fail = (what: string): never => {
    throw new InputError(`${source}: ${what}`);
  };
  if (bytes.length < 26) fail('BMP file is truncated (no header)');
  const dataOffset = view.getUint32(10, true);
  const headerSize = view.getUint32(14, true);
  let width: number;
  let rawHeight: number;
  let bitCount: number;
  let compression = BI_RGB;
  let paletteCount = 0;
  let paletteEntry = 4;
  if (headerSize === 12) {
    width = view.getUint16(18, true);
    rawHeight = view.getInt16(20, true);
    bitCount = view.getUint16(24, true);
    paletteEntry = 3;
  } else if (headerSize >= 40 && bytes.length >= 14 + 40) {
    width = view.getInt32(18, true);
    rawHeight = view.getInt32(22, true);
    bitCount = view.getUint16(28, true);
    compression = view.getUint32(30, true);
    paletteCount = view.getUint32(46, true);
  } else {
    return fail(`BMP header of ${headerSize} bytes is not one p2phd reads`);
  }
  const topDown = rawHeight < 0;
  const height = Math.abs(rawHeight);
  if (width < 1 || height < 1) fail(`BMP size ${width}x${rawHeight} is not valid`);
  if (compression !== BI_RGB && compression !== BI_BITFIELDS && compression !== BI_ALPHABITFIELDS) {
    fail(`compressed BMP (compression ${compression}) is not supported; convert to PNG`);
  }
  // Colour masks: defaults, or after a 40-byte header, or inside a V2+ header (same offsets).
  let masks: [number, number, number] | undefined;
  if (compression === BI_BITFIELDS || compression === BI_ALPHABITFIELDS) {
    const at = 14 + 40;
    if (bytes.length < at + 12) fail('BMP file is truncated (no colour masks)');
    masks = [view.getUint32(at, true), view.getUint32(at + 4, true), view.getUint32(at + 8, true)];
  } else if (bitCount === 16) {
    masks = [0x7c00, 0x03e0, 0x001f];
  } else if (bitCount === 32) {
    masks = [0xff0000, 0x00ff00, 0x0000ff];
  }
  let palette: Uint8Array | undefined;
  if (bitCount <= 8) {
    if (![1, 4, 8].includes(bitCount)) fail(`BMP of ${bitCount} bits per pixel is not valid`);
    const entries = paletteCount > 0 ? paletteCount : 1 << bitCount;
    const at = 14 + headerSize + (compression === BI_BITFIELDS ? 12 : compression === BI_ALPHABITFIELDS ? 16 : 0);
    if (bytes.length < at + entries * paletteEntry) fail('BMP file is truncated (palette)');
    palette = new Uint8Array(256 * 3);
    for (let i = 0; i < Math.min(entries, 256); i++) {
      palette[3 * i] = bytes[at + i * paletteEntry + 2]!;
      palette[3 * i + 1] = bytes[at + i * paletteEntry + 1]!;
      palette[3 * i + 2] = bytes[at + i * paletteEntry]!;
    }
  } else if (![16, 24, 32].includes(bitCount)) {
    fail(`BMP of ${bitCount} bits per pixel is not supported`);
  }
  const stride = Math.ceil((width * bitCount) / 32) * 4;
  if (bytes.length < dataOffset + stride * height) fail(`BMP file is truncated (${width}x${height} at ${bitCount} bits needs ${stride * height} bytes of pixels)`);
  const channels = masks?.map((mask) => channelOf(mask, source));
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const row = dataOffset + (topDown ? y : height - 1 - y) * stride;
    for (let x = 0; x < width; x++) {
      const out = (y * width + x) * 3;
      if (palette) {
        const bit = x * bitCount;
        const index = (bytes[row + (bit >>> 3)]! >>> (8 - bitCount - (bit & 7))) & ((1 << bitCount) - 1);
        data[out] = palette[3 * index]!;
        data[out + 1] = palette[3 * index + 1]!;
        data[out + 2] = palette[3 * index + 2]!;
      } else if (bitCount === 24) {
        data[out] = bytes[row + 3 * x + 2]!;
        data[out + 1] = bytes[row + 3 * x + 1]!;
        data[out + 2] = bytes[row + 3 * x]!;
      } else {
        const pixel = bitCount === 16 ? view.getUint16(row + 2 * x, true) : view.getUint32(row + 4 * x, true);
        for (let c = 0; c < 3; c++) {
          const { shift, bits } = channels![c]!;
          data[out + c] = widen((pixel >>> shift) & ((2 ** bits) - 1), bits);
        }
      }
    }
  }
  return { width, height, data };
}
