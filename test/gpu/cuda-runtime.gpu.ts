// Checks of the CUDA runtime on a real GPU (not a vitest file: bundled and run on the GPU machine).
// Each check calls report(name, ok, detail); a check that throws is reported as failed with the error,
// and the remaining checks still run.
import {
  CudaBuffer,
  CudaError,
  PtxLoadError,
  ParamBlock,
  cudaAlloc,
  cudaContext,
  cudaDevice,
  deviceCount,
  getFunction,
  isCudaAvailable,
  launchKernel,
  liveAllocations,
  loadPtxModule,
  loadedDriverPath,
  timeLaunches,
  toCuda,
  ptxArtifactKey,
  unloadModule,
  cubinCacheKey,
  ptxHash,
} from '../../runtime/cuda/index.js';
import type { CompiledKernel } from '../../runtime/compiled.js';
import type { BoundArg } from '../../runtime/bind.js';
import type { PtxKernel, PtxParam } from '../../compiler/backends/ptx/index.js';
import { jit, tl } from '../../index.js';

export type Report = (name: string, ok: boolean, detail?: string) => void;

/** z[i] = x[i] + y[i] for i < n; one thread per element. */
export const VADD_PTX = `.version 7.0
.target sm_80
.address_size 64

.visible .entry tj_vadd_f32(
  .param .u64 tj_vadd_f32_a,
  .param .u64 tj_vadd_f32_b,
  .param .u64 tj_vadd_f32_c,
  .param .u32 tj_vadd_f32_n
)
{
  .reg .pred %p<2>;
  .reg .b32 %r<6>;
  .reg .f32 %f<4>;
  .reg .b64 %rd<11>;

  ld.param.u64 %rd1, [tj_vadd_f32_a];
  ld.param.u64 %rd2, [tj_vadd_f32_b];
  ld.param.u64 %rd3, [tj_vadd_f32_c];
  ld.param.u32 %r1, [tj_vadd_f32_n];
  mov.u32 %r2, %ctaid.x;
  mov.u32 %r3, %ntid.x;
  mov.u32 %r4, %tid.x;
  mad.lo.s32 %r5, %r2, %r3, %r4;
  setp.ge.u32 %p1, %r5, %r1;
  @%p1 bra $L_done;
  cvta.to.global.u64 %rd4, %rd1;
  cvta.to.global.u64 %rd5, %rd2;
  cvta.to.global.u64 %rd6, %rd3;
  mul.wide.u32 %rd7, %r5, 4;
  add.s64 %rd8, %rd4, %rd7;
  add.s64 %rd9, %rd5, %rd7;
  add.s64 %rd10, %rd6, %rd7;
  ld.global.f32 %f1, [%rd8];
  ld.global.f32 %f2, [%rd9];
  add.f32 %f3, %f1, %f2;
  st.global.f32 [%rd10], %f3;
$L_done:
  ret;
}
`;

/**
 * out[tid] = ((tid + 1) % ntid) * 3 + 1, routed through the LAST 4*ntid bytes of `nbytes` of dynamic
 * shared memory: correct results need all of it granted (the > 48 KB opt-in).
 */
export const SMEM_PTX = `.version 7.0
.target sm_80
.address_size 64

.extern .shared .align 16 .b8 tj_dyn_smem[];

.visible .entry tj_smem_probe(
  .param .u64 tj_smem_probe_out,
  .param .u32 tj_smem_probe_nbytes
)
{
  .reg .b32 %r<13>;
  .reg .b64 %rd<5>;

  ld.param.u64 %rd1, [tj_smem_probe_out];
  ld.param.u32 %r1, [tj_smem_probe_nbytes];
  mov.u32 %r2, %tid.x;
  mov.u32 %r3, %ntid.x;
  shl.b32 %r4, %r3, 2;
  sub.u32 %r5, %r1, %r4;
  shl.b32 %r6, %r2, 2;
  add.u32 %r7, %r5, %r6;
  mov.u32 %r8, tj_dyn_smem;
  add.u32 %r7, %r7, %r8;
  mad.lo.u32 %r9, %r2, 3, 1;
  st.shared.u32 [%r7], %r9;
  bar.sync 0;
  add.u32 %r10, %r2, 1;
  rem.u32 %r10, %r10, %r3;
  shl.b32 %r10, %r10, 2;
  add.u32 %r11, %r5, %r10;
  add.u32 %r11, %r11, %r8;
  ld.shared.u32 %r12, [%r11];
  cvta.to.global.u64 %rd2, %rd1;
  mul.wide.u32 %rd3, %r2, 4;
  add.s64 %rd4, %rd2, %rd3;
  st.global.u32 [%rd4], %r12;
  ret;
}
`;

/** Valid header, invalid body: the JIT must reject it with a log. */
export const BAD_PTX = `.version 7.0
.target sm_80
.address_size 64

.visible .entry tj_bad()
{
  bogus.instr %r1;
  ret;
}
`;

const VADD_PARAMS: PtxParam[] = [
  { name: 'a', kind: 'ptr' },
  { name: 'b', kind: 'ptr' },
  { name: 'c', kind: 'ptr' },
  { name: 'n', kind: 'scalar', type: 'u32' },
];

/** A CompiledKernel whose PTX is already lowered (hand-written), for CudaDevice.launch. */
function handWritten(name: string, ptx: string, entry: string, params: PtxParam[], threads: number, sharedBytes = 0): CompiledKernel {
  const k: PtxKernel = { ptx, entry, params, threads, sharedBytes, program: undefined as never };
  // Keyed for the PTX target of GPU 0 (sm_90a on Hopper), where CudaDevice.launch looks.
  return { name, key: name, params: [], module: undefined as never, stages: [], sourceText: '', artifacts: new Map([[ptxArtifactKey(threads / 32, cudaDevice(0).ptxArch()), k]]) };
}

const devArg = (b: CudaBuffer, name: string): BoundArg => ({ name, kind: 'ptr', buffer: { kind: 'device', dtype: b.dtype, buffer: b } });
const hostArg = (data: Float32Array | Uint32Array, name: string): BoundArg => ({
  name, kind: 'ptr', buffer: { kind: 'host', dtype: data instanceof Float32Array ? 'f32' : 'u32', data },
});
const u32Arg = (value: number, name: string): BoundArg => ({ name, kind: 'scalar', dtype: 'u32', value });

function rand(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = s / 2 ** 32 - 0.5;
  }
  return a;
}

function assert(cond: unknown, msg: string): asserts cond {
  if (!cond) throw new Error(msg);
}

function firstMismatch(got: ArrayLike<number | bigint>, want: ArrayLike<number | bigint>): string | undefined {
  if (got.length !== want.length) return `length ${got.length} != ${want.length}`;
  for (let i = 0; i < got.length; i++) if (got[i] !== want[i]) return `[${i}] = ${got[i]}, expected ${want[i]}`;
  return undefined;
}

export interface CudaRuntimeCheckOptions {
  /** Also launch a kernel that faults (CUDA_ERROR_ILLEGAL_ADDRESS); this ruins the context, so it runs last. */
  readonly faultTest?: boolean;
  /** Elements of the timed vector add (default 2^24). */
  readonly timedElements?: number;
}

export async function runCudaRuntimeChecks(report: Report, options: CudaRuntimeCheckOptions = {}): Promise<void> {
  const check = async (name: string, fn: () => string | void | Promise<string | void>): Promise<boolean> => {
    try {
      const detail = await fn();
      report(name, true, detail || undefined);
      return true;
    } catch (e) {
      report(name, false, e instanceof Error ? `${e.name}: ${e.message}` : String(e));
      return false;
    }
  };

  const available = isCudaAvailable();
  report('isCudaAvailable', available, available ? `driver ${loadedDriverPath()}` : 'no driver/device: the remaining checks are skipped');
  if (!available) return;

  const startLive = liveAllocations();
  const device = cudaDevice(0);

  await check('device properties', () => {
    const p = device.properties;
    assert(deviceCount() >= 1, 'deviceCount() < 1');
    assert(p.major >= 7, `compute capability ${p.major}.${p.minor}`);
    assert(p.smCount > 0 && p.maxSharedMemoryPerBlockOptin >= 48 * 1024, `smCount ${p.smCount}, optin smem ${p.maxSharedMemoryPerBlockOptin}`);
    const mem = device.context.memoryInfo();
    return `${p.name}, ${p.arch}, ${p.smCount} SMs, ${p.maxSharedMemoryPerBlockOptin} B optin smem/block, ${(p.totalMemory / 2 ** 30).toFixed(1)} GiB ` +
      `(${(mem.free / 2 ** 30).toFixed(1)} free), driver ${p.driverVersion}, cuda:0 of ${deviceCount()}`;
  });

  await check('alloc / upload / download / memset round trips', () => {
    const x = rand(1000, 1);
    const a = toCuda(x);
    try {
      assert(a.device === 'cuda:0' && a.byteLength === 4000, `device ${a.device}, byteLength ${a.byteLength}`);
      let bad = firstMismatch(a.download(), x);
      assert(!bad, `f32 round trip: ${bad}`);
      a.upload(new Float32Array([42, 43]), 998);
      const back = a.download() as Float32Array;
      assert(back[997] === x[997] && back[998] === 42 && back[999] === 43, 'partial upload at an offset');
      a.memset(0);
      bad = firstMismatch(a.download(), new Float32Array(1000));
      assert(!bad, `memset 0: ${bad}`);
    } finally {
      a.dispose();
    }
    const h = CudaBuffer.from({ dtype: 'bf16', data: new Uint16Array([0x3f80, 0xc000, 0x7fc0]) });
    const hb = h.download();
    h.dispose();
    assert(hb instanceof Uint16Array && hb[0] === 0x3f80 && hb[1] === 0xc000 && hb[2] === 0x7fc0, `bf16 bits ${[...hb].join(',')}`);
    const i = cudaAlloc('i64', 3).memset(0xff);
    const ib = i.download();
    i.dispose();
    assert(ib instanceof BigInt64Array && ib.every((v) => v === -1n), 'i64 memset 0xff');
    const big = cudaAlloc('u8', 256 * 2 ** 20).memset(7); // 256 MiB
    const probe = new Uint8Array(4);
    big.downloadInto(probe, 256 * 2 ** 20 - 4);
    big.dispose();
    assert(probe.every((v) => v === 7), 'memset of 256 MiB, tail bytes');
  });

  await check('PTX module load + launch through the low-level API (ParamBlock, cuLaunchKernel)', () => {
    const ctx = cudaContext('cuda');
    const m = loadPtxModule(ctx, VADD_PTX);
    const fn = getFunction(m, 'tj_vadd_f32');
    const n = 1000;
    const x = rand(n, 2), y = rand(n, 3);
    const a = toCuda(x), b = toCuda(y), c = cudaAlloc('f32', n);
    try {
      const block = new ParamBlock(['ptr', 'ptr', 'ptr', 'u32']);
      ctx.makeCurrent();
      launchKernel(fn, block, [a.ptr, b.ptr, c.ptr, n], { grid: [Math.ceil(n / 128), 1, 1], block: [128, 1, 1], sharedBytes: 0, stream: ctx.stream });
      ctx.synchronize();
      const want = new Float32Array(n).map((_, i) => x[i]! + y[i]!);
      const bad = firstMismatch(c.download(), want);
      assert(!bad, bad!);
      return `JIT info log: ${m.infoLog.split('\n').slice(0, 2).join(' | ') || '(empty)'}`;
    } finally {
      for (const z of [a, b, c]) z.dispose();
    }
  });

  await check('the linker gives a cubin, kept in the disk cache and loaded from it without linking', () => {
    const ctx = cudaContext('cuda');
    const ptx = `${VADD_PTX}\n// cubin cache check ${process.pid} ${Date.now()}\n`;
    const m1 = loadPtxModule(ctx, ptx);
    assert(m1.source === 'linked', `first load: ${m1.source} (expected 'linked': cuLinkCreate/AddData/Complete)`);
    unloadModule(m1);
    const m2 = loadPtxModule(ctx, ptx);
    assert(m2.source === 'disk-cubin', `second load: ${m2.source} (expected 'disk-cubin')`);
    const fn = getFunction(m2, 'tj_vadd_f32');
    const n = 1000;
    const x = rand(n, 4), y = rand(n, 5);
    const a = toCuda(x), b = toCuda(y), c = cudaAlloc('f32', n);
    try {
      const block = new ParamBlock(['ptr', 'ptr', 'ptr', 'u32']);
      ctx.makeCurrent();
      launchKernel(fn, block, [a.ptr, b.ptr, c.ptr, n], { grid: [Math.ceil(n / 128), 1, 1], block: [128, 1, 1], sharedBytes: 0, stream: ctx.stream });
      ctx.synchronize();
      const bad = firstMismatch(c.download(), new Float32Array(n).map((_, i) => x[i]! + y[i]!));
      assert(!bad, bad!);
      return `cubin key ${cubinCacheKey(ctx, ptxHash(ptx)).split('|').slice(0, 3).join('|')}; linker log: ${m1.infoLog.split('\n')[0] || '(empty)'}`;
    } finally {
      for (const z of [a, b, c]) z.dispose();
      unloadModule(m2);
    }
  });

  const vadd = handWritten('vadd_hand', VADD_PTX, 'tj_vadd_f32', VADD_PARAMS, 128);

  await check('CudaDevice.launch on device buffers', () => {
    const n = 4097;
    const x = rand(n, 4), y = rand(n, 5);
    const a = toCuda(x), b = toCuda(y), c = cudaAlloc('f32', n).memset(0);
    try {
      device.launch({ kernel: vadd, grid: [Math.ceil(n / 128), 1, 1], numWarps: 4, args: [devArg(a, 'a'), devArg(b, 'b'), devArg(c, 'c'), u32Arg(n, 'n')] });
      const bad = firstMismatch(c.download(), new Float32Array(n).map((_, i) => x[i]! + y[i]!));
      assert(!bad, bad!);
    } finally {
      for (const z of [a, b, c]) z.dispose();
    }
  });

  await check('CudaDevice.launch on host typed arrays (copied in and back out)', () => {
    const n = 3000;
    const x = rand(n, 6), y = rand(n, 7), z = new Float32Array(n);
    const before = liveAllocations();
    device.launch({ kernel: vadd, grid: [Math.ceil(n / 128), 1, 1], numWarps: 4, args: [hostArg(x, 'a'), hostArg(y, 'b'), hostArg(z, 'c'), u32Arg(n, 'n')] });
    const bad = firstMismatch(z, new Float32Array(n).map((_, i) => x[i]! + y[i]!));
    assert(!bad, bad!);
    assert(liveAllocations() === before, `temporaries left allocated: ${liveAllocations() - before}`);
    // In place: the same array as input and output stays one device buffer.
    const w = Float32Array.from(x);
    device.launch({ kernel: vadd, grid: [Math.ceil(n / 128), 1, 1], numWarps: 4, args: [hostArg(w, 'a'), hostArg(y, 'b'), hostArg(w, 'c'), u32Arg(n, 'n')] });
    const bad2 = firstMismatch(w, new Float32Array(n).map((_, i) => x[i]! + y[i]!));
    assert(!bad2, `in place: ${bad2}`);
  });

  await check('bad PTX gives PtxLoadError with the JIT log', () => {
    try {
      loadPtxModule(cudaContext(0), BAD_PTX);
    } catch (e) {
      assert(e instanceof PtxLoadError, `got ${e instanceof Error ? e.name : typeof e}: ${String(e)}`);
      const p = e as PtxLoadError;
      assert(p instanceof CudaError && p.func === 'cuModuleLoadDataEx', `func ${p.func}`);
      assert(p.errorLog.length > 0, 'empty JIT error log');
      assert(p.message.includes(p.errorLog.split('\n')[0]!), 'error log missing from the message');
      return `${p.errorName}; log: ${p.errorLog.split('\n')[0]}`;
    }
    throw new Error('loading bad PTX did not throw');
  });

  await check('dynamic shared memory above 48 KB (MAX_DYNAMIC_SHARED_SIZE_BYTES opt-in)', () => {
    const optin = device.properties.maxSharedMemoryPerBlockOptin;
    const bytes = Math.min(optin, 200 * 1024) & ~15;
    if (bytes <= 48 * 1024) return `device allows only ${optin} B: nothing to opt in to`;
    const threads = 256;
    const k = handWritten('smem_probe', SMEM_PTX, 'tj_smem_probe', [{ name: 'out', kind: 'ptr' }, { name: 'nbytes', kind: 'scalar', type: 'u32' }], threads, bytes);
    const out = new Uint32Array(threads);
    device.launch({ kernel: k, grid: [1, 1, 1], numWarps: threads / 32, args: [hostArg(out, 'out'), u32Arg(bytes, 'nbytes')] });
    const want = new Uint32Array(threads).map((_, t) => ((t + 1) % threads) * 3 + 1);
    const bad = firstMismatch(out, want);
    assert(!bad, bad!);
    // Beyond the device limit: a clear error before any launch.
    const tooBig = handWritten('smem_too_big', SMEM_PTX, 'tj_smem_probe', [{ name: 'out', kind: 'ptr' }, { name: 'nbytes', kind: 'scalar', type: 'u32' }], threads, optin + 1024);
    try {
      device.launch({ kernel: tooBig, grid: [1, 1, 1], numWarps: threads / 32, args: [hostArg(out, 'out'), u32Arg(optin + 1024, 'nbytes')] });
    } catch (e) {
      assert(e instanceof RangeError && /MAX_SHARED_MEMORY_PER_BLOCK_OPTIN/.test(e.message), `wrong error for too much shared memory: ${String(e)}`);
      return `${bytes} B granted; ${optin + 1024} B refused`;
    }
    throw new Error(`a launch asking ${optin + 1024} B of shared memory was not refused`);
  });

  await check('timeLaunches with CUDA events', () => {
    const n = options.timedElements ?? 2 ** 24;
    const a = cudaAlloc('f32', n).memset(0), b = cudaAlloc('f32', n).memset(0), c = cudaAlloc('f32', n);
    try {
      const args = [devArg(a, 'a'), devArg(b, 'b'), devArg(c, 'c'), u32Arg(n, 'n')];
      const grid: [number, number, number] = [Math.ceil(n / 128), 1, 1];
      const t = timeLaunches(() => device.launch({ kernel: vadd, grid, numWarps: 4, args }), { warmup: 3, iters: 20 });
      assert(t.samplesMs.length === 20 && t.samplesMs.every((s) => s > 0 && Number.isFinite(s)), `samples ${t.samplesMs.join(', ')}`);
      assert(t.minMs <= t.medianMs && t.medianMs <= t.maxMs, 'min <= median <= max');
      // Host cost of a launch (parameter packing + cuLaunchKernel), averaged over many.
      const reps = 2000;
      device.synchronize();
      const t0 = performance.now();
      for (let i = 0; i < reps; i++) device.launch({ kernel: vadd, grid: [1, 1, 1], numWarps: 4, args });
      const hostUs = ((performance.now() - t0) * 1000) / reps;
      device.synchronize();
      // The same through the low-level API (one cuCtxSetCurrent + pack + cuLaunchKernel).
      const art = device.prepare({ kernel: vadd, numWarps: 4 });
      const ctx = device.context, stream = ctx.stream;
      const vals = [a.ptr, b.ptr, c.ptr, n];
      const t1 = performance.now();
      for (let i = 0; i < reps; i++) {
        ctx.makeCurrent();
        launchKernel(art.fn, art.params, vals, { grid: [1, 1, 1], block: [128, 1, 1], sharedBytes: 0, stream });
      }
      const rawUs = ((performance.now() - t1) * 1000) / reps;
      device.synchronize();
      const gbps = (3 * 4 * n) / (t.medianMs * 1e-3) / 1e9;
      return `vadd of ${n} f32: median ${t.medianMs.toFixed(4)} ms (min ${t.minMs.toFixed(4)}, max ${t.maxMs.toFixed(4)}), ${gbps.toFixed(0)} GB/s; host time per launch ${hostUs.toFixed(2)} µs (CudaDevice.launch), ${rawUs.toFixed(2)} µs (launchKernel)`;
    } finally {
      for (const z of [a, b, c]) z.dispose();
    }
  });

  await check('end to end: jit kernel lowered by the PTX backend, run on cuda:0', () => {
    const n = 1000 + 37;
    const x = rand(n, 8), y = rand(n, 9), z = new Float32Array(n);
    const kernel = jit(
      function tjGpuCheckVectorAdd(X: tl.Ptr, Y: tl.Ptr, Z: tl.Ptr, n: tl.i32, BLOCK: tl.constexpr) {
        const offs = tl.programId(0) * BLOCK + tl.arange(0, BLOCK);
        const mask = offs < n;
        tl.store(Z + offs, tl.load(X + offs, { mask }) + tl.load(Y + offs, { mask }), { mask });
      },
      {
        source: `function tjGpuCheckVectorAdd(X: tl.Ptr, Y: tl.Ptr, Z: tl.Ptr, n: tl.i32, BLOCK: tl.constexpr) {
  const offs = tl.programId(0) * BLOCK + tl.arange(0, BLOCK);
  const mask = offs < n;
  tl.store(Z + offs, tl.load(X + offs, { mask }) + tl.load(Y + offs, { mask }), { mask });
}`,
      },
    );
    kernel.launch({ grid: Math.ceil(n / 128), device: device, numWarps: 4 }, x, y, z, n, 128);
    const bad = firstMismatch(z, new Float32Array(n).map((_, i) => x[i]! + y[i]!));
    assert(!bad, bad!);
  });

  await check('liveAllocations returns to its start value', () => {
    const now = liveAllocations();
    assert(now === startLive, `started at ${startLive}, now ${now}`);
    return `${now} live allocation(s)`;
  });

  if (options.faultTest) {
    await check('a faulting kernel reports CUDA_ERROR_ILLEGAL_ADDRESS naming the kernel (ruins the context)', () => {
      // The output pointer is passed as a u64 scalar holding address 8: every store faults.
      const params: PtxParam[] = [VADD_PARAMS[0]!, VADD_PARAMS[1]!, { name: 'c', kind: 'scalar', type: 'u64' }, VADD_PARAMS[3]!];
      const k = handWritten('vadd_fault', VADD_PTX, 'tj_vadd_f32', params, 128);
      const n = 1024;
      try {
        device.launch({
          kernel: k, grid: [n / 128, 1, 1], numWarps: 4,
          args: [hostArg(new Float32Array(n), 'a'), hostArg(new Float32Array(n), 'b'), { name: 'c', kind: 'scalar', dtype: 'i64', value: 8 }, u32Arg(n, 'n')],
        });
      } catch (e) {
        assert(e instanceof CudaError, `got ${String(e)}`);
        assert(e.message.includes("kernel 'vadd_fault'"), `message lacks the kernel: ${e.message}`);
        assert(e.errorName === 'CUDA_ERROR_ILLEGAL_ADDRESS', `error ${e.errorName}`);
        return e.message;
      }
      throw new Error('the faulting launch did not throw');
    });
  }
}
