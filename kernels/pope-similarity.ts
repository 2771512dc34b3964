// Fused PoPE attention similarity: sim[b, h, i, j] = Σ_c softplus(q_c) softplus(k_c) cos(φk_c − φq_c)
// + Σ_tail q_c k_c, for q_len <= k_len (queries take the last positions) and grouped-query heads
// (query head h reads kv head h / GROUP). The key bias becomes a query phase (per query head), so
// each key tile is rotated without it. Strides are in elements; the last axis is contiguous.
//   Q: [B, H, Nq, D]  K: [B, H/GROUP, Nk, D]  Freqs: [Nk, rot]  Bias: [H, rot]  Sim: [B, H, Nq, Nk]
import { jit, tl } from '../index.js';
import { clampBias, popeRotatedTile, popeRotatedTileT, type Magnitude } from './pope-math.js';

export const popeSimilarity = jit(function popeSimilarity(
  Q: tl.Ptr, K: tl.Ptr, Freqs: tl.Ptr, Bias: tl.Ptr, Sim: tl.Ptr,
  H: tl.i32, GROUP: tl.i32, Nq: tl.i32, Nk: tl.i32, D: tl.i32, rot: tl.i32,
  sqb: tl.i64, sqh: tl.i64, sqn: tl.i32, skb: tl.i64, skh: tl.i64, skn: tl.i32, ssb: tl.i64, ssh: tl.i64, ssn: tl.i32,
  HAS_BIAS: tl.constexpr<boolean>, MAGNITUDE: tl.constexpr<Magnitude>,
  BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr, DOT: tl.constexpr<'f32' | 'f16' | 'bf16'>,
) {
  const bh = tl.programId(2);
  const b = tl.idiv(bh, H);
  const h = bh % H;
  const kvh = tl.idiv(h, GROUP);
  const offsM = tl.programId(0) * BLOCK_M + tl.arange(0, BLOCK_M);
  const offsN = tl.programId(1) * BLOCK_N + tl.arange(0, BLOCK_N);
  const dims = tl.arange(0, BLOCK_D);
  const shift = HAS_BIAS ? -tl.row(clampBias(tl.load(Bias + h * rot + dims, { mask: dims < rot, other: 0 }))) : 0;
  const [qc, qs, qt] = popeRotatedTile(Q + b * sqb + h * sqh, offsM, Nq, sqn, Freqs, Nk - Nq, D, rot, shift, MAGNITUDE, BLOCK_D);
  const [kcT, ksT, ktT] = popeRotatedTileT(K + b * skb + kvh * skh, offsN, Nk, skn, Freqs, D, rot, MAGNITUDE, BLOCK_D, DOT);
  const sim = tl.dot(tl.cast(qc, DOT), kcT) + tl.dot(tl.cast(qs, DOT), ksT) + tl.dot(tl.cast(qt, DOT), ktT);
  tl.store(Sim + b * ssb + h * ssh + tl.col(offsM) * ssn + tl.row(offsN), sim, { mask: tl.col(offsM < Nq) && tl.row(offsN < Nk) });
});

/**
 * The similarity from PoPE features computed once per row by the popeRowFeatures pre-pass
 * (kernels/pope-features.ts: queries with the bias as a phase, keys without): per tile one product of
 * inner dimension BLOCK_F, plus one of BLOCK_F2 when that is not 0 (rows hold BLOCK_F + BLOCK_F2
 * features: two powers of two cover 96 features without padding to 128), on tensor cores for f16/bf16
 * features, f32 products for f32 features.
 * A program keeps one query tile and walks `keysPerProgram` keys (a multiple of BLOCK_N) in BLOCK_N
 * tiles, so the next key tile's copy and the stores of this one overlap the product.
 *   QF: [B·H, Nq, BLOCK_F + BLOCK_F2]  KF: [B·H/GROUP, Nk, BLOCK_F + BLOCK_F2]  Sim: [B, H, Nq, Nk] (strides ssb, ssh, ssn)
 */
export const popeSimilarityFromFeatures = jit(function popeSimilarityFromFeatures(
  QF: tl.Ptr, KF: tl.Ptr, Sim: tl.Ptr, H: tl.i32, GROUP: tl.i32, Nq: tl.i32, Nk: tl.i32, keysPerProgram: tl.i32,
  ssb: tl.i64, ssh: tl.i64, ssn: tl.i32, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_F: tl.constexpr, BLOCK_F2: tl.constexpr,
) {
  const bh = tl.programId(2);
  const b = tl.idiv(bh, H);
  const h = bh % H;
  const kvRow = b * tl.idiv(H, GROUP) + tl.idiv(h, GROUP);
  const offsM = tl.programId(1) * BLOCK_M + tl.arange(0, BLOCK_M);
  const width = BLOCK_F + BLOCK_F2;
  const f = tl.row(tl.arange(0, BLOCK_F));
  const qRows = QF + tl.cast(bh, 'i64') * Nq * width + tl.col(offsM) * width;
  const qf = tl.load(qRows + f, { mask: tl.col(offsM < Nq), other: 0 });
  let qf2 = qf; // the features past BLOCK_F, when there are any
  if (BLOCK_F2 > 0) qf2 = tl.load(qRows + BLOCK_F + tl.row(tl.arange(0, BLOCK_F2)), { mask: tl.col(offsM < Nq), other: 0 });
  const kBase = KF + tl.cast(kvRow, 'i64') * Nk * width;
  const sBase = Sim + b * ssb + h * ssh + tl.col(offsM) * ssn;
  const kStart = tl.programId(0) * keysPerProgram;
  const kStop = tl.minimum(kStart + keysPerProgram, Nk);
  for (let start = kStart; start < kStop; start += BLOCK_N) {
    const offsN = start + tl.arange(0, BLOCK_N);
    const kRows = kBase + tl.col(offsN) * width;
    let s = tl.dot(qf, tl.trans(tl.load(kRows + f, { mask: tl.col(offsN < Nk), other: 0 })));
    if (BLOCK_F2 > 0) s = tl.dot(qf2, tl.trans(tl.load(kRows + BLOCK_F + tl.row(tl.arange(0, BLOCK_F2)), { mask: tl.col(offsN < Nk), other: 0 })), s);
    tl.store(sBase + tl.row(offsN), s, { mask: tl.col(offsM < Nq) && tl.row(offsN < Nk) });
  }
});
