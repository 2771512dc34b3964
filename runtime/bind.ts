// Binds launch arguments to a kernel's declared parameters: checks them, types pointers from their
// buffers and scalars from their declarations, and collects constexpr values. The result is the
// kernel's specialization signature.
import { DTYPE_INFO, type DType } from '../compiler/ir/dtype.js';
import type { BoundParam, DeclaredParam } from '../compiler/compile.js';
import { LaunchError } from '../compiler/frontend/errors.js';
import { allocateHost } from './storage.js';
import { resolveBuffer, type ResolvedBuffer } from './buffers.js';
import { constexprFunction, type ConstexprFunction } from '../compiler/frontend/constexpr-function.js';

export type BoundArg =
  | { readonly name: string; readonly kind: 'ptr'; readonly buffer: ResolvedBuffer }
  | { readonly name: string; readonly kind: 'scalar'; readonly dtype: DType; readonly value: number }
  | { readonly name: string; readonly kind: 'constexpr'; readonly value: number | boolean | string | ConstexprFunction };

export interface Binding {
  readonly params: BoundParam[];
  readonly args: BoundArg[];
  /** Identifies the specialization: pointer dtypes, scalar dtypes, constexpr values. */
  readonly signature: string;
  readonly constexprs: Record<string, number | boolean | string>;
}

export function bindArguments(kernel: string, declared: readonly DeclaredParam[], values: readonly unknown[]): Binding {
  if (values.length !== declared.length)
    throw new LaunchError(`kernel '${kernel}' takes ${declared.length} arguments (${declared.map((d) => d.name).join(', ')}), got ${values.length}`);
  const params: BoundParam[] = [], args: BoundArg[] = [];
  const constexprs: Record<string, number | boolean | string> = {};
  declared.forEach((d, i) => {
    const v = values[i];
    const where = `argument ${i + 1} ('${d.name}') of kernel '${kernel}'`;
    if (d.kind === 'constexpr') {
      if (typeof v === 'function') {
        const fn = constexprFunction(v as (...args: never[]) => unknown, d.name);
        params.push({ name: d.name, kind: 'constexpr', value: fn });
        args.push({ name: d.name, kind: 'constexpr', value: fn });
        return;
      }
      if (!(typeof v === 'number' || typeof v === 'boolean' || typeof v === 'string'))
        throw new LaunchError(`${where} is a constexpr: expected a number, boolean, string or kernel-language function, got ${describe(v)}`);
      params.push({ name: d.name, kind: 'constexpr', value: v });
      args.push({ name: d.name, kind: 'constexpr', value: v });
      constexprs[d.name] = v;
      return;
    }
    const buffer = resolveBuffer(v);
    if (d.kind === 'ptr' || (d.kind === 'infer' && buffer)) {
      if (!buffer) throw new LaunchError(`${where} is a pointer: expected a typed array, { dtype, data } or a device buffer, got ${describe(v)}`);
      checkStorage(buffer, where);
      if (d.kind === 'ptr' && d.pointee && d.pointee !== buffer.dtype)
        throw new LaunchError(`${where} is declared Ptr<'${d.pointee}'>, got a buffer of ${buffer.dtype}`);
      params.push({ name: d.name, kind: 'ptr', pointee: buffer.dtype });
      args.push({ name: d.name, kind: 'ptr', buffer });
      return;
    }
    const dtype = d.kind === 'scalar' ? d.dtype : inferScalarDType(v, where);
    const num = scalarValue(v, dtype, where);
    // Integers are specialized on divisibility by 16, as Triton does: it lets GPU backends vectorize.
    const isInt = dtype === 'i32' || dtype === 'i64' || dtype === 'u32';
    const divisibleBy16 = isInt && num % 16 === 0;
    const equalsOne = isInt && num === 1; // also as Triton: 1 (a unit stride) is baked in
    params.push({ name: d.name, kind: 'scalar', dtype, divisibleBy16, equalsOne });
    args.push({ name: d.name, kind: 'scalar', dtype, value: num });
  });
  const signature = params.map((p) => (p.kind === 'ptr' ? `*${p.pointee}` : p.kind === 'scalar' ? `${p.dtype}${p.divisibleBy16 ? ':16' : p.equalsOne ? '=1' : ''}` : `${p.name}=${constexprKey(p.value)}`)).join(',');
  return { params, args, signature, constexprs };
}

/** A constexpr in the signature: its value, or a function's name and source hash. */
function constexprKey(v: number | boolean | string | ConstexprFunction): string {
  return typeof v === 'object' ? `fn:${v.name}:${v.hash}` : String(v);
}

function inferScalarDType(v: unknown, where: string): DType {
  if (typeof v === 'boolean') return 'i1';
  if (typeof v !== 'number') throw new LaunchError(`${where}: expected a number, boolean or buffer, got ${describe(v)}`);
  if (Number.isInteger(v)) return v >= -(2 ** 31) && v < 2 ** 31 ? 'i32' : 'i64';
  return 'f32';
}

function scalarValue(v: unknown, dtype: DType, where: string): number {
  const info = DTYPE_INFO[dtype];
  if (dtype === 'i1') {
    if (typeof v !== 'boolean') throw new LaunchError(`${where} is a boolean, got ${describe(v)}`);
    return v ? 1 : 0;
  }
  if (typeof v !== 'number') throw new LaunchError(`${where} is a ${dtype} scalar, got ${describe(v)}`);
  if (info.kind === 'int') {
    const lo = info.signed ? -(2 ** (info.bits - 1)) : 0, hi = info.signed ? 2 ** (info.bits - 1) - 1 : 2 ** info.bits - 1;
    if (!Number.isInteger(v) || v < lo || v > hi) throw new LaunchError(`${where} is ${dtype}: expected an integer in [${lo}, ${hi}], got ${v}`);
  }
  return v;
}

function checkStorage(b: ResolvedBuffer, where: string): void {
  if (b.kind !== 'host') return;
  const want = allocateHost(b.dtype, 0).constructor;
  if (b.data.constructor !== want)
    throw new LaunchError(`${where}: ${b.dtype} data must be stored in a ${want.name}, got a ${b.data.constructor.name}`);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return `a plain array of ${v.length} items (wrap it in a typed array)`;
  if (ArrayBuffer.isView(v)) return `a ${v.constructor.name}`;
  if (typeof v === 'object') return `an object with keys {${Object.keys(v as object).join(', ')}}`;
  return `${typeof v} ${JSON.stringify(v)}`;
}
