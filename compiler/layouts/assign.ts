// Layout assignment. Values that must share registers element by element (the operands and result of
// an elementwise op, a loop's init / carried value / yield / result, an if's yields and results, a
// dot's accumulator and result) form one group with one layout. A group holding the result of a
// tensor-core dot (f16/bf16 operands, shapes multiple of 16×8×16) takes the mma accumulator layout,
// so the accumulator stays in registers across loop iterations; every other group takes the default
// blocked layout of its shape (16-byte vectors along the last axis: 8 elements when the group loads
// a 16-bit tile read only by products, so that cp.async moves 16 bytes per copy, else 4; lanes along
// it, warps along the first axis). Ops between groups (broadcast, transpose, reduce, dot operands) move elements as
// the lowering finds cheapest. The layout is recorded in each value's `layout` slot.
import { usersOf, type Block, type Func, type Op, type Value } from '../ir/ir.js';
import { opcodeInfo } from '../ir/ops.js';
import { dtypeOf, sameShape } from '../ir/types.js';
import { DTYPE_INFO } from '../ir/dtype.js';
import { blockedLayout, defaultBlockedParams, linearize, rowMajorStrides, tableLayout, type DistributedLayout } from './layout.js';
import { mmaAccumulatorLayout, mmaEligible, mmaTiling } from './mma.js';

const cache = new Map<string, DistributedLayout>();
function memo(key: string, make: () => DistributedLayout): DistributedLayout {
  let l = cache.get(key);
  if (!l) cache.set(key, (l = make()));
  return l;
}

export function defaultLayout(shape: readonly number[], threads: number, elemBytes = 4): DistributedLayout {
  // A scalar: every thread holds it (one owner, thread 0, writes it).
  if (shape.length === 0) return memo(`scalar@${threads}`, () => tableLayout('scalar', [], threads, 1, () => 0));
  return memo(`blocked:${shape.join('x')}@${threads}/${elemBytes}`, () => blockedLayout(shape, defaultBlockedParams(shape, threads / 32, elemBytes)));
}

/** Whether this dot runs on tensor cores (mma.sync m16n8k16). */
export function usesTensorCores(op: Op): boolean {
  const [a, b] = op.operands as [Value, Value];
  const d = dtypeOf(a.type);
  return (d === 'f16' || d === 'bf16') && dtypeOf(op.result.type) === 'f32' && mmaEligible(a.type.shape[0]!, b.type.shape[1]!, a.type.shape[1]!);
}

export function mmaLayoutFor(op: Op, numWarps: number): DistributedLayout {
  const [a, b] = op.operands as [Value, Value];
  const [M, K] = a.type.shape as [number, number], N = b.type.shape[1]!;
  return memo(`mma:${M}x${N}@${numWarps}`, () => mmaAccumulatorLayout(mmaTiling(M, N, K, numWarps)));
}

/** The layout of `v` for a CTA of `threads` threads (assigning the default if none is set). */
export function layoutOf(v: Value, threads: number): DistributedLayout {
  const l = v.layout as DistributedLayout | undefined;
  if (l && l.threads === threads) return l;
  const d = defaultLayout(v.type.shape, threads);
  v.layout = d;
  return d;
}

export function assignLayouts(kernel: Func, numWarps: number): void {
  const threads = 32 * numWarps;
  const parent = new Map<Value, Value>();
  const find = (v: Value): Value => {
    let r = v;
    while (parent.get(r) !== undefined && parent.get(r) !== r) r = parent.get(r)!;
    parent.set(v, r);
    return r;
  };
  const union = (a: Value, b: Value): void => {
    if (!sameShape(a.type.shape, b.type.shape) || a.type.shape.length === 0) return;
    const ra = find(a), rb = find(b);
    if (ra !== rb) parent.set(ra, rb);
  };
  const all: Value[] = kernel.params.map((p) => p.value);
  const dots: Op[] = [];
  const visit = (b: Block): void => {
    all.push(...b.args);
    for (const op of b.ops) {
      all.push(...op.results);
      op.regions.forEach(visit);
      const fam = opcodeInfo(op.opcode).family;
      const anchor = op.results[0] ?? op.operands[0];
      if (anchor && (fam === 'unary' || fam === 'binary' || fam === 'cmp' || fam === 'cast' || fam === 'select' || fam === 'memory'))
        for (const v of op.operands) union(anchor, v);
      if (op.opcode === 'dot') {
        union(op.result, op.operands[2]!);
        if (usesTensorCores(op)) dots.push(op);
      }
      if (op.opcode === 'for') {
        const body = op.regions[0]!;
        const yields = body.ops.at(-1)!.operands;
        op.results.forEach((r, i) => {
          union(r, op.operands[3 + i]!);
          union(r, body.args[1 + i]!);
          union(r, yields[i]!);
        });
      }
      if (op.opcode === 'if')
        op.results.forEach((r, i) => op.regions.forEach((reg) => union(r, reg.ops.at(-1)!.operands[i]!)));
    }
  };
  visit(kernel.body);
  const groupLayout = new Map<Value, DistributedLayout>();
  for (const d of dots) groupLayout.set(find(d.result), mmaLayoutFor(d, numWarps));
  // Groups that load a 16-bit tile read only as products' operands (what the PTX lowering leaves to
  // cp.async) take vectors of 8 elements: 16-byte copies. Register loads are at most 4 wide anyway, and
  // other groups keep 4, which suits their reductions and element-wise work.
  const users = usersOf(kernel.body);
  const onlyProductOperand = (v: Value): boolean => (users.get(v) ?? []).every((u) =>
    (u.opcode === 'dot' && u.operands[2] !== v) || (u.opcode === 'trans' && onlyProductOperand(u.result)));
  const halfGroups = new Set<Value>();
  const noteLoads = (b: Block): void => b.ops.forEach((op) => {
    op.regions.forEach(noteLoads);
    if (op.opcode === 'load' && op.result.type.shape.length === 2 && DTYPE_INFO[dtypeOf(op.result.type)].bytes === 2 &&
      (users.get(op.result)?.length ?? 0) > 0 && onlyProductOperand(op.result)) halfGroups.add(find(op.result));
  });
  noteLoads(kernel.body);
  const layoutOfGroup = (v: Value): DistributedLayout => groupLayout.get(find(v)) ?? defaultLayout(v.type.shape, threads, halfGroups.has(find(v)) ? 2 : 4);
  // Slice layouts: the source of a broadcast (and the 1-D value an expand_dims made it from) takes the
  // layout in which each thread already holds what the broadcast's result needs, so the broadcast is
  // register moves. First come, first served; a group fixed once keeps its layout.
  const fixed = new Set<Value>(groupLayout.keys());
  const broadcasts: Op[] = [];
  const expands: Op[] = [];
  const collect = (b: Block): void => {
    for (const op of b.ops) {
      op.regions.forEach(collect);
      if (op.opcode === 'broadcast') broadcasts.push(op);
      if (op.opcode === 'expand_dims' || op.opcode === 'reshape') expands.push(op);
    }
  };
  collect(kernel.body);
  // The value an expand_dims or reshape made a group's value from has the same elements in the same
  // order: its group takes the same table (and so on down the chain).
  const propagateThroughExpands = (g: Value): void => {
    const layout = groupLayout.get(g)!;
    for (const e of expands) {
      const inner = e.operands[0]!;
      const gi = find(inner);
      if (find(e.result) !== g || fixed.has(gi) || inner.type.shape.length === 0) continue;
      groupLayout.set(gi, { ...layout, shape: [...inner.type.shape] });
      fixed.add(gi);
      propagateThroughExpands(gi);
    }
  };
  for (const op of broadcasts) {
    const src = op.operands[0]!;
    const g = find(src);
    if (fixed.has(g) || src.type.shape.length === 0) continue;
    const slice = sliceLayout(layoutOfGroup(op.result), src.type.shape);
    if (!slice) continue;
    groupLayout.set(g, slice);
    fixed.add(g);
    propagateThroughExpands(g);
  }
  for (const v of all) v.layout = layoutOfGroup(v);
}

/**
 * The layout of a broadcast's source (shape `srcShape`, axes of size 1 where the result stretches) in
 * which every thread holds, in its registers, the source elements its result registers need.
 * Undefined when threads would need different numbers of registers or the layout is not linear.
 */
export function sliceLayout(parent: DistributedLayout, srcShape: readonly number[]): DistributedLayout | undefined {
  const ds = rowMajorStrides(parent.shape), ss = rowMajorStrides(srcShape);
  const srcIndex = (e: number): number => parent.shape.reduce((acc, n, d) => acc + (srcShape[d] === 1 ? 0 : (Math.floor(e / ds[d]!) % n) * ss[d]!), 0);
  const perThread: number[][] = [];
  for (let t = 0; t < parent.threads; t++) {
    const seen: number[] = [];
    for (let k = 0; k < parent.regs; k++) {
      const i = srcIndex(parent.table[t * parent.regs + k]!);
      if (!seen.includes(i)) seen.push(i);
    }
    perThread.push(seen);
  }
  const regs = perThread[0]!.length;
  if (perThread.some((l) => l.length !== regs)) return undefined;
  const l = tableLayout(`slice<${parent.name}>`, srcShape, parent.threads, regs, (t, k) => perThread[t]![k]!);
  return linearize(l.threads, l.regs, (t, k) => l.table[t * l.regs + k]!) ? l : undefined;
}
