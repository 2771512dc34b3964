// The kernel language. These declarations exist so that kernels type-check with tsc and complete in an
// editor; the compiler reads kernel source and never calls them. Block values are typed as `number`
// (and comparisons as `boolean`) so that TypeScript's own operators type-check on them; the compiler
// gives them their real block types (shape and dtype). Calling any of these outside a compiled kernel
// throws.

/** Element type names accepted wherever a dtype is expected. */
export type DTypeName = 'f64' | 'f32' | 'f16' | 'bf16' | 'i64' | 'i32' | 'u32' | 'i8' | 'u8' | 'i1';

/** A block (or scalar) value inside a kernel. */
export type Tensor = number;
/** A boolean block, as produced by comparisons. */
export type Mask = boolean | number;
declare const pointerBrand: unique symbol;
/** A pointer (or block of pointers). `Ptr<'f16'>` fixes the element type; plain `Ptr` takes it from the launch. */
export type Ptr<D extends DTypeName = DTypeName> = number & { readonly [pointerBrand]: D };
/** A function written in the kernel language, passed as a constexpr and inlined where it is called. */
export type KernelFn = (...args: never[]) => unknown;
/**
 * A parameter whose value is baked into the compiled code; each distinct value compiles a variant
 * (a function's variant is keyed by its source text).
 */
export type constexpr<T extends number | boolean | string | KernelFn = number> = T;

// Scalar parameter kinds: a launch argument is converted to this type.
export type i64 = number;
export type i32 = number;
export type u32 = number;
export type i8 = number;
export type u8 = number;
export type f64 = number;
export type f32 = number;
export type f16 = number;
export type bf16 = number;
export type i1 = boolean;

export interface LoadOptions {
  /** Lanes where the mask is false are not read. */
  mask?: Mask;
  /** Value of masked-off lanes (default 0). */
  other?: number;
}
export interface StoreOptions {
  mask?: Mask;
}
export interface DotOptions {
  /** Allow TF32 tensor cores for f32 operands on GPUs (lower precision). Default false. */
  allowTf32?: boolean;
}

function outside(name: string): never {
  throw new Error(`tl.${name}() can only be used inside a kernel compiled by jit(); it has no meaning in ordinary JavaScript`);
}

// ---- program and index space
/** Index of this program along grid axis 0, 1 or 2. */
export function programId(axis: 0 | 1 | 2): Tensor { return outside('programId'); }
/** Number of programs along grid axis 0, 1 or 2. */
export function numPrograms(axis: 0 | 1 | 2): Tensor { return outside('numPrograms'); }
/** The i32 block [start, start+1, ..., end-1]; end - start must be a power of two. */
export function arange(start: number, end: number): Tensor { return outside('arange'); }
export function zeros(shape: readonly number[], dtype?: DTypeName): Tensor { return outside('zeros'); }
export function full(shape: readonly number[], value: number | boolean, dtype?: DTypeName): Tensor { return outside('full'); }

// ---- memory
export function load(ptr: number, options?: LoadOptions): Tensor { return outside('load'); }
export function store(ptr: number, value: number | boolean, options?: StoreOptions): void { outside('store'); }
/** Atomically adds `value` at `ptr`, returning the old values. */
export function atomicAdd(ptr: number, value: number, options?: StoreOptions): Tensor { return outside('atomicAdd'); }

// ---- shapes
/** Inserts an axis of size 1 at `axis` (Triton's `x[:, None]` is `expandDims(x, 1)`). */
export function expandDims<T extends number | boolean>(x: T, axis: number): T { return outside('expandDims'); }
/** `x[:, None]`: a 1-D block as a column of shape [N, 1]. */
export function col<T extends number | boolean>(x: T): T { return outside('col'); }
/** `x[None, :]`: a 1-D block as a row of shape [1, N]. */
export function row<T extends number | boolean>(x: T): T { return outside('row'); }
export function broadcastTo<T extends number | boolean>(x: T, shape: readonly number[]): T { return outside('broadcastTo'); }
export function reshape<T extends number | boolean>(x: T, shape: readonly number[]): T { return outside('reshape'); }
/** Permutes axes; without `perm`, reverses them (a 2-D transpose). */
export function trans<T extends number | boolean>(x: T, perm?: readonly number[]): T { return outside('trans'); }

// ---- elementwise
export function where(cond: Mask, a: number | boolean, b: number | boolean): Tensor { return outside('where'); }
export function cast(x: number | boolean, dtype: DTypeName): Tensor { return outside('cast'); }
export function exp(x: number): Tensor { return outside('exp'); }
export function exp2(x: number): Tensor { return outside('exp2'); }
export function log(x: number): Tensor { return outside('log'); }
export function log2(x: number): Tensor { return outside('log2'); }
export function sqrt(x: number): Tensor { return outside('sqrt'); }
export function rsqrt(x: number): Tensor { return outside('rsqrt'); }
export function sin(x: number): Tensor { return outside('sin'); }
export function cos(x: number): Tensor { return outside('cos'); }
export function sigmoid(x: number): Tensor { return outside('sigmoid'); }
/** log(1 + exp(x)), computed without overflow. */
export function softplus(x: number): Tensor { return outside('softplus'); }
export function abs(x: number): Tensor { return outside('abs'); }
export function floor(x: number): Tensor { return outside('floor'); }
export function maximum(a: number, b: number): Tensor { return outside('maximum'); }
export function minimum(a: number, b: number): Tensor { return outside('minimum'); }
/** Integer division rounding toward zero (C semantics, as Triton's `//` on GPUs). */
export function idiv(a: number, b: number): Tensor { return outside('idiv'); }
/** Ceiling division of integers: cdiv(a, b) = idiv(a + b - 1, b) for positive operands. */
export function cdiv(a: number, b: number): Tensor { return outside('cdiv'); }

// ---- reductions (without `axis`, over all elements)
export function sum(x: number, axis?: number): Tensor { return outside('sum'); }
export function max(x: number, axis?: number): Tensor { return outside('max'); }
export function min(x: number, axis?: number): Tensor { return outside('min'); }
/** Index of the first maximum along `axis` (i32). */
export function argmax(x: number, axis: number): Tensor { return outside('argmax'); }

// ---- matrix product
/** a @ b + acc, accumulated in acc's dtype (f32 when acc is omitted). */
export function dot(a: number, b: number, acc?: number, options?: DotOptions): Tensor { return outside('dot'); }

// ---- loops
/** A loop over runtime bounds, compiled to a loop (same as a `for (let i = ...; i < ...; i += ...)`). */
export function range(start: number, end?: number, step?: number): Iterable<number> { return outside('range'); }
/** A loop over constexpr bounds that the compiler unrolls. */
export function staticRange(start: number, end?: number, step?: number): Iterable<number> { return outside('staticRange'); }

// ---- debugging
/** Fails compilation with `message` when the constexpr `cond` is false. */
export function staticAssert(cond: boolean, message?: string): void { outside('staticAssert'); }
/** Prints values from every program (CPU interpreter). */
export function print(prefix: string, ...values: Array<number | boolean>): void { outside('print'); }
/** Stops the launch with an error naming the kernel line when `cond` is false anywhere (CPU interpreter). */
export function deviceAssert(cond: Mask, message?: string): void { outside('deviceAssert'); }
