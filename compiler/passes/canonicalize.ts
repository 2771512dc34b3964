// Canonicalization: algebraic identities (x + 0, x * 1, select of equal arms, ptr + 0) and `if` on a
// constant condition, which is replaced by the ops of the branch it takes.
import { type Block, type Module, type Op, type Value } from '../ir/ir.js';
import { replaceUses } from './rewrite.js';

export function canonicalize(m: Module): void {
  const replaced = new Map<Value, Value>();
  for (const f of m.funcs.values()) simplifyBlock(f.body, replaced);
  replaceUses(m, replaced);
}

const constValue = (v: Value): number | boolean | undefined => (v.def?.opcode === 'constant' ? (v.def.attrs['value'] as number | boolean) : undefined);
const isConst = (v: Value, c: number): boolean => {
  const x = constValue(v);
  return x !== undefined && Number(x) === c;
};

function simplifyBlock(block: Block, replaced: Map<Value, Value>): void {
  const out: Op[] = [];
  const resolve = (v: Value): Value => replaced.get(v) ?? v;
  for (const op of block.ops) {
    op.operands = op.operands.map(resolve);
    for (const r of op.regions) simplifyBlock(r, replaced);
    if (op.opcode === 'if') {
      const c = constValue(op.operands[0]!);
      if (c !== undefined) {
        const taken = op.regions[c ? 0 : 1]!;
        const y = taken.ops.at(-1)!;
        for (const inner of taken.ops.slice(0, -1)) {
          inner.parent = block;
          out.push(inner);
        }
        op.results.forEach((r, i) => replaced.set(r, resolve(y.operands[i]!)));
        continue;
      }
    }
    const same = identity(op);
    if (same) {
      replaced.set(op.result, same);
      continue;
    }
    out.push(op);
  }
  block.ops = out;
}

/** The operand an op is equal to, when an identity makes it redundant. */
function identity(op: Op): Value | undefined {
  const [a, b, c] = op.operands;
  switch (op.opcode) {
    case 'add': return isConst(b!, 0) ? a : isConst(a!, 0) ? b : undefined;
    case 'sub': return isConst(b!, 0) ? a : undefined;
    case 'mul': return isConst(b!, 1) ? a : isConst(a!, 1) ? b : undefined;
    case 'div': return isConst(b!, 1) ? a : undefined;
    case 'and': return isConst(b!, 1) && a!.type.elem.kind === 'scalar' && a!.type.elem.dtype === 'i1' ? a : undefined;
    case 'or': return isConst(b!, 0) ? a : undefined;
    case 'addptr': return isConst(b!, 0) ? a : undefined;
    case 'select': return b === c ? b : undefined;
    default: return undefined;
  }
}
