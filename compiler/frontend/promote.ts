// Type promotion for mixed operands, following Triton (see docs/type-promotion.md).
import { type DType, DTYPE_INFO, isFloat, isInt } from '../ir/dtype.js';

/** The dtype both operands of an arithmetic op are converted to. */
export function promoteDTypes(a: DType, b: DType): DType {
  if (a === b) return a;
  const ia = DTYPE_INFO[a], ib = DTYPE_INFO[b];
  if (ia.kind === 'float' && ib.kind === 'float') {
    if (ia.bits !== ib.bits) return ia.bits > ib.bits ? a : b;
    return 'f32'; // f16 with bf16: neither holds the other
  }
  if (ia.kind === 'float') return a;
  if (ib.kind === 'float') return b;
  if (ia.kind === 'bool') return b;
  if (ib.kind === 'bool') return a;
  if (ia.bits !== ib.bits) return ia.bits > ib.bits ? a : b;
  return ia.signed ? b : a; // same width, mixed signedness: unsigned wins
}

/** Default dtype of a compile-time constant that meets no other operand. */
export function defaultConstDType(v: number | boolean): DType {
  if (typeof v === 'boolean') return 'i1';
  if (Number.isInteger(v)) return v >= -(2 ** 31) && v < 2 ** 31 ? 'i32' : 'i64';
  return 'f32';
}

/** The dtype of `constant op value` where value has dtype `d`: constants are weakly typed. */
export function promoteWithConst(d: DType, c: number | boolean): DType {
  if (typeof c === 'boolean') return d;
  if (Number.isInteger(c) && Number.isFinite(c)) {
    if (d === 'i1') return 'i32';
    if (isInt(d) && DTYPE_INFO[d].bits < 64 && (c >= 2 ** 31 || c < -(2 ** 31))) return 'i64';
    return d;
  }
  return isFloat(d) ? d : 'f32';
}
