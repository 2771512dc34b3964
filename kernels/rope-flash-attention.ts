// Flash attention forward with RoPE fused: each query tile and key tile is rotated in registers as it
// is loaded (rotary-embedding-torch's adjacent pairs, as in rope.ts: feature d pairs with d ^ 1, angle
// Freqs[position, d / 2]), then an online softmax in exp2 form and the product with V; one program per
// BLOCK_M queries of one (batch, head). Keys take positions 0..Nk-1, queries the last Nq (a KV cache);
// bottom-right causal alignment (query i sees key j iff j <= i + Nk − Nq); an optional boolean mask
// addressed by strides ((B, Nk), (Nq, Nk) or (B, Nq, Nk)); grouped-query heads; the first `rot`
// features rotate, the rest pass through. Rows with no visible key output zeros.
//   Q: [B, H, Nq, D]  K, V: [B, H/GROUP, Nk, D]  Freqs: [Nk, fStride] f32  Out: [B, H, Nq, D]
import { jit, tl } from '../index.js';

/** Rows `rows` of one head, loaded as f32 [rows, BLOCK_D] and rotated by their positions' angles. */
function rotatedRows(
  Base: tl.Tensor, rows: tl.Tensor, nRows: tl.Tensor, rowStride: tl.Tensor, Freqs: tl.Tensor, freqRow0: tl.Tensor, fStride: tl.Tensor,
  D: tl.Tensor, rot: tl.Tensor, BLOCK_D: tl.constexpr,
): tl.Tensor {
  const dims = tl.arange(0, BLOCK_D);
  const rowOk = tl.col(rows < nRows);
  const addr = Base + tl.col(rows) * rowStride;
  const x = tl.cast(tl.load(addr + tl.row(dims), { mask: rowOk && tl.row(dims < D), other: 0 }), 'f32');
  const rotMask = rowOk && tl.row(dims < rot);
  const partner = tl.cast(tl.load(addr + tl.row(tl.where(dims < rot, dims ^ 1, 0)), { mask: rotMask, other: 0 }), 'f32');
  const theta = tl.load(Freqs + tl.col(rows + freqRow0) * fStride + tl.row(tl.where(dims < rot, dims >> 1, 0)), { mask: rotMask, other: 0 });
  // rotate_half: even features take −x[d+1]·sin, odd ones +x[d−1]·sin
  const sign = tl.row(tl.where((dims & 1) === 0, -1.0, 1.0));
  return tl.where(rotMask, x * tl.cos(theta) + sign * partner * tl.sin(theta), x);
}

export const ropeFlashAttention = jit(function ropeFlashAttention(
  Q: tl.Ptr, K: tl.Ptr, V: tl.Ptr, Freqs: tl.Ptr, Mask: tl.Ptr, Out: tl.Ptr,
  H: tl.i32, GROUP: tl.i32, Nq: tl.i32, Nk: tl.i32, D: tl.i32, rot: tl.i32, fStride: tl.i32, softmaxScale: tl.f32,
  sqb: tl.i64, sqh: tl.i64, sqn: tl.i32, skb: tl.i64, skh: tl.i64, skn: tl.i32, svb: tl.i64, svh: tl.i64, svn: tl.i32,
  sob: tl.i64, soh: tl.i64, son: tl.i32, smb: tl.i64, smq: tl.i32, smk: tl.i32,
  HAS_MASK: tl.constexpr<boolean>, CAUSAL: tl.constexpr<boolean>, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr,
) {
  const pidM = tl.programId(0);
  const bh = tl.programId(1);
  const b = tl.idiv(bh, H);
  const h = bh % H;
  const kvh = tl.idiv(h, GROUP);
  const offsM = pidM * BLOCK_M + tl.arange(0, BLOCK_M);
  const dims = tl.arange(0, BLOCK_D);
  const diag = Nk - Nq;

  const q = rotatedRows(Q + b * sqb + h * sqh, offsM, Nq, sqn, Freqs, diag, fStride, D, rot, BLOCK_D);
  const kBase = K + b * skb + kvh * skh;
  const vBase = V + b * svb + kvh * svh;
  const qkScale = softmaxScale * Math.LOG2E;

  let mI = tl.full([BLOCK_M], -Infinity, 'f32');
  let lI = tl.zeros([BLOCK_M], 'f32');
  let acc = tl.zeros([BLOCK_M, BLOCK_D], 'f32');
  let kEnd = Nk;
  if (CAUSAL) kEnd = tl.minimum(Nk, (pidM + 1) * BLOCK_M + diag); // later key blocks are all masked
  for (let start = 0; start < kEnd; start += BLOCK_N) {
    const offsN = start + tl.arange(0, BLOCK_N);
    const k = rotatedRows(kBase, offsN, Nk, skn, Freqs, 0, fStride, D, rot, BLOCK_D);
    const scores = tl.dot(q, tl.trans(k)) * qkScale;
    let visible = tl.row(offsN < Nk);
    if (CAUSAL) visible = visible && tl.row(offsN) <= tl.col(offsM) + diag;
    if (HAS_MASK) {
      const inRange = tl.col(offsM < Nq) && tl.row(offsN < Nk);
      visible = visible && tl.load(Mask + b * smb + tl.col(offsM) * smq + tl.row(offsN) * smk, { mask: inRange, other: 0 }) != 0;
    }
    const s = tl.where(visible, scores, -Infinity);
    const mNew = tl.maximum(mI, tl.max(s, 1));
    const mSafe = tl.where(mNew == -Infinity, 0, mNew); // a row with nothing visible yet
    const p = tl.exp2(s - tl.col(mSafe));
    const alpha = tl.exp2(mI - mSafe);
    lI = lI * alpha + tl.sum(p, 1);
    const v = tl.cast(tl.load(vBase + tl.col(offsN) * svn + tl.row(dims), { mask: tl.col(offsN < Nk) && tl.row(dims < D), other: 0 }), 'f32');
    acc = acc * tl.col(alpha) + tl.dot(p, v);
    mI = mNew;
  }
  const out = acc / tl.col(tl.where(lI > 0, lI, 1));
  tl.store(Out + b * sob + h * soh + tl.col(offsM) * son + tl.row(dims), out, { mask: tl.col(offsM < Nq) && tl.row(dims < D) });
});
