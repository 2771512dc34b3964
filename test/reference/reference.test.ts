import { describe, it, expect } from 'vitest';
import {
  vectorAdd, rowSoftmax, layerNorm, matmul, popeFreqs, clampBias, popeApply, popeSimilarity, popeFlashAttention,
  type Magnitude,
} from './reference.js';
import { loadGolden, tensor, boolTensor, type GoldenCase } from './golden.js';
import { rng } from './random.js';

type Shape4 = [number, number, number, number];
const TOL = 1e-9;

/** |a - b| <= TOL * (1 + |b|) elementwise, with a readable failure. */
function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol = TOL): void {
  expect(actual.length).toBe(expected.length);
  let worst = 0, at = -1;
  for (let i = 0; i < expected.length; i++) {
    const e = Math.abs(actual[i]! - expected[i]!) / (1 + Math.abs(expected[i]!));
    if (!(e <= worst)) { worst = e; at = i; }
  }
  expect(worst, `worst scaled error at ${at}: got ${actual[at]}, want ${expected[at]}`).toBeLessThanOrEqual(tol);
}

const shape4 = (s: number[]): Shape4 => {
  if (s.length !== 4) throw new Error(`expected rank 4, got ${s}`);
  return s as Shape4;
};

/** [B,N,H,D] -> [B,H,N,D]; the same permutation maps bhnd back to bnhd when given [B,H,N,D]. */
function swap12(x: Float64Array, [B, A, C, D]: Shape4): Float64Array {
  const out = new Float64Array(x.length);
  for (let b = 0; b < B; b++)
    for (let a = 0; a < A; a++)
      for (let c = 0; c < C; c++)
        for (let d = 0; d < D; d++) out[((b * C + c) * A + a) * D + d] = x[((b * A + a) * C + c) * D + d]!;
  return out;
}

const casesOf = (op: string): GoldenCase[] => loadGolden().filter((c) => c.op === op);

describe('golden fixture', () => {
  it('loads 29 cases with consistent tensor sizes', () => {
    const cases = loadGolden();
    expect(cases.length).toBe(29);
    for (const c of cases)
      for (const side of ['inputs', 'outputs'] as const)
        for (const t of Object.values(c[side])) expect(t.data.length).toBe(t.shape.reduce((a, b) => a * b, 1));
  });
});

describe('small references', () => {
  it('vectorAdd', () => {
    expect(Array.from(vectorAdd(Float64Array.of(1, 2, 3), Float64Array.of(0.5, -2, 10)))).toEqual([1.5, 0, 13]);
  });

  it('rowSoftmax: hand case and large inputs', () => {
    expectClose(rowSoftmax(Float64Array.of(0, Math.log(2), Math.log(5), 1000, 1000, 1000), 2, 3), [
      1 / 8, 2 / 8, 5 / 8, 1 / 3, 1 / 3, 1 / 3,
    ], 1e-15);
  });

  it('rowSoftmax: rows sum to 1', () => {
    const r = rng(1), rows = 9, cols = 37;
    const p = rowSoftmax(r.array(rows * cols, -30, 30), rows, cols);
    for (let i = 0; i < rows; i++) {
      let s = 0;
      for (let j = 0; j < cols; j++) { s += p[i * cols + j]!; expect(p[i * cols + j]!).toBeGreaterThanOrEqual(0); }
      expect(Math.abs(s - 1)).toBeLessThan(1e-14);
    }
  });

  it('layerNorm: hand case with weight and bias', () => {
    const s = Math.sqrt(1.5); // row [1,2,3]: mean 2, biased var 2/3
    expectClose(layerNorm(Float64Array.of(1, 2, 3), 1, 3, Float64Array.of(1, 2, 3), Float64Array.of(0, 1, -1), 0), [
      -s, 1, 3 * s - 1,
    ], 1e-15);
  });

  it('layerNorm: mean 0, var 1 with weight=1, bias=0', () => {
    const r = rng(2), rows = 5, cols = 64;
    const y = layerNorm(r.array(rows * cols, -4, 7), rows, cols, new Float64Array(cols).fill(1), new Float64Array(cols), 0);
    for (let i = 0; i < rows; i++) {
      const row = y.subarray(i * cols, (i + 1) * cols);
      const mean = row.reduce((a, b) => a + b, 0) / cols;
      const v = row.reduce((a, b) => a + (b - mean) ** 2, 0) / cols;
      expect(Math.abs(mean)).toBeLessThan(1e-14);
      expect(Math.abs(v - 1)).toBeLessThan(1e-13);
    }
  });

  it('matmul: hand case', () => {
    // [[1,2,3],[4,5,6]] @ [[7,8],[9,10],[11,12]] = [[58,64],[139,154]]
    expect(Array.from(matmul(Float64Array.of(1, 2, 3, 4, 5, 6), Float64Array.of(7, 8, 9, 10, 11, 12), 2, 3, 2)))
      .toEqual([58, 64, 139, 154]);
  });

  it('matmul: identity and transpose property (AB)^T = B^T A^T', () => {
    const r = rng(3), M = 4, K = 6, N = 5;
    const a = r.array(M * K, -1, 1), b = r.array(K * N, -1, 1);
    const t = (x: Float64Array, R: number, C: number) => Float64Array.from({ length: R * C }, (_, i) => x[(i % R) * C + Math.floor(i / R)]!);
    const eye = Float64Array.from({ length: K * K }, (_, i) => (i % (K + 1) === 0 ? 1 : 0));
    expect(Array.from(matmul(a, eye, M, K, K))).toEqual(Array.from(a));
    expectClose(t(matmul(a, b, M, K, N), M, N), matmul(t(b, K, N), t(a, M, K), N, K, M), 1e-15);
  });
});

describe('PoPE.forward (golden)', () => {
  for (const c of casesOf('PoPE.forward')) {
    it(c.name, () => {
      const p = c.params as { dim: number; theta: number; seq_len?: number; offset?: number };
      const positions = c.inputs.positions ? tensor(c, 'inputs', 'positions').data : undefined;
      const opts = { dim: p.dim, theta: p.theta, positions, seqLen: p.seq_len, offset: p.offset ?? 0 };
      const want = tensor(c, 'outputs', 'freqs').data;
      // The fixture's inv_freq is a float32 buffer (torch default dtype), the rest is float64.
      expectClose(popeFreqs({ ...opts, invFreqF32: true }), want);
      // Pure float64 inv_freq differs only by float32 rounding of inv_freq.
      expectClose(popeFreqs(opts), want, 1e-6);
      if (c.outputs.bias) expectClose(clampBias(tensor(c, 'inputs', 'raw_bias').data), tensor(c, 'outputs', 'bias').data, 0);
    });
  }

  it('clampBias clamps to [-2π, 0]', () => {
    expect(Array.from(clampBias(Float64Array.of(-7, -1, 0.5, 0, -2 * Math.PI)))).toEqual([-2 * Math.PI, -1, 0, 0, -2 * Math.PI]);
  });
});

describe('apply_pope_to_qk (golden)', () => {
  for (const c of casesOf('apply_pope_to_qk')) {
    it(c.name, () => {
      const p = c.params as { rotate_dim: number; to_magnitude?: Magnitude; return_complex?: boolean };
      const freqs = tensor(c, 'inputs', 'freqs').data, bias = tensor(c, 'inputs', 'bias').data;
      const base = { rotateDim: p.rotate_dim, toMagnitude: p.to_magnitude ?? 'softplus', returnComplex: p.return_complex ?? false };
      for (const [name, isKey] of [['q', false], ['k', true]] as const) {
        const x = tensor(c, 'inputs', name);
        const got = popeApply(x.data, shape4(x.shape), freqs, bias, { ...base, isKey });
        expectClose(got, tensor(c, 'outputs', name).data);
      }
    });
  }
});

describe('compute_attn_similarity (golden)', () => {
  for (const c of [...casesOf('compute_attn_similarity'), ...casesOf('compute_attn_similarity.backward')]) {
    it(`${c.name} (forward sim)`, () => {
      const q = tensor(c, 'inputs', 'q'), k = tensor(c, 'inputs', 'k');
      const sim = popeSimilarity(q.data, shape4(q.shape), k.data, shape4(k.shape),
        tensor(c, 'inputs', 'freqs').data, tensor(c, 'inputs', 'bias').data, { rotateDim: c.params.rotate_dim as number });
      expectClose(sim, tensor(c, 'outputs', 'sim').data);
    });
  }

  it('is invariant to shifting all positions by a constant', () => {
    const r = rng(4), B = 2, H = 4, Hkv = 2, Nq = 3, Nk = 6, D = 8, rot = 6;
    const q = r.array(B * H * Nq * D, -2, 2), k = r.array(B * Hkv * Nk * D, -2, 2);
    const bias = r.array(H * rot, -2 * Math.PI, 0); // already inside the clamp range
    const pos = [0, 1, 2, 5, 6, 9];
    const sim = (shift: number) => popeSimilarity(q, [B, H, Nq, D], k, [B, Hkv, Nk, D],
      popeFreqs({ dim: rot, theta: 100, positions: pos.map((x) => x + shift) }), bias, { rotateDim: rot });
    const s0 = sim(0);
    expectClose(sim(17.25), s0);
    expectClose(sim(-3), s0);
  });
});

describe('flash_attn_with_pope (golden forward)', () => {
  for (const c of [...casesOf('flash_attn_with_pope'), ...casesOf('flash_attn_with_pope.backward')]) {
    it(`${c.name}`, () => {
      const p = c.params as { rotate_dim: number; causal: boolean; softmax_scale?: number | null; layout: string };
      const bnhd = p.layout === 'bnhd';
      const get = (n: string) => {
        const t = tensor(c, 'inputs', n), s = shape4(t.shape);
        return bnhd ? { data: swap12(t.data, s), shape: [s[0], s[2], s[1], s[3]] as Shape4 } : { data: t.data, shape: s };
      };
      const q = get('q'), k = get('k'), v = get('v');
      const out = popeFlashAttention(q.data, q.shape, k.data, k.shape, v.data, v.shape,
        tensor(c, 'inputs', 'freqs').data, tensor(c, 'inputs', 'bias').data, {
          rotateDim: p.rotate_dim, causal: p.causal, softmaxScale: p.softmax_scale ?? null,
          keyPaddingMask: c.inputs.mask ? boolTensor(c, 'inputs', 'mask').data : null,
        });
      const [B, H, Nq, Dv] = [q.shape[0], q.shape[1], q.shape[2], v.shape[3]];
      expectClose(bnhd ? swap12(out, [B, H, Nq, Dv]) : out, tensor(c, 'outputs', 'out').data);
    });
  }

  it('fully masked rows output zeros; causal is bottom-right aligned', () => {
    const r = rng(5), B = 1, H = 2, Nq = 2, Nk = 4, D = 4;
    const q = r.array(B * H * Nq * D, -1, 1), k = r.array(B * H * Nk * D, -1, 1), v = r.array(B * H * Nk * D, -1, 1);
    const freqs = popeFreqs({ dim: D, seqLen: Nk });
    // Query 0 (position 2) sees keys 0..2; masking them leaves row 0 empty, row 1 sees only key 3.
    const out = popeFlashAttention(q, [B, H, Nq, D], k, [B, H, Nk, D], v, [B, H, Nk, D], freqs, null,
      { rotateDim: D, causal: true, keyPaddingMask: [false, false, false, true] });
    for (let h = 0; h < H; h++) {
      expect(Array.from(out.subarray((h * Nq) * D, (h * Nq + 1) * D))).toEqual([0, 0, 0, 0]);
      expectClose(out.subarray((h * Nq + 1) * D, (h * Nq + 2) * D), v.subarray((h * Nk + 3) * D, (h * Nk + 4) * D), 1e-15);
    }
  });

  it('matches explicit softmax(sim * scale) @ v built from the other references', () => {
    const r = rng(6), B = 1, H = 2, N = 5, D = 6, Dv = 3, rot = 4;
    const q = r.array(B * H * N * D, -1, 1), k = r.array(B * H * N * D, -1, 1), v = r.array(B * H * N * Dv, -1, 1);
    const freqs = popeFreqs({ dim: rot, seqLen: N }), bias = r.array(H * rot, -6, 0);
    const out = popeFlashAttention(q, [B, H, N, D], k, [B, H, N, D], v, [B, H, N, Dv], freqs, bias, { rotateDim: rot });
    const sim = popeSimilarity(q, [B, H, N, D], k, [B, H, N, D], freqs, bias, { rotateDim: rot });
    for (let h = 0; h < H; h++) {
      const attn = rowSoftmax(sim.subarray(h * N * N, (h + 1) * N * N).map((x) => x / Math.sqrt(D)), N, N);
      expectClose(out.subarray(h * N * Dv, (h + 1) * N * Dv), matmul(attn, v.subarray(h * N * Dv, (h + 1) * N * Dv), N, N, Dv), 1e-14);
    }
  });
});

describe('random', () => {
  it('is deterministic per seed and in range', () => {
    const a = rng(42).array(100, -2, 3), b = rng(42).array(100, -2, 3);
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(Array.from(rng(43).array(100, -2, 3))).not.toEqual(Array.from(a));
    for (const x of a) { expect(x).toBeGreaterThanOrEqual(-2); expect(x).toBeLessThan(3); }
    const r = rng(7);
    const n = Array.from({ length: 4000 }, () => r.normal());
    const mean = n.reduce((s, x) => s + x, 0) / n.length;
    const v = n.reduce((s, x) => s + (x - mean) ** 2, 0) / n.length;
    expect(Math.abs(mean)).toBeLessThan(0.1);
    expect(Math.abs(v - 1)).toBeLessThan(0.1);
  });
});
