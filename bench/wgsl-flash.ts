// How long llvmpipe takes to compile and run the PoPE flash-attention WGSL of the WebGPU kernel test
// (test/webgpu-kernels.test.ts, random ragged inputs), per input dtype, and the size of that WGSL.
//   MESA_SHADER_CACHE_DISABLE=true LP_NUM_THREADS=0 npx tsx bench/wgsl-flash.ts [f32|f16|bf16 ...]
// Env: NUM_WARPS (the launch's numWarps), NONCAUSAL=1, WGSL_OUT=dir (also write the WGSL there),
// WGSL_ONLY=dir (write the WGSL without running it). Compile time is llvmpipe's, at the first dispatch.
import { launchPopeFlashAttention, contiguous, type Shape4 } from '../ops/pope-kernels.js';
import { toHost, fromHost, type DType } from '../index.js';
import { initWebGPU, webgpuUnavailableReason } from '../runtime/webgpu/index.js';
import { popeFlashAttention } from '../kernels/pope-flash-attention.js';
import type { WgslKernel } from '../compiler/backends/wgsl/index.js';
import * as ref from '../test/reference/reference.js';
import { rng } from '../test/reference/random.js';

process.env['LP_NUM_THREADS'] ??= '0';
const gpu = await initWebGPU();
if (!gpu) throw new Error(webgpuUnavailableReason());
const dtypes = (process.argv.slice(2).length ? process.argv.slice(2) : ['f32', 'f16', 'bf16']) as ('f32' | 'f16' | 'bf16')[];
for (const dtype of dtypes) {
  const r = rng(7);
  const B = 2, H = 4, Hkv = 1, Nq = 23, Nk = 41, D = 24, rot = 16;
  const input = (values: Float64Array) => {
    const data = toHost(dtype as DType, values);
    return { arg: { dtype: dtype as DType, data }, exact: fromHost(dtype as DType, data) };
  };
  const q = input(r.array(B * H * Nq * D, -2, 2)), k = input(r.array(B * Hkv * Nk * D, -2, 2)), v = input(r.array(B * Hkv * Nk * D, -1, 1));
  const freqs = Float32Array.from(ref.popeFreqs({ dim: rot, seqLen: Nk }));
  const bias = Float32Array.from(r.array(H * rot, -6, 0));
  const qs: Shape4 = [B, H, Nq, D], ks: Shape4 = [B, Hkv, Nk, D];
  const t0 = performance.now();
  const o = gpu.alloc('f32', B * H * Nq * D);
  launchPopeFlashAttention(q.arg, qs, contiguous(qs), k.arg, ks, contiguous(ks), v.arg, contiguous(ks), freqs, bias, o, contiguous(qs), { rotateDim: rot, causal: !process.env['NONCAUSAL'], softmaxScale: 0.2, device: 'webgpu', mask: { data: Uint8Array.from({ length: B * Nk }, (_, i) => Number(i % Nk < Nk - 3 * (Math.floor(i / Nk) + 1) || i % 7 === 0)), strides: [Nk, 0, 1] }, numWarps: process.env['NUM_WARPS'] ? Number(process.env['NUM_WARPS']) : undefined });
  const t1 = performance.now();
  if (process.env['WGSL_ONLY']) {
    for (const c of (popeFlashAttention as unknown as { cache: Map<string, { artifacts: Map<string, unknown> }> }).cache.values())
      for (const [key, a] of c.artifacts) if (key.startsWith('wgsl:') && (a as WgslKernel).wgsl) (await import('node:fs')).writeFileSync(`${process.env['WGSL_ONLY']}/flash-${dtype}.wgsl`, (a as WgslKernel).wgsl);
    continue;
  }
  const got = new Float64Array((await o.read()) as Float32Array);
  const t2 = performance.now();
  const want = ref.popeFlashAttention(q.exact, qs, k.exact, ks, v.exact, ks, Float64Array.from(freqs), Float64Array.from(bias), { rotateDim: rot, causal: !process.env['NONCAUSAL'], softmaxScale: 0.2, keyPaddingMask: Array.from({ length: B * Nk }, (_, i) => i % Nk < Nk - 3 * (Math.floor(i / Nk) + 1) || i % 7 === 0) });
  let err = 0;
  for (let i = 0; i < want.length; i++) err = Math.max(err, Math.abs(got[i]! - want[i]!));
  // The WGSL of the variant just launched.
  let wgsl = '';
  for (const c of (popeFlashAttention as unknown as { cache: Map<string, { artifacts: Map<string, unknown> }> }).cache.values())
    for (const [key, a] of c.artifacts) if (key.startsWith('wgsl:') && (a as WgslKernel).wgsl) wgsl = (a as WgslKernel).wgsl;
  if (process.env['WGSL_OUT']) (await import('node:fs')).writeFileSync(`${process.env['WGSL_OUT']}/flash-${dtype}.wgsl`, wgsl);
  const count = (re: RegExp): number => (wgsl.match(re) ?? []).length;
  console.log(`${dtype}: lower ${(t1 - t0).toFixed(0)} ms, llvmpipe compile + run ${((t2 - t1) / 1000).toFixed(1)} s, max abs error ${err.toExponential(2)}; ` +
    `WGSL ${wgsl.split('\n').length} lines, ${count(/workgroupBarrier\(\)/g)} barriers, ${count(/fma\(/g)} fma, ${count(/\bfor \(/g)} loops, ${count(/mma_m16n8k16_\w+\(tid/g)} mma calls`);
}
if (process.env['WGSL_ONLY']) process.exit(0); // do not wait for the queued shader compilations
