// What a launch accepts for a pointer parameter, and how it is recognized.
import { type DType, isDType } from '../compiler/ir/dtype.js';
import { dtypeOfTypedArray, type TypedArray } from './storage.js';

/** Host memory tagged with its dtype; the only way to pass f16, bf16 or i1 data from typed arrays. */
export interface HostBuffer {
  readonly dtype: DType;
  readonly data: TypedArray;
}

/** Memory owned by a device runtime (CUDA, WebGPU); implemented by each runtime's buffer class. */
export interface DeviceBuffer {
  readonly device: string;
  readonly dtype: DType;
  readonly length: number;
}

/** A pointer argument: a typed array of an unambiguous dtype, a tagged host buffer, or a device buffer. */
export type BufferArg = Float64Array | Float32Array | Int32Array | Uint32Array | Int8Array | Uint8Array | BigInt64Array | HostBuffer | DeviceBuffer;

/** Wraps host data with an explicit dtype (needed for f16/bf16 bits in a Uint16Array and for i1). */
export function hostBuffer(data: TypedArray, dtype: DType): HostBuffer {
  return { data, dtype };
}

export type ResolvedBuffer =
  | { readonly kind: 'host'; readonly dtype: DType; readonly data: TypedArray }
  | { readonly kind: 'device'; readonly dtype: DType; readonly buffer: DeviceBuffer };

/** Recognizes a pointer argument, or returns undefined when `x` is not one. */
export function resolveBuffer(x: unknown): ResolvedBuffer | undefined {
  const plain = dtypeOfTypedArray(x);
  if (plain) return { kind: 'host', dtype: plain, data: x as TypedArray };
  if (typeof x !== 'object' || x === null) return undefined;
  const o = x as Partial<HostBuffer & DeviceBuffer>;
  if (!isDType(o.dtype)) return undefined;
  if (ArrayBuffer.isView(o.data)) return { kind: 'host', dtype: o.dtype, data: o.data as TypedArray };
  if (typeof o.device === 'string' && typeof o.length === 'number') return { kind: 'device', dtype: o.dtype, buffer: x as DeviceBuffer };
  return undefined;
}
