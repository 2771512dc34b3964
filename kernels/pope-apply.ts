// PoPE applied to queries or keys: magnitudes (softplus by default) times cos/sin of the phases,
// written interleaved [m0 cos, m0 sin, m1 cos, m1 sin, ...] for the first `rot` features, followed by
// the unrotated tail. Rows are (batch*head, position); one program per BLOCK_N positions of one head.
//   X: [BH, N, D]   Freqs: [Nf, rot] (row = position)   Bias: [H, rot] (added to key phases)
//   Out: [BH, N, 2*rot + D - rot]   freqRowOffset: Nf - N for queries (they take the last positions), 0 for keys
// COMPLEX writes [BH, N, D, 2] instead: (real, imag) per feature, the unrotated tail as (x, 0).
// MAGNITUDE is a built-in name or a kernel-language function of the features, inlined here.
import { jit, tl } from '../index.js';
import { magnitude, clampBias, type Magnitude } from './pope-math.js';

export const popeApply = jit(function popeApply(
  X: tl.Ptr, Freqs: tl.Ptr, Bias: tl.Ptr, Out: tl.Ptr,
  N: tl.i32, H: tl.i32, D: tl.i32, rot: tl.i32, freqRowOffset: tl.i32,
  HAS_BIAS: tl.constexpr<boolean>, MAGNITUDE: tl.constexpr<Magnitude>, COMPLEX: tl.constexpr<boolean>,
  BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr,
) {
  const bh = tl.programId(1);
  const rows = tl.programId(0) * BLOCK_N + tl.arange(0, BLOCK_N);
  const dims = tl.arange(0, BLOCK_D);
  const rowOk = tl.col(rows < N);
  const outWidth = COMPLEX ? 2 * D : D + rot;
  const xBase = X + tl.cast(bh, 'i64') * N * D;
  const outBase = Out + tl.cast(bh, 'i64') * N * outWidth;

  const x = tl.cast(tl.load(xBase + tl.col(rows) * D + tl.row(dims), { mask: rowOk && tl.row(dims < D), other: 0 }), 'f32');
  const rotMask = rowOk && tl.row(dims < rot);
  let phase = tl.load(Freqs + tl.col(rows + freqRowOffset) * rot + tl.row(dims), { mask: rotMask, other: 0 });
  if (HAS_BIAS) {
    const h = bh % H;
    phase = phase + tl.row(clampBias(tl.load(Bias + h * rot + dims, { mask: dims < rot, other: 0 })));
  }
  const m = magnitude(x, MAGNITUDE);
  const outRow = outBase + tl.col(rows) * outWidth;
  tl.store(outRow + tl.row(2 * dims), m * tl.cos(phase), { mask: rotMask });
  tl.store(outRow + tl.row(2 * dims + 1), m * tl.sin(phase), { mask: rotMask });
  const tail = rowOk && tl.row(dims >= rot && dims < D);
  if (COMPLEX) {
    tl.store(outRow + tl.row(2 * dims), x, { mask: tail });
    tl.store(outRow + tl.row(2 * dims + 1), tl.zeros([BLOCK_N, BLOCK_D], 'f32'), { mask: tail });
  } else tl.store(outRow + tl.row(rot + dims), x, { mask: tail });
});
