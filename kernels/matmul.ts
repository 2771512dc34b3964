// C = A @ B, tiled: each program computes one BLOCK_M x BLOCK_N tile of C, looping over K.
// Any strides (transposed operands work), f32 accumulation, any input dtype tl.dot accepts.
import { jit, tl } from '../index.js';

export const matmul = jit(function matmul(
  A: tl.Ptr, B: tl.Ptr, C: tl.Ptr, M: tl.i32, N: tl.i32, K: tl.i32,
  strideAm: tl.i32, strideAk: tl.i32, strideBk: tl.i32, strideBn: tl.i32, strideCm: tl.i32, strideCn: tl.i32,
  BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
) {
  const offsM = tl.programId(0) * BLOCK_M + tl.arange(0, BLOCK_M);
  const offsN = tl.programId(1) * BLOCK_N + tl.arange(0, BLOCK_N);
  const offsK = tl.arange(0, BLOCK_K);
  let acc = tl.zeros([BLOCK_M, BLOCK_N], 'f32');
  for (let k = 0; k < K; k += BLOCK_K) {
    const ks = k + offsK;
    const a = tl.load(A + tl.col(offsM) * strideAm + tl.row(ks) * strideAk, { mask: tl.col(offsM) < M && tl.row(ks) < K, other: 0 });
    const b = tl.load(B + tl.col(ks) * strideBk + tl.row(offsN) * strideBn, { mask: tl.col(ks) < K && tl.row(offsN) < N, other: 0 });
    acc = tl.dot(a, b, acc);
  }
  tl.store(C + tl.col(offsM) * strideCm + tl.row(offsN) * strideCn, acc, { mask: tl.col(offsM) < M && tl.row(offsN) < N });
});
