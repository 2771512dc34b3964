// Every sample kernel on WebGPU (Dawn; on CI the llvmpipe adapter of Mesa 25), against the same float64
// references and tolerances as test/kernels-basic.test.ts and test/kernels-pope.test.ts, in f32, f16
// and bf16. Inputs are uploaded (or passed as host arrays, which a launch uploads: the kernel only reads
// them), outputs are WebGpuBuffers read back with `await buffer.read()`. Without a Vulkan driver the
// tests are skipped with a message saying how to get one.
import { describe, it, expect } from 'vitest';
import { vectorAdd } from '../kernels/vector-add.js';
import { rowSoftmax } from '../kernels/softmax.js';
import { layerNorm } from '../kernels/layernorm.js';
import { matmul } from '../kernels/matmul.js';
import { launchPopeApply, launchPopeSimilarity, launchPopeFlashAttention, contiguous, type Shape4, type Strides4 } from '../ops/pope-kernels.js';
import { launchPopeDecode, decodePlan, decodeScratchSizes } from '../ops/pope-decode.js';
import { toHost, fromHost, cdiv, type DType, type TypedArray } from '../index.js';
import type { WebGpuBuffer } from '../runtime/webgpu/index.js';
import * as ref from './reference/reference.js';
import { loadGolden, tensor, type GoldenCase } from './reference/golden.js';
import { rng } from './reference/random.js';
import { webgpuForTests } from './reference/devices.js';
import { expectClose, F32, halfProductTolerance, type Tolerance } from './reference/compare.js';

const { device: gpu, skipReason } = await webgpuForTests();
const device = 'webgpu' as const;

if (!gpu) {
  describe('WebGPU kernels', () => {
    it.skip(skipReason, () => undefined);
  });
}

/** Inputs rounded to `dtype` as stored, and the same values in float64 for the reference. */
function input(dtype: DType, values: Float64Array) {
  const data = toHost(dtype, values);
  return { arg: { dtype, data }, exact: fromHost(dtype, data) };
}
const out = (dtype: DType, n: number): WebGpuBuffer => gpu!.alloc(dtype, n);
const read = async (b: WebGpuBuffer): Promise<Float64Array> => fromHost(b.dtype, (await b.read()) as TypedArray);

const outTol: Record<'f32' | 'f16' | 'bf16', Tolerance> = {
  f32: F32,
  f16: { rtol: 2e-3, atol: 1e-3 },
  bf16: { rtol: 1.6e-2, atol: 1e-2 },
};
const nextPow2 = (n: number): number => 2 ** Math.ceil(Math.log2(n));

describe.skipIf(!gpu)(`on ${gpu?.name ?? 'webgpu'}`, () => {
  describe.each(['f32', 'f16', 'bf16'] as const)('basic kernels in %s', (dtype) => {
    it('vectorAdd on a ragged length', async () => {
      const r = rng(3);
      const n = 1000 + Math.floor(r.uniform(0, 100));
      const x = input(dtype, r.array(n, -1, 1)), y = input(dtype, r.array(n, -1, 1));
      const z = out(dtype, n);
      vectorAdd.launch({ grid: cdiv(n, 128), device }, gpu!.from(x.arg), y.arg, z, n, 128);
      const want = toHost(dtype, Float64Array.from(x.exact, (v, i) => v + y.exact[i]!)); // one rounding, as stored
      expect(await read(z)).toEqual(fromHost(dtype, want));
    });

    it('rowSoftmax matches float64 on ragged rows', async () => {
      const r = rng(11);
      const rows = 7, cols = 37 + Math.floor(r.uniform(0, 20));
      const x = input(dtype, r.array(rows * cols, -4, 4));
      const y = out(dtype, rows * cols);
      rowSoftmax.launch({ grid: rows, device }, x.arg, y, cols, cols, cols, nextPow2(cols));
      expectClose(await read(y), ref.rowSoftmax(x.exact, rows, cols), outTol[dtype], 'softmax');
    });

    it('layerNorm matches float64 with rows longer than the block', async () => {
      const r = rng(12);
      const rows = 5, cols = 100 + Math.floor(r.uniform(0, 30));
      const x = input(dtype, r.array(rows * cols, -3, 5));
      const w = input(dtype, r.array(cols, 0.5, 1.5)), b = input(dtype, r.array(cols, -1, 1));
      const y = out(dtype, rows * cols);
      layerNorm.launch({ grid: rows, device }, x.arg, y, w.arg, b.arg, cols, cols, 1e-5, 32);
      expectClose(await read(y), ref.layerNorm(x.exact, rows, cols, w.exact, b.exact, 1e-5), outTol[dtype], 'layernorm');
    });

    it('matmul matches float64 on ragged M, N, K and a transposed B', async () => {
      const r = rng(13);
      const M = 37, N = 29, K = 45;
      const a = input(dtype, r.array(M * K, -1, 1));
      const bT = input(dtype, r.array(N * K, -1, 1));
      const c = out('f32', M * N);
      matmul.launch({ grid: [Math.ceil(M / 16), Math.ceil(N / 32)], device }, a.arg, bT.arg, c, M, N, K, K, 1, 1, K, N, 1, 16, 32, 16);
      const b = new Float64Array(K * N);
      for (let k = 0; k < K; k++) for (let n = 0; n < N; n++) b[k * N + n] = bT.exact[n * K + k]!;
      expectClose(await read(c), ref.matmul(a.exact, b, M, K, N), { rtol: 1e-5, atol: 1e-5 }, 'matmul');
    });
  });

  // f16/bf16 dots run on FMA on WebGPU; the renderer's emulation of mma.sync and ldmatrix (through
  // workgroup memory) is kept working on request.
  it.each(['f16', 'bf16'] as const)('matmul in %s through the emulated tensor-core path', async (dtype) => {
    const r = rng(14);
    const M = 37, N = 29, K = 45;
    const a = input(dtype, r.array(M * K, -1, 1)), b = input(dtype, r.array(K * N, -1, 1));
    const c = out('f32', M * N);
    const previous = gpu!.configure({ tensorCores: 'emulate' });
    try {
      matmul.launch({ grid: [Math.ceil(M / 32), Math.ceil(N / 32)], device }, a.arg, b.arg, c, M, N, K, K, 1, N, 1, N, 1, 32, 32, 16);
      const got = await read(c);
      const wgsl = [...(matmul as unknown as { cache: Map<string, { artifacts: Map<string, { wgsl?: string }> }> }).cache.values()]
        .flatMap((k) => [...k.artifacts.entries()]).filter(([key, w]) => key.startsWith('wgsl:') && key.includes(':emulate:') && w.wgsl).map(([, w]) => w.wgsl!);
      expect(wgsl.some((w) => w.includes(`fn mma_m16n8k16_${dtype}(`))).toBe(true);
      expectClose(got, ref.matmul(a.exact, b.exact, M, K, N), { rtol: 1e-5, atol: 1e-5 }, 'matmul');
    } finally {
      gpu!.configure(previous);
    }
  });

  it('a kernel whose workgroup memory exceeds the adapter\'s is refused at launch, saying so', () => {
    // The f32 operand tiles of a 64 × 64 block with BLOCK_K = K take 4 · (64·K + K·64) bytes.
    const K = 2 ** Math.ceil(Math.log2(gpu!.context.limits.maxComputeWorkgroupStorageSize / 512 + 1));
    expect(() => matmul.launch({ grid: [1, 1], device }, new Float32Array(64 * K), new Float32Array(K * 64), out('f32', 64 * 64), 64, 64, K, K, 1, 64, 1, 64, 1, 64, 64, K))
      .toThrow(/kernel 'matmul' on webgpu .*: \d+ bytes of workgroup memory \(numWarps 4\) exceed the adapter's \d+; launch it with smaller blocks/);
  });

  const golden = loadGolden();
  const f32 = (c: GoldenCase, name: string): Float32Array => Float32Array.from(tensor(c, 'inputs', name).data);
  const shape4 = (c: GoldenCase, name: string): Shape4 => tensor(c, 'inputs', name).shape as unknown as Shape4;
  const permute0213 = ([a, b, c, d]: Shape4): Shape4 => [a, c, b, d];

  describe('PoPE golden cases (PoPE-pytorch, float64) in f32', () => {
    for (const c of golden.filter((g) => g.op === 'apply_pope_to_qk' && !g.params['return_complex'])) {
      it(c.name, async () => {
        const rot = c.params['rotate_dim'] as number;
        const mag = (c.params['to_magnitude'] ?? 'softplus') as 'softplus';
        const freqs = f32(c, 'freqs'), bias = f32(c, 'bias'), freqRows = freqs.length / rot;
        for (const [name, isKey] of [['q', false], ['k', true]] as const) {
          const shape = shape4(c, name);
          const o = out('f32', shape[0] * shape[1] * shape[2] * (shape[3] + rot));
          launchPopeApply(f32(c, name), shape, freqs, freqRows, bias, o, { rotateDim: rot, toMagnitude: mag, isKey, device });
          expectClose(await read(o), tensor(c, 'outputs', name).data, F32, `${c.name} ${name}`);
        }
      });
    }

    for (const c of golden.filter((g) => g.name === 'similarity_gqa_kvcache_partial')) {
      it(c.name, async () => {
        const qs = shape4(c, 'q'), ks = shape4(c, 'k');
        const sim = out('f32', qs[0] * qs[1] * qs[2] * ks[2]);
        launchPopeSimilarity(f32(c, 'q'), qs, contiguous(qs), f32(c, 'k'), ks, contiguous(ks), f32(c, 'freqs'), f32(c, 'bias'), sim,
          { rotateDim: c.params['rotate_dim'] as number, device });
        expectClose(await read(sim), tensor(c, 'outputs', 'sim').data, F32, c.name);
      });
    }

    for (const c of golden.filter((g) => g.op === 'flash_attn_with_pope')) {
      it(c.name, async () => {
        const bnhd = c.params['layout'] === 'bnhd';
        const logical = (name: string): Shape4 => (bnhd ? permute0213(shape4(c, name)) : shape4(c, name));
        const strides = (name: string): Strides4 => {
          const s = contiguous(shape4(c, name));
          return bnhd ? [s[0], s[2], s[1], 1] : s;
        };
        const qs = logical('q'), ks = logical('k');
        const o = out('f32', qs[0] * qs[1] * qs[2] * qs[3]);
        const mask = c.inputs['mask'] ? { data: Uint8Array.from(tensor(c, 'inputs', 'mask').data), strides: [ks[2], 0, 1] as const } : undefined;
        launchPopeFlashAttention(f32(c, 'q'), qs, strides('q'), f32(c, 'k'), ks, strides('k'), f32(c, 'v'), strides('v'),
          f32(c, 'freqs'), f32(c, 'bias'), o, strides('q'), {
            rotateDim: c.params['rotate_dim'] as number, causal: c.params['causal'] as boolean,
            softmaxScale: (c.params['softmax_scale'] as number | null) ?? undefined, mask, device,
          });
        expectClose(await read(o), tensor(c, 'outputs', 'out').data, F32, c.name);
      });
    }
  });

  // As in test/kernels-pope.test.ts: f32 arithmetic matches closely; products on (emulated) tensor cores
  // round each rotated feature and softmax weight to f16/bf16, an error of c · rms(expected).
  const tolerance: Tolerance = { rtol: 1e-4, atol: 1e-4 };
  const productTolerance = (dtype: 'f32' | 'f16' | 'bf16', want: ArrayLike<number>): Tolerance => halfProductTolerance(dtype, want, tolerance);

  describe.each(['f32', 'f16', 'bf16'] as const)('PoPE on random ragged inputs in %s (compute in f32)', (dtype) => {
    const r = rng(dtype.length * 101 + 7);
    const theta = 10000;

    it('popeApply: queries and keys, partial rotation, relu/exp/softplus', async () => {
      const B = 2, H = 3, Nk = 21, Nq = 5, D = 24, rot = 10;
      const freqs = ref.popeFreqs({ dim: rot, theta, seqLen: Nk });
      const bias = r.array(H * rot, -8, 1);
      for (const mag of ['softplus', 'relu', 'exp'] as const)
        for (const [N, isKey] of [[Nq, false], [Nk, true]] as const) {
          const x = input(dtype, r.array(B * H * N * D, -3, 3));
          const o = out('f32', B * H * N * (D + rot));
          launchPopeApply(gpu!.from(x.arg), [B, H, N, D], Float32Array.from(freqs), Nk, Float32Array.from(bias), o, { rotateDim: rot, toMagnitude: mag, isKey, device });
          const want = ref.popeApply(x.exact, [B, H, N, D], Float64Array.from(Float32Array.from(freqs)), ref.clampBias(Float64Array.from(Float32Array.from(bias))), { rotateDim: rot, toMagnitude: mag, isKey });
          expectClose(await read(o), want, tolerance, `${mag} ${isKey ? 'keys' : 'queries'}`);
        }
    });

    it('popeSimilarity: grouped-query heads, q_len < k_len, ragged sizes', async () => {
      const B = 2, H = 4, Hkv = 2, Nq = 19, Nk = 37, D = 20, rot = 12;
      const q = input(dtype, r.array(B * H * Nq * D, -2, 2)), k = input(dtype, r.array(B * Hkv * Nk * D, -2, 2));
      const freqs = Float32Array.from(ref.popeFreqs({ dim: rot, theta, seqLen: Nk }));
      const bias = Float32Array.from(r.array(H * rot, -6, 0));
      const sim = out('f32', B * H * Nq * Nk);
      launchPopeSimilarity(q.arg, [B, H, Nq, D], contiguous([B, H, Nq, D]), k.arg, [B, Hkv, Nk, D], contiguous([B, Hkv, Nk, D]), freqs, bias, sim, { rotateDim: rot, device });
      const want = ref.popeSimilarity(q.exact, [B, H, Nq, D], k.exact, [B, Hkv, Nk, D], Float64Array.from(freqs), Float64Array.from(bias), { rotateDim: rot });
      expectClose(await read(sim), want, productTolerance(dtype, want), 'similarity');
      const sim32 = out('f32', B * H * Nq * Nk);
      launchPopeSimilarity(q.arg, [B, H, Nq, D], contiguous([B, H, Nq, D]), k.arg, [B, Hkv, Nk, D], contiguous([B, Hkv, Nk, D]), freqs, bias, sim32, { rotateDim: rot, device, precision: 'f32' });
      expectClose(await read(sim32), want, tolerance, 'similarity with f32 products');
    });

    it('popeFlashAttention: causal, key padding mask, softmax scale, GQA, partial rotation, q_len < k_len', async () => {
      const B = 2, H = 4, Hkv = 1, Nq = 23, Nk = 41, D = 24, rot = 16;
      const q = input(dtype, r.array(B * H * Nq * D, -2, 2)), k = input(dtype, r.array(B * Hkv * Nk * D, -2, 2)), v = input(dtype, r.array(B * Hkv * Nk * D, -1, 1));
      const freqs = Float32Array.from(ref.popeFreqs({ dim: rot, theta, seqLen: Nk }));
      const bias = Float32Array.from(r.array(H * rot, -6, 0));
      const pad = Array.from({ length: B * Nk }, (_, i) => i % Nk < Nk - 3 * (Math.floor(i / Nk) + 1) || (i % 7 === 0));
      const qs: Shape4 = [B, H, Nq, D], ks: Shape4 = [B, Hkv, Nk, D];
      for (const causal of [false, true]) {
        const o = out('f32', B * H * Nq * D);
        launchPopeFlashAttention(q.arg, qs, contiguous(qs), k.arg, ks, contiguous(ks), v.arg, contiguous(ks), freqs, bias, o, contiguous(qs), {
          rotateDim: rot, causal, softmaxScale: 0.2, mask: { data: Uint8Array.from(pad, Number), strides: [Nk, 0, 1] }, device,
        });
        const want = ref.popeFlashAttention(q.exact, qs, k.exact, ks, v.exact, ks, Float64Array.from(freqs), Float64Array.from(bias),
          { rotateDim: rot, causal, softmaxScale: 0.2, keyPaddingMask: pad });
        expectClose(await read(o), want, productTolerance(dtype, want), `flash causal=${causal}`);
      }
    });

    it('popeDecodeRow (split-K decoding, one query row per kv head): 2 heads per program, chunks with a remainder, key padding, partial and full rotation', async () => {
      const B = 2, H = 2, Nk = 150;
      for (const [D, rot] of [[24, 16], [32, 32]] as const) {
        const qs: Shape4 = [B, H, 1, D], ks: Shape4 = [B, H, Nk, D];
        const q = input(dtype, r.array(B * H * D, -2, 2)), k = input(dtype, r.array(B * H * Nk * D, -2, 2)), v = input(dtype, r.array(B * H * Nk * D, -1, 1));
        const freqs = Float32Array.from(ref.popeFreqs({ dim: rot, theta, seqLen: Nk }));
        const bias = Float32Array.from(r.array(H * rot, -6, 0));
        const pad = Array.from({ length: B * Nk }, (_, i) => (i < Nk ? i % 5 !== 2 : i % Nk < 120)); // batch 1: the last chunk sees nothing
        expect(decodePlan(qs, ks, 64)).toMatchObject({ row: true, splits: 3, numWarps: 2 }); // 64 + 64 + 22 keys
        const n = decodeScratchSizes(qs, ks, 64);
        const scratch = { out: out('f32', n.out), m: out('f32', n.stats), l: out('f32', n.stats) };
        const o = out('f32', B * H * D);
        launchPopeDecode(q.arg, qs, contiguous(qs), k.arg, ks, contiguous(ks), v.arg, contiguous(ks), freqs, bias, o, contiguous(qs),
          { rotateDim: rot, softmaxScale: 0.2, mask: { data: Uint8Array.from(pad, Number), strides: [Nk, 0, 1] }, device, scratch, chunk: 64 });
        const want = ref.popeFlashAttention(q.exact, qs, k.exact, ks, v.exact, ks, Float64Array.from(freqs), Float64Array.from(bias),
          { rotateDim: rot, softmaxScale: 0.2, keyPaddingMask: pad });
        expectClose(await read(o), want, tolerance, `decode row D=${D} rot=${rot}`);
      }
    });
  });
});
