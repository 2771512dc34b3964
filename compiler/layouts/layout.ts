// Distributed layouts: which thread of a CTA holds which element of a block, in which register.
// Every layout is a function (thread, register) → row-major element index, materialized as a table;
// comparing tables tells whether a conversion is free, and `linearize` turns any such function into
// the run-time form the code generators emit: a per-register constant plus one term per thread-id bit.
import { numel, rowMajorStrides } from '../ir/types.js';

export { rowMajorStrides };

export interface DistributedLayout {
  /** Triton-style description, for dumps. */
  readonly name: string;
  readonly shape: readonly number[];
  readonly threads: number;
  /** Registers (elements) per thread. */
  readonly regs: number;
  /** table[t * regs + k] = element held by thread t in register k. */
  readonly table: Int32Array;
  /** For the mma dot-operand layouts: which operand, of which tiling (see mma.ts). */
  readonly dotOperand?: { readonly which: 'A' | 'B'; readonly tiling: import('./mma.js').MmaTiling };
}

export interface BlockedParams {
  readonly sizePerThread: readonly number[];
  readonly threadsPerWarp: readonly number[];
  readonly warpsPerCTA: readonly number[];
  /** Dimensions from fastest to slowest varying. */
  readonly order: readonly number[];
}

const WARP = 32;
const prod = (xs: readonly number[]): number => xs.reduce((a, b) => a * b, 1);

/** Triton's blocked layout: sizePerThread × threadsPerWarp × warpsPerCTA tiles, repeated or wrapped to the shape. */
export function blockedLayout(shape: readonly number[], p: BlockedParams): DistributedLayout {
  const r = shape.length;
  const threads = WARP * prod(p.warpsPerCTA);
  if (r === 0) throw new Error('internal: a blocked layout needs at least one dimension');
  const tile = shape.map((_, d) => p.sizePerThread[d]! * p.threadsPerWarp[d]! * p.warpsPerCTA[d]!);
  const repeats = shape.map((s, d) => Math.max(1, s / tile[d]!));
  const regs = prod(p.sizePerThread) * prod(repeats);
  const strides = rowMajorStrides(shape);
  const decompose = (x: number, sizes: readonly number[]): number[] => {
    const out = new Array<number>(r).fill(0);
    for (const d of p.order) {
      out[d] = x % sizes[d]!;
      x = Math.floor(x / sizes[d]!);
    }
    return out;
  };
  const name = `blocked<spt=[${p.sizePerThread}], tpw=[${p.threadsPerWarp}], wpc=[${p.warpsPerCTA}], order=[${p.order}]>`;
  return tableLayout(name, shape, threads, regs, (t, k) => {
    const lane = decompose(t % WARP, p.threadsPerWarp), warp = decompose(Math.floor(t / WARP), p.warpsPerCTA);
    const inThread = decompose(k % prod(p.sizePerThread), p.sizePerThread);
    const rep = decompose(Math.floor(k / prod(p.sizePerThread)), repeats);
    let e = 0;
    for (let d = 0; d < r; d++) {
      const c = rep[d]! * tile[d]! + (warp[d]! * p.threadsPerWarp[d]! + lane[d]!) * p.sizePerThread[d]! + inThread[d]!;
      e += (c % shape[d]!) * strides[d]!;
    }
    return e;
  });
}

/** Triton's default: vectors of up to 16 bytes along the last axis, lanes fastest along it, warps along the first. */
export function defaultBlockedParams(shape: readonly number[], numWarps: number, elemBytes: number): BlockedParams {
  const r = shape.length;
  const n = numel(shape);
  const threads = WARP * numWarps;
  const last = shape[r - 1]!;
  const vec = Math.max(1, Math.min(last, Math.floor(16 / elemBytes), Math.max(1, Math.floor(n / threads))));
  const spt = shape.map((_, d) => (d === r - 1 ? vec : 1));
  const tpw = new Array<number>(r).fill(1);
  let lanes = WARP;
  for (let d = r - 1; d >= 0 && lanes > 1; d--) {
    const t = Math.max(1, Math.min(lanes, shape[d]! / spt[d]!));
    tpw[d] = t;
    lanes /= t;
  }
  tpw[0]! *= lanes; // more lanes than elements: they wrap (replicate)
  const wpc = new Array<number>(r).fill(1);
  let warps = numWarps;
  for (let d = 0; d < r && warps > 1; d++) {
    const w = Math.max(1, Math.min(warps, shape[d]! / (spt[d]! * tpw[d]!)));
    wpc[d] = w;
    warps /= w;
  }
  wpc[0]! *= warps;
  return { sizePerThread: spt, threadsPerWarp: tpw, warpsPerCTA: wpc, order: [...Array(r).keys()].reverse() };
}

export function tableLayout(name: string, shape: readonly number[], threads: number, regs: number, elem: (t: number, k: number) => number): DistributedLayout {
  const table = new Int32Array(threads * regs);
  for (let t = 0; t < threads; t++) for (let k = 0; k < regs; k++) table[t * regs + k] = elem(t, k);
  return { name, shape: [...shape], threads, regs, table };
}

export const sameLayout = (a: DistributedLayout, b: DistributedLayout): boolean =>
  a.threads === b.threads && a.regs === b.regs && a.table.every((x, i) => x === b.table[i]);

/**
 * f(t, k) = regConst[k] + Σ_b bit_b(t) · tidBit[b]: the form an index function must have to be computed
 * cheaply at run time. Returns undefined when `f` is not of that form.
 */
export interface LinearForm {
  readonly regConst: readonly number[];
  readonly tidBit: readonly number[];
}

export function linearize(threads: number, regs: number, f: (t: number, k: number) => number): LinearForm | undefined {
  const bits = Math.log2(threads);
  const regConst = Array.from({ length: regs }, (_, k) => f(0, k));
  const tidBit = Array.from({ length: bits }, (_, b) => f(1 << b, 0) - regConst[0]!);
  for (let t = 0; t < threads; t++) {
    let off = 0;
    for (let b = 0; b < bits; b++) if (t & (1 << b)) off += tidBit[b]!;
    for (let k = 0; k < regs; k++) if (f(t, k) !== regConst[k]! + off) return undefined;
  }
  return { regConst, tidBit };
}

/** Thread-id bits along which a layout replicates its elements: only threads with these bits clear own them. */
export function replicationMask(l: DistributedLayout): number {
  let mask = 0;
  for (let b = 0; 1 << b < l.threads; b++) {
    const t = 1 << b;
    let same = true;
    for (let k = 0; k < l.regs && same; k++) same = l.table[t * l.regs + k] === l.table[k];
    if (same) mask |= t;
  }
  return mask;
}
