// PTX modules: the driver's linker compiles PTX for the device (cuLinkCreate/cuLinkAddData/cuLinkComplete)
// and the cubin it returns is kept in the disk cache, keyed by the PTX text, the driver version and the
// GPU architecture, so that a later process loads the binary without running ptxas again. Without the
// linker, or when linking fails, cuModuleLoadDataEx JIT-compiles the PTX (and reports the JIT's logs).
// Also function lookup and the dynamic shared memory opt-in above 48 KB. Modules are cached per device
// by a hash of their PTX text.
import { createHash } from 'node:crypto';
import { check, cu, cuLinker, CudaError, koffi, type CuHandle } from './driver.js';
import type { CudaContext } from './context.js';
import { diskCache } from '../disk-cache.js';

/** CUjit_option values. */
export const JitOption = {
  INFO_LOG_BUFFER: 3,
  INFO_LOG_BUFFER_SIZE_BYTES: 4,
  ERROR_LOG_BUFFER: 5,
  ERROR_LOG_BUFFER_SIZE_BYTES: 6,
  LOG_VERBOSE: 12,
} as const;

/** CUfunction_attribute values. */
export const FuncAttribute = {
  MAX_THREADS_PER_BLOCK: 0,
  SHARED_SIZE_BYTES: 1,
  CONST_SIZE_BYTES: 2,
  LOCAL_SIZE_BYTES: 3,
  NUM_REGS: 4,
  PTX_VERSION: 5,
  BINARY_VERSION: 6,
  MAX_DYNAMIC_SHARED_SIZE_BYTES: 8,
} as const;

/** Dynamic shared memory a launch may use without opting in. */
export const DEFAULT_MAX_DYNAMIC_SHARED = 48 * 1024;
const LOG_BYTES = 16 * 1024;

/** cuModuleLoadDataEx rejected the PTX; carries the JIT's info and error logs. */
export class PtxLoadError extends CudaError {
  override name = 'PtxLoadError';
  constructor(
    func: string,
    code: number,
    readonly errorLog: string,
    readonly infoLog: string,
    readonly ptx: string,
  ) {
    super(func, code, 'loading a PTX module');
    const parts = [this.message];
    parts.push(errorLog ? `JIT error log:\n${indent(errorLog)}` : 'JIT error log: (empty)');
    if (infoLog) parts.push(`JIT info log:\n${indent(infoLog)}`);
    parts.push(`PTX header:\n${indent(ptx.split('\n').filter((l) => /^\s*\.(version|target|address_size)\b/.test(l)).join('\n') || '(no .version/.target lines)')}`);
    this.message = parts.join('\n');
  }
}

function indent(s: string): string {
  return s.split('\n').map((l) => `  ${l}`).join('\n');
}

export interface LoadedModule {
  readonly ctx: CudaContext;
  readonly handle: CuHandle;
  readonly hash: string;
  /** What the JIT printed (register usage etc. with LOG_VERBOSE). */
  readonly infoLog: string;
  readonly functions: Map<string, CuHandle>;
  /** How the module's code was obtained: linked now, a cubin from the disk cache, or the driver's JIT of the PTX. */
  readonly source: 'linked' | 'disk-cubin' | 'ptx-jit';
}

/** CUjitInputType of PTX text. */
const CU_JIT_INPUT_PTX = 1;

/** The disk-cache entry of a linked cubin: the binary (base64) and the linker's info log. */
interface CubinEntry {
  readonly cubin: string;
  readonly infoLog: string;
}

/** The disk-cache key of the cubin of `ptx` on this context's device with this driver. */
export function cubinCacheKey(ctx: CudaContext, ptxHashHex: string): string {
  const p = ctx.properties;
  return `cubin|driver=${p.driverVersion}|${p.arch}|${ptxHashHex}`;
}

const modules = new Map<string, LoadedModule>();

export function ptxHash(ptx: string): string {
  return createHash('sha256').update(ptx).digest('hex');
}

/** Loads (or returns the cached) module for this PTX text on the context's device. */
export function loadPtxModule(ctx: CudaContext, ptx: string): LoadedModule {
  const hash = ptxHash(ptx);
  const key = `${ctx.index}:${hash}`;
  const cached = modules.get(key);
  if (cached) return cached;
  ctx.makeCurrent();
  const image = Buffer.from(ptx.endsWith('\0') ? ptx : `${ptx}\0`, 'utf8');
  const disk = diskCache();
  const diskKey = disk ? cubinCacheKey(ctx, hash) : '';
  // A cubin linked by an earlier process, for this PTX, driver and architecture.
  const hit = disk?.get<CubinEntry>(diskKey);
  if (hit) {
    const handle = loadImage(Buffer.from(hit.cubin, 'base64'));
    if (handle !== undefined) return remember(key, { ctx, handle, hash, infoLog: hit.infoLog, functions: new Map(), source: 'disk-cubin' });
  }
  const linked = linkPtx(image);
  if (linked) {
    const handle = loadImage(linked.cubin);
    if (handle !== undefined) {
      disk?.put(diskKey, { cubin: linked.cubin.toString('base64'), infoLog: linked.infoLog } satisfies CubinEntry);
      return remember(key, { ctx, handle, hash, infoLog: linked.infoLog, functions: new Map(), source: 'linked' });
    }
  }
  const k = koffi();
  const infoLog = Buffer.alloc(LOG_BYTES), errorLog = Buffer.alloc(LOG_BYTES);
  const options = new Int32Array([
    JitOption.INFO_LOG_BUFFER,
    JitOption.INFO_LOG_BUFFER_SIZE_BYTES,
    JitOption.ERROR_LOG_BUFFER,
    JitOption.ERROR_LOG_BUFFER_SIZE_BYTES,
    JitOption.LOG_VERBOSE,
  ]);
  // Option values are pointer-sized slots: buffers by address, sizes and flags by value.
  const values = new BigUint64Array([k.address(infoLog), BigInt(LOG_BYTES), k.address(errorLog), BigInt(LOG_BYTES), 1n]);
  const out = new BigUint64Array(1);
  const res = cu().cuModuleLoadDataEx(out, image, options.length, options, values);
  const info = cString(infoLog), error = cString(errorLog);
  if (res !== 0) throw new PtxLoadError('cuModuleLoadDataEx', res, error, info, ptx);
  return remember(key, { ctx, handle: out[0]!, hash, infoLog: info, functions: new Map(), source: 'ptx-jit' });
}

function remember(key: string, m: LoadedModule): LoadedModule {
  modules.set(key, m);
  return m;
}

/** Loads a cubin into the current context; undefined when the driver refuses it. */
function loadImage(cubin: Buffer): CuHandle | undefined {
  const out = new BigUint64Array(1);
  return cu().cuModuleLoadDataEx(out, cubin, 0, null, null) === 0 ? out[0]! : undefined;
}

/**
 * Compiles PTX (NUL-terminated) to a cubin for the current context's device with the driver's linker.
 * Undefined when the driver has no linker or linking fails: the caller then loads the PTX through
 * cuModuleLoadDataEx, which reports the JIT's error log.
 */
export function linkPtx(image: Buffer): { cubin: Buffer; infoLog: string } | undefined {
  const linker = cuLinker();
  if (!linker) return undefined;
  const k = koffi();
  const infoLog = Buffer.alloc(LOG_BYTES), errorLog = Buffer.alloc(LOG_BYTES);
  const options = new Int32Array([
    JitOption.INFO_LOG_BUFFER,
    JitOption.INFO_LOG_BUFFER_SIZE_BYTES,
    JitOption.ERROR_LOG_BUFFER,
    JitOption.ERROR_LOG_BUFFER_SIZE_BYTES,
    JitOption.LOG_VERBOSE,
  ]);
  // The log buffers must stay alive until cuLinkDestroy: they are referenced from here to the end.
  const values = new BigUint64Array([k.address(infoLog), BigInt(LOG_BYTES), k.address(errorLog), BigInt(LOG_BYTES), 1n]);
  const state = new BigUint64Array(1);
  if (linker.cuLinkCreate_v2(options.length, options, values, state) !== 0) return undefined;
  try {
    if (linker.cuLinkAddData_v2(state[0]!, CU_JIT_INPUT_PTX, image, image.length, 'kernel.ptx', 0, null, null) !== 0) return undefined;
    const cubinPtr = new BigUint64Array(1), size = new BigUint64Array(1);
    if (linker.cuLinkComplete(state[0]!, cubinPtr, size) !== 0 || cubinPtr[0] === 0n || size[0] === 0n) return undefined;
    // The linker owns the cubin's memory until cuLinkDestroy: copy it out.
    const cubin = Buffer.from(new Uint8Array(k.view(cubinPtr[0]!, Number(size[0]!))));
    return { cubin, infoLog: cString(infoLog) };
  } finally {
    linker.cuLinkDestroy(state[0]!);
  }
}

/** Looks up a kernel (.entry) by name in a loaded module. */
export function getFunction(m: LoadedModule, name: string): CuHandle {
  const cached = m.functions.get(name);
  if (cached !== undefined) return cached;
  m.ctx.makeCurrent();
  const out = new BigUint64Array(1);
  check('cuModuleGetFunction', cu().cuModuleGetFunction(out, m.handle, name), `looking up kernel '${name}' in a PTX module on cuda:${m.ctx.index}`);
  m.functions.set(name, out[0]!);
  return out[0]!;
}

/** Unloads a module and forgets it (its functions become invalid). */
export function unloadModule(m: LoadedModule): void {
  const key = `${m.ctx.index}:${m.hash}`;
  if (modules.get(key) !== m) return;
  modules.delete(key);
  m.ctx.makeCurrent();
  check('cuModuleUnload', cu().cuModuleUnload(m.handle));
}

/** Number of modules loaded and cached (all devices). */
export function loadedModuleCount(): number {
  return modules.size;
}

export function funcAttribute(ctx: CudaContext, fn: CuHandle, attr: number): number {
  ctx.makeCurrent();
  const out = new Int32Array(1);
  check('cuFuncGetAttribute', cu().cuFuncGetAttribute(out, attr, fn), `reading attribute ${attr} of a kernel`);
  return out[0]!;
}

/**
 * Checks a kernel's resource needs against the device and opts in to more than 48 KB of dynamic shared
 * memory when needed (CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES). Throws a RangeError naming the
 * limits when the kernel cannot run with `threads` threads and `sharedBytes` of dynamic shared memory.
 */
export function prepareFunction(ctx: CudaContext, fn: CuHandle, kernel: string, threads: number, sharedBytes: number): void {
  const maxThreads = funcAttribute(ctx, fn, FuncAttribute.MAX_THREADS_PER_BLOCK);
  if (threads > maxThreads) {
    const regs = funcAttribute(ctx, fn, FuncAttribute.NUM_REGS);
    throw new RangeError(
      `kernel '${kernel}' cannot run with ${threads} threads per block on cuda:${ctx.index}: it uses ${regs} registers per thread, ` +
        `which allows at most ${maxThreads} threads (use fewer warps)`,
    );
  }
  const staticBytes = funcAttribute(ctx, fn, FuncAttribute.SHARED_SIZE_BYTES);
  const props = ctx.properties;
  const optin = props.maxSharedMemoryPerBlockOptin;
  if (staticBytes + sharedBytes > optin)
    throw new RangeError(
      `kernel '${kernel}' needs ${sharedBytes} bytes of dynamic shared memory` +
        (staticBytes ? ` plus ${staticBytes} bytes of static shared memory` : '') +
        `, but ${props.name} (cuda:${ctx.index}, ${props.arch}) allows at most ${optin} bytes per block (MAX_SHARED_MEMORY_PER_BLOCK_OPTIN)`,
    );
  if (staticBytes + sharedBytes > DEFAULT_MAX_DYNAMIC_SHARED) {
    ctx.makeCurrent();
    check(
      'cuFuncSetAttribute',
      cu().cuFuncSetAttribute(fn, FuncAttribute.MAX_DYNAMIC_SHARED_SIZE_BYTES, sharedBytes),
      `allowing kernel '${kernel}' ${sharedBytes} bytes of dynamic shared memory`,
    );
  }
}

function cString(buf: Buffer): string {
  const end = buf.indexOf(0);
  return buf.subarray(0, end < 0 ? buf.length : end).toString('utf8').trimEnd();
}
