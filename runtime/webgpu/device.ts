/// <reference types="@webgpu/types" />
// The WebGPU device: runs kernels lowered to WGSL through Dawn.
//
// Launches are synchronous in tilejit's API, but WebGPU reads buffers back only asynchronously. So:
// - a WebGPU launch encodes and submits the dispatch and returns at once;
// - pointer arguments the kernel WRITES must be WebGpuBuffers (`device.alloc`, `device.from`): read them
//   with `await buffer.read()`, which waits for the launches before it. A host typed array in that place
//   is refused with an error naming the argument (its contents could not come back before launch() returns);
// - pointer arguments the kernel only reads may be host typed arrays: they are uploaded at launch;
// - errors (invalid WGSL, validation) surface at the next `await device.synchronize()` or `buffer.read()`.
//
// `initWebGPU()` must be awaited once before 'webgpu' is used (it finds the adapter and creates the
// device); afterwards `defaultDevice()` picks WebGPU when there is no CUDA GPU.
import { summarizeTimings } from '../timing.js';
import { lowerToWgsl, type WgslFeatures, type WgslKernel } from '../../compiler/backends/wgsl/index.js';
import { LaunchError } from '../../compiler/frontend/errors.js';
import type { DType } from '../../compiler/ir/dtype.js';
import type { CompiledKernel } from '../compiled.js';
import type { Device, LaunchRequest } from '../device.js';
import { dtypeOfTypedArray, type TypedArray } from '../storage.js';
import { WebGpuBuffer, paddedBytes } from './buffer.js';
import {
  BufferUsage, ShaderStage, WebGpuError, initWebGpuContext, webgpuContextIfReady, webgpuUnavailableReason,
  type WebGpuContext, type WebGpuInitOptions,
} from './context.js';

/** What the WebGPU device caches in CompiledKernel.artifacts per warp count (key `webgpu:wgsl:<features>:<numWarps>`). */
export interface WebGpuKernelArtifact {
  readonly wgsl: WgslKernel;
  readonly pipeline: GPUComputePipeline;
  readonly layout: GPUBindGroupLayout;
  /** Errors of the shader module's compilation, when there are any (resolved asynchronously). */
  readonly compileErrors: Promise<string | undefined>;
}

/** What the WGSL of a kernel depends on besides the kernel: the features it may use and how it runs f16/bf16 dots. */
export interface WgslVariant {
  readonly features: WgslFeatures;
  readonly tensorCores: 'fma' | 'emulate';
}
export const wgslArtifactKey = (v: WgslVariant, numWarps: number): string =>
  `wgsl:${v.features.f16 ? 'f16' : 'nof16'}:sg${v.features.subgroupSize ?? 0}:${v.tensorCores}:${numWarps}`;
export const webgpuArtifactKey = (v: WgslVariant, numWarps: number): string => `webgpu:${wgslArtifactKey(v, numWarps)}`;

/** Choices of the WebGPU device (`webgpuDevice().configure(...)`), e.g. to test the paths without a feature. */
export interface WebGpuDeviceOptions {
  /** Use shader-f16 where the adapter has it (default true); false stores f16 as halves of u32 words. */
  readonly shaderF16?: boolean;
  /** Use subgroup shuffles where the adapter has subgroups of consecutive invocations (default true). */
  readonly subgroups?: boolean;
  /** f16/bf16 dots: on FMA (default) or through the emulated tensor-core path ('emulate'). */
  readonly tensorCores?: 'fma' | 'emulate';
  /**
   * The fewest warps (32 invocations each) a workgroup gets, whatever numWarps a launch asks for
   * (default 4; 1 honours every launch's numWarps). A kernel's result does not depend on its warp count;
   * on WebGPU a warp is no hardware unit, and a block spread over more invocations makes a smaller
   * shader: llvmpipe compiles PoPE flash attention with 4 warps in about half the time it takes with 2.
   */
  readonly minWarps?: number;
}

export interface WebGpuTiming {
  /** Median GPU time of one iteration (the sum of its dispatches' durations), in milliseconds. */
  readonly medianMs: number;
  readonly meanMs: number;
  readonly minMs: number;
  readonly maxMs: number;
  readonly samplesMs: readonly number[];
}

export class WebGpuDevice implements Device {
  readonly target = 'wgsl' as const;
  private readonly errors: string[] = [];
  private readonly scopes: Promise<void>[] = [];
  /** While timing: where each dispatch writes its begin/end timestamps. */
  private timing: { set: GPUQuerySet; next: number; capacity: number } | undefined;
  private options: WebGpuDeviceOptions = {};

  /**
   * Changes the device's choices for kernels launched from now on (the keys given; an explicit
   * undefined restores a default); returns the previous choices, every key present, so that
   * `configure(previous)` restores them.
   */
  configure(options: WebGpuDeviceOptions): WebGpuDeviceOptions {
    const old = this.options;
    this.options = { ...old, ...options };
    return { shaderF16: old.shaderF16, subgroups: old.subgroups, tensorCores: old.tensorCores, minWarps: old.minWarps };
  }

  /** The features and dot path the WGSL is generated for, with the current options. */
  get variant(): WgslVariant {
    const f = this.context.features, o = this.options;
    return {
      features: { f16: f.f16 && o.shaderF16 !== false, subgroupSize: o.subgroups === false ? undefined : f.subgroupSize },
      tensorCores: o.tensorCores ?? 'fma',
    };
  }

  get name(): string {
    const c = webgpuContextIfReady();
    return c ? `webgpu (${c.adapterName})` : 'webgpu';
  }

  /** The adapter and device; throws a clear error when WebGPU is not initialized or absent. */
  get context(): WebGpuContext {
    const c = webgpuContextIfReady();
    if (!c) throw new WebGpuError(webgpuUnavailableReason());
    return c;
  }

  /** A zero-filled buffer of `length` elements. */
  alloc(dtype: DType, length: number): WebGpuBuffer {
    const b = WebGpuBuffer.alloc(this.context, dtype, length, () => this.synchronize());
    // New buffers are zeroed by WebGPU.
    return b;
  }

  /** A buffer holding a copy of host data: a typed array of an unambiguous dtype, or `{ dtype, data }`. */
  from(data: TypedArray | { readonly dtype: DType; readonly data: TypedArray }, dtype?: DType): WebGpuBuffer {
    const plain = ArrayBuffer.isView(data) ? dtype ?? dtypeOfTypedArray(data) : undefined;
    if (ArrayBuffer.isView(data) && !plain) throw new TypeError(`a ${data.constructor.name} needs an explicit dtype ({ dtype, data }), e.g. for f16/bf16 bits`);
    const host = ArrayBuffer.isView(data) ? { data, dtype: plain! } : data;
    return this.alloc(host.dtype, host.data.length).upload(host.data);
  }

  /** Waits for all submitted work; rejects with the first error a launch caused since the last call. */
  async synchronize(): Promise<void> {
    const c = this.context;
    await Promise.all(this.scopes.splice(0));
    await c.device.queue.onSubmittedWorkDone();
    await Promise.all(this.scopes.splice(0));
    if (this.errors.length) {
      const msg = this.errors.splice(0).join('\n');
      throw new WebGpuError(msg);
    }
  }

  /** Lowers (once per warp count and feature set) and creates the compute pipeline (once per device). */
  prepare(kernel: CompiledKernel, requestedWarps: number): WebGpuKernelArtifact {
    const c = this.context;
    const numWarps = this.warpsFor(requestedWarps);
    const variant = this.variant;
    const key = webgpuArtifactKey(variant, numWarps);
    const cached = kernel.artifacts.get(key) as WebGpuKernelArtifact | undefined;
    if (cached) return cached;
    const wkey = wgslArtifactKey(variant, numWarps);
    let wgsl = kernel.artifacts.get(wkey) as WgslKernel | undefined;
    if (!wgsl) {
      const module = kernel.module;
      const file = module.kernel.loc?.file;
      wgsl = lowerToWgsl(module, { numWarps, ...variant, sources: file ? { [file]: kernel.sourceText } : undefined });
      kernel.artifacts.set(wkey, wgsl);
    }
    const what = `kernel '${kernel.name}' on ${this.name}`;
    if (wgsl.workgroupSize > c.limits.maxComputeInvocationsPerWorkgroup)
      throw new LaunchError(`${what}: ${wgsl.workgroupSize} invocations per workgroup (numWarps ${numWarps}) exceed the adapter's ${c.limits.maxComputeInvocationsPerWorkgroup}`);
    // Checked here, at launch, rather than left to pipeline validation, whose error arrives only at the next read.
    if (wgsl.workgroupBytes > c.limits.maxComputeWorkgroupStorageSize)
      throw new LaunchError(`${what}: ${wgsl.workgroupBytes} bytes of workgroup memory (numWarps ${numWarps}) exceed the adapter's ${c.limits.maxComputeWorkgroupStorageSize}; ` +
        'launch it with smaller blocks (f16/bf16 dots stage their operands as f32 here, see docs/webgpu-backend.md)');
    const dev = c.device;
    const entries: GPUBindGroupLayoutEntry[] = wgsl.bindings.map((b) => ({
      binding: b.binding,
      visibility: ShaderStage.COMPUTE,
      buffer: { type: b.kind },
    }));
    dev.pushErrorScope('validation');
    const module = dev.createShaderModule({ code: wgsl.wgsl, label: kernel.name });
    const layout = dev.createBindGroupLayout({ entries, label: kernel.name });
    const pipelineLayout = dev.createPipelineLayout({ bindGroupLayouts: [layout] });
    const pipeline = dev.createComputePipeline({
      layout: pipelineLayout,
      compute: { module, entryPoint: wgsl.entry },
      label: kernel.name,
    });
    const compileErrors = module.getCompilationInfo().then((info) => {
      const errs = info.messages.filter((m) => m.type === 'error');
      if (!errs.length) return undefined;
      const lines = wgsl!.wgsl.split('\n');
      return errs.map((m) => `${kernel.name}.wgsl:${m.lineNum}:${m.linePos}: ${m.message}\n    ${lines[m.lineNum - 1] ?? ''}`).join('\n');
    });
    this.track(dev.popErrorScope(), `compiling ${what}`, compileErrors);
    const art: WebGpuKernelArtifact = { wgsl, pipeline, layout, compileErrors };
    kernel.artifacts.set(key, art);
    return art;
  }

  /**
   * Bytes of workgroup memory a kernel launched with `numWarps` may use for its shared tiles: the
   * adapter's limit less the shuffle exchange slots the WGSL backend may add (two u32 per invocation).
   * The op layer's launchers size their blocks with it; every dot here runs on FMA and stages both
   * operand tiles in f32 (4 bytes per element, whatever the input dtype).
   */
  workgroupBudget(numWarps: number): number {
    return this.context.limits.maxComputeWorkgroupStorageSize - 8 * 32 * this.warpsFor(numWarps);
  }

  /** The warps a launch asking for `numWarps` runs with: at least minWarps, within the adapter's invocation limit. */
  warpsFor(numWarps: number): number {
    const limit = Math.max(1, Math.floor(this.context.limits.maxComputeInvocationsPerWorkgroup / 32));
    return Math.max(numWarps, Math.min(this.options.minWarps ?? 4, limit));
  }

  launch(req: LaunchRequest): void {
    const { kernel, grid, args, numWarps } = req;
    const c = this.context;
    const art = this.prepare(kernel, numWarps);
    const what = `kernel '${kernel.name}' on ${this.name}`;
    const maxGroups = c.limits.maxComputeWorkgroupsPerDimension;
    grid.forEach((g, i) => {
      if (g > maxGroups) throw new LaunchError(`${what}: grid[${i}] = ${g} exceeds the adapter's ${maxGroups} workgroups per dimension`);
    });
    const real = args.filter((a) => a.kind !== 'constexpr');
    const params = art.wgsl.program.params;
    if (real.length !== params.length)
      throw new LaunchError(`${what}: the WGSL takes ${params.length} parameters (${params.map((p) => p.name).join(', ')}), the launch binds ${real.length}`);

    const dev = c.device;
    const temporaries: GPUBuffer[] = [];
    const entries: GPUBindGroupEntry[] = [];
    const written = new Map<GPUBuffer, string>();
    const bound = new Map<GPUBuffer, string>();
    try {
      for (const b of art.wgsl.bindings) {
        if (b.kind === 'uniform') continue;
        const a = real[b.param!]!;
        if (a.kind !== 'ptr') throw new LaunchError(`${what}: parameter '${b.name}' is a pointer, argument '${a.name}' is a scalar`);
        let buf: GPUBuffer;
        if (a.buffer.kind === 'device') {
          if (!(a.buffer.buffer instanceof WebGpuBuffer))
            throw new LaunchError(`${what}: argument '${a.name}' lives on '${a.buffer.buffer.device}', not on WebGPU; copy it to a WebGpuBuffer first`);
          buf = a.buffer.buffer.gpu;
        } else {
          if (b.kind === 'storage')
            throw new LaunchError(`${what}: argument '${a.name}' is written by the kernel, so on WebGPU it must be a WebGpuBuffer ` +
              `(device.alloc()/device.from(), then \`await buffer.read()\`): WebGPU reads results back only asynchronously and launch() returns at once`);
          const host = a.buffer.data;
          buf = dev.createBuffer({ size: paddedBytes(host.byteLength), usage: BufferUsage.STORAGE | BufferUsage.COPY_DST, label: a.name });
          temporaries.push(buf);
          const bytes = new Uint8Array(host.buffer as ArrayBuffer, host.byteOffset, host.byteLength);
          let padded: Uint8Array<ArrayBuffer> = bytes;
          if (bytes.byteLength !== buf.size) {
            padded = new Uint8Array(buf.size);
            padded.set(bytes);
          }
          dev.queue.writeBuffer(buf, 0, padded);
        }
        const other = written.get(buf) ?? (b.kind === 'storage' ? bound.get(buf) : undefined);
        if (other !== undefined)
          throw new LaunchError(`${what}: arguments '${other}' and '${a.name}' are the same buffer and the kernel writes one of them; WebGPU forbids a written storage buffer bound twice`);
        if (b.kind === 'storage') written.set(buf, a.name);
        bound.set(buf, a.name);
        entries.push({ binding: b.binding, resource: { buffer: buf } });
      }
      const ul = art.wgsl.uniformLayout;
      if (ul) {
        const data = new ArrayBuffer(ul.size);
        const view = new DataView(data);
        for (const f of ul.fields) {
          const a = real[f.param]!;
          if (a.kind !== 'scalar') throw new LaunchError(`${what}: parameter '${f.name}' is a scalar, argument '${a.name}' is a pointer`);
          if (f.from === 's64' && (a.value < -(2 ** 31) || a.value >= 2 ** 31))
            throw new LaunchError(`${what}: argument '${a.name}' = ${a.value} is an i64 beyond the i32 range, which WGSL cannot hold (no 64-bit integers)`);
          if (f.type === 'f32') view.setFloat32(f.offset, a.value, true);
          else if (f.type === 'u32') view.setUint32(f.offset, a.value >>> 0, true);
          else view.setInt32(f.offset, a.value | 0, true);
        }
        const ub = dev.createBuffer({ size: ul.size, usage: BufferUsage.UNIFORM | BufferUsage.COPY_DST, label: `${kernel.name} scalars` });
        temporaries.push(ub);
        dev.queue.writeBuffer(ub, 0, data);
        entries.push({ binding: ul.binding, resource: { buffer: ub } });
      }

      dev.pushErrorScope('validation');
      const bindGroup = dev.createBindGroup({ layout: art.layout, entries });
      const enc = dev.createCommandEncoder();
      const t = this.timing;
      let timestampWrites: GPUComputePassTimestampWrites | undefined;
      if (t) {
        if (t.next + 2 > t.capacity) throw new WebGpuError('too many launches inside one timed call');
        timestampWrites = { querySet: t.set, beginningOfPassWriteIndex: t.next, endOfPassWriteIndex: t.next + 1 };
        t.next += 2;
      }
      const pass = enc.beginComputePass(timestampWrites ? { timestampWrites } : {});
      pass.setPipeline(art.pipeline);
      pass.setBindGroup(0, bindGroup);
      pass.dispatchWorkgroups(grid[0], grid[1], grid[2]);
      pass.end();
      dev.queue.submit([enc.finish()]);
      this.track(dev.popErrorScope(), `launching ${what}`, art.compileErrors);
    } finally {
      // Destroying after submit is safe: WebGPU frees the memory once the submitted work is done.
      for (const b of temporaries) b.destroy();
    }
  }

  /**
   * Times `fn` (which launches kernels on this device) with timestamp queries around every dispatch:
   * each iteration's time is the sum of its dispatches' GPU durations.
   */
  async time(fn: () => void, options: { readonly warmup?: number; readonly iters?: number; readonly maxLaunchesPerIter?: number } = {}): Promise<WebGpuTiming> {
    const c = this.context;
    if (!c.features.timestamps) throw new WebGpuError(`the adapter '${c.adapterName}' has no timestamp-query feature`);
    const warmup = options.warmup ?? 3, iters = options.iters ?? 20, per = options.maxLaunchesPerIter ?? 8;
    for (let i = 0; i < warmup; i++) fn();
    await this.synchronize();
    const capacity = 2 * per;
    const set = c.device.createQuerySet({ type: 'timestamp', count: capacity });
    const resolve = c.device.createBuffer({ size: 8 * capacity, usage: BufferUsage.QUERY_RESOLVE | BufferUsage.COPY_SRC });
    const read = c.device.createBuffer({ size: 8 * capacity, usage: BufferUsage.MAP_READ | BufferUsage.COPY_DST });
    const samples: number[] = [];
    try {
      for (let i = 0; i < iters; i++) {
        this.timing = { set, next: 0, capacity };
        try {
          fn();
        } finally {
          const used = this.timing?.next ?? 0;
          this.timing = undefined;
          if (used > 0) {
            const enc = c.device.createCommandEncoder();
            enc.resolveQuerySet(set, 0, used, resolve, 0);
            enc.copyBufferToBuffer(resolve, 0, read, 0, 8 * used);
            c.device.queue.submit([enc.finish()]);
          }
          await this.synchronize();
          if (used > 0) {
            await read.mapAsync(1, 0, 8 * used);
            const ts = new BigUint64Array(read.getMappedRange(0, 8 * used).slice(0));
            read.unmap();
            let ns = 0;
            for (let k = 0; k < used; k += 2) ns += Number(ts[k + 1]! - ts[k]!);
            samples.push(ns / 1e6);
          } else samples.push(0);
        }
      }
    } finally {
      set.destroy();
      resolve.destroy();
      read.destroy();
    }
    return summarizeTimings(samples);
  }

  private track(scope: Promise<GPUError | null>, what: string, compileErrors: Promise<string | undefined>): void {
    this.scopes.push(
      scope.then(async (err) => {
        if (!err) return;
        const detail = await compileErrors;
        // A shader that did not compile fails its launches too: report it once.
        if (detail && this.errors.some((e) => e.endsWith(detail))) return;
        this.errors.push(`${what}: ${detail ?? err.message}`);
      }),
    );
  }
}

let singleton: WebGpuDevice | undefined;

/** The WebGPU device ('webgpu'); usable once `initWebGPU()` has found an adapter. */
export function webgpuDevice(): WebGpuDevice {
  return (singleton ??= new WebGpuDevice());
}

/**
 * Finds the WebGPU adapter and creates the device, once per process (later calls return the first
 * result). Resolves to the device, or undefined when there is no adapter (`webgpuUnavailableReason()`
 * says why). Until it has resolved with a device, `defaultDevice()` does not consider WebGPU.
 */
export async function initWebGPU(options: WebGpuInitOptions = {}): Promise<WebGpuDevice | undefined> {
  const c = await initWebGpuContext(options);
  return c ? webgpuDevice() : undefined;
}

/** Whether `initWebGPU()` has resolved with an adapter (cheap and synchronous; never starts Dawn). */
export function isWebGpuReady(): boolean {
  return webgpuContextIfReady() !== undefined;
}
