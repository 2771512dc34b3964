// The op layer's launchers choose blocks that fit WebGPU's workgroup memory, for a device of 16 KB
// (WebGPU's guaranteed minimum) and one of 32 KB (llvmpipe, most GPUs), without a GPU: the launches
// go to a device that only records them, and each recorded kernel is lowered to WGSL (without
// subgroups, so with the shuffle exchange slots) and the workgroup memory it declares is checked.
// On llvmpipe the op tests (ops-*.test.ts) run these tilings against the float64 references.
import { describe, it, expect } from 'vitest';
import '../index.js';
import type { Device, LaunchRequest } from '../runtime/device.js';
import { lowerToWgsl } from '../compiler/backends/wgsl/index.js';
import { launchPopeFlashAttention, launchPopeSimilarity, flashTiling, popeFeatureWidth, contiguous, type Shape4, type FlashOptions } from '../ops/pope-kernels.js';
import { launchPopeDecode, decodeApplies, decodePlan, decodeScratchSizes } from '../ops/pope-decode.js';
import { ropeAttentionBlocks } from '../ops/rope-attention.js';
import { ropeFlashAttention } from '../kernels/rope-flash-attention.js';
import { fitBlocks } from '../ops/webgpu-tiles.js';
import { allocateHost } from '../runtime/storage.js';
import type { DType } from '../compiler/ir/dtype.js';

/** A 'wgsl' device with `limit` bytes of workgroup memory that records launches (at least 4 warps, as WebGPU's). */
function recorder(limit: number): Device & { readonly launches: LaunchRequest[] } {
  const launches: LaunchRequest[] = [];
  return {
    name: `recorder (${limit} bytes)`, target: 'wgsl', launches,
    workgroupBudget: (numWarps) => limit - 8 * 32 * Math.max(4, numWarps),
    launch: (req) => void launches.push(req),
  };
}
const lowered = new Map<string, number>();
/** Workgroup bytes of a recorded launch's WGSL (once per variant and warp count). */
function workgroupBytes(req: LaunchRequest): number {
  const numWarps = Math.max(4, req.numWarps), key = `${req.kernel.key}|${numWarps}`;
  let b = lowered.get(key);
  if (b === undefined) lowered.set(key, (b = lowerToWgsl(req.kernel.module, { numWarps, features: {} }).workgroupBytes));
  return b;
}
const buf = (dtype: DType, n: number) => ({ dtype, data: allocateHost(dtype, n) });
const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

// Head dims up to 64 fit 16 KB, up to 128 fit 32 KB: beyond, not even 16 × 16 blocks hold the
// [16, D] · [D, 16] score product (4 · 32 · D bytes) beside the exchange slots, and the launch is refused.
describe.each([[16384, 64], [32768, 128]] as const)('WebGPU blocks for %i bytes of workgroup memory (head dims up to %i)', (limit, maxD) => {
  // [B, H, Hkv, Nq, Nk, D, rot]: many query blocks with GQA (keys rotated once by the pre-pass), one query
  // block per kv head (rotated in the kernel), decoding (split-K; one row per kv head), the widest head dim.
  const shapes = [[1, 4, 1, 130, 150, 64, 64], [1, 2, 2, 40, 300, 64, 32], [1, 4, 1, 16, 150, 64, 64], [1, 2, 2, 1, 150, maxD, maxD], [1, 2, 2, 70, 90, maxD, maxD], [2, 2, 1, 5, 9, 16, 8]] as const;

  it.each(shapes)('PoPE attention, similarity and decoding fit: B %i, H %i/%i, Nq %i, Nk %i, D %i, rot %i', (B, H, Hkv, Nq, Nk, D, rot) => {
    const dev = recorder(limit);
    const qs: Shape4 = [B, H, Nq, D], ks: Shape4 = [B, Hkv, Nk, D];
    for (const dtype of ['f32', 'bf16'] as const) {
      const [q, k, v, out] = [buf(dtype, size(qs)), buf(dtype, size(ks)), buf(dtype, size(ks)), buf(dtype, size(qs))];
      const freqs = buf('f32', Nk * rot), bias = buf('f32', H * rot);
      const o: FlashOptions = { rotateDim: rot, causal: true, device: dev };
      const width = popeFeatureWidth(D, rot);
      const features = { queries: buf(dtype, B * H * Nq * width), keys: buf(dtype, B * Hkv * Nk * width) };
      if (decodeApplies(qs, ks, dev)) {
        const n = decodeScratchSizes(qs, ks, undefined, dev);
        const scratch = { out: buf('f32', n.out), m: buf('f32', n.stats), l: buf('f32', n.stats) };
        launchPopeDecode(q, qs, contiguous(qs), k, ks, contiguous(ks), v, contiguous(ks), freqs, bias, out, contiguous(qs), { ...o, scratch });
      }
      const pre = flashTiling(qs, ks, o, q).rotateKeysOnce;
      launchPopeFlashAttention(q, qs, contiguous(qs), k, ks, contiguous(ks), v, contiguous(ks), freqs, bias, out, contiguous(qs), { ...o, features: pre ? features : undefined });
      launchPopeSimilarity(q, qs, contiguous(qs), k, ks, contiguous(ks), freqs, bias, buf('f32', B * H * Nq * Nk), { ...o, features });
    }
    const kernels = new Set(dev.launches.map((r) => r.kernel.name));
    expect(kernels).toContain('popeFlashAttention');
    expect(kernels).toContain('popeSimilarityFromFeatures');
    for (const r of dev.launches) expect(workgroupBytes(r), `${r.kernel.name} (${r.numWarps} warps)`).toBeLessThanOrEqual(limit);
  });

  const rope = (dev: Device, Nq: number, Nk: number, D: number, dtypes: readonly DType[]) => {
    const B = 1, H = 2, Hkv = 1, rot = 2 * Math.floor(D / 4), F = rot / 2;
    const { BM, BN, BD } = ropeAttentionBlocks(Nq, Nk, D, dev);
    for (const dtype of dtypes)
      ropeFlashAttention.launch(
        { grid: [Math.ceil(Nq / BM), B * H], device: dev, numWarps: 4 },
        buf(dtype, B * H * Nq * D), buf(dtype, B * Hkv * Nk * D), buf(dtype, B * Hkv * Nk * D), buf('f32', Nk * F), new Uint8Array(1), buf(dtype, B * H * Nq * D),
        H, H / Hkv, Nq, Nk, D, rot, F, D ** -0.5,
        H * Nq * D, Nq * D, D, Hkv * Nk * D, Nk * D, D, Hkv * Nk * D, Nk * D, D, H * Nq * D, Nq * D, D, 0, 0, 0, false, true, BM, BN, BD,
      );
    return `${BM}x${BN}`;
  };

  it.each([[70, 90, 64], [4, 300, maxD], [5, 19, 12]] as const)('RoPE attention fits: Nq %i, Nk %i, D %i', (Nq, Nk, D) => {
    const dev = recorder(limit);
    const blocks = rope(dev, Nq, Nk, D, ['f32', 'bf16']);
    for (const r of dev.launches) expect(workgroupBytes(r), `ropeFlashAttention ${blocks}`).toBeLessThanOrEqual(limit);
  });

  it(`head dim ${2 * maxD} does not fit: 16 x 16 blocks are chosen and need more`, () => {
    const dev = recorder(limit);
    expect(rope(dev, 70, 90, 2 * maxD, ['f32'])).toBe('16x16');
    expect(workgroupBytes(dev.launches[0]!)).toBeGreaterThan(limit);
    const bf16 = { dtype: 'bf16' as const, data: new Uint16Array(1) };
    expect(flashTiling([1, 2, 70, 2 * maxD], [1, 2, 90, 2 * maxD], { rotateDim: 8, device: dev }, bf16)).toMatchObject({ BM: 16, BN: 16, rotateKeysOnce: false });
  });
});

describe('the blocks chosen on a 32 KB device', () => {
  const dev = recorder(32768);
  it('flash attention: the f32 tiling halved (keys rotated in the kernel: 64 x 32 at D 64, 32 x 16 at D 128; by the pre-pass, D + rot 128: 32 x 16); explicit blocks kept', () => {
    const bf16 = { dtype: 'bf16' as const, data: new Uint16Array(1) };
    expect(flashTiling([1, 4, 128, 64], [1, 4, 128, 64], { rotateDim: 64, device: dev }, bf16)).toEqual({ BM: 64, BN: 32, numWarps: 8, minBlocksPerSM: undefined, rotateKeysOnce: true });
    expect(flashTiling([1, 4, 128, 64], [1, 4, 128, 64], { rotateDim: 64, device: dev, features: { queries: bf16, keys: bf16 } }, bf16))
      .toEqual({ BM: 32, BN: 16, numWarps: 4, minBlocksPerSM: undefined, rotateKeysOnce: true });
    // One query block per kv head (16 queries): no pre-pass.
    expect(flashTiling([1, 2, 16, 64], [1, 2, 90, 64], { rotateDim: 64, device: dev }, bf16)).toMatchObject({ BM: 16, BN: 64, rotateKeysOnce: false });
    // At D 128: 32 x 16; the pre-pass would pay, but D + rot = 256 does not fit even 16 x 16 blocks.
    expect(flashTiling([1, 4, 130, 128], [1, 1, 150, 128], { rotateDim: 128, device: dev }, bf16)).toMatchObject({ BM: 32, BN: 16, rotateKeysOnce: false });
    expect(flashTiling([1, 4, 128, 64], [1, 4, 128, 64], { rotateDim: 64, device: dev, blockM: 16, blockN: 64 }, bf16)).toMatchObject({ BM: 16, BN: 64 });
  });
  it('decoding halves its key tile, and does not apply when 16 keys do not fit beside its rows', () => {
    expect(decodePlan([1, 4, 16, 64], [1, 1, 150, 64], undefined, dev)).toMatchObject({ BM: 64, BN: 32, numWarps: 4 });
    expect(decodePlan([1, 4, 16, 64], [1, 1, 150, 64])).toMatchObject({ BM: 64, BN: 64, numWarps: 8 });
    expect(decodeApplies([1, 4, 16, 128], [1, 1, 150, 128], dev)).toBe(false);
    expect(decodeApplies([1, 4, 16, 128], [1, 1, 150, 128])).toBe(true);
    expect(decodeApplies([1, 4, 1, 128], [1, 4, 150, 128], recorder(16384))).toBe(true); // popeDecodeRow: no tiles in workgroup memory
  });
  it('fitBlocks halves the larger block first (N on a tie), keeps fixed ones and reports when nothing fits', () => {
    expect(fitBlocks(64, 64, (m, n) => m * n <= 1024)).toEqual({ M: 32, N: 32, fits: true });
    expect(fitBlocks(64, 16, (m, n) => m + n <= 40)).toEqual({ M: 16, N: 16, fits: true });
    expect(fitBlocks(64, 64, (m, n) => m * n <= 512, { fixedM: true })).toEqual({ M: 64, N: 16, fits: false });
  });
});
