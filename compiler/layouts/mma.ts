// The layouts of mma.sync.m16n8k16 (tensor cores): the accumulator of a [M, N] dot and the operand
// fragments of A [M, K] and B [K, N], as tables over (thread, register). With g = lane >> 2, t = lane % 4:
//   C/D: c0, c1 at (g, 2t), (g, 2t+1); c2, c3 at (g+8, 2t), (g+8, 2t+1) of each 16×8 tile;
//   A: element i of 8 at row g (+8 for i ∈ {2,3,6,7}), col 2t + (i & 1) (+8 for i ≥ 4) of each 16×16 tile;
//   B: element i of 4 at k-row 2t + (i & 1) (+8 for i ≥ 2), col g of each 16×8 tile.
// Warps split the output tiles wm × wn (along M first); tiles beyond the shape wrap (replicate).
import { tableLayout, type DistributedLayout } from './layout.js';

export interface MmaTiling {
  readonly M: number;
  readonly N: number;
  readonly K: number;
  readonly numWarps: number;
  readonly wm: number;
  readonly wn: number;
  /** Output tiles each warp computes along M and N, and 16-wide steps along K. */
  readonly tilesM: number;
  readonly tilesN: number;
  readonly kSteps: number;
}

export const MMA_M = 16, MMA_N = 8, MMA_K = 16;

/** Whether a dot of these shapes can use m16n8k16 (f16/bf16 operands are checked by the caller). */
export function mmaEligible(M: number, N: number, K: number): boolean {
  return M % MMA_M === 0 && N % MMA_N === 0 && K % MMA_K === 0;
}

export function mmaTiling(M: number, N: number, K: number, numWarps: number): MmaTiling {
  const wm = Math.min(numWarps, M / MMA_M);
  const wn = Math.max(1, Math.min(numWarps / wm, N / MMA_N));
  return { M, N, K, numWarps, wm, wn, tilesM: M / MMA_M / wm, tilesN: N / MMA_N / wn, kSteps: K / MMA_K };
}

const lane = (t: number) => ({ g: (t % 32) >> 2, q: t % 4 });
function warpTile(t: number, m: MmaTiling): { wM: number; wN: number } {
  const w = Math.floor(t / 32);
  return { wM: w % m.wm, wN: Math.floor(w / m.wm) % m.wn };
}

/** The accumulator (and result) layout of a [M, N] dot: 4 registers per 16×8 tile. */
export function mmaAccumulatorLayout(m: MmaTiling): DistributedLayout {
  const regs = m.tilesM * m.tilesN * 4;
  return tableLayout(`mma<m16n8k16, warps=${m.wm}x${m.wn}>`, [m.M, m.N], 32 * m.numWarps, regs, (t, k) => {
    const { g, q } = lane(t), { wM, wN } = warpTile(t, m);
    const i = k % 4, tile = Math.floor(k / 4);
    const mi = Math.floor(tile / m.tilesN) * m.wm + wM, ni = (tile % m.tilesN) * m.wn + wN;
    return (mi * MMA_M + g + (i >= 2 ? 8 : 0)) * m.N + ni * MMA_N + 2 * q + (i & 1);
  });
}

/** The A operand fragments [M, K]: register ((tm · kSteps + ks) · 8 + i) holds element i of a 16×16 tile. */
export function mmaOperandALayout(m: MmaTiling): DistributedLayout {
  const regs = m.tilesM * m.kSteps * 8;
  return withOperand('A', m, tableLayout(`dot_op<A, parent=mma ${m.wm}x${m.wn}>`, [m.M, m.K], 32 * m.numWarps, regs, (t, k) => {
    const { g, q } = lane(t), { wM } = warpTile(t, m);
    const i = k % 8, ks = Math.floor(k / 8) % m.kSteps, tm = Math.floor(k / 8 / m.kSteps);
    const row = (tm * m.wm + wM) * MMA_M + g + (i % 4 >= 2 ? 8 : 0);
    const col = ks * MMA_K + 2 * q + (i & 1) + (i >= 4 ? 8 : 0);
    return row * m.K + col;
  }));
}

const withOperand = (which: 'A' | 'B', tiling: MmaTiling, l: DistributedLayout): DistributedLayout => ({ ...l, dotOperand: { which, tiling } });

/** The B operand fragments [K, N]: register ((tn · kSteps + ks) · 4 + i) holds element i of a 16×8 tile. */
export function mmaOperandBLayout(m: MmaTiling): DistributedLayout {
  const regs = m.tilesN * m.kSteps * 4;
  return withOperand('B', m, tableLayout(`dot_op<B, parent=mma ${m.wm}x${m.wn}>`, [m.K, m.N], 32 * m.numWarps, regs, (t, k) => {
    const { g, q } = lane(t), { wN } = warpTile(t, m);
    const i = k % 4, ks = Math.floor(k / 4) % m.kSteps, tn = Math.floor(k / 4 / m.kSteps);
    const krow = ks * MMA_K + 2 * q + (i & 1) + (i >= 2 ? 8 : 0);
    return krow * m.N + (tn * m.wn + wN) * MMA_N + g;
  }));
}
