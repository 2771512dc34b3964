// Flash attention forward with PoPE: scores as in pope-similarity, then an online softmax in exp2
// form (log2 e folded into the scale) and the product with V, one program per BLOCK_M queries of one
// (batch, head). Bottom-right causal alignment (query i sees key j iff j <= i + Nk − Nq), key blocks
// past the diagonal skipped; an optional boolean mask addressed by strides, so (B, Nk) key padding,
// (Nq, Nk) and (B, Nq, Nk) masks all work (stride 0 on a missing axis); grouped-query heads; partial
// rotation. Rows with no visible key output zeros.
// With PRE_ROTATED, Q and K hold the features of the popeRowFeatures pre-pass (queries with the bias as a
// phase shift and the softmax scale folded in), rows of BLOCK_F + BLOCK_F2 ≥ D + rot features, and each
// score is a product of inner dimension BLOCK_F, plus one of BLOCK_F2 when that is not 0 (two powers of
// two cover 96 features without padding to 128); otherwise queries are rotated here and keys in every
// query block.
//   Q: [B, H, Nq, D]  K, V: [B, H/GROUP, Nk, D]  Freqs: [Nk, rot]  Bias: [H, rot]  Out: [B, H, Nq, D]
//   With PRE_ROTATED: Q [B, H, Nq, BLOCK_F + BLOCK_F2], K [B, H/GROUP, Nk, BLOCK_F + BLOCK_F2], with their strides
import { jit, tl } from '../index.js';
import { clampBias, popeRotatedTile, popeRotatedTileT, type Magnitude } from './pope-math.js';

export const popeFlashAttention = jit(function popeFlashAttention(
  Q: tl.Ptr, K: tl.Ptr, V: tl.Ptr, Freqs: tl.Ptr, Bias: tl.Ptr, Mask: tl.Ptr, Out: tl.Ptr,
  H: tl.i32, GROUP: tl.i32, Nq: tl.i32, Nk: tl.i32, D: tl.i32, rot: tl.i32, softmaxScale: tl.f32,
  sqb: tl.i64, sqh: tl.i64, sqn: tl.i32, skb: tl.i64, skh: tl.i64, skn: tl.i32, svb: tl.i64, svh: tl.i64, svn: tl.i32,
  sob: tl.i64, soh: tl.i64, son: tl.i32, smb: tl.i64, smq: tl.i32, smk: tl.i32,
  HAS_BIAS: tl.constexpr<boolean>, HAS_MASK: tl.constexpr<boolean>, CAUSAL: tl.constexpr<boolean>,
  MAGNITUDE: tl.constexpr<Magnitude>, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr,
  DOT: tl.constexpr<'f32' | 'f16' | 'bf16'>, PRE_ROTATED: tl.constexpr<boolean>, BLOCK_F: tl.constexpr, BLOCK_F2: tl.constexpr,
) {
  const pidM = tl.programId(0);
  const bh = tl.programId(1);
  const b = tl.idiv(bh, H);
  const h = bh % H;
  const kvh = tl.idiv(h, GROUP);
  const offsM = pidM * BLOCK_M + tl.arange(0, BLOCK_M);
  const dims = tl.arange(0, BLOCK_D);
  const diag = Nk - Nq;

  const shift = HAS_BIAS ? -tl.row(clampBias(tl.load(Bias + h * rot + dims, { mask: dims < rot, other: 0 }))) : 0;
  // Query features once per program, in the tensor-core input type (f32 runs on FMA), with the softmax
  // scale and log2(e) folded in: the scores come out of the product ready for exp2.
  const qkScale = softmaxScale * Math.LOG2E;
  const [qc32, qs32, qt32] = popeRotatedTile(Q + b * sqb + h * sqh, offsM, Nq, sqn, Freqs, diag, D, rot, shift, MAGNITUDE, BLOCK_D);
  const qc = tl.cast(qc32 * qkScale, DOT), qs = tl.cast(qs32 * qkScale, DOT), qt = tl.cast(qt32 * qkScale, DOT);
  // With PRE_ROTATED the pre-pass features (the rotated tiles above are then unused and eliminated).
  const qRows = Q + b * sqb + h * sqh + tl.col(offsM) * sqn;
  let qf = tl.zeros([BLOCK_M, BLOCK_F], DOT);
  if (PRE_ROTATED) qf = tl.load(qRows + tl.row(tl.arange(0, BLOCK_F)), { mask: tl.col(offsM < Nq), other: 0 });
  let qf2 = qf; // the features past BLOCK_F, when there are any
  if (PRE_ROTATED && BLOCK_F2 > 0) qf2 = tl.load(qRows + BLOCK_F + tl.row(tl.arange(0, BLOCK_F2)), { mask: tl.col(offsM < Nq), other: 0 });
  const kBase = K + b * skb + kvh * skh;
  const vBase = V + b * svb + kvh * svh;

  let mI = tl.full([BLOCK_M], -Infinity, 'f32');
  let lI = tl.zeros([BLOCK_M], 'f32');
  let acc = tl.zeros([BLOCK_M, BLOCK_D], 'f32');
  let kEnd = Nk;
  if (CAUSAL) kEnd = tl.minimum(Nk, (pidM + 1) * BLOCK_M + diag); // later key blocks are all masked
  // Key blocks before kMaskFrom are visible to every row of this block: they skip the masking.
  let kMaskFrom = Nk - Nk % BLOCK_N;
  if (CAUSAL) kMaskFrom = tl.minimum(kMaskFrom, tl.idiv(tl.maximum(pidM * BLOCK_M + diag + 1, 0), BLOCK_N) * BLOCK_N);
  if (HAS_MASK) kMaskFrom = 0;
  for (let start = 0; start < kEnd; start += BLOCK_N) {
    const offsN = start + tl.arange(0, BLOCK_N);
    let s = tl.zeros([BLOCK_M, BLOCK_N], 'f32');
    if (PRE_ROTATED) {
      const kRows = kBase + tl.col(offsN) * skn;
      const kf = tl.load(kRows + tl.row(tl.arange(0, BLOCK_F)), { mask: tl.col(offsN < Nk), other: 0 });
      s = tl.dot(qf, tl.trans(kf));
      if (BLOCK_F2 > 0) {
        const kf2 = tl.load(kRows + BLOCK_F + tl.row(tl.arange(0, BLOCK_F2)), { mask: tl.col(offsN < Nk), other: 0 });
        s = tl.dot(qf2, tl.trans(kf2), s);
      }
    } else {
      const [kcT, ksT, ktT] = popeRotatedTileT(kBase, offsN, Nk, skn, Freqs, D, rot, MAGNITUDE, BLOCK_D, DOT);
      s = tl.dot(qc, kcT) + tl.dot(qs, ksT) + tl.dot(qt, ktT);
    }
    if (start >= kMaskFrom) {
      let visible = tl.row(offsN < Nk);
      if (CAUSAL) visible = visible && tl.row(offsN) <= tl.col(offsM) + diag;
      if (HAS_MASK) {
        const inRange = tl.col(offsM < Nq) && tl.row(offsN < Nk);
        visible = visible && tl.load(Mask + b * smb + tl.col(offsM) * smq + tl.row(offsN) * smk, { mask: inRange, other: 0 }) != 0;
      }
      s = tl.where(visible, s, -Infinity);
    }
    const mNew = tl.maximum(mI, tl.max(s, 1));
    const mSafe = tl.where(mNew == -Infinity, 0, mNew); // a row with nothing visible yet
    const p = tl.exp2(s - tl.col(mSafe));
    const alpha = tl.exp2(mI - mSafe);
    lI = lI * alpha + tl.sum(p, 1);
    const v = tl.cast(tl.load(vBase + tl.col(offsN) * svn + tl.row(dims), { mask: tl.col(offsN < Nk) && tl.row(dims < D), other: 0 }), DOT);
    acc = tl.dot(tl.cast(p, DOT), v, acc * tl.col(alpha));
    mI = mNew;
  }
  const out = acc / tl.col(tl.where(lI > 0, lI, 1));
  tl.store(Out + b * sob + h * soh + tl.col(offsM) * son + tl.row(dims), out, { mask: tl.col(offsM < Nq) && tl.row(dims < D) });
});
