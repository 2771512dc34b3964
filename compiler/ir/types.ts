// Types of IR values: a block (tensor of static shape; [] is a scalar) of scalars or of pointers.
import type { DType } from './dtype.js';

export interface ScalarType { readonly kind: 'scalar'; readonly dtype: DType }
/** A pointer into global memory whose elements have type `pointee`. */
export interface PointerType { readonly kind: 'ptr'; readonly pointee: DType }
export type ElementType = ScalarType | PointerType;

export interface BlockType { readonly elem: ElementType; readonly shape: readonly number[] }

export const scalarElem = (dtype: DType): ScalarType => ({ kind: 'scalar', dtype });
export const ptrElem = (pointee: DType): PointerType => ({ kind: 'ptr', pointee });
export const blockOf = (elem: ElementType, shape: readonly number[] = []): BlockType => ({ elem, shape: [...shape] });
export const scalarType = (dtype: DType, shape: readonly number[] = []): BlockType => blockOf(scalarElem(dtype), shape);

export const elemToString = (e: ElementType): string => (e.kind === 'ptr' ? `*${e.pointee}` : e.dtype);
export function typeToString(t: BlockType): string {
  return t.shape.length === 0 ? elemToString(t.elem) : `<${t.shape.join('x')}x${elemToString(t.elem)}>`;
}
export const sameElem = (a: ElementType, b: ElementType): boolean =>
  a.kind === b.kind && (a.kind === 'ptr' ? a.pointee === (b as PointerType).pointee : a.dtype === (b as ScalarType).dtype);
export const sameShape = (a: readonly number[], b: readonly number[]): boolean =>
  a.length === b.length && a.every((d, i) => d === b[i]);
export const sameType = (a: BlockType, b: BlockType): boolean => sameElem(a.elem, b.elem) && sameShape(a.shape, b.shape);
export const numel = (shape: readonly number[]): number => shape.reduce((p, d) => p * d, 1);
/** Element strides of a row-major (C-contiguous) array of this shape. */
export function rowMajorStrides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}
export const isPointer = (t: BlockType): boolean => t.elem.kind === 'ptr';
/** The scalar dtype of a non-pointer type; pointers are 64-bit addresses. */
export const dtypeOf = (t: BlockType): DType => (t.elem.kind === 'ptr' ? 'i64' : t.elem.dtype);
