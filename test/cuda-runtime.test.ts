// The CUDA runtime without a GPU: lazy loading and its error, parameter packing, error names, and (when a
// C compiler is present) the whole FFI path against a stand-in libcuda built from the C source below,
// whose "device memory" is host memory and whose kernels are C functions. Tests that need a real GPU
// live in test/gpu/cuda-runtime.gpu.ts.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createRequire } from 'node:module';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as C from '../runtime/cuda/index.js';
import { koffi } from '../runtime/cuda/driver.js';
import { diskCache } from '../runtime/disk-cache.js';
import type { CompiledKernel } from '../runtime/compiled.js';
import type { BoundArg } from '../runtime/bind.js';
import type { PtxKernel, PtxParam } from '../compiler/backends/ptx/index.js';

const require = createRequire(import.meta.url);
const koffiInRequireCache = (): boolean => Object.keys(require.cache).some((k) => /[\\/]koffi[\\/]/.test(k));

describe('CUDA runtime without a driver', () => {
  it('importing the runtime loads neither koffi nor libcuda', () => {
    expect(C.isDriverLoaded()).toBe(false);
    expect(C.loadedDriverPath()).toBeUndefined();
    expect(koffiInRequireCache()).toBe(false);
    // Building a device object touches nothing either.
    const d = C.cudaDevice('cuda:1');
    expect(d.name).toBe('cuda:1');
    expect(d.target).toBe('ptx');
    expect(C.isDriverLoaded()).toBe(false);
  });

  it('fails on first use with an error naming every library path tried, TILEJIT_LIBCUDA first', (ctx) => {
    const bogus = '/nonexistent/tilejit-bogus/libcuda.so.1';
    const saved = process.env.TILEJIT_LIBCUDA;
    process.env.TILEJIT_LIBCUDA = bogus;
    let err: unknown;
    try {
      C.deviceCount();
    } catch (e) {
      err = e;
    } finally {
      if (saved === undefined) delete process.env.TILEJIT_LIBCUDA;
      else process.env.TILEJIT_LIBCUDA = saved;
    }
    if (err === undefined) ctx.skip(); // a real driver is installed here
    expect(err).toBeInstanceOf(C.CudaDriverLoadError);
    const msg = (err as Error).message;
    const expected = [bogus, 'libcuda.so.1', '/usr/local/nvidia/lib64/libcuda.so.1', '/usr/lib/x86_64-linux-gnu/libcuda.so.1', '/usr/lib64/libcuda.so.1', '/usr/lib/libcuda.so.1'];
    for (const p of expected) expect(msg).toContain(p);
    expect(msg).toContain('TILEJIT_LIBCUDA');
    expect(msg.indexOf(bogus)).toBeLessThan(msg.indexOf('/usr/local/nvidia/lib64/libcuda.so.1'));
    expect((err as C.CudaDriverLoadError).attempts.map((a) => a.path)).toEqual(expected);
    expect(C.isDriverLoaded()).toBe(false);
    // Every CUDA entry point reports the same way.
    process.env.TILEJIT_LIBCUDA = bogus;
    try {
      expect(() => C.cudaAlloc('f32', 4)).toThrow(/tried 6 path\(s\)/);
    } finally {
      if (saved === undefined) delete process.env.TILEJIT_LIBCUDA;
      else process.env.TILEJIT_LIBCUDA = saved;
    }
  });

  it('isCudaAvailable() is false here and never throws', () => {
    const driverPresent = C.libcudaCandidates().some((p) => p.startsWith('/') && existsSync(p));
    expect(() => C.isCudaAvailable()).not.toThrow();
    if (!driverPresent) expect(C.isCudaAvailable()).toBe(false);
  });

  it('lists the library candidates in order', () => {
    expect(C.libcudaCandidates({ TILEJIT_LIBCUDA: '/opt/x/libcuda.so.1' }, 'linux')).toEqual([
      '/opt/x/libcuda.so.1',
      'libcuda.so.1',
      '/usr/local/nvidia/lib64/libcuda.so.1',
      '/usr/lib/x86_64-linux-gnu/libcuda.so.1',
      '/usr/lib64/libcuda.so.1',
      '/usr/lib/libcuda.so.1',
    ]);
    expect(C.libcudaCandidates({}, 'win32')).toEqual(['nvcuda.dll']);
  });

  it('maps CUresult codes to names without a driver', () => {
    expect(C.cudaErrorName(0)).toBe('CUDA_SUCCESS');
    expect(C.cudaErrorName(1)).toBe('CUDA_ERROR_INVALID_VALUE');
    expect(C.cudaErrorName(2)).toBe('CUDA_ERROR_OUT_OF_MEMORY');
    expect(C.cudaErrorName(200)).toBe('CUDA_ERROR_INVALID_IMAGE');
    expect(C.cudaErrorName(218)).toBe('CUDA_ERROR_INVALID_PTX');
    expect(C.cudaErrorName(222)).toBe('CUDA_ERROR_UNSUPPORTED_PTX_VERSION');
    expect(C.cudaErrorName(700)).toBe('CUDA_ERROR_ILLEGAL_ADDRESS');
    expect(C.cudaErrorName(701)).toBe('CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES');
    expect(C.cudaErrorName(719)).toBe('CUDA_ERROR_LAUNCH_FAILED');
    expect(C.cudaErrorName(12345)).toBe('CUDA_ERROR_12345');
    const e = new C.CudaError('cuMemAlloc_v2', 2, 'allocating 8 bytes');
    expect(e.message).toContain('cuMemAlloc_v2');
    expect(e.message).toContain('CUDA_ERROR_OUT_OF_MEMORY');
    expect(e.message).toContain('allocating 8 bytes');
    expect(e.errorName).toBe('CUDA_ERROR_OUT_OF_MEMORY');
    expect(e.code).toBe(2);
  });

  it('parses device names', () => {
    expect(C.parseCudaDevice('cuda')).toBe(0);
    expect(C.parseCudaDevice('cuda:3')).toBe(3);
    expect(C.parseCudaDevice(2)).toBe(2);
    expect(() => C.parseCudaDevice('gpu')).toThrow(/cuda:N/);
    expect(() => C.parseCudaDevice(-1)).toThrow();
  });
});

describe('kernel parameter packing', () => {
  it('puts each value in its own 8-byte slot with the right bytes', () => {
    const types: C.ParamSlotType[] = ['ptr', 's32', 'u32', 's64', 'u64', 'f32', 'f64', 'u8', 's8', 'pred', 'pred', 'ptr'];
    const values: C.ParamValue[] = [0x7f12_3456_7890n, -7, 4_000_000_000, -(2 ** 40), 2n ** 63n + 5n, 1.5, Math.PI, 200, -3, true, 0, 0xdead_beef_0000];
    const slots = new Uint8Array(types.length * 8).fill(0xff);
    C.packParams(types, values, slots);
    const dv = new DataView(slots.buffer);
    const at = (i: number) => i * C.SLOT_BYTES;
    expect(dv.getBigUint64(at(0), true)).toBe(0x7f12_3456_7890n);
    expect(dv.getInt32(at(1), true)).toBe(-7);
    expect(dv.getUint32(at(2), true)).toBe(4_000_000_000);
    expect(dv.getBigInt64(at(3), true)).toBe(-(2n ** 40n));
    expect(dv.getBigUint64(at(4), true)).toBe(2n ** 63n + 5n);
    expect(dv.getFloat32(at(5), true)).toBe(1.5);
    expect(dv.getFloat64(at(6), true)).toBe(Math.PI);
    expect(dv.getUint8(at(7))).toBe(200);
    expect(dv.getInt8(at(8))).toBe(-3);
    expect(dv.getUint8(at(9))).toBe(1);
    expect(dv.getUint8(at(10))).toBe(0);
    expect(dv.getBigUint64(at(11), true)).toBe(0xdead_beef_0000n);
    // Narrow values leave the rest of their slot zeroed.
    for (const i of [1, 2, 5]) expect(dv.getUint32(at(i) + 4, true)).toBe(0);
    for (const i of [7, 8, 9, 10]) expect([...slots.subarray(at(i) + 1, at(i) + 8)]).toEqual([0, 0, 0, 0, 0, 0, 0]);
    // Raw little-endian bytes of the s32 slot.
    expect([...slots.subarray(at(1), at(1) + 4)]).toEqual([0xf9, 0xff, 0xff, 0xff]);
  });

  it('accepts numbers for pointers and rejects out-of-range or non-integer values', () => {
    const slots = new Uint8Array(8);
    C.packParams(['ptr'], [4096], slots);
    expect(new DataView(slots.buffer).getBigUint64(0, true)).toBe(4096n);
    expect(() => C.packParams(['s32'], [2 ** 31], slots)).toThrow(RangeError);
    expect(() => C.packParams(['u8'], [1.5], slots)).toThrow(RangeError);
    expect(() => C.packParams(['ptr'], [-1], slots)).toThrow(RangeError);
    expect(() => C.packParams(['s32', 's32'], [1], new Uint8Array(16))).toThrow(/2 parameters/);
    expect(() => C.packParams(['s32', 's32'], [1, 2], new Uint8Array(8))).toThrow(/too small/);
  });

  it('maps backend parameters to slot types', () => {
    const ps: PtxParam[] = [{ name: 'x', kind: 'ptr' }, { name: 'n', kind: 'scalar', type: 's32' }, { name: 'f', kind: 'scalar', type: 'f32' }];
    expect(ps.map(C.slotType)).toEqual(['ptr', 's32', 'f32']);
  });

  it('builds the kernelParams array of slot addresses once', () => {
    const block = new C.ParamBlock(['ptr', 's32', 'f64'], () => 0x1000n);
    expect([...block.pointers!]).toEqual([0x1000n, 0x1008n, 0x1010n]);
    expect(block.slots.byteLength).toBe(24);
    block.pack([8n, 5, 0.25]);
    expect(block.slots.readInt32LE(8)).toBe(5);
    expect(block.slots.readDoubleLE(16)).toBe(0.25);
    expect(new C.ParamBlock([], () => 0x1000n).pointers).toBeNull();
  });
});

// ---------------------------------------------------------------------------------------------------
// The FFI path against a stand-in driver.

const MOCK_SOURCE = String.raw`
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
typedef unsigned long long u64;
static int inited = 0, ctx_current = 0, pending_error = 0, dyn_smem = 0;
static long live = 0, events = 0;
static unsigned char last_params[64];
static unsigned last_launch[8];
int cuInit(unsigned f) { (void)f; inited = 1; return 0; }
int cuDriverGetVersion(int *v) { *v = 13000; return 0; }
int cuDeviceGetCount(int *c) { if (!inited) return 3; *c = 1; return 0; }
int cuDeviceGet(int *d, int o) { if (o != 0) return 101; *d = 0; return 0; }
int cuDeviceGetName(char *n, int len, int d) { (void)d; strncpy(n, "Mock GPU", len); return 0; }
int cuDeviceGetAttribute(int *pi, int a, int d) {
  (void)d;
  switch (a) {
  case 1: *pi = 1024; break; case 8: *pi = 49152; break; case 10: *pi = 32; break; case 16: *pi = 132; break;
  case 75: *pi = 9; break; case 76: *pi = 0; break; case 97: *pi = 232448; break; default: return 1;
  }
  return 0;
}
int cuDeviceTotalMem_v2(size_t *b, int d) { (void)d; *b = (size_t)80 << 30; return 0; }
int cuDevicePrimaryCtxRetain(void **p, int d) { (void)d; *p = (void *)0x1234; return 0; }
int cuDevicePrimaryCtxRelease_v2(int d) { (void)d; return 0; }
int cuCtxSetCurrent(void *c) { ctx_current = (c == (void *)0x1234); return 0; }
int cuCtxSynchronize(void) { return ctx_current ? pending_error : 201; }
int cuMemGetInfo_v2(size_t *f, size_t *t) { *f = 1000; *t = 2000; return 0; }
int cuMemAlloc_v2(u64 *p, size_t n) {
  if (!ctx_current) return 201;
  if (n == 0) return 1;
  if (n > ((size_t)1 << 40)) return 2;
  *p = (u64)(uintptr_t)malloc(n); live++; return 0;
}
int cuMemFree_v2(u64 p) { if (!p) return 1; free((void *)(uintptr_t)p); live--; return 0; }
int cuMemcpyHtoD_v2(u64 d, const void *s, size_t n) { memcpy((void *)(uintptr_t)d, s, n); return 0; }
int cuMemcpyDtoH_v2(void *d, u64 s, size_t n) { memcpy(d, (void *)(uintptr_t)s, n); return 0; }
int cuMemcpyHtoDAsync_v2(u64 d, const void *s, size_t n, void *st) { (void)st; return cuMemcpyHtoD_v2(d, s, n); }
int cuMemcpyDtoHAsync_v2(void *d, u64 s, size_t n, void *st) { (void)st; return cuMemcpyDtoH_v2(d, s, n); }
int cuMemsetD8_v2(u64 d, unsigned char v, size_t n) { memset((void *)(uintptr_t)d, v, n); return 0; }
static int links = 0, cubin_loads = 0;
typedef struct { char *data; size_t n; char *info; unsigned infoN; } mock_link;
int cuLinkCreate_v2(unsigned n, int *opts, void **vals, void **state) {
  mock_link *l = calloc(1, sizeof *l);
  for (unsigned i = 0; i < n; i++) {
    if (opts[i] == 3) l->info = vals[i];
    if (opts[i] == 4) l->infoN = (unsigned)(uintptr_t)vals[i];
  }
  *state = l; return 0;
}
int cuLinkAddData_v2(void *state, int type, void *data, size_t size, const char *name, unsigned n, int *o, void **v) {
  mock_link *l = state; (void)name; (void)n; (void)o; (void)v;
  if (type != 1) return 1;
  if (strstr(data, "BADPTX")) return 218;
  /* The "cubin": a tag and the PTX text. */
  l->n = size + 6; l->data = malloc(l->n); memcpy(l->data, "CUBIN:", 6); memcpy(l->data + 6, data, size);
  return 0;
}
int cuLinkComplete(void *state, void **cubin, size_t *size) {
  mock_link *l = state;
  if (!l->data) return 1;
  links++;
  if (l->info && l->infoN) strncpy(l->info, "info: mock linker ran", l->infoN);
  *cubin = l->data; *size = l->n; return 0;
}
int cuLinkDestroy(void *state) { mock_link *l = state; free(l->data); free(l); return 0; }
int cuModuleLoadDataEx(void **m, const void *img, unsigned n, int *opts, void **vals) {
  const char *ptx = img; char *info = 0, *err = 0; unsigned infoN = 0, errN = 0;
  if (!strncmp(ptx, "CUBIN:", 6)) { cubin_loads++; *m = (void *)0x5678; return 0; }
  for (unsigned i = 0; i < n; i++) {
    if (opts[i] == 3) info = vals[i];
    if (opts[i] == 4) infoN = (unsigned)(uintptr_t)vals[i];
    if (opts[i] == 5) err = vals[i];
    if (opts[i] == 6) errN = (unsigned)(uintptr_t)vals[i];
  }
  if (info && infoN) strncpy(info, "info: mock JIT ran", infoN);
  if (strstr(ptx, "BADPTX")) {
    if (err && errN) strncpy(err, "ptxas fatal: Unresolved extern function 'BADPTX'", errN);
    return 218;
  }
  if (!strstr(ptx, ".version")) return 200;
  *m = (void *)0x5678; return 0;
}
int cuModuleGetFunction(void **f, void *m, const char *name) {
  (void)m;
  if (!strcmp(name, "vadd")) { *f = (void *)0x100; return 0; }
  if (!strcmp(name, "record")) { *f = (void *)0x200; return 0; }
  if (!strcmp(name, "fault")) { *f = (void *)0x400; return 0; }
  return 500;
}
int cuModuleUnload(void *m) { (void)m; return 0; }
int cuFuncSetAttribute(void *f, int a, int v) { (void)f; if (a == 8) { dyn_smem = v; return 0; } return 1; }
int cuFuncGetAttribute(int *pi, int a, void *f) {
  (void)f;
  switch (a) { case 0: *pi = 512; break; case 1: *pi = 0; break; case 4: *pi = 96; break; default: return 1; }
  return 0;
}
int cuLaunchKernel(void *f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                   unsigned sh, void *st, void **p, void **extra) {
  (void)st; (void)extra;
  unsigned L[8] = {gx, gy, gz, bx, by, bz, sh, 0}; memcpy(last_launch, L, sizeof L);
  if (sh > 49152 && dyn_smem < (int)sh) return 1;
  if (f == (void *)0x100) { /* vadd(float *a, float *b, float *out, int n) */
    float *a = *(float **)p[0], *b = *(float **)p[1], *o = *(float **)p[2]; int n = *(int *)p[3];
    for (int i = 0; i < n; i++) o[i] = a[i] + b[i];
  } else if (f == (void *)0x200) { /* record: copies the first 8 slots */
    for (int i = 0; i < 8; i++) memcpy(last_params + 8 * i, p[i], 8);
  } else if (f == (void *)0x400) pending_error = 700;
  return 0;
}
int cuStreamCreate(void **s, unsigned f) { (void)f; *s = (void *)0x9; return 0; }
int cuStreamSynchronize(void *s) { (void)s; return pending_error; }
int cuStreamDestroy_v2(void *s) { (void)s; return 0; }
int cuEventCreate(void **e, unsigned f) { (void)f; *e = (void *)(uintptr_t)(0x1000 + ++events); return 0; }
int cuEventRecord(void *e, void *s) { (void)e; (void)s; return 0; }
int cuEventSynchronize(void *e) { (void)e; return 0; }
int cuEventElapsedTime(float *ms, void *a, void *b) { *ms = (float)((uintptr_t)b - (uintptr_t)a) * 0.25f; return 0; }
int cuEventDestroy_v2(void *e) { (void)e; events--; return 0; }
int cuGetErrorName(int c, const char **s) {
  switch (c) {
  case 1: *s = "CUDA_ERROR_INVALID_VALUE"; return 0; case 2: *s = "CUDA_ERROR_OUT_OF_MEMORY"; return 0;
  case 218: *s = "CUDA_ERROR_INVALID_PTX"; return 0; case 700: *s = "CUDA_ERROR_ILLEGAL_ADDRESS"; return 0;
  }
  *s = 0; return 1;
}
int cuGetErrorString(int c, const char **s) {
  switch (c) {
  case 2: *s = "out of memory"; return 0; case 218: *s = "a PTX JIT compilation failed"; return 0;
  case 700: *s = "an illegal memory access was encountered"; return 0;
  }
  *s = 0; return 1;
}
long mock_live(void) { return live; }
int mock_links(void) { return links; }
int mock_cubin_loads(void) { return cubin_loads; }
long mock_events(void) { return events; }
int mock_dyn_smem(void) { return dyn_smem; }
void *mock_last_params(void) { return last_params; }
void *mock_last_launch(void) { return last_launch; }
void mock_clear_error(void) { pending_error = 0; }
`;

function findCompiler(): string | undefined {
  for (const cc of ['cc', 'gcc', 'clang']) {
    try {
      execFileSync(cc, ['--version'], { stdio: 'ignore' });
      return cc;
    } catch {
      // try the next
    }
  }
  return undefined;
}

const compiler = process.platform === 'linux' ? findCompiler() : undefined;

function fakeKernel(name: string, ptx: Partial<PtxKernel> & { params: PtxParam[] }, numWarps = 4): CompiledKernel {
  const full: PtxKernel = { ptx: `.version 7.0\n.target sm_80\n// ${name}\n`, entry: name, sharedBytes: 0, threads: 32 * numWarps, program: undefined as never, ...ptx };
  // The lowered PTX is pre-cached where the device looks for it, so lowerToPtx is not needed (the
  // stand-in GPU is a Hopper, sm_90, whose PTX target is sm_90a).
  return { name, key: name, params: [], module: undefined as never, stages: [], sourceText: '', artifacts: new Map([[C.ptxArtifactKey(numWarps, 'sm_90a'), full]]) };
}

const dev = (buffer: C.CudaBuffer, name = 'x'): BoundArg => ({ name, kind: 'ptr', buffer: { kind: 'device', dtype: buffer.dtype, buffer } });
const host = (data: Float32Array, name = 'x'): BoundArg => ({ name, kind: 'ptr', buffer: { kind: 'host', dtype: 'f32', data } });
const scalar = (value: number, dtype: 'i32' | 'f32' | 'f64' | 'u8' | 'i1' | 'i64' | 'u32' = 'i32', name = 's'): BoundArg => ({ name, kind: 'scalar', dtype, value });

describe.skipIf(!compiler)('CUDA runtime against a stand-in libcuda (FFI path)', () => {
  let dir = '';
  let libPath = '';
  let usable = false;
  let mock: { live(): number; events(): number; dynSmem(): number; lastParams(): DataView; lastLaunch(): Uint32Array; clearError(): void; links(): number; cubinLoads(): number };

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'tilejit-mockcuda-'));
    writeFileSync(join(dir, 'mock.c'), MOCK_SOURCE);
    libPath = join(dir, 'libmockcuda.so');
    execFileSync(compiler!, ['-shared', '-fPIC', '-O1', '-o', libPath, join(dir, 'mock.c')]);
    // Only when no real driver was loaded by the tests above.
    if (C.isDriverLoaded()) return;
    process.env.TILEJIT_LIBCUDA = libPath;
    C.deviceCount();
    usable = C.loadedDriverPath() === libPath;
    const lib = koffi().load(libPath);
    const k = koffi();
    const lastParams = lib.func('void *mock_last_params()'), lastLaunch = lib.func('void *mock_last_launch()');
    mock = {
      live: lib.func('long mock_live()') as () => number,
      events: lib.func('long mock_events()') as () => number,
      dynSmem: lib.func('int mock_dyn_smem()') as () => number,
      lastParams: () => new DataView(k.view(lastParams(), 64)),
      lastLaunch: () => new Uint32Array(k.view(lastLaunch(), 32).slice(0)),
      clearError: lib.func('void mock_clear_error()') as () => void,
      links: lib.func('int mock_links()') as () => number,
      cubinLoads: lib.func('int mock_cubin_loads()') as () => number,
    };
  });

  afterAll(() => {
    delete process.env.TILEJIT_LIBCUDA;
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('loads the library named by TILEJIT_LIBCUDA and reads device properties', (ctx) => {
    if (!usable) ctx.skip();
    expect(C.isDriverLoaded()).toBe(true);
    expect(C.deviceCount()).toBe(1);
    const p = C.cudaDevice(0).properties;
    expect(p).toMatchObject({ name: 'Mock GPU', major: 9, minor: 0, arch: 'sm_90', smCount: 132, maxSharedMemoryPerBlockOptin: 232448, driverVersion: 13000 });
    expect(p.totalMemory).toBe(80 * 2 ** 30);
    expect(() => C.cudaDevice(1).properties).toThrow(/cuda:1 does not exist: 1 device/);
  });

  it('allocates, uploads, downloads, memsets and frees; nothing leaks', (ctx) => {
    if (!usable) ctx.skip();
    const start = C.liveAllocations(), mockStart = mock.live();
    const a = C.CudaBuffer.from(new Float32Array([1, 2, 3, 4]));
    expect(a.device).toBe('cuda:0');
    expect(a.byteLength).toBe(16);
    expect(typeof a.ptr).toBe('bigint');
    expect(a.download()).toEqual(new Float32Array([1, 2, 3, 4]));
    a.upload(new Float32Array([9]), 2);
    expect(a.download()).toEqual(new Float32Array([1, 2, 9, 4]));
    a.memset(0);
    expect(a.download()).toEqual(new Float32Array(4));
    const h = C.CudaBuffer.from({ dtype: 'f16', data: new Uint16Array([0x3c00, 0x4000]) });
    const back = h.download();
    expect(back).toBeInstanceOf(Uint16Array);
    expect([...back]).toEqual([0x3c00, 0x4000]);
    const i64 = C.cudaAlloc('i64', 2).memset(0xff);
    expect(i64.download()).toEqual(new BigInt64Array([-1n, -1n]));
    expect(C.cudaAlloc('i32', 0).download()).toEqual(new Int32Array(0));
    expect(C.liveAllocations()).toBe(start + 3);
    expect(mock.live()).toBe(mockStart + 3);
    expect(() => a.upload(new Float64Array(1))).toThrow(/8-byte elements/);
    expect(() => a.upload(new Float32Array(5))).toThrow(RangeError);
    for (const b of [a, h, i64]) {
      b.dispose();
      b.dispose();
    }
    expect(a.disposed).toBe(true);
    expect(() => a.ptr).toThrow(/disposed/);
    expect(C.liveAllocations()).toBe(start);
    expect(mock.live()).toBe(mockStart);
  });

  it('reports driver errors with the function and error names', (ctx) => {
    if (!usable) ctx.skip();
    let err: unknown;
    try {
      C.cudaAlloc('f32', 2 ** 40);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(C.CudaError);
    expect((err as C.CudaError).errorName).toBe('CUDA_ERROR_OUT_OF_MEMORY');
    expect((err as Error).message).toMatch(/cuMemAlloc_v2 failed with CUDA_ERROR_OUT_OF_MEMORY \(2\): out of memory/);
  });

  it('puts the JIT error and info logs in PtxLoadError', (ctx) => {
    if (!usable) ctx.skip();
    let err: unknown;
    try {
      C.loadPtxModule(C.cudaContext('cuda'), '.version 7.0\n.target sm_80\n// BADPTX\n');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(C.PtxLoadError);
    expect(err).toBeInstanceOf(C.CudaError);
    const e = err as C.PtxLoadError;
    expect(e.func).toBe('cuModuleLoadDataEx');
    expect(e.errorName).toBe('CUDA_ERROR_INVALID_PTX');
    expect(e.errorLog).toContain("Unresolved extern function 'BADPTX'");
    expect(e.message).toContain("Unresolved extern function 'BADPTX'");
    expect(e.message).toContain('info: mock JIT ran');
    expect(e.message).toContain('.target sm_80');
  });

  it('caches modules by PTX text', (ctx) => {
    if (!usable) ctx.skip();
    const c = C.cudaContext(0);
    const before = C.loadedModuleCount();
    const m1 = C.loadPtxModule(c, '.version 7.0\n// cache test\n');
    const m2 = C.loadPtxModule(c, '.version 7.0\n// cache test\n');
    expect(m2).toBe(m1);
    expect(C.loadedModuleCount()).toBe(before + 1);
    expect(() => C.getFunction(m1, 'nope')).toThrow(/cuModuleGetFunction failed with CUDA_ERROR_NOT_FOUND.*/);
    C.unloadModule(m1);
    expect(C.loadedModuleCount()).toBe(before);
  });

  it('links PTX to a cubin, keeps it in the disk cache and loads it from there without linking again', (ctx) => {
    if (!usable) ctx.skip();
    const c = C.cudaContext(0);
    const ptx = `.version 7.0\n// cubin test ${process.pid} ${Date.now()}\n`;
    const links = mock.links(), loads = mock.cubinLoads();
    const m1 = C.loadPtxModule(c, ptx);
    expect(m1.source).toBe('linked');
    expect(m1.infoLog).toBe('info: mock linker ran');
    expect(mock.links()).toBe(links + 1);
    expect(mock.cubinLoads()).toBe(loads + 1);
    // The entry is keyed by the PTX, the driver version and the architecture.
    const key = C.cubinCacheKey(c, C.ptxHash(ptx));
    expect(key).toContain('driver=13000');
    expect(key).toContain('sm_90');
    const entry = diskCache()!.get<{ cubin: string; infoLog: string }>(key);
    expect(Buffer.from(entry!.cubin, 'base64').toString('latin1')).toBe(`CUBIN:${ptx}\0`);
    // A new process would find it: unloading forgets the in-memory module.
    C.unloadModule(m1);
    const m2 = C.loadPtxModule(c, ptx);
    expect(m2.source).toBe('disk-cubin');
    expect(m2.infoLog).toBe('info: mock linker ran');
    expect(mock.links()).toBe(links + 1); // not linked again
    expect(mock.cubinLoads()).toBe(loads + 2);
    C.unloadModule(m2);
    // An entry the driver refuses (another driver's binary, damage that kept the digest) is linked again.
    diskCache()!.put(key, { cubin: Buffer.from('not a cubin').toString('base64'), infoLog: '' });
    const m3 = C.loadPtxModule(c, ptx);
    expect(m3.source).toBe('linked');
    expect(mock.links()).toBe(links + 2);
    C.unloadModule(m3);
  });

  it('launches on device buffers and on host arrays (copied in and back out)', (ctx) => {
    if (!usable) ctx.skip();
    const start = C.liveAllocations();
    const device = C.cudaDevice('cuda');
    const k = fakeKernel('vadd', { params: [{ name: 'a', kind: 'ptr' }, { name: 'b', kind: 'ptr' }, { name: 'o', kind: 'ptr' }, { name: 'n', kind: 'scalar', type: 's32' }] });
    const a = C.toCuda(new Float32Array([1, 2, 3])), b = C.toCuda(new Float32Array([10, 20, 30])), o = C.cudaAlloc('f32', 3);
    const constexpr: BoundArg = { name: 'BLOCK', kind: 'constexpr', value: 128 };
    device.launch({ kernel: k, grid: [1, 1, 1], numWarps: 4, args: [dev(a), dev(b), dev(o), scalar(3), constexpr] });
    expect(o.download()).toEqual(new Float32Array([11, 22, 33]));
    expect(k.artifacts.get(C.cudaArtifactKey(0, 4, 'sm_90a'))).toBeDefined();
    expect(Array.from(mock.lastLaunch().subarray(0, 7))).toEqual([1, 1, 1, 128, 1, 1, 0]);
    // Host arrays: copied in, copied back, temporaries freed.
    const ha = new Float32Array([1, 1, 1]), ho = new Float32Array(3);
    device.launch({ kernel: k, grid: [1, 1, 1], numWarps: 4, args: [host(ha), dev(b), host(ho), scalar(3)] });
    expect(ho).toEqual(new Float32Array([11, 21, 31]));
    expect(ha).toEqual(new Float32Array([1, 1, 1]));
    // The same array twice stays one device buffer (in-place update).
    const inout = new Float32Array([5, 6, 7]);
    device.launch({ kernel: k, grid: [1, 1, 1], numWarps: 4, args: [host(inout), dev(b), host(inout), scalar(3)] });
    expect(inout).toEqual(new Float32Array([15, 26, 37]));
    expect(C.liveAllocations()).toBe(start + 3);
    expect(() => device.launch({ kernel: k, grid: [1, 1, 1], numWarps: 4, args: [dev(a), dev(b), dev(o)] })).toThrow(/takes 4 parameters/);
    for (const x of [a, b, o]) x.dispose();
    expect(C.liveAllocations()).toBe(start);
  });

  it('passes every scalar type through the FFI at the right offsets, and opts in to large shared memory', (ctx) => {
    if (!usable) ctx.skip();
    const params: PtxParam[] = [
      { name: 'p', kind: 'ptr' },
      { name: 'i', kind: 'scalar', type: 's32' },
      { name: 'f', kind: 'scalar', type: 'f32' },
      { name: 'd', kind: 'scalar', type: 'f64' },
      // 1-byte slots: not produced by the backend today, supported by the packer.
      { name: 'u', kind: 'scalar', type: 'u8' } as unknown as PtxParam,
      { name: 'q', kind: 'scalar', type: 'pred' } as unknown as PtxParam,
      { name: 'l', kind: 'scalar', type: 's64' },
      { name: 'x', kind: 'scalar', type: 'u32' },
    ];
    const k = fakeKernel('record', { params, sharedBytes: 100_000, threads: 64 }, 2);
    const buf = C.cudaAlloc('f32', 1);
    C.cudaDevice(0).launch({
      kernel: k, grid: [7, 2, 3], numWarps: 2,
      args: [dev(buf), scalar(-5), scalar(1.5, 'f32'), scalar(Math.PI, 'f64'), scalar(200, 'u8'), scalar(1, 'i1'), scalar(-(2 ** 40), 'i64'), scalar(4e9, 'u32')],
    });
    const dv = mock.lastParams();
    expect(dv.getBigUint64(0, true)).toBe(buf.ptr);
    expect(dv.getInt32(8, true)).toBe(-5);
    expect(dv.getFloat32(16, true)).toBe(1.5);
    expect(dv.getFloat64(24, true)).toBe(Math.PI);
    expect(dv.getUint8(32)).toBe(200);
    expect(dv.getUint8(40)).toBe(1);
    expect(dv.getBigInt64(48, true)).toBe(-(2n ** 40n));
    expect(dv.getUint32(56, true)).toBe(4e9);
    expect(Array.from(mock.lastLaunch().subarray(0, 7))).toEqual([7, 2, 3, 64, 1, 1, 100_000]);
    expect(mock.dynSmem()).toBe(100_000);
    buf.dispose();
  });

  it('refuses kernels beyond the device limits with clear errors', (ctx) => {
    if (!usable) ctx.skip();
    const device = C.cudaDevice(0);
    const big = fakeKernel('record', { params: [], sharedBytes: 300_000 });
    expect(() => device.launch({ kernel: big, grid: [1, 1, 1], numWarps: 4, args: [] })).toThrow(
      /needs 300000 bytes of dynamic shared memory, but Mock GPU .* at most 232448 bytes/,
    );
    // The stand-in says the kernel's registers allow 512 threads.
    const wide = fakeKernel('record', { params: [], threads: 1024 }, 32);
    expect(() => device.launch({ kernel: wide, grid: [1, 1, 1], numWarps: 32, args: [] })).toThrow(/1024 threads .* 96 registers .* at most 512/);
  });

  it('times launches with events', (ctx) => {
    if (!usable) ctx.skip();
    let calls = 0;
    const t = C.timeLaunches(() => void calls++, { warmup: 2, iters: 5 });
    expect(calls).toBe(7);
    expect(t.samplesMs).toHaveLength(5);
    expect(t.medianMs).toBe(0.25); // the stand-in reports (end - start) / 4 with consecutive handles
    expect(mock.events()).toBe(0);
  });

  it('names the kernel and the driver error when a launch faults (host arguments synchronize)', (ctx) => {
    if (!usable) ctx.skip();
    const start = C.liveAllocations();
    const k = fakeKernel('fault', { params: [{ name: 'p', kind: 'ptr' }] });
    let err: unknown;
    try {
      C.cudaDevice(0).launch({ kernel: k, grid: [1, 1, 1], numWarps: 4, args: [host(new Float32Array(4))] });
    } catch (e) {
      err = e;
    } finally {
      mock.clearError();
    }
    expect(err).toBeInstanceOf(C.CudaError);
    expect((err as C.CudaError).errorName).toBe('CUDA_ERROR_ILLEGAL_ADDRESS');
    expect((err as Error).message).toContain("kernel 'fault' on cuda:0");
    expect(C.liveAllocations()).toBe(start);
  });
});
