// f16 and bf16 rounding on WebGPU against the CPU interpreter's (exact round-to-nearest-even,
// overflow to infinity), bit for bit: WGSL leaves the rounding of f32 → f16 conversions to the
// implementation, so this pins what the generated code gets on the adapter CI runs (llvmpipe), with
// shader-f16 (f16(x), array<f16> buffers) and without it (pack2x16float, f16 as halves of u32 words).
import { describe, it, expect } from 'vitest';
import { jit, tl, cdiv } from '../index.js';
import { rng } from './reference/random.js';
import { webgpuForTests } from './reference/devices.js';

const { device: gpu, skipReason } = await webgpuForTests();

/** Y = X rounded to DT and back to f32 (a cast pair); H = X stored into a DT buffer; P = the DT product X·X (rounded once). */
const rounding = jit(function rounding(X: tl.Ptr, Y: tl.Ptr, H: tl.Ptr, P: tl.Ptr, n: tl.i32, BLOCK: tl.constexpr, DT: tl.constexpr<'f16' | 'bf16'>) {
  const offs = tl.programId(0) * BLOCK + tl.arange(0, BLOCK);
  const mask = offs < n;
  const x = tl.load(X + offs, { mask });
  const h = tl.cast(x, DT);
  tl.store(Y + offs, tl.cast(h, 'f32'), { mask });
  tl.store(H + offs, h, { mask });
  tl.store(P + offs, h * h, { mask });
});

/** Values around every kind of f16/bf16 rounding case, then random ones over the whole exponent range. */
function inputs(): Float32Array {
  const v: number[] = [0, -0, 1, -1, Infinity, -Infinity, NaN, 65504, -65504, 65519.99, 65520, -65520, 1e6, 3.4e38, 1e-10, -1e-10];
  for (const bits of [10, 7]) // f16 and bf16 mantissa widths
    for (const e of [-24, -20, -15, -14, -13, -1, 0, 1, 5, 15])
      for (const m of [0.5, 1.5, 2.5, 3.5, 1.25, 1.75, 1023.5, 1024.5])
        for (const s of [1, -1]) v.push(s * (1 + m * 2 ** -bits) * 2 ** e, s * m * 2 ** (e - bits));
  const r = rng(31);
  for (let i = 0; i < 2000; i++) v.push((r.uniform(0, 1) < 0.5 ? -1 : 1) * 2 ** r.uniform(-30, 20) * r.uniform(1, 2));
  for (let i = 0; i < 64; i++) v.push(65504 + r.uniform(0, 32), 2 ** -24 * r.uniform(0, 4)); // near overflow, in the subnormals
  return Float32Array.from(v);
}

const bitsOf = (a: ArrayLike<number>): number[] => Array.from(Float32Array.from(a), (x) => new Uint32Array(Float32Array.of(x).buffer)[0]!);

describe.skipIf(!gpu)(`f16/bf16 rounding on ${gpu?.name ?? 'webgpu'} matches the CPU interpreter bit for bit`, () => {
  const x = inputs();
  const n = x.length, BLOCK = 256;
  const modes = [
    { name: 'with shader-f16', shaderF16: true },
    { name: 'without shader-f16 (pack2x16float, halves of u32 words)', shaderF16: false },
  ];
  for (const dtype of ['f16', 'bf16'] as const)
    for (const mode of modes)
      it(`${dtype}, ${mode.name}`, async () => {
        if (mode.shaderF16 && !gpu!.context.features.f16) return; // the adapter has no shader-f16: covered by the other mode
        const want = { y: new Float32Array(n), h: new Uint16Array(n), p: new Uint16Array(n) };
        rounding.launch({ grid: cdiv(n, BLOCK), device: 'cpu' }, x, want.y, { dtype, data: want.h }, { dtype, data: want.p }, n, BLOCK, dtype);
        const previous = gpu!.configure({ shaderF16: mode.shaderF16 });
        try {
          const y = gpu!.alloc('f32', n), h = gpu!.alloc(dtype, n), p = gpu!.alloc(dtype, n);
          rounding.launch({ grid: cdiv(n, BLOCK), device: 'webgpu' }, x, y, h, p, n, BLOCK, dtype);
          const got = { y: (await y.read()) as Float32Array, h: (await h.read()) as Uint16Array, p: (await p.read()) as Uint16Array };
          const wgsl = [...(rounding as unknown as { cache: Map<string, { artifacts: Map<string, { wgsl?: string }> }> }).cache.values()]
            .flatMap((c) => [...c.artifacts.entries()]).filter(([k, a]) => k.startsWith(`wgsl:${mode.shaderF16 ? 'f16' : 'nof16'}`) && a.wgsl).map(([, a]) => a.wgsl!);
          expect(wgsl.some((w) => w.includes(mode.shaderF16 ? 'enable f16;' : 'pack2x16float'))).toBe(true);
          // Compare bits (NaN payloads aside: a NaN must stay a NaN).
          const norm = (b: number[]): number[] => b.map((v) => ((v & 0x7fffffff) > 0x7f800000 ? 0x7fc00000 : v));
          const mismatches = (g: number[], w: number[]): string[] =>
            g.flatMap((v, i) => (v === w[i] ? [] : [`x=${x[i]}: got 0x${v.toString(16)}, want 0x${w[i]!.toString(16)}`])).slice(0, 8);
          expect(mismatches(norm(bitsOf(got.y)), norm(bitsOf(want.y)))).toEqual([]);
          const nan16 = (b: number): number => (dtype === 'f16' ? ((b & 0x7fff) > 0x7c00 ? 0x7e00 : b) : (b & 0x7fff) > 0x7f80 ? 0x7fc0 : b);
          expect(mismatches(Array.from(got.h, nan16), Array.from(want.h, nan16))).toEqual([]);
          expect(mismatches(Array.from(got.p, nan16), Array.from(want.p, nan16))).toEqual([]);
        } finally {
          gpu!.configure(previous);
        }
      });
});

if (!gpu)
  describe('f16/bf16 rounding on WebGPU', () => {
    it.skip(skipReason, () => undefined);
  });
