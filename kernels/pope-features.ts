// PoPE features of queries or keys, computed once per row by a pre-pass before attention (rather than
// in every program that reads the row: softplus, sin and cos are the GPU's scarce special-function
// work, and a [rows, D + rot] f32 tile is many registers). Planar layout, rows of WIDTH ≥ D + rot
// features (padded with zeros to popeFeatureSplit's width, so that rows are aligned and need no mask): [m·cos | m·sin | tail | 0…] (feature f < rot is m·cos(phase f),
// rot ≤ f < 2·rot is m·sin(phase f − rot), then x[f − rot]; a score is one dot product of two rows), times
// `scale`. Queries take the key bias as a phase shift (HAS_BIAS) and the attention's softmax scale;
// keys take neither.
//   X: [B, Hx, N, D] (strides sxb, sxh, sxn; last axis contiguous)   Freqs: [Nf, rot] (row = position +
//   freqRowOffset)   Bias: [Hx, rot]   Out: [B·Hx, N, WIDTH] in the attention's tensor-core input type
// Each input element's magnitude, cosine and sine are computed once (not once per output feature) and
// stored to their three places, with the padding written as zeros (scratch is reused across shapes).
import { jit, tl } from '../index.js';
import { clampBias, magnitude, type Magnitude } from './pope-math.js';

export const popeRowFeatures = jit(function popeRowFeatures(
  X: tl.Ptr, Freqs: tl.Ptr, Bias: tl.Ptr, Out: tl.Ptr, Hx: tl.i32, N: tl.i32, D: tl.i32, rot: tl.i32,
  freqRowOffset: tl.i32, scale: tl.f32, sxb: tl.i64, sxh: tl.i64, sxn: tl.i32,
  HAS_BIAS: tl.constexpr<boolean>, MAGNITUDE: tl.constexpr<Magnitude>, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr, WIDTH: tl.constexpr,
) {
  const bh = tl.programId(1);
  const b = tl.idiv(bh, Hx), h = bh % Hx;
  const rows = tl.programId(0) * BLOCK_N + tl.arange(0, BLOCK_N);
  const dims = tl.row(tl.arange(0, BLOCK_D));
  const rowOk = tl.col(rows < N);
  const inRow = rowOk && dims < D;
  const isRot = dims < rot;
  const x = tl.cast(tl.load(X + b * sxb + h * sxh + tl.col(rows) * sxn + dims, { mask: inRow, other: 0 }), 'f32');
  let phase = tl.load(Freqs + tl.col(rows + freqRowOffset) * rot + dims, { mask: rowOk && isRot, other: 0 });
  if (HAS_BIAS) phase = phase - clampBias(tl.load(Bias + h * rot + dims, { mask: isRot, other: 0 }));
  const m = magnitude(x, MAGNITUDE) * scale;
  const out = Out + tl.cast(bh, 'i64') * N * WIDTH + tl.col(rows) * WIDTH;
  tl.store(out + dims, m * tl.cos(phase), { mask: rowOk && isRot });
  tl.store(out + rot + dims, tl.where(isRot, m * tl.sin(phase), x * scale), { mask: inRow });
  tl.store(out + D + rot + dims, tl.zeros([BLOCK_N, BLOCK_D], 'f32'), { mask: rowOk && D + rot + dims < WIDTH });
});
