/**
 * The three transforms of Winograd's F(4x4, 3x3) and F(3x3, 4x4) as wasm
 * SIMD kernels, generated from their matrices and run on tfjs's own heap
 * (the module imports tfjs's memory, so tensors are read and written in
 * place). Both variants transform 6x6 input patches with the same B^T (it
 * depends only on the interpolation points 0, 1, -1, 2, -2 and infinity);
 * they differ in G (6 x kernel) and A^T (tile x 6).
 *
 * Each kernel works on four channels at once (one f32x4 lane per channel),
 * hence needs channel counts that are multiples of 4; `conv2d-winograd.ts`
 * keeps its JavaScript transforms for the rest. Compared with those, for a
 * 1024 -> 1024 conv on a 64x32 image (one thread): filter 125 -> ~55 ms
 * (25 ms of kernel after a 30 ms per-tap transpose; the transform writes 4x
 * the filter's bytes, so it is bound by memory), input and output 32 -> 16
 * and 31 -> 14 ms.
 *
 * Layouts (all row-major, float32; "table" is 36 i32 byte addresses, one
 * matrix per position t of the 6x6 transformed tile), channel-major / tile-major:
 * - filter [9, Co, Ci] / [9, Ci, Co] -> U_t [Co, Ci] / [Ci, Co]
 * - input patch rows [rows, W, C] -> V_t [C, tiles] / [tiles, C]
 * - M_t [Co, tiles] / [tiles, Co] -> output rows [4, 4 * tileCols, Co]
 */
import { generatedKernelFma } from './relaxed-simd';
import { FunctionBuilder, instantiateOnMemory, perMemory, type ExportedFunction, type Local } from './wasm-assembler';

/** B^T: input tile d (6x6) -> B^T d B. */
const INPUT_TRANSFORM = [
  [4, 0, -5, 0, 1, 0],
  [0, -4, -4, 1, 1, 0],
  [0, 4, -4, -1, 1, 0],
  [0, -2, -1, 2, 1, 0],
  [0, 2, -1, -2, 1, 0],
  [0, 4, 0, -5, 0, 1],
];
/** G: 3x3 kernel g -> G g G^T (6x6). */
const FILTER_TRANSFORM_3 = [
  [1 / 4, 0, 0],
  [-1 / 6, -1 / 6, -1 / 6],
  [-1 / 6, 1 / 6, -1 / 6],
  [1 / 24, 1 / 12, 1 / 6],
  [1 / 24, -1 / 12, 1 / 6],
  [0, 0, 1],
];
/** A^T: 6x6 product m -> A^T m A (4x4 outputs). */
const OUTPUT_TRANSFORM_4 = [
  [1, 1, 1, 1, 1, 0],
  [0, 1, -1, 2, -2, 0],
  [0, 1, 1, 4, 4, 0],
  [0, 1, -1, 8, -8, 1],
];
/**
 * F(3x3, 4x4)'s G and A^T, by the same construction: row j of G is
 * p_j^k / prod_{l != j} (p_j - p_l) (the last row picks the kernel's last
 * tap), row i of A^T is p_j^i (the last column picks the last output).
 */
const FILTER_TRANSFORM_4 = [
  [1 / 4, 0, 0, 0],
  [-1 / 6, -1 / 6, -1 / 6, -1 / 6],
  [-1 / 6, 1 / 6, -1 / 6, 1 / 6],
  [1 / 24, 1 / 12, 1 / 6, 1 / 3],
  [1 / 24, -1 / 12, 1 / 6, -1 / 3],
  [0, 0, 0, 1],
];
const OUTPUT_TRANSFORM_3 = [
  [1, 1, 1, 1, 1, 0],
  [0, 1, -1, 2, -2, 0],
  [0, 1, 1, 4, 4, 1],
];

/** A Winograd F(tile x tile, kernel x kernel) over 6x6 patches (tile + kernel - 1 = 6). */
export interface WinogradVariant {
  readonly name: string;
  /** Output tile side. */
  readonly tile: number;
  /** Kernel side. */
  readonly kernel: number;
  /** G [6][kernel]. */
  readonly filterTransform: readonly (readonly number[])[];
  /** A^T [tile][6]. */
  readonly outputTransform: readonly (readonly number[])[];
}

export const WINOGRAD_F4X4_3X3: WinogradVariant = Object.freeze({
  name: 'F(4x4, 3x3)',
  tile: 4,
  kernel: 3,
  filterTransform: FILTER_TRANSFORM_3,
  outputTransform: OUTPUT_TRANSFORM_4,
});
export const WINOGRAD_F3X3_4X4: WinogradVariant = Object.freeze({
  name: 'F(3x3, 4x4)',
  tile: 3,
  kernel: 4,
  filterTransform: FILTER_TRANSFORM_4,
  outputTransform: OUTPUT_TRANSFORM_3,
});

interface Term {
  coefficient: number;
  input: Local;
}

/**
 * Pushes sum_k coefficients[k] * inputs[k] (f32x4), skipping zeros and
 * multiplications by 1; with `fma`, every other term k * x is fused into the
 * sum with relaxed_madd (relaxed_nmadd for a negative k, so that +k and -k
 * share one splat constant).
 */
function pushCombination(f: FunctionBuilder, coefficients: readonly number[], inputs: readonly Local[], fma: boolean): void {
  const terms = coefficients
    .map((coefficient, k) => ({ coefficient, input: inputs[k]! }))
    .filter((term) => term.coefficient !== 0);
  if (!fma) {
    pushSum(f, terms);
    return;
  }
  // The base sum: the terms with coefficient +-1 (adds and subtracts), led
  // by a scaled term (one multiply) where none of them is positive; every
  // other scaled term is fused. Nested as k1 * x1 + (k2 * x2 + (... + base)),
  // since relaxed_madd takes its addend last.
  const unit = terms.filter((term) => Math.abs(term.coefficient) === 1);
  const fused = terms.filter((term) => Math.abs(term.coefficient) !== 1);
  const base = unit;
  if (!unit.some((term) => term.coefficient > 0) && fused.length > 0) {
    const lead = Math.max(0, fused.findIndex((term) => term.coefficient > 0));
    base.unshift(...fused.splice(lead, 1));
  }
  for (const { coefficient, input } of fused) f.get(input).get(f.splatConstant(Math.abs(coefficient)));
  pushSum(f, base);
  for (const { coefficient } of fused.reverse()) {
    if (coefficient > 0) f.f32x4RelaxedMadd();
    else f.f32x4RelaxedNmadd();
  }
}

/** Pushes the sum of `terms` (at least one) with f32x4 multiplies, adds and subtracts. */
function pushSum(f: FunctionBuilder, terms: Term[]): void {
  // Lead with a positive term where there is one, so that nothing is negated.
  const lead = Math.max(0, terms.findIndex((term) => term.coefficient > 0));
  const [first] = terms.splice(lead, 1);
  f.get(first!.input);
  if (first!.coefficient !== 1) f.get(f.splatConstant(first!.coefficient)).f32x4Mul();
  for (const { coefficient, input } of terms) {
    f.get(input);
    const magnitude = Math.abs(coefficient);
    if (magnitude !== 1) f.get(f.splatConstant(magnitude)).f32x4Mul();
    if (coefficient > 0) f.f32x4Add();
    else f.f32x4Sub();
  }
}

/** 36 i32 locals loaded from the address table at `table`. */
function loadTable(f: FunctionBuilder, table: Local): Local[] {
  const addresses: Local[] = [];
  for (let t = 0; t < 36; t++) {
    const local = f.i32Local();
    f.get(table).i32Load(4 * t).set(local);
    addresses.push(local);
  }
  return addresses;
}

/** `local = base * multiplier` for multiplier = 0..count-1, as byte offsets. */
function offsets(f: FunctionBuilder, step: Local, count: number): Local[] {
  const locals = f.i32Locals(count);
  locals.forEach((local, k) => f.product(local, step, k));
  return locals;
}

/** Pushes a vector gathered from four addresses `address + lane * laneStep`. */
function pushGather(f: FunctionBuilder, address: Local, laneOffsets: readonly Local[]): void {
  f.get(address).f32Load().f32x4Splat();
  for (let lane = 1; lane < 4; lane++) f.get(address).get(laneOffsets[lane]!).add().f32Load().f32x4ReplaceLane(lane);
}

/**
 * filter(src, rows, cols, table, rowStart, rowEnd): U_t = G g G^T for the
 * filter `src` as kernel^2 row-major [rows, cols] matrices (one per tap), into
 * [rows, cols] matrices U_t, for rows [rowStart, rowEnd) and every column
 * (cols a multiple of 4). [Ci, Co] is the filter as it is (for tile-major
 * matmuls); [Co, Ci] its per-tap transpose (channel-major). Both sides are
 * read and written in sequence: gathering four lanes that sit a row apart
 * (4 KB for 1024 channels) missed the cache on every load, 7x slower than
 * transposing first.
 */
function filterKernel(variant: WinogradVariant, fma: boolean): FunctionBuilder {
  const { kernel, filterTransform } = variant;
  const taps = kernel * kernel;
  const f = new FunctionBuilder(6);
  const [src, rowCount, columnCount, table, rowStart, rowEnd] = f.params();
  const u = loadTable(f, table!);
  const [row, column, tapBytes, p, o] = f.i32Locals(5) as Local[];
  f.get(rowCount!).get(columnCount!).mul().i32(4).mul().set(tapBytes!);
  const tapOffsets = offsets(f, tapBytes!, taps);
  const g = f.v128Locals(taps);
  const rows = f.v128Locals(6 * kernel); // (g G^T)[r][b] at 6r + b
  const range = Array.from({ length: kernel }, (_, k) => k);
  f.loop(row!, rowStart!, rowEnd!, 1, () => {
    f.loop(column!, 0, columnCount!, 4, () => {
      // o: element (row, column) of a tap's matrix, in bytes; the same in U_t.
      f.get(row!).get(columnCount!).mul().get(column!).add().i32(4).mul().set(o!);
      f.get(src!).get(o!).add().set(p!);
      for (let k = 0; k < taps; k++) f.get(p!).get(tapOffsets[k]!).add().v128Load().set(g[k]!);
      for (let r = 0; r < kernel; r++) {
        for (let b = 0; b < 6; b++) {
          pushCombination(f, filterTransform[b]!, range.map((k) => g[kernel * r + k]!), fma);
          f.set(rows[6 * r + b]!);
        }
      }
      for (let a = 0; a < 6; a++) {
        for (let b = 0; b < 6; b++) {
          f.get(u[6 * a + b]!).get(o!).add();
          pushCombination(f, filterTransform[a]!, range.map((r) => rows[6 * r + b]!), fma);
          f.v128Store();
        }
      }
    });
  });
  return f;
}

/** What the input and output kernels share: their parameters, address table and byte strides. */
interface RowKernelFrame {
  f: FunctionBuilder;
  /** src (input) or dst (output): the first image row of this row of tiles. */
  image: Local;
  channels: Local;
  tiles: Local;
  tileBase: Local;
  /** The 36 matrices' addresses. */
  matrices: Local[];
  /** Loop counters (channel, tile), the tile's image address, scratch, and its element offset in the matrices. */
  channel: Local;
  tx: Local;
  base: Local;
  q: Local;
  o: Local;
  tileCols: Local;
  /** Byte offsets of image rows and pixels 0..patch-1, and of matrix rows (channel-major lanes) 0..3. */
  rowOffsets: Local[];
  columnOffsets: Local[];
  laneOffsets: Local[];
  tileBytes: Local;
}

/**
 * The frame of a row kernel (pointer, C, W, tileCols, tiles, tileBase,
 * table) whose tiles span `patch` image rows and pixels (6 in, `tile` out),
 * `tile` pixels apart.
 */
function rowKernelFrame(patch: number, tile: number): RowKernelFrame {
  const f = new FunctionBuilder(7);
  const [image, channels, width, tileCols, tiles, tileBase, table] = f.params();
  const matrices = loadTable(f, table!);
  const [channel, tx, pixelBytes, rowBytes, tileBytes, tilesBytes, base, q, o] = f.i32Locals(9) as Local[];
  f.product(pixelBytes!, channels!, 4);
  f.product(rowBytes!, pixelBytes!, width!);
  f.product(tileBytes!, pixelBytes!, tile);
  f.product(tilesBytes!, tiles!, 4);
  return {
    f,
    image: image!,
    channels: channels!,
    tiles: tiles!,
    tileBase: tileBase!,
    tileCols: tileCols!,
    matrices,
    channel: channel!,
    tx: tx!,
    base: base!,
    q: q!,
    o: o!,
    tileBytes: tileBytes!,
    rowOffsets: offsets(f, rowBytes!, patch),
    columnOffsets: offsets(f, pixelBytes!, patch),
    laneOffsets: offsets(f, tilesBytes!, 4),
  };
}

/**
 * Sets `o` (the tile's element in the 36 matrices, bytes) and `base` (its
 * image address at this channel), then runs `body`, for every channel step
 * and tile: innermost, the loop along which both the image and the matrices
 * run in sequence (channels for tile-major, tiles for channel-major).
 */
function loopTiles(frame: RowKernelFrame, tileMajor: boolean, body: () => void): void {
  const { f, image, channels, tiles, tileBase, tileCols, channel, tx, base, o, tileBytes } = frame;
  const step = (): void => {
    if (tileMajor) f.get(tileBase).get(tx).add().get(channels).mul().get(channel).add().i32(4).mul().set(o);
    else f.get(channel).get(tiles).mul().get(tileBase).add().get(tx).add().i32(4).mul().set(o);
    f.get(image).get(tx).get(tileBytes).mul().add().get(channel).i32(4).mul().add().set(base);
    body();
  };
  if (tileMajor) f.loop(tx, 0, tileCols, 1, () => f.loop(channel, 0, channels, 4, step));
  else f.loop(channel, 0, channels, 4, () => f.loop(tx, 0, tileCols, 1, step));
}

/**
 * input(src, C, W, tileCols, tiles, tileBase, table): V_t = T d T^T for one
 * row of tiles, whose `patch` input rows start at `src` ([patch, W, C]), the
 * tiles `step` pixels apart; T is [6][patch] (B^T for the forward pass's
 * input, A for the filter gradient's dy). Channel-major V_t is [C, tiles]
 * (element (c, tileBase + tx)); tile-major [tiles, C].
 */
function inputKernel(tileMajor: boolean, step: number, transform: readonly (readonly number[])[], fma: boolean): FunctionBuilder {
  const patch = transform[0]!.length;
  const frame = rowKernelFrame(patch, step);
  const { f, matrices: v, base, q, o, rowOffsets, columnOffsets, laneOffsets } = frame;
  const d = f.v128Locals(patch);
  const columns = f.v128Locals(6 * patch); // (T d)[k][c] at patch * k + c
  const result = f.v128Local();
  loopTiles(frame, tileMajor, () => {
    for (let c = 0; c < patch; c++) {
      f.get(base).get(columnOffsets[c]!).add().set(q);
      for (let r = 0; r < patch; r++) f.get(q).get(rowOffsets[r]!).add().v128Load().set(d[r]!);
      for (let k = 0; k < 6; k++) {
        pushCombination(f, transform[k]!, d, fma);
        f.set(columns[patch * k + c]!);
      }
    }
    for (let k = 0; k < 6; k++) {
      const row = columns.slice(patch * k, patch * k + patch);
      for (let l = 0; l < 6; l++) {
        if (tileMajor) {
          f.get(v[6 * k + l]!).get(o).add();
          pushCombination(f, transform[l]!, row, fma);
          f.v128Store();
          continue;
        }
        pushCombination(f, transform[l]!, row, fma);
        f.set(result);
        // Lane j is channel ci + j: row ci + j of V_t.
        for (let lane = 0; lane < 4; lane++) {
          f.get(v[6 * k + l]!).get(o).add().get(laneOffsets[lane]!).add();
          f.get(result).f32x4ExtractLane(lane).f32Store();
        }
      }
    }
  });
  return f;
}

/**
 * output(dst, C, W, tileCols, tiles, tileBase, table): one row of tiles,
 * Y = T M T^T into `dst` ([tile, W, C], W = tile * tileCols), from
 * channel-major M_t [C, tiles] or tile-major [tiles, C]; T is [tile][6]
 * (A^T for the forward pass's output, G^T for the filter gradient).
 */
function outputKernel(tileMajor: boolean, outputTransform: readonly (readonly number[])[], fma: boolean): FunctionBuilder {
  const tile = outputTransform.length;
  const frame = rowKernelFrame(tile, tile);
  const { f, matrices: m, base, q, o, rowOffsets, columnOffsets, laneOffsets } = frame;
  const column = f.v128Locals(6);
  const rows = f.v128Locals(6 * tile); // (A^T M)[i][j] at 6i + j
  loopTiles(frame, tileMajor, () => {
    for (let j = 0; j < 6; j++) {
      for (let r = 0; r < 6; r++) {
        f.get(m[6 * r + j]!).get(o).add().set(q);
        if (tileMajor) f.get(q).v128Load();
        else pushGather(f, q, laneOffsets); // lane l is channel co + l: row co + l of M_t
        f.set(column[r]!);
      }
      for (let i = 0; i < tile; i++) {
        pushCombination(f, outputTransform[i]!, column, fma);
        f.set(rows[6 * i + j]!);
      }
    }
    for (let i = 0; i < tile; i++) {
      for (let j = 0; j < tile; j++) {
        f.get(base).get(rowOffsets[i]!).add().get(columnOffsets[j]!).add();
        pushCombination(f, outputTransform[j]!, rows.slice(6 * i, 6 * i + 6), fma);
        f.v128Store();
      }
    }
  });
  return f;
}

export type RowKernel = (pointer: number, channels: number, width: number, tileCols: number, tiles: number, tileBase: number, table: number) => void;

export interface WinogradSimdKernels {
  filter(src: number, rows: number, cols: number, table: number, rowStart: number, rowEnd: number): void;
  /** Channel-major V_t [C, tiles] / M_t [C, tiles]. */
  input: RowKernel;
  output: RowKernel;
  /** Tile-major V_t [tiles, C] / M_t [tiles, C]. */
  inputTileMajor: RowKernel;
  outputTileMajor: RowKernel;
  /** The filter gradient's dM_t = A dY A^T, tile-major [tiles, C], from dy rows [tile, W, C]. */
  outputGradientTileMajor: RowKernel;
  /** The filter gradient's dg = G^T dU_t G, from tile-major dU_t [1, C] (C = Ci * Co) into [kernel, kernel, C]. */
  filterGradient: RowKernel;
}

function transposed(matrix: readonly (readonly number[])[]): number[][] {
  return matrix[0]!.map((_, j) => matrix.map((row) => row[j]!));
}

/**
 * The functions of the `variant` module, in FMA mode or not (./relaxed-simd;
 * without FMA the module is the plain-SIMD one, byte for byte).
 */
export function winogradSimdFunctions(variant: WinogradVariant, fma: boolean): ExportedFunction[] {
  return [
    { name: 'filter', builder: filterKernel(variant, fma) },
    { name: 'input', builder: inputKernel(false, variant.tile, INPUT_TRANSFORM, fma) },
    { name: 'output', builder: outputKernel(false, variant.outputTransform, fma) },
    { name: 'inputTileMajor', builder: inputKernel(true, variant.tile, INPUT_TRANSFORM, fma) },
    { name: 'outputTileMajor', builder: outputKernel(true, variant.outputTransform, fma) },
    { name: 'outputGradientTileMajor', builder: inputKernel(true, variant.tile, transposed(variant.outputTransform), fma) },
    { name: 'filterGradient', builder: outputKernel(true, transposed(variant.filterTransform), fma) },
  ];
}

/** Each variant's kernels by FMA mode, compiled when first used, once per memory. */
const kernelsOf = perMemory(() => new Map<string, WinogradSimdKernels>());

/** The `variant` kernels bound to `memory` (tfjs's heap), in the current FMA mode (`generatedKernelFma`). */
export function winogradSimdKernels(memory: { buffer: ArrayBufferLike }, variant: WinogradVariant): WinogradSimdKernels {
  const kernels = kernelsOf(memory);
  const fma = generatedKernelFma();
  const key = `${variant.name}${fma ? ' FMA' : ''}`;
  let built = kernels.get(key);
  if (built === undefined) {
    built = instantiateOnMemory(winogradSimdFunctions(variant, fma), memory) as unknown as WinogradSimdKernels;
    kernels.set(key, built);
  }
  return built;
}
