// What an expression evaluates to while the frontend walks a kernel. Compile-time values (constexprs,
// shapes, dtypes, strings) stay in the frontend and fold there; only `value` lives in the IR.
import type { Node } from 'ts-morph';
import type { Value } from '../ir/ir.js';
import type { DType } from '../ir/dtype.js';
import { typeToString } from '../ir/types.js';
import type { ConstexprFunction } from './constexpr-function.js';

export type Operand =
  | { readonly kind: 'value'; readonly value: Value }
  /** A compile-time number or boolean: a literal, a constexpr parameter, or arithmetic on them. */
  | { readonly kind: 'const'; readonly value: number | boolean }
  | { readonly kind: 'dtype'; readonly dtype: DType }
  | { readonly kind: 'string'; readonly value: string }
  | { readonly kind: 'tuple'; readonly items: readonly Operand[] }
  | { readonly kind: 'object'; readonly fields: ReadonlyMap<string, { operand: Operand; node: Node }> }
  | { readonly kind: 'namespace'; readonly name: 'tl' | 'Math' }
  | { readonly kind: 'builtin'; readonly name: string }
  | { readonly kind: 'helper'; readonly name: string }
  /** A function passed as a constexpr argument (inlined where it is called). */
  | { readonly kind: 'function'; readonly fn: ConstexprFunction }
  | { readonly kind: 'none' };

export const valueOp = (value: Value): Operand => ({ kind: 'value', value });
export const constOp = (value: number | boolean): Operand => ({ kind: 'const', value });
export const NONE: Operand = { kind: 'none' };

export function describeOperand(o: Operand): string {
  switch (o.kind) {
    case 'value': return o.value.type.shape.length === 0 ? `a runtime ${typeToString(o.value.type)} scalar` : `a block ${typeToString(o.value.type)}`;
    case 'const': return `the constant ${String(o.value)}`;
    case 'dtype': return `the dtype '${o.dtype}'`;
    case 'string': return `the string ${JSON.stringify(o.value)}`;
    case 'tuple': return `a list of ${o.items.length} items`;
    case 'object': return 'an options object';
    case 'namespace': return `the namespace '${o.name}'`;
    case 'builtin': return `the function tl.${o.name}`;
    case 'helper': return `the function ${o.name}`;
    case 'function': return `the function constexpr ${o.fn.name}`;
    case 'none': return 'nothing (void)';
  }
}
