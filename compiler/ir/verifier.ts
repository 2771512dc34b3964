// Checks the structural invariants every pass must keep: SSA dominance, region terminators and the
// types flowing through control flow. A failure is a compiler bug, reported with the op's location.
import { type Block, type Func, type Module, type Op, type Value } from './ir.js';
import { sameType, typeToString } from './types.js';

export class IRVerifyError extends Error {}

export function verifyModule(m: Module): void {
  for (const f of m.funcs.values()) verifyFunc(f, m);
}

export function verifyFunc(f: Func, m?: Module): void {
  const visible = new Set<Value>(f.body.args);
  verifyBlock(f.body, visible, f, m);
  const last = f.body.ops.at(-1);
  if (!last || last.opcode !== 'return') fail(f, last, `function body must end with 'return'`);
  if (last.operands.length !== f.resultTypes.length || last.operands.some((v, i) => !sameType(v.type, f.resultTypes[i]!)))
    fail(f, last, `return values do not match the function's result types`);
}

function verifyBlock(b: Block, outer: Set<Value>, f: Func, m?: Module): void {
  const visible = new Set(outer);
  for (const a of b.args) visible.add(a);
  b.ops.forEach((op, i) => {
    if (op.parent !== b) fail(f, op, `op '${op.opcode}' has a wrong parent block`);
    for (const v of op.operands) if (!visible.has(v)) fail(f, op, `op '${op.opcode}' uses a value that does not dominate it`);
    const isTerminator = op.opcode === 'yield' || op.opcode === 'return';
    if (isTerminator && i !== b.ops.length - 1) fail(f, op, `'${op.opcode}' must be the last op of its block`);
    verifyOp(op, visible, f, m);
    for (const r of op.results) visible.add(r);
  });
}

function verifyOp(op: Op, visible: Set<Value>, f: Func, m?: Module): void {
  for (const r of op.results) if (r.def !== op) fail(f, op, `result of '${op.opcode}' does not point back at its op`);
  if (op.opcode === 'for') {
    const [body] = op.regions;
    const inits = op.operands.slice(3);
    if (!body || body.args.length !== inits.length + 1) fail(f, op, `'for' body must take the induction variable and ${inits.length} carried values`);
    checkYield(body!, op.results.map((r) => r), f, op);
    inits.forEach((v, i) => {
      if (!sameType(v.type, body!.args[i + 1]!.type)) fail(f, op, `'for' carried value ${i} changes type`);
    });
    verifyBlock(body!, visible, f, m);
  } else if (op.opcode === 'if') {
    if (op.regions.length !== 2) fail(f, op, `'if' needs then and else regions`);
    for (const r of op.regions) {
      checkYield(r, op.results, f, op);
      verifyBlock(r, visible, f, m);
    }
  } else if (op.opcode === 'call' && m) {
    const callee = m.funcs.get(String(op.attrs['callee']));
    if (!callee) fail(f, op, `call to unknown function '${op.attrs['callee']}'`);
    if (callee!.params.length !== op.operands.length) fail(f, op, `call to '${callee!.name}' passes ${op.operands.length} arguments, expected ${callee!.params.length}`);
  }
}

function checkYield(region: Block, results: Value[], f: Func, op: Op): void {
  const y = region.ops.at(-1);
  if (!y || y.opcode !== 'yield') fail(f, op, `'${op.opcode}' region must end with 'yield'`);
  if (y!.operands.length !== results.length) fail(f, op, `'${op.opcode}' region yields ${y!.operands.length} values, expected ${results.length}`);
  y!.operands.forEach((v, i) => {
    if (!sameType(v.type, results[i]!.type))
      fail(f, op, `'${op.opcode}' yields ${typeToString(v.type)} for result ${i}, expected ${typeToString(results[i]!.type)}`);
  });
}

function fail(f: Func, op: Op | undefined, msg: string): never {
  const where = op?.loc ? ` at ${op.loc.file}:${op.loc.line}:${op.loc.col}` : '';
  throw new IRVerifyError(`IR verification failed in @${f.name}${where}: ${msg}`);
}
