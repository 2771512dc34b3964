// The PoPE op layer (Tensor, PoPE, applyPopeToQk, computeAttnSimilarity, flashAttnWithPope) on every
// test device: golden parity with PoPE-pytorch, float64 references, and the reference library's bugs
// shown absent.
import { describe, it, expect } from 'vitest';
import { Tensor } from '../ops/tensor.js';
import { PoPE, AxialPoPE, applyPopeToQk, computeAttnSimilarity, flashAttnWithPope, type PosEmb } from '../ops/pope.js';
import { tl, toHost, fromHost } from '../index.js';
import { loadGolden, tensor, type GoldenCase } from './reference/golden.js';
import * as ref from './reference/reference.js';
import { rng } from './reference/random.js';
import { expectClose, F32, halfProductTolerance } from './reference/compare.js';
import { decodeApplies, decodePlan } from '../ops/pope-decode.js';
import { opTestDevices } from './reference/devices.js';

const golden = loadGolden();

const { devices, webgpuSkipReason } = await opTestDevices();
if (webgpuSkipReason) describe('PoPE ops on webgpu', () => it.skip(webgpuSkipReason, () => undefined));

// On WebGPU (llvmpipe on CI: seconds to compile each kernel variant; the whole file there took 70 s alone
// and over 4 minutes beside the other WebGPU tests) a representative subset runs: every test but those
// taken by `exceptWebGpu` and four golden flash cases, whose paths others take there. Kept: every
// golden PoPE/apply/similarity case, flash_causal_mask_scale (mask, causal and scale at once, through
// split-K decoding), flash_gqa_kvcache_causal_partial, flash_bnhd_partial_causal, flash_decode_q1, the
// fused kernel-language magnitude, the bf16 pre-pass, decoding and the head-dim-64 test (GQA, causal,
// ragged; the tilings fitted to workgroup memory). Skipped there: flash_plain, flash_causal, flash_mask,
// padded keys, GQA in the fused path and the f16 split-K test (f16 decoding and bf16 similarity run in
// the head-dim-64 test).
const WEBGPU_GOLDEN_FLASH = new Set(['flash_causal_mask_scale', 'flash_gqa_kvcache_causal_partial', 'flash_bnhd_partial_causal', 'flash_decode_q1']);

describe.each(devices)('PoPE ops on %s', (device) => {
  const exceptWebGpu = device === 'webgpu' ? it.skip : it;
  const t = (c: GoldenCase, name: string, dtype: 'f32' | 'u8' = 'f32'): Tensor => {
    const g = tensor(c, 'inputs', name);
    return Tensor.from(g.data, { shape: g.shape, dtype, device });
  };
  const posEmbOf = (c: GoldenCase): PosEmb => {
    const bias = t(c, 'bias');
    const clamped = Tensor.from(ref.clampBias(tensor(c, 'inputs', 'bias').data), { shape: bias.shape, dtype: 'f32', device });
    return { freqs: t(c, 'freqs'), bias: clamped };
  };

  for (const c of golden.filter((g) => g.op === 'PoPE.forward')) {
    it(`PoPE.forward: ${c.name}`, async () => {
      const p = c.params as { dim: number; heads: number; theta: number; seq_len?: number; offset?: number };
      const pope = new PoPE(p.dim, { heads: p.heads, theta: p.theta, device });
      const positions = c.inputs['positions'] ? tensor(c, 'inputs', 'positions').data : p.seq_len!;
      const { freqs, bias } = pope.forward(positions, { offset: p.offset });
      expectClose(await freqs.toArray(), tensor(c, 'outputs', 'freqs').data, { rtol: 1e-7, atol: 1e-7 }, 'freqs');
      expect(await bias.toArray()).toEqual(new Float64Array(p.heads * p.dim)); // zero-initialized parameter
    });
  }

  for (const c of golden.filter((g) => g.op === 'AxialPoPE.forward')) {
    it(`AxialPoPE.forward: ${c.name}`, async () => {
      const p = c.params as { dim: number; heads: number; axial_dims: number[]; grid: number[] };
      const { freqs } = new AxialPoPE(p.dim, { heads: p.heads, axialDims: p.axial_dims, device }).forward(p.grid);
      expectClose(await freqs.toArray(), tensor(c, 'outputs', 'freqs').data, { rtol: 1e-7, atol: 1e-7 }, 'freqs');
    });
  }

  for (const c of golden.filter((g) => g.op === 'apply_pope_to_qk' && !g.params['return_complex'])) {
    it(`applyPopeToQk: ${c.name}`, async () => {
      const [qo, ko] = applyPopeToQk(posEmbOf(c), t(c, 'q'), t(c, 'k'), { toMagnitude: (c.params['to_magnitude'] ?? 'softplus') as 'softplus' });
      expectClose(await qo.toArray(), tensor(c, 'outputs', 'q').data, F32, 'q');
      expectClose(await ko.toArray(), tensor(c, 'outputs', 'k').data, F32, 'k');
    });
  }

  it('applyPopeToQk returnComplex: apply_pope_partial_complex ([b, h, n, d, 2] (real, imag), the tail as (x, 0))', async () => {
    const c = golden.find((g) => g.name === 'apply_pope_partial_complex')!;
    const [qo, ko] = applyPopeToQk(posEmbOf(c), t(c, 'q'), t(c, 'k'), { returnComplex: true });
    expect(qo.shape).toEqual(tensor(c, 'outputs', 'q').shape);
    expect(ko.shape).toEqual(tensor(c, 'outputs', 'k').shape);
    expectClose(await qo.toArray(), tensor(c, 'outputs', 'q').data, F32, 'q');
    expectClose(await ko.toArray(), tensor(c, 'outputs', 'k').data, F32, 'k');
  });

  it.each(['f32', 'bf16'] as const)('applyPopeToQk with a kernel-language toMagnitude, fused, on ragged %s inputs (also complex)', async (dtype) => {
    const r = rng(dtype === 'f32' ? 21 : 22);
    const B = 2, H = 3, Nq = 5, Nk = 9, D = 11, rot = 7;
    const toMagnitude = (x: tl.Tensor): tl.Tensor => tl.exp(x) * 0.5 + tl.maximum(x, 0);
    const refMagnitude = (x: number): number => Math.exp(x) * 0.5 + Math.max(x, 0);
    const qx = Tensor.from(r.array(B * H * Nq * D, -2, 2), { shape: [B, H, Nq, D], dtype, device });
    const kx = Tensor.from(r.array(B * H * Nk * D, -2, 2), { shape: [B, H, Nk, D], dtype, device });
    const pope = new PoPE(rot, { heads: H, biasUniformInit: true, seed: 5, device });
    const pe = pope.forward(Nk, { offset: 3 });
    const [freqs, bias, q, k] = await Promise.all([pe.freqs.toArray(), pe.bias.toArray(), qx.toArray(), kx.toArray()]);
    // the kernel computes in f32 from the stored (rounded) inputs, so the reference reads those
    const tol = { rtol: 1e-5, atol: 1e-5 };
    for (const returnComplex of [false, true]) {
      const [qo, ko] = applyPopeToQk(pe, qx, kx, { toMagnitude, returnComplex });
      const wantQ = ref.popeApply(q, [B, H, Nq, D], freqs, bias, { rotateDim: rot, isKey: false, toMagnitude: refMagnitude, returnComplex });
      const wantK = ref.popeApply(k, [B, H, Nk, D], freqs, bias, { rotateDim: rot, isKey: true, toMagnitude: refMagnitude, returnComplex });
      expectClose(await qo.toArray(), wantQ, tol, `q complex=${returnComplex}`);
      expectClose(await ko.toArray(), wantK, tol, `k complex=${returnComplex}`);
    }
    expect(() => applyPopeToQk(pe, qx, kx, { toMagnitude: 'gelu' as 'relu' })).toThrow(/toMagnitude: expected 'softplus', 'relu', 'exp' or a kernel-language function, received "gelu"/);
  });

  it('computeAttnSimilarity: similarity_gqa_kvcache_partial', async () => {
    const c = golden.find((g) => g.name === 'similarity_gqa_kvcache_partial')!;
    const sim = computeAttnSimilarity(t(c, 'q'), t(c, 'k'), posEmbOf(c));
    expectClose(await sim.toArray(), tensor(c, 'outputs', 'sim').data, F32, 'sim');
  });

  for (const c of golden.filter((g) => g.op === 'flash_attn_with_pope')) {
    (WEBGPU_GOLDEN_FLASH.has(c.name) ? it : exceptWebGpu)(`flashAttnWithPope: ${c.name}`, async () => {
      const headFirst = c.params['layout'] !== 'bnhd';
      const out = flashAttnWithPope(t(c, 'q'), t(c, 'k'), t(c, 'v'), {
        posEmb: posEmbOf(c), causal: c.params['causal'] as boolean, softmaxScale: (c.params['softmax_scale'] as number | null) ?? undefined,
        mask: c.inputs['mask'] ? t(c, 'mask', 'u8') : undefined, headDimensionAtFirst: headFirst,
      });
      expect(out.shape).toEqual(tensor(c, 'inputs', 'q').shape);
      expectClose(await out.toArray(), tensor(c, 'outputs', 'out').data, F32, 'out');
    });
  }

  it('positions are computed in float64, not in the inputs\' bf16 (bf16 would turn 257 into 256)', async () => {
    const pope = new PoPE(4, { heads: 1, device });
    const { freqs } = pope.forward([257, 256]);
    const f = await freqs.toArray();
    expect(f[0]).toBe(257); // inv_freq[0] = 1
    expect(f[4]).toBe(256);
    const q = Tensor.from(new Float64Array(8).fill(1), { shape: [1, 1, 2, 4], dtype: 'bf16', device });
    const [qo] = applyPopeToQk(pope.forward([257, 256]), q, q);
    const out = await qo.toArray();
    const m = Math.log1p(Math.E); // softplus(1)
    expect(Math.abs(out[0]! - m * Math.cos(257))).toBeLessThan(1e-5); // 257, not 256
    expect(Math.abs(out[8]! - m * Math.cos(256))).toBeLessThan(1e-5);
  });

  it('softplus does not overflow in f16: large inputs give finite, correct magnitudes', async () => {
    const pope = new PoPE(8, { heads: 1, device });
    const big = Tensor.from(new Float64Array(8).fill(60000), { shape: [1, 1, 1, 8], dtype: 'f16', device });
    const [qo] = applyPopeToQk(pope.forward(1), big, big);
    const out = await qo.toArray();
    expect(out.every(Number.isFinite)).toBe(true);
    expect(Math.abs(out[0]! - 60000)).toBeLessThan(1); // softplus(60000)·cos(0)
  });

  exceptWebGpu('padded keys do not leak: masked keys change nothing, however large their values', async () => {
    const r = rng(3);
    const B = 1, H = 2, N = 9, D = 16;
    const q = Tensor.from(r.array(B * H * N * D, -1, 1), { shape: [B, H, N, D], dtype: 'f32', device });
    const kv = r.array(B * H * N * D, -1, 1);
    const kv2 = kv.slice();
    for (let h = 0; h < H; h++) for (let d = 0; d < D; d++) kv2[(h * N + N - 1) * D + d] = 1000; // the padded key
    const pe = new PoPE(D, { heads: H, device }).forward(N);
    const mask = Tensor.from(Array.from({ length: N }, (_, j) => (j < N - 1 ? 1 : 0)), { shape: [B, N], dtype: 'u8', device });
    const run = (x: Float64Array) => flashAttnWithPope(q, Tensor.from(x, { shape: [B, H, N, D], dtype: 'f32', device }), Tensor.from(x, { shape: [B, H, N, D], dtype: 'f32', device }), { posEmb: pe, mask });
    expect(await run(kv).toArray()).toEqual(await run(kv2).toArray());
  });

  exceptWebGpu('grouped-query heads in the fused path match the float64 reference (query head h uses kv head h / group)', async () => {
    const r = rng(4);
    const B = 1, H = 4, Hkv = 2, N = 11, D = 16;
    const q = r.array(B * H * N * D, -1, 1), k = r.array(B * Hkv * N * D, -1, 1), v = r.array(B * Hkv * N * D, -1, 1);
    const pope = new PoPE(D, { heads: H, biasUniformInit: true, seed: 9, device });
    const pe = pope.forward(N);
    const f32 = (x: Float64Array, shape: number[]) => Tensor.from(x, { shape, dtype: 'f32', device });
    const out = flashAttnWithPope(f32(q, [B, H, N, D]), f32(k, [B, Hkv, N, D]), f32(v, [B, Hkv, N, D]), { posEmb: pe, causal: true });
    const want = ref.popeFlashAttention(q, [B, H, N, D], k, [B, Hkv, N, D], v, [B, Hkv, N, D], await pe.freqs.toArray(), await pe.bias.toArray(), { rotateDim: D, causal: true });
    expectClose(await out.toArray(), want, { rtol: 1e-4, atol: 1e-5 }, 'gqa');
  });

  it('a kernel-language toMagnitude is fused into similarity, attention (keys rotated once) and decoding, on ragged f32 inputs', async () => {
    const r = rng(31);
    const B = 2, H = 4, Hkv = 2, Nq = 37, Nk = 53, D = 12, rot = 8;
    const toMagnitude = (x: tl.Tensor): tl.Tensor => tl.sigmoid(x) * 2 + 0.25;
    const refMagnitude = (x: number): number => 2 / (1 + Math.exp(-x)) + 0.25;
    const q = r.array(B * H * Nq * D, -2, 2), k = r.array(B * Hkv * Nk * D, -2, 2), v = r.array(B * Hkv * Nk * D, -1, 1);
    const pe = new PoPE(rot, { heads: H, biasUniformInit: true, seed: 8, device }).forward(Nk);
    const [freqs, bias] = [await pe.freqs.toArray(), await pe.bias.toArray()];
    const f32 = (x: Float64Array, shape: number[]) => Tensor.from(x, { shape, dtype: 'f32', device });
    const [qt, kt, vt] = [f32(q, [B, H, Nq, D]), f32(k, [B, Hkv, Nk, D]), f32(v, [B, Hkv, Nk, D])];
    const tol = { rtol: 1e-4, atol: 1e-5 };
    const wantSim = ref.popeSimilarity(q, [B, H, Nq, D], k, [B, Hkv, Nk, D], freqs, bias, { rotateDim: rot, toMagnitude: refMagnitude });
    expectClose(await computeAttnSimilarity(qt, kt, pe, { toMagnitude }).toArray(), wantSim, tol, 'similarity');
    const want = ref.popeFlashAttention(q, [B, H, Nq, D], k, [B, Hkv, Nk, D], v, [B, Hkv, Nk, D], freqs, bias, { rotateDim: rot, causal: true, toMagnitude: refMagnitude });
    expectClose(await flashAttnWithPope(qt, kt, vt, { posEmb: pe, causal: true, toMagnitude }).toArray(), want, tol, 'flash attention');
    // The last query alone: the split-K decoding path.
    const last = new Float64Array(B * H * D);
    for (let bh = 0; bh < B * H; bh++) last.set(q.subarray((bh * Nq + Nq - 1) * D, (bh * Nq + Nq) * D), bh * D);
    expect(decodeApplies([B, H, 1, D], [B, Hkv, Nk, D])).toBe(true);
    const wantDecode = ref.popeFlashAttention(last, [B, H, 1, D], k, [B, Hkv, Nk, D], v, [B, Hkv, Nk, D], freqs, bias, { rotateDim: rot, toMagnitude: refMagnitude });
    expectClose(await flashAttnWithPope(f32(last, [B, H, 1, D]), kt, vt, { posEmb: pe, toMagnitude }).toArray(), wantDecode, tol, 'decoding');
    // One query row per kv head (H = Hkv, q_len 1): the CUDA-core decoding path.
    const kFull = Float64Array.from({ length: B * H * Nk * D }, (_, i) => k[(Math.floor(i / (Nk * D)) >> 1) * Nk * D + (i % (Nk * D))]!);
    const vFull = Float64Array.from({ length: B * H * Nk * D }, (_, i) => v[(Math.floor(i / (Nk * D)) >> 1) * Nk * D + (i % (Nk * D))]!);
    expect(decodePlan([B, H, 1, D], [B, H, Nk, D]).row).toBe(true);
    const wantRow = ref.popeFlashAttention(last, [B, H, 1, D], kFull, [B, H, Nk, D], vFull, [B, H, Nk, D], freqs, bias, { rotateDim: rot, toMagnitude: refMagnitude });
    expectClose(await flashAttnWithPope(f32(last, [B, H, 1, D]), f32(kFull, [B, H, Nk, D]), f32(vFull, [B, H, Nk, D]), { posEmb: pe, toMagnitude }).toArray(), wantRow, tol, 'decoding, one row per kv head');
    expect(() => flashAttnWithPope(qt, kt, vt, { posEmb: pe, toMagnitude: 'gelu' as 'relu' })).toThrow(/toMagnitude: expected 'softplus', 'relu', 'exp' or a kernel-language function, received "gelu"/);
  });

  it('bf16 attention through the feature pre-pass, with the measured and the autotuned tiling (causal, q_len < k_len)', async () => {
    const r = rng(12);
    const B = 1, H = 2, Nq = 70, Nk = 83, D = 16;
    const q = r.array(B * H * Nq * D, -1, 1), k = r.array(B * H * Nk * D, -1, 1), v = r.array(B * H * Nk * D, -1, 1);
    const pe = new PoPE(D, { heads: H, biasUniformInit: true, seed: 3, device }).forward(Nk);
    const bf16 = (x: Float64Array, n: number) => Tensor.from(x, { shape: [B, H, n, D], dtype: 'f32', device }).to('bf16');
    const [qt, kt, vt] = [bf16(q, Nq), bf16(k, Nk), bf16(v, Nk)];
    // The reference sees the inputs as rounded to bf16.
    const exact = async (t: Tensor) => Float64Array.from(await t.to('f32').toArray());
    const want = ref.popeFlashAttention(await exact(qt), [B, H, Nq, D], await exact(kt), [B, H, Nk, D], await exact(vt), [B, H, Nk, D],
      await pe.freqs.toArray(), await pe.bias.toArray(), { rotateDim: D, causal: true });
    for (const autotune of [false, true]) {
      const out = flashAttnWithPope(qt, kt, vt, { posEmb: pe, causal: true, autotune });
      expectClose(Float64Array.from(await out.to('f32').toArray()), want, halfProductTolerance('bf16', want, F32), `bf16 flash, autotune ${autotune}`);
    }
  });

  it('decoding one query row per kv head (q_len 1, H = Hkv) takes popeDecodeRow: fp16 and f32, (b, h, n, d) and (b, n, h, d) layouts, key padding, causal, chunks with a remainder', async () => {
    const r = rng(15);
    const B = 2, H = 3, Nk = 300, D = 32;
    const q = r.array(B * H * D, -1, 1), k = r.array(B * H * Nk * D, -1, 1), v = r.array(B * H * Nk * D, -1, 1);
    const pe = new PoPE(D, { heads: H, biasUniformInit: true, seed: 7, device }).forward(Nk);
    const [freqs, bias] = [await pe.freqs.toArray(), await pe.bias.toArray()];
    const pad = Array.from({ length: B * Nk }, (_, i) => i % Nk < Nk - 17 * (Math.floor(i / Nk) + 1) && i % 11 !== 3);
    const mask = Tensor.from(pad.map(Number), { shape: [B, Nk], dtype: 'u8', device });
    // (b, h, n, d) → (b, n, h, d)
    const bnhd = (x: Float64Array, n: number): Float64Array => {
      const y = new Float64Array(x.length);
      for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) for (let i = 0; i < n; i++)
        y.set(x.subarray(((b * H + h) * n + i) * D, ((b * H + h) * n + i + 1) * D), ((b * n + i) * H + h) * D);
      return y;
    };
    expect(decodePlan([B, H, 1, D], [B, H, Nk, D])).toMatchObject({ row: true, BN: 8, chunk: 8, splits: 38, numWarps: 1 }); // 37 × 8 + 4
    for (const dtype of ['f16', 'f32'] as const)
      for (const headFirst of [true, false]) {
        const make = (x: Float64Array, n: number) => {
          const shape = headFirst ? [B, H, n, D] : [B, n, H, D];
          return Tensor.from(headFirst ? x : bnhd(x, n), { shape, dtype: 'f32', device }).to(dtype);
        };
        const [qt, kt, vt] = [make(q, 1), make(k, Nk), make(v, Nk)];
        const exact = (x: Float64Array) => Float64Array.from(x, (e) => (dtype === 'f16' ? fromHost('f16', toHost('f16', Float64Array.of(e)))[0]! : Math.fround(e)));
        const want = ref.popeFlashAttention(exact(q), [B, H, 1, D], exact(k), [B, H, Nk, D], exact(v), [B, H, Nk, D], freqs, bias, { rotateDim: D, causal: true, keyPaddingMask: pad });
        const out = flashAttnWithPope(qt, kt, vt, { posEmb: pe, causal: true, mask, headDimensionAtFirst: headFirst });
        const got = Float64Array.from(await out.to('f32').toArray());
        expectClose(headFirst ? got : bnhd(got, 1), want, dtype === 'f16' ? { rtol: 1e-3, atol: 1e-3 } : F32, `row decode ${dtype} ${headFirst ? 'bhnd' : 'bnhd'}`);
      }
  });

  exceptWebGpu('decoding (q_len <= 16) takes the split-K path: fp16, GQA, causal, k_len over several chunks; and bf16 similarity from features', async () => {
    const r = rng(13);
    const B = 2, H = 4, Hkv = 2, Nq = 2, Nk = 300, D = 16; // 128-key chunks: 128 + 128 + 44
    const q = r.array(B * H * Nq * D, -1, 1), k = r.array(B * Hkv * Nk * D, -1, 1), v = r.array(B * Hkv * Nk * D, -1, 1);
    const pe = new PoPE(D, { heads: H, biasUniformInit: true, seed: 6, device }).forward(Nk);
    const half = (x: Float64Array, shape: number[], dtype: 'f16' | 'bf16') => Tensor.from(x, { shape, dtype: 'f32', device }).to(dtype);
    const exact = async (t: Tensor) => Float64Array.from(await t.to('f32').toArray());
    const [qt, kt, vt] = [half(q, [B, H, Nq, D], 'f16'), half(k, [B, Hkv, Nk, D], 'f16'), half(v, [B, Hkv, Nk, D], 'f16')];
    const [freqs, bias] = [await pe.freqs.toArray(), await pe.bias.toArray()];
    const want = ref.popeFlashAttention(await exact(qt), [B, H, Nq, D], await exact(kt), [B, Hkv, Nk, D], await exact(vt), [B, Hkv, Nk, D], freqs, bias, { rotateDim: D, causal: true });
    expect(decodeApplies([B, H, Nq, D], [B, Hkv, Nk, D])).toBe(true);
    expect(decodePlan([B, H, Nq, D], [B, Hkv, Nk, D]).splits).toBe(3);
    const out = flashAttnWithPope(qt, kt, vt, { posEmb: pe, causal: true });
    expectClose(Float64Array.from(await out.to('f32').toArray()), want, halfProductTolerance('f16', want, F32), 'fp16 decode');

    const [qb, kb] = [half(q, [B, H, Nq, D], 'bf16'), half(k, [B, Hkv, Nk, D], 'bf16')];
    const wantSim = ref.popeSimilarity(await exact(qb), [B, H, Nq, D], await exact(kb), [B, Hkv, Nk, D], freqs, bias, { rotateDim: D });
    expectClose(await computeAttnSimilarity(qb, kb, pe).toArray(), wantSim, halfProductTolerance('bf16', wantSim, F32), 'bf16 similarity');
  });

  it('head dim 64 with 130 queries: bf16 attention (tensor-core tiles elsewhere; on WebGPU blocks that fit its workgroup memory), GQA, causal, ragged; bf16 similarity; f16 decoding', async () => {
    const r = rng(14);
    const B = 1, H = 4, Hkv = 1, Nq = 130, Nk = 150, D = 64;
    const q = r.array(B * H * Nq * D, -1, 1), k = r.array(B * Hkv * Nk * D, -1, 1), v = r.array(B * Hkv * Nk * D, -1, 1);
    const pe = new PoPE(D, { heads: H, biasUniformInit: true, seed: 8, device }).forward(Nk);
    const [freqs, bias] = [await pe.freqs.toArray(), await pe.bias.toArray()];
    const half = (x: Float64Array, shape: number[], dtype: 'f16' | 'bf16') => Tensor.from(x, { shape, dtype: 'f32', device }).to(dtype);
    const exact = async (t: Tensor) => Float64Array.from(await t.to('f32').toArray());
    const [qt, kt, vt] = [half(q, [B, H, Nq, D], 'bf16'), half(k, [B, Hkv, Nk, D], 'bf16'), half(v, [B, Hkv, Nk, D], 'bf16')];
    const [qe, ke, ve] = [await exact(qt), await exact(kt), await exact(vt)];
    const want = ref.popeFlashAttention(qe, [B, H, Nq, D], ke, [B, Hkv, Nk, D], ve, [B, Hkv, Nk, D], freqs, bias, { rotateDim: D, causal: true });
    const out = flashAttnWithPope(qt, kt, vt, { posEmb: pe, causal: true });
    expectClose(Float64Array.from(await out.to('f32').toArray()), want, halfProductTolerance('bf16', want, F32), 'bf16 flash');
    const wantSim = ref.popeSimilarity(qe, [B, H, Nq, D], ke, [B, Hkv, Nk, D], freqs, bias, { rotateDim: D });
    expectClose(await computeAttnSimilarity(qt, kt, pe).toArray(), wantSim, halfProductTolerance('bf16', wantSim, F32), 'bf16 similarity');
    // Decoding 16 queries: 64 rows stacked per kv head, 64-key tiles (32 on WebGPU).
    const Nd = 16, qd = q.subarray(0, B * H * Nd * D).slice();
    const [qh, kh, vh] = [half(qd, [B, H, Nd, D], 'f16'), half(k, [B, Hkv, Nk, D], 'f16'), half(v, [B, Hkv, Nk, D], 'f16')];
    expect(decodeApplies([B, H, Nd, D], [B, Hkv, Nk, D], device)).toBe(true);
    expect(decodePlan([B, H, Nd, D], [B, Hkv, Nk, D], undefined, device).BN).toBe(device === 'webgpu' ? 32 : 64);
    const wantDec = ref.popeFlashAttention(await exact(qh), [B, H, Nd, D], await exact(kh), [B, Hkv, Nk, D], await exact(vh), [B, Hkv, Nk, D], freqs, bias, { rotateDim: D, causal: true });
    const dec = flashAttnWithPope(qh, kh, vh, { posEmb: pe, causal: true });
    expectClose(Float64Array.from(await dec.to('f32').toArray()), wantDec, halfProductTolerance('f16', wantDec, F32), 'f16 decode');
  });

  it('errors name the argument, the expected and the received', () => {
    const pe = new PoPE(8, { heads: 2, device }).forward(5);
    const q = Tensor.zeros([1, 2, 5, 8], { device });
    expect(() => flashAttnWithPope(q, Tensor.zeros([1, 2, 5], { device }), q, { posEmb: pe })).toThrow(/k must be 4-D \(batch, heads, seq, dim\), got shape \[1,2,5\]/);
    expect(() => flashAttnWithPope(q, q, Tensor.zeros([1, 2, 4, 8], { device }), { posEmb: pe })).toThrow(/v must have the shape of k \[1,2,5,8\], got \[1,2,4,8\]/);
    const short = new PoPE(8, { heads: 2, device }).forward(3); // 3 positions for 5 keys
    expect(() => flashAttnWithPope(q, q, q, { posEmb: short })).toThrow(/posEmb.freqs: expected at least 5 rows \(one per key position\), received 3/);
    expect(() => computeAttnSimilarity(q, q, short)).toThrow(/posEmb.freqs: expected at least 5 rows \(one per key position\), received 3/);
    expect(() => flashAttnWithPope(q, q, q, { posEmb: pe, mask: Tensor.zeros([1, 5], { dtype: 'f32', device }) })).toThrow(/mask must be boolean \(i1 or u8\), got f32/);
    expect(() => flashAttnWithPope(q, q, q, { posEmb: pe, mask: Tensor.zeros([2, 5], { dtype: 'u8', device }) })).toThrow(/mask must have shape \[1, 5\], \[5, 5\] or \[1, 5, 5\], got \[2,5\]/);
    expect(() => new PoPE(0, { heads: 2 })).toThrow(/PoPE dim must be a positive integer, got 0/);
  });
});
