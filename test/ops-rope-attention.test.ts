// flashAttnWithRope on every test device against a float64 reference of rotate-then-softmax-attention,
// on fresh random ragged inputs: grouped-query heads, q_len < k_len, bottom-right causal, masks.
import { describe, it, expect } from 'vitest';
import { Tensor } from '../ops/tensor.js';
import { RotaryEmbedding } from '../ops/rope.js';
import { flashAttnWithRope } from '../ops/rope-attention.js';
import * as R from './reference/rope-reference.js';
import { ropeAttention } from './reference/rope-attention-reference.js';
import { rng } from './reference/random.js';
import { expectClose, F32 } from './reference/compare.js';
import { opTestDevices } from './reference/devices.js';

const { devices, webgpuSkipReason } = await opTestDevices();
if (webgpuSkipReason) describe('flashAttnWithRope on webgpu', () => it.skip(webgpuSkipReason, () => undefined));

describe.each(devices)('flashAttnWithRope on %s', (device) => {
  // On WebGPU (llvmpipe on CI: seconds to compile each kernel variant) the random f32 test is skipped:
  // the bf16 one takes the same masks, causal and GQA paths, and f32 runs in the two tests after it.
  const exceptWebGpu = device === 'webgpu' ? it.skip : it;
  // Products run in f32 from the stored inputs (the reference reads the same rounded inputs); bf16
  // outputs add their own rounding (2^-8 relative).
  const TOL = { f32: F32, bf16: { rtol: 1e-2, atol: 1e-2 } };
  // Float64Array inputs without a dtype are f64 tensors; WebGPU has no 64-bit types, so there they are f32.
  const f64 = device === 'webgpu' ? 'f32' : 'f64';

  for (const dtype of ['f32', 'bf16'] as const) (dtype === 'f32' ? exceptWebGpu : it)(`${dtype}: rotary option, GQA, q_len < k_len, causal with a key padding mask and a (q_len, k_len) mask`, async () => {
    const r = rng(dtype === 'f32' ? 51 : 52);
    const B = 2, H = 4, Hkv = 2, Nq = 5, Nk = 19, D = 12, dim = 8;
    const mk = (shape: [number, number, number, number]) => Tensor.from(r.array(shape.reduce((a, b) => a * b, 1), -1, 1), { shape, dtype, device });
    const q = mk([B, H, Nq, D]), k = mk([B, Hkv, Nk, D]), v = mk([B, Hkv, Nk, D]);
    const [qa, ka, va] = await Promise.all([q.toArray(), k.toArray(), v.toArray()]);
    const rope = new RotaryEmbedding(dim, { device });
    const freqs = { data: R.ropeFreqs(R.ropePositions(Nk), R.ropeInvFreqs({ dim })), shape: [Nk, dim] as [number, number] };
    const keep = Array.from({ length: B * Nk }, (_, i) => (i % Nk) % 7 !== 3); // key padding
    const pad = Tensor.from(keep.map(Number), { shape: [B, Nk], dtype: 'u8', device });
    const local = Array.from({ length: Nq * Nk }, (_, i) => Math.abs((i % Nk) - (Math.floor(i / Nk) + Nk - Nq)) <= 6); // a band
    const band = Tensor.from(local.map(Number), { shape: [Nq, Nk], dtype: 'u8', device });
    const cases = [
      { name: 'plain', opts: {}, ref: {} },
      { name: 'causal + padding', opts: { causal: true, mask: pad }, ref: { causal: true, mask: (b: number, _i: number, j: number) => keep[b * Nk + j]! } },
      { name: 'band, scale 0.3', opts: { mask: band, softmaxScale: 0.3 }, ref: { mask: (_b: number, i: number, j: number) => local[i * Nk + j]!, softmaxScale: 0.3 } },
    ];
    for (const c of cases) {
      const out = flashAttnWithRope(q, k, v, { rotary: rope, ...c.opts });
      expect(out.shape).toEqual([B, H, Nq, D]);
      expect(out.dtype).toBe(dtype);
      expectClose(await out.toArray(), ropeAttention(qa, [B, H, Nq, D], ka, [B, Hkv, Nk, D], va, { freqs, ...c.ref }), TOL[dtype], c.name);
    }
  });

  it('freqs option: a longer per-feature table (its first k_len rows), decoding one query', async () => {
    const r = rng(53);
    const B = 1, H = 3, Nq = 1, Nk = 9, D = 10, dim = 6;
    const mk = (shape: [number, number, number, number]) => Tensor.from(r.array(shape.reduce((a, b) => a * b, 1), -1, 1), { shape, dtype: f64, device });
    const q = mk([B, H, Nq, D]), k = mk([B, H, Nk, D]), v = mk([B, H, Nk, D]);
    const table = R.ropeFreqs(R.ropePositions(Nk + 4), R.ropeInvFreqs({ dim, theta: 500 }));
    const out = flashAttnWithRope(q, k, v, { freqs: Tensor.from(table, { shape: [Nk + 4, dim], dtype: f64, device }), causal: true });
    const want = ropeAttention(await q.toArray(), [B, H, Nq, D], await k.toArray(), [B, H, Nk, D], await v.toArray(), { freqs: { data: table, shape: [Nk + 4, dim] }, causal: true });
    expectClose(await out.toArray(), want, F32, 'decode');
  });

  it('head dim 64 with 70 queries: 64 × 64 blocks (on WebGPU smaller ones that fit its workgroup memory), GQA, causal, partial rotation', async () => {
    const r = rng(54);
    const B = 1, H = 2, Hkv = 1, Nq = 70, Nk = 90, D = 64, dim = 48;
    const mk = (shape: [number, number, number, number]) => Tensor.from(r.array(shape.reduce((a, b) => a * b, 1), -1, 1), { shape, dtype: 'f32', device });
    const q = mk([B, H, Nq, D]), k = mk([B, Hkv, Nk, D]), v = mk([B, Hkv, Nk, D]);
    const out = flashAttnWithRope(q, k, v, { rotary: new RotaryEmbedding(dim, { device }), causal: true });
    const freqs = { data: R.ropeFreqs(R.ropePositions(Nk), R.ropeInvFreqs({ dim })), shape: [Nk, dim] as [number, number] };
    const want = ropeAttention(await q.toArray(), [B, H, Nq, D], await k.toArray(), [B, Hkv, Nk, D], await v.toArray(), { freqs, causal: true });
    expectClose(await out.toArray(), want, F32, 'head dim 64');
  });

  it('errors name the argument, the expected and the received', () => {
    const q = Tensor.zeros([1, 2, 4, 8], { device }), rope = new RotaryEmbedding(8, { device });
    expect(() => flashAttnWithRope(q, Tensor.zeros([1, 2, 3, 8], { device }), Tensor.zeros([1, 2, 3, 8], { device }), { rotary: rope })).toThrow(/q: expected q_len <= k_len \(3\), received q_len 4/);
    expect(() => flashAttnWithRope(q, q, Tensor.zeros([1, 2, 4, 6], { device }), { rotary: rope })).toThrow(/v: expected the shape of k \[1,2,4,8\], received \[1,2,4,6\]/);
    expect(() => flashAttnWithRope(q, q, q, {})).toThrow(/options: expected exactly one of rotary and freqs/);
    expect(() => flashAttnWithRope(q, q, q, { rotary: new RotaryEmbedding(16, { device }) })).toThrow(/q: expected a head dim of at least 16 \(the rotated width\), received 8/);
    expect(() => flashAttnWithRope(q, q, q, { rotary: rope, mask: Tensor.zeros([2, 4], { dtype: 'u8', device }) })).toThrow(/mask: expected shape \[1, 4\], \[4, 4\] or \[1, 4, 4\], received \[2,4\]/);
  });
});
