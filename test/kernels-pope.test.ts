// PoPE apply, similarity and flash attention kernels in the CPU interpreter, against the golden
// cases of the Python libraries and against float64 references on random ragged inputs.
import { describe, it, expect } from 'vitest';
import { toHost, fromHost, type DType } from '../index.js';
import { launchPopeApply, launchPopeSimilarity, launchPopeFlashAttention, contiguous, popeFeatureWidth, popeFeatureSplit, type Shape4, type Strides4 } from '../ops/pope-kernels.js';
import { launchPopeDecode, decodePlan, decodeScratchSizes } from '../ops/pope-decode.js';
import { popeSimilarityFromFeatures } from '../kernels/pope-similarity.js';
import * as ref from './reference/reference.js';
import { loadGolden, tensor, type GoldenCase } from './reference/golden.js';
import { rng } from './reference/random.js';
import { testDevices } from './reference/devices.js';
import { expectClose, F32, halfProductTolerance, type Tolerance } from './reference/compare.js';

const golden = loadGolden();
const f32 = (c: GoldenCase, name: string): Float32Array => Float32Array.from(tensor(c, 'inputs', name).data);
const shape4 = (c: GoldenCase, name: string): Shape4 => tensor(c, 'inputs', name).shape as unknown as Shape4;
const permute0213 = ([a, b, c, d]: Shape4): Shape4 => [a, c, b, d];

// Every kernel runs on the IR interpreter and through the PTX backend on the thread-level simulator;
// the GPU run sets TILEJIT_TEST_DEVICES=cuda.
describe.each(testDevices())('on %s', (device) => {
  describe('golden cases (PoPE-pytorch, float64) in f32', () => {
    for (const c of golden.filter((g) => g.op === 'apply_pope_to_qk' && !g.params['return_complex'])) {
      it(c.name, () => {
        const rot = c.params['rotate_dim'] as number;
        const mag = (c.params['to_magnitude'] ?? 'softplus') as 'softplus';
        const freqs = f32(c, 'freqs'), bias = f32(c, 'bias'), freqRows = freqs.length / rot;
        for (const [name, isKey] of [['q', false], ['k', true]] as const) {
          const shape = shape4(c, name);
          const out = new Float32Array(shape[0] * shape[1] * shape[2] * (shape[3] + rot));
          launchPopeApply(f32(c, name), shape, freqs, freqRows, bias, out, { rotateDim: rot, toMagnitude: mag, isKey, device });
          expectClose(out, tensor(c, 'outputs', name).data, F32, `${c.name} ${name}`);
        }
      });
    }

    for (const c of golden.filter((g) => g.name === 'similarity_gqa_kvcache_partial')) {
      it(c.name, () => {
        const qs = shape4(c, 'q'), ks = shape4(c, 'k');
        const sim = new Float32Array(qs[0] * qs[1] * qs[2] * ks[2]);
        launchPopeSimilarity(f32(c, 'q'), qs, contiguous(qs), f32(c, 'k'), ks, contiguous(ks), f32(c, 'freqs'), f32(c, 'bias'), sim,
          { rotateDim: c.params['rotate_dim'] as number, device });
        expectClose(sim, tensor(c, 'outputs', 'sim').data, F32, c.name);
      });
    }

    for (const c of golden.filter((g) => g.op === 'flash_attn_with_pope')) {
      it(c.name, () => {
        // 'bnhd' tensors are read in place through their strides.
        const bnhd = c.params['layout'] === 'bnhd';
        const logical = (name: string): Shape4 => (bnhd ? permute0213(shape4(c, name)) : shape4(c, name));
        const strides = (name: string): Strides4 => {
          const s = contiguous(shape4(c, name));
          return bnhd ? [s[0], s[2], s[1], 1] : s;
        };
        const qs = logical('q'), ks = logical('k');
        const out = new Float32Array(qs[0] * qs[1] * qs[2] * qs[3]);
        const mask = c.inputs['mask'] ? { data: Uint8Array.from(tensor(c, 'inputs', 'mask').data), strides: [ks[2], 0, 1] as const } : undefined;
        launchPopeFlashAttention(f32(c, 'q'), qs, strides('q'), f32(c, 'k'), ks, strides('k'), f32(c, 'v'), strides('v'),
          f32(c, 'freqs'), f32(c, 'bias'), out, strides('q'), {
            rotateDim: c.params['rotate_dim'] as number, causal: c.params['causal'] as boolean,
            softmaxScale: (c.params['softmax_scale'] as number | null) ?? undefined, mask, device,
          });
        expectClose(out, tensor(c, 'outputs', 'out').data, F32, c.name);
      });
    }
  });

  /** Random inputs rounded to `dtype`, with their exact float64 values for the reference. */
  function input(dtype: DType, values: Float64Array) {
    const data = toHost(dtype, values);
    return { arg: { dtype, data }, exact: fromHost(dtype, data) };
  }
  // Inputs are rounded to the dtype and the reference sees the rounded values, so f32 arithmetic
  // matches closely. Products on tensor cores (f16/bf16 inputs) round each rotated feature and each
  // softmax weight to the dtype: their error is a fraction of the dtype's precision times the size of
  // the outputs (c · rms(expected)), as for any half-precision attention.
  const tolerance: Record<'f32' | 'f16' | 'bf16', Tolerance> = { f32: { rtol: 1e-4, atol: 1e-4 }, f16: { rtol: 1e-4, atol: 1e-4 }, bf16: { rtol: 1e-4, atol: 1e-4 } };
  const productTolerance = (dtype: 'f32' | 'f16' | 'bf16', want: ArrayLike<number>): Tolerance => halfProductTolerance(dtype, want, tolerance.f32);

  describe.each(['f32', 'f16', 'bf16'] as const)('random ragged inputs in %s (compute in f32)', (dtype) => {
    const r = rng(dtype.length * 101 + 7);
    const theta = 10000;

    it('popeApply: queries (last positions, no bias) and keys (bias), partial rotation, relu/exp/softplus', () => {
      const B = 2, H = 3, Nk = 21, Nq = 5, D = 24, rot = 10;
      const freqs = ref.popeFreqs({ dim: rot, theta, seqLen: Nk });
      const bias = r.array(H * rot, -8, 1); // the kernel clamps to [-2π, 0]
      for (const mag of ['softplus', 'relu', 'exp'] as const)
        for (const [N, isKey] of [[Nq, false], [Nk, true]] as const) {
          const x = input(dtype, r.array(B * H * N * D, -3, 3));
          const out = new Float32Array(B * H * N * (D + rot));
          launchPopeApply(x.arg, [B, H, N, D], Float32Array.from(freqs), Nk, Float32Array.from(bias), out, { rotateDim: rot, toMagnitude: mag, isKey, device });
          const want = ref.popeApply(x.exact, [B, H, N, D], Float64Array.from(Float32Array.from(freqs)), ref.clampBias(Float64Array.from(Float32Array.from(bias))), { rotateDim: rot, toMagnitude: mag, isKey });
          expectClose(out, want, tolerance[dtype], `${mag} ${isKey ? 'keys' : 'queries'}`);
        }
    });

    it('popeSimilarity: grouped-query heads, q_len < k_len, ragged sizes', () => {
      const B = 2, H = 4, Hkv = 2, Nq = 19, Nk = 37, D = 20, rot = 12;
      const q = input(dtype, r.array(B * H * Nq * D, -2, 2)), k = input(dtype, r.array(B * Hkv * Nk * D, -2, 2));
      const freqs = Float32Array.from(ref.popeFreqs({ dim: rot, theta, seqLen: Nk }));
      const bias = Float32Array.from(r.array(H * rot, -6, 0));
      const sim = new Float32Array(B * H * Nq * Nk);
      launchPopeSimilarity(q.arg, [B, H, Nq, D], contiguous([B, H, Nq, D]), k.arg, [B, Hkv, Nk, D], contiguous([B, Hkv, Nk, D]), freqs, bias, sim, { rotateDim: rot, device });
      const want = ref.popeSimilarity(q.exact, [B, H, Nq, D], k.exact, [B, Hkv, Nk, D], Float64Array.from(freqs), Float64Array.from(bias), { rotateDim: rot });
      expectClose(sim, want, productTolerance(dtype, want), 'similarity');
      // The same with f32 products (precision: 'f32') keeps f32 accuracy.
      const sim32 = new Float32Array(B * H * Nq * Nk);
      launchPopeSimilarity(q.arg, [B, H, Nq, D], contiguous([B, H, Nq, D]), k.arg, [B, Hkv, Nk, D], contiguous([B, Hkv, Nk, D]), freqs, bias, sim32, { rotateDim: rot, device, precision: 'f32' });
      expectClose(sim32, want, tolerance[dtype], 'similarity with f32 products');
    });

    // D + rot = 28 features padded to 32 (one product), and 40 as 32 + 16 (two products, 8 padding columns):
    // the NaN-filled scratch shows any padding the pre-pass leaves unwritten.
    it.each([[20, 8], [24, 16]])('popeSimilarity from features (pre-pass once per row, then a tiled product): D %i, rot %i, GQA, q_len < k_len, ragged', (D, rot) => {
      const B = 2, H = 4, Hkv = 2, Nq = 19, Nk = 137;
      const qs: Shape4 = [B, H, Nq, D], ks: Shape4 = [B, Hkv, Nk, D];
      const q = input(dtype, r.array(B * H * Nq * D, -2, 2)), k = input(dtype, r.array(B * Hkv * Nk * D, -2, 2));
      const freqs = Float32Array.from(ref.popeFreqs({ dim: rot, theta, seqLen: Nk }));
      const bias = Float32Array.from(r.array(H * rot, -6, 0));
      const want = ref.popeSimilarity(q.exact, qs, k.exact, ks, Float64Array.from(freqs), Float64Array.from(bias), { rotateDim: rot });
      const BF = popeFeatureWidth(D, rot), split = popeFeatureSplit(D, rot);
      expect(BF).toBe(rot === 16 ? 48 : 32);
      for (const precision of ['input', 'f32'] as const) {
        const featureType: DType = precision === 'f32' ? 'f32' : dtype;
        const scratch = (rows: number) => ({ dtype: featureType, data: toHost(featureType, new Float64Array(rows * BF).fill(NaN)) });
        const features = { queries: scratch(B * H * Nq), keys: scratch(B * Hkv * Nk) };
        const sim = new Float32Array(B * H * Nq * Nk);
        launchPopeSimilarity(q.arg, qs, contiguous(qs), k.arg, ks, contiguous(ks), freqs, bias, sim, { rotateDim: rot, device, precision, features });
        const tol = precision === 'f32' ? tolerance[dtype] : productTolerance(dtype, want);
        expectClose(sim, want, tol, `similarity from features, ${precision} products`);
        // The same features through programs that each walk several key tiles (two 64-key tiles, then the ragged rest).
        const again = new Float32Array(B * H * Nq * Nk).fill(NaN);
        const BM = featureType === 'f32' ? 64 : 128;
        popeSimilarityFromFeatures.launch({ grid: [Math.ceil(Nk / 128), Math.ceil(Nq / BM), B * H], device, numWarps: featureType === 'f32' ? 4 : 8 },
          features.queries, features.keys, again, H, H / Hkv, Nq, Nk, 128, H * Nq * Nk, Nq * Nk, Nk, BM, 64, split.main, split.rest);
        expectClose(again, want, tol, `similarity from features, ${precision} products, 128 keys per program`);
      }
    });

    it('popeDecode (split-K): chunks with a remainder, GQA rows stacked in M, causal, masks, partial rotation, q_len < k_len', () => {
      const Nk = 300, D = 24, rot = 16, B = 2;
      const freqs = Float32Array.from(ref.popeFreqs({ dim: rot, theta, seqLen: Nk }));
      for (const [H, Hkv, Nq] of [[4, 2, 3], [4, 1, 1]] as const) {
        const qs: Shape4 = [B, H, Nq, D], ks: Shape4 = [B, Hkv, Nk, D];
        const q = input(dtype, r.array(B * H * Nq * D, -2, 2)), k = input(dtype, r.array(B * Hkv * Nk * D, -2, 2)), v = input(dtype, r.array(B * Hkv * Nk * D, -1, 1));
        const bias = Float32Array.from(r.array(H * rot, -6, 0));
        // Key padding that empties the whole last chunk of batch 1, and a (batch, query, key) mask.
        const pad = Array.from({ length: B * Nk }, (_, i) => (i < Nk ? i % 5 !== 2 : i % Nk < 250));
        const m3 = Array.from({ length: B * Nq * Nk }, (_, i) => (i * 7) % 3 !== 0);
        const masks = [
          { name: 'no mask', arg: undefined, want: {} },
          { name: 'key padding', arg: { data: Uint8Array.from(pad, Number), strides: [Nk, 0, 1] as const }, want: { keyPaddingMask: pad } },
          { name: '3-D mask', arg: { data: Uint8Array.from(m3, Number), strides: [Nq * Nk, Nk, 1] as const }, want: { mask: (b: number, i: number, j: number) => m3[(b * Nq + i) * Nk + j]! } },
        ];
        expect(decodePlan(qs, ks, 128).splits).toBe(3); // 128 + 128 + 44 keys
        for (const causal of [false, true])
          for (const m of masks) {
            const n = decodeScratchSizes(qs, ks, 128);
            const scratch = { out: new Float32Array(n.out).fill(NaN), m: new Float32Array(n.stats).fill(NaN), l: new Float32Array(n.stats).fill(NaN) };
            const out = new Float32Array(B * H * Nq * D);
            launchPopeDecode(q.arg, qs, contiguous(qs), k.arg, ks, contiguous(ks), v.arg, contiguous(ks), freqs, bias, out, contiguous(qs),
              { rotateDim: rot, causal, softmaxScale: 0.2, mask: m.arg, device, scratch, chunk: 128 });
            const want = ref.popeFlashAttention(q.exact, qs, k.exact, ks, v.exact, ks, Float64Array.from(freqs), Float64Array.from(bias),
              { rotateDim: rot, causal, softmaxScale: 0.2, ...m.want });
            expectClose(out, want, productTolerance(dtype, want), `decode H=${H} Hkv=${Hkv} Nq=${Nq} causal=${causal} ${m.name}`);
          }
      }
    });

    it('popeDecodeRow (one query row per kv head, CUDA cores): 4 and 2 heads per program, chunks with a remainder shorter than a key tile, masks, causal, partial and full rotation, softplus/relu/exp', () => {
      const B = 2, Nk = 300;
      for (const [H, D, rot] of [[4, 24, 16], [6, 32, 32]] as const) {
        const qs: Shape4 = [B, H, 1, D], ks: Shape4 = [B, H, Nk, D];
        const freqs = Float32Array.from(ref.popeFreqs({ dim: rot, theta, seqLen: Nk }));
        const q = input(dtype, r.array(B * H * D, -2, 2)), k = input(dtype, r.array(B * H * Nk * D, -2, 2)), v = input(dtype, r.array(B * H * Nk * D, -1, 1));
        const bias = Float32Array.from(r.array(H * rot, -6, 0));
        // Key padding that empties the whole last chunk of batch 1, a (q_len, k_len) and a (batch, q_len, k_len) mask.
        const pad = Array.from({ length: B * Nk }, (_, i) => (i < Nk ? i % 5 !== 2 : i % Nk < 250));
        const m2 = Array.from({ length: Nk }, (_, j) => j % 3 !== 1);
        const m3 = Array.from({ length: B * Nk }, (_, i) => (i * 7) % 3 !== 0);
        const none1 = Array.from({ length: B * Nk }, (_, i) => i < Nk && i % 2 === 0); // batch 1 sees no key: zeros
        const masks = [
          { name: 'no mask', arg: undefined, want: {} },
          { name: 'key padding', arg: { data: Uint8Array.from(pad, Number), strides: [Nk, 0, 1] as const }, want: { keyPaddingMask: pad } },
          { name: '2-D mask', arg: { data: Uint8Array.from(m2, Number), strides: [0, Nk, 1] as const }, want: { mask: (_b: number, _i: number, j: number) => m2[j]! } },
          { name: '3-D mask', arg: { data: Uint8Array.from(m3, Number), strides: [Nk, Nk, 1] as const }, want: { mask: (b: number, _i: number, j: number) => m3[b * Nk + j]! } },
          { name: 'batch 1 fully masked', arg: { data: Uint8Array.from(none1, Number), strides: [Nk, 0, 1] as const }, want: { keyPaddingMask: none1 } },
        ];
        // 128-key chunks: 128 + 128 + 44, the last one read as the key tile ending at key 300; and the default plan.
        const plan = decodePlan(qs, ks, 128);
        expect([plan.row, plan.splits, plan.BN, plan.numWarps]).toEqual([true, 3, 8, H === 4 ? 4 : 2]);
        const runs = [
          ...[false, true].flatMap((causal) => masks.map((m) => ({ causal, m, mag: 'softplus' as const, chunk: 128 as number | undefined }))),
          ...(['relu', 'exp'] as const).map((mag) => ({ causal: false, m: masks[1]!, mag, chunk: 128 as number | undefined })),
          { causal: true, m: masks[0]!, mag: 'softplus' as const, chunk: undefined },
        ];
        for (const { causal, m, mag, chunk } of runs) {
          const n = decodeScratchSizes(qs, ks, chunk);
          const scratch = { out: new Float32Array(n.out).fill(NaN), m: new Float32Array(n.stats).fill(NaN), l: new Float32Array(n.stats).fill(NaN) };
          const out = new Float32Array(B * H * D).fill(NaN);
          launchPopeDecode(q.arg, qs, contiguous(qs), k.arg, ks, contiguous(ks), v.arg, contiguous(ks), freqs, bias, out, contiguous(qs),
            { rotateDim: rot, causal, softmaxScale: 0.2, toMagnitude: mag, mask: m.arg, device, scratch, chunk });
          const want = ref.popeFlashAttention(q.exact, qs, k.exact, ks, v.exact, ks, Float64Array.from(freqs), Float64Array.from(bias),
            { rotateDim: rot, causal, softmaxScale: 0.2, toMagnitude: mag, ...m.want });
          expectClose(out, want, tolerance[dtype], `decode row H=${H} D=${D} rot=${rot} ${mag} causal=${causal} ${m.name} chunk ${chunk ?? `default (${decodePlan(qs, ks).chunk})`}`);
        }
      }
    });

    it('popeFlashAttention: causal, key padding mask, softmax scale, GQA, partial rotation, q_len < k_len', () => {
      const B = 2, H = 4, Hkv = 1, Nq = 23, Nk = 41, D = 24, rot = 16;
      const q = input(dtype, r.array(B * H * Nq * D, -2, 2)), k = input(dtype, r.array(B * Hkv * Nk * D, -2, 2)), v = input(dtype, r.array(B * Hkv * Nk * D, -1, 1));
      const freqs = Float32Array.from(ref.popeFreqs({ dim: rot, theta, seqLen: Nk }));
      const bias = Float32Array.from(r.array(H * rot, -6, 0));
      const pad = Array.from({ length: B * Nk }, (_, i) => i % Nk < Nk - 3 * (Math.floor(i / Nk) + 1) || (i % 7 === 0));
      const qs: Shape4 = [B, H, Nq, D], ks: Shape4 = [B, Hkv, Nk, D];
      // Keys rotated in every query block, and once by the pre-pass (features in the products' input type).
      const featureType: DType = dtype;
      // 16-key blocks make several iterations, so the next block's tiles load while one is used; without
      // a padding mask, the blocks every row sees entirely skip the masking.
      for (const causal of [false, true])
        for (const [prePass, blockN, padded] of [[false, undefined, true], [true, undefined, true], [true, 16, true], [true, 16, false], [false, 16, false]] as const) {
          const out = new Float32Array(B * H * Nq * D);
          const scratch = (rows: number) => ({ dtype: featureType, data: toHost(featureType, new Float64Array(rows * popeFeatureWidth(D, rot)).fill(NaN)) });
          const features = prePass ? { queries: scratch(B * H * Nq), keys: scratch(B * Hkv * Nk) } : undefined;
          launchPopeFlashAttention(q.arg, qs, contiguous(qs), k.arg, ks, contiguous(ks), v.arg, contiguous(ks), freqs, bias, out, contiguous(qs), {
            rotateDim: rot, causal, softmaxScale: 0.2, mask: padded ? { data: Uint8Array.from(pad, Number), strides: [Nk, 0, 1] } : undefined, device, features, blockN,
          });
          const want = ref.popeFlashAttention(q.exact, qs, k.exact, ks, v.exact, ks, Float64Array.from(freqs), Float64Array.from(bias),
            { rotateDim: rot, causal, softmaxScale: 0.2, keyPaddingMask: padded ? pad : undefined });
          expectClose(out, want, productTolerance(dtype, want), `flash causal=${causal} keys rotated ${prePass ? 'once' : 'per block'}, ${blockN ?? 'default'}-key blocks${padded ? ', padding mask' : ''}`);
        }
    });
  });

  // The tilings the op layer picks on a GPU (on Hopper both products run as wgmma), at sizes with several
  // query and key blocks and ragged ends. Not on the simulator, for time: test/wgmma.test.ts runs the
  // same lowering there at smaller sizes.
  describe.skipIf(device === 'ptx-sim')('flash attention at the GPU tilings (bf16 features, keys rotated once)', () => {
    const r = rng(64);
    for (const [D, rot] of [[64, 64], [64, 32], [32, 32], [128, 128]] as const)
      it(`D=${D} rot=${rot}: 256x64, 128x64 and 128x128 query x key blocks on 8 warps, 128x128 and 64x64 on 4; causal and not`, () => {
        const B = 1, H = 2, Hkv = 1, Nq = 300, Nk = 333, dtype: DType = 'bf16';
        const data = (n: number, lo: number, hi: number) => {
          const d = toHost(dtype, r.array(n, lo, hi));
          return { arg: { dtype, data: d }, exact: fromHost(dtype, d) };
        };
        const q = data(B * H * Nq * D, -2, 2), k = data(B * Hkv * Nk * D, -2, 2), v = data(B * Hkv * Nk * D, -1, 1);
        const freqs = Float32Array.from(ref.popeFreqs({ dim: rot, seqLen: Nk }));
        const bias = Float32Array.from(r.array(H * rot, -6, 0));
        const qs: Shape4 = [B, H, Nq, D], ks: Shape4 = [B, Hkv, Nk, D];
        const scratch = (rows: number) => ({ dtype, data: toHost(dtype, new Float64Array(rows * popeFeatureWidth(D, rot)).fill(NaN)) });
        for (const causal of [false, true]) {
          const want = ref.popeFlashAttention(q.exact, qs, k.exact, ks, v.exact, ks, Float64Array.from(freqs), Float64Array.from(bias), { rotateDim: rot, causal });
          for (const [blockM, blockN, numWarps] of [[256, 64, 8], [128, 64, 8], [128, 128, 8], [128, 128, 4], [64, 64, 4]] as const) {
            if (D === 128 && blockM * blockN > 128 * 64) continue; // wide rows take small tiles (flashTiling)
            const out = new Float32Array(B * H * Nq * D);
            launchPopeFlashAttention(q.arg, qs, contiguous(qs), k.arg, ks, contiguous(ks), v.arg, contiguous(ks), freqs, bias, out, contiguous(qs), {
              rotateDim: rot, causal, device, features: { queries: scratch(B * H * Nq), keys: scratch(B * Hkv * Nk) }, blockM, blockN, numWarps,
            });
            expectClose(out, want, halfProductTolerance('bf16', want, F32), `causal=${causal} ${blockM}x${blockN} on ${numWarps} warps`);
          }
        }
      });
  });

  describe('flash attention masks and invariants (f32)', () => {
    const r = rng(5);
    const B = 2, H = 2, Nq = 9, Nk = 13, D = 16, rot = 16;
    const qs: Shape4 = [B, H, Nq, D], ks: Shape4 = [B, H, Nk, D];
    const q = Float32Array.from(r.array(B * H * Nq * D, -2, 2)), k = Float32Array.from(r.array(B * H * Nk * D, -2, 2)), v = Float32Array.from(r.array(B * H * Nk * D, -1, 1));
    const freqs = Float32Array.from(ref.popeFreqs({ dim: rot, seqLen: Nk }));
    const exact = (a: Float32Array): Float64Array => Float64Array.from(a);
    const run = (mask?: { data: Uint8Array; strides: readonly [number, number, number] }, fr = freqs): Float32Array => {
      const out = new Float32Array(B * H * Nq * D);
      launchPopeFlashAttention(q, qs, contiguous(qs), k, ks, contiguous(ks), v, contiguous(ks), fr, null, out, contiguous(qs), { rotateDim: rot, mask, device });
      return out;
    };

    it('a (q_len, k_len) mask and a (batch, q_len, k_len) mask, with fully masked rows giving zeros', () => {
      const m2 = Array.from({ length: Nq * Nk }, (_, i) => Math.floor(i / Nk) !== 3 && (i * 7) % 5 !== 0);
      const m3 = Array.from({ length: B * Nq * Nk }, (_, i) => (i * 11) % 3 !== 0 && Math.floor(i / Nk) % Nq !== 6);
      const got2 = run({ data: Uint8Array.from(m2, Number), strides: [0, Nk, 1] });
      const got3 = run({ data: Uint8Array.from(m3, Number), strides: [Nq * Nk, Nk, 1] });
      expectClose(got2, ref.popeFlashAttention(exact(q), qs, exact(k), ks, exact(v), ks, exact(freqs), null, { rotateDim: rot, mask: (_b, i, j) => m2[i * Nk + j]! }), F32, '2-D mask');
      expectClose(got3, ref.popeFlashAttention(exact(q), qs, exact(k), ks, exact(v), ks, exact(freqs), null, { rotateDim: rot, mask: (b, i, j) => m3[(b * Nq + i) * Nk + j]! }), F32, '3-D mask');
      for (let d = 0; d < D; d++) expect(got2[3 * D + d]).toBe(0); // row 3 of (b 0, h 0) sees no key
    });

    it('is invariant to shifting every position by the same amount', () => {
      const shifted = Float32Array.from(ref.popeFreqs({ dim: rot, positions: Array.from({ length: Nk }, (_, i) => i + 1000) }));
      expectClose(run(undefined, shifted), run(), { rtol: 1e-3, atol: 2e-4 }, 'shift invariance');
    });
  });
});

describe('popeFeatureSplit: the pre-pass row as one or two power-of-two products', () => {
  it.each([
    // [D, rot, main, rest]: two products only where they pad less than one.
    [64, 64, 128, 0], [64, 32, 64, 32], [32, 32, 64, 0], [128, 64, 128, 64], [64, 8, 64, 16], [64, 48, 128, 0], [8, 4, 16, 0], [24, 16, 32, 16], [20, 8, 32, 0],
  ])('D %i, rot %i: %i + %i features', (D, rot, main, rest) => {
    expect(popeFeatureSplit(D, rot)).toEqual({ main, rest });
    expect(popeFeatureWidth(D, rot)).toBe(main + rest);
    expect(main + rest).toBeGreaterThanOrEqual(D + rot);
  });
});
