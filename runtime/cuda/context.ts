// Device selection ('cuda' is device 0, 'cuda:N' device N), the primary context of each device (retained
// once, made current before every batch of driver calls), the device's stream and its properties.
import { check, cu, driverVersion, deviceCount, type CuHandle } from './driver.js';

/** CUdevice_attribute values used here. */
export const DeviceAttribute = {
  MAX_THREADS_PER_BLOCK: 1,
  MAX_SHARED_MEMORY_PER_BLOCK: 8,
  WARP_SIZE: 10,
  MULTIPROCESSOR_COUNT: 16,
  COMPUTE_CAPABILITY_MAJOR: 75,
  COMPUTE_CAPABILITY_MINOR: 76,
  MAX_SHARED_MEMORY_PER_BLOCK_OPTIN: 97,
} as const;

export interface CudaDeviceProperties {
  readonly index: number;
  readonly name: string;
  /** Compute capability, e.g. 9 and 0 for an H100. */
  readonly major: number;
  readonly minor: number;
  /** 'sm_90' etc. */
  readonly arch: string;
  readonly smCount: number;
  readonly warpSize: number;
  readonly maxThreadsPerBlock: number;
  /** Shared memory per block without opting in (48 KB). */
  readonly maxSharedMemoryPerBlock: number;
  /** Shared memory per block a kernel may opt in to with MAX_DYNAMIC_SHARED_SIZE_BYTES. */
  readonly maxSharedMemoryPerBlockOptin: number;
  readonly totalMemory: number;
  /** cuDriverGetVersion, e.g. 13000. */
  readonly driverVersion: number;
}

/** Parses 'cuda' / 'cuda:N' (or a bare index) to a device index. */
export function parseCudaDevice(name: string | number): number {
  if (typeof name === 'number') {
    if (!Number.isInteger(name) || name < 0) throw new TypeError(`CUDA device index must be a non-negative integer, got ${name}`);
    return name;
  }
  if (name === 'cuda') return 0;
  const m = /^cuda:(\d+)$/.exec(name);
  if (!m) throw new TypeError(`not a CUDA device name: '${name}' (expected 'cuda' or 'cuda:N')`);
  return Number(m[1]);
}

/** One device's primary context, its stream and its properties. */
export class CudaContext {
  private propsCache: CudaDeviceProperties | undefined;
  private streamHandle: CuHandle | undefined;

  private constructor(
    readonly index: number,
    /** The CUdevice. */
    readonly device: number,
    /** The retained primary CUcontext. */
    readonly handle: CuHandle,
  ) {}

  /** The context of device `index`, created (primary context retained) on first use. */
  static get(index: number): CudaContext {
    let c = contexts.get(index);
    if (c) return c;
    const api = cu();
    const count = deviceCount();
    if (index >= count)
      throw new RangeError(`CUDA device cuda:${index} does not exist: ${count} device(s) present${count ? ` (cuda:0 to cuda:${count - 1})` : ''}`);
    const dev = new Int32Array(1);
    check('cuDeviceGet', api.cuDeviceGet(dev, index), `selecting cuda:${index}`);
    const pctx = new BigUint64Array(1);
    check('cuDevicePrimaryCtxRetain', api.cuDevicePrimaryCtxRetain(pctx, dev[0]!), `retaining the primary context of cuda:${index}`);
    c = new CudaContext(index, dev[0]!, pctx[0]!);
    contexts.set(index, c);
    return c;
  }

  /** Makes this context current on the calling thread; call before each batch of driver calls. */
  makeCurrent(): void {
    // Always set (about 20 ns): other code in the process may have changed the thread's context.
    check('cuCtxSetCurrent', cu().cuCtxSetCurrent(this.handle), `making the context of cuda:${this.index} current`);
  }

  /** The stream tilejit launches on (a blocking stream: ordered with the legacy default stream). */
  get stream(): CuHandle {
    if (this.streamHandle === undefined) {
      this.makeCurrent();
      const out = new BigUint64Array(1);
      check('cuStreamCreate', cu().cuStreamCreate(out, 0), `creating a stream on cuda:${this.index}`);
      this.streamHandle = out[0]!;
    }
    return this.streamHandle;
  }

  /** Waits for everything launched on the device's stream. */
  synchronize(): void {
    this.makeCurrent();
    if (this.streamHandle !== undefined) check('cuStreamSynchronize', cu().cuStreamSynchronize(this.streamHandle));
    check('cuCtxSynchronize', cu().cuCtxSynchronize());
  }

  attribute(attr: number): number {
    const out = new Int32Array(1);
    check('cuDeviceGetAttribute', cu().cuDeviceGetAttribute(out, attr, this.device), `reading attribute ${attr} of cuda:${this.index}`);
    return out[0]!;
  }

  get properties(): CudaDeviceProperties {
    if (this.propsCache) return this.propsCache;
    const api = cu();
    const nameBuf = new Uint8Array(256);
    check('cuDeviceGetName', api.cuDeviceGetName(nameBuf, nameBuf.length, this.device));
    const end = nameBuf.indexOf(0);
    const name = Buffer.from(nameBuf.subarray(0, end < 0 ? nameBuf.length : end)).toString('utf8');
    const mem = new BigUint64Array(1);
    check('cuDeviceTotalMem_v2', api.cuDeviceTotalMem_v2(mem, this.device));
    const major = this.attribute(DeviceAttribute.COMPUTE_CAPABILITY_MAJOR);
    const minor = this.attribute(DeviceAttribute.COMPUTE_CAPABILITY_MINOR);
    this.propsCache = {
      index: this.index,
      name,
      major,
      minor,
      arch: `sm_${major}${minor}`,
      smCount: this.attribute(DeviceAttribute.MULTIPROCESSOR_COUNT),
      warpSize: this.attribute(DeviceAttribute.WARP_SIZE),
      maxThreadsPerBlock: this.attribute(DeviceAttribute.MAX_THREADS_PER_BLOCK),
      maxSharedMemoryPerBlock: this.attribute(DeviceAttribute.MAX_SHARED_MEMORY_PER_BLOCK),
      maxSharedMemoryPerBlockOptin: this.attribute(DeviceAttribute.MAX_SHARED_MEMORY_PER_BLOCK_OPTIN),
      totalMemory: Number(mem[0]!),
      driverVersion: driverVersion(),
    };
    return this.propsCache;
  }

  /** Free and total device memory in bytes (cuMemGetInfo). */
  memoryInfo(): { free: number; total: number } {
    this.makeCurrent();
    const free = new BigUint64Array(1), total = new BigUint64Array(1);
    check('cuMemGetInfo_v2', cu().cuMemGetInfo_v2(free, total));
    return { free: Number(free[0]!), total: Number(total[0]!) };
  }
}

const contexts = new Map<number, CudaContext>();

/** The context of a device named 'cuda', 'cuda:N' or by index. */
export function cudaContext(device: string | number = 0): CudaContext {
  return CudaContext.get(parseCudaDevice(device));
}
