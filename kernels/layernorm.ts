// Layer normalization over the last axis: one program per row, looping over the row in BLOCK chunks
// (rows of any length), statistics in f32.
import { jit, tl } from '../index.js';

export const layerNorm = jit(function layerNorm(
  X: tl.Ptr, Y: tl.Ptr, W: tl.Ptr, B: tl.Ptr, rowStride: tl.i32, nCols: tl.i32, eps: tl.f32, BLOCK: tl.constexpr,
) {
  const rowIdx = tl.programId(0);
  const x0 = X + rowIdx * rowStride;
  const y0 = Y + rowIdx * rowStride;
  let sumAcc = tl.zeros([BLOCK], 'f32');
  for (let off = 0; off < nCols; off += BLOCK) {
    const cols = off + tl.arange(0, BLOCK);
    sumAcc += tl.cast(tl.load(x0 + cols, { mask: cols < nCols, other: 0 }), 'f32');
  }
  const mean = tl.sum(sumAcc, 0) / nCols;
  let varAcc = tl.zeros([BLOCK], 'f32');
  for (let off = 0; off < nCols; off += BLOCK) {
    const cols = off + tl.arange(0, BLOCK);
    const mask = cols < nCols;
    const x = tl.cast(tl.load(x0 + cols, { mask, other: 0 }), 'f32');
    const d = tl.where(mask, x - mean, 0);
    varAcc += d * d;
  }
  const rstd = tl.rsqrt(tl.sum(varAcc, 0) / nCols + eps);
  for (let off = 0; off < nCols; off += BLOCK) {
    const cols = off + tl.arange(0, BLOCK);
    const mask = cols < nCols;
    const x = tl.cast(tl.load(x0 + cols, { mask, other: 0 }), 'f32');
    const w = tl.load(W + cols, { mask });
    const b = tl.load(B + cols, { mask });
    tl.store(y0 + cols, (x - mean) * rstd * w + b, { mask });
  }
});
