// The keys' PoPE features, computed once per key by a pre-pass before attention (rather than again
// in every query block: softplus, sin and cos are the GPU's scarce special-function work).
// Planar layout of popeFeatures, padded with zeros to BLOCK_F so that rows are aligned and need no
// mask: [m·cos | m·sin | tail | 0…]. No bias here: attention moves it to the query side.
//   K: [B, Hkv, Nk, D] (strides skb, skh, skn; last axis contiguous)   Freqs: [Nk, rot]
//   Out: [B·Hkv, Nk, BLOCK_F] in the attention's tensor-core input type
import { jit, tl } from '../index.js';
import { popeFeatures, type Magnitude } from './pope-math.js';

export const popeKeyFeatures = jit(function popeKeyFeatures(
  K: tl.Ptr, Freqs: tl.Ptr, Out: tl.Ptr, Hkv: tl.i32, Nk: tl.i32, D: tl.i32, rot: tl.i32,
  skb: tl.i64, skh: tl.i64, skn: tl.i32,
  MAGNITUDE: tl.constexpr<Magnitude>, BLOCK_N: tl.constexpr, BLOCK_F: tl.constexpr,
) {
  const bh = tl.programId(1);
  const b = tl.idiv(bh, Hkv), h = bh % Hkv;
  const rows = tl.programId(0) * BLOCK_N + tl.arange(0, BLOCK_N);
  const feats = popeFeatures(K + b * skb + h * skh, rows, Nk, skn, Freqs, 0, D, rot, 0, MAGNITUDE, BLOCK_F);
  const out = Out + tl.cast(bh, 'i64') * Nk * BLOCK_F + tl.col(rows) * BLOCK_F + tl.row(tl.arange(0, BLOCK_F));
  tl.store(out, feats, { mask: tl.col(rows < Nk) });
});
