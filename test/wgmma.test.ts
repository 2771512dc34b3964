// Hopper's warpgroup products (wgmma, sm_90a) without a GPU: the compiler's shared tiles against the PTX
// ISA's descriptor semantics (as the simulator implements them), and the kernels lowered for sm_90a run
// in the thread-level simulator against float64 references on ragged random inputs.
import { describe, it, expect } from 'vitest';
import { toHost, fromHost, jit, tl, type DType } from '../index.js';
import { sharedOffset } from '../compiler/layouts/shared.js';
import { wgmmaDescriptor, wgmmaPlace, wgmmaSharedLayout, wgmmaTile, wgmmaTileBytes } from '../compiler/layouts/wgmma.js';
import { wgmmaElementAddress } from '../runtime/ptx-sim/simulator.js';
import { ptxSimulatorFor, ptxFor } from '../runtime/ptx-sim/device.js';
import { matmul } from '../kernels/matmul.js';
import { launchPopeFlashAttention, contiguous, popeFeatureWidth, type Shape4 } from '../ops/pope-kernels.js';
import * as ref from './reference/reference.js';
import { rng } from './reference/random.js';
import { testDevices } from './reference/devices.js';
import { getDevice } from '../runtime/device.js';
import type { CudaDevice } from '../runtime/cuda/index.js';
import { expectClose, halfProductTolerance } from './reference/compare.js';

// The sm_90a simulator, keeping the PTX of each kernel it ran (to see that wgmma was used).
const lastPtx = new Map<string, string>();
const simulator = ptxSimulatorFor('sm_90a');
const hopper = {
  ...simulator,
  launch(req: Parameters<typeof simulator.launch>[0]): void {
    simulator.launch(req);
    lastPtx.set(req.kernel.name, ptxFor(req.kernel, req.numWarps, 'sm_90a', req.numStages).ptx);
  },
};

describe('wgmma B tiles: where the compiler stores each element is where the descriptor makes the tensor cores read it', () => {
  // [rows, cols] stored tiles: K-major (rows = N, cols = K) and MN-major (rows = K, cols = N), covering
  // the 128-, 64- and 32-byte swizzles and tiles of several column blocks.
  const shapes: Array<[number, number, 'K' | 'MN']> = [
    [64, 128, 'K'], [32, 64, 'K'], [16, 32, 'K'], [24, 16, 'K'], [64, 256, 'K'],
    [64, 64, 'MN'], [32, 128, 'MN'], [16, 32, 'MN'], [48, 16, 'MN'], [64, 192, 'MN'],
  ];
  for (const [rows, cols, major] of shapes)
    it(`${major}-major [${rows}x${cols}]`, () => {
      const t = wgmmaTile(rows, cols, major)!;
      const sh = wgmmaSharedLayout(t);
      const base = 3 * 1024; // tiles start on 1024-byte boundaries
      const [K, N] = major === 'K' ? [cols, rows] : [rows, cols];
      const seen = new Set<number>();
      for (let ks = 0; ks < K / 16; ks++) {
        const desc = wgmmaDescriptor(t, ks);
        const lo = ((base + desc.offset) >> 4) | (desc.lboField << 16);
        for (let k = 0; k < 16; k++)
          for (let n = 0; n < N; n++) {
            const [row, col] = major === 'K' ? [n, ks * 16 + k] : [ks * 16 + k, n];
            const p = wgmmaPlace(t, row, col);
            const stored = base + 2 * sharedOffset(sh, p.row, p.col);
            const read = wgmmaElementAddress(lo, desc.hi, major === 'MN', k, n);
            if (read !== stored) expect.fail(`B[k=${ks * 16 + k}, n=${n}] stored at byte ${stored}, read from ${read}`);
            seen.add(stored);
          }
      }
      expect(seen.size).toBe(rows * cols); // every element has its own place
      expect(Math.max(...seen) - base).toBeLessThan(wgmmaTileBytes(t));
    });
});

// Two products in flight at once: s1's first use waits for its group only (wait_group 1), s2's for the rest.
const twoProducts = jit(function twoProducts(X: tl.Ptr, W1: tl.Ptr, W2: tl.Ptr, O1: tl.Ptr, O2: tl.Ptr, M: tl.i32, BM: tl.constexpr, K: tl.constexpr, N: tl.constexpr) {
  const rows = tl.programId(0) * BM + tl.arange(0, BM);
  const k = tl.arange(0, K), n = tl.row(tl.arange(0, N));
  const x = tl.load(X + tl.col(rows) * K + tl.row(k), { mask: tl.col(rows < M), other: 0 });
  const s1 = tl.dot(x, tl.load(W1 + tl.col(k) * N + n));
  const s2 = tl.dot(x, tl.load(W2 + tl.col(k) * N + n));
  tl.store(O1 + tl.col(rows) * N + n, s1 + 1, { mask: tl.col(rows < M) });
  tl.store(O2 + tl.col(rows) * N + n, s2, { mask: tl.col(rows < M) });
});

describe('kernels lowered for sm_90a (wgmma) in the thread-level simulator', () => {
  const r = rng(90);
  function input(dtype: DType, values: Float64Array) {
    const data = toHost(dtype, values);
    return { arg: { dtype, data }, exact: fromHost(dtype, data) };
  }

  it('waits are deferred to each product\'s first use: two groups in flight, the older one waited for alone', () => {
    const M = 100, K = 32, N = 32, BM = 64;
    const x = input('bf16', r.array(M * K, -1, 1)), w1 = input('bf16', r.array(K * N, -1, 1)), w2 = input('bf16', r.array(K * N, -1, 1));
    const o1 = new Float32Array(M * N), o2 = new Float32Array(M * N);
    twoProducts.launch({ grid: [Math.ceil(M / BM)], device: hopper, numWarps: 4 }, x.arg, w1.arg, w2.arg, o1, o2, M, BM, K, N);
    const want1 = ref.matmul(x.exact, w1.exact, M, K, N).map((v) => v + 1);
    expectClose(o1, want1, { rtol: 1e-5, atol: 1e-5 }, 'first product + 1');
    expectClose(o2, ref.matmul(x.exact, w2.exact, M, K, N), { rtol: 1e-5, atol: 1e-5 }, 'second product');
    const ptx = lastPtx.get('twoProducts')!;
    const waits = [...ptx.matchAll(/wgmma\.(commit_group|wait_group)\.sync\.aligned ?(\d*)/g)].map((m) => (m[1] === 'commit_group' ? 'commit' : `wait ${m[2]}`));
    expect(waits).toEqual(['commit', 'commit', 'wait 1', 'wait 0']);
  });

  it('matmul f16 and bf16 on 4 and 8 warps: ragged M, N, K, masked edges', () => {
    for (const dtype of ['f16', 'bf16'] as const)
      for (const [BM, BN, BK, warps] of [[64, 64, 32, 4], [128, 32, 16, 8], [64, 16, 64, 4]] as const) {
        const M = BM + 13, N = BN + 5, K = 3 * BK + 7;
        const a = input(dtype, r.array(M * K, -1, 1)), b = input(dtype, r.array(K * N, -1, 1));
        const c = new Float32Array(M * N);
        matmul.launch({ grid: [Math.ceil(M / BM), Math.ceil(N / BN)], device: hopper, numWarps: warps }, a.arg, b.arg, c, M, N, K, K, 1, N, 1, N, 1, BM, BN, BK);
        expectClose(c, ref.matmul(a.exact, b.exact, M, K, N), { rtol: 1e-5, atol: 1e-5 }, `matmul ${dtype} ${BM}x${BN}x${BK} on ${warps} warps`);
        expect(lastPtx.get('matmul')).toContain(`wgmma.mma_async.sync.aligned.m64n${BN}k16.f32.${dtype}.${dtype}`);
      }
  });

  it('popeFlashAttention: keys rotated once or per block, D 16/64/128, partial rotation, causal, GQA, ragged lengths', () => {
    const theta = 10000;
    // [D, rot]: features of 32, 128 and 256 columns (64-, 128-byte swizzles; two and four column
    // blocks), V of 16, 64 and 128 columns (32- and 128-byte swizzles; two column blocks).
    for (const [D, rot, dtype] of [[16, 8, 'bf16'], [64, 32, 'f16'], [128, 128, 'bf16']] as const) {
      const B = 1, H = 2, Hkv = 1, Nq = 70, Nk = 83;
      const q = input(dtype, r.array(B * H * Nq * D, -2, 2)), k = input(dtype, r.array(B * Hkv * Nk * D, -2, 2)), v = input(dtype, r.array(B * Hkv * Nk * D, -1, 1));
      const freqs = Float32Array.from(ref.popeFreqs({ dim: rot, theta, seqLen: Nk }));
      const bias = Float32Array.from(r.array(H * rot, -6, 0));
      const qs: Shape4 = [B, H, Nq, D], ks: Shape4 = [B, Hkv, Nk, D];
      // 64-query blocks on one warpgroup; with the pre-pass also 256 on two (two 64-row tiles per warpgroup).
      for (const [prePass, causal, blockN, blockM, numWarps] of [[true, false, 32, 64, 4], [true, true, 64, 64, 4], [false, false, 16, 64, 4], [true, true, 64, 256, 8]] as const) {
        if (blockM === 256 && D !== 64) continue;
        const out = new Float32Array(B * H * Nq * D);
        const scratch = (rows: number) => ({ dtype, data: toHost(dtype, new Float64Array(rows * popeFeatureWidth(D, rot)).fill(NaN)) });
        const features = prePass ? { queries: scratch(B * H * Nq), keys: scratch(B * Hkv * Nk) } : undefined;
        launchPopeFlashAttention(q.arg, qs, contiguous(qs), k.arg, ks, contiguous(ks), v.arg, contiguous(ks), freqs, bias, out, contiguous(qs), {
          rotateDim: rot, causal, softmaxScale: 0.3, device: hopper, features, blockM, blockN, numWarps,
        });
        const want = ref.popeFlashAttention(q.exact, qs, k.exact, ks, v.exact, ks, Float64Array.from(freqs), Float64Array.from(bias), { rotateDim: rot, causal, softmaxScale: 0.3 });
        const what = `flash ${dtype} D=${D} rot=${rot} causal=${causal} keys rotated ${prePass ? 'once' : 'per block'}, ${blockM}x${blockN} blocks on ${numWarps} warps`;
        expectClose(out, want, halfProductTolerance(dtype, want, { rtol: 1e-4, atol: 1e-4 }), what);
        // With the pre-pass both products run on wgmma: scores [64, blockN] with the query features (A,
        // converted once before the key loop) read from shared memory, and P·V [64, D] with P from
        // registers. Rotating in the kernel, the queries' fragments are computed in registers before the
        // loop, which wgmma must not read there: the scores stay on mma.sync.
        const ptx = lastPtx.get('popeFlashAttention') ?? '';
        expect(ptx, what).toContain(`wgmma.mma_async.sync.aligned.m64n${D}k16.f32.${dtype}.${dtype}`);
        expect(ptx, what).toContain('(A from registers, MN-major B)');
        if (prePass) {
          expect(ptx, what).toContain(`wgmma.mma_async.sync.aligned.m64n${blockN}k16.f32.${dtype}.${dtype}`);
          expect(ptx, what).toContain('(A from shared memory, K-major B)');
          expect(ptx, what).not.toMatch(/^\s*mma\.sync/m);
        } else expect(ptx, what).toMatch(/^\s*mma\.sync\.aligned\.m16n8k16/m);
      }
    }
  });
});

// On a Hopper GPU (where tensor-core dots run as wgmma unless TILEJIT_WGMMA=0): products against the
// float64 reference. The GPU run sets TILEJIT_TEST_DEVICES=cuda; elsewhere these are skipped. (Flash
// attention on wgmma is checked by the kernel and op tests, which run on the GPU's default lowering.)
describe.each(testDevices().filter((d) => d.startsWith('cuda')))('wgmma on %s (Hopper)', (device) => {
  const hopper = (getDevice(device) as CudaDevice).ptxArch() === 'sm_90a';
  it.skipIf(!hopper)(`matmul f16 and bf16, 4 and 8 warps, ragged edges: as exact as mma.sync${hopper ? '' : ' (skipped: not a Hopper GPU, or TILEJIT_WGMMA=0)'}`, () => {
    const r = rng(91);
    for (const dtype of ['f16', 'bf16'] as const)
      // BN = 16, 32, 64+: B in 32-, 64- and 128-byte swizzles.
      for (const [BM, BN, BK, warps] of [[64, 64, 32, 4], [128, 128, 64, 8], [64, 256, 16, 4], [64, 32, 32, 4], [128, 16, 64, 8]] as const) {
        const M = 3 * BM + 13, N = 2 * BN + 5, K = 5 * BK + 7;
        const a = toHost(dtype, r.array(M * K, -1, 1)), b = toHost(dtype, r.array(K * N, -1, 1));
        const c = new Float32Array(M * N);
        matmul.launch({ grid: [Math.ceil(M / BM), Math.ceil(N / BN)], device, numWarps: warps }, { dtype, data: a }, { dtype, data: b }, c, M, N, K, K, 1, N, 1, N, 1, BM, BN, BK);
        expectClose(c, ref.matmul(fromHost(dtype, a), fromHost(dtype, b), M, K, N), { rtol: 1e-5, atol: 1e-5 }, `matmul ${dtype} ${BM}x${BN}x${BK} on ${warps} warps`);
      }
  });
});
