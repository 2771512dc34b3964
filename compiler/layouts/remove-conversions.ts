// Removes needless layout conversions: a convert_layout to the layout its operand already has, a
// convert of a convert (the inner one is skipped), and converts of values defined outside a loop,
// which move in front of the loop so that they run once.
import type { Block, Func, Op, Value } from '../ir/ir.js';
import { walkOps } from '../ir/ir.js';
import { sameLayout, type DistributedLayout } from './layout.js';

export function removeLayoutConversions(kernel: Func): void {
  const replaced = new Map<Value, Value>();
  const simplify = (b: Block): void => {
    b.ops = b.ops.filter((op) => {
      op.operands = op.operands.map((v) => replaced.get(v) ?? v);
      op.regions.forEach(simplify);
      if (op.opcode !== 'convert_layout') return true;
      const src = op.operands[0]!;
      if (src.def?.opcode === 'convert_layout') op.operands[0] = src.def.operands[0]!;
      if (sameLayout(op.operands[0]!.layout as DistributedLayout, op.result.layout as DistributedLayout)) {
        replaced.set(op.result, op.operands[0]!);
        return false;
      }
      return true;
    });
  };
  simplify(kernel.body);
  walkOps(kernel.body, (op) => (op.operands = op.operands.map((v) => replaced.get(v) ?? v)));
  hoistOutOfLoops(kernel.body);
  dropUnused(kernel);
}

/** Moves converts whose operand is defined outside a loop in front of that loop (innermost first). */
function hoistOutOfLoops(block: Block): void {
  for (let i = 0; i < block.ops.length; i++) {
    const op = block.ops[i]!;
    for (const r of op.regions) hoistOutOfLoops(r);
    if (op.opcode !== 'for') continue;
    const body = op.regions[0]!;
    const definedInside = new Set<Value>(body.args);
    walkOps(body, (o: Op) => o.results.forEach((r) => definedInside.add(r)));
    const moving = body.ops.filter((o) => o.opcode === 'convert_layout' && !definedInside.has(o.operands[0]!));
    if (!moving.length) continue;
    body.ops = body.ops.filter((o) => !moving.includes(o));
    for (const m of moving) m.parent = block;
    block.ops.splice(i, 0, ...moving);
    i += moving.length;
  }
}

function dropUnused(kernel: Func): void {
  const used = new Set<Value>();
  walkOps(kernel.body, (op) => op.operands.forEach((v) => used.add(v)));
  const sweep = (b: Block): void => {
    b.ops = b.ops.filter((op) => (op.regions.forEach(sweep), op.opcode !== 'convert_layout' || used.has(op.result)));
  };
  sweep(kernel.body);
}
