// RotaryEmbedding on every test device against the golden cases of rotary-embedding-torch.
import { describe, it, expect } from 'vitest';
import { Tensor } from '../ops/tensor.js';
import { RotaryEmbedding } from '../ops/rope.js';
import { applyRotaryEmb, applyLearnedRotations } from '../ops/rope-functions.js';
import { broadcat } from '../ops/broadcat.js';
import * as R from './reference/rope-reference.js';
import { rng } from './reference/random.js';
import type { DType } from '../compiler/ir/dtype.js';
import { loadGolden, tensor, type GoldenCase } from './reference/golden.js';
import { expectClose, F32 } from './reference/compare.js';
import { matmul } from './reference/reference.js';
import { opTestDevices } from './reference/devices.js';

const golden = loadGolden();
const byName = (n: string): GoldenCase => golden.find((c) => c.name === n)!;

const { devices, webgpuSkipReason } = await opTestDevices();
if (webgpuSkipReason) describe('RotaryEmbedding on webgpu', () => it.skip(webgpuSkipReason, () => undefined));

describe.each(devices)('RotaryEmbedding on %s', (device) => {
  const t = (c: GoldenCase, name: string): Tensor => {
    const g = tensor(c, 'inputs', name);
    return Tensor.from(g.data, { shape: g.shape, dtype: 'f32', device });
  };
  const want = (c: GoldenCase, name: string) => tensor(c, 'outputs', name).data;

  it('rotateQueriesOrKeys with an offset, theta rescaling, interpolation and seq-before-head layouts', async () => {
    const cases: [string, ConstructorParameters<typeof RotaryEmbedding>[1], { offset?: number }][] = [
      ['rope_lang_offset2', {}, { offset: 2 }],
      ['rope_theta_rescale2', { thetaRescaleFactor: 2 }, {}],
      ['rope_interpolate2', { interpolateFactor: 2 }, {}],
      ['rope_seq_before_head', { seqBeforeHeadDim: true }, {}],
    ];
    for (const [name, opts, rot] of cases) {
      const c = byName(name);
      const out = new RotaryEmbedding(c.params['dim'] as number, opts).rotateQueriesOrKeys(t(c, 't'), rot);
      expectClose(await out.toArray(), want(c, 'out'), F32, name);
    }
  });

  it('rotateQueriesWithCachedKeys: queries take the last positions', async () => {
    const c = byName('rope_cached_keys');
    const [q, k] = new RotaryEmbedding(8).rotateQueriesWithCachedKeys(t(c, 'q'), t(c, 'k'));
    expectClose(await q.toArray(), want(c, 'q'), F32, 'q');
    expectClose(await k.toArray(), want(c, 'k'), F32, 'k');
  });

  it('rotateQueriesWithCachedKeys: an offset moves queries and keys together, so every score q_i·k_j is unchanged', async () => {
    const c = byName('rope_cached_keys');
    const rope = new RotaryEmbedding(8);
    const [q0, k0] = rope.rotateQueriesWithCachedKeys(t(c, 'q'), t(c, 'k'));
    const [q5, k5] = rope.rotateQueriesWithCachedKeys(t(c, 'q'), t(c, 'k'), { offset: 5 });
    const D = q0.shape.at(-1)!, scores = async (q: Tensor, k: Tensor): Promise<Float64Array> => {
      const [qa, ka] = [await q.toArray(), await k.toArray()];
      const nq = qa.length / D, nk = ka.length / D;
      const kT = Float64Array.from({ length: D * nk }, (_, i) => ka[(i % nk) * D + Math.floor(i / nk)]!);
      return matmul(Float64Array.from(qa), kT, nq, D, nk);
    };
    expect(Array.from(await k5.toArray())).not.toEqual(Array.from(await k0.toArray())); // keys moved too
    // Every (query row, key row) pair: each vector is rotated by its position's angles, so the product
    // depends only on the difference of positions, whatever the head.
    expectClose(await scores(q5, k5), await scores(q0, k0), { rtol: 1e-5, atol: 1e-5 }, 'scores with offset 5');
  });

  it('xpos with cached keys: one centre, so queries rotated with the keys match the full sequence\'s last rows and the keys are the same', async () => {
    // rotary-embedding-torch centres the queries' scales on q_len / 2 and the keys' on k_len / 2 when
    // q_len < k_len, so scaled scores stop depending on relative positions alone.
    const r = rng(41);
    const B = 1, H = 2, Nq = 3, Nk = 11, D = 8;
    const rope = new RotaryEmbedding(D, { useXpos: true, xposScaleBase: 16 });
    const qAll = Tensor.from(r.array(B * H * Nk * D, -1, 1), { shape: [B, H, Nk, D], dtype: 'f32', device });
    const k = Tensor.from(r.array(B * H * Nk * D, -1, 1), { shape: [B, H, Nk, D], dtype: 'f32', device });
    const [qFull, kFull] = rope.rotateQueriesAndKeys(qAll, k);
    const [qLast, kCached] = rope.rotateQueriesAndKeys(qAll.slice(2, Nk - Nq).contiguous(), k);
    expectClose(await qLast.toArray(), await qFull.slice(2, Nk - Nq).contiguous().toArray(), { rtol: 1e-6, atol: 1e-6 }, 'queries');
    expectClose(await kCached.toArray(), await kFull.toArray(), { rtol: 1e-6, atol: 1e-6 }, 'keys');
  });

  it('rotateQueriesAndKeys with xpos scales', async () => {
    const c = byName('rope_xpos');
    const [q, k] = new RotaryEmbedding(8, { useXpos: true, xposScaleBase: 64 }).rotateQueriesAndKeys(t(c, 'q'), t(c, 'k'));
    expectClose(await q.toArray(), want(c, 'q'), F32, 'q');
    expectClose(await k.toArray(), want(c, 'k'), F32, 'k');
  });

  it('getAxialFreqs + applyRotaryEmb: rope_axial_pixel (golden)', async () => {
    const c = byName('rope_axial_pixel');
    const rope = new RotaryEmbedding(4, { freqsFor: 'pixel', maxFreq: 16, device });
    const freqs = rope.getAxialFreqs(3, 4);
    expect(freqs.shape).toEqual([3, 4, 8]);
    expectClose(await freqs.toArray(), want(c, 'freqs'), F32, 'freqs');
    expectClose(await applyRotaryEmb(freqs, t(c, 't')).toArray(), want(c, 'out'), F32, 'out');
  });

  it('applyLearnedRotations: rope_learned_rotations (golden)', async () => {
    const c = byName('rope_learned_rotations');
    const out = applyLearnedRotations(t(c, 'rotations'), t(c, 't'), { freqRanges: c.params['freq_ranges'] as number[] });
    expectClose(await out.toArray(), want(c, 'out'), F32, c.name);
  });

  // f32 outputs near 1e-5 relative; f16/bf16 outputs add the dtype's rounding (kernels compute in f32).
  const TOL: Record<'f32' | 'f16' | 'bf16', { rtol: number; atol: number }> = { f32: F32, f16: { rtol: 1e-3, atol: 1e-3 }, bf16: { rtol: 8e-3, atol: 8e-3 } };
  const rand = (r: ReturnType<typeof rng>, shape: number[], dtype: DType = 'f32') => {
    const x = Tensor.from(r.array(shape.reduce((a, b) => a * b, 1), -1, 1), { shape, dtype, device });
    return x;
  };

  describe.each(['f32', 'bf16'] as const)('free functions on ragged %s inputs against the float64 references', (dtype) => {
    const r = rng(dtype === 'f32' ? 31 : 32);

    it('applyRotaryEmb: a longer per-position table (last rows), partial rotation from a start index, seqDim -2 and -3, number and tensor scales', async () => {
      const B = 2, H = 3, N = 5, D = 13, Rw = 6, start = 3, Nf = 9;
      const inv = R.ropeInvFreqs({ dim: Rw });
      const freqsArr = { data: R.ropeFreqs(R.ropePositions(Nf, { offset: 1 }), inv), shape: [Nf, Rw] };
      // A Float64Array table is an f64 tensor; WebGPU has no 64-bit types, so there it is f32.
      const freqs = Tensor.from(freqsArr.data, { shape: freqsArr.shape, dtype: device === 'webgpu' ? 'f32' : 'f64', device });
      for (const seqDim of [-2, -3]) {
        const shape = seqDim === -2 ? [B, H, N, D] : [B, N, H, D];
        const x = rand(r, shape, dtype);
        const tArr = { data: await x.toArray(), shape };
        const got = await applyRotaryEmb(freqs, x, { startIndex: start, seqDim, scale: 0.75 }).toArray();
        expectClose(got, R.applyRotaryEmb(freqsArr, tArr, { startIndex: start, seqDim, scale: 0.75 }), TOL[dtype], `seqDim ${seqDim}`);
      }
      // xpos scales from getScale (queries), shaped like freqs
      const rope = new RotaryEmbedding(Rw, { useXpos: true, xposScaleBase: 16, device });
      const scale = rope.getScale(Nf, { center: 4 });
      const scaleArr = { data: R.xposScale(R.ropePositions(Nf), Rw, 16, 4), shape: [Nf, Rw] };
      expectClose(await scale.toArray(), scaleArr.data, F32, 'getScale');
      const x = rand(r, [B, H, N, D], dtype);
      const got = await applyRotaryEmb(freqs, x, { startIndex: start, scale }).toArray();
      expectClose(got, R.applyRotaryEmb(freqsArr, { data: await x.toArray(), shape: [B, H, N, D] }, { startIndex: start, scale: scaleArr }), TOL[dtype], 'xpos scale');
    });

    it('getAxialFreqs with offsets (never a table cached for another offset), applied to [B, H, W, D] and [B, T, H, W, D] grids', async () => {
      const rope = new RotaryEmbedding(6, { device });
      const plain = rope.getAxialFreqs(3, 5);
      const shifted = rope.getAxialFreqs(3, 5, { offsets: [2, 7] });
      expectClose(await plain.toArray(), R.getAxialFreqs(6, [3, 5]).data, F32, 'no offsets');
      const want3 = R.getAxialFreqs(6, [3, 5], { offsets: [2, 7] });
      expectClose(await shifted.toArray(), want3.data, F32, 'offsets');
      const x = rand(r, [2, 3, 5, 15], dtype);
      const got = await applyRotaryEmb(shifted, x, { startIndex: 1 }).toArray();
      expectClose(got, R.applyRotaryEmb(want3, { data: await x.toArray(), shape: [2, 3, 5, 15] }, { startIndex: 1 }), TOL[dtype], 'axial 2-D');
      const video = rope.getAxialFreqs(2, 3, 4, { offsets: [1, 0, 3] });
      const wantV = R.getAxialFreqs(6, [2, 3, 4], { offsets: [1, 0, 3] });
      expectClose(await video.toArray(), wantV.data, F32, 'axial 3-D freqs');
      const xv = rand(r, [1, 2, 3, 4, 19], dtype);
      expectClose(await applyRotaryEmb(video, xv).toArray(), R.applyRotaryEmb(wantV, { data: await xv.toArray(), shape: [1, 2, 3, 4, 19] }), TOL[dtype], 'axial 3-D');
    });

    it('applyLearnedRotations: per-batch rotations x freq ranges from a start index, 3-D and 4-D t', async () => {
      const B = 2, N = 7, D = 17, Rr = 3, ranges = [1, 0.5];
      const rot = rand(r, [B, N, Rr]), x = rand(r, [B, N, D], dtype);
      const rotArr = { data: await rot.toArray(), shape: [B, N, Rr] };
      const got = await applyLearnedRotations(rot, x, { startIndex: 2, freqRanges: ranges }).toArray();
      expectClose(got, R.applyLearnedRotations(rotArr, { data: await x.toArray(), shape: [B, N, D] }, { startIndex: 2, freqRanges: ranges }), TOL[dtype], '3-D');
      const x4 = rand(r, [3, B, N, D], dtype); // rotations [B, N, Rr] line up with axis 1 (right-aligned)
      const got4 = await applyLearnedRotations(rot, x4, { freqRanges: Tensor.from(ranges, { device }) }).toArray();
      expectClose(got4, R.applyLearnedRotations(rotArr, { data: await x4.toArray(), shape: [3, B, N, D] }, { freqRanges: ranges }), TOL[dtype], '4-D');
    });

    it('broadcat: size-1 axes broadcast, concatenation along any axis', async () => {
      const a = rand(r, [3, 1, 4], dtype), b = rand(r, [1, 5, 2], dtype), c = rand(r, [3, 5, 1], dtype);
      const arrs = await Promise.all([a, b, c].map(async (x) => ({ data: await x.toArray(), shape: [...x.shape] })));
      const out = broadcat([a, b, c], -1);
      const want2 = R.broadcat(arrs, -1);
      expect(out.shape).toEqual(want2.shape);
      expect(Array.from(await out.toArray())).toEqual(Array.from(want2.data));
      const p = rand(r, [2, 1, 3], dtype), q = rand(r, [4, 6, 1], dtype);
      const out0 = broadcat([p, q], 0), want0 = R.broadcat(await Promise.all([p, q].map(async (x) => ({ data: await x.toArray(), shape: [...x.shape] }))), 0);
      expect(out0.shape).toEqual([6, 6, 3]);
      expect(Array.from(await out0.toArray())).toEqual(Array.from(want0.data));
    });
  });

  it('frequency tables have the frequencies\' width: odd dims, numFreqs and custom frequencies, across cached lengths', async () => {
    const r = rng(41);
    const cases: [number, ConstructorParameters<typeof RotaryEmbedding>[1], R.RopeOptions][] = [
      [7, {}, {}],
      [8, { freqsFor: 'constant', numFreqs: 3 }, { freqsFor: 'constant', numFreqs: 3 }],
      [8, { customFreqs: [1, 0.3, 0.05] }, { customFreqs: [1, 0.3, 0.05] }],
    ];
    for (const [dim, opts, refOpts] of cases) {
      const rope = new RotaryEmbedding(dim, { ...opts, device });
      for (const [n, offset] of [[9, 0], [4, 0], [4, 3], [9, 0]] as const) {
        const x = rand(r, [1, 2, n, 11]);
        const got = await rope.rotateQueriesOrKeys(x, { offset }).toArray();
        expectClose(got, R.rotateQueriesOrKeys(dim, { data: await x.toArray(), shape: [1, 2, n, 11] }, { ...refOpts, offset }), F32, `dim ${dim} ${JSON.stringify(opts)} n ${n} offset ${offset}`);
      }
    }
  });

  it('learnedFreq: the frequencies are a tensor the rotations read at each call', async () => {
    const r = rng(42);
    const rope = new RotaryEmbedding(6, { learnedFreq: true, device });
    const x = rand(r, [1, 2, 5, 8]), k = rand(r, [1, 2, 7, 8]);
    const xArr = { data: await x.toArray(), shape: [1, 2, 5, 8] };
    const inv = Array.from(await rope.learnedFreqs.toArray());
    expectClose(await rope.rotateQueriesOrKeys(x, { offset: 2 }).toArray(), R.rotateQueriesOrKeys(6, xArr, { customFreqs: inv, offset: 2 }), F32, 'initial');
    const updated = [0.9, 0.2, 0.01];
    rope.learnedFreqs = Tensor.from(updated, { device });
    expectClose(await rope.rotateQueriesOrKeys(x, { offset: 2 }).toArray(), R.rotateQueriesOrKeys(6, xArr, { customFreqs: Float32Array.from(updated), offset: 2 }), F32, 'updated');
    const [qr, kr] = rope.rotateQueriesWithCachedKeys(x, k);
    const want = R.rotateQueriesWithCachedKeys(6, xArr, { data: await k.toArray(), shape: [1, 2, 7, 8] }, { customFreqs: Float32Array.from(updated) });
    expectClose(await qr.toArray(), want.q, F32, 'cached q');
    expectClose(await kr.toArray(), want.k, F32, 'cached k');
    expect(() => (rope.learnedFreqs = Tensor.zeros([4], { device }))).toThrow(/learnedFreqs: expected an f32 tensor of shape \[3\]/);
  });

  it('errors name the argument, the expected and the received', () => {
    const rope = new RotaryEmbedding(16);
    expect(() => rope.rotateQueriesOrKeys(Tensor.zeros([1, 2, 3, 8], { device }))).toThrow(/t: expected a feature dim of at least 16 \(the rotated width\), received 8/);
    expect(() => rope.rotateQueriesWithCachedKeys(Tensor.zeros([1, 2, 5, 16], { device }), Tensor.zeros([1, 2, 3, 16], { device }))).toThrow(/q: expected q_len <= k_len \(3\), received q_len 5/);
    expect(() => new RotaryEmbedding(8, { useXpos: true }).rotateQueriesOrKeys(Tensor.zeros([1, 1, 2, 8], { device }))).toThrow(/rotateQueriesAndKeys/);
    const f = Tensor.zeros([4, 6], { device });
    expect(() => applyRotaryEmb(f, Tensor.zeros([1, 1, 4, 7], { device }), { startIndex: 2 })).toThrow(/startIndex: expected startIndex \+ 6 \(the rotated width\) <= 7 \(t's feature dim\), received 2/);
    expect(() => applyRotaryEmb(f, Tensor.zeros([1, 1, 5, 8], { device }))).toThrow(/freqs: expected at least 5 entries \(t's sequence length\) on axis 0, received shape \[4,6\]/);
    expect(() => applyRotaryEmb(Tensor.zeros([3, 4, 6], { device }), Tensor.zeros([1, 3, 5, 8], { device }))).toThrow(/freqs: expected size 5 or 1 on axis 1/);
    expect(() => broadcat([Tensor.zeros([2, 3], { device }), Tensor.zeros([4, 3], { device })], 1)).toThrow(/tensors: axis 0 must be broadcastable \(equal sizes or 1\), received sizes 2, 4/);
    expect(() => new RotaryEmbedding(8).getScale(4)).toThrow(/getScale needs useXpos: true/);
    if (device === 'webgpu') {
      expect(() => Tensor.from(new Float64Array(4), { device })).toThrow(/a tensor on 'webgpu' cannot be f64: WGSL has no 64-bit types; use 'f32'/);
      expect(() => Tensor.zeros([2], { dtype: 'i64', device })).toThrow(/cannot be i64: WGSL has no 64-bit types; use 'i32'/);
    }
  });
});
