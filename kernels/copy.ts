// Strided copy with a cast: out[i] = cast(x[offset + Σ idx_d · stride_d]) for the row-major index i of
// a 4-D shape (lower ranks pad with leading 1s). Makes views contiguous and converts dtypes;
// stridedCopyTo writes into a strided view instead (concatenations, assignments to slices).
import { jit, tl } from '../index.js';

export const stridedCopy = jit(function stridedCopy(
  X: tl.Ptr, Out: tl.Ptr, n: tl.i32, offset: tl.i64,
  d1: tl.i32, d2: tl.i32, d3: tl.i32, s0: tl.i64, s1: tl.i64, s2: tl.i64, s3: tl.i64, BLOCK: tl.constexpr,
) {
  const i = tl.programId(0) * BLOCK + tl.arange(0, BLOCK);
  const mask = i < n;
  const i3 = i % d3;
  const i2 = tl.idiv(i, d3) % d2;
  const i1 = tl.idiv(i, d3 * d2) % d1;
  const i0 = tl.idiv(i, d3 * d2 * d1);
  const src = offset + i0 * s0 + i1 * s1 + i2 * s2 + i3 * s3;
  tl.store(Out + i, tl.load(X + src, { mask }), { mask });
});

/** The same copy into a strided destination: out[dOffset + Σ idx_d · dstride_d] = cast(x[...]). */
export const stridedCopyTo = jit(function stridedCopyTo(
  X: tl.Ptr, Out: tl.Ptr, n: tl.i32, offset: tl.i64, dOffset: tl.i64,
  d1: tl.i32, d2: tl.i32, d3: tl.i32, s0: tl.i64, s1: tl.i64, s2: tl.i64, s3: tl.i64,
  t0: tl.i64, t1: tl.i64, t2: tl.i64, t3: tl.i64, BLOCK: tl.constexpr,
) {
  const i = tl.programId(0) * BLOCK + tl.arange(0, BLOCK);
  const mask = i < n;
  const i3 = i % d3;
  const i2 = tl.idiv(i, d3) % d2;
  const i1 = tl.idiv(i, d3 * d2) % d1;
  const i0 = tl.idiv(i, d3 * d2 * d1);
  const src = offset + i0 * s0 + i1 * s1 + i2 * s2 + i3 * s3;
  const dst = dOffset + i0 * t0 + i1 * t1 + i2 * t2 + i3 * t3;
  tl.store(Out + dst, tl.load(X + src, { mask }), { mask });
});
