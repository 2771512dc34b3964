// Makes every change of layout an explicit convert_layout op: the operands of tensor-core dots into
// their mma fragment layouts, and (as a safety net) any operand, loop-carried value or branch result
// whose layout differs from the one its consumer expects. Runs after layout assignment.
import { Op, Value, type Block, type Func } from '../ir/ir.js';
import { opcodeInfo } from '../ir/ops.js';
import { sameLayout, type DistributedLayout } from './layout.js';
import { usesTensorCores } from './assign.js';
import { mmaOperandALayout, mmaOperandBLayout, mmaTiling } from './mma.js';

export function insertLayoutConversions(kernel: Func, numWarps: number): void {
  visit(kernel.body, numWarps);
}

const layoutOf = (v: Value): DistributedLayout => v.layout as DistributedLayout;

/** A convert_layout of `v` to `layout`, placed in `block` before index `at`. */
function convert(v: Value, layout: DistributedLayout, block: Block, at: number, loc: Op['loc']): Value {
  const r = new Value(v.type, v.name);
  r.layout = layout;
  const op = new Op('convert_layout', [v], [r], { layout: layout.name }, [], loc);
  op.parent = block;
  block.ops.splice(at, 0, op);
  return r;
}

function visit(block: Block, numWarps: number): void {
  for (let i = 0; i < block.ops.length; i++) {
    const op = block.ops[i]!;
    op.regions.forEach((r) => visit(r, numWarps));
    const want = (index: number, layout: DistributedLayout): void => {
      const v = op.operands[index]!;
      if (!sameLayout(layoutOf(v), layout)) {
        op.operands[index] = convert(v, layout, block, i, op.loc);
        i++;
      }
    };
    if (op.opcode === 'dot' && usesTensorCores(op)) {
      const [a, b] = op.operands as [Value, Value];
      const m = mmaTiling(a.type.shape[0]!, b.type.shape[1]!, a.type.shape[1]!, numWarps);
      want(0, mmaOperandALayout(m));
      want(1, mmaOperandBLayout(m));
      want(2, layoutOf(op.result));
      continue;
    }
    const fam = opcodeInfo(op.opcode).family;
    const elementwise = ['unary', 'binary', 'cmp', 'cast', 'select', 'memory'].includes(fam);
    if (elementwise && op.results[0]) op.operands.forEach((_, k) => want(k, layoutOf(op.result)));
    if (elementwise && !op.results[0] && op.opcode === 'store') op.operands.forEach((_, k) => k > 0 && want(k, layoutOf(op.operands[0]!)));
    if (op.opcode === 'for') {
      const body = op.regions[0]!;
      op.results.forEach((r, k) => want(3 + k, layoutOf(body.args[1 + k]!)));
      yieldTo(body, op.results.map((_, k) => layoutOf(body.args[1 + k]!)));
    }
    if (op.opcode === 'if') for (const r of op.regions) yieldTo(r, op.results.map(layoutOf));
  }
}

function yieldTo(region: Block, layouts: DistributedLayout[]): void {
  const y = region.ops.at(-1)!;
  y.operands = y.operands.map((v, k) => (sameLayout(layoutOf(v), layouts[k]!) ? v : convert(v, layouts[k]!, region, region.ops.length - 1, y.loc)));
}
