// Float64 reference of attention over rotary-embedded queries and keys: rotate (rope-reference.ts's
// applyRotaryEmb), then softmax(q·kᵀ·scale, masked) @ v. No tilejit imports.
import { applyRotaryEmb } from './rope-reference.js';

export interface RopeAttentionOptions {
  /** Per-feature angles [>= Nk, R] (pairs repeated): keys take rows 0..Nk-1, queries the last Nq of those. */
  readonly freqs: { readonly data: ArrayLike<number>; readonly shape: readonly [number, number] };
  readonly causal?: boolean;
  readonly softmaxScale?: number;
  /** May query i of batch b attend to key j? */
  readonly mask?: (b: number, i: number, j: number) => boolean;
}

type Shape4 = readonly [number, number, number, number];

/** out [B, H, Nq, D]; k, v [B, Hkv, Nk, D]; bottom-right causal; fully masked rows are zeros. */
export function ropeAttention(q: Float64Array, qShape: Shape4, k: Float64Array, kShape: Shape4, v: Float64Array, o: RopeAttentionOptions): Float64Array {
  const [B, H, Nq, D] = qShape, [, Hkv, Nk] = kShape, g = H / Hkv, R = o.freqs.shape[1];
  const rows = (n: number): { data: Float64Array; shape: [number, number] } => ({ data: Float64Array.from(o.freqs.data).subarray(0, n * R), shape: [n, R] });
  const kr = applyRotaryEmb(rows(Nk), { data: k, shape: kShape });
  const qr = applyRotaryEmb(rows(Nk), { data: q, shape: qShape }); // a 2-D table: its last Nq rows
  const scale = o.softmaxScale ?? D ** -0.5, out = new Float64Array(B * H * Nq * D), p = new Float64Array(Nk);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++)
      for (let i = 0; i < Nq; i++) {
        const qi = ((b * H + h) * Nq + i) * D, kh = (b * Hkv + Math.floor(h / g)) * Nk;
        let m = -Infinity;
        for (let j = 0; j < Nk; j++) {
          const ok = (!o.causal || j <= i + Nk - Nq) && (!o.mask || o.mask(b, i, j));
          let s = 0;
          for (let d = 0; d < D; d++) s += qr[qi + d]! * kr[(kh + j) * D + d]!;
          p[j] = ok ? s * scale : -Infinity;
          m = Math.max(m, p[j]!);
        }
        if (m === -Infinity) continue;
        let sum = 0;
        for (let j = 0; j < Nk; j++) sum += p[j] = Math.exp(p[j]! - m);
        for (let j = 0; j < Nk; j++) for (let d = 0; d < D; d++) out[qi + d]! += (p[j]! / sum) * v[(kh + j) * D + d]!;
      }
  return out;
}
