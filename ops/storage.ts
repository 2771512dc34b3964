// Where a tensor's elements live: host memory (the CPU devices), a CUDA buffer or a WebGPU buffer.
// One interface, so that tensors and ops do not care which.
import type { DType } from '../compiler/ir/dtype.js';
import { allocateHost, type TypedArray } from '../runtime/storage.js';
import type { BufferArg } from '../runtime/buffers.js';
import { cudaDevice } from '../runtime/cuda/device.js';
import { webgpuDevice } from '../runtime/webgpu/device.js';
import type { CudaBuffer } from '../runtime/cuda/memory.js';
import type { WebGpuBuffer } from '../runtime/webgpu/buffer.js';

/** 'cpu' (the IR interpreter), 'ptx-sim' (host memory, PTX simulator), 'cuda', 'cuda:N' or 'webgpu'. */
export type TensorDevice = 'cpu' | 'ptx-sim' | 'cuda' | `cuda:${number}` | 'webgpu';

export interface Storage {
  readonly device: TensorDevice;
  readonly dtype: DType;
  readonly length: number;
  /** What a kernel launch takes for this memory. */
  readonly arg: BufferArg;
  /** Waits for pending work and returns the elements as stored (the dtype's typed array). */
  read(): Promise<TypedArray>;
  dispose(): void;
}

/** The name tensors carry for a device: 'cuda' is 'cuda:0', so that device names compare equal. */
export function canonicalDevice(device: TensorDevice): TensorDevice {
  return device === 'cuda' ? 'cuda:0' : device;
}

export function allocate(device: TensorDevice, dtype: DType, length: number, init?: TypedArray): Storage {
  if (device === 'cpu' || device === 'ptx-sim') {
    const data = init ? init.slice() : allocateHost(dtype, length);
    const arg = { dtype, data };
    return { device, dtype, length, arg, read: async () => data.slice(), dispose: () => undefined };
  }
  if (device === 'webgpu') {
    // Refused here rather than at the first kernel that reads it, whose error would name a kernel parameter.
    if (dtype === 'f64' || dtype === 'i64') {
      const to = dtype === 'f64' ? 'f32' : 'i32';
      throw new TypeError(`a tensor on 'webgpu' cannot be ${dtype}: WGSL has no 64-bit types; use '${to}' ` +
        `(Tensor.from(data, { dtype: '${to}', device: 'webgpu' }), await t.toDevice('webgpu', '${to}'))`);
    }
    const dev = webgpuDevice();
    const buf: WebGpuBuffer = init ? dev.from({ dtype, data: init }) : dev.alloc(dtype, length);
    return { device, dtype, length, arg: buf, read: () => buf.read(), dispose: () => buf.destroy() };
  }
  const dev = cudaDevice(device);
  const buf: CudaBuffer = init ? dev.from({ dtype, data: init }) : dev.alloc(dtype, length).memset(0);
  const name = `cuda:${dev.index}` as TensorDevice;
  return {
    device: name, dtype, length, arg: buf,
    read: async () => {
      dev.synchronize();
      return buf.download();
    },
    dispose: () => buf.dispose(),
  };
}
