// The float64 RoPE references against every RoPE golden case of rotary-embedding-torch, and against
// properties the math must have.
import { describe, it, expect } from 'vitest';
import * as R from './reference/rope-reference.js';
import { loadGolden, tensor, type GoldenCase } from './reference/golden.js';
import { expectClose } from './reference/compare.js';
import { rng } from './reference/random.js';

const isRope = (c: GoldenCase): boolean => /^(RotaryEmbedding|apply_rotary_emb|apply_learned_rotations)/.test(c.op);
const ropeCases = loadGolden().filter(isRope);
const EXACT = { rtol: 1e-12, atol: 1e-12 };
const num = (c: GoldenCase, key: string): number | undefined => c.params[key] as number | undefined;

/** The reference's result for a golden case: output name -> data. */
function run(c: GoldenCase): Record<string, ArrayLike<number>> {
  const p = c.params, dim = p['dim'] as number;
  // the library computes 'lang' frequencies in float32 (the cases pin this to the last bit)
  const common: R.RopeOptions = {
    f32: true, thetaRescaleFactor: num(c, 'theta_rescale_factor'), interpolateFactor: num(c, 'interpolate_factor'),
    seqBeforeHeadDim: p['seq_before_head_dim'] as boolean | undefined, freqsFor: p['freqs_for'] as R.FreqsFor | undefined,
    maxFreq: num(c, 'max_freq'), useXpos: p['use_xpos'] as boolean | undefined, xposScaleBase: num(c, 'xpos_scale_base'),
  };
  switch (c.op) {
    case 'RotaryEmbedding.rotate_queries_or_keys':
      return { out: R.rotateQueriesOrKeys(dim, tensor(c, 'inputs', 't'), { ...common, offset: num(c, 'offset') }) };
    case 'RotaryEmbedding.rotate_queries_with_cached_keys':
      return R.rotateQueriesWithCachedKeys(dim, tensor(c, 'inputs', 'q'), tensor(c, 'inputs', 'k'), common);
    case 'RotaryEmbedding.rotate_queries_and_keys':
      return R.rotateQueriesAndKeys(dim, tensor(c, 'inputs', 'q'), tensor(c, 'inputs', 'k'), common);
    case 'RotaryEmbedding.get_axial_freqs+apply_rotary_emb': {
      const freqs = R.getAxialFreqs(dim, p['dims'] as number[], common);
      return { freqs: freqs.data, out: R.applyRotaryEmb(freqs, tensor(c, 'inputs', 't')) };
    }
    case 'apply_learned_rotations':
      return { out: R.applyLearnedRotations(tensor(c, 'inputs', 'rotations'), tensor(c, 'inputs', 't'), { freqRanges: p['freq_ranges'] as number[] }) };
    default:
      throw new Error(`no reference for golden op ${c.op}`);
  }
}

describe('RoPE references against the golden cases (rotary-embedding-torch, float64)', () => {
  it('covers every RoPE case of the fixture', () => {
    expect(ropeCases.map((c) => c.name).sort()).toEqual([
      'rope_axial_pixel', 'rope_cached_keys', 'rope_interpolate2', 'rope_lang_offset2', 'rope_learned_rotations',
      'rope_seq_before_head', 'rope_theta_rescale2', 'rope_xpos',
    ]);
  });

  for (const c of ropeCases)
    it(`${c.name} (${c.op} ${JSON.stringify(c.params)})`, () => {
      const got = run(c);
      expect(Object.keys(got).sort()).toEqual(Object.keys(c.outputs).sort());
      for (const [name, data] of Object.entries(got)) {
        expect(tensor(c, 'outputs', name).shape.reduce((a, b) => a * b, 1)).toBe(data.length);
        expectClose(data, tensor(c, 'outputs', name).data, EXACT, `${c.name} ${name}`);
      }
    });

  it("float64 'lang' frequencies differ from the golden float32 ones by float32 rounding only", () => {
    const c = ropeCases.find((x) => x.name === 'rope_lang_offset2')!;
    const got = R.rotateQueriesOrKeys(8, tensor(c, 'inputs', 't'), { offset: 2 });
    expectClose(got, tensor(c, 'outputs', 'out').data, { rtol: 1e-6, atol: 1e-6 }, 'f64 freqs');
  });
});

describe('RoPE reference properties', () => {
  const r = rng(11);

  it("frequencies: 'lang' theta^(-2i/dim) with rescaled theta, 'pixel' linspace·π, 'constant' ones, odd dims", () => {
    expectClose(R.ropeInvFreqs({ dim: 8 }), [1, 10000 ** -0.25, 10000 ** -0.5, 10000 ** -0.75], EXACT, 'lang');
    const t2 = 10000 * 2 ** (8 / 6);
    expectClose(R.ropeInvFreqs({ dim: 8, thetaRescaleFactor: 2 }), [0, 1, 2, 3].map((i) => t2 ** (-i / 4)), EXACT, 'rescaled');
    expectClose(R.ropeInvFreqs({ dim: 7 }), [0, 1, 2].map((i) => 10000 ** (-(2 * i) / 7)), EXACT, 'odd dim: floor(dim/2) pairs');
    expectClose(R.ropeInvFreqs({ dim: 8, freqsFor: 'pixel', maxFreq: 10 }), [1, 2.333333333333333, 3.6666666666666665, 5].map((f) => f * Math.PI), EXACT, 'pixel');
    expect(Array.from(R.ropeInvFreqs({ dim: 8, freqsFor: 'constant', numFreqs: 3 }))).toEqual([1, 1, 1]);
    expectClose(R.ropePositions(4, { offset: 3, interpolateFactor: 2 }), [1.5, 2, 2.5, 3], EXACT, 'positions');
  });

  it('rotation preserves each pair norm, leaves the other features alone, and depends on relative positions only', () => {
    const D = 14, N = 9, dim = 8, start = 2;
    const t = { data: r.array(N * D, -2, 2), shape: [N, D] };
    const inv = R.ropeInvFreqs({ dim });
    const freqs = { data: R.ropeFreqs(R.ropePositions(N), inv), shape: [N, dim] };
    const out = R.applyRotaryEmb(freqs, t, { startIndex: start });
    for (let n = 0; n < N; n++) {
      for (let c = 0; c < D; c++) if (c < start || c >= start + dim) expect(out[n * D + c]).toBe(t.data[n * D + c]);
      for (let c = start; c < start + dim; c += 2) {
        const i = n * D + c;
        expect(Math.hypot(out[i]!, out[i + 1]!)).toBeCloseTo(Math.hypot(t.data[i]!, t.data[i + 1]!), 12);
      }
    }
    // <rot(q, m), rot(k, n)> depends on m - n only
    const q = r.array(dim, -1, 1), k = r.array(dim, -1, 1);
    const dotAt = (m: number, n: number): number => {
      const rq = R.applyRotaryEmb({ data: R.ropeFreqs([m], inv), shape: [1, dim] }, { data: q, shape: [1, dim] });
      const rk = R.applyRotaryEmb({ data: R.ropeFreqs([n], inv), shape: [1, dim] }, { data: k, shape: [1, dim] });
      return rq.reduce((s, v, i) => s + v * rk[i]!, 0);
    };
    expect(dotAt(7, 3)).toBeCloseTo(dotAt(1004, 1000), 9);
  });

  it('seqDim -3 equals the -2 layout transposed; queries with cached keys equal rotating at offset k_len - q_len', () => {
    const B = 2, H = 3, N = 5, D = 6;
    const bhnd = r.array(B * H * N * D, -1, 1), bnhd = new Float64Array(bhnd.length);
    for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) for (let n = 0; n < N; n++) for (let d = 0; d < D; d++)
      bnhd[((b * N + n) * H + h) * D + d] = bhnd[((b * H + h) * N + n) * D + d]!;
    const a = R.rotateQueriesOrKeys(4, { data: bhnd, shape: [B, H, N, D] }, { offset: 3 });
    const b2 = R.rotateQueriesOrKeys(4, { data: bnhd, shape: [B, N, H, D] }, { offset: 3, seqBeforeHeadDim: true });
    for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) for (let n = 0; n < N; n++) for (let d = 0; d < D; d++)
      expect(b2[((b * N + n) * H + h) * D + d]).toBe(a[((b * H + h) * N + n) * D + d]);
    const q = { data: r.array(2 * D, -1, 1), shape: [1, 1, 2, D] }, k = { data: r.array(N * D, -1, 1), shape: [1, 1, N, D] };
    const both = R.rotateQueriesWithCachedKeys(4, q, k, { offset: 1 });
    expectClose(both.q, R.rotateQueriesOrKeys(4, q, { offset: N - 2 + 1 }), EXACT, 'cached q');
    expectClose(both.k, R.rotateQueriesOrKeys(4, k), EXACT, 'cached k');
  });

  it('xpos: cached-key queries use the scales of the full sequence (centre floor(k_len/2)), unlike the library', () => {
    const dim = 8, Nq = 2, Nk = 7, base = 64;
    const q = { data: r.array(Nq * dim, -1, 1), shape: [1, 1, Nq, dim] }, k = { data: r.array(Nk * dim, -1, 1), shape: [1, 1, Nk, dim] };
    const qFull = { data: new Float64Array(Nk * dim), shape: [1, 1, Nk, dim] };
    qFull.data.set(q.data, (Nk - Nq) * dim);
    const cached = R.rotateQueriesWithCachedKeys(dim, q, k, { useXpos: true, xposScaleBase: base });
    const full = R.rotateQueriesAndKeys(dim, qFull, k, { xposScaleBase: base });
    expectClose(cached.q, full.q.subarray((Nk - Nq) * dim), EXACT, 'q scales');
    expectClose(cached.k, full.k, EXACT, 'k scales');
  });
});
