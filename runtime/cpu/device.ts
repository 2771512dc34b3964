// The CPU device: runs kernels in the IR interpreter on host memory.
import type { Device, LaunchRequest } from '../device.js';
import { interpret, type InterpreterArg } from './interpreter.js';
import { LaunchError } from '../../compiler/frontend/errors.js';

export const cpuDevice: Device = {
  name: 'cpu (IR interpreter)',
  target: 'cpu',
  launch({ kernel, grid, args }: LaunchRequest): void {
    const iargs: InterpreterArg[] = [];
    for (const a of args) {
      if (a.kind === 'constexpr') continue;
      if (a.kind === 'scalar') iargs.push({ kind: 'scalar', name: a.name, value: a.value });
      else if (a.buffer.kind === 'host') iargs.push({ kind: 'buffer', name: a.name, dtype: a.buffer.dtype, data: a.buffer.data });
      else throw new LaunchError(`argument '${a.name}' of kernel '${kernel.name}' lives on device '${a.buffer.buffer.device}'; the CPU device needs host memory`);
    }
    interpret(kernel.module.kernel, iargs, grid, { kernelName: kernel.name, sourceText: kernel.sourceText });
  },
};
