// Constant folding: elementwise ops, casts and shape ops whose operands are all splat constants
// become constants, computed with the same element semantics as the interpreter.
import { type Module, type Op, type Value, walkOps } from '../ir/ir.js';
import { unaryFn, binaryFn, cmpFn, castValue } from '../ir/semantics.js';
import { dtypeOf, isPointer } from '../ir/types.js';
import { opcodeInfo, type UnaryOpcode, type BinaryOpcode, type CmpPredicate } from '../ir/ops.js';

export function foldConstants(m: Module): void {
  for (const f of m.funcs.values())
    walkOps(f.body, (op) => {
      const value = foldOp(op);
      if (value === undefined) return;
      // Turn the op itself into a constant: its result keeps its identity and type.
      op.opcode = 'constant';
      op.operands = [];
      op.attrs = { value: typeof value === 'boolean' ? value : dtypeOf(op.result.type) === 'i1' ? value !== 0 : value };
    });
}

function constOf(v: Value): number | undefined {
  const d = v.def;
  if (!d || d.opcode !== 'constant' || isPointer(v.type)) return undefined;
  return Number(d.attrs['value']);
}

function foldOp(op: Op): number | boolean | undefined {
  if (op.results.length !== 1 || op.regions.length) return undefined;
  const family = opcodeInfo(op.opcode).family;
  const vals = op.operands.map(constOf);
  if (vals.some((v) => v === undefined)) return undefined;
  const [a, b] = vals as number[];
  const d = dtypeOf(op.result.type);
  switch (family) {
    case 'unary': return unaryFn(op.opcode as UnaryOpcode, d)(a!);
    case 'binary': return binaryFn(op.opcode as BinaryOpcode, d)(a!, b!);
    case 'cmp': return cmpFn(op.attrs['pred'] as CmpPredicate)(a!, b!) === 1;
    case 'cast': return castValue(a!, dtypeOf(op.operands[0]!.type), d);
    case 'shape': return op.opcode === 'trans' || op.opcode === 'reshape' || op.opcode === 'broadcast' || op.opcode === 'splat' || op.opcode === 'expand_dims' ? a : undefined;
    case 'select': return vals[0] ? vals[1] : vals[2];
    default: return undefined;
  }
}
