// Split-K PoPE attention for short query lengths (flash-decoding). The key axis is cut into chunks;
// one program per (chunk, batch, kv head) streams its chunk of K and V once and computes the partial
// online-softmax triple (running max in exp2 units, sum, unnormalized output) of every query row that
// reads this kv head: the GROUP query heads sharing it and all Nq queries, stacked in M (row r = g·Nq + i
// for head kvh·GROUP + g, query i), so grouped-query heads never re-read K. popeDecodeCombine then
// merges the chunks' triples of each query row. popeDecodeRow (below) takes the usual multi-head decode,
// one query row per kv head, on CUDA cores.
//
// Keys are rotated here, on [BLOCK_N, BLOCK_D] tiles: one softplus, one cos and one sin per key
// element (not per feature of the doubled width), split in two operands, [m·cos | tail] and [m·sin | 0],
// so the score is two products with inner dimension BLOCK_D. The key bias is a query phase. Semantics
// as pope-flash-attention: bottom-right causal, optional boolean mask addressed by strides, rows with
// no visible key output zeros.
//   Q: [B, H, Nq, D]  K, V: [B, H/GROUP, Nk, D]  Freqs: [Nk, rot]  Bias: [H, rot]
//   PartO: [B·H·Nq, S, BLOCK_D] f32   PartM, PartL: [B·H·Nq, S] f32   (S = number of chunks)
import { jit, tl } from '../index.js';
import { clampBias, magnitude, type Magnitude } from './pope-math.js';

export const popeDecodeSplit = jit(function popeDecodeSplit(
  Q: tl.Ptr, K: tl.Ptr, V: tl.Ptr, Freqs: tl.Ptr, Bias: tl.Ptr, Mask: tl.Ptr, PartO: tl.Ptr, PartM: tl.Ptr, PartL: tl.Ptr,
  H: tl.i32, GROUP: tl.i32, Nq: tl.i32, Nk: tl.i32, D: tl.i32, rot: tl.i32, softmaxScale: tl.f32, chunk: tl.i32, S: tl.i32,
  sqb: tl.i64, sqh: tl.i64, sqn: tl.i32, skb: tl.i64, skh: tl.i64, skn: tl.i32, svb: tl.i64, svh: tl.i64, svn: tl.i32,
  smb: tl.i64, smq: tl.i32, smk: tl.i32,
  HAS_BIAS: tl.constexpr<boolean>, HAS_MASK: tl.constexpr<boolean>, CAUSAL: tl.constexpr<boolean>, MAGNITUDE: tl.constexpr<Magnitude>,
  BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr, DOT: tl.constexpr<'f32' | 'f16' | 'bf16'>,
) {
  const split = tl.programId(0);
  const bkv = tl.programId(1);
  const Hkv = tl.idiv(H, GROUP);
  const b = tl.idiv(bkv, Hkv);
  const kvh = bkv % Hkv;
  const r = tl.arange(0, BLOCK_M);
  const rowOk = r < GROUP * Nq;
  const i = r % Nq; // the query of each row
  const h = kvh * GROUP + tl.idiv(r, Nq); // its query head
  const dims = tl.arange(0, BLOCK_D);
  const isRot = tl.row(dims < rot);
  const diag = Nk - Nq;

  // Query features once per program, with the key bias as a phase and softmax scale · log2(e) folded in.
  const qOk = tl.col(rowOk);
  const xq = tl.cast(tl.load(Q + b * sqb + tl.col(h * sqh + i * sqn) + tl.row(dims), { mask: qOk && tl.row(dims < D), other: 0 }), 'f32');
  let phq = tl.load(Freqs + tl.col(i + diag) * rot + tl.row(dims), { mask: qOk && isRot, other: 0 });
  if (HAS_BIAS) phq = phq - clampBias(tl.load(Bias + tl.col(h) * rot + tl.row(dims), { mask: qOk && isRot, other: 0 }));
  const qkScale = softmaxScale * Math.LOG2E;
  const aq = magnitude(xq, MAGNITUDE);
  const qc = tl.cast(tl.where(isRot, aq * tl.cos(phq), xq) * qkScale, DOT);
  const qs = tl.cast(tl.where(isRot, aq * tl.sin(phq), 0) * qkScale, DOT);

  const kBase = K + b * skb + kvh * skh;
  const vBase = V + b * svb + kvh * svh;
  const kStart = split * chunk;
  const kStop = tl.minimum(kStart + chunk, Nk);
  let mI = tl.full([BLOCK_M], -Infinity, 'f32');
  let lI = tl.zeros([BLOCK_M], 'f32');
  let acc = tl.zeros([BLOCK_M, BLOCK_D], 'f32');
  for (let start = kStart; start < kStop; start += BLOCK_N) {
    const offsN = start + tl.arange(0, BLOCK_N);
    const keyOk = tl.col(offsN < kStop);
    const xk = tl.cast(tl.load(kBase + tl.col(offsN) * skn + tl.row(dims), { mask: keyOk && tl.row(dims < D), other: 0 }), 'f32');
    const phk = tl.load(Freqs + tl.col(offsN) * rot + tl.row(dims), { mask: keyOk && isRot, other: 0 });
    const mk = magnitude(xk, MAGNITUDE);
    const kc = tl.cast(tl.where(isRot, mk * tl.cos(phk), xk), DOT);
    const ks = tl.cast(tl.where(isRot, mk * tl.sin(phk), 0), DOT);
    let s = tl.dot(qs, tl.trans(ks), tl.dot(qc, tl.trans(kc)));
    let visible = tl.row(offsN < kStop);
    if (CAUSAL) visible = visible && tl.row(offsN) <= tl.col(i + diag);
    if (HAS_MASK)
      visible = visible && tl.load(Mask + b * smb + tl.col(i) * smq + tl.row(offsN) * smk, { mask: qOk && tl.row(offsN < kStop), other: 0 }) != 0;
    s = tl.where(visible, s, -Infinity);
    const mNew = tl.maximum(mI, tl.max(s, 1));
    const mSafe = tl.where(mNew == -Infinity, 0, mNew); // a row with nothing visible yet
    const p = tl.exp2(s - tl.col(mSafe));
    const alpha = tl.exp2(mI - mSafe);
    lI = lI * alpha + tl.sum(p, 1);
    const v = tl.cast(tl.load(vBase + tl.col(offsN) * svn + tl.row(dims), { mask: keyOk && tl.row(dims < D), other: 0 }), DOT);
    acc = tl.dot(tl.cast(p, DOT), v, acc * tl.col(alpha));
    mI = mNew;
  }
  const part = tl.cast(((b * H + h) * Nq + i) * S + split, 'i64');
  tl.store(PartO + tl.col(part) * BLOCK_D + tl.row(dims), acc, { mask: qOk });
  tl.store(PartM + part, mI, { mask: rowOk });
  tl.store(PartL + part, lI, { mask: rowOk });
});

/** Merges the S partial triples of each query row (one program per row of [B, H, Nq]) into Out [B, H, Nq, D]. */
export const popeDecodeCombine = jit(function popeDecodeCombine(
  PartO: tl.Ptr, PartM: tl.Ptr, PartL: tl.Ptr, Out: tl.Ptr, H: tl.i32, Nq: tl.i32, D: tl.i32, S: tl.i32,
  sob: tl.i64, soh: tl.i64, son: tl.i32, BLOCK_S: tl.constexpr, BLOCK_D: tl.constexpr,
) {
  const row = tl.programId(0);
  const i = row % Nq;
  const bh = tl.idiv(row, Nq);
  const b = tl.idiv(bh, H);
  const h = bh % H;
  const sp = tl.arange(0, BLOCK_S);
  const dims = tl.arange(0, BLOCK_D);
  const base = tl.cast(row, 'i64') * S;
  const m = tl.load(PartM + base + sp, { mask: sp < S, other: -Infinity });
  const mMax = tl.max(m, 0);
  const w = tl.exp2(m - tl.where(mMax == -Infinity, 0, mMax)); // 0 for chunks with nothing visible
  const l = tl.sum(w * tl.load(PartL + base + sp, { mask: sp < S, other: 0 }), 0);
  const o = tl.load(PartO + (base + tl.col(sp)) * BLOCK_D + tl.row(dims), { mask: tl.col(sp < S), other: 0 });
  const out = tl.sum(o * tl.col(w), 0) / tl.where(l > 0, l, 1);
  tl.store(Out + b * sob + h * soh + i * son + dims, out, { mask: dims < D });
});

/** A tile of K, V or key phases, unmasked when every column is real (FULL). */
function tileLoad(ptr: tl.Tensor, mask: tl.Mask, FULL: tl.constexpr<boolean>): tl.Tensor {
  if (FULL) return tl.load(ptr);
  return tl.load(ptr, { mask, other: 0 });
}

/** [n] → [1, n, 1] */
function mid(x: tl.Tensor): tl.Tensor {
  return tl.expandDims(tl.expandDims(x, 0), 2);
}

/**
 * Split-K decoding of ONE query row per kv head (no grouped heads, q_len = 1) on CUDA cores: no tensor
 * cores, no shared memory and no barrier in the key loop. One program per (HEADS heads of a batch, chunk),
 * one warp per head; each walks the chunk in [BLOCK_N, BLOCK_D] tiles of its K and V and of the key
 * phases, which the warps of a program read from the same addresses (one L2 read for HEADS heads). Each
 * rotated element of a key contributes wq·mk·cos(φq − b − φk) (one cosine of the phase difference; the
 * tail dims wq·xk), wq = |q|·scale·log2 e; the row sum over dims is the score in exp2 units. Every row of
 * a tile is a key SLOT with its own online softmax (max mI, sum lI, output acc = acc·α + p·v), so the
 * loop reduces only over dims; the slots are merged after the loop into the chunk's (max, sum, output)
 * per head, stored as popeDecodeSplit stores them for popeDecodeCombine. The chunk's last tile is shifted
 * back to end at the chunk's end (keys already seen are masked), so loads need no row mask (Nk ≥ BLOCK_N).
 * FULL (rot = D = BLOCK_D): no column masks and no tail. The query is row Nk − 1 of Freqs (bottom-right),
 * so a causal mask hides nothing; the boolean mask is read at query 0 through (smb, smk).
 *   Q: [B, H, 1, D]  K, V: [B, H, Nk, D]  PartO: [B·H, S, BLOCK_D]  PartM, PartL: [B·H, S]  (HEADS divides H)
 */
export const popeDecodeRow = jit(function popeDecodeRow(
  Q: tl.Ptr, K: tl.Ptr, V: tl.Ptr, Freqs: tl.Ptr, Bias: tl.Ptr, Mask: tl.Ptr, PartO: tl.Ptr, PartM: tl.Ptr, PartL: tl.Ptr,
  H: tl.i32, Nk: tl.i32, D: tl.i32, rot: tl.i32, softmaxScale: tl.f32, chunk: tl.i32, S: tl.i32,
  sqb: tl.i64, sqh: tl.i64, skb: tl.i64, skh: tl.i64, skn: tl.i32, svb: tl.i64, svh: tl.i64, svn: tl.i32, smb: tl.i64, smk: tl.i32,
  HAS_BIAS: tl.constexpr<boolean>, HAS_MASK: tl.constexpr<boolean>, MAGNITUDE: tl.constexpr<Magnitude>, FULL: tl.constexpr<boolean>,
  HEADS: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr,
) {
  const bh0 = tl.programId(0) * HEADS; // heads on axis 0: programs launched together share their key phases
  const split = tl.programId(1);
  const b = tl.idiv(bh0, H);
  const hs = bh0 % H + tl.arange(0, HEADS);
  const dims = tl.arange(0, BLOCK_D);
  const isRot = tl.row(dims < rot);

  // The queries once: phases with the key bias moved to them, magnitudes with scale · log2(e) folded in.
  const xq = tl.cast(tl.load(Q + b * sqb + tl.col(hs) * sqh + tl.row(dims), { mask: tl.row(dims < D), other: 0 }), 'f32');
  let phq = tl.load(Freqs + (Nk - 1) * rot + tl.row(dims), { mask: isRot, other: 0 });
  if (HAS_BIAS) phq = phq - clampBias(tl.load(Bias + tl.col(hs) * rot + tl.row(dims), { mask: isRot, other: 0 }));
  const wq = tl.expandDims(tl.where(isRot, magnitude(xq, MAGNITUDE), xq) * (softmaxScale * Math.LOG2E), 1); // [HEADS, 1, BLOCK_D]
  const phq3 = tl.expandDims(phq, 1);

  // Index tensors are made once, before the loop, in the layouts the loop uses (an index broadcast
  // inside the loop would cross shared memory): the key slot of each score as a reduction over dims,
  // and the tile offsets broadcast over heads (every warp reads the same phases). Each tile then adds
  // a uniform row offset.
  const shape = [HEADS, BLOCK_N, BLOCK_D];
  const rows = tl.arange(0, BLOCK_N);
  const slot = tl.max(tl.broadcastTo(mid(rows), shape), 2);
  const d3 = tl.expandDims(tl.row(dims), 0); // [1, 1, BLOCK_D]
  const dimOk = d3 < D;
  const rotOk = d3 < rot;
  const kOff = tl.broadcastTo(tl.expandDims(tl.col(rows) * skn + tl.row(dims), 0), shape);
  const vOff = tl.broadcastTo(tl.expandDims(tl.col(rows) * svn + tl.row(dims), 0), shape);
  const fOff = tl.broadcastTo(tl.expandDims(tl.col(rows) * rot + tl.row(dims), 0), shape);
  const h3 = tl.expandDims(tl.col(hs), 2); // [HEADS, 1, 1]
  const kHead = K + b * skb + h3 * skh;
  const vHead = V + b * svb + h3 * svh;
  const kStart = split * chunk;
  const kStop = tl.minimum(kStart + chunk, Nk);
  const lastTile = kStop - BLOCK_N;
  // A finite floor rather than −inf (below any score but −inf): a slot
  // that saw nothing yet takes its first visible key with p = 1 and α = exp2(−huge) = 0, never
  // −inf − (−inf); masked keys come as −inf and weigh 0.
  let mI = tl.full([HEADS, BLOCK_N], -1e38, 'f32');
  let lI = tl.zeros([HEADS, BLOCK_N], 'f32');
  let acc = tl.zeros([HEADS, BLOCK_N, BLOCK_D], 'f32');
  for (let t = kStart; t < kStop; t += BLOCK_N) {
    const st = tl.minimum(t, lastTile); // keys st .. st + BLOCK_N − 1; those before t were seen
    const xk = tileLoad(kHead + st * skn + kOff, dimOk, FULL);
    const phk = tileLoad(Freqs + st * rot + fOff, rotOk, FULL);
    const vv = tileLoad(vHead + st * svn + vOff, dimOk, FULL);
    const x = tl.cast(xk, 'f32');
    let mk = magnitude(x, MAGNITUDE);
    if (!FULL) mk = tl.where(rotOk, mk, x); // tail dims: phases 0 on both sides, so cos = 1
    let s = tl.sum(wq * mk * tl.cos(phq3 - phk), 2);
    const offsN = st + slot;
    let visible = offsN >= t;
    if (HAS_MASK) visible = visible && tl.load(Mask + b * smb + offsN * smk) != 0;
    s = tl.where(visible, s, -Infinity);
    // One exp2 per slot: either the max grows (α = e, p = 1) or it does not (α = 1, p = e).
    const diff = s - mI;
    const grow = diff > 0;
    const e = tl.exp2(-tl.abs(diff));
    const alpha = tl.where(grow, e, 1);
    const p = tl.where(grow, 1, e);
    lI = lI * alpha + p;
    acc = acc * tl.expandDims(alpha, 2) + tl.expandDims(p, 2) * tl.cast(vv, 'f32');
    mI = tl.maximum(mI, s);
  }
  // Each head's slots merged: the chunk's max, and sum and output relative to it.
  const m = tl.max(mI, 1);
  const w = tl.exp2(mI - tl.col(m));
  const l = tl.sum(lI * w, 1);
  const part = tl.cast(bh0 + tl.arange(0, HEADS), 'i64') * S + split;
  tl.store(PartO + tl.col(part) * BLOCK_D + tl.row(dims), tl.sum(acc * tl.expandDims(w, 2), 1));
  tl.store(PartM + part, tl.where(l > 0, m, -Infinity)); // −inf: nothing visible in this chunk
  tl.store(PartL + part, l);
});
