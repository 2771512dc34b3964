/// <reference types="@webgpu/types" />
// The WebGPU adapter and device, through Dawn's `webgpu` package (loaded lazily: importing tilejit never
// loads Dawn). One device per process, created by `initWebGPU()` with the adapter's limits requested
// rather than WebGPU's defaults (workgroup storage, invocations per workgroup, storage buffers and
// binding sizes) and the features the backend uses (shader-f16, timestamp-query, subgroups).
//
// On Linux without a GPU, Mesa's lavapipe (llvmpipe) is the adapter: it needs Mesa 25 (Debian:
// `apt-get install -t bookworm-backports mesa-vulkan-drivers`; bookworm's own Mesa 22 is rejected by
// Dawn), and LP_NUM_THREADS=0 avoids rare crashes of Dawn + llvmpipe. The process exits cleanly
// without destroying the device.

export class WebGpuError extends Error {
  override name = 'WebGpuError';
}

export interface WebGpuFeatures {
  readonly f16: boolean;
  readonly timestamps: boolean;
  readonly subgroups: boolean;
  /**
   * With subgroups: the smallest subgroup size, when a probe shader found every subgroup made of
   * consecutive invocations (subgroup_invocation_id = local_invocation_index % subgroup_size) in
   * workgroups of 32 to 1024 invocations; the WGSL backend then uses subgroupShuffleXor for shuffles
   * within it. Undefined otherwise (shuffles go through workgroup memory).
   */
  readonly subgroupSize: number | undefined;
}

export interface WebGpuContext {
  /**
   * The object `create()` returned. It must stay reachable as long as the device is used: when it was
   * garbage-collected, Dawn's instance went with it and the next event processing crashed the process
   * (mutex/futex aborts in InstanceBase::ProcessEvents, within a few kernel launches).
   */
  readonly gpu: GPU;
  readonly adapterName: string;
  readonly isFallbackAdapter: boolean;
  readonly adapter: GPUAdapter;
  readonly device: GPUDevice;
  readonly features: WebGpuFeatures;
  readonly limits: GPUSupportedLimits;
}

export interface WebGpuInitOptions {
  /** Extra Dawn flags for `create()` (e.g. 'backend=vulkan', 'adapter=NAME'). */
  readonly dawnFlags?: readonly string[];
}

/** How to get a WebGPU adapter on a Linux machine without a GPU, for error and skip messages. */
export const WEBGPU_HOWTO =
  'WebGPU needs a Vulkan driver: on Debian bookworm add the bookworm-backports suite to apt and run ' +
  '`apt-get install -t bookworm-backports mesa-vulkan-drivers libvulkan1` (Mesa 25 lavapipe; Debian\'s own Mesa 22 is too old for Dawn)';

/** Limits requested at the adapter's values instead of WebGPU's defaults. */
const LIMITS = [
  'maxComputeWorkgroupStorageSize', 'maxComputeInvocationsPerWorkgroup', 'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupsPerDimension', 'maxStorageBufferBindingSize', 'maxBufferSize', 'maxStorageBuffersPerShaderStage',
  'maxUniformBufferBindingSize', 'maxBindingsPerBindGroup',
] as const;

let pending: Promise<WebGpuContext | undefined> | undefined;
let ready: WebGpuContext | undefined;
let failure: string | undefined;

/**
 * Finds the adapter and creates the device, once per process; resolves to undefined (and records why)
 * when there is no adapter. Later calls return the same promise.
 */
export function initWebGpuContext(options: WebGpuInitOptions = {}): Promise<WebGpuContext | undefined> {
  pending ??= (async () => {
    try {
      ready = await createContext(options);
      return ready;
    } catch (e) {
      failure = e instanceof Error ? e.message : String(e);
      return undefined;
    }
  })();
  return pending;
}

/** The context if `initWebGpuContext()` has resolved with one; never starts anything. */
export function webgpuContextIfReady(): WebGpuContext | undefined {
  return ready;
}

/** Why there is no WebGPU context: not initialized yet, or the probe's failure. */
export function webgpuUnavailableReason(): string {
  if (!pending) return 'WebGPU is not initialized: `await initWebGPU()` before launching on \'webgpu\'';
  if (!ready && failure === undefined) return 'WebGPU is still initializing: await initWebGPU() first';
  return failure ?? '';
}

async function createContext(options: WebGpuInitOptions): Promise<WebGpuContext> {
  let mod: { create(flags: string[]): GPU };
  try {
    mod = (await import('webgpu')) as unknown as { create(flags: string[]): GPU };
  } catch (e) {
    throw new WebGpuError(`cannot load the 'webgpu' package (Dawn): ${(e as Error).message}`);
  }
  // Unquantized timestamps, so that timing small kernels means something.
  const gpu = mod.create(['disable-dawn-features=timestamp_quantization', ...(options.dawnFlags ?? [])]);
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new WebGpuError(`no WebGPU adapter found. ${WEBGPU_HOWTO}`);
  const want: GPUFeatureName[] = [];
  const has = (f: string): boolean => adapter.features.has(f);
  if (has('shader-f16')) want.push('shader-f16');
  if (has('timestamp-query')) want.push('timestamp-query');
  if (has('subgroups')) want.push('subgroups' as GPUFeatureName);
  const requiredLimits: Record<string, number> = {};
  for (const k of LIMITS) {
    const v = (adapter.limits as unknown as Record<string, number | undefined>)[k];
    if (typeof v === 'number') requiredLimits[k] = v;
  }
  const device = await adapter.requestDevice({ requiredFeatures: want, requiredLimits });
  const info = adapter.info as GPUAdapterInfo & { isFallbackAdapter?: boolean };
  const adapterName = info.description || info.device || info.architecture || info.vendor || 'unknown adapter';
  const subgroups = device.features.has('subgroups');
  let subgroupSize: number | undefined;
  if (subgroups) {
    const probed = await probeSubgroups(device, device.limits.maxComputeInvocationsPerWorkgroup);
    const min = info.subgroupMinSize;
    subgroupSize = probed === undefined ? undefined : typeof min === 'number' && min > 0 ? Math.min(min, probed) : probed;
  }
  return {
    gpu,
    adapterName,
    isFallbackAdapter: info.isFallbackAdapter === true,
    adapter,
    device,
    features: { f16: device.features.has('shader-f16'), timestamps: device.features.has('timestamp-query'), subgroups, subgroupSize },
    limits: device.limits,
  };
}

/**
 * Runs a probe shader in workgroups of 32, 128, 256 and 1024 invocations (where allowed): every
 * invocation reports its subgroup size when its subgroup_invocation_id is its local_invocation_index
 * modulo that size, else 0. Resolves to the smallest size seen when every invocation passed, else
 * undefined (or when anything fails).
 */
async function probeSubgroups(device: GPUDevice, maxInvocations: number): Promise<number | undefined> {
  const sizes = [32, 128, 256, 1024].filter((n) => n <= maxInvocations);
  const groups = 2;
  try {
    device.pushErrorScope('validation');
    const total = sizes.reduce((a, n) => a + n * groups, 0);
    const out = device.createBuffer({ size: 4 * total, usage: BufferUsage.STORAGE | BufferUsage.COPY_SRC });
    const read = device.createBuffer({ size: 4 * total, usage: BufferUsage.MAP_READ | BufferUsage.COPY_DST });
    const enc = device.createCommandEncoder();
    let offset = 0;
    for (const n of sizes) {
      const code = `enable subgroups;
@group(0) @binding(0) var<storage, read_write> out: array<u32>;
@compute @workgroup_size(${n})
fn main(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) wg: vec3<u32>,
        @builtin(subgroup_invocation_id) sid: u32, @builtin(subgroup_size) size: u32) {
  out[${offset}u + wg.x * ${n}u + tid] = select(0u, size, size > 0u && sid == tid % size);
}`;
      const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module: device.createShaderModule({ code }), entryPoint: 'main' } });
      const bind = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: out } }] });
      const pass = enc.beginComputePass();
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bind);
      pass.dispatchWorkgroups(groups);
      pass.end();
      offset += n * groups;
    }
    enc.copyBufferToBuffer(out, 0, read, 0, 4 * total);
    device.queue.submit([enc.finish()]);
    const err = await device.popErrorScope();
    if (err) return undefined;
    await read.mapAsync(MapMode.READ);
    const seen = new Uint32Array(read.getMappedRange().slice(0));
    read.unmap();
    out.destroy();
    read.destroy();
    if (seen.some((v) => v === 0)) return undefined;
    return Math.min(...seen);
  } catch {
    return undefined;
  }
}

// WebGPU's numeric flags (GPUBufferUsage, GPUMapMode, GPUShaderStage), so that no globals are needed.
export const BufferUsage = { MAP_READ: 1, MAP_WRITE: 2, COPY_SRC: 4, COPY_DST: 8, UNIFORM: 64, STORAGE: 128, QUERY_RESOLVE: 512 } as const;
export const MapMode = { READ: 1, WRITE: 2 } as const;
export const ShaderStage = { COMPUTE: 4 } as const;
