// Device memory: CudaBuffer (a DeviceBuffer the launch API accepts for pointer parameters), upload and
// download of typed arrays, memset, and disposal. dispose() frees at once; a FinalizationRegistry frees
// buffers that were dropped without it. liveAllocations() counts allocations not yet freed.
import { DTYPE_INFO, isDType, type DType } from '../../compiler/ir/dtype.js';
import type { DeviceBuffer } from '../buffers.js';
import { allocateHost, dtypeOfTypedArray, type TypedArray } from '../storage.js';
import { check, cu, type CuDevicePtr } from './driver.js';
import { CudaContext, parseCudaDevice } from './context.js';

let live = 0;

/** Device allocations made by tilejit and not yet freed (by dispose() or the finalizer backstop). */
export function liveAllocations(): number {
  return live;
}

interface Allocation {
  readonly ctx: CudaContext;
  readonly ptr: CuDevicePtr;
  freed: boolean;
}

/** Frees buffers that were garbage collected without dispose(). Errors are ignored (process teardown). */
const finalizer = new FinalizationRegistry<Allocation>((a) => {
  if (a.freed) return;
  a.freed = true;
  live--;
  try {
    a.ctx.makeCurrent();
    cu().cuMemFree_v2(a.ptr);
  } catch {
    // nothing to report to: the buffer was leaked and the driver may be gone
  }
});

function rawAlloc(ctx: CudaContext, bytes: number): CuDevicePtr {
  if (!Number.isSafeInteger(bytes) || bytes < 0) throw new RangeError(`cannot allocate ${bytes} bytes`);
  ctx.makeCurrent();
  const out = new BigUint64Array(1);
  check('cuMemAlloc_v2', cu().cuMemAlloc_v2(out, bytes), `allocating ${bytes} bytes on cuda:${ctx.index}`);
  live++;
  return out[0]!;
}

/** Bytes one element of `dtype` occupies (i1 is one byte, f16/bf16 two). */
export function elementBytes(dtype: DType): number {
  return DTYPE_INFO[dtype].bytes;
}

/** Memory on a CUDA device, `length` elements of `dtype`. */
export class CudaBuffer implements DeviceBuffer {
  /** 'cuda:N' */
  readonly device: string;
  readonly byteLength: number;
  private readonly alloc: Allocation | undefined;
  private disposedFlag = false;

  private constructor(
    readonly ctx: CudaContext,
    readonly dtype: DType,
    readonly length: number,
  ) {
    this.device = `cuda:${ctx.index}`;
    this.byteLength = length * elementBytes(dtype);
    // An empty buffer holds no allocation (cuMemAlloc rejects 0 bytes); its pointer is 0.
    if (this.byteLength > 0) {
      const a: Allocation = { ctx, ptr: rawAlloc(ctx, this.byteLength), freed: false };
      this.alloc = a;
      finalizer.register(this, a, a);
    }
  }

  /** Allocates uninitialized device memory for `length` elements of `dtype` on device 'cuda:N' / index. */
  static alloc(dtype: DType, length: number, device: string | number = 0): CudaBuffer {
    if (!isDType(dtype)) throw new TypeError(`unknown dtype '${String(dtype)}'`);
    if (!Number.isSafeInteger(length) || length < 0) throw new RangeError(`buffer length must be a non-negative integer, got ${length}`);
    return new CudaBuffer(CudaContext.get(parseCudaDevice(device)), dtype, length);
  }

  /** Allocates zero-filled device memory. */
  static zeros(dtype: DType, length: number, device: string | number = 0): CudaBuffer {
    const b = CudaBuffer.alloc(dtype, length, device);
    b.memset(0);
    return b;
  }

  /**
   * Copies host data to a new device buffer. `dtype` defaults to the typed array's dtype; it is needed
   * for f16/bf16 (Uint16Array) and i1 (Uint8Array). A `{ dtype, data }` host buffer is accepted too.
   */
  static from(data: TypedArray | { readonly dtype: DType; readonly data: TypedArray }, device: string | number = 0, dtype?: DType): CudaBuffer {
    let arr: TypedArray;
    if (ArrayBuffer.isView(data)) arr = data;
    else {
      arr = data.data;
      dtype ??= data.dtype;
    }
    const dt = dtype ?? dtypeOfTypedArray(arr);
    if (!dt) throw new TypeError(`cannot tell the dtype of a ${arr.constructor.name}; pass it explicitly`);
    const b = CudaBuffer.alloc(dt, arr.length, device);
    try {
      b.upload(arr);
    } catch (e) {
      b.dispose();
      throw e;
    }
    return b;
  }

  /** The device address (throws once disposed). */
  get ptr(): CuDevicePtr {
    if (this.disposed) throw new Error(`CudaBuffer of ${this.length} ${this.dtype} on ${this.device} was disposed`);
    return this.alloc?.ptr ?? 0n;
  }

  get disposed(): boolean {
    return this.disposedFlag;
  }

  /** Copies `data` (same element size as the dtype) to the buffer, starting at element `offset`. */
  upload(data: ArrayBufferView & { readonly length: number; readonly BYTES_PER_ELEMENT: number }, offset = 0): this {
    const eb = elementBytes(this.dtype);
    if (data.BYTES_PER_ELEMENT !== eb)
      throw new TypeError(`cannot upload a ${data.constructor.name} (${data.BYTES_PER_ELEMENT}-byte elements) to a ${this.dtype} buffer (${eb}-byte elements)`);
    if (!Number.isSafeInteger(offset) || offset < 0 || offset + data.length > this.length)
      throw new RangeError(`upload of ${data.length} elements at offset ${offset} overflows a buffer of ${this.length}`);
    if (data.byteLength === 0) return this;
    const ptr = this.ptr;
    this.ctx.makeCurrent();
    check('cuMemcpyHtoD_v2', cu().cuMemcpyHtoD_v2(ptr + BigInt(offset * eb), data, data.byteLength), `uploading ${data.byteLength} bytes to ${this.device}`);
    return this;
  }

  /** Copies the buffer into a new typed array of the dtype's host type (as storage.allocateHost). */
  download(): TypedArray {
    const out = allocateHost(this.dtype, this.length);
    this.downloadInto(out);
    return out;
  }

  /** Copies the buffer (from element `offset`) into `out`, which must have the dtype's element size. */
  downloadInto(out: ArrayBufferView & { readonly length: number; readonly BYTES_PER_ELEMENT: number }, offset = 0): void {
    const eb = elementBytes(this.dtype);
    if (out.BYTES_PER_ELEMENT !== eb)
      throw new TypeError(`cannot download a ${this.dtype} buffer into a ${out.constructor.name}`);
    if (!Number.isSafeInteger(offset) || offset < 0 || offset + out.length > this.length)
      throw new RangeError(`download of ${out.length} elements at offset ${offset} overflows a buffer of ${this.length}`);
    if (out.byteLength === 0) return;
    const ptr = this.ptr;
    this.ctx.makeCurrent();
    // Synchronous copy on the legacy default stream: waits for work on the device's (blocking) stream.
    check('cuMemcpyDtoH_v2', cu().cuMemcpyDtoH_v2(out, ptr + BigInt(offset * eb), out.byteLength), `downloading ${out.byteLength} bytes from ${this.device}`);
  }

  /** Sets every byte of the buffer to `byte`. */
  memset(byte: number): this {
    if (!Number.isInteger(byte) || byte < 0 || byte > 255) throw new RangeError(`memset value must be a byte (0..255), got ${byte}`);
    if (this.byteLength === 0) return this;
    const ptr = this.ptr;
    this.ctx.makeCurrent();
    check('cuMemsetD8_v2', cu().cuMemsetD8_v2(ptr, byte, this.byteLength), `memset of ${this.byteLength} bytes on ${this.device}`);
    return this;
  }

  /** Frees the device memory now. Idempotent. */
  dispose(): void {
    if (this.disposedFlag) return;
    this.disposedFlag = true;
    const a = this.alloc;
    if (!a || a.freed) return;
    a.freed = true;
    live--;
    finalizer.unregister(a);
    a.ctx.makeCurrent();
    check('cuMemFree_v2', cu().cuMemFree_v2(a.ptr), `freeing ${this.byteLength} bytes on ${this.device}`);
  }

  toString(): string {
    return `CudaBuffer(${this.dtype}[${this.length}] on ${this.device}${this.disposed ? ', disposed' : ''})`;
  }
}

/** Allocates `length` elements of `dtype` on a CUDA device. */
export function cudaAlloc(dtype: DType, length: number, device: string | number = 0): CudaBuffer {
  return CudaBuffer.alloc(dtype, length, device);
}

/** Copies host data to a new CUDA buffer. */
export function toCuda(data: TypedArray | { readonly dtype: DType; readonly data: TypedArray }, device: string | number = 0, dtype?: DType): CudaBuffer {
  return CudaBuffer.from(data, device, dtype);
}
