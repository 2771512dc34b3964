// RoPE kernels (kernels/rope.ts through ops/rope-kernels.ts) on every test device: against the RoPE
// golden cases of rotary-embedding-torch and against the float64 references of
// test/reference/rope-reference.ts on random ragged inputs in f32, f16 and bf16 (computed in f32).
import { describe, it, expect } from 'vitest';
import { toHost, fromHost, type DType, type TypedArray } from '../index.js';
import {
  launchRopeApply, launchRopeQK, launchLearnedRotations, ropeFrequencies, ropeAngleTable, xposScaleTable, contiguous4,
  type Shape4, type Strides4, type View4,
} from '../ops/rope-kernels.js';
import * as R from './reference/rope-reference.js';
import { goldenCase, tensor, type GoldenCase } from './reference/golden.js';
import { rng } from './reference/random.js';
import { testDevices } from './reference/devices.js';
import { expectClose, F32, type Tolerance } from './reference/compare.js';

const f32 = (c: GoldenCase, side: 'inputs' | 'outputs', name: string): Float32Array => Float32Array.from(tensor(c, side, name).data);
const numel = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);
const f64 = (a: ArrayLike<number>): Float64Array => Float64Array.from(a);
/** Rows [from, from + n) of a [rows, F] angle (or scale) table as the reference's per-feature [n, 2F] array. */
const featureRows = (table: ArrayLike<number>, F: number, from: number, n: number): { data: Float64Array; shape: number[] } =>
  ({ data: R.repeatPairs(f64(table).subarray(from * F, (from + n) * F), F), shape: [n, 2 * F] });
/** [B, N, H, D] data seen as [B, H, N, D]. */
const seqBeforeHead = ([B, N, H, D]: Shape4): { shape: Shape4; strides: Strides4 } => ({ shape: [B, H, N, D], strides: [N * H * D, D, H * D, 1] });

describe.each(testDevices())('on %s', (device) => {
  describe('golden cases (rotary-embedding-torch, float64) in f32', () => {
    const dim = 8, F = dim / 2;
    /** rotate_queries_or_keys on t [1, 2, 6, 12] with the table built on the host. */
    function rotateCase(name: string, table: Float32Array, freqOffset: number, layout: 'bhnd' | 'bnhd' = 'bhnd'): void {
      const c = goldenCase(name), t = tensor(c, 'inputs', 't'), shape = t.shape as unknown as Shape4;
      const view = layout === 'bnhd' ? seqBeforeHead(shape) : { shape, strides: contiguous4(shape) };
      const out = new Float32Array(numel(shape));
      launchRopeApply({ data: Float32Array.from(t.data), ...view }, { data: out, ...view }, { rotDim: dim, freqs: { data: table, rows: table.length / F }, freqOffset, device });
      expectClose(out, tensor(c, 'outputs', 'out').data, F32, name);
    }
    const lang = (o: { thetaRescaleFactor?: number } = {}) => ropeFrequencies(dim, o);

    it('rope_lang_offset2: offset 2 as table rows 2.. and as positions offset by 2', () => {
      rotateCase('rope_lang_offset2', ropeAngleTable(lang(), { seqLen: 8 }), 2);
      rotateCase('rope_lang_offset2', ropeAngleTable(lang(), { seqLen: 6, offset: 2 }), 0);
    });
    it('rope_theta_rescale2', () => rotateCase('rope_theta_rescale2', ropeAngleTable(lang({ thetaRescaleFactor: 2 }), { seqLen: 6 }), 0));
    it('rope_interpolate2', () => rotateCase('rope_interpolate2', ropeAngleTable(lang(), { seqLen: 6, interpolateFactor: 2 }), 0));
    it('rope_seq_before_head: [B, N, H, D] read and written in place through strides', () => {
      rotateCase('rope_seq_before_head', ropeAngleTable(lang(), { seqLen: 6 }), 0, 'bnhd');
    });

    it('rope_cached_keys: fused q/k launch, queries at the last positions; and two single launches', () => {
      const c = goldenCase('rope_cached_keys');
      const qs = tensor(c, 'inputs', 'q').shape as unknown as Shape4, ks = tensor(c, 'inputs', 'k').shape as unknown as Shape4;
      const table = ropeAngleTable(lang(), { seqLen: ks[2] });
      const qOut = new Float32Array(numel(qs)), kOut = new Float32Array(numel(ks));
      launchRopeQK({ data: f32(c, 'inputs', 'q'), shape: qs }, { data: f32(c, 'inputs', 'k'), shape: ks }, { data: qOut, shape: qs }, { data: kOut, shape: ks },
        { rotDim: dim, freqs: { data: table, rows: ks[2] }, device });
      expectClose(qOut, tensor(c, 'outputs', 'q').data, F32, 'fused q');
      expectClose(kOut, tensor(c, 'outputs', 'k').data, F32, 'fused k');
      const q1 = new Float32Array(numel(qs));
      launchRopeApply({ data: f32(c, 'inputs', 'q'), shape: qs }, { data: q1, shape: qs }, { rotDim: dim, freqs: { data: table, rows: ks[2] }, freqOffset: ks[2] - qs[2], device });
      expectClose(q1, tensor(c, 'outputs', 'q').data, F32, 'single q');
    });

    it('rope_xpos: fused q/k with xpos scales (queries scaled up, keys down)', () => {
      const c = goldenCase('rope_xpos');
      const shape = tensor(c, 'inputs', 'q').shape as unknown as Shape4, N = shape[2];
      const table = ropeAngleTable(lang(), { seqLen: N });
      const scale = xposScaleTable(dim, R.ropePositions(N), { scaleBase: c.params['xpos_scale_base'] as number, center: Math.floor(N / 2) });
      const qOut = new Float32Array(numel(shape)), kOut = new Float32Array(numel(shape));
      launchRopeQK({ data: f32(c, 'inputs', 'q'), shape }, { data: f32(c, 'inputs', 'k'), shape }, { data: qOut, shape }, { data: kOut, shape },
        { rotDim: dim, freqs: { data: table, rows: N }, scale: { data: scale, rows: N }, device });
      expectClose(qOut, tensor(c, 'outputs', 'q').data, F32, 'xpos q');
      expectClose(kOut, tensor(c, 'outputs', 'k').data, F32, 'xpos k');
      // the single-tensor kernel: scale for queries, inverted scale for keys
      const k1 = new Float32Array(numel(shape));
      launchRopeApply({ data: f32(c, 'inputs', 'k'), shape }, { data: k1, shape }, { rotDim: dim, freqs: { data: table, rows: N }, scale: { data: scale, rows: N, invert: true }, device });
      expectClose(k1, tensor(c, 'outputs', 'k').data, F32, 'single xpos k');
    });

    it('rope_axial_pixel: the axial pixel frequencies [3, 4, 8] applied to t [1, 3, 4, 10] (a 12-position table)', () => {
      const c = goldenCase('rope_axial_pixel'), freqs = tensor(c, 'outputs', 'freqs');
      const W = freqs.shape[2]!, cells = freqs.shape[0]! * freqs.shape[1]!;
      // the library repeats each pair's angle twice; the kernel's table keeps one per pair
      const half = new Float32Array(cells * (W / 2));
      for (let i = 0; i < cells * W; i += 2) {
        expect(freqs.data[i + 1]).toBe(freqs.data[i]);
        half[i / 2] = freqs.data[i]!;
      }
      const ts = tensor(c, 'inputs', 't').shape, shape: Shape4 = [ts[0]!, 1, ts[1]! * ts[2]!, ts[3]!];
      const out = new Float32Array(numel(shape));
      launchRopeApply({ data: f32(c, 'inputs', 't'), shape }, { data: out, shape }, { rotDim: W, freqs: { data: half, rows: cells }, device });
      expectClose(out, tensor(c, 'outputs', 'out').data, F32, c.name);
    });

    it('rope_learned_rotations: rotations × freq ranges in the kernel', () => {
      const c = goldenCase('rope_learned_rotations');
      const rs = tensor(c, 'inputs', 'rotations').shape as unknown as [number, number, number];
      const ts = tensor(c, 'inputs', 't').shape, shape: Shape4 = [ts[0]!, 1, ts[1]!, ts[2]!];
      const ranges = Float32Array.from(c.params['freq_ranges'] as number[]);
      const out = new Float32Array(numel(shape));
      launchLearnedRotations({ data: f32(c, 'inputs', 'rotations'), shape: rs }, { data: f32(c, 'inputs', 't'), shape }, { data: out, shape },
        { freqRanges: { data: ranges, length: ranges.length }, device });
      expectClose(out, tensor(c, 'outputs', 'out').data, F32, c.name);
    });
  });

  /** Random inputs rounded to `dtype`, with their exact float64 values for the reference. */
  function input(dtype: DType, values: Float64Array) {
    const data = toHost(dtype, values);
    return { arg: { dtype, data }, exact: fromHost(dtype, data) };
  }
  /** An output buffer of `dtype` and its read-back. */
  function output(dtype: DType, n: number): { arg: { dtype: DType; data: TypedArray }; read: () => Float64Array } {
    const data = toHost(dtype, new Float64Array(n));
    return { arg: { dtype, data }, read: () => fromHost(dtype, data) };
  }
  // Outputs in f32 are compared tightly (inputs are exact in the reference); outputs in the input's
  // dtype add its rounding (half an ulp: 2^-11 relative for f16, 2^-8 for bf16).
  const F32_OUT: Tolerance = { rtol: 1e-4, atol: 1e-4 };
  const SAME_OUT: Record<'f32' | 'f16' | 'bf16', Tolerance> = { f32: F32_OUT, f16: { rtol: 1e-3, atol: 1e-4 }, bf16: { rtol: 4e-3, atol: 1e-4 } };

  describe.each(['f32', 'f16', 'bf16'] as const)('random ragged inputs in %s (compute in f32)', (dtype) => {
    const r = rng(dtype.length * 31 + 3);

    it('ropeApply: partial rotation from a start index, table offset, f32 and same-dtype outputs, seq-before-head strides, in place', () => {
      const B = 2, H = 3, N = 37, D = 42, rot = 24, start = 6, F = rot / 2, off = 5;
      const freqs = ropeFrequencies(rot, { theta: 500 });
      const table = ropeAngleTable(freqs, { seqLen: N + off + 3 });
      const ref = (x: Float64Array, shape: readonly number[], seqDim = -2) =>
        R.applyRotaryEmb(featureRows(table, F, off, N), { data: x, shape }, { startIndex: start, seqDim });
      const shape: Shape4 = [B, H, N, D];
      const x = input(dtype, r.array(numel(shape), -3, 3));
      const want = ref(x.exact, shape);
      const opts = { rotDim: rot, startIndex: start, freqs: { data: table, rows: table.length / F }, freqOffset: off, device };
      for (const outDtype of ['f32', dtype] as const) {
        const out = output(outDtype, numel(shape));
        launchRopeApply({ data: x.arg, shape }, { data: out.arg, shape }, opts);
        expectClose(out.read(), want, outDtype === 'f32' ? F32_OUT : SAME_OUT[dtype], `out ${outDtype}`);
      }
      // [B, N, H, D] memory, read and written through strides
      const bnhd: Shape4 = [B, N, H, D], y = input(dtype, r.array(numel(bnhd), -3, 3)), v = seqBeforeHead(bnhd);
      const outS = new Float32Array(numel(bnhd));
      launchRopeApply({ data: y.arg, ...v }, { data: outS, ...v }, opts);
      expectClose(outS, ref(y.exact, bnhd, -3), F32_OUT, 'seq before head');
      // in place
      const z = input(dtype, r.array(numel(shape), -3, 3));
      launchRopeApply({ data: z.arg, shape }, { data: z.arg, shape }, opts);
      expectClose(fromHost(dtype, z.arg.data), ref(z.exact, shape), SAME_OUT[dtype], 'in place');
    });

    it('ropeApply: xpos scales (multiplied, or divided for keys) with a scale-table offset', () => {
      const B = 1, H = 2, N = 19, D = 20, rot = 20, F = rot / 2, off = 4, base = 32;
      const table = ropeAngleTable(ropeFrequencies(rot), { seqLen: N + off });
      const scale = xposScaleTable(rot, R.ropePositions(N + off), { scaleBase: base, center: Math.floor((N + off) / 2) });
      const shape: Shape4 = [B, H, N, D], x = input(dtype, r.array(numel(shape), -2, 2));
      for (const invert of [false, true]) {
        const out = new Float32Array(numel(shape));
        launchRopeApply({ data: x.arg, shape }, { data: out, shape }, {
          rotDim: rot, freqs: { data: table, rows: N + off }, freqOffset: off, scale: { data: scale, rows: N + off, offset: off, invert }, device,
        });
        const s = featureRows(scale, F, off, N);
        const sc = { data: invert ? s.data.map((v) => 1 / v) : s.data, shape: s.shape };
        expectClose(out, R.applyRotaryEmb(featureRows(table, F, off, N), { data: x.exact, shape }, { scale: sc }), F32_OUT, `invert=${invert}`);
      }
    });

    it('learned rotations: per-batch rotations × freq ranges, partial width from a start index', () => {
      const B = 2, N = 21, Rr = 3, ranges = Float32Array.of(1, 0.5, 0.25), D = 2 * Rr * ranges.length + 5, start = 3;
      const rotations = Float32Array.from(r.array(B * N * Rr, -4, 4));
      const shape: Shape4 = [B, 1, N, D], t = input(dtype, r.array(numel(shape), -2, 2));
      const out = new Float32Array(numel(shape));
      launchLearnedRotations({ data: rotations, shape: [B, N, Rr] }, { data: t.arg, shape }, { data: out, shape },
        { freqRanges: { data: ranges, length: ranges.length }, startIndex: start, device });
      const want = R.applyLearnedRotations({ data: f64(rotations), shape: [B, N, Rr] }, { data: t.exact, shape: [B, N, D] }, { freqRanges: f64(ranges), startIndex: start });
      expectClose(out, want, F32_OUT, 'learned');
    });

    it('ropeQK: grouped-query heads, q_len < k_len (queries at the last positions plus an offset), xpos, in place', () => {
      const B = 2, H = 6, Hkv = 2, Nq = 7, Nk = 29, D = 20, rot = 12, start = 2, F = rot / 2, kOff = 3;
      const rows = Nk + kOff;
      const table = ropeAngleTable(ropeFrequencies(rot), { seqLen: rows });
      const scale = xposScaleTable(rot, R.ropePositions(rows), { scaleBase: 16, center: kOff + Math.floor(Nk / 2) });
      const qs: Shape4 = [B, H, Nq, D], ks: Shape4 = [B, Hkv, Nk, D];
      const qOff = kOff + Nk - Nq;
      for (const xpos of [false, true]) {
        const q = input(dtype, r.array(numel(qs), -2, 2)), k = input(dtype, r.array(numel(ks), -2, 2));
        const qScale = xpos ? featureRows(scale, F, qOff, Nq) : 1;
        const kS = featureRows(scale, F, kOff, Nk), kScale = xpos ? { data: kS.data.map((v) => 1 / v), shape: kS.shape } : 1;
        const wantQ = R.applyRotaryEmb(featureRows(table, F, qOff, Nq), { data: q.exact, shape: qs }, { startIndex: start, scale: qScale });
        const wantK = R.applyRotaryEmb(featureRows(table, F, kOff, Nk), { data: k.exact, shape: ks }, { startIndex: start, scale: kScale });
        const opts = { rotDim: rot, startIndex: start, freqs: { data: table, rows }, kOffset: kOff, scale: xpos ? { data: scale, rows } : undefined, device };
        const qOut = new Float32Array(numel(qs)), kOut = new Float32Array(numel(ks));
        launchRopeQK({ data: q.arg, shape: qs }, { data: k.arg, shape: ks }, { data: qOut, shape: qs }, { data: kOut, shape: ks }, opts);
        expectClose(qOut, wantQ, F32_OUT, `q xpos=${xpos}`);
        expectClose(kOut, wantK, F32_OUT, `k xpos=${xpos}`);
        // in place: each key head must be rotated exactly once although GROUP query heads share it
        launchRopeQK({ data: q.arg, shape: qs }, { data: k.arg, shape: ks }, { data: q.arg, shape: qs }, { data: k.arg, shape: ks }, opts);
        expectClose(fromHost(dtype, q.arg.data), wantQ, SAME_OUT[dtype], `in-place q xpos=${xpos}`);
        expectClose(fromHost(dtype, k.arg.data), wantK, SAME_OUT[dtype], `in-place k xpos=${xpos}`);
      }
    });
  });

  describe('positions are computed on the host in float64, not in the tensor dtype', () => {
    it('bf16 inputs: position 257 is rotated by 257·θ, not by 256·θ as positions made in bf16 would be', () => {
      expect(fromHost('bf16', toHost('bf16', [257]))[0]).toBe(256); // what the reference library's positions become
      const N = 300, D = 8, rot = 8, F = rot / 2, shape: Shape4 = [1, 1, N, D];
      const x = input('bf16', rng(257).array(N * D, -1, 1));
      const out = new Float32Array(N * D);
      const freqs = ropeFrequencies(rot);
      launchRopeApply({ data: x.arg, shape }, { data: out, shape }, { rotDim: rot, freqs: { data: ropeAngleTable(freqs, { seqLen: N }), rows: N }, device });
      const row = (a: ArrayLike<number>, n: number): Float64Array => f64(Array.from({ length: D }, (_, d) => a[n * D + d]!));
      const rotated = (pos: number): Float64Array =>
        R.applyRotaryEmb({ data: R.ropeFreqs([pos], R.ropeInvFreqs({ dim: rot })), shape: [1, rot] }, { data: row(x.exact, 257), shape: [1, D] });
      expectClose(row(out, 257), rotated(257), F32_OUT, 'position 257');
      const wrong = rotated(256);
      expect(Math.max(...row(out, 257).map((v, i) => Math.abs(v - wrong[i]!)))).toBeGreaterThan(0.1);
      // and every position against float64 positions
      const want = R.applyRotaryEmb({ data: R.ropeFreqs(R.ropePositions(N), R.ropeInvFreqs({ dim: rot })), shape: [N, 2 * F] }, { data: x.exact, shape });
      expectClose(out, want, F32_OUT, 'all positions');
    });
  });

  describe('shape errors name the argument, the expected and the received', () => {
    const shape: Shape4 = [1, 2, 3, 8], x: View4 = { data: new Float32Array(48), shape };
    const freqs = { data: new Float32Array(12), rows: 3 };
    it('ropeApply and ropeQK', () => {
      expect(() => launchRopeApply(x, { data: new Float32Array(48), shape: [1, 2, 3, 6] }, { rotDim: 8, freqs, device })).toThrow(/out\.shape: expected \[1,2,3,8\], received \[1,2,3,6\]/);
      expect(() => launchRopeApply(x, x, { rotDim: 7, freqs, device })).toThrow(/rotDim: expected an even integer >= 2, received 7/);
      expect(() => launchRopeApply(x, x, { rotDim: 8, startIndex: 2, freqs, device })).toThrow(/startIndex: expected startIndex \+ rotDim \(8\) <= head dim 8, received 2/);
      expect(() => launchRopeApply(x, x, { rotDim: 8, freqs, freqOffset: 1, device })).toThrow(/freqs\.rows: expected at least 4 rows .*received 3/);
      expect(() => launchRopeApply({ data: new Float32Array(40), shape }, x, { rotDim: 8, freqs, device })).toThrow(/x\.data: expected at least 48 elements.*received 40 elements/);
      const k: View4 = { data: new Float32Array(48), shape: [1, 2, 3, 8] };
      expect(() => launchRopeQK({ data: new Float32Array(72), shape: [1, 3, 3, 8] }, k, { data: new Float32Array(72), shape: [1, 3, 3, 8] }, k, { rotDim: 8, freqs, device }))
        .toThrow(/k\.shape\[1\]: expected a divisor of the 3 query heads, received 2/);
      expect(() => launchRopeQK({ data: new Float32Array(64), shape: [1, 2, 4, 8] }, k, { data: new Float32Array(64), shape: [1, 2, 4, 8] }, k, { rotDim: 8, freqs, device }))
        .toThrow(/qOffset: expected a non-negative integer \(q_len 4 <= k_len 3 when defaulted\), received -1/);
    });
  });
});
