// Inlining: replaces each call of a helper function by a copy of its body, then drops the helpers.
import { Block, type Op, type Value, type Module } from '../ir/ir.js';
import { cloneOp } from '../ir/clone.js';

export function inlineCalls(m: Module): void {
  inlineBlock(m.kernel.body, m, new Map());
  for (const [name, f] of m.funcs) if (!f.isKernel) m.funcs.delete(name);
}

/** `rename` maps each inlined call's results to the values its callee returned. */
function inlineBlock(block: Block, m: Module, rename: Map<Value, Value>): void {
  const out: Op[] = [];
  for (const op of block.ops) {
    op.operands = op.operands.map((v) => rename.get(v) ?? v);
    for (const r of op.regions) inlineBlock(r, m, rename);
    if (op.opcode !== 'call') {
      out.push(op);
      continue;
    }
    const callee = m.funcs.get(String(op.attrs['callee']));
    if (!callee) throw new Error(`internal: call to unknown function '${op.attrs['callee']}'`);
    const map = new Map<Value, Value>(callee.params.map((p, i) => [p.value, op.operands[i]!]));
    const copies = new Block();
    for (const inner of callee.body.ops.slice(0, -1)) copies.append(cloneOp(inner, map));
    inlineBlock(copies, m, rename); // helpers that call helpers
    out.push(...copies.ops);
    const ret = callee.body.ops.at(-1)!;
    // The callee may return what a nested call returned: follow that call's renaming too.
    op.results.forEach((r, i) => {
      const v = map.get(ret.operands[i]!) ?? ret.operands[i]!;
      rename.set(r, rename.get(v) ?? v);
    });
  }
  block.ops = out;
  for (const op of out) op.parent = block;
}
