// The CUDA driver API (libcuda) bound with koffi. Nothing is loaded until the first CUDA call: importing
// tilejit on a machine without a GPU works, and only a CUDA call fails, with an error that names every
// library path it tried. Every CUresult is checked; a non-zero one throws CudaError with the function
// name and the driver's error name and description.
//
// Conventions of these bindings (koffi 3.x):
// - out-parameters are declared `void *` and passed single-element typed arrays (Int32Array for int,
//   BigUint64Array for size_t / CUdeviceptr / handles, Float32Array for float), written in place;
// - handles (CUcontext, CUmodule, CUfunction, CUstream, CUevent) are opaque pointers, kept as bigint
//   (koffi 3 passes pointers as BigInt); `null` is NULL (the legacy default stream);
// - CUdeviceptr is a 64-bit integer, always normalised to bigint.
import { createRequire } from 'node:module';

type Koffi = typeof import('koffi');

/** An opaque driver handle (CUcontext, CUmodule, CUfunction, CUstream, CUevent). */
export type CuHandle = bigint;
/** A device address. */
export type CuDevicePtr = bigint;
/** Host memory the driver reads or writes in place. */
type HostView = ArrayBufferView;

/** The raw driver entry points: each returns a CUresult. */
export interface CudaDriverApi {
  cuInit(flags: number): number;
  cuDriverGetVersion(version: Int32Array): number;
  cuDeviceGetCount(count: Int32Array): number;
  cuDeviceGet(device: Int32Array, ordinal: number): number;
  cuDeviceGetName(name: Uint8Array, len: number, dev: number): number;
  cuDeviceGetAttribute(pi: Int32Array, attrib: number, dev: number): number;
  cuDeviceTotalMem_v2(bytes: BigUint64Array, dev: number): number;
  cuDevicePrimaryCtxRetain(pctx: BigUint64Array, dev: number): number;
  cuDevicePrimaryCtxRelease_v2(dev: number): number;
  cuCtxSetCurrent(ctx: CuHandle | null): number;
  cuCtxSynchronize(): number;
  cuMemGetInfo_v2(free: BigUint64Array, total: BigUint64Array): number;
  cuMemAlloc_v2(dptr: BigUint64Array, bytesize: number): number;
  cuMemFree_v2(dptr: CuDevicePtr): number;
  cuMemcpyHtoD_v2(dst: CuDevicePtr, src: HostView, bytes: number): number;
  cuMemcpyDtoH_v2(dst: HostView, src: CuDevicePtr, bytes: number): number;
  cuMemcpyHtoDAsync_v2(dst: CuDevicePtr, src: HostView, bytes: number, stream: CuHandle | null): number;
  cuMemcpyDtoHAsync_v2(dst: HostView, src: CuDevicePtr, bytes: number, stream: CuHandle | null): number;
  cuMemsetD8_v2(dst: CuDevicePtr, value: number, count: number): number;
  cuModuleLoadDataEx(module: BigUint64Array, image: Uint8Array, numOptions: number, options: Int32Array | null, optionValues: BigUint64Array | null): number;
  cuModuleGetFunction(hfunc: BigUint64Array, hmod: CuHandle, name: string): number;
  cuModuleUnload(hmod: CuHandle): number;
  cuFuncSetAttribute(hfunc: CuHandle, attrib: number, value: number): number;
  cuFuncGetAttribute(pi: Int32Array, attrib: number, hfunc: CuHandle): number;
  cuLaunchKernel(
    f: CuHandle, gridX: number, gridY: number, gridZ: number, blockX: number, blockY: number, blockZ: number,
    sharedMemBytes: number, stream: CuHandle | null, kernelParams: BigUint64Array | null, extra: null,
  ): number;
  cuStreamCreate(stream: BigUint64Array, flags: number): number;
  cuStreamSynchronize(stream: CuHandle | null): number;
  cuStreamDestroy_v2(stream: CuHandle): number;
  cuEventCreate(event: BigUint64Array, flags: number): number;
  cuEventRecord(event: CuHandle, stream: CuHandle | null): number;
  cuEventSynchronize(event: CuHandle): number;
  cuEventElapsedTime(ms: Float32Array, start: CuHandle, end: CuHandle): number;
  cuEventDestroy_v2(event: CuHandle): number;
  cuGetErrorName(error: number, pStr: BigUint64Array): number;
  cuGetErrorString(error: number, pStr: BigUint64Array): number;
}

/**
 * Entry points a driver may lack without being unusable: the linker, which gives the cubin that the
 * kernel cache keeps on disk (without it, PTX is JIT-compiled by cuModuleLoadDataEx on every load).
 */
export interface CudaLinkerApi {
  cuLinkCreate_v2(numOptions: number, options: Int32Array | null, optionValues: BigUint64Array | null, stateOut: BigUint64Array): number;
  cuLinkAddData_v2(
    state: CuHandle, type: number, data: Uint8Array, size: number, name: string, numOptions: number, options: Int32Array | null, optionValues: BigUint64Array | null,
  ): number;
  cuLinkComplete(state: CuHandle, cubinOut: BigUint64Array, sizeOut: BigUint64Array): number;
  cuLinkDestroy(state: CuHandle): number;
}

const OPTIONAL_PROTOTYPES: Readonly<Record<keyof CudaLinkerApi, string>> = {
  cuLinkCreate_v2: 'int cuLinkCreate_v2(uint numOptions, void *options, void *optionValues, void *stateOut)',
  cuLinkAddData_v2: 'int cuLinkAddData_v2(void *state, int type, void *data, size_t size, const char *name, uint numOptions, void *options, void *optionValues)',
  cuLinkComplete: 'int cuLinkComplete(void *state, void *cubinOut, void *sizeOut)',
  cuLinkDestroy: 'int cuLinkDestroy(void *state)',
};

/** C prototypes as koffi parses them; CUresult and CUdevice are int, CUdeviceptr is uint64_t. */
const PROTOTYPES: Readonly<Record<keyof CudaDriverApi, string>> = {
  cuInit: 'int cuInit(uint flags)',
  cuDriverGetVersion: 'int cuDriverGetVersion(void *version)',
  cuDeviceGetCount: 'int cuDeviceGetCount(void *count)',
  cuDeviceGet: 'int cuDeviceGet(void *device, int ordinal)',
  cuDeviceGetName: 'int cuDeviceGetName(void *name, int len, int dev)',
  cuDeviceGetAttribute: 'int cuDeviceGetAttribute(void *pi, int attrib, int dev)',
  cuDeviceTotalMem_v2: 'int cuDeviceTotalMem_v2(void *bytes, int dev)',
  cuDevicePrimaryCtxRetain: 'int cuDevicePrimaryCtxRetain(void *pctx, int dev)',
  cuDevicePrimaryCtxRelease_v2: 'int cuDevicePrimaryCtxRelease_v2(int dev)',
  cuCtxSetCurrent: 'int cuCtxSetCurrent(void *ctx)',
  cuCtxSynchronize: 'int cuCtxSynchronize()',
  cuMemGetInfo_v2: 'int cuMemGetInfo_v2(void *free, void *total)',
  cuMemAlloc_v2: 'int cuMemAlloc_v2(void *dptr, size_t bytesize)',
  cuMemFree_v2: 'int cuMemFree_v2(uint64_t dptr)',
  cuMemcpyHtoD_v2: 'int cuMemcpyHtoD_v2(uint64_t dst, void *src, size_t bytes)',
  cuMemcpyDtoH_v2: 'int cuMemcpyDtoH_v2(void *dst, uint64_t src, size_t bytes)',
  cuMemcpyHtoDAsync_v2: 'int cuMemcpyHtoDAsync_v2(uint64_t dst, void *src, size_t bytes, void *stream)',
  cuMemcpyDtoHAsync_v2: 'int cuMemcpyDtoHAsync_v2(void *dst, uint64_t src, size_t bytes, void *stream)',
  cuMemsetD8_v2: 'int cuMemsetD8_v2(uint64_t dst, uint8_t value, size_t count)',
  cuModuleLoadDataEx: 'int cuModuleLoadDataEx(void *module, void *image, uint numOptions, void *options, void *optionValues)',
  cuModuleGetFunction: 'int cuModuleGetFunction(void *hfunc, void *hmod, const char *name)',
  cuModuleUnload: 'int cuModuleUnload(void *hmod)',
  cuFuncSetAttribute: 'int cuFuncSetAttribute(void *hfunc, int attrib, int value)',
  cuFuncGetAttribute: 'int cuFuncGetAttribute(void *pi, int attrib, void *hfunc)',
  cuLaunchKernel:
    'int cuLaunchKernel(void *f, uint gridX, uint gridY, uint gridZ, uint blockX, uint blockY, uint blockZ, uint sharedMemBytes, void *stream, void *kernelParams, void *extra)',
  cuStreamCreate: 'int cuStreamCreate(void *stream, uint flags)',
  cuStreamSynchronize: 'int cuStreamSynchronize(void *stream)',
  cuStreamDestroy_v2: 'int cuStreamDestroy_v2(void *stream)',
  cuEventCreate: 'int cuEventCreate(void *event, uint flags)',
  cuEventRecord: 'int cuEventRecord(void *event, void *stream)',
  cuEventSynchronize: 'int cuEventSynchronize(void *event)',
  // The plain symbol: cuEventElapsedTime_v2 needs a 12.8+ driver.
  cuEventElapsedTime: 'int cuEventElapsedTime(void *ms, void *start, void *end)',
  cuEventDestroy_v2: 'int cuEventDestroy_v2(void *event)',
  cuGetErrorName: 'int cuGetErrorName(int error, void *pStr)',
  cuGetErrorString: 'int cuGetErrorString(int error, void *pStr)',
};

// ---------------------------------------------------------------------------------------------------
// Error codes

/** CUresult names of the common codes, used when the driver cannot be asked (or does not know). */
export const CUDA_ERROR_NAMES: Readonly<Record<number, string>> = {
  0: 'CUDA_SUCCESS',
  1: 'CUDA_ERROR_INVALID_VALUE',
  2: 'CUDA_ERROR_OUT_OF_MEMORY',
  3: 'CUDA_ERROR_NOT_INITIALIZED',
  4: 'CUDA_ERROR_DEINITIALIZED',
  5: 'CUDA_ERROR_PROFILER_DISABLED',
  34: 'CUDA_ERROR_STUB_LIBRARY',
  46: 'CUDA_ERROR_DEVICE_UNAVAILABLE',
  100: 'CUDA_ERROR_NO_DEVICE',
  101: 'CUDA_ERROR_INVALID_DEVICE',
  102: 'CUDA_ERROR_DEVICE_NOT_LICENSED',
  200: 'CUDA_ERROR_INVALID_IMAGE',
  201: 'CUDA_ERROR_INVALID_CONTEXT',
  202: 'CUDA_ERROR_CONTEXT_ALREADY_CURRENT',
  205: 'CUDA_ERROR_MAP_FAILED',
  206: 'CUDA_ERROR_UNMAP_FAILED',
  209: 'CUDA_ERROR_NO_BINARY_FOR_GPU',
  214: 'CUDA_ERROR_ECC_UNCORRECTABLE',
  215: 'CUDA_ERROR_UNSUPPORTED_LIMIT',
  216: 'CUDA_ERROR_CONTEXT_ALREADY_IN_USE',
  217: 'CUDA_ERROR_PEER_ACCESS_UNSUPPORTED',
  218: 'CUDA_ERROR_INVALID_PTX',
  219: 'CUDA_ERROR_INVALID_GRAPHICS_CONTEXT',
  220: 'CUDA_ERROR_NVLINK_UNCORRECTABLE',
  221: 'CUDA_ERROR_JIT_COMPILER_NOT_FOUND',
  222: 'CUDA_ERROR_UNSUPPORTED_PTX_VERSION',
  223: 'CUDA_ERROR_JIT_COMPILATION_DISABLED',
  224: 'CUDA_ERROR_UNSUPPORTED_EXEC_AFFINITY',
  225: 'CUDA_ERROR_UNSUPPORTED_DEVSIDE_SYNC',
  300: 'CUDA_ERROR_INVALID_SOURCE',
  301: 'CUDA_ERROR_FILE_NOT_FOUND',
  302: 'CUDA_ERROR_SHARED_OBJECT_SYMBOL_NOT_FOUND',
  303: 'CUDA_ERROR_SHARED_OBJECT_INIT_FAILED',
  304: 'CUDA_ERROR_OPERATING_SYSTEM',
  400: 'CUDA_ERROR_INVALID_HANDLE',
  401: 'CUDA_ERROR_ILLEGAL_STATE',
  402: 'CUDA_ERROR_LOSSY_QUERY',
  500: 'CUDA_ERROR_NOT_FOUND',
  600: 'CUDA_ERROR_NOT_READY',
  700: 'CUDA_ERROR_ILLEGAL_ADDRESS',
  701: 'CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES',
  702: 'CUDA_ERROR_LAUNCH_TIMEOUT',
  703: 'CUDA_ERROR_LAUNCH_INCOMPATIBLE_TEXTURING',
  704: 'CUDA_ERROR_PEER_ACCESS_ALREADY_ENABLED',
  705: 'CUDA_ERROR_PEER_ACCESS_NOT_ENABLED',
  708: 'CUDA_ERROR_PRIMARY_CONTEXT_ACTIVE',
  709: 'CUDA_ERROR_CONTEXT_IS_DESTROYED',
  710: 'CUDA_ERROR_ASSERT',
  711: 'CUDA_ERROR_TOO_MANY_PEERS',
  712: 'CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED',
  713: 'CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED',
  714: 'CUDA_ERROR_HARDWARE_STACK_ERROR',
  715: 'CUDA_ERROR_ILLEGAL_INSTRUCTION',
  716: 'CUDA_ERROR_MISALIGNED_ADDRESS',
  717: 'CUDA_ERROR_INVALID_ADDRESS_SPACE',
  718: 'CUDA_ERROR_INVALID_PC',
  719: 'CUDA_ERROR_LAUNCH_FAILED',
  720: 'CUDA_ERROR_COOPERATIVE_LAUNCH_TOO_LARGE',
  800: 'CUDA_ERROR_NOT_PERMITTED',
  801: 'CUDA_ERROR_NOT_SUPPORTED',
  802: 'CUDA_ERROR_SYSTEM_NOT_READY',
  803: 'CUDA_ERROR_SYSTEM_DRIVER_MISMATCH',
  804: 'CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE',
  900: 'CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED',
  909: 'CUDA_ERROR_TIMEOUT',
  999: 'CUDA_ERROR_UNKNOWN',
};

/** Named CUresult codes the runtime tests for. */
export const CUresult = {
  SUCCESS: 0,
  INVALID_VALUE: 1,
  OUT_OF_MEMORY: 2,
  NOT_INITIALIZED: 3,
  NO_DEVICE: 100,
  INVALID_DEVICE: 101,
  INVALID_IMAGE: 200,
  INVALID_PTX: 218,
  UNSUPPORTED_PTX_VERSION: 222,
  NOT_FOUND: 500,
  NOT_READY: 600,
  ILLEGAL_ADDRESS: 700,
  LAUNCH_OUT_OF_RESOURCES: 701,
  LAUNCH_FAILED: 719,
} as const;

/** The CUresult's name from the built-in table (no driver needed). */
export function cudaErrorName(code: number): string {
  return CUDA_ERROR_NAMES[code] ?? `CUDA_ERROR_${code}`;
}

/** A CUDA driver call that returned something other than CUDA_SUCCESS. */
export class CudaError extends Error {
  override name = 'CudaError';
  /** The CUresult name, e.g. CUDA_ERROR_ILLEGAL_ADDRESS. */
  readonly errorName: string;
  /** The driver's description of the code (may be empty when the driver could not be asked). */
  readonly errorString: string;
  constructor(
    /** The driver function that failed, e.g. cuMemAlloc_v2. */
    readonly func: string,
    /** The CUresult code. */
    readonly code: number,
    /** Extra context placed before the driver's words (what was being done). */
    context?: string,
  ) {
    const { name, text } = describeCudaError(code);
    super(`${context ? `${context}: ` : ''}${func} failed with ${name} (${code})${text ? `: ${text}` : ''}`);
    this.errorName = name;
    this.errorString = text;
  }
}

/** Name and description of a CUresult: from the driver when it is loaded, else from the built-in table. */
export function describeCudaError(code: number): { name: string; text: string } {
  return describeWith(loaded?.api, code);
}

function describeWith(api: CudaDriverApi | undefined, code: number): { name: string; text: string } {
  let name: string | undefined, text: string | undefined;
  if (api) {
    try {
      name = driverString(api.cuGetErrorName, code);
      text = driverString(api.cuGetErrorString, code);
    } catch {
      // fall back to the table
    }
  }
  return { name: name ?? cudaErrorName(code), text: text ?? '' };
}

function driverString(fn: (code: number, out: BigUint64Array) => number, code: number): string | undefined {
  const out = new BigUint64Array(1);
  if (fn(code, out) !== 0 || out[0] === 0n) return undefined;
  return koffi().decode.string(out[0]!);
}

/** Throws CudaError when `result` is not CUDA_SUCCESS. */
export function check(func: string, result: number, context?: string): void {
  if (result !== 0) throw new CudaError(func, result, context);
}

// ---------------------------------------------------------------------------------------------------
// Lazy loading

/** The CUDA driver library could not be found or bound; names every path tried and why it failed. */
export class CudaDriverLoadError extends Error {
  override name = 'CudaDriverLoadError';
  constructor(
    message: string,
    /** Each candidate tried, with the loader's reason. */
    readonly attempts: readonly { readonly path: string; readonly error: string }[],
  ) {
    super(message);
  }
}

/** The library candidates in the order they are tried (TILEJIT_LIBCUDA first when set). */
export function libcudaCandidates(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): string[] {
  const list: string[] = [];
  const override = env.TILEJIT_LIBCUDA;
  if (override) list.push(override);
  if (platform === 'win32') list.push('nvcuda.dll');
  else
    list.push(
      'libcuda.so.1',
      '/usr/local/nvidia/lib64/libcuda.so.1',
      '/usr/lib/x86_64-linux-gnu/libcuda.so.1',
      '/usr/lib64/libcuda.so.1',
      '/usr/lib/libcuda.so.1',
    );
  return [...new Set(list)];
}

interface LoadedDriver {
  readonly path: string;
  readonly api: CudaDriverApi;
  /** The linker entry points, when the library has all of them. */
  readonly linker: CudaLinkerApi | undefined;
}

let koffiModule: Koffi | undefined;
let loaded: LoadedDriver | undefined;

/** koffi itself, required on first use (its native addon is not loaded by importing tilejit). */
export function koffi(): Koffi {
  if (!koffiModule) koffiModule = createRequire(import.meta.url)('koffi') as Koffi;
  return koffiModule;
}

/** Whether a driver library has been loaded in this process (false until the first CUDA call). */
export function isDriverLoaded(): boolean {
  return loaded !== undefined;
}

/** The path of the loaded driver library, if any. */
export function loadedDriverPath(): string | undefined {
  return loaded?.path;
}

function loadDriver(): LoadedDriver {
  if (loaded) return loaded;
  const attempts: { path: string; error: string }[] = [];
  let k: Koffi;
  try {
    k = koffi();
  } catch (e) {
    throw new CudaDriverLoadError(`cannot load the CUDA driver: the koffi FFI module failed to load: ${errText(e)}`, [{ path: 'koffi', error: errText(e) }]);
  }
  const override = process.env.TILEJIT_LIBCUDA;
  for (const path of libcudaCandidates()) {
    let lib: ReturnType<Koffi['load']>;
    try {
      lib = k.load(path);
    } catch (e) {
      attempts.push({ path, error: errText(e) });
      continue;
    }
    const api: Partial<Record<keyof CudaDriverApi, unknown>> = {};
    const missing: string[] = [];
    for (const [key, proto] of Object.entries(PROTOTYPES) as [keyof CudaDriverApi, string][]) {
      try {
        api[key] = lib.func(proto);
      } catch (e) {
        missing.push(`${key} (${errText(e)})`);
      }
    }
    if (missing.length) {
      attempts.push({ path, error: `loaded, but lacks ${missing.join(', ')}` });
      try {
        lib.unload();
      } catch {
        // ignore
      }
      continue;
    }
    // A library that loads but cannot initialize (a toolkit stub, a driver/kernel-module mismatch) does
    // not end the search: another candidate may be the working driver.
    const full = api as CudaDriverApi;
    const res = full.cuInit(0);
    if (res !== 0) {
      const { name, text } = describeWith(full, res);
      attempts.push({ path, error: `loaded, but cuInit failed with ${name} (${res})${text ? `: ${text}` : ''}` });
      continue;
    }
    let linker: Partial<Record<keyof CudaLinkerApi, unknown>> | undefined = {};
    for (const [key, proto] of Object.entries(OPTIONAL_PROTOTYPES) as [keyof CudaLinkerApi, string][]) {
      try {
        linker[key] = lib.func(proto);
      } catch {
        linker = undefined;
        break;
      }
    }
    loaded = { path, api: full, linker: linker as CudaLinkerApi | undefined };
    return loaded;
  }
  const lines = attempts.map((a) => `  ${a.path}${a.path === override ? ' (from TILEJIT_LIBCUDA)' : ''}: ${a.error}`);
  throw new CudaDriverLoadError(
    `cannot load and initialize the CUDA driver library (libcuda); tried ${attempts.length} path(s):\n${lines.join('\n')}\n` +
      `Set TILEJIT_LIBCUDA to the full path of libcuda.so.1 (nvcuda.dll on Windows) if it is installed elsewhere` +
      (override ? '' : ' (TILEJIT_LIBCUDA is not set)'),
    attempts,
  );
}

/** The driver API, loaded and cuInit'ed on first use. Throws CudaDriverLoadError when no candidate works. */
export function cu(): CudaDriverApi {
  return (loaded ?? loadDriver()).api;
}

/** The driver's linker entry points (loading the driver first), or undefined when it lacks them. */
export function cuLinker(): CudaLinkerApi | undefined {
  return (loaded ?? loadDriver()).linker;
}

/** The driver version as reported by cuDriverGetVersion (e.g. 13000 for CUDA 13.0). */
export function driverVersion(): number {
  const out = new Int32Array(1);
  check('cuDriverGetVersion', cu().cuDriverGetVersion(out));
  return out[0]!;
}

/** Number of CUDA devices (throws when the driver cannot be loaded). */
export function deviceCount(): number {
  const out = new Int32Array(1);
  check('cuDeviceGetCount', cu().cuDeviceGetCount(out));
  return out[0]!;
}

/** Converts a pointer-sized value from the FFI (number or bigint) to bigint. */
export function toBigPtr(x: number | bigint | null | undefined): bigint {
  if (x === null || x === undefined) return 0n;
  return typeof x === 'bigint' ? x : BigInt(x);
}

function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
