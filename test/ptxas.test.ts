// Every sample kernel, in f32, f16 and bf16, lowered to PTX and assembled by ptxas for sm_80, sm_90
// and sm_90a (wgmma). Where ptxas is missing the tests are skipped, saying why.
import { describe, it, expect } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toHost, type DType, type JITKernel } from '../index.js';
import { lowerToPtx } from '../compiler/backends/ptx/index.js';
import { vectorAdd } from '../kernels/vector-add.js';
import { rowSoftmax } from '../kernels/softmax.js';
import { layerNorm } from '../kernels/layernorm.js';
import { matmul } from '../kernels/matmul.js';
import { popeApply } from '../kernels/pope-apply.js';
import { popeSimilarity } from '../kernels/pope-similarity.js';
import { popeFlashAttention } from '../kernels/pope-flash-attention.js';
import { popeRowFeatures } from '../kernels/pope-features.js';
import { popeDecodeSplit, popeDecodeCombine, popeDecodeRow } from '../kernels/pope-decode.js';
import { popeSimilarityFromFeatures } from '../kernels/pope-similarity.js';

const PTXAS = process.env['TILEJIT_PTXAS'] ?? ['/usr/local/bin/ptxas', '/usr/local/cuda/bin/ptxas'].find(existsSync);
const dir = mkdtempSync(join(tmpdir(), 'tilejit-ptxas-'));
const buf = (dtype: DType, n = 64) => ({ dtype, data: toHost(dtype, new Float64Array(n)) });
const f32 = () => new Float32Array(64);
const mask = () => new Uint8Array(64);

// Representative launch arguments per kernel (only their types and constexprs matter here).
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyKernel = JITKernel<(...args: any[]) => void>;
const CASES: Array<[string, AnyKernel, (d: DType) => unknown[]]> = [
  ['vectorAdd', vectorAdd as AnyKernel, (d) => [buf(d), buf(d), buf(d), 64, 128]],
  ['rowSoftmax', rowSoftmax as AnyKernel, (d) => [buf(d), buf(d), 50, 50, 50, 64]],
  ['layerNorm', layerNorm as AnyKernel, (d) => [buf(d), buf(d), buf(d), buf(d), 100, 100, 1e-5, 32]],
  ['matmul', matmul as AnyKernel, (d) => [buf(d), buf(d), f32(), 30, 30, 30, 30, 1, 30, 1, 30, 1, 32, 32, 16]],
  ['popeApply', popeApply as AnyKernel, (d) => [buf(d), f32(), f32(), f32(), 7, 4, 24, 16, 0, true, 'softplus', false, 16, 32]],
  ['popeSimilarity', popeSimilarity as AnyKernel, (d) => [buf(d), buf(d), f32(), f32(), f32(), 4, 2, 5, 7, 24, 16, 1, 1, 1, 1, 1, 1, 1, 1, 1, true, 'softplus', 16, 16, 32, d === 'f32' ? 'f32' : d]],
  ['popeFlashAttention', popeFlashAttention as AnyKernel, (d) => [buf(d), buf(d), buf(d), f32(), f32(), mask(), buf(d), 4, 2, 5, 7, 24, 16, 0.2,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, true, true, true, 'softplus', 16, 16, 32, d === 'f32' ? 'f32' : d, false, 64, 0]],
  ['popeRowFeatures', popeRowFeatures as AnyKernel, (d) => [buf(d), f32(), f32(), buf(d === 'f32' ? 'f32' : d), 2, 70, 24, 16, 3, 0.25, 1, 1, 1, true, 'softplus', 16, 32, 64]],
  ['popeFlashAttention (keys rotated once)', popeFlashAttention as AnyKernel, (d) => [buf(d), buf(d), buf(d), f32(), f32(), mask(), buf(d), 4, 2, 5, 70, 24, 16, 0.2,
    1, 1, 1, 1, 1, 64, 1, 1, 1, 1, 1, 1, 1, 1, 1, true, true, true, 'softplus', 64, 64, 32, d === 'f32' ? 'f32' : d, true, 32, 16]],
  ['popeDecodeSplit', popeDecodeSplit as AnyKernel, (d) => [buf(d), buf(d), buf(d), f32(), f32(), mask(), f32(), f32(), f32(), 4, 2, 3, 70, 24, 16, 0.2, 64, 2,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, true, true, true, 'softplus', 16, 32, 32, d === 'f32' ? 'f32' : d]],
  ['popeDecodeRow', popeDecodeRow as AnyKernel, (d) => [buf(d), buf(d), buf(d), f32(), f32(), mask(), f32(), f32(), f32(), 3, 70, 24, 16, 0.2, 64, 2,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, true, true, 'softplus', false, 4, 16, 32]],
  ['popeDecodeCombine', popeDecodeCombine as AnyKernel, (d) => [f32(), f32(), f32(), buf(d), 4, 3, 24, 5, 1, 1, 1, 8, 32]],
  ['popeSimilarityFromFeatures', popeSimilarityFromFeatures as AnyKernel, (d) => [buf(d), buf(d), f32(), 4, 2, 5, 70, 64, 1, 1, 1, 64, 32, 64, 32]],
];

describe.skipIf(!PTXAS)(`ptxas accepts the PTX of every sample kernel${PTXAS ? '' : ' (skipped: no ptxas at /usr/local/bin/ptxas or $TILEJIT_PTXAS)'}`, () => {
  for (const [name, kernel, args] of CASES)
    for (const dtype of ['f32', 'f16', 'bf16'] as const)
      it(`${name} ${dtype}`, () => {
        const { compiled } = kernel.specialize({ device: 'ptx-sim' }, ...(args(dtype) as never[]));
        for (const arch of ['sm_80', 'sm_90', 'sm_90a'] as const) {
          const { ptx } = lowerToPtx(compiled.module, { numWarps: 4, arch });
          const file = join(dir, `${name}-${dtype}-${arch}.ptx`);
          writeFileSync(file, ptx);
          try {
            execFileSync(PTXAS!, [`-arch=${arch}`, file, '-o', file.replace(/\.ptx$/, '.cubin')], { stdio: 'pipe' });
          } catch (e) {
            expect.fail(`ptxas -arch=${arch} rejected ${file}:\n${(e as { stderr?: Buffer }).stderr?.toString()}`);
          }
        }
      });
});

describe.skipIf(!PTXAS)('launch options that reach the PTX', () => {
  // Strides a multiple of 16 elements, as real tensors have them: the tiles can then be copied by cp.async.
  const [Nk, D, BF] = [70, 32, 64];
  const args = [buf('bf16'), buf('bf16'), buf('bf16'), f32(), f32(), mask(), buf('bf16'), 4, 2, 5, Nk, D, D, 0.2,
    Nk * D * 4, Nk * D, D, Nk * BF * 2, Nk * BF, BF, Nk * D * 2, Nk * D, D, Nk * D * 4, Nk * D, D, 0, 0, 0, true, false, true, 'softplus', 64, 64, D, 'bf16', true, BF, 0];
  const { compiled } = (popeFlashAttention as AnyKernel).specialize({ device: 'ptx-sim' }, ...(args as never[]));
  const assemble = (ptx: string, name: string): string => {
    const file = join(dir, `${name}.ptx`);
    writeFileSync(file, ptx);
    const r = spawnSync(PTXAS!, ['-arch=sm_90', '-v', file, '-o', file.replace(/\.ptx$/, '.cubin')], { encoding: 'utf8' });
    if (r.status !== 0) expect.fail(`ptxas rejected ${file}:\n${r.stderr}`);
    return r.stdout + r.stderr;
  };

  it('numStages: tiles double-buffered across the key loop by default (one barrier per iteration), copied when needed with 1 stage', () => {
    const pipelined = lowerToPtx(compiled.module, { numWarps: 4, arch: 'sm_90' }).ptx;
    const single = lowerToPtx(compiled.module, { numWarps: 4, arch: 'sm_90', numStages: 1 }).ptx;
    expect(pipelined).toContain('software pipeline: 2 operand tile(s) double-buffered');
    // One wait and one barrier per iteration, at its first tile; then both tiles of the next iteration are issued.
    const loop = pipelined.slice(pipelined.indexOf('$L_loop_0:'), pipelined.indexOf('$L_loop_end_0:'));
    expect(loop.match(/cp\.async\.wait_group 0;/g)).toHaveLength(1);
    expect(loop.match(/bar\.sync/g)).toHaveLength(1);
    expect(loop.match(/cp\.async\.commit_group;/g)).toHaveLength(2);
    expect(single).not.toContain('software pipeline');
    expect(single).toContain('cp.async.wait_group 0;');
    assemble(pipelined, 'flash-stages-2');
    assemble(single, 'flash-stages-1');
  });

  it('minBlocksPerSM becomes .minnctapersm, which ptxas honours with fewer registers', () => {
    const { ptx } = lowerToPtx(compiled.module, { numWarps: 4, arch: 'sm_90', minBlocksPerSM: 4 });
    expect(ptx).toMatch(/\.maxntid 128, 1, 1\n\.minnctapersm 4\n/);
    const regs = Number(/Used (\d+) registers/.exec(assemble(ptx, 'flash-min-blocks'))?.[1]);
    expect(regs).toBeLessThanOrEqual(65536 / (4 * 128));
  });
});

describe.skipIf(!PTXAS)('flash attention on wgmma (sm_90a) at the GPU benchmark sizes', () => {
  // B=4 H=16 N=4096 D=64 bf16, keys rotated once (128 features, or 64 + 32 at rot = D/2): the tilings the
  // op layer picks on Hopper.
  const [N, D] = [4096, 64];
  const h = buf('bf16');
  for (const [BM, BN, numWarps, main, rest] of [[128, 64, 8, 128, 0], [128, 128, 8, 128, 0], [64, 64, 4, 128, 0], [128, 64, 8, 64, 32]] as const)
    it(`${BM} queries x ${BN} keys on ${numWarps} warps, ${rest ? `${main} + ${rest}` : main} features: both products on wgmma, no spills, nothing serialized`, () => {
      const BF = main + rest;
      const args = [h, h, h, f32(), f32(), mask(), h, 16, 1, N, N, D, rest ? 32 : D, 0.125, 16 * N * BF, N * BF, BF, 16 * N * BF, N * BF, BF, 16 * N * D, N * D, D,
        16 * N * D, N * D, D, 0, 0, 0, false, false, false, 'softplus', BM, BN, D, 'bf16', true, main, rest];
      const { compiled } = (popeFlashAttention as AnyKernel).specialize({ device: 'ptx-sim', numWarps }, ...(args as never[]));
      const { ptx } = lowerToPtx(compiled.module, { numWarps, arch: 'sm_90a' });
      expect(ptx).toContain(`wgmma.mma_async.sync.aligned.m64n${BN}k16.f32.bf16.bf16`);
      expect(ptx).toContain(`wgmma.mma_async.sync.aligned.m64n${D}k16.f32.bf16.bf16`);
      // Every tile moves to shared memory in 16-byte copies (8 halves per copy, the swizzle's vector).
      const copies = [...ptx.matchAll(/cp\.async\.c[ag]\.shared\.global \[[^\]]+\], \[[^\]]+\], (\d+)/g)].map((m) => m[1]);
      expect(copies.length).toBeGreaterThan(0);
      expect(new Set(copies)).toEqual(new Set(['16']));
      // In the key loop, addresses are a pointer plus a scaled i32 offset in one instruction each.
      const loop = ptx.slice(ptx.indexOf('$L_loop_0:'), ptx.indexOf('$L_loop_end_0:'));
      expect(loop).toContain('mad.wide.s32');
      expect(loop).not.toMatch(/cvt\.s64\.s32/);
      // The warpgroup index of the query tile's descriptor is broadcast from lane 0, so that ptxas keeps
      // the descriptors in uniform registers.
      expect(ptx).toContain('shfl.sync.idx.b32');
      // P·V accumulates in the loop's carried registers: after it, the loop copies only the row
      // statistics (max and sum, 2 registers each and their temporaries), not the accumulator.
      const afterLastProduct = loop.slice(loop.lastIndexOf('wgmma.commit_group'));
      expect(afterLastProduct.match(/mov\.f32/g)?.length ?? 0).toBeLessThanOrEqual(8);
      const file = join(dir, `flash-wgmma-${BM}x${BN}-${main}+${rest}.ptx`);
      writeFileSync(file, ptx);
      const r = spawnSync(PTXAS!, ['-arch=sm_90a', '-v', file, '-o', file.replace(/\.ptx$/, '.cubin')], { encoding: 'utf8' });
      if (r.status !== 0) expect.fail(`ptxas rejected ${file}:\n${r.stderr}`);
      const out = r.stdout + r.stderr;
      expect(out).toMatch(/0 bytes spill stores, 0 bytes spill loads/);
      // ptxas serializes wgmmas (waits after each) when it cannot prove the accumulators untouched in flight.
      expect(out).not.toMatch(/serializ/i);
    });
});

describe.skipIf(!PTXAS)('the decode and similarity kernels at the GPU benchmark sizes assemble without spills', () => {
  const report = (kernel: AnyKernel, args: unknown[], numWarps: number, name: string, minBlocksPerSM?: number): string => {
    const { compiled } = kernel.specialize({ device: 'ptx-sim', numWarps }, ...(args as never[]));
    const file = join(dir, `${name}.ptx`);
    writeFileSync(file, lowerToPtx(compiled.module, { numWarps, arch: 'sm_90', minBlocksPerSM }).ptx);
    const r = spawnSync(PTXAS!, ['-arch=sm_90', '-v', file, '-o', file.replace(/\.ptx$/, '.cubin')], { encoding: 'utf8' });
    if (r.status !== 0) expect.fail(`ptxas rejected ${file}:\n${r.stderr}`);
    return r.stdout + r.stderr;
  };
  const Nk = 32768, N = 4096, D = 64;
  it('popeDecodeSplit: decode B=8 H=16 k_len=32768 D=64 fp16 (16 query rows, 64-key tiles, 4 warps)', () => {
    const h = buf('f16');
    const out = report(popeDecodeSplit as AnyKernel, [h, h, h, f32(), f32(), mask(), f32(), f32(), f32(), 16, 1, 1, Nk, D, D, 0.125, 1024, 32,
      16 * D, D, D, 16 * Nk * D, Nk * D, D, 16 * Nk * D, Nk * D, D, 0, 0, 0, true, false, false, 'softplus', 16, 64, 64, 'f16'], 4, 'decode-split-gpu');
    expect(out).toMatch(/0 bytes spill stores, 0 bytes spill loads/);
  });
  it('popeDecodeRow: decode B=8 H=16 k_len=32768 D=64 fp16 (4 heads per program on 4 warps, 4-key tiles, 8 programs per SM: 64 registers, no shared memory in the loop)', () => {
    const h = buf('f16');
    const ptxArgs = [h, h, h, f32(), f32(), mask(), f32(), f32(), f32(), 16, Nk, D, D, 0.125, 256, 128,
      16 * D, D, 16 * Nk * D, Nk * D, D, 16 * Nk * D, Nk * D, D, 0, 0, true, false, 'softplus', true, 4, 4, 64];
    const out = report(popeDecodeRow as AnyKernel, ptxArgs, 4, 'decode-row-gpu', 8);
    expect(out).toMatch(/0 bytes spill stores, 0 bytes spill loads/);
    expect(Number(/Used (\d+) registers/.exec(out)?.[1])).toBeLessThanOrEqual(64);
    // The key loop: no barrier, no shared memory, one vector load per 4 elements of K, V and the phases.
    const { compiled } = (popeDecodeRow as AnyKernel).specialize({ device: 'ptx-sim', numWarps: 4 }, ...(ptxArgs as never[]));
    const ptx = lowerToPtx(compiled.module, { numWarps: 4, arch: 'sm_90' }).ptx;
    const loop = ptx.slice(ptx.indexOf('$L_loop_0:'), ptx.indexOf('$L_loop_end_0:'));
    expect(loop).not.toMatch(/bar\.sync|ld\.shared|st\.shared/);
    expect(loop.match(/ld\.global\.v4\.b16/g)).toHaveLength(4);
    expect(loop.match(/ld\.global\.v4\.f32/g)).toHaveLength(2);
  });
  it('popeSimilarityFromFeatures: similarity B=2 H=8 N=4096, bf16 features (128 × 64 tiles, 4 warps)', () => {
    const h = buf('bf16');
    const out = report(popeSimilarityFromFeatures as AnyKernel, [h, h, new Float32Array(64), 8, 1, N, N, 1024, 8 * N * N, N * N, N, 128, 64, 128, 0], 4, 'similarity-gpu');
    expect(out).toMatch(/0 bytes spill stores, 0 bytes spill loads/);
  });
});
