/// <reference types="@webgpu/types" />
// Device memory on WebGPU: a storage buffer holding a dtype's elements in their host layout (f16/bf16 as
// 16-bit halves, i8/u8/i1 as bytes), padded to a multiple of 4 bytes as storage bindings require.
// Uploads are synchronous (queue.writeBuffer copies the data at once); readback is asynchronous
// (`await buffer.read()`), as WebGPU maps buffers only asynchronously.
import type { DType } from '../../compiler/ir/dtype.js';
import { DTYPE_INFO } from '../../compiler/ir/dtype.js';
import type { DeviceBuffer } from '../buffers.js';
import { allocateHost, type TypedArray } from '../storage.js';
import { BufferUsage, MapMode, WebGpuError, type WebGpuContext } from './context.js';

/** Storage bindings must be a non-zero multiple of 4 bytes. */
export const paddedBytes = (bytes: number): number => Math.max(4, Math.ceil(bytes / 4) * 4);

export class WebGpuBuffer implements DeviceBuffer {
  readonly device = 'webgpu';
  private destroyed = false;

  constructor(
    private readonly ctx: WebGpuContext,
    readonly dtype: DType,
    readonly length: number,
    readonly gpu: GPUBuffer,
    /** Waits for launches and reports their errors (the device's synchronize). */
    private readonly sync: () => Promise<void>,
  ) {}

  get byteLength(): number {
    return this.length * DTYPE_INFO[this.dtype].bytes;
  }

  static alloc(ctx: WebGpuContext, dtype: DType, length: number, sync: () => Promise<void>): WebGpuBuffer {
    if (!Number.isInteger(length) || length < 0) throw new RangeError(`buffer length must be a non-negative integer, got ${length}`);
    const size = paddedBytes(length * DTYPE_INFO[dtype].bytes);
    const max = ctx.limits.maxStorageBufferBindingSize;
    if (size > max) throw new WebGpuError(`a buffer of ${length} ${dtype} (${size} bytes) exceeds the adapter's storage binding limit of ${max} bytes`);
    if (size >= 2 ** 31) throw new WebGpuError(`a buffer of ${size} bytes is beyond what the WGSL backend addresses (byte offsets are i32: under 2^31 bytes)`);
    const gpu = ctx.device.createBuffer({ size, usage: BufferUsage.STORAGE | BufferUsage.COPY_SRC | BufferUsage.COPY_DST });
    return new WebGpuBuffer(ctx, dtype, length, gpu, sync);
  }

  /** Copies host data (the dtype's typed array, as allocateHost makes it) into the buffer. */
  upload(data: TypedArray): this {
    this.check();
    if (data.length !== this.length) throw new RangeError(`upload of ${data.length} elements into a buffer of ${this.length}`);
    const want = allocateHost(this.dtype, 0).constructor;
    if (data.constructor !== want) throw new TypeError(`${this.dtype} data must be a ${want.name}, got a ${data.constructor.name}`);
    const bytes = new Uint8Array(data.buffer as ArrayBuffer, data.byteOffset, data.byteLength);
    if (bytes.byteLength % 4 === 0) this.ctx.device.queue.writeBuffer(this.gpu, 0, bytes);
    else {
      const padded = new Uint8Array(Math.ceil(bytes.byteLength / 4) * 4);
      padded.set(bytes);
      this.ctx.device.queue.writeBuffer(this.gpu, 0, padded);
    }
    return this;
  }

  /** Waits for every launch so far and returns the buffer's contents in a new typed array. */
  async read(): Promise<TypedArray> {
    const out = allocateHost(this.dtype, this.length);
    await this.readInto(out);
    return out;
  }

  /** Waits for every launch so far and copies the buffer's contents into `host`. */
  async readInto(host: TypedArray): Promise<void> {
    this.check();
    if (host.length !== this.length) throw new RangeError(`readback of a buffer of ${this.length} elements into ${host.length}`);
    const size = this.gpu.size;
    const staging = this.ctx.device.createBuffer({ size, usage: BufferUsage.MAP_READ | BufferUsage.COPY_DST });
    try {
      const enc = this.ctx.device.createCommandEncoder();
      enc.copyBufferToBuffer(this.gpu, 0, staging, 0, size);
      this.ctx.device.queue.submit([enc.finish()]);
      await this.sync();
      await staging.mapAsync(MapMode.READ);
      const bytes = new Uint8Array(staging.getMappedRange(), 0, this.byteLength);
      new Uint8Array(host.buffer, host.byteOffset, host.byteLength).set(bytes);
      staging.unmap();
    } finally {
      staging.destroy();
    }
  }

  /** Frees the GPU memory (launches already submitted still complete). */
  destroy(): void {
    if (!this.destroyed) this.gpu.destroy();
    this.destroyed = true;
  }

  private check(): void {
    if (this.destroyed) throw new WebGpuError('use of a destroyed WebGpuBuffer');
  }
}
