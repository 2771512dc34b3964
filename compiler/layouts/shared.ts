// Shared-memory layouts: where element (row, col) of a 2-D tile lives in shared memory. Rows are
// stored one after another; 16-byte chunks of a row are XOR-swizzled with the row's phase, so that the
// 8 rows an ldmatrix reads (or a warp writes) fall in different banks (Triton's swizzled shared layout).
export interface SharedLayout {
  readonly rows: number;
  readonly cols: number;
  readonly elemBytes: number;
  /** Elements per 16-byte chunk. */
  readonly vec: number;
  /** Consecutive rows that share a phase, and the number of phases. */
  readonly perPhase: number;
  readonly maxPhase: number;
}

export function swizzledLayout(rows: number, cols: number, elemBytes: number): SharedLayout {
  const vec = 16 / elemBytes;
  const rowBytes = cols * elemBytes;
  const chunks = Math.max(1, rowBytes / 16);
  return { rows, cols, elemBytes, vec, perPhase: Math.max(1, 128 / rowBytes), maxPhase: Math.min(8, chunks) };
}

/** Element offset of (row, col): the 16-byte chunk index is XOR-ed with the row's phase. */
export function sharedOffset(l: SharedLayout, row: number, col: number): number {
  const phase = Math.floor(row / l.perPhase) % l.maxPhase;
  const chunk = Math.floor(col / l.vec) ^ phase;
  return row * l.cols + chunk * l.vec + (col % l.vec);
}

export const describeShared = (l: SharedLayout): string =>
  `shared<${l.rows}x${l.cols}, vec=${l.vec}, perPhase=${l.perPhase}, maxPhase=${l.maxPhase}>`;
