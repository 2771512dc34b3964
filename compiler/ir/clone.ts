// Deep copies of ops and modules (fresh values, same structure, layouts kept).
import { Block, Func, Module, Op, Value } from './ir.js';

/** Deep-copies `op` with fresh results, remapping operands through `map` (which it extends). */
export function cloneOp(op: Op, map: Map<Value, Value>): Op {
  const results = op.results.map((r) => {
    const nr = new Value(r.type, r.name);
    nr.layout = r.layout;
    map.set(r, nr);
    return nr;
  });
  const regions = op.regions.map((region) => {
    const nb = new Block(region.args.map((a) => {
      const na = new Value(a.type, a.name);
      na.layout = a.layout;
      map.set(a, na);
      return na;
    }));
    for (const inner of region.ops) nb.append(cloneOp(inner, map));
    return nb;
  });
  return new Op(op.opcode, op.operands.map((v) => map.get(v) ?? v), results, { ...op.attrs }, regions, op.loc);
}

/** A copy of the module that backends may annotate and rewrite without touching the original. */
export function cloneModule(m: Module): Module {
  const out = new Module(m.kernelName);
  for (const f of m.funcs.values()) {
    const map = new Map<Value, Value>();
    const params = f.params.map((p) => {
      const v = new Value(p.value.type, p.value.name);
      map.set(p.value, v);
      return { name: p.name, value: v, divisibility: p.divisibility };
    });
    const nf = new Func(f.name, params, [...f.resultTypes], f.isKernel, f.loc);
    for (const op of f.body.ops) nf.body.append(cloneOp(op, map));
    out.add(nf);
  }
  return out;
}
