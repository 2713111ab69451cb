/**
 * An exact PNG decoder for label and instance maps (PNG spec, 2nd edition).
 *
 * Why our own and not sharp: a label map's values are class ids, so they must
 * come out exactly as stored. Palette PNGs must give the palette *index* (an
 * image library gives its colour), and 16-bit instance maps (Cityscapes
 * `*_instanceIds.png`, ids like 26004) must keep all 16 bits. Photos are not
 * decoded here (see image.ts, which uses sharp).
 *
 * Supported: bit depths 1/2/4/8/16, colour types gray, gray+alpha, RGB, RGBA,
 * palette, all five filter types, Adam7 interlacing. Every defect (bad
 * signature, CRC mismatch, truncation, corrupt zlib stream, wrong sizes) is
 * an InputError naming the file. Inflating runs on libuv's thread pool, so
 * several files decode in parallel.
 */
import { readInputFile } from './inputFile.js';
import { crc32, inflate } from 'node:zlib';
import { promisify } from 'node:util';
import { InputError } from '../../errors.js';
import { gatherNearest, MAX_IMAGE_PIXELS } from './nearest.js';

const inflateAsync = promisify(inflate);

export const PNG_SIGNATURE = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a);

export const PngColorType = Object.freeze({
  gray: 0,
  rgb: 2,
  palette: 3,
  grayAlpha: 4,
  rgba: 6,
} as const);
export type PngColorTypeValue = (typeof PngColorType)[keyof typeof PngColorType];

/** Samples per pixel of each colour type. */
export const CHANNELS: Readonly<Record<number, number>> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
/** Bit depths the spec allows for each colour type. */
const ALLOWED_DEPTHS: Record<number, readonly number[]> = {
  0: [1, 2, 4, 8, 16],
  2: [8, 16],
  3: [1, 2, 4, 8],
  4: [8, 16],
  6: [8, 16],
};

export interface PngHeader {
  width: number;
  height: number;
  bitDepth: number;
  colorType: PngColorTypeValue;
  interlaced: boolean;
}

export interface DecodedPng extends PngHeader {
  /** Samples per pixel (1 gray/palette, 2 gray+alpha, 3 RGB, 4 RGBA). */
  channels: number;
  /**
   * Samples, row-major and interleaved, one element per sample, unscaled:
   * a 4-bit gray pixel of 0b1010 is 10, a 16-bit sample is 0..65535, a palette
   * pixel is its index.
   */
  samples: Uint16Array;
  /** PLTE entries as RGB triples (palette images only). */
  palette?: Uint8Array;
}

/** Adam7 passes: [x start, y start, x step, y step]. */
const ADAM7: ReadonlyArray<readonly [number, number, number, number]> = [
  [0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2],
];

/** Largest image we accept (data/formats/nearest.ts): guards allocations against absurd headers. */
const MAX_PIXELS = MAX_IMAGE_PIXELS;

function readU32(bytes: Uint8Array, at: number): number {
  return ((bytes[at]! << 24) | (bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!) >>> 0;
}

function chunkTypeName(bytes: Uint8Array, at: number): string {
  return String.fromCharCode(bytes[at]!, bytes[at + 1]!, bytes[at + 2]!, bytes[at + 3]!);
}

interface PngChunks {
  header: PngHeader;
  palette?: Uint8Array;
  compressed: Buffer;
}

/** Walks the chunk list, checking CRCs, and gathers IHDR, PLTE and the IDAT stream. */
export function readPngChunks(bytes: Uint8Array, source: string): PngChunks {
  if (bytes.length < 8 || !PNG_SIGNATURE.every((b, i) => bytes[i] === b)) {
    if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) {
      throw new InputError(
        `${source}: is a JPEG image, not a PNG: label and instance maps must be lossless PNG, because JPEG compression changes the ids along every edge ` +
          '(convert the original maps to PNG, not these JPEGs)',
      );
    }
    throw new InputError(`${source}: not a PNG file (bad signature): label and instance maps must be PNG`);
  }
  let at = 8;
  let header: PngHeader | undefined;
  let palette: Uint8Array | undefined;
  const idat: Uint8Array[] = [];
  let sawEnd = false;
  while (at < bytes.length) {
    if (at + 12 > bytes.length) throw new InputError(`${source}: PNG is truncated (chunk header cut off at byte ${at})`);
    const length = readU32(bytes, at);
    const type = chunkTypeName(bytes, at + 4);
    if (at + 12 + length > bytes.length) {
      throw new InputError(`${source}: PNG is truncated (${type} chunk of ${length} bytes runs past the end of the file)`);
    }
    const body = bytes.subarray(at + 8, at + 8 + length);
    const storedCrc = readU32(bytes, at + 8 + length);
    if (crc32(bytes.subarray(at + 4, at + 8 + length)) !== storedCrc) {
      throw new InputError(`${source}: PNG is corrupt (CRC mismatch in the ${type} chunk at byte ${at})`);
    }
    if (header === undefined && type !== 'IHDR') throw new InputError(`${source}: PNG is corrupt (first chunk is ${type}, not IHDR)`);
    if (type === 'IHDR') {
      header = parseIhdr(body, source);
    } else if (type === 'PLTE') {
      if (length % 3 !== 0 || length === 0 || length > 768) throw new InputError(`${source}: PNG is corrupt (PLTE chunk of ${length} bytes)`);
      palette = body;
    } else if (type === 'IDAT') {
      idat.push(body);
    } else if (type === 'IEND') {
      sawEnd = true;
      break;
    } else if ((bytes[at + 4]! & 0x20) === 0) {
      // Upper-case first letter: a critical chunk we do not know; the spec says stop.
      throw new InputError(`${source}: PNG uses an unknown critical chunk ${type}`);
    }
    at += 12 + length;
  }
  if (!header) throw new InputError(`${source}: PNG has no IHDR chunk`);
  if (!sawEnd) throw new InputError(`${source}: PNG is truncated (no IEND chunk)`);
  if (idat.length === 0) throw new InputError(`${source}: PNG has no image data (no IDAT chunk)`);
  if (header.colorType === PngColorType.palette && !palette) throw new InputError(`${source}: palette PNG has no PLTE chunk`);
  return { header, palette, compressed: Buffer.concat(idat) };
}

function parseIhdr(body: Uint8Array, source: string): PngHeader {
  if (body.length !== 13) throw new InputError(`${source}: PNG is corrupt (IHDR of ${body.length} bytes, expected 13)`);
  const width = readU32(body, 0);
  const height = readU32(body, 4);
  const bitDepth = body[8]!;
  const colorType = body[9]!;
  const [compression, filter, interlace] = [body[10]!, body[11]!, body[12]!];
  if (width === 0 || height === 0 || width * height > MAX_PIXELS) {
    throw new InputError(`${source}: PNG has an unsupported size ${width}x${height}`);
  }
  const depths = ALLOWED_DEPTHS[colorType];
  if (!depths) throw new InputError(`${source}: PNG has an invalid colour type ${colorType}`);
  if (!depths.includes(bitDepth)) throw new InputError(`${source}: PNG colour type ${colorType} cannot have bit depth ${bitDepth}`);
  if (compression !== 0 || filter !== 0 || interlace > 1) {
    throw new InputError(`${source}: PNG uses an unknown compression, filter or interlace method (${compression}/${filter}/${interlace})`);
  }
  return { width, height, bitDepth, colorType: colorType as PngColorTypeValue, interlaced: interlace === 1 };
}

/** Bytes per filtered row of `width` pixels (without the filter-type byte). */
export function rowBytes(width: number, channels: number, bitDepth: number): number {
  return Math.ceil((width * channels * bitDepth) / 8);
}

/** The filters' byte distance: bytes per complete pixel, at least 1 (spec, 9.2). */
export function bytesPerPixel(channels: number, bitDepth: number): number {
  return Math.max(1, (channels * bitDepth) >> 3);
}

/**
 * Reverses the per-row filters in place over `rows` rows of `stride` bytes
 * each preceded by a filter byte, starting at `start`. `bpp` is the filter's
 * byte distance (bytes per complete pixel, at least 1). Returns the offset
 * after the last row. The row above the first is all zeros (spec, 9.2).
 * Hot: one loop per filter type, the first `bpp` bytes (no left neighbour)
 * split off so the inner loops carry no conditions.
 */
export function unfilterRows(data: Uint8Array, start: number, rows: number, stride: number, bpp: number, source: string): number {
  const zeroRow = new Uint8Array(stride);
  let above: Uint8Array = zeroRow;
  let aboveAt = 0;
  let at = start;
  for (let y = 0; y < rows; y++) {
    const filter = data[at]!;
    const row = at + 1;
    const end = row + stride;
    const lead = Math.min(stride, bpp);
    // Stores into a Uint8Array wrap modulo 256, which is the filters' byte arithmetic.
    switch (filter) {
      case 0:
        break;
      case 1:
        for (let i = row + bpp; i < end; i++) data[i] = data[i]! + data[i - bpp]!;
        break;
      case 2:
        for (let i = row, up = aboveAt; i < end; i++, up++) data[i] = data[i]! + above[up]!;
        break;
      case 3:
        for (let i = 0; i < lead; i++) data[row + i] = data[row + i]! + (above[aboveAt + i]! >> 1);
        for (let i = lead; i < stride; i++) {
          data[row + i] = data[row + i]! + ((data[row + i - bpp]! + above[aboveAt + i]!) >> 1);
        }
        break;
      case 4:
        // With no left neighbour, Paeth predicts from above.
        for (let i = 0; i < lead; i++) data[row + i] = data[row + i]! + above[aboveAt + i]!;
        for (let i = lead; i < stride; i++) {
          const left = data[row + i - bpp]!;
          const up = above[aboveAt + i]!;
          const upLeft = above[aboveAt + i - bpp]!;
          // Paeth (spec 9.4): the neighbour closest to left + up - upLeft, ties to left then up.
          const dLeft = up > upLeft ? up - upLeft : upLeft - up;
          const dUp = left > upLeft ? left - upLeft : upLeft - left;
          const sum = left + up - 2 * upLeft;
          const dUpLeft = sum < 0 ? -sum : sum;
          data[row + i] = data[row + i]! + (dLeft <= dUp && dLeft <= dUpLeft ? left : dUp <= dUpLeft ? up : upLeft);
        }
        break;
      default:
        throw new InputError(`${source}: PNG is corrupt (unknown filter type ${filter} on row ${y})`);
    }
    above = data;
    aboveAt = row;
    at = end;
  }
  return at;
}

/**
 * Unpacks one unfiltered row into samples, writing sample k of pixel x to
 * out[outStart + (x * xStep) * channels + k].
 */
function unpackRow(
  data: Uint8Array, row: number, width: number, channels: number, bitDepth: number,
  out: Uint16Array, outStart: number, xStep: number,
): void {
  const samplesPerRow = width * channels;
  if (bitDepth === 8) {
    if (xStep === 1) {
      out.set(data.subarray(row, row + samplesPerRow), outStart);
      return;
    }
    for (let x = 0; x < width; x++) {
      for (let k = 0; k < channels; k++) out[outStart + x * xStep * channels + k] = data[row + x * channels + k]!;
    }
    return;
  }
  if (bitDepth === 16) {
    if (xStep === 1) {
      for (let i = 0, byte = row; i < samplesPerRow; i++, byte += 2) out[outStart + i] = (data[byte]! << 8) | data[byte + 1]!;
      return;
    }
    for (let x = 0; x < width; x++) {
      for (let k = 0; k < channels; k++) {
        const byte = row + 2 * (x * channels + k);
        out[outStart + x * xStep * channels + k] = (data[byte]! << 8) | data[byte + 1]!;
      }
    }
    return;
  }
  // 1, 2 or 4 bits: only gray and palette (one channel), packed from the high bit.
  const perByte = 8 / bitDepth;
  const mask = (1 << bitDepth) - 1;
  for (let x = 0; x < width; x++) {
    const byte = data[row + Math.floor(x / perByte)]!;
    const shift = 8 - bitDepth * ((x % perByte) + 1);
    out[outStart + x * xStep] = (byte >> shift) & mask;
  }
}

/** Unfilters and unpacks the inflated stream into samples (handles Adam7). */
export function decodeImageData(header: PngHeader, raw: Uint8Array, source: string): Uint16Array {
  const { width, height, bitDepth } = header;
  const channels = CHANNELS[header.colorType]!;
  const bpp = bytesPerPixel(channels, bitDepth);
  const samples = new Uint16Array(width * height * channels);
  const passes = header.interlaced ? ADAM7 : [[0, 0, 1, 1] as const];
  checkInflatedLength(header, raw, source);
  let at = 0;
  for (const [x0, y0, dx, dy] of passes) {
    const passWidth = Math.ceil((width - x0) / dx);
    const passHeight = Math.ceil((height - y0) / dy);
    if (passWidth <= 0 || passHeight <= 0) continue; // Empty passes carry no bytes at all.
    const stride = rowBytes(passWidth, channels, bitDepth);
    const passStart = at;
    at = unfilterRows(raw, passStart, passHeight, stride, bpp, source);
    for (let y = 0; y < passHeight; y++) {
      const row = passStart + y * (stride + 1) + 1;
      const outStart = ((y0 + y * dy) * width + x0) * channels;
      unpackRow(raw, row, passWidth, channels, bitDepth, samples, outStart, dx);
    }
  }
  return samples;
}

/** InputError when the inflated stream is shorter than the header's image needs. */
function checkInflatedLength(header: PngHeader, raw: Uint8Array, source: string): void {
  const expected = filteredDataSize(header);
  if (raw.length < expected) {
    throw new InputError(`${source}: PNG image data is truncated (${raw.length} of ${expected} bytes after inflating)`);
  }
}

/** Bytes of the filtered image data (all passes, filter bytes included). */
export function filteredDataSize(header: PngHeader): number {
  const channels = CHANNELS[header.colorType]!;
  const passes = header.interlaced ? ADAM7 : [[0, 0, 1, 1] as const];
  let total = 0;
  for (const [x0, y0, dx, dy] of passes) {
    const passWidth = Math.ceil((header.width - x0) / dx);
    const passHeight = Math.ceil((header.height - y0) / dy);
    if (passWidth > 0 && passHeight > 0) total += passHeight * (1 + rowBytes(passWidth, channels, header.bitDepth));
  }
  return total;
}

/**
 * Inflates the IDAT stream on libuv's thread pool. The output size is known
 * from the header, so zlib writes it as one chunk: no per-chunk callbacks and
 * no concatenation on the main thread (which profiling showed costing as much
 * as the unfiltering).
 */
async function inflateImageData(header: PngHeader, compressed: Buffer, source: string): Promise<Buffer> {
  const expected = filteredDataSize(header);
  try {
    // The chunk is allocated up front, so a header alone must not make it huge
    // (capped at 64 MB), and a stream may not inflate far past what the header
    // declares (a decompression bomb is refused as corrupt data).
    return await inflateAsync(compressed, {
      chunkSize: Math.min(Math.max(64, expected + 1), 1 << 26),
      maxOutputLength: expected + (1 << 16),
    });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new InputError(`${source}: PNG is corrupt (its image data inflates to more than the ${header.width}x${header.height} its header declares)`);
    }
    const reason = (error as Error).message;
    throw new InputError(`${source}: PNG image data is corrupt or truncated (zlib: ${reason})`);
  }
}

/** Decodes PNG bytes; `source` names the file in error messages. */
export async function decodePng(bytes: Uint8Array, source: string): Promise<DecodedPng> {
  const { header, palette, compressed } = readPngChunks(bytes, source);
  const raw = await inflateImageData(header, compressed, source);
  return toDecoded(header, palette, decodeImageData(header, raw, source));
}

function toDecoded(header: PngHeader, palette: Uint8Array | undefined, samples: Uint16Array): DecodedPng {
  const decoded: DecodedPng = { ...header, channels: CHANNELS[header.colorType]!, samples };
  if (palette) decoded.palette = palette;
  return decoded;
}

/** Reads an image file's bytes; a missing or unreadable file (or no regular file) is an InputError naming it. */
export async function readImageFile(path: string): Promise<Buffer> {
  return readInputFile(path, 'an image file');
}

/** A single-channel map of integer ids (labels or instances), row-major. */
export interface IdMap {
  width: number;
  height: number;
  ids: Uint16Array;
}

/**
 * The ids a label or instance PNG holds: gray value (any depth; alpha is
 * ignored), palette index, or for RGB(A) the common value when all three
 * channels are equal everywhere. An RGB map with differing channels cannot
 * hold ids: InputError naming the file and the first such pixel.
 */
export function idsFromPng(png: DecodedPng, source: string): IdMap {
  const { width, height, channels, samples } = png;
  const count = width * height;
  if (channels === 1) return { width, height, ids: samples };
  const ids = new Uint16Array(count);
  if (channels === 2) {
    for (let i = 0; i < count; i++) ids[i] = samples[2 * i]!;
    return { width, height, ids };
  }
  for (let i = 0; i < count; i++) {
    const red = samples[i * channels]!;
    if (samples[i * channels + 1] !== red || samples[i * channels + 2] !== red) {
      const x = i % width;
      const y = Math.floor(i / width);
      throw new InputError(
        `${source}: is a colour (RGB) image, but class/instance ids were expected (pixel (${x}, ${y}) is ` +
        `${red},${samples[i * channels + 1]},${samples[i * channels + 2]}); give a gray or palette PNG of ids, or --label-nc 0 for colour label maps`,
      );
    }
    ids[i] = red;
  }
  return { width, height, ids };
}

export interface ResizedIdMap extends IdMap {
  /** The file's own size. */
  sourceSize: { width: number; height: number };
  /** The largest id anywhere in the source (not only where sampled), for range checks; -1 unless asked for. */
  maxId: number;
}

function maxOf(ids: Uint16Array): number {
  let max = 0;
  for (let i = 0; i < ids.length; i++) if (ids[i]! > max) max = ids[i]!;
  return max;
}

/** Reads and decodes a label or instance map PNG into ids, at its own size. */
export async function readIdMap(path: string): Promise<IdMap> {
  const bytes = await readImageFile(path);
  const png = await decodePng(bytes, path);
  return idsFromPng(png, path);
}

/**
 * Reads a label or instance map and samples it to `target(sourceSize)` by
 * nearest-neighbour `indices(srcSize, dstSize)` (resize.ts passes PIL's).
 * For the common case (one 8- or 16-bit channel, not interlaced) the ids are
 * gathered straight from the unfiltered rows, never unpacked at full size;
 * other PNGs are decoded whole, then sampled. Either way `maxId` covers every
 * source pixel, so a range check sees ids the sampling skips (instance maps,
 * which need no range check, skip that scan with scanMaxId: false).
 */
export async function readIdMapResized(
  path: string,
  target: (source: { width: number; height: number }) => { width: number; height: number },
  indices: (srcSize: number, dstSize: number) => Int32Array,
  options: { scanMaxId?: boolean } = {},
): Promise<ResizedIdMap> {
  const scanMaxId = options.scanMaxId ?? true;
  const bytes = await readImageFile(path);
  const { header, palette, compressed } = readPngChunks(bytes, path);
  const sourceSize = { width: header.width, height: header.height };
  const size = target(sourceSize);
  const raw = await inflateImageData(header, compressed, path);
  const columns = indices(header.width, size.width);
  const rows = indices(header.height, size.height);
  const ids = new Uint16Array(size.width * size.height);
  const singleChannel = header.colorType === PngColorType.gray || header.colorType === PngColorType.palette;
  if (singleChannel && header.bitDepth >= 8 && !header.interlaced) {
    const sampleBytes = header.bitDepth >> 3;
    const stride = header.width * sampleBytes;
    checkInflatedLength(header, raw, path);
    unfilterRows(raw, 0, header.height, stride, sampleBytes, path);
    let maxId = scanMaxId ? 0 : -1;
    for (let y = 0; scanMaxId && y < header.height; y++) {
      const row = y * (stride + 1) + 1;
      if (sampleBytes === 1) {
        for (let i = row, end = row + stride; i < end; i++) if (raw[i]! > maxId) maxId = raw[i]!;
      } else {
        for (let i = row, end = row + stride; i < end; i += 2) {
          const id = (raw[i]! << 8) | raw[i + 1]!;
          if (id > maxId) maxId = id;
        }
      }
    }
    if (sampleBytes === 1) {
      // Each scanline is behind its filter byte.
      gatherNearest(raw, stride + 1, 1, rows, columns, ids);
    } else {
      for (let y = 0; y < size.height; y++) {
        const row = rows[y]! * (stride + 1) + 1;
        const out = y * size.width;
        for (let x = 0; x < size.width; x++) {
          const at = row + 2 * columns[x]!;
          ids[out + x] = (raw[at]! << 8) | raw[at + 1]!;
        }
      }
    }
    return { width: size.width, height: size.height, ids, sourceSize, maxId };
  }
  const full = idsFromPng(toDecoded(header, palette, decodeImageData(header, raw, path)), path);
  gatherNearest(full.ids, header.width, 0, rows, columns, ids);
  return { width: size.width, height: size.height, ids, sourceSize, maxId: scanMaxId ? maxOf(full.ids) : -1 };
}
