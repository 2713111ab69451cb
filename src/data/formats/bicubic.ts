/**
 * PIL's BICUBIC resize for 8-bit interleaved images, in JavaScript.
 *
 * Why: photos are resized bicubically as the reference does with PIL. sharp
 * (libvips) matches PIL closely when shrinking (measured in
 * test/data/image.test.ts) and is much faster, so shrinking stays with sharp;
 * but libvips enlarges with a kernel narrowed to the output grid, far from
 * PIL's (3.8 grey levels off at 2x), so enlarging uses this.
 *
 * The algorithm (Pillow's separable resampling): per output pixel, the
 * Catmull-Rom cubic (a = -0.5) centred at (x + 0.5) * scale, its support
 * widened by the scale when shrinking, weights normalised to sum 1 and turned
 * into 22-bit fixed point; a horizontal pass into 8-bit rows, then a vertical
 * pass, each rounding half up and clamping to 0..255. Bit for bit equal to
 * PIL 9.4's BICUBIC, shrinking and enlarging (test/data/pil-golden.test.ts;
 * on real Cityscapes photos too), but slower than sharp when shrinking.
 */

/** Fixed-point fraction bits of the weights (PIL: 32 - 8 - 2). */
const PRECISION_BITS = 22;
const ONE = 2 ** PRECISION_BITS;
const HALF = 2 ** (PRECISION_BITS - 1);

/** The cubic convolution kernel with a = -0.5 (Catmull-Rom), support 2. */
export function catmullRom(x: number): number {
  const a = -0.5;
  const t = Math.abs(x);
  if (t < 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
  if (t < 2) return (((t - 5) * t + 8) * t - 4) * a;
  return 0;
}

export interface ResampleTaps {
  /** First input index of each output pixel. */
  first: Int32Array;
  /** Taps per output pixel (the row length of `weights`). */
  taps: number;
  /** Fixed-point weights, `taps` per output pixel (zero-padded). */
  weights: Float64Array;
  /** Number of used taps per output pixel. */
  count: Int32Array;
}

/** The fixed-point weights for resizing one axis from inSize to outSize. */
export function bicubicTaps(inSize: number, outSize: number): ResampleTaps {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = 2 * filterScale;
  const taps = Math.ceil(support) * 2 + 1;
  const first = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Float64Array(outSize * taps);
  const raw = new Float64Array(taps);
  for (let x = 0; x < outSize; x++) {
    const centre = (x + 0.5) * scale;
    const lo = Math.max(0, Math.trunc(centre - support + 0.5));
    const hi = Math.min(inSize, Math.trunc(centre + support + 0.5));
    let sum = 0;
    for (let i = lo; i < hi; i++) {
      raw[i - lo] = catmullRom((i - centre + 0.5) / filterScale);
      sum += raw[i - lo]!;
    }
    first[x] = lo;
    count[x] = hi - lo;
    for (let k = 0; k < hi - lo; k++) {
      const normalised = sum !== 0 ? raw[k]! / sum : 0;
      // Rounded half away from zero into fixed point, as PIL does.
      weights[x * taps + k] = normalised < 0 ? -Math.floor(-normalised * ONE + 0.5) : Math.floor(normalised * ONE + 0.5);
    }
  }
  return { first, taps, weights, count };
}

/** Fixed-point sum (with the rounding half already added) -> clamped byte (PIL's clip8). */
function clip8(accumulator: number): number {
  const value = Math.floor(accumulator / ONE);
  return value < 0 ? 0 : value > 255 ? 255 : value;
}

/** Resizes an interleaved 8-bit image of `channels` channels with PIL's BICUBIC. */
export function resizeBicubic(source: Uint8Array, width: number, height: number, channels: number, outWidth: number, outHeight: number): Uint8Array {
  let current = source;
  let currentWidth = width;
  if (outWidth !== width) {
    const { first, taps, weights, count } = bicubicTaps(width, outWidth);
    const out = new Uint8Array(outWidth * height * channels);
    for (let y = 0; y < height; y++) {
      const rowIn = y * width * channels;
      const rowOut = y * outWidth * channels;
      for (let x = 0; x < outWidth; x++) {
        const start = rowIn + first[x]! * channels;
        const n = count[x]!;
        for (let c = 0; c < channels; c++) {
          let accumulator = HALF;
          for (let k = 0; k < n; k++) accumulator += current[start + k * channels + c]! * weights[x * taps + k]!;
          out[rowOut + x * channels + c] = clip8(accumulator);
        }
      }
    }
    current = out;
    currentWidth = outWidth;
  }
  if (outHeight !== height) {
    const { first, taps, weights, count } = bicubicTaps(height, outHeight);
    const stride = currentWidth * channels;
    const out = new Uint8Array(outHeight * stride);
    for (let y = 0; y < outHeight; y++) {
      const start = first[y]! * stride;
      const n = count[y]!;
      const rowOut = y * stride;
      for (let i = 0; i < stride; i++) {
        let accumulator = HALF;
        for (let k = 0; k < n; k++) accumulator += current[start + k * stride + i]! * weights[y * taps + k]!;
        out[rowOut + i] = clip8(accumulator);
      }
    }
    current = out;
  }
  return current === source ? source.slice() : current;
}
