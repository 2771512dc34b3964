// Host memory for each dtype: which typed array holds it and how f16/bf16 bits convert to numbers.
import type { DType } from '../compiler/ir/dtype.js';
import { roundF16, roundBF16 } from '../compiler/ir/semantics.js';

export type TypedArray = Float64Array | Float32Array | Uint16Array | Int32Array | Uint32Array | Int8Array | Uint8Array | BigInt64Array;

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function f16BitsToNumber(h: number): number {
  const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 0x1f, m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}
export function numberToF16Bits(x: number): number {
  if (Number.isNaN(x)) return 0x7e00;
  const r = roundF16(x);
  const sign = r < 0 || Object.is(r, -0) ? 0x8000 : 0;
  const a = Math.abs(r);
  if (a === Infinity) return sign | 0x7c00;
  if (a < 2 ** -14) return sign | Math.round(a / 2 ** -24);
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  else if (2 ** (e + 1) <= a) e++;
  return sign | ((e + 15) << 10) | Math.round((a / 2 ** e - 1) * 1024);
}
export function bf16BitsToNumber(h: number): number {
  u32[0] = h << 16;
  return f32[0]!;
}
export function numberToBF16Bits(x: number): number {
  if (Number.isNaN(x)) return 0x7fc0;
  f32[0] = roundBF16(x); // exact in f32, so the top 16 bits hold it
  return u32[0]! >>> 16;
}

export function allocateHost(dtype: DType, length: number): TypedArray {
  switch (dtype) {
    case 'f64': return new Float64Array(length);
    case 'f32': return new Float32Array(length);
    case 'f16': case 'bf16': return new Uint16Array(length);
    case 'i64': return new BigInt64Array(length);
    case 'i32': return new Int32Array(length);
    case 'u32': return new Uint32Array(length);
    case 'i8': return new Int8Array(length);
    case 'u8': case 'i1': return new Uint8Array(length);
  }
}

/** The dtype a typed array stands for when it is passed without a tag (f16, bf16 and i1 need one). */
export function dtypeOfTypedArray(a: unknown): DType | undefined {
  if (a instanceof Float64Array) return 'f64';
  if (a instanceof Float32Array) return 'f32';
  if (a instanceof Int32Array) return 'i32';
  if (a instanceof Uint32Array) return 'u32';
  if (a instanceof Int8Array) return 'i8';
  if (a instanceof Uint8Array) return 'u8';
  if (a instanceof BigInt64Array) return 'i64';
  return undefined;
}

/** Element accessors that convert between stored bits and numbers. */
export function elementReader(dtype: DType, data: TypedArray): (i: number) => number {
  if (dtype === 'f16') return (i) => f16BitsToNumber(data[i] as number);
  if (dtype === 'bf16') return (i) => bf16BitsToNumber(data[i] as number);
  if (dtype === 'i64')
    return (i) => {
      const v = (data as BigInt64Array)[i]!;
      // The interpreter computes in float64: refuse i64 values it cannot hold exactly.
      if (v > 9007199254740991n || v < -9007199254740991n) throw new RangeError(`i64 value ${v} at element ${i} is beyond ±2^53, which the CPU interpreter cannot represent exactly`);
      return Number(v);
    };
  return (i) => data[i] as number;
}
export function elementWriter(dtype: DType, data: TypedArray): (i: number, x: number) => void {
  if (dtype === 'f16') return (i, x) => void (data[i] = numberToF16Bits(x));
  if (dtype === 'bf16') return (i, x) => void (data[i] = numberToBF16Bits(x));
  if (dtype === 'i64') return (i, x) => void ((data as BigInt64Array)[i] = BigInt(Math.trunc(x)));
  if (dtype === 'i1') return (i, x) => void (data[i] = x ? 1 : 0);
  return (i, x) => void ((data as Float64Array)[i] = x);
}

/** Converts numbers to the stored representation of `dtype`, rounding as the device would. */
export function toHost(dtype: DType, values: ArrayLike<number>): TypedArray {
  const out = allocateHost(dtype, values.length);
  const w = elementWriter(dtype, out);
  for (let i = 0; i < values.length; i++) w(i, values[i]!);
  return out;
}
/** Reads a stored array back as float64 numbers. */
export function fromHost(dtype: DType, data: TypedArray): Float64Array {
  const r = elementReader(dtype, data);
  const out = new Float64Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = r(i);
  return out;
}
