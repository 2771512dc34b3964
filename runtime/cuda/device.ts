// The CUDA device: runs kernels lowered to PTX on an NVIDIA GPU through the driver API. Host typed arrays
// passed to a launch are copied to the device before it and back after it (synchronously), so kernels
// launched on plain typed arrays give the same results as on the CPU device; CudaBuffers are passed as
// they are and such launches stay asynchronous.
import { summarizeTimings } from '../timing.js';
import { lowerToPtx, type PtxArch, type PtxKernel } from '../../compiler/backends/ptx/index.js';
import { LaunchError } from '../../compiler/frontend/errors.js';
import type { Device, LaunchRequest } from '../device.js';
import type { DType } from '../../compiler/ir/dtype.js';
import type { TypedArray } from '../storage.js';
import { check, cu, deviceCount, type CuHandle } from './driver.js';
import { CudaContext, parseCudaDevice, type CudaDeviceProperties } from './context.js';
import { CudaBuffer } from './memory.js';
import { getFunction, loadPtxModule, prepareFunction, type LoadedModule } from './module.js';
import { launchKernel, ParamBlock, slotType, type ParamValue } from './launch.js';

/** What the CUDA device caches in CompiledKernel.artifacts for one device and warp count. */
export interface CudaKernelArtifact {
  readonly ptx: PtxKernel;
  readonly module: LoadedModule;
  readonly fn: CuHandle;
  readonly params: ParamBlock;
}

/** The artifacts key of the PTX lowered for `arch` (shared by all CUDA devices of that target; the simulator prefixes it). */
export const ptxArtifactKey = (numWarps: number, arch: PtxArch = 'sm_80'): string => `ptx:${arch}:${numWarps}`;
/** The artifacts key of the loaded function on one device. */
export const cudaArtifactKey = (index: number, numWarps: number, arch: PtxArch = 'sm_80'): string => `cuda:${index}:${ptxArtifactKey(numWarps, arch)}`;

export class CudaDevice implements Device {
  readonly name: string;
  readonly target = 'ptx' as const;

  constructor(readonly index: number) {
    this.name = `cuda:${index}`;
  }

  /** The device's context (primary context retained on first use). */
  get context(): CudaContext {
    return CudaContext.get(this.index);
  }

  get properties(): CudaDeviceProperties {
    return this.context.properties;
  }

  /** The GPU architecture, driver version and PTX target, which the disk cache keys lowered code by. */
  cacheTag(): string {
    const p = this.properties;
    return `${p.arch}|driver=${p.driverVersion}|ptx=${this.ptxArch()}`;
  }

  /**
   * The PTX target: sm_90a on Hopper, whose tensor-core dots become wgmma, unless TILEJIT_WGMMA=0 (then
   * mma.sync, as everywhere else); sm_80 on other GPUs, which the driver compiles for any later GPU.
   */
  ptxArch(): PtxArch {
    return this.properties.arch === 'sm_90' && process.env['TILEJIT_WGMMA'] !== '0' ? 'sm_90a' : 'sm_80';
  }

  /** Waits for all work launched on the device. */
  synchronize(): void {
    this.context.synchronize();
  }

  alloc(dtype: DType, length: number): CudaBuffer {
    return CudaBuffer.alloc(dtype, length, this.index);
  }

  from(data: TypedArray | { readonly dtype: DType; readonly data: TypedArray }, dtype?: DType): CudaBuffer {
    return CudaBuffer.from(data, this.index, dtype);
  }

  /** Lowers (once) and loads (once per device) the kernel for this warp count. */
  prepare(req: Pick<LaunchRequest, 'kernel' | 'numWarps' | 'numStages' | 'minBlocksPerSM'>): CudaKernelArtifact {
    const { kernel, numWarps, numStages, minBlocksPerSM } = req;
    const arch = this.ptxArch();
    const key = cudaArtifactKey(this.index, numWarps, arch);
    const cached = kernel.artifacts.get(key) as CudaKernelArtifact | undefined;
    if (cached) return cached;
    const pkey = ptxArtifactKey(numWarps, arch);
    let ptx = kernel.artifacts.get(pkey) as PtxKernel | undefined;
    if (!ptx) {
      // numStages and minBlocksPerSM are part of the compiled variant's key, so artifacts never mix them.
      ptx = lowerToPtx(kernel.module, { numWarps, numStages, minBlocksPerSM, arch });
      kernel.artifacts.set(pkey, ptx);
    }
    const ctx = this.context;
    const module = loadPtxModule(ctx, ptx.ptx);
    const fn = getFunction(module, ptx.entry);
    prepareFunction(ctx, fn, kernel.name, ptx.threads, ptx.sharedBytes);
    const art: CudaKernelArtifact = { ptx, module, fn, params: new ParamBlock(ptx.params.map(slotType)) };
    kernel.artifacts.set(key, art);
    return art;
  }

  launch(req: LaunchRequest): void {
    const { kernel, grid, args } = req;
    const art = this.prepare(req);
    const ctx = this.context;
    const what = `kernel '${kernel.name}' on ${this.name}`;
    const real = args.filter((a) => a.kind !== 'constexpr');
    const params = art.ptx.params;
    if (real.length !== params.length)
      throw new LaunchError(`${what}: the PTX takes ${params.length} parameters (${params.map((p) => p.name).join(', ')}), the launch binds ${real.length}`);

    const values: ParamValue[] = [];
    // Host arrays staged on the device, one copy per array (an array passed twice stays one buffer).
    const staged = new Map<TypedArray, CudaBuffer>();
    let failed = true;
    try {
      for (let i = 0; i < params.length; i++) {
        const p = params[i]!, a = real[i]!;
        if (p.kind === 'ptr') {
          if (a.kind !== 'ptr') throw new LaunchError(`${what}: parameter '${p.name}' is a pointer, argument '${a.name}' is a scalar`);
          const b = a.buffer;
          if (b.kind === 'device') {
            if (!(b.buffer instanceof CudaBuffer))
              throw new LaunchError(`${what}: argument '${a.name}' lives on '${b.buffer.device}', which is not a CUDA buffer`);
            if (b.buffer.device !== this.name)
              throw new LaunchError(`${what}: argument '${a.name}' lives on ${b.buffer.device}; copy it to ${this.name} first`);
            values.push(b.buffer.ptr);
          } else {
            let dev = staged.get(b.data);
            if (!dev) {
              dev = CudaBuffer.alloc(b.dtype, b.data.length, this.index);
              staged.set(b.data, dev);
              dev.upload(b.data);
            }
            values.push(dev.ptr);
          }
        } else {
          if (a.kind !== 'scalar') throw new LaunchError(`${what}: parameter '${p.name}' is a ${p.type} scalar, argument '${a.name}' is a pointer`);
          values.push(a.value);
        }
      }

      ctx.makeCurrent();
      launchKernel(art.fn, art.params, values, {
        grid,
        block: [art.ptx.threads, 1, 1],
        sharedBytes: art.ptx.sharedBytes,
        stream: ctx.stream,
      }, what);

      if (staged.size > 0 || syncEveryLaunch()) {
        // Kernel faults (illegal address, trap) surface here; name the kernel in the error.
        check('cuStreamSynchronize', cu().cuStreamSynchronize(ctx.stream), `running ${what}`);
        for (const [host, dev] of staged) dev.downloadInto(host);
      }
      failed = false;
    } finally {
      let firstError: unknown;
      for (const dev of staged.values()) {
        try {
          dev.dispose();
        } catch (e) {
          // After a kernel fault the context is unusable and frees fail too; keep the launch's error.
          firstError ??= e;
        }
      }
      if (!failed && firstError !== undefined) throw firstError;
    }
  }
}

/** TILEJIT_CUDA_SYNC=1 synchronizes after every launch, so faults are reported by the launch that caused them. */
function syncEveryLaunch(): boolean {
  const v = process.env.TILEJIT_CUDA_SYNC;
  return v !== undefined && v !== '' && v !== '0';
}

const devices = new Map<number, CudaDevice>();

/** The CUDA device `index` ('cuda:N'); nothing is loaded until it is used. */
export function cudaDevice(index: number | string = 0): CudaDevice {
  const i = parseCudaDevice(index);
  let d = devices.get(i);
  if (!d) devices.set(i, (d = new CudaDevice(i)));
  return d;
}

let available: boolean | undefined;

/** Whether a CUDA driver and at least one device are present. Never throws; the answer is cached. */
export function isCudaAvailable(): boolean {
  if (available === undefined) {
    try {
      available = deviceCount() > 0;
    } catch {
      available = false;
    }
  }
  return available;
}

export interface LaunchTiming {
  /** Median GPU time of one iteration, in milliseconds. */
  readonly medianMs: number;
  readonly meanMs: number;
  readonly minMs: number;
  readonly maxMs: number;
  /** Every iteration's time, in launch order. */
  readonly samplesMs: readonly number[];
}

export interface TimingOptions {
  /** Untimed runs first (default 3). */
  readonly warmup?: number;
  /** Timed runs (default 20). */
  readonly iters?: number;
  /** The device whose stream is timed (default 0). */
  readonly device?: number | string;
}

/**
 * Times `fn` (which launches work on the device) with CUDA events recorded on the device's stream around
 * each call. Returns per-iteration GPU milliseconds.
 */
export function timeLaunches(fn: () => void, options: TimingOptions = {}): LaunchTiming {
  const warmup = options.warmup ?? 3, iters = options.iters ?? 20;
  if (!Number.isInteger(iters) || iters < 1) throw new RangeError(`iters must be a positive integer, got ${iters}`);
  const ctx = CudaContext.get(parseCudaDevice(options.device ?? 0));
  const api = cu();
  for (let i = 0; i < warmup; i++) fn();
  ctx.synchronize();
  const events: CuHandle[] = [];
  try {
    ctx.makeCurrent();
    const out = new BigUint64Array(1);
    for (let i = 0; i < 2 * iters; i++) {
      check('cuEventCreate', api.cuEventCreate(out, 0));
      events.push(out[0]!);
    }
    const stream = ctx.stream;
    for (let i = 0; i < iters; i++) {
      ctx.makeCurrent();
      check('cuEventRecord', api.cuEventRecord(events[2 * i]!, stream));
      fn();
      ctx.makeCurrent();
      check('cuEventRecord', api.cuEventRecord(events[2 * i + 1]!, stream));
    }
    check('cuEventSynchronize', api.cuEventSynchronize(events[2 * iters - 1]!), 'waiting for the timed launches');
    const ms = new Float32Array(1);
    const samples: number[] = [];
    for (let i = 0; i < iters; i++) {
      check('cuEventElapsedTime', api.cuEventElapsedTime(ms, events[2 * i]!, events[2 * i + 1]!));
      samples.push(ms[0]!);
    }
    return summarizeTimings(samples);
  } finally {
    for (const e of events) api.cuEventDestroy_v2(e);
  }
}
