// Small utilities the passes share: replacing all uses of a value and erasing ops.
import { type Block, type Op, type Value, type Module, walkOps } from '../ir/ir.js';

/** Replaces every use of each key with its mapped value, across all functions of the module. */
export function replaceUses(m: Module, mapping: Map<Value, Value>): void {
  if (mapping.size === 0) return;
  const resolve = (v: Value): Value => {
    let x = v;
    for (let n = mapping.get(x); n; n = mapping.get(x)) x = n;
    return x;
  };
  for (const f of m.funcs.values())
    walkOps(f.body, (op) => {
      op.operands = op.operands.map(resolve);
    });
}

/** Counts the uses of every value in the module. */
export function useCounts(m: Module): Map<Value, number> {
  const uses = new Map<Value, number>();
  for (const f of m.funcs.values()) walkOps(f.body, (op) => op.operands.forEach((v) => uses.set(v, (uses.get(v) ?? 0) + 1)));
  return uses;
}

/** Removes the ops for which `drop` is true from `block` (not from nested regions). */
export function eraseOps(block: Block, drop: (op: Op) => boolean): void {
  block.ops = block.ops.filter((op) => !drop(op));
}
