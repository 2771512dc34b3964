// Per-kernel GPU times of the sample kernels (CUDA events, median of 20 after 3 warm-ups) on
// device-resident buffers, with the throughput each achieves. Sizes are moderate: these are the
// first, unoptimized PTX kernels; bench/ measures the flagship workloads.
import type { CudaDevice, LaunchTiming, TimingOptions } from '../../runtime/cuda/index.js';
import { toHost, cdiv } from '../../index.js';
import { vectorAdd } from '../../kernels/vector-add.js';
import { rowSoftmax } from '../../kernels/softmax.js';
import { layerNorm } from '../../kernels/layernorm.js';
import { matmul } from '../../kernels/matmul.js';
import { launchPopeFlashAttention, launchPopeApply, contiguous, popeFeatureWidth, type Shape4 } from '../../ops/pope-kernels.js';
import { rng } from '../reference/random.js';

export interface KernelTiming {
  readonly kernel: string;
  readonly shape: string;
  readonly medianMs: number;
  readonly throughput: string;
}

type Timer = (fn: () => void, o?: TimingOptions) => LaunchTiming;

export function timeSampleKernels(dev: CudaDevice, time: Timer): KernelTiming[] {
  const r = rng(1);
  const upload = (dtype: 'f32' | 'f16' | 'bf16', n: number, lo = -1, hi = 1) => dev.from({ dtype, data: toHost(dtype, r.array(n, lo, hi)) });
  const out: KernelTiming[] = [];
  const measure = (kernel: string, shape: string, fn: () => void, describe: (ms: number) => string): void => {
    const t = time(fn, { warmup: 3, iters: 20 });
    out.push({ kernel, shape, medianMs: t.medianMs, throughput: describe(t.medianMs) });
  };
  const gbps = (bytes: number) => (ms: number) => `${(bytes / ms / 1e6).toFixed(0)} GB/s`;
  const tflops = (flops: number) => (ms: number) => `${(flops / ms / 1e9).toFixed(2)} TFLOP/s`;

  {
    const n = 1 << 24;
    const x = upload('f32', n), y = upload('f32', n), z = dev.alloc('f32', n);
    measure('vectorAdd', `n=${n} f32`, () => vectorAdd.launch({ grid: cdiv(n, 1024), device: dev }, x, y, z, n, 1024), gbps(12 * n));
  }
  {
    const rows = 4096, cols = 1000;
    const x = upload('f32', rows * cols), y = dev.alloc('f32', rows * cols);
    measure('rowSoftmax', `${rows}x${cols} f32`, () => rowSoftmax.launch({ grid: rows, device: dev }, x, y, cols, cols, cols, 1024), gbps(8 * rows * cols));
  }
  {
    const rows = 4096, cols = 1000;
    const x = upload('f16', rows * cols), y = dev.alloc('f16', rows * cols), w = upload('f16', cols), b = upload('f16', cols);
    measure('layerNorm', `${rows}x${cols} f16`, () => layerNorm.launch({ grid: rows, device: dev }, x, y, w, b, cols, cols, 1e-5, 256), gbps(4 * rows * cols));
  }
  {
    const M = 1024, N = 1024, K = 1024;
    const a = upload('f16', M * K), b = upload('f16', K * N), c = dev.alloc('f32', M * N);
    measure('matmul', `${M}x${K}x${N} f16, 32x32x16 tiles`, () => matmul.launch({ grid: [M / 32, N / 32], device: dev }, a, b, c, M, N, K, K, 1, N, 1, N, 1, 32, 32, 16), tflops(2 * M * N * K));
    measure('matmul', `${M}x${K}x${N} f16, 64x64x32 tiles`, () => matmul.launch({ grid: [M / 64, N / 64], device: dev }, a, b, c, M, N, K, K, 1, N, 1, N, 1, 64, 64, 32), tflops(2 * M * N * K));
    const M2 = 4096;
    const a2 = upload('f16', M2 * M2), b2 = upload('f16', M2 * M2), c2 = dev.alloc('f32', M2 * M2);
    measure('matmul', `${M2}x${M2}x${M2} f16, 128x128x32 tiles, 8 warps`, () => matmul.launch({ grid: [M2 / 128, M2 / 128], numWarps: 8, device: dev }, a2, b2, c2, M2, M2, M2, M2, 1, M2, 1, M2, 1, 128, 128, 32), tflops(2 * M2 ** 3));
  }
  {
    const B = 1, H = 8, N = 1024, D = 64;
    const s: Shape4 = [B, H, N, D];
    const x = upload('bf16', B * H * N * D), f = dev.from(new Float32Array(N * D).map((_, i) => Math.floor(i / D) * 10000 ** (-(i % D) / D)));
    const o = dev.alloc('f32', B * H * N * 2 * D);
    measure('popeApply', `${B}x${H}x${N}x${D} bf16`, () => launchPopeApply(x, s, f, N, null, o, { rotateDim: D, isKey: false, device: dev }), gbps(B * H * N * D * (2 + 8)));
  }
  {
    const B = 4, H = 16, N = 4096, D = 64; // issue 6's first workload
    const s: Shape4 = [B, H, N, D];
    const q = upload('bf16', B * H * N * D), k = upload('bf16', B * H * N * D), v = upload('bf16', B * H * N * D);
    const f = dev.from(new Float32Array(N * D).map((_, i) => Math.floor(i / D) * 10000 ** (-(i % D) / D)));
    const bias = dev.from(new Float32Array(H * D).fill(-0.5));
    const o = dev.alloc('bf16', B * H * N * D);
    const features = { queries: dev.alloc('bf16', B * H * N * popeFeatureWidth(D, D)), keys: dev.alloc('bf16', B * H * N * popeFeatureWidth(D, D)) };
    for (const causal of [false, true]) {
      const flops = 2 * B * H * N * N * (2 * D + D) / (causal ? 2 : 1);
      // Keys rotated once by the pre-pass (its time included) with several tilings, and rotated in every query block.
      // (minBlocksPerSM caps registers so that more programs share a multiprocessor; numStages 1 turns the pipeline off.)
      const configs = [[128, 64, 8, true, 2, 2], [128, 64, 4, true, 2, 2], [256, 64, 8, true, 1, 2], [128, 64, 4, true, 1, 2], [64, 64, 4, true, 3, 2],
        [128, 64, 8, true, 1, 2], [128, 32, 8, true, 2, 2], [128, 64, 8, true, 2, 1], [64, 64, 4, false, 1, 2]] as const;
      for (const [blockM, blockN, numWarps, prePass, minBlocksPerSM, numStages] of configs) {

        measure('popeFlashAttention', `${B}x${H}x${N}x${D} bf16 ${causal ? 'causal' : 'full'} ${blockM}x${blockN}/${numWarps}w ${minBlocksPerSM}/SM ${numStages} stages keys rotated ${prePass ? 'once' : 'per block'}`, () =>
          launchPopeFlashAttention(q, s, contiguous(s), k, s, contiguous(s), v, contiguous(s), f, bias, o, contiguous(s),
            { rotateDim: D, causal, device: dev, blockM, blockN, numWarps, features: prePass ? features : undefined, minBlocksPerSM, numStages }), tflops(flops));
      }
    }
  }
  return out;
}
