/**
 * Photos (and colour label maps when label_nc = 0): decoded by sharp (any
 * format it reads), converted to 8-bit RGB the way PIL's convert('RGB') does
 * (alpha dropped, gray replicated), and resized with a bicubic filter as the
 * reference does with PIL's BICUBIC. Shrinking uses sharp's 'cubic' kernel,
 * the same Catmull-Rom cubic (a = -0.5) with its support widened by the
 * scale, as PIL's; enlarging uses bicubic.ts (libvips enlarges differently).
 * The differences from PIL are measured in test/data/image.test.ts; against
 * real PIL 9.4 on the reference's Cityscapes photos
 * (scripts/check-reference-preprocess.sh) the mean absolute difference is
 * 0.17 grey levels shrinking 2048 -> 1024 wide (unbiased), 0.51 at 4x (sharp
 * about +0.47 brighter on average: libvips' 8-bit rounding; a 16-bit pipeline
 * halves it at twice the time), under 0.8 down to 64 wide; enlarging is bit
 * for bit equal (test/data/pil-golden.test.ts). sharp runs on its own
 * threads, so several photos resize in parallel. PPM/PGM and BMP, which
 * sharp's libvips does not read, are decoded by netpbm.ts and bmp.ts as PIL
 * decodes them, and resized with bicubic.ts both ways.
 */
import sharp from 'sharp';
import { InputError, P2phdError } from '../../errors.js';
import type { Size } from './nearest.js';
import { resizeBicubic } from './bicubic.js';
import { readInputFile } from './inputFile.js';
import { decodeNetpbm, isNetpbm, type DecodedRgb } from './netpbm.js';
import { decodeBmp, isBmp } from './bmp.js';

// Each file is read once: libvips' operation cache would only hold memory.
sharp.cache(false);

export interface RgbImage extends Size {
  /** Interleaved RGB bytes, row-major. */
  data: Uint8Array;
  /** The file's own size (before any resize). */
  sourceSize: Size;
}

function describeSharpFailure(path: string, error: unknown): InputError {
  const message = (error as Error).message ?? String(error);
  if (/no such file|ENOENT|does not exist|missing/i.test(message)) return new InputError(`${path}: no such file`);
  return new InputError(`${path}: cannot decode the image (${message.split('\n')[0]})`);
}

/**
 * Decodes `path` to 8-bit RGB. `check` sees the source size first (to refuse
 * a photo whose size differs from its label map's before decoding it);
 * `target` maps the source size to the output size, and when they differ the
 * image is resized bicubically to exactly that size (aspect not preserved, as
 * PIL's resize).
 */
export async function readRgbImage(
  path: string,
  options: { check?: (source: Size) => void; target?: (source: Size) => Size } = {},
): Promise<RgbImage> {
  try {
    // Read through the one input opener (a FIFO or a device is refused, not waited on), then decoded from memory.
    const bytes = await readInputFile(path, 'an image file');
    let image = sharp(bytes);
    const meta = await image.metadata();
    if (!meta.width || !meta.height) throw new Error('no size in the header');
    const source = { width: meta.width, height: meta.height };
    options.check?.(source);
    const target = options.target ? options.target(source) : source;
    if (meta.space === 'cmyk') image = await cmykAsPilRgb(bytes, source);
    let pipeline = image.removeAlpha().toColourspace('srgb');
    const resizing = target.width !== source.width || target.height !== source.height;
    // libvips shrinks much like PIL but enlarges differently: enlarge with our own PIL-style bicubic.
    const enlarging = target.width > source.width || target.height > source.height;
    if (resizing && !enlarging) pipeline = pipeline.resize(target.width, target.height, { kernel: 'cubic', fit: 'fill' });
    const { data, info } = await pipeline.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    let rgb = toRgb(data, info.channels, info.width * info.height);
    if (enlarging) rgb = resizeBicubic(rgb, info.width, info.height, 3, target.width, target.height);
    return { width: target.width, height: target.height, data: rgb, sourceSize: source };
  } catch (error) {
    if (error instanceof P2phdError) throw error;
    const fallback = /unsupported image format/i.test((error as Error).message ?? '') ? await decodeOwnFormats(path) : undefined;
    if (!fallback) throw describeSharpFailure(path, error);
    return resizeDecoded(fallback, options);
  }
}

/**
 * A CMYK image (a print-ready JPEG) as PIL's convert('RGB') gives it, which
 * the reference uses: no colour management (embedded ICC profiles are
 * ignored), each channel (255 - K) scaled by (255 - C, M or Y) / 255,
 * rounded. libvips would apply a CMYK ICC profile instead (a mean 24 grey
 * levels away). The CMYK values are libjpeg's as PIL reads them (an Adobe
 * file's inverted CMYK un-inverted), without any profile applied.
 */
async function cmykAsPilRgb(bytes: Buffer, size: Size): Promise<sharp.Sharp> {
  const { data, info } = await sharp(bytes).pipelineColourspace('cmyk').toColourspace('cmyk').raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  if (info.channels !== 4 || info.width !== size.width || info.height !== size.height) throw new Error(`a CMYK image decoded to ${info.channels} channels`);
  return sharp(Buffer.from(cmykToRgb(data, info.width * info.height)), { raw: { width: info.width, height: info.height, channels: 3 } });
}

/** PIL's CMYK -> RGB: channel = (255 - K) - round(ink * (255 - K) / 255), per pixel of interleaved CMYK bytes. */
export function cmykToRgb(cmyk: Uint8Array, pixels: number): Uint8Array {
  const rgb = new Uint8Array(pixels * 3);
  for (let i = 0; i < pixels; i++) {
    const white = 255 - cmyk[4 * i + 3]!;
    for (let c = 0; c < 3; c++) {
      // round(ink * white / 255) exactly, in integers: (t + (t >> 8)) >> 8 with t = ink * white + 128.
      const t = cmyk[4 * i + c]! * white + 128;
      rgb[3 * i + c] = white - ((t + (t >> 8)) >> 8);
    }
  }
  return rgb;
}

/** PPM/PGM and BMP, which sharp's libvips does not read: decoded here as PIL decodes them (netpbm.ts, bmp.ts). */
async function decodeOwnFormats(path: string): Promise<DecodedRgb | undefined> {
  let bytes: Uint8Array;
  try {
    bytes = await readInputFile(path, 'an image file');
  } catch {
    return undefined;
  }
  if (isNetpbm(bytes)) return decodeNetpbm(bytes, path);
  if (isBmp(bytes)) return decodeBmp(bytes, path);
  return undefined;
}

/** readRgbImage's check and resize for an image decoded here (PIL's bicubic both ways). */
function resizeDecoded(decoded: DecodedRgb, options: { check?: (source: Size) => void; target?: (source: Size) => Size }): RgbImage {
  const source = { width: decoded.width, height: decoded.height };
  options.check?.(source);
  const target = options.target ? options.target(source) : source;
  const same = target.width === source.width && target.height === source.height;
  const data = same ? decoded.data : resizeBicubic(decoded.data, source.width, source.height, 3, target.width, target.height);
  return { width: target.width, height: target.height, data, sourceSize: source };
}

/** Interleaved RGB from 1 (gray), 2 (gray+alpha), 3 or 4 channels. */
function toRgb(data: Buffer, channels: number, pixels: number): Uint8Array {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (channels === 3) return bytes;
  const rgb = new Uint8Array(pixels * 3);
  for (let i = 0; i < pixels; i++) {
    const base = i * channels;
    if (channels < 3) {
      rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = bytes[base]!;
    } else {
      rgb[3 * i] = bytes[base]!;
      rgb[3 * i + 1] = bytes[base + 1]!;
      rgb[3 * i + 2] = bytes[base + 2]!;
    }
  }
  return rgb;
}
