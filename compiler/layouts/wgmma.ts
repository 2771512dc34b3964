// Hopper's warpgroup products (wgmma.mma_async, sm_90a) as data: which dots can use them, how their
// operand tiles are laid out in shared memory, and the matrix descriptors that tell the hardware so.
//
// The register side is the mma.sync one (compiler/layouts/mma.ts): a wgmma m64nNk16 gives each warp of
// a warpgroup 16 rows, its A fragment is the m16n8k16 A fragment of those rows and its accumulator the
// m16n8 accumulator tiles of those rows in order along N. So a dot whose mma tiling puts every warp on
// its own rows (wn = 1) keeps its layouts; B moves from ldmatrix fragments to a shared tile that the
// tensor cores read themselves (and so may A, stored K-major).
//
// A shared tile is stored [rows, cols] with cols contiguous: [N, K] for a K-major B (attention's Kᵀ:
// keys stored as rows of features), [K, N] for an MN-major B (V), [M, K] for A. The PTX ISA's canonical layouts
// want rows of exactly the swizzle width (128, 64 or 32 bytes), so the columns are cut into blocks of
// that width, stored one after another, each a swizzled [rows, blockCols] tile. In virtual coordinates
// (blockIndex · rows + row, col mod blockCols) that is the ordinary swizzled layout of compiler/layouts/
// shared.ts, whose XOR of the 16-byte chunk with the row phase is exactly the hardware's swizzle
// (address bits [4, 4 + log2(width/16)) XOR bits [7, ...)) once every block starts on a multiple of
// 8 rows' bytes.
import type { MmaTiling } from './mma.js';
import { swizzledLayout, type SharedLayout } from './shared.js';

export const WGMMA_M = 64, WGMMA_K = 16, WGMMA_MAX_N = 256;

/** Whether a dot with this mma tiling can run as wgmma: whole warpgroups, each warp on its own 16-row tiles. */
export function wgmmaEligible(m: MmaTiling): boolean {
  return m.numWarps % 4 === 0 && m.wn === 1 && m.N % 8 === 0 && m.N <= WGMMA_MAX_N && m.K % WGMMA_K === 0;
}

export interface WgmmaTile {
  readonly rows: number;
  readonly cols: number;
  /** 'K': cols are K (Bᵀ [N, K] stored as it is, or A [M, K]); 'MN': rows are K and cols N. */
  readonly major: 'K' | 'MN';
  /** Columns per block: the swizzle width in 16-bit elements (64, 32 or 16). */
  readonly blockCols: number;
}

/** The tile of a [rows, cols] operand of 16-bit elements, or undefined where no swizzle width divides cols. */
export function wgmmaTile(rows: number, cols: number, major: 'K' | 'MN'): WgmmaTile | undefined {
  const blockCols = [64, 32, 16].find((w) => cols % w === 0);
  if (!blockCols || rows % (major === 'K' ? 8 : WGMMA_K) !== 0) return undefined;
  return { rows, cols, major, blockCols };
}

/** The swizzled layout of the tile in virtual coordinates: blocks stacked as rows. */
export function wgmmaSharedLayout(t: WgmmaTile): SharedLayout {
  return swizzledLayout((t.cols / t.blockCols) * t.rows, t.blockCols, 2);
}

/** Virtual (row, col) of element (row, col) of the tile. */
export function wgmmaPlace(t: WgmmaTile, row: number, col: number): { row: number; col: number } {
  return { row: Math.floor(col / t.blockCols) * t.rows + row, col: col % t.blockCols };
}

export const wgmmaTileBytes = (t: WgmmaTile): number => t.rows * t.cols * 2;
/** Every block must start on a whole swizzle pattern (8 rows of the swizzle width); 1024 bytes covers all three. */
export const WGMMA_TILE_ALIGN = 1024;

/** The descriptor's swizzle-mode field (bits 62–63) per swizzle width in bytes. */
const SWIZZLE_MODE: Record<number, number> = { 128: 1, 64: 2, 32: 3 };

/**
 * The matrix descriptor of k-step `ks` (16 rows of K) of the tile, split as wgmma's operand wants it:
 * `offset` bytes to add to the tile's shared address, whose bits 4–17 form the low word's start-address
 * field; the leading byte offset (the low word's bits 16–29, in 16-byte units) and the high word (stride
 * byte offset in bits 0–13, swizzle mode in bits 30–31).
 * K-major: a k-step is 32 bytes within one block's rows; SBO steps over 8 rows of N (LBO is unused).
 * MN-major: a k-step is 16 rows; LBO steps from one block of N columns to the next, SBO over 8 rows of K.
 */
export function wgmmaDescriptor(t: WgmmaTile, ks: number): { offset: number; lboField: number; hi: number } {
  const width = t.blockCols * 2, blockBytes = t.rows * width;
  const sbo = 8 * width;
  const hi = ((sbo >> 4) | (SWIZZLE_MODE[width]! << 30)) >>> 0;
  if (t.major === 'K') {
    const k = ks * WGMMA_K;
    return { offset: Math.floor(k / t.blockCols) * blockBytes + (k % t.blockCols) * 2, lboField: 1, hi };
  }
  return { offset: ks * WGMMA_K * width, lboField: blockBytes >> 4, hi };
}
