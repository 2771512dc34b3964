// Dead-code elimination: removes ops without side effects whose results nobody uses, including loads
// and loops or branches that contain no stores.
import { type Block, type Module, type Op } from '../ir/ir.js';
import { opcodeInfo } from '../ir/ops.js';
import { useCounts } from './rewrite.js';

export function eliminateDeadCode(m: Module): void {
  for (;;) {
    const uses = useCounts(m);
    let removed = false;
    const sweep = (b: Block): void => {
      b.ops = b.ops.filter((op) => {
        op.regions.forEach(sweep);
        const dead = !hasEffects(op) && op.results.every((r) => !uses.get(r));
        if (dead) removed = true;
        return !dead;
      });
    };
    for (const f of m.funcs.values()) sweep(f.body);
    if (!removed) return;
  }
}

function hasEffects(op: Op): boolean {
  if (op.opcode === 'yield' || op.opcode === 'return') return true;
  if (opcodeInfo(op.opcode).effects) return true;
  return op.regions.some((r) => r.ops.some((inner) => inner.opcode !== 'yield' && hasEffects(inner)));
}
