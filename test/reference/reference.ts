// Independent float64 CPU references for kernel tests. Row-major, explicit shapes, no tilejit imports.

export type Magnitude = 'softplus' | 'relu' | 'exp';

/** Elementwise x + y. */
export function vectorAdd(x: Float64Array, y: Float64Array): Float64Array {
  if (x.length !== y.length) throw new Error('vectorAdd: length mismatch');
  return x.map((v, i) => v + y[i]!);
}

/** Numerically stable softmax over each row of x [rows, cols]. */
export function rowSoftmax(x: Float64Array, rows: number, cols: number): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let m = -Infinity;
    for (let c = 0; c < cols; c++) m = Math.max(m, x[o + c]!);
    let s = 0;
    for (let c = 0; c < cols; c++) s += out[o + c] = Math.exp(x[o + c]! - m);
    for (let c = 0; c < cols; c++) out[o + c]! /= s;
  }
  return out;
}

/** LayerNorm over each row of x [rows, cols] with biased variance (torch semantics): (x-μ)/sqrt(σ²+eps)*w+b. */
export function layerNorm(
  x: Float64Array, rows: number, cols: number,
  weight: Float64Array | null, bias: Float64Array | null, eps = 1e-5,
): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let mean = 0;
    for (let c = 0; c < cols; c++) mean += x[o + c]!;
    mean /= cols;
    let v = 0;
    for (let c = 0; c < cols; c++) v += (x[o + c]! - mean) ** 2;
    const rstd = 1 / Math.sqrt(v / cols + eps);
    for (let c = 0; c < cols; c++)
      out[o + c] = (x[o + c]! - mean) * rstd * (weight ? weight[c]! : 1) + (bias ? bias[c]! : 0);
  }
  return out;
}

/** C[M,N] = A[M,K] @ B[K,N]. */
export function matmul(a: Float64Array, b: Float64Array, M: number, K: number, N: number): Float64Array {
  const out = new Float64Array(M * N);
  for (let i = 0; i < M; i++)
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += a[i * K + k]! * b[k * N + j]!;
      out[i * N + j] = s;
    }
  return out;
}

export interface PopeFreqsOptions {
  dim: number;
  theta?: number;
  positions?: ArrayLike<number>;
  seqLen?: number;
  offset?: number;
  /** Round inv_freq to float32 (PoPE-pytorch stores it as a float32 buffer; the golden cases do this). */
  invFreqF32?: boolean;
}

/** freqs[n, c] = (pos[n] + offset) * theta^(-c/dim), c = 0..dim-1; returns [N, dim]. */
export function popeFreqs(o: PopeFreqsOptions): Float64Array {
  const { dim, theta = 10000, offset = 0, invFreqF32 = false } = o;
  const pos = o.positions ?? Array.from({ length: o.seqLen ?? 0 }, (_, i) => i);
  const inv = Array.from({ length: dim }, (_, c) => {
    if (!invFreqF32) return Math.pow(theta, -c / dim);
    return Math.fround(Math.pow(theta, -Math.fround(c / dim)));
  });
  const out = new Float64Array(pos.length * dim);
  for (let n = 0; n < pos.length; n++)
    for (let c = 0; c < dim; c++) out[n * dim + c] = (pos[n]! + offset) * inv[c]!;
  return out;
}

/** Key phase bias clamped to [-2π, 0]. */
export function clampBias(rawBias: Float64Array): Float64Array {
  return rawBias.map((v) => Math.min(0, Math.max(-2 * Math.PI, v)));
}

/** Magnitude activation (a kind, or any function); softplus = max(x,0) + log1p(exp(-|x|)) (no overflow). */
export function magnitude(x: number, kind: Magnitude | ((x: number) => number)): number {
  if (typeof kind === 'function') return kind(x);
  if (kind === 'relu') return Math.max(x, 0);
  if (kind === 'exp') return Math.exp(x);
  return Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));
}

export interface PopeApplyOptions {
  rotateDim: number;
  toMagnitude?: Magnitude | ((x: number) => number);
  isKey: boolean;
  returnComplex?: boolean;
}

/**
 * PoPE-rotate x [B,H,N,D] with freqs [Nf, rot] (queries: last N rows; keys: all, Nf === N) and
 * bias [H, rot] (keys only). Output [B,H,N,2*rot+(D-rot)] interleaved [m·cos, m·sin, …, tail];
 * with returnComplex, [B,H,N,D,2] (re, im) where the tail is (x, 0).
 */
export function popeApply(
  x: Float64Array, shape: readonly [number, number, number, number],
  freqs: Float64Array, bias: Float64Array | null, o: PopeApplyOptions,
): Float64Array {
  const [B, H, N, D] = shape;
  const rot = o.rotateDim, mag = o.toMagnitude ?? 'softplus', Nf = freqs.length / rot;
  if (rot > D || !Number.isInteger(Nf) || N > Nf || (o.isKey && N !== Nf)) throw new Error('popeApply: bad shapes');
  const W = o.returnComplex ? 2 * D : 2 * rot + (D - rot);
  const out = new Float64Array(B * H * N * W);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++)
      for (let n = 0; n < N; n++) {
        const xi = ((b * H + h) * N + n) * D, oi = ((b * H + h) * N + n) * W, fi = (Nf - N + n) * rot;
        for (let c = 0; c < rot; c++) {
          const m = magnitude(x[xi + c]!, mag);
          const phi = freqs[fi + c]! + (o.isKey && bias ? bias[h * rot + c]! : 0);
          out[oi + 2 * c] = m * Math.cos(phi);
          out[oi + 2 * c + 1] = m * Math.sin(phi);
        }
        for (let c = rot; c < D; c++) {
          if (o.returnComplex) { out[oi + 2 * c] = x[xi + c]!; out[oi + 2 * c + 1] = 0; }
          else out[oi + rot + c] = x[xi + c]!;
        }
      }
  return out;
}

export interface PopeSimOptions { rotateDim: number; toMagnitude?: Magnitude | ((x: number) => number) }

/** sim[b,h,i,j] = <popeQ(q[b,h,i]), popeK(k[b,h/(H/Hkv),j])> (unscaled; softplus magnitudes; bias per query head). */
export function popeSimilarity(
  q: Float64Array, qShape: readonly [number, number, number, number],
  k: Float64Array, kShape: readonly [number, number, number, number],
  freqs: Float64Array, bias: Float64Array | null, o: PopeSimOptions,
): Float64Array {
  const [B, H, Nq, D] = qShape, [Bk, Hkv, Nk, Dk] = kShape, rot = o.rotateDim;
  if (B !== Bk || D !== Dk || H % Hkv !== 0) throw new Error('popeSimilarity: bad shapes');
  const g = H / Hkv, W = 2 * rot + (D - rot);
  const qp = popeApply(q, qShape, freqs, bias, { rotateDim: rot, isKey: false, toMagnitude: o.toMagnitude });
  const sim = new Float64Array(B * H * Nq * Nk);
  for (let h = 0; h < H; h++) {
    const hk = Math.floor(h / g);
    const kh = new Float64Array(B * Nk * D); // kv head hk, rotated with query head h's bias
    for (let b = 0; b < B; b++) kh.set(k.subarray(((b * Hkv + hk) * Nk) * D, ((b * Hkv + hk) * Nk + Nk) * D), b * Nk * D);
    const hb = bias ? bias.subarray(h * rot, (h + 1) * rot) : null;
    const kp = popeApply(kh, [B, 1, Nk, D], freqs, hb, { rotateDim: rot, isKey: true, toMagnitude: o.toMagnitude });
    for (let b = 0; b < B; b++)
      for (let i = 0; i < Nq; i++)
        for (let j = 0; j < Nk; j++) {
          const qi = ((b * H + h) * Nq + i) * W, kj = (b * Nk + j) * W;
          let s = 0;
          for (let d = 0; d < W; d++) s += qp[qi + d]! * kp[kj + d]!;
          sim[((b * H + h) * Nq + i) * Nk + j] = s;
        }
  }
  return sim;
}

export interface PopeFlashOptions {
  rotateDim: number;
  toMagnitude?: Magnitude | ((x: number) => number);
  causal?: boolean;
  softmaxScale?: number | null;
  /** (B, Nk) booleans, true = attend. */
  keyPaddingMask?: ArrayLike<boolean> | null;
  /** General mask: may query i of batch b attend to key j? */
  mask?: (b: number, i: number, j: number) => boolean;
}

/**
 * out[B,H,Nq,Dv] = softmax(sim·scale, masked) @ v with v [B,Hkv,Nk,Dv]; bottom-right causal
 * (key j visible to query i iff j <= i + Nk - Nq); fully masked rows give zeros; scale defaults to D^-0.5.
 */
export function popeFlashAttention(
  q: Float64Array, qShape: readonly [number, number, number, number],
  k: Float64Array, kShape: readonly [number, number, number, number],
  v: Float64Array, vShape: readonly [number, number, number, number],
  freqs: Float64Array, bias: Float64Array | null, o: PopeFlashOptions,
): Float64Array {
  const [B, H, Nq, D] = qShape, [, Hkv, Nk] = kShape, Dv = vShape[3], g = H / Hkv;
  if (vShape[0] !== B || vShape[1] !== Hkv || vShape[2] !== Nk || v.length !== B * Hkv * Nk * Dv) throw new Error('popeFlashAttention: bad v shape');
  const scale = o.softmaxScale ?? D ** -0.5;
  const sim = popeSimilarity(q, qShape, k, kShape, freqs, bias, { rotateDim: o.rotateDim, toMagnitude: o.toMagnitude });
  const out = new Float64Array(B * H * Nq * Dv);
  const p = new Float64Array(Nk);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++)
      for (let i = 0; i < Nq; i++) {
        const row = ((b * H + h) * Nq + i) * Nk;
        let m = -Infinity;
        for (let j = 0; j < Nk; j++) {
          const ok = (!o.causal || j <= i + Nk - Nq) && (!o.keyPaddingMask || o.keyPaddingMask[b * Nk + j]) && (!o.mask || o.mask(b, i, j));
          p[j] = ok ? sim[row + j]! * scale : -Infinity;
          m = Math.max(m, p[j]!);
        }
        if (m === -Infinity) continue; // fully masked row -> zeros
        let s = 0;
        for (let j = 0; j < Nk; j++) s += p[j] = Math.exp(p[j]! - m);
        const vb = (b * Hkv + Math.floor(h / g)) * Nk * Dv, oi = ((b * H + h) * Nq + i) * Dv;
        for (let j = 0; j < Nk; j++)
          for (let d = 0; d < Dv; d++) out[oi + d]! += (p[j]! / s) * v[vb + j * Dv + d]!;
      }
  return out;
}
