// Small elementwise kernels the op layer needs.
import { jit, tl } from '../index.js';

/** out = min(max(x, lo), hi) over n contiguous elements. */
export const clampKernel = jit(function clampKernel(X: tl.Ptr, Out: tl.Ptr, n: tl.i32, lo: tl.f32, hi: tl.f32, BLOCK: tl.constexpr) {
  const i = tl.programId(0) * BLOCK + tl.arange(0, BLOCK);
  const mask = i < n;
  tl.store(Out + i, tl.minimum(tl.maximum(tl.load(X + i, { mask }), lo), hi), { mask });
});
