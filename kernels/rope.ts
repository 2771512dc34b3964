// Rotary position embedding (rotary-embedding-torch's convention): pairs are adjacent features
// (x0, x1), (x2, x3), … of the rotated span [start, start + rot); pair j at a position with angle θ
// becomes (x0·cos θ − x1·sin θ, x1·cos θ + x0·sin θ), times an optional xpos scale s (or 1/s for
// keys); features outside the span pass through unchanged. Everything is computed in f32 whatever
// the input dtype; stores convert to the output's dtype.
//
// Angles come as a table Freqs [Nf, fStride] of f32 (the library's `freqs` without the repeat of each
// pair's angle): row `position + offset`, column j for pair j. Positions are therefore computed on
// the host in f32/f64 (never in the tensor's dtype) and cos/sin in the kernel. Scale [Ns, fStride]
// holds xpos scales per pair, indexed like Freqs. Tensors are [B, H, N, D]-like views: element
// (b, h, n, d) at b·sB + h·sH + n·sN + d, so [B, N, H, D] layouts (seq before head) are read in place.
// Out may be X itself (each program reads its rows before it writes them).
import { jit, tl } from '../index.js';

/** Angle of each pair: RowFreqs[pair], or RowFreqs[pair / NUM_RANGES] · Ranges[pair % NUM_RANGES]. */
function pairAngles(RowFreqs: tl.Tensor, pair: tl.Tensor, Ranges: tl.Tensor, mask: tl.Mask, NUM_RANGES: tl.constexpr): tl.Tensor {
  if (NUM_RANGES > 0) {
    const r = tl.cast(tl.load(RowFreqs + tl.idiv(pair, NUM_RANGES), { mask, other: 0 }), 'f32');
    return r * tl.cast(tl.load(Ranges + pair % NUM_RANGES, { mask, other: 0 }), 'f32');
  }
  return tl.cast(tl.load(RowFreqs + pair, { mask, other: 0 }), 'f32');
}

/**
 * Rotates rows `rows` (< nRows) of one head: X and Out point at the head's first row, Freqs and Scale
 * at the table row of position 0 (offset applied by the caller). INVERT divides by the scale (keys).
 * With NUM_RANGES > 0 (learned rotations with frequency ranges), pair j's angle is
 * Freqs[row, j / NUM_RANGES] · Ranges[j % NUM_RANGES].
 */
export function ropeRows(
  X: tl.Tensor, xsN: tl.Tensor, Out: tl.Tensor, osN: tl.Tensor, rows: tl.Tensor, nRows: tl.Tensor,
  D: tl.Tensor, rot: tl.Tensor, start: tl.Tensor, Freqs: tl.Tensor, Scale: tl.Tensor, fStride: tl.Tensor, Ranges: tl.Tensor,
  HAS_SCALE: tl.constexpr<boolean>, INVERT: tl.constexpr<boolean>, NUM_RANGES: tl.constexpr, BLOCK_D: tl.constexpr,
): void {
  const dims = tl.arange(0, BLOCK_D);
  const rowOk = tl.col(rows < nRows);
  const rows64 = tl.cast(rows, 'i64');
  const inRow = rowOk && tl.row(dims < D);
  const x = tl.cast(tl.load(X + tl.col(rows64 * xsN) + tl.row(dims), { mask: inRow, other: 0 }), 'f32');
  // position of each feature in the rotated span; clamped to 0 outside it so that no address is wild
  const isRot = dims >= start && dims < start + rot && dims < D;
  const rel = tl.where(isRot, dims - start, 0);
  const rotMask = rowOk && tl.row(isRot);
  const partner = tl.cast(tl.load(X + tl.col(rows64 * xsN) + tl.row(start + (rel ^ 1)), { mask: rotMask, other: 0 }), 'f32');
  const pair = tl.row(rel >> 1);
  const theta = pairAngles(Freqs + tl.col(rows64 * fStride), pair, Ranges, rotMask, NUM_RANGES);
  // rotate_half: even features take −x[d+1]·sin, odd ones +x[d−1]·sin
  const sign = tl.row(tl.where((rel & 1) === 0, -1.0, 1.0));
  let y = x * tl.cos(theta) + sign * partner * tl.sin(theta);
  if (HAS_SCALE) {
    const s = tl.cast(tl.load(Scale + tl.col(rows64 * fStride) + pair, { mask: rotMask, other: 1 }), 'f32');
    if (INVERT) y = y / s;
    else y = y * s;
  }
  tl.store(Out + tl.col(rows64 * osN) + tl.row(dims), tl.where(rotMask, y, x), { mask: inRow });
}

/**
 * One tensor: grid [cdiv(N, BLOCK_N), B·H]. Rows of position n use table row n + freqOffset (and
 * Scale row n + scaleOffset); fBatchStride > 0 gives each batch its own table (learned rotations,
 * whose per-pair angles are rotations × Ranges when NUM_RANGES > 0).
 */
export const ropeApply = jit(function ropeApply(
  X: tl.Ptr, Out: tl.Ptr, Freqs: tl.Ptr, Scale: tl.Ptr, Ranges: tl.Ptr,
  H: tl.i32, N: tl.i32, D: tl.i32, rot: tl.i32, start: tl.i32,
  xsB: tl.i64, xsH: tl.i64, xsN: tl.i32, osB: tl.i64, osH: tl.i64, osN: tl.i32,
  fStride: tl.i32, fBatchStride: tl.i64, freqOffset: tl.i32, scaleOffset: tl.i32,
  HAS_SCALE: tl.constexpr<boolean>, INVERT_SCALE: tl.constexpr<boolean>, NUM_RANGES: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr,
) {
  const bh = tl.programId(1);
  const b = tl.cast(tl.idiv(bh, H), 'i64'), h = tl.cast(bh % H, 'i64');
  const rows = tl.programId(0) * BLOCK_N + tl.arange(0, BLOCK_N);
  ropeRows(
    X + b * xsB + h * xsH, xsN, Out + b * osB + h * osH, osN, rows, N, D, rot, start,
    Freqs + b * fBatchStride + tl.cast(freqOffset, 'i64') * fStride, Scale + tl.cast(scaleOffset, 'i64') * fStride, fStride, Ranges,
    HAS_SCALE, INVERT_SCALE, NUM_RANGES, BLOCK_D,
  );
});

/**
 * Queries and keys in one launch: grid [cdiv(max(Nq, Nk), BLOCK_N), B·H]. q has H heads, k has
 * H / GROUP (grouped-query attention: query head h reads key head h / GROUP); the program of query
 * head h also rotates key head h / GROUP when h is the first of its group. Queries use table rows
 * n + qOffset (the last positions: qOffset = Nk − Nq + offset), keys rows n + kOffset; with xpos,
 * queries are multiplied by their Scale rows and keys divided by theirs (same table, same centre).
 */
export const ropeQK = jit(function ropeQK(
  Q: tl.Ptr, K: tl.Ptr, QOut: tl.Ptr, KOut: tl.Ptr, Freqs: tl.Ptr, Scale: tl.Ptr,
  H: tl.i32, GROUP: tl.i32, Nq: tl.i32, Nk: tl.i32, D: tl.i32, rot: tl.i32, start: tl.i32,
  qsB: tl.i64, qsH: tl.i64, qsN: tl.i32, ksB: tl.i64, ksH: tl.i64, ksN: tl.i32,
  qosB: tl.i64, qosH: tl.i64, qosN: tl.i32, kosB: tl.i64, kosH: tl.i64, kosN: tl.i32,
  fStride: tl.i32, qOffset: tl.i32, kOffset: tl.i32,
  HAS_SCALE: tl.constexpr<boolean>, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr,
) {
  const bh = tl.programId(1);
  const b = tl.cast(tl.idiv(bh, H), 'i64'), h = bh % H;
  const rows = tl.programId(0) * BLOCK_N + tl.arange(0, BLOCK_N);
  const qh = tl.cast(h, 'i64'), kh = tl.cast(tl.idiv(h, GROUP), 'i64');
  const qRow0 = tl.cast(qOffset, 'i64') * fStride, kRow0 = tl.cast(kOffset, 'i64') * fStride;
  ropeRows(
    Q + b * qsB + qh * qsH, qsN, QOut + b * qosB + qh * qosH, qosN, rows, Nq, D, rot, start,
    Freqs + qRow0, Scale + qRow0, fStride, Freqs, HAS_SCALE, false, 0, BLOCK_D,
  );
  const kRows = tl.where(h % GROUP === 0, Nk, 0);
  ropeRows(
    K + b * ksB + kh * ksH, ksN, KOut + b * kosB + kh * kosH, kosN, rows, kRows, D, rot, start,
    Freqs + kRow0, Scale + kRow0, fStride, Freqs, HAS_SCALE, true, 0, BLOCK_D,
  );
});
