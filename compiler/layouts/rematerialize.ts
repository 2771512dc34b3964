// Gives each broadcast its own copy of the cheap index arithmetic it broadcasts (Triton's
// rematerialization). A value like `offsN < Nk` built from an arange is often broadcast along
// different axes or into tiles of different layouts (a key tile's rows, the score tile's columns, a
// value tile's rows); one value has one layout, so all but one of those uses would move it through
// shared memory with two barriers. Recomputing an arange, a splat and a compare costs a few register
// operations instead. Runs before layout assignment (after CSE, which would merge the copies again).
// A broadcast result or block constant used by several ops is copied per user first: CSE merges
// `tl.col(rows < N)` of a load's mask and of an unrelated store's mask when their shapes agree (and a
// load's `other: 0` with a zero tile the kernel carries through a loop), and one value would put the
// loaded tile in the other's layout (an attention kernel's query load in the accumulator's).
import { Op, Value, usersOf, type Block, type Func } from '../ir/ir.js';
import { opcodeInfo } from '../ir/ops.js';

/** Ops that are cheap to recompute per use: no memory access, no reduction, no products. */
const CHEAP = new Set(['constant', 'index', 'shape', 'unary', 'binary', 'cmp', 'cast', 'select']);
export const isCheapOp = (op: Op): boolean => !op.regions.length && op.opcode !== 'convert_layout' && op.opcode !== 'trans' &&
  (CHEAP.has(opcodeInfo(op.opcode).family) || op.opcode === 'addptr');
const MAX_CHAIN = 24;

export function rematerializeBroadcastSources(kernel: Func): void {
  const uses = new Map<Value, number>();
  const count = (b: Block): void => {
    for (const op of b.ops) {
      for (const v of op.operands) uses.set(v, (uses.get(v) ?? 0) + 1);
      op.regions.forEach(count);
    }
  };
  splitSharedBroadcasts(kernel.body);
  count(kernel.body);
  const visit = (b: Block): void => {
    for (let i = 0; i < b.ops.length; i++) {
      const op = b.ops[i]!;
      op.regions.forEach(visit);
      if (op.opcode !== 'broadcast' && op.opcode !== 'expand_dims') continue;
      const src = op.operands[0]!;
      const chain = new Set<Value>();
      if (!isCheap(src, chain) || ![...chain].some((v) => (uses.get(v) ?? 0) > 1)) continue;
      const copies: Op[] = [];
      op.operands[0] = copy(src, copies, new Map());
      b.ops.splice(i, 0, ...copies);
      for (const c of copies) c.parent = b;
      i += copies.length;
    }
  };
  visit(kernel.body);
  removeDeadCheapOps(kernel.body);
}

/** Gives every op that uses a broadcast's result or a block constant (after the first) its own copy, next to the original. */
function splitSharedBroadcasts(body: Block): void {
  const users = usersOf(body);
  const visit = (b: Block): void => {
    for (let i = 0; i < b.ops.length; i++) {
      const op = b.ops[i]!;
      op.regions.forEach(visit);
      if (op.opcode !== 'broadcast' && !(op.opcode === 'constant' && op.result.type.shape.length > 0)) continue;
      for (const user of (users.get(op.result) ?? []).slice(1)) {
        const result = new Value(op.result.type, op.result.name);
        const clone = new Op(op.opcode, [...op.operands], [result], { ...op.attrs }, [], op.loc);
        clone.parent = b;
        b.ops.splice(++i, 0, clone);
        user.operands = user.operands.map((v) => (v === op.result ? result : v));
      }
    }
  };
  visit(body);
}

/** The originals a copy replaced may now be unused; cheap ops without uses go. */
function removeDeadCheapOps(body: Block): void {
  for (let changed = true; changed; ) {
    changed = false;
    const used = new Set<Value>();
    const mark = (b: Block): void => b.ops.forEach((op) => {
      op.operands.forEach((v) => used.add(v));
      op.regions.forEach(mark);
    });
    mark(body);
    const sweep = (b: Block): void => {
      b.ops = b.ops.filter((op) => {
        op.regions.forEach(sweep);
        const dead = isCheapOp(op) && op.results.every((r) => !used.has(r));
        if (dead) changed = true;
        return !dead;
      });
    };
    sweep(body);
  }
}

/** A block value computed from scalars by a short chain of cheap ops (scalars themselves are shared, not copied). */
function isCheap(v: Value, seen: Set<Value>): boolean {
  if (v.type.shape.length === 0) return true;
  const def = v.def;
  if (!def || !isCheapOp(def)) return false;
  if (seen.has(v)) return true;
  seen.add(v); // `seen` collects the chain's block values
  return seen.size <= MAX_CHAIN && def.operands.every((o) => isCheap(o, seen));
}

function copy(v: Value, out: Op[], done: Map<Value, Value>): Value {
  if (v.type.shape.length === 0) return v;
  const known = done.get(v);
  if (known) return known;
  const def = v.def!;
  const operands = def.operands.map((o) => copy(o, out, done));
  const result = new Value(v.type, v.name);
  const op = new Op(def.opcode, operands, [result], { ...def.attrs }, [], def.loc);
  out.push(op);
  done.set(v, result);
  return result;
}
