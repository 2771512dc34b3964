// Scalar element types of the block IR and their properties.

export const DTYPES = ['f64', 'f32', 'f16', 'bf16', 'i64', 'i32', 'u32', 'i8', 'u8', 'i1'] as const;
export type DType = (typeof DTYPES)[number];

export interface DTypeInfo {
  readonly kind: 'float' | 'int' | 'bool';
  readonly bits: number;
  readonly signed: boolean;
  /** Bytes one element occupies in memory (i1 is stored as one byte). */
  readonly bytes: number;
}

export const DTYPE_INFO: Readonly<Record<DType, DTypeInfo>> = {
  f64: { kind: 'float', bits: 64, signed: true, bytes: 8 },
  f32: { kind: 'float', bits: 32, signed: true, bytes: 4 },
  f16: { kind: 'float', bits: 16, signed: true, bytes: 2 },
  bf16: { kind: 'float', bits: 16, signed: true, bytes: 2 },
  i64: { kind: 'int', bits: 64, signed: true, bytes: 8 },
  i32: { kind: 'int', bits: 32, signed: true, bytes: 4 },
  u32: { kind: 'int', bits: 32, signed: false, bytes: 4 },
  i8: { kind: 'int', bits: 8, signed: true, bytes: 1 },
  u8: { kind: 'int', bits: 8, signed: false, bytes: 1 },
  i1: { kind: 'bool', bits: 1, signed: false, bytes: 1 },
};

export function isDType(s: unknown): s is DType {
  return typeof s === 'string' && (DTYPES as readonly string[]).includes(s);
}
export const isFloat = (d: DType): boolean => DTYPE_INFO[d].kind === 'float';
export const isInt = (d: DType): boolean => DTYPE_INFO[d].kind === 'int';
export const isBool = (d: DType): boolean => d === 'i1';
