// Common-subexpression elimination: identical pure ops (same opcode, operands, attributes and type)
// are computed once. Scoped by region, so a value is reused only where it dominates.
import { type Block, type Module, type Op, type Value } from '../ir/ir.js';
import { opcodeInfo } from '../ir/ops.js';
import { typeToString } from '../ir/types.js';
import { replaceUses } from './rewrite.js';

export function eliminateCommonSubexpressions(m: Module): void {
  const replaced = new Map<Value, Value>();
  for (const f of m.funcs.values()) cseBlock(f.body, new Map(), replaced);
  replaceUses(m, replaced);
}

function cseBlock(block: Block, outer: Map<string, Op>, replaced: Map<Value, Value>): void {
  const seen = new Map(outer);
  const out: Op[] = [];
  for (const op of block.ops) {
    op.operands = op.operands.map((v) => replaced.get(v) ?? v);
    for (const r of op.regions) cseBlock(r, seen, replaced);
    if (op.regions.length || op.results.length !== 1 || opcodeInfo(op.opcode).effects || op.opcode === 'load') {
      out.push(op);
      continue;
    }
    const key = `${op.opcode}|${op.operands.map((v) => v.id).join(',')}|${attrKey(op)}|${typeToString(op.result.type)}`;
    const prev = seen.get(key);
    if (prev) {
      replaced.set(op.result, prev.result);
      continue;
    }
    seen.set(key, op);
    out.push(op);
  }
  block.ops = out;
}

/** Attributes as a key that keeps Infinity, -Infinity, NaN and -0 apart (JSON.stringify does not). */
function attrKey(op: Op): string {
  return Object.entries(op.attrs)
    .map(([k, v]) => `${k}=${typeof v === 'number' && Object.is(v, -0) ? '-0' : Array.isArray(v) ? `[${v.join(',')}]` : String(v)}`)
    .join(';');
}
