// The devices a kernel can run on, and how one is chosen. Each runtime (cpu, cuda, webgpu) implements
// Device; the best present one is the default.
import type { CompiledKernel } from './compiled.js';
import type { BoundArg } from './bind.js';
import type { PtxArch } from '../compiler/backends/ptx/index.js';
import { cpuDevice } from './cpu/device.js';
import { ptxSimDevice } from './ptx-sim/device.js';
import { cudaDevice, isCudaAvailable } from './cuda/device.js';
import { webgpuDevice, isWebGpuReady } from './webgpu/device.js';

export type DeviceName = 'cpu' | 'ptx-sim' | 'cuda' | `cuda:${number}` | 'webgpu';

export interface LaunchRequest {
  readonly kernel: CompiledKernel;
  readonly grid: readonly [number, number, number];
  readonly args: readonly BoundArg[];
  readonly numWarps: number;
  /** Pipelining stages asked for at launch (LaunchOptions.numStages); undefined when not given. */
  readonly numStages?: number;
  /** Programs per multiprocessor to keep registers for (LaunchOptions.minBlocksPerSM). */
  readonly minBlocksPerSM?: number;
}

export interface Device {
  readonly name: string;
  /** The compilation target this device runs ('cpu' runs the optimized IR as is). */
  readonly target: 'cpu' | 'ptx' | 'wgsl';
  /** What else the compiled code depends on (GPU architecture, driver version): part of disk-cache keys. */
  cacheTag?(): string;
  /** The PTX target of a 'ptx' device that lowers per GPU (CUDA); sm_80 when absent. */
  ptxArch?(): PtxArch;
  /**
   * Devices whose dots stage both operand tiles in workgroup memory as f32 (WebGPU): the bytes a kernel
   * launched with `numWarps` may give its shared tiles. The op layer sizes its blocks with it.
   */
  workgroupBudget?(numWarps: number): number;
  launch(req: LaunchRequest): void;
}

/** Resolves a device option; the default is the best device present. */
export function getDevice(name?: DeviceName | Device): Device {
  if (name === undefined) return defaultDevice();
  if (typeof name === 'object') return name;
  if (name === 'cpu') return cpuDevice;
  if (name === 'ptx-sim') return ptxSimDevice;
  if (name === 'cuda' || name.startsWith('cuda:')) return cudaDevice(name);
  // Usable once `await initWebGPU()` has found an adapter; launching before that is a clear error.
  if (name === 'webgpu') return webgpuDevice();
  throw new TypeError(`device '${name}' is not available in this build of tilejit; use 'cuda', 'cuda:N', 'webgpu', 'cpu' or 'ptx-sim'`);
}

/**
 * The best device present: a CUDA GPU, else WebGPU when `initWebGPU()` (runtime/webgpu) has been awaited
 * and found an adapter, else the CPU interpreter. Synchronous and cheap: WebGPU is only considered
 * after that explicit, asynchronous probe, whose result is cached.
 */
export function defaultDevice(): Device {
  if (isCudaAvailable()) return cudaDevice(0);
  return isWebGpuReady() ? webgpuDevice() : cpuDevice;
}
