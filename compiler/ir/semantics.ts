// Element-level semantics of the block IR's arithmetic, shared by constant folding and the CPU
// interpreter so that both compute exactly the same numbers. Values are JS numbers; every result is
// rounded to its dtype as the hardware stores it (f16/bf16 round-to-nearest-even, integers wrap).
import { type DType, DTYPE_INFO } from './dtype.js';
import type { UnaryOpcode, BinaryOpcode, CmpPredicate } from './ops.js';

/** Rounds a finite number to a binary float with `mant` fraction bits and minimum normal exponent `minExp`. */
function roundToFormat(x: number, mant: number, minExp: number, maxFinite: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  const a = Math.abs(x);
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  else if (2 ** (e + 1) <= a) e++;
  if (e < minExp) e = minExp; // subnormals share the smallest exponent
  const ulp = 2 ** (e - mant);
  const q = a / ulp;
  let r = Math.round(q);
  if (r - q === 0.5 && r % 2 === 1) r -= 1; // ties to even (Math.round rounds ties up)
  const y = r * ulp;
  return Math.sign(x) * (y > maxFinite ? Infinity : y);
}

export const roundF16 = (x: number): number => roundToFormat(x, 10, -14, 65504);
export const roundBF16 = (x: number): number => roundToFormat(x, 7, -126, 3.3895313892515355e38);

/** Rounds or wraps `x` to a value representable in `dtype`. */
export function roundTo(dtype: DType, x: number): number {
  switch (dtype) {
    case 'f64': return x;
    case 'f32': return Math.fround(x);
    case 'f16': return roundF16(x);
    case 'bf16': return roundBF16(x);
    case 'i64': return Number.isSafeInteger(x) ? x : Number(BigInt.asIntN(64, BigInt(Math.trunc(x))));
    case 'i32': return x | 0;
    case 'u32': return x >>> 0;
    case 'i8': return (x << 24) >> 24;
    case 'u8': return x & 255;
    case 'i1': return x ? 1 : 0;
  }
}

/** Conversion between dtypes: float to int truncates toward zero and saturates (NaN becomes 0), as cvt.rzi.sat does. */
export function castValue(x: number, from: DType, to: DType): number {
  const fi = DTYPE_INFO[from], ti = DTYPE_INFO[to];
  if (to === 'i1') return x !== 0 ? 1 : 0;
  if (fi.kind === 'float' && ti.kind === 'int') {
    if (Number.isNaN(x)) return 0;
    const lo = ti.signed ? -(2 ** (ti.bits - 1)) : 0, hi = ti.signed ? 2 ** (ti.bits - 1) - 1 : 2 ** ti.bits - 1;
    return Math.min(hi, Math.max(lo, Math.trunc(x)));
  }
  return roundTo(to, x);
}

const sigmoid = (x: number): number => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)));
/** log(1 + e^x) without overflow: max(x, 0) + log1p(e^-|x|). */
const softplus = (x: number): number => Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));

const UNARY: Record<UnaryOpcode, (x: number, d: DType) => number> = {
  neg: (x) => -x,
  not: (x, d) => (d === 'i1' ? (x ? 0 : 1) : ~x),
  exp: Math.exp, exp2: (x) => 2 ** x, log: Math.log, log2: Math.log2, sqrt: Math.sqrt,
  rsqrt: (x) => 1 / Math.sqrt(x), sin: Math.sin, cos: Math.cos, abs: Math.abs, floor: Math.floor,
  sigmoid, softplus,
};

export function unaryFn(op: UnaryOpcode, dtype: DType): (x: number) => number {
  const f = UNARY[op];
  return (x) => roundTo(dtype, f(x, dtype));
}

function intDiv(a: number, b: number): number {
  return b === 0 ? 0 : Math.trunc(a / b); // division by zero is undefined on GPUs; 0 here
}

export function binaryFn(op: BinaryOpcode, dtype: DType): (a: number, b: number) => number {
  const r = (x: number): number => roundTo(dtype, x);
  const info = DTYPE_INFO[dtype];
  const isFloat = info.kind === 'float';
  switch (op) {
    case 'add': return (a, b) => r(a + b);
    case 'sub': return (a, b) => r(a - b);
    case 'mul':
      if (dtype === 'i32') return (a, b) => Math.imul(a, b);
      if (dtype === 'u32') return (a, b) => Math.imul(a, b) >>> 0;
      if (dtype === 'i64') return (a, b) => { const p = a * b; return Number.isSafeInteger(p) ? p : Number(BigInt.asIntN(64, BigInt(a) * BigInt(b))); };
      return (a, b) => r(a * b);
    case 'div': return (a, b) => r(a / b);
    case 'idiv': return (a, b) => r(intDiv(a, b));
    case 'rem': return isFloat ? (a, b) => r(a % b) : (a, b) => (b === 0 ? 0 : r(a % b));
    // NaN propagates through min and max, as PTX's min.NaN/max.NaN and torch.minimum/maximum do.
    case 'min': return (a, b) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.min(a, b));
    case 'max': return (a, b) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.max(a, b));
    case 'and': return info.bits === 64 ? (a, b) => Number(BigInt.asIntN(64, BigInt(a) & BigInt(b))) : (a, b) => r(a & b);
    case 'or': return info.bits === 64 ? (a, b) => Number(BigInt.asIntN(64, BigInt(a) | BigInt(b))) : (a, b) => r(a | b);
    case 'xor': return info.bits === 64 ? (a, b) => Number(BigInt.asIntN(64, BigInt(a) ^ BigInt(b))) : (a, b) => r(a ^ b);
    case 'shl': return info.bits === 64 ? (a, b) => Number(BigInt.asIntN(64, BigInt(a) << BigInt(b))) : (a, b) => (b >= info.bits ? 0 : r(a << b));
    case 'shr':
      if (info.bits === 64) return (a, b) => Number(BigInt.asIntN(64, BigInt(a) >> BigInt(b)));
      return info.signed ? (a, b) => r(a >> Math.min(b, 31)) : (a, b) => (b >= info.bits ? 0 : r(a >>> b));
  }
}

export function cmpFn(pred: CmpPredicate): (a: number, b: number) => number {
  switch (pred) {
    case 'lt': return (a, b) => (a < b ? 1 : 0);
    case 'le': return (a, b) => (a <= b ? 1 : 0);
    case 'gt': return (a, b) => (a > b ? 1 : 0);
    case 'ge': return (a, b) => (a >= b ? 1 : 0);
    case 'eq': return (a, b) => (a === b ? 1 : 0);
    case 'ne': return (a, b) => (a !== b ? 1 : 0);
  }
}
