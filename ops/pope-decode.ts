// Host-side launchers of split-K PoPE attention for short query lengths (kernels/pope-decode.ts):
// the key axis is cut into chunks, each (chunk, batch, kv head) computes partial softmax triples for
// all query rows of its kv head, and a second kernel combines them. One query row per kv head (q_len 1,
// as many kv heads as query heads) takes the CUDA-core kernel popeDecodeRow; stacked rows the
// tensor-core kernel popeDecodeSplit.
import { popeDecodeSplit, popeDecodeCombine, popeDecodeRow } from '../kernels/pope-decode.js';
import { popeFeatureDType, type FlashOptions, type Shape4, type Strides4 } from './pope-kernels.js';
import type { BufferArg } from '../runtime/buffers.js';
import type { Device, DeviceName } from '../runtime/device.js';
import { webgpuWorkgroupBudget, fitBlocks, fmaDotBytes } from './webgpu-tiles.js';

const nextPow2 = (n: number): number => 2 ** Math.ceil(Math.log2(Math.max(1, n)));
const blockDim = (d: number): number => Math.max(16, nextPow2(d));

/** Query lengths up to this take the split-K path in flashAttnWithPope. */
export const DECODE_MAX_QUERIES = 16;
/** The most query rows (query heads per kv head × queries) one split-K program stacks in M. */
const DECODE_MAX_ROWS = 64;
/** Programs the key split aims at: several waves of the largest GPUs (132 SMs × several programs each). */
const TARGET_PROGRAMS = 4096;
/** The most chunks (the combine kernel reads all of a row's partials in one tile). */
const MAX_SPLITS = 128;

/**
 * Whether the split-K kernels can take this attention on `device` (default: the default device): short
 * queries, few query heads per kv head, and on WebGPU popeDecodeSplit's tiles fitting its workgroup
 * memory (popeDecodeRow holds no tile there: at most a few KB of cross-warp reduction slots).
 */
export function decodeApplies(qShape: Shape4, kShape: Shape4, device?: DeviceName | Device): boolean {
  const rows = (qShape[1] / kShape[1]) * qShape[2];
  return qShape[2] <= DECODE_MAX_QUERIES && rows <= DECODE_MAX_ROWS &&
    (decodeRowApplies(qShape, kShape) || keyBlock(rowBlock(qShape, kShape), qShape[3], device) !== undefined);
}

/** All query rows of a kv head in one M tile, 16 at least. */
const rowBlock = (qShape: Shape4, kShape: Shape4): number => Math.max(16, nextPow2((qShape[1] / kShape[1]) * qShape[2]));

/**
 * The key tile and warps: 64 keys on 8 warps, 32 on 4 warps for D > 64; on WebGPU (FMA dots, f32
 * operand tiles in workgroup memory) halved until [BM, BLOCK_D] · [BLOCK_D, BN] and [BM, BN] ·
 * [BN, BLOCK_D] fit the device's budget, undefined when not even 16 keys do (D = 128 with 64 rows).
 */
function keyBlock(BM: number, D: number, device: DeviceName | Device | undefined): { BN: number; numWarps: number } | undefined {
  const warps = (BN: number): number => (BN === 64 ? 8 : 4);
  const BN = D > 64 ? 32 : 64;
  const budget = webgpuWorkgroupBudget(device);
  // One 16-row M tile: 4 warps (255 registers, no spills) ran 1.01 ms against 1.22 ms on 8 warps
  // (B=8 H=16 k_len=32768 D=64 fp16 on the H200, bench/variants.ts decode-split).
  if (!budget) return { BN, numWarps: BM === 16 && BN === 64 ? 4 : warps(BN) };
  const BD = blockDim(D);
  const t = fitBlocks(BM, BN, (m, n) => Math.max(fmaDotBytes(m, BD, n), fmaDotBytes(m, n, BD)) <= budget(warps(n)), { fixedM: true });
  return t.fits ? { BN: t.N, numWarps: warps(t.N) } : undefined;
}

export interface DecodePlan {
  /** True: popeDecodeRow (one query row per kv head, on CUDA cores; BM is 1) rather than popeDecodeSplit. */
  readonly row?: boolean;
  readonly BM: number; readonly BN: number; readonly numWarps: number;
  /** Keys per program (a multiple of BN) and the number of chunks. */
  readonly chunk: number; readonly splits: number;
}

/**
 * The tiling: all query rows of a kv head in one M tile (16 at least), 64-key tiles on 8 warps, or on 4
 * for a single 16-row tile (32-key tiles on 4 warps for D > 64; ptxas fits each without spilling; 64 rows
 * on 4 warps would spill), and chunks such that B·Hkv·splits reaches
 * TARGET_PROGRAMS, at least two key tiles each (the V copies are double-buffered across them). On
 * WebGPU (`device`, default: the default device) key tiles small enough for its workgroup memory.
 */
export function decodePlan(qShape: Shape4, kShape: Shape4, chunk?: number, device?: DeviceName | Device): DecodePlan {
  if (decodeRowApplies(qShape, kShape)) return rowPlan(qShape, kShape, chunk);
  const [B, , , D] = qShape, [, Hkv, Nk] = kShape;
  const BM = rowBlock(qShape, kShape);
  const kb = keyBlock(BM, D, device);
  if (!kb) throw new RangeError(`split-K decoding of q [${qShape}] does not fit the device's workgroup memory (${BM} rows × head dim ${D}); see decodeApplies`);
  const { BN, numWarps } = kb;
  const roundUp = (x: number): number => Math.ceil(x / BN) * BN;
  let c = chunk ?? Math.max(2 * BN, roundUp(Math.ceil(Nk / Math.ceil(TARGET_PROGRAMS / (B * Hkv)))));
  if (chunk !== undefined && (chunk < 1 || chunk % BN !== 0)) throw new RangeError(`decode chunk must be a positive multiple of ${BN}, got ${chunk}`);
  c = Math.max(c, roundUp(Math.ceil(Nk / MAX_SPLITS)));
  return { BM, BN, numWarps, chunk: c, splits: Math.ceil(Nk / c) };
}

/** Scratch sizes (f32 elements) of the partial outputs and of the partial maxima/sums (on `device`, as decodePlan). */
export function decodeScratchSizes(qShape: Shape4, kShape: Shape4, chunk?: number, device?: DeviceName | Device): { out: number; stats: number } {
  const { splits } = decodePlan(qShape, kShape, chunk, device);
  const rows = qShape[0] * qShape[1] * qShape[2];
  return { out: rows * splits * blockDim(qShape[3]), stats: rows * splits };
}

export interface DecodeOptions extends FlashOptions {
  /** f32 scratch of decodeScratchSizes(): partial outputs, maxima and sums. */
  readonly scratch: { readonly out: BufferArg; readonly m: BufferArg; readonly l: BufferArg };
  /** Keys per program (a multiple of the key tile); default from decodePlan. */
  readonly chunk?: number;
}

/** out [B, H, Nq, D] (strided) of PoPE attention by split-K: same semantics as launchPopeFlashAttention. */
export function launchPopeDecode(
  q: BufferArg, qShape: Shape4, qStrides: Strides4, k: BufferArg, kShape: Shape4, kStrides: Strides4,
  v: BufferArg, vStrides: Strides4, freqs: BufferArg, bias: BufferArg | null, out: BufferArg, outStrides: Strides4, o: DecodeOptions,
): void {
  const [B, H, Nq, D] = qShape, [Bk, Hkv, Nk, Dk] = kShape;
  if (B !== Bk || D !== Dk || H % Hkv !== 0 || Nq > Nk || o.rotateDim < 1 || o.rotateDim > D)
    throw new RangeError(`launchPopeDecode: incompatible q [${qShape}] and k [${kShape}] (rotateDim ${o.rotateDim})`);
  const splits = decodeRowApplies(qShape, kShape)
    ? launchRowPartials(q, qShape, qStrides, k, kShape, kStrides, v, vStrides, freqs, bias, o)
    : launchSplitPartials(q, qShape, qStrides, k, kShape, kStrides, v, vStrides, freqs, bias, o);
  const BD = blockDim(D), BS = Math.max(2, nextPow2(splits)), { scratch } = o;
  popeDecodeCombine.launch(
    { grid: [B * H * Nq], device: o.device, numWarps: Math.min(4, Math.max(1, (BS * BD) / 2048)) },
    scratch.out, scratch.m, scratch.l, out, H, Nq, D, splits, outStrides[0], outStrides[1], outStrides[2], BS, BD,
  );
}

/** popeDecodeSplit's partial triples (stacked query rows, tensor cores) into o.scratch; returns the number of chunks. */
function launchSplitPartials(
  q: BufferArg, qShape: Shape4, qStrides: Strides4, k: BufferArg, kShape: Shape4, kStrides: Strides4,
  v: BufferArg, vStrides: Strides4, freqs: BufferArg, bias: BufferArg | null, o: DecodeOptions,
): number {
  const [B, H, Nq, D] = qShape, [, Hkv, Nk] = kShape;
  if (!decodeApplies(qShape, kShape, o.device))
    throw new RangeError(`launchPopeDecode: ${H / Hkv} query heads per kv head × ${Nq} queries is more than the split-K kernel stacks${Nq <= DECODE_MAX_QUERIES && (H / Hkv) * Nq <= DECODE_MAX_ROWS ? ` in the device's workgroup memory at head dim ${D}` : ''}`);
  const { BM, BN, numWarps, chunk, splits } = decodePlan(qShape, kShape, o.chunk, o.device);
  const { mask, scratch } = o;
  popeDecodeSplit.launch(
    { grid: [splits, B * Hkv], device: o.device, numWarps, numStages: o.numStages, minBlocksPerSM: o.minBlocksPerSM },
    q, k, v, freqs, bias ?? freqs, mask?.data ?? freqs, scratch.out, scratch.m, scratch.l,
    H, H / Hkv, Nq, Nk, D, o.rotateDim, o.softmaxScale ?? D ** -0.5, chunk, splits,
    qStrides[0], qStrides[1], qStrides[2], kStrides[0], kStrides[1], kStrides[2], vStrides[0], vStrides[1], vStrides[2],
    mask?.strides[0] ?? 0, mask?.strides[1] ?? 0, mask?.strides[2] ?? 0,
    bias !== null, mask !== undefined, o.causal ?? false, o.toMagnitude ?? 'softplus', BM, BN, blockDim(D), popeFeatureDType(o, q),
  );
  return splits;
}

// ------------------------------------------------------------------ one query row per kv head
/**
 * Keys per tile of popeDecodeRow: 8 elements of K (and of V and of the key phases) per thread, one warp
 * per head. Measured on the H200 (B=8 H=16 k_len=32768 D=64 fp16, bench/variants.ts decode-row): 4-key
 * tiles at 32 warps per SM 0.390 ms; 8-key tiles 0.418 ms at 32 warps, 0.524 ms at 28.
 */
const rowBlockN = (d: number): number => Math.max(1, 256 / blockDim(d));
/** popeDecodeRow's heads per program (one warp each): 4, or fewer where they do not divide H. */
const rowHeads = (h: number): number => (h % 4 === 0 ? 4 : h % 2 === 0 ? 2 : 1);
/** Warps per SM ptxas keeps popeDecodeRow's registers for: 32 (64 registers), 20 for D > 128. */
const rowWarpsPerSM = (d: number): number => (d > 128 ? 20 : 32);
/** Warps the key split aims at: about four waves of the largest GPUs (132 SMs × 32 warps). */
const ROW_TARGET_WARPS = 16384;

/** Whether popeDecodeRow takes this decode: q_len 1, as many kv heads as query heads, at least one key tile of keys. */
export function decodeRowApplies(qShape: Shape4, kShape: Shape4): boolean {
  return qShape[2] === 1 && qShape[1] === kShape[1] && kShape[2] >= rowBlockN(qShape[3]);
}

/**
 * popeDecodeRow's plan: rowHeads(H) heads per program on as many warps, [rowBlockN, BLOCK_D] key tiles,
 * chunks (one key tile at least) such that B·H·splits reaches ROW_TARGET_WARPS.
 */
function rowPlan(qShape: Shape4, kShape: Shape4, chunk?: number): DecodePlan {
  const [B, H, , D] = qShape, Nk = kShape[2];
  const BN = rowBlockN(D);
  const roundUp = (x: number): number => Math.ceil(x / BN) * BN;
  if (chunk !== undefined && (chunk < 1 || chunk % BN !== 0)) throw new RangeError(`decode chunk must be a positive multiple of ${BN}, got ${chunk}`);
  const c = Math.max(chunk ?? roundUp(Math.ceil(Nk / Math.ceil(ROW_TARGET_WARPS / (B * H)))), roundUp(Math.ceil(Nk / MAX_SPLITS)));
  return { row: true, BM: 1, BN, numWarps: rowHeads(H), chunk: c, splits: Math.ceil(Nk / c) };
}

/** popeDecodeRow's partial triples (one query row per kv head, CUDA cores) into o.scratch; returns the number of chunks. */
function launchRowPartials(
  q: BufferArg, qShape: Shape4, qStrides: Strides4, k: BufferArg, kShape: Shape4, kStrides: Strides4,
  v: BufferArg, vStrides: Strides4, freqs: BufferArg, bias: BufferArg | null, o: DecodeOptions,
): number {
  const [B, H, , D] = qShape, Nk = kShape[2];
  const { BN, numWarps: heads, chunk, splits } = rowPlan(qShape, kShape, o.chunk);
  const BD = blockDim(D);
  const { mask, scratch } = o;
  // The one query sits at the bottom-right corner: a causal mask hides no key, so `causal` changes nothing.
  popeDecodeRow.launch(
    { grid: [(B * H) / heads, splits], device: o.device, numWarps: heads, minBlocksPerSM: o.minBlocksPerSM ?? rowWarpsPerSM(D) / heads },
    q, k, v, freqs, bias ?? freqs, mask?.data ?? freqs, scratch.out, scratch.m, scratch.l,
    H, Nk, D, o.rotateDim, o.softmaxScale ?? D ** -0.5, chunk, splits,
    qStrides[0], qStrides[1], kStrides[0], kStrides[1], kStrides[2], vStrides[0], vStrides[1], vStrides[2], mask?.strides[0] ?? 0, mask?.strides[2] ?? 0,
    bias !== null, mask !== undefined, o.toMagnitude ?? 'softplus', o.rotateDim === D && D === BD, heads, BN, BD,
  );
  return splits;
}
