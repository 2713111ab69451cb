/**
 * The blocked transpose loop, shared by the kernel (js-kernels) and its
 * helper thread (transpose-worker-thread): rows [rowStart, rowEnd) of the
 * [rows, cols] plane at element `sourceBase` of `source`, written to columns
 * [rowStart, rowEnd) of the [cols, rows] plane at `targetBase` of `target`. Tiles of 64x64
 * (64 measured fastest among 16-128 here), sequential writes within a tile.
 */
const TRANSPOSE_TILE = 64;

export function transposeRows(
  source: Float32Array | Int32Array | Uint8Array,
  sourceBase: number,
  target: Float32Array | Int32Array | Uint8Array,
  targetBase: number,
  rows: number,
  cols: number,
  rowStart: number,
  rowEnd: number,
): void {
  for (let c0 = 0; c0 < cols; c0 += TRANSPOSE_TILE) {
    const c1 = Math.min(c0 + TRANSPOSE_TILE, cols);
    for (let r0 = rowStart; r0 < rowEnd; r0 += TRANSPOSE_TILE) {
      const r1 = Math.min(r0 + TRANSPOSE_TILE, rowEnd);
      for (let c = c0; c < c1; c++) {
        const to = targetBase + c * rows;
        for (let r = r0; r < r1; r++) target[to + r] = source[sourceBase + r * cols + c]!;
      }
    }
  }
}
