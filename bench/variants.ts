// Kernel variants timed directly on a CUDA GPU (CUDA-event medians of 30 after 3 warm-ups), for choosing
// the launchers' defaults: the tilings of PoPE decoding (split-K on tensor cores and popeDecodeRow on CUDA
// cores), of the similarity from features and of the feature pre-pass, at issue 6's sizes. Inputs are
// device buffers (zeros or a fixed pattern: the instruction path does not depend on the values).
// Usage: bench-variants [decode-split] [decode-row] [similarity] [prepass] [flash] [flash-dims]   (all when none is named)
// On Hopper each tensor-core kernel is timed on wgmma (the default there) and on mma.sync
// (TILEJIT_WGMMA=0) for comparison.
import { toHost, type JITKernel } from '../index.js';
import { cudaDevice, timeLaunches } from '../runtime/cuda/index.js';
import { popeDecodeSplit, popeDecodeRow, popeDecodeCombine } from '../kernels/pope-decode.js';
import { popeSimilarityFromFeatures } from '../kernels/pope-similarity.js';
import { popeRowFeatures } from '../kernels/pope-features.js';
import { popeFlashAttention } from '../kernels/pope-flash-attention.js';
import { popeFeatureSplit } from '../ops/pope-kernels.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyKernel = JITKernel<(...args: any[]) => void>;
type Grid = [number] | [number, number] | [number, number, number];

const dev = cudaDevice(0);
const wanted = process.argv.slice(2);
const run = (name: string): boolean => wanted.length === 0 || wanted.includes(name);
const time = (label: string, kernel: AnyKernel, launch: { grid: Grid; numWarps: number; minBlocksPerSM?: number; numStages?: number }, args: unknown[], describe: (ms: number) => string): void => {
  try {
    const t = timeLaunches(() => kernel.launch({ ...launch, device: dev }, ...(args as never[])), { warmup: 3, iters: 30 });
    console.log(`${label.padEnd(52)} ${t.medianMs.toFixed(4)} ms  ${describe(t.medianMs)}`);
  } catch (e) {
    console.log(`${label.padEnd(52)} failed: ${(e as Error).message.slice(0, 300)}`);
  }
};
const tbps = (bytes: number) => (ms: number) => `${(bytes / ms / 1e9).toFixed(2)} TB/s`;
const tflops = (flops: number) => (ms: number) => `${(flops / ms / 1e9).toFixed(0)} TFLOP/s`;
/** Runs `f` on mma.sync and, on a Hopper GPU, again on wgmma, labelled. */
const bothProducts = (f: (products: string) => void): void => {
  const saved = process.env['TILEJIT_WGMMA'];
  process.env['TILEJIT_WGMMA'] = '0';
  try {
    f('mma.sync');
    if (dev.properties.arch !== 'sm_90') return;
    delete process.env['TILEJIT_WGMMA'];
    f('wgmma');
  } finally {
    if (saved === undefined) delete process.env['TILEJIT_WGMMA'];
    else process.env['TILEJIT_WGMMA'] = saved;
  }
};

// Decoding: q_len 1, k_len 32768, B 8, H 16, D 64, fp16, full rotation, with a key bias.
const B = 8, H = 16, Nk = 32768, D = 64;
const kvBytes = 2 * B * H * Nk * D * 2;
const decodeInputs = (): { q: unknown; k: unknown; v: unknown; freqs: unknown; bias: unknown } => ({
  q: dev.from({ dtype: 'f16', data: toHost('f16', Float64Array.from({ length: B * H * D }, (_, i) => Math.sin(i))) }),
  k: dev.alloc('f16', B * H * Nk * D).memset(0),
  v: dev.alloc('f16', B * H * Nk * D).memset(0),
  freqs: dev.from(new Float32Array(Nk * D).map((_, i) => Math.floor(i / D) * 10000 ** (-(i % D) / D))),
  bias: dev.from(new Float32Array(H * D).fill(-1)),
});
const partials = (splits: number) => [dev.alloc('f32', B * H * splits * 64), dev.alloc('f32', B * H * splits), dev.alloc('f32', B * H * splits)];

if (run('decode-split') || run('decode-row')) {
  const { q, k, v, freqs, bias } = decodeInputs();
  if (run('decode-split')) {
    console.log('popeDecodeSplit (16 stacked rows on tensor cores), B=8 H=16 k_len=32768 D=64 fp16:');
    for (const [name, chunk, BN, warps, mag, stages, minB] of [
      ['default', 1024, 64, 8, 'softplus'], ['relu', 1024, 64, 8, 'relu'], ['chunk 2048', 2048, 64, 8, 'softplus'], ['chunk 512', 512, 64, 8, 'softplus'],
      ['4 warps', 1024, 64, 4, 'softplus'], ['32-key tiles, 4 warps', 1024, 32, 4, 'softplus'], ['128-key tiles', 1024, 128, 8, 'softplus'],
      ['1 stage', 1024, 64, 8, 'softplus', 1], ['4 warps, 4/SM', 1024, 64, 4, 'softplus', undefined, 4],
    ] as Array<[string, number, number, number, string, number?, number?]>) {
      const S = Math.ceil(Nk / chunk);
      time(`  ${name}`, popeDecodeSplit as AnyKernel, { grid: [S, B * H], numWarps: warps, numStages: stages, minBlocksPerSM: minB },
        [q, k, v, freqs, bias, freqs, ...partials(S), H, 1, 1, Nk, D, D, 0.125, chunk, S,
          H * D, D, D, H * Nk * D, Nk * D, D, H * Nk * D, Nk * D, D, 0, 0, 0, true, false, false, mag, 16, BN, 64, 'f16'], tbps(kvBytes));
    }
  }
  if (run('decode-row')) {
    console.log('popeDecodeRow (one row per kv head on CUDA cores), same size:');
    for (const [heads, BN, chunk, minB] of [
      [4, 8, 256, 7], [4, 8, 512, 7], [4, 8, 1024, 7], [4, 8, 256, 8], [4, 8, 256, 4], [4, 8, 256, undefined], [2, 8, 256, 14],
      [4, 16, 256, 7], [4, 16, 512, 4], [1, 8, 256, 28], [4, 4, 256, 8], [8, 8, 512, 4],
    ] as Array<[number, number, number, number | undefined]>) {
      const S = Math.ceil(Nk / chunk);
      time(`  ${heads} heads/program, ${BN}-key tiles, chunk ${chunk}, ${minB ?? 'no'} programs/SM`, popeDecodeRow as AnyKernel,
        { grid: [(B * H) / heads, S], numWarps: heads, minBlocksPerSM: minB },
        [q, k, v, freqs, bias, freqs, ...partials(S), H, Nk, D, D, 0.125, chunk, S,
          H * D, D, H * Nk * D, Nk * D, D, H * Nk * D, Nk * D, D, 0, 0, true, false, 'softplus', true, heads, BN, 64], tbps(kvBytes));
    }
    for (const S of [128, 64, 32]) {
      const BS = Math.max(2, 2 ** Math.ceil(Math.log2(S)));
      time(`  popeDecodeCombine, ${S} chunks`, popeDecodeCombine as AnyKernel, { grid: [B * H], numWarps: Math.min(4, Math.max(1, (BS * 64) / 2048)) },
        [...partials(S), dev.alloc('f16', B * H * D), H, 1, D, S, H * D, D, D, BS, 64], () => '');
    }
  }
}

// Similarity from bf16 features (width 128): B=2 H=8 N=4096, f32 scores written.
const SB = 2, SH = 8, N = 4096, BF = 128;
if (run('similarity') || run('prepass')) {
  const qf = dev.alloc('bf16', SB * SH * N * BF).memset(0), kf = dev.alloc('bf16', SB * SH * N * BF).memset(0);
  if (run('similarity')) {
    console.log('popeSimilarityFromFeatures, B=2 H=8 N=4096, bf16 features of width 128:');
    const sim = dev.alloc('f32', SB * SH * N * N);
    bothProducts((products) => {
      for (const [BM, BN, warps, tiles, minB] of [
        [128, 64, 8, 16], [128, 64, 8, 4], [128, 64, 8, 32], [128, 64, 4, 16], [128, 128, 8, 8], [64, 64, 4, 16], [64, 128, 4, 8], [128, 64, 8, 16, 2], [64, 64, 4, 16, 4], [256, 64, 8, 16],
      ] as Array<[number, number, number, number, number?]>) {
        const per = BN * tiles;
        time(`  ${BM}x${BN} on ${warps} warps, ${per} keys/program${minB ? `, ${minB}/SM` : ''} (${products})`, popeSimilarityFromFeatures as AnyKernel,
          { grid: [Math.ceil(N / per), Math.ceil(N / BM), SB * SH], numWarps: warps, minBlocksPerSM: minB },
          [qf, kf, sim, SH, 1, N, N, per, SH * N * N, N * N, N, BM, BN, BF, 0], tbps(SB * SH * N * N * 4));
      }
    });
    sim.dispose();
  }
  if (run('prepass')) {
    console.log('popeRowFeatures (bf16 [2, 8, 4096, 64] -> width 128, with bias), bytes read + written:');
    const x = dev.alloc('bf16', SB * SH * N * D).memset(0), freqs = dev.alloc('f32', N * D).memset(0), bias = dev.alloc('f32', SH * D).memset(0);
    for (const warps of [8, 4])
      for (const rows of [64, 32, 16])
        time(`  ${rows} rows/program on ${warps} warps`, popeRowFeatures as AnyKernel, { grid: [Math.ceil(N / rows), SB * SH], numWarps: warps },
          [x, freqs, bias, qf, SH, N, D, D, 0, 1, SH * N * D, N * D, D, true, 'softplus', rows, 64, BF], tbps(SB * SH * N * (D * 2 + BF * 2)));
  }
}

// Flash attention on pre-pass features (the attention kernel alone): B=4 H=16 N=4096 bf16, D=64 with 128
// features ('flash'), and D=32 (64 features), D=128 (256 features) and D=64 at rot=32 (64 + 32 features,
// two score products) on the default products ('flash-dims').
function timeFlash(FD: number, rot: number, causals: readonly boolean[], tilings: ReadonlyArray<[number, number, number, number?]>, products: (f: (p: string) => void) => void): void {
  const FB = 4, FH = 16, FN = 4096, { main, rest } = popeFeatureSplit(FD, rot), FF = main + rest;
  const qf = dev.alloc('bf16', FB * FH * FN * FF).memset(0), kf = dev.alloc('bf16', FB * FH * FN * FF).memset(0);
  const v = dev.alloc('bf16', FB * FH * FN * FD).memset(0), out = dev.alloc('bf16', FB * FH * FN * FD);
  const freqs = dev.alloc('f32', FN * FD).memset(0);
  console.log(`popeFlashAttention on features, B=4 H=16 N=4096 D=${FD} rot=${rot} bf16, ${rest ? `${main} + ${rest}` : FF} features (FLOPs of issue 6: 2·B·H·N²·(2·rot + (D − rot) + D)):`);
  for (const causal of causals) {
    const flops = (2 * FB * FH * FN * FN * (2 * rot + (FD - rot) + FD)) / (causal ? 2 : 1);
    products((p) => {
      for (const [BM, BN, warps, minB] of tilings)
        time(`  ${causal ? 'causal ' : ''}${BM}x${BN} on ${warps} warps${minB ? `, ${minB}/SM` : ''} (${p})`, popeFlashAttention as AnyKernel,
          { grid: [Math.ceil(FN / BM), FB * FH], numWarps: warps, minBlocksPerSM: minB },
          [qf, kf, v, freqs, freqs, freqs, out, FH, 1, FN, FN, FD, rot, 0.125, FH * FN * FF, FN * FF, FF, FH * FN * FF, FN * FF, FF, FH * FN * FD, FN * FD, FD,
            FH * FN * FD, FN * FD, FD, 0, 0, 0, false, false, causal, 'softplus', BM, BN, FD, 'bf16', true, main, rest], tflops(flops));
    });
  }
  for (const b of [qf, kf, v, out, freqs]) b.dispose();
}
if (run('flash'))
  timeFlash(64, 64, [false, true], [[128, 64, 8], [128, 128, 8], [128, 64, 4, 2], [128, 128, 4], [64, 64, 4, 2], [64, 128, 4, 2], [256, 64, 8], [128, 64, 8, 2], [64, 64, 4, 3], [64, 128, 4, 3], [128, 128, 8, 2]], bothProducts);
if (run('flash-dims')) {
  const defaultProducts = (f: (p: string) => void): void => f(dev.ptxArch() === 'sm_90a' ? 'wgmma' : 'mma.sync');
  timeFlash(32, 32, [false], [[128, 64, 8, 2], [128, 128, 8, 2], [128, 128, 8], [256, 128, 8], [128, 256, 8], [64, 128, 4, 2], [128, 64, 4, 2], [128, 128, 8, 3], [64, 128, 4, 3], [64, 128, 4, 4]], defaultProducts);
  timeFlash(64, 32, [false], [[128, 64, 8, 2], [128, 128, 8, 2], [128, 64, 8]], defaultProducts);
  timeFlash(128, 128, [false], [[128, 64, 8], [128, 64, 8, 2], [64, 64, 4, 2], [128, 128, 8], [64, 128, 4]], defaultProducts);
}
