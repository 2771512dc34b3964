// Kernels the benchmark harness measures its ceilings with: a plain copy (bytes read + written per second
// is the device's copy ceiling) beside the sample vector add.
import { jit, tl } from '../index.js';

export const benchCopy = jit(function benchCopy(X: tl.Ptr, Y: tl.Ptr, n: tl.i32, BLOCK: tl.constexpr) {
  const offs = tl.programId(0) * BLOCK + tl.arange(0, BLOCK);
  const mask = offs < n;
  tl.store(Y + offs, tl.load(X + offs, { mask }), { mask });
});
