// A device that compiles kernels with the PTX backend and runs the resulting thread programs in the
// CPU simulator: the whole GPU path except the hardware, for tests on machines without a GPU.
import type { Device, LaunchRequest } from '../device.js';
import { lowerToPtx, type PtxArch, type PtxKernel } from '../../compiler/backends/ptx/index.js';
import { ptxArtifactKey } from '../cuda/device.js';
import { LaunchError } from '../../compiler/frontend/errors.js';
import { simulate, type SimArg } from './simulator.js';
import type { CompiledKernel } from '../compiled.js';

/**
 * The PTX of a compiled kernel for `numWarps`, lowered once and kept with the kernel under a key of the
 * simulator's own: a CUDA device's PTX of the same variant may come from the disk cache, which keeps no
 * thread program, and is lowered with its launch hints.
 */
export function ptxFor(kernel: CompiledKernel, numWarps: number, arch: PtxArch = 'sm_80', numStages?: number): PtxKernel {
  const key = `sim:${ptxArtifactKey(numWarps, arch)}`;
  let k = kernel.artifacts.get(key) as PtxKernel | undefined;
  if (!k) {
    k = lowerToPtx(kernel.module, { numWarps, arch, numStages });
    kernel.artifacts.set(key, k);
  }
  return k;
}

/**
 * The simulator lowering for `arch`: sm_80 (mma.sync, the default device 'ptx-sim') or sm_90a, which
 * runs tensor-core dots as Hopper's wgmma, so that path is checked without a GPU too.
 */
export function ptxSimulatorFor(arch: 'sm_80' | 'sm_90a'): Device {
  return {
    name: `ptx-sim (PTX backend for ${arch}, thread-level CPU simulator)`,
    target: 'ptx',
    ptxArch: () => arch,
    launch({ kernel, grid, args, numWarps, numStages }: LaunchRequest): void {
      const ptx = ptxFor(kernel, numWarps, arch, numStages);
      const simArgs: SimArg[] = [];
      for (const a of args) {
        if (a.kind === 'constexpr') continue;
        if (a.kind === 'scalar') simArgs.push({ kind: 'scalar', name: a.name, value: a.value });
        else if (a.buffer.kind === 'host') simArgs.push({ kind: 'buffer', name: a.name, dtype: a.buffer.dtype, data: a.buffer.data });
        else throw new LaunchError(`argument '${a.name}' of kernel '${kernel.name}' lives on '${a.buffer.buffer.device}'; the simulator needs host memory`);
      }
      simulate(ptx.program, simArgs, grid);
    },
  };
}

export const ptxSimDevice: Device = { ...ptxSimulatorFor('sm_80'), name: 'ptx-sim (PTX backend, thread-level CPU simulator)' };
