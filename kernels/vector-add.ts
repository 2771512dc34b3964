// z = x + y over n elements, one block of BLOCK elements per program.
import { jit, tl } from '../index.js';

export const vectorAdd = jit(function vectorAdd(X: tl.Ptr, Y: tl.Ptr, Z: tl.Ptr, n: tl.i32, BLOCK: tl.constexpr) {
  const offs = tl.programId(0) * BLOCK + tl.arange(0, BLOCK);
  const mask = offs < n;
  const x = tl.load(X + offs, { mask });
  const y = tl.load(Y + offs, { mask });
  tl.store(Z + offs, x + y, { mask });
});
