// Host-side launchers of the PoPE kernels on raw buffers: they check shapes, derive strides, block
// sizes and the grid. The tensor-level op API builds on these.
import { popeApply } from '../kernels/pope-apply.js';
import { popeSimilarity, popeSimilarityFromFeatures } from '../kernels/pope-similarity.js';
import { popeFlashAttention } from '../kernels/pope-flash-attention.js';
import { popeRowFeatures } from '../kernels/pope-features.js';
import { autotune, type AutotuneConfig } from '../runtime/autotune.js';
import type { Magnitude } from '../kernels/pope-math.js';
import { resolveBuffer, type BufferArg } from '../runtime/buffers.js';
import { getDevice, type Device, type DeviceName } from '../runtime/device.js';
import { webgpuWorkgroupBudget, fitBlocks, fmaDotBytes } from './webgpu-tiles.js';

export type Shape4 = readonly [number, number, number, number];
/** Element strides of a 4-D tensor whose last axis is contiguous. */
export type Strides4 = readonly [number, number, number, 1];

export const contiguous = (s: Shape4): Strides4 => [s[1] * s[2] * s[3], s[2] * s[3], s[3], 1];
const nextPow2 = (n: number): number => 2 ** Math.ceil(Math.log2(Math.max(1, n)));
const blockDim = (d: number): number => Math.max(16, nextPow2(d));

function check(cond: boolean, msg: string): void {
  if (!cond) throw new RangeError(msg);
}

interface Common {
  readonly rotateDim: number;
  readonly toMagnitude?: Magnitude;
  readonly device?: DeviceName | Device;
  /** dtype of q/k (and v): f16/bf16 inputs run their products on tensor cores unless precision is 'f32'. */
  readonly inputDType?: string;
  readonly precision?: 'f32' | 'input';
}

/**
 * PoPE features of x [B, H, N, D] contiguous, written to out [B, H, N, D + rot], or with `complex`
 * to out [B, H, N, D, 2] as (real, imag) pairs (the tail as (x, 0)). `toMagnitude` may be a
 * kernel-language function.
 */
export function launchPopeApply(
  x: BufferArg, shape: Shape4, freqs: BufferArg, freqRows: number, bias: BufferArg | null, out: BufferArg,
  o: Common & { readonly isKey: boolean; readonly complex?: boolean },
): void {
  const [B, H, N, D] = shape;
  check(o.rotateDim >= 1 && o.rotateDim <= D, `rotateDim must be in [1, ${D}], got ${o.rotateDim}`);
  check(freqRows >= N, `freqs must have at least ${N} rows (one per position), got ${freqRows}`);
  const BLOCK_N = 16;
  popeApply.launch(
    { grid: [Math.ceil(N / BLOCK_N), B * H], device: o.device },
    x, freqs, bias ?? freqs, out, N, H, D, o.rotateDim, o.isKey ? 0 : freqRows - N,
    o.isKey && bias !== null, o.toMagnitude ?? 'softplus', o.complex ?? false, BLOCK_N, blockDim(D),
  );
}

/**
 * The feature pre-pass (kernels/pope-features.ts) of x [B, Hx, N, D] into dst [B·Hx, N, width]; the
 * bias (queries only) becomes a phase shift. 32-row programs on 4 warps: 0.018 ms for 2×8×4096 bf16
 * rows at D 64 on the H200, where every tiling tried took 0.0177-0.0187 ms (bench/variants.ts prepass).
 */
function launchRowFeatures(
  x: BufferArg, shape: Shape4, s: Strides4, freqs: BufferArg, bias: BufferArg | null, dst: BufferArg,
  o: Common & { readonly freqRowOffset: number; readonly scale: number },
): void {
  const [B, Hx, N, D] = shape, BLOCK_N = 32;
  popeRowFeatures.launch(
    { grid: [Math.ceil(N / BLOCK_N), B * Hx], device: o.device, numWarps: 4 },
    x, freqs, bias ?? freqs, dst, Hx, N, D, o.rotateDim, o.freqRowOffset, o.scale, s[0], s[1], s[2],
    bias !== null, o.toMagnitude ?? 'softplus', BLOCK_N, blockDim(D), popeFeatureWidth(D, o.rotateDim),
  );
}

/**
 * sim [B, H, Nq, Nk] (f32) of q [B, H, Nq, D] and k [B, Hkv, Nk, D]; freqs [Nk, rot]; bias [H, rot].
 * With `features` (scratch of popeFeatureWidth(D, rot) elements per row, in popeFeatureDType), a
 * pre-pass computes each query's and key's features once and a tiled product (128 × 64 tiles on
 * tensor cores for f16/bf16, 64 × 64 f32 products otherwise) writes the scores; without, one kernel
 * rotates 16 × 16 tiles of both (every key row once per query tile).
 */
export function launchPopeSimilarity(
  q: BufferArg, qShape: Shape4, qStrides: Strides4, k: BufferArg, kShape: Shape4, kStrides: Strides4,
  freqs: BufferArg, bias: BufferArg | null, sim: BufferArg,
  o: Common & { readonly features?: { readonly queries: BufferArg; readonly keys: BufferArg } },
): void {
  const [B, H, Nq, D] = qShape, [, Hkv, Nk] = kShape;
  checkQK(qShape, kShape, o.rotateDim);
  const f = o.features;
  if (f) {
    const split = popeFeatureSplit(D, o.rotateDim), BF = split.main + split.rest;
    launchRowFeatures(q, [B, H, Nq, D], qStrides, freqs, bias, f.queries, { ...o, freqRowOffset: Nk - Nq, scale: 1 });
    launchRowFeatures(k, [B, Hkv, Nk, D], kStrides, freqs, null, f.keys, { ...o, freqRowOffset: 0, scale: 1 });
    const tc = dotType(o, q) !== 'f32';
    // 128 × 64 tiles on 4 warps (32 query rows per warp, so each key fragment feeds two mma tiles):
    // on the H200 (B=2 H=8 N=4096, bench/variants.ts) 0.391 ms against 0.447 on 8 warps, the same as 8 warps
    // capped at 2 programs per SM (0.390), without a register cap.
    // On WebGPU (FMA, f32 operand tiles in workgroup memory): 64 × 64 halved until [BM, BF] · [BF, BN] fits.
    const budget = webgpuWorkgroupBudget(o.device);
    const { M: BM, N: BN } = budget ? fitBlocks(64, 64, (m, n) => fmaDotBytes(m, BF, n) <= budget(4)) : { M: tc ? 128 : 64, N: 64 };
    // Each program walks up to 16 key tiles (fewer when that leaves under ~2048 programs).
    const tilesM = Math.ceil(Nq / BM) * B * H, tilesN = Math.ceil(Nk / BN);
    const perProgram = BN * Math.max(1, Math.min(16, Math.floor((tilesM * tilesN) / 2048)));
    popeSimilarityFromFeatures.launch(
      { grid: [Math.ceil(Nk / perProgram), Math.ceil(Nq / BM), B * H], device: o.device, numWarps: 4 },
      f.queries, f.keys, sim, H, H / Hkv, Nq, Nk, perProgram, H * Nq * Nk, Nq * Nk, Nk, BM, BN, split.main, split.rest,
    );
    return;
  }
  const BM = 16, BN = 16;
  popeSimilarity.launch(
    { grid: [Math.ceil(Nq / BM), Math.ceil(Nk / BN), B * H], device: o.device },
    q, k, freqs, bias ?? freqs, sim, H, H / Hkv, Nq, Nk, D, o.rotateDim,
    qStrides[0], qStrides[1], qStrides[2], kStrides[0], kStrides[1], kStrides[2], H * Nq * Nk, Nq * Nk, Nk,
    bias !== null, o.toMagnitude ?? 'softplus', BM, BN, blockDim(D), dotType(o, q),
  );
}

/**
 * The input type of the score and value products: the tensors' own f16/bf16 (tensor cores, f32
 * accumulation) unless `precision: 'f32'` asks for f32 products; f32 inputs always use f32.
 */
function dotType(o: { readonly precision?: 'f32' | 'input'; readonly inputDType?: string }, q: BufferArg): 'f32' | 'f16' | 'bf16' {
  const d = o.inputDType ?? resolveBuffer(q)?.dtype;
  return o.precision !== 'f32' && (d === 'f16' || d === 'bf16') ? d : 'f32';
}

export interface FlashOptions extends Common {
  readonly causal?: boolean;
  readonly softmaxScale?: number;
  readonly blockM?: number;
  readonly blockN?: number;
  readonly numWarps?: number;
  /**
   * Choose the tiling by timing (autotune) on a CUDA GPU, once per shape and kept on disk: a first call
   * then compiles and times every candidate (seconds). Without it, flashTiling's measured choice. Not
   * on WebGPU, whose tiling is sized to its workgroup memory (no tensor cores to tune for).
   */
  readonly autotune?: boolean;
  /** Launch options of the attention kernel (see LaunchOptions). */
  readonly numStages?: number;
  readonly minBlocksPerSM?: number;
  /** A boolean (u8/i1) mask and its strides over (batch, query, key); stride 0 broadcasts an axis. */
  readonly mask?: { readonly data: BufferArg; readonly strides: readonly [number, number, number] };
  /**
   * Scratch for the PoPE features of queries [B, H, Nq, popeFeatureWidth(D, rot)] and keys [B, Hkv, Nk,
   * ...] in popeFeatureDType(...): when given, a pre-pass rotates every query and key once and attention
   * reads the features; otherwise the attention kernel rotates queries itself and keys in every query
   * block (cheaper only when there is one query block per key head, as in decoding).
   */
  readonly features?: { readonly queries: BufferArg; readonly keys: BufferArg };
}

/**
 * How the pre-pass's D + rot features of a row are stored and multiplied: one product of inner dimension
 * `main` (a power of two, 16 at least), plus one of `rest` when two powers of two cover the features
 * with less padding than one (D 64, rot 32: 64 + 32 rather than 128, a quarter less score work); rows
 * are `main + rest` wide.
 */
export function popeFeatureSplit(D: number, rot: number): { readonly main: number; readonly rest: number } {
  const n = D + rot, whole = blockDim(n);
  const main = Math.max(16, 2 ** Math.floor(Math.log2(n)));
  const rest = n > main ? blockDim(n - main) : 0;
  return rest && main + rest < whole ? { main, rest } : { main: whole, rest: 0 };
}
/** Width of a feature row for the pre-pass (the scratch's last axis): see popeFeatureSplit. */
export const popeFeatureWidth = (D: number, rot: number): number => {
  const { main, rest } = popeFeatureSplit(D, rot);
  return main + rest;
};
/** The element type the features are stored in: the products' input type. */
export const popeFeatureDType = (o: FlashOptions, q: BufferArg): 'f32' | 'f16' | 'bf16' => dotType(o, q);

/**
 * The tiling of a flash launch without autotuning, from the H200 measurements of bench/RESULTS.md
 * (D ≤ 64, tensor cores): on Hopper's wgmma (the products of a warpgroup, B and the queries read from
 * shared memory) 128 queries × 64 keys (128 for rows of 96 features or fewer) on 8 warps with two programs
 * per SM; on mma.sync 256 × 64 on 8
 * warps (32 rows per warp: each K/V fragment read from shared memory feeds two mma tiles) for long
 * non-causal sequences, 128 × 64 on 4 warps with two programs per SM otherwise; wider rows take
 * 128-query blocks on 8 warps; short sequences the smallest power of two that covers them. Warps
 * always split the queries only, so that P stays in registers. `rotateKeysOnce`: whether the pre-pass
 * pays (some key head is read by more than one query block).
 */
export function flashTiling(qShape: Shape4, kShape: Shape4, o: FlashOptions, q: BufferArg): FlashTiling {
  const budget = webgpuWorkgroupBudget(o.device);
  if (budget) return webgpuFlashTiling(qShape, kShape, o, budget);
  const [, H, Nq, D] = qShape, [, Hkv, Nk] = kShape;
  const tensorCores = dotType(o, q) !== 'f32';
  // Wide features (D > 64) hold too many registers per row: 64-query blocks there.
  const wide = popeFeatureWidth(D, o.rotateDim) > 128 || D > 64;
  const wgmma = tensorCores && getDevice(o.device).ptxArch?.() === 'sm_90a';
  if (wgmma && !wide && Nq >= 128 && o.blockM === undefined && o.blockN === undefined && o.numWarps === undefined) {
    // Rows of up to 96 features take 128-key blocks: the kernel alone at D=32 (64 features) 0.637 against
    // 0.727 ms, at D=64 rot=32 (64 + 32) 0.936 against 1.004 ms (bench/RESULTS.md, 16-byte copies).
    const BN = Math.min(popeFeatureWidth(D, o.rotateDim) <= 96 ? 128 : 64, Math.max(16, nextPow2(Nk)));
    return { BM: 128, BN, numWarps: 8, minBlocksPerSM: o.minBlocksPerSM ?? 2, rotateKeysOnce: Math.ceil(Nq / 128) * (H / Hkv) > 1 };
  }
  const long = tensorCores && !wide && Nq >= 256 && !o.causal;
  const BM = o.blockM ?? (long ? 256 : tensorCores && Nq >= 128 ? 128 : Math.min(64, Math.max(16, nextPow2(Nq))));
  const BN = o.blockN ?? Math.min(64, Math.max(16, nextPow2(Nk)));
  // 32 query rows per warp for D ≤ 64; 16 for wider rows, whose features and accumulator are twice the registers.
  const rowsPerWarp = BM >= 128 && !wide ? 32 : 16;
  const numWarps = o.numWarps ?? (tensorCores ? Math.max(1, Math.min(8, BM / rowsPerWarp)) : BM >= 64 ? 8 : 4);
  const minBlocksPerSM = o.minBlocksPerSM ?? (tensorCores && BM === 128 && !wide && o.numWarps === undefined ? 2 : undefined);
  return { BM, BN, numWarps, minBlocksPerSM, rotateKeysOnce: Math.ceil(Nq / BM) * (H / Hkv) > 1 };
}

export interface FlashTiling { BM: number; BN: number; numWarps: number; minBlocksPerSM?: number; rotateKeysOnce: boolean }

/**
 * flashTiling on WebGPU, where every dot runs on FMA with both operand tiles staged in workgroup memory
 * as f32: the f32 tiling (up to 64 × 64; 8 warps for 64-query blocks) halved until the larger dot fits
 * the device's budget: scores [BM, K] · [K, BN] with K the feature width when keys are rotated once
 * (the pre-pass) or BLOCK_D when the kernel rotates them, values [BM, BN] · [BN, BLOCK_D]. Keys are
 * rotated once when that pays (as elsewhere) and its wider tiles fit at all (D + rot up to 128 at
 * 16-row blocks in 32 KB). Explicit blockM, blockN and numWarps are kept; autotune does not apply.
 */
function webgpuFlashTiling(qShape: Shape4, kShape: Shape4, o: FlashOptions, budget: (numWarps: number) => number): FlashTiling {
  const [, H, Nq, D] = qShape, [, Hkv, Nk] = kShape;
  const BD = blockDim(D), BF = popeFeatureWidth(D, o.rotateDim);
  const warps = (BM: number): number => o.numWarps ?? (BM >= 64 ? 8 : 4);
  const tiles = (K: number) => fitBlocks(
    o.blockM ?? Math.min(64, Math.max(16, nextPow2(Nq))), o.blockN ?? Math.min(64, Math.max(16, nextPow2(Nk))),
    (BM, BN) => Math.max(fmaDotBytes(BM, K, BN), fmaDotBytes(BM, BN, BD)) <= budget(warps(BM)),
    { fixedM: o.blockM !== undefined, fixedN: o.blockN !== undefined },
  );
  const result = (t: { M: number; N: number }, rotateKeysOnce: boolean): FlashTiling =>
    ({ BM: t.M, BN: t.N, numWarps: warps(t.M), minBlocksPerSM: o.minBlocksPerSM, rotateKeysOnce });
  // With features the kernel reads them (the pre-pass's tiles); without, it rotates keys itself, and
  // rotateKeysOnce says whether a pre-pass would pay and fit (the caller then launches with features).
  if (o.features) return result(tiles(BF), true);
  const inKernel = tiles(BD);
  return result(inKernel, Math.ceil(Nq / inKernel.M) * (H / Hkv) > 1 && tiles(BF).fits);
}

/**
 * Flash attention on tensor cores with its tiling chosen by timing on a CUDA GPU (once per shape, kept
 * on disk; other devices take the first config left after pruning, the same as flashTiling's choice).
 */
const TENSOR_CORE_TILINGS: readonly AutotuneConfig[] = [
  { kwargs: { BLOCK_M: 128, BLOCK_N: 64 }, numWarps: 8, minBlocksPerSM: 2 },
  // 32 query rows per warp: each K/V fragment read from shared memory feeds two mma tiles.
  { kwargs: { BLOCK_M: 128, BLOCK_N: 64 }, numWarps: 4, minBlocksPerSM: 2 },
  { kwargs: { BLOCK_M: 256, BLOCK_N: 64 }, numWarps: 8 },
  { kwargs: { BLOCK_M: 64, BLOCK_N: 64 }, numWarps: 4, minBlocksPerSM: 3 },
  { kwargs: { BLOCK_M: 128, BLOCK_N: 32 }, numWarps: 8, minBlocksPerSM: 2 },
  { kwargs: { BLOCK_M: 128, BLOCK_N: 64 }, numWarps: 8 },
  { kwargs: { BLOCK_M: 64, BLOCK_N: 64 }, numWarps: 4 },
  { kwargs: { BLOCK_M: 64, BLOCK_N: 32 }, numWarps: 4 },
];
const tunedFlashAttention = autotune(popeFlashAttention, {
  configs: TENSOR_CORE_TILINGS,
  key: ['H', 'GROUP', 'Nq', 'Nk', 'D', 'rot', 'HAS_MASK', 'CAUSAL', 'DOT', 'PRE_ROTATED', 'BLOCK_D', 'BLOCK_F', 'BLOCK_F2'],
  // Wide rows (D > 64 or D + rot > 128) spill with 128-query blocks or a register cap.
  prune: (configs, a) => {
    const wide = (a['D'] as number) > 64 || (a['BLOCK_F'] as number) + (a['BLOCK_F2'] as number) > 128;
    const fit = configs.filter((c) => !wide || ((c.kwargs!['BLOCK_M'] as number) / (c.numWarps ?? 4) === 16 && c.minBlocksPerSM === undefined));
    return fit.filter((c) => (c.kwargs!['BLOCK_M'] as number) <= Math.max(64, a['Nq'] as number));
  },
});

/** out [B, H, Nq, D] (strided like q) of PoPE attention over q, k, v. */
export function launchPopeFlashAttention(
  q: BufferArg, qShape: Shape4, qStrides: Strides4, k: BufferArg, kShape: Shape4, kStrides: Strides4,
  v: BufferArg, vStrides: Strides4, freqs: BufferArg, bias: BufferArg | null, out: BufferArg, outStrides: Strides4, o: FlashOptions,
): void {
  const [B, H, Nq, D] = qShape, [, Hkv, Nk] = kShape;
  checkQK(qShape, kShape, o.rotateDim);
  const { BM, BN, numWarps, minBlocksPerSM } = flashTiling(qShape, kShape, o, q);
  const mask = o.mask;
  const split = popeFeatureSplit(D, o.rotateDim), BF = split.main + split.rest;
  const softmaxScale = o.softmaxScale ?? D ** -0.5;
  let queries = q, keys = k, qs: readonly number[] = qStrides, ks: readonly number[] = kStrides;
  const f = o.features;
  if (f) {
    launchRowFeatures(q, [B, H, Nq, D], qStrides, freqs, bias, f.queries, { ...o, freqRowOffset: Nk - Nq, scale: softmaxScale * Math.LOG2E });
    launchRowFeatures(k, [B, Hkv, Nk, D], kStrides, freqs, null, f.keys, { ...o, freqRowOffset: 0, scale: 1 });
    [queries, keys, qs, ks] = [f.queries, f.keys, [H * Nq * BF, Nq * BF, BF], [Hkv * Nk * BF, Nk * BF, BF]];
  }
  // Without a bias or a mask, freqs stands in for the pointer (never read: HAS_BIAS / HAS_MASK are false).
  // Not a host array: a GPU device stages host arrays and waits for the launch to copy them back.
  const head = [queries, keys, v, freqs, bias ?? freqs, mask?.data ?? freqs, out,
    H, H / Hkv, Nq, Nk, D, o.rotateDim, softmaxScale,
    qs[0]!, qs[1]!, qs[2]!, ks[0]!, ks[1]!, ks[2]!, vStrides[0], vStrides[1], vStrides[2],
    outStrides[0], outStrides[1], outStrides[2], mask?.strides[0] ?? 0, mask?.strides[1] ?? 0, mask?.strides[2] ?? 0,
    bias !== null, mask !== undefined, o.causal ?? false, o.toMagnitude ?? 'softplus'] as const;
  const tail = [blockDim(D), dotType(o, q), f !== undefined, split.main, split.rest] as const;
  if (o.autotune && dotType(o, q) !== 'f32' && Nq >= 64 && !webgpuWorkgroupBudget(o.device)) {
    tunedFlashAttention.launch({ grid: (meta) => [Math.ceil(Nq / (meta['BLOCK_M'] as number)), B * H], device: o.device }, ...head, ...tail);
    return;
  }
  popeFlashAttention.launch(
    { grid: [Math.ceil(Nq / BM), B * H], device: o.device, numWarps, numStages: o.numStages, minBlocksPerSM },
    ...head, BM, BN, ...tail,
  );
}

function checkQK(qShape: Shape4, kShape: Shape4, rot: number): void {
  const [B, H, Nq, D] = qShape, [Bk, Hkv, Nk, Dk] = kShape;
  check(B === Bk, `q and k must have the same batch size, got ${B} and ${Bk}`);
  check(D === Dk, `q and k must have the same head dim, got ${D} and ${Dk}`);
  check(Hkv >= 1 && H % Hkv === 0, `the number of query heads (${H}) must be a multiple of the key/value heads (${Hkv})`);
  check(Nq <= Nk, `q_len (${Nq}) must not exceed k_len (${Nk}); queries take the last positions`);
  check(rot >= 1 && rot <= D, `rotateDim must be in [1, ${D}], got ${rot}`);
}
