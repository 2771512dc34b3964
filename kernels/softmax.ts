// Row softmax, fused: one program per row, the whole row in one block (BLOCK >= nCols).
import { jit, tl } from '../index.js';

export const rowSoftmax = jit(function rowSoftmax(
  X: tl.Ptr, Y: tl.Ptr, nCols: tl.i32, xRowStride: tl.i32, yRowStride: tl.i32, BLOCK: tl.constexpr,
) {
  const rowIdx = tl.programId(0);
  const cols = tl.arange(0, BLOCK);
  const mask = cols < nCols;
  const x = tl.cast(tl.load(X + rowIdx * xRowStride + cols, { mask, other: -Infinity }), 'f32');
  const z = x - tl.max(x, 0);
  const num = tl.exp(z);
  tl.store(Y + rowIdx * yRowStride + cols, num / tl.sum(num, 0), { mask });
});
