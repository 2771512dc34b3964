// Axis info (after Triton's AxisInfo): for every integer or pointer value and each axis, the length of
// runs of consecutive values (contiguity), of equal values (constancy), and the largest power of two
// dividing the first value of each run (divisibility; bytes for pointers). Runs start at multiples of
// their length. The GPU lowering uses it to turn per-element loads and stores into 16-byte vectors.
import type { Func, Op, Value } from '../ir/ir.js';
import { walkOps } from '../ir/ir.js';
import { DTYPE_INFO, type DType } from '../ir/dtype.js';
import { dtypeOf, isPointer } from '../ir/types.js';

export interface AxisInfo {
  readonly contiguity: readonly number[];
  readonly constancy: readonly number[];
  readonly divisibility: readonly number[];
}

const MAX_DIV = 2 ** 30;
const pow2Dividing = (c: number): number => (c === 0 ? MAX_DIV : Number.isInteger(c) ? Math.min(MAX_DIV, (c & -c) >>> 0 || MAX_DIV) : 1);
const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
/** Assumed alignment of every pointer argument (device allocations are 256-byte aligned). */
export const POINTER_ALIGNMENT = 16;

export function computeAxisInfo(kernel: Func): Map<Value, AxisInfo> {
  const info = new Map<Value, AxisInfo>();
  const unknown = (v: Value): AxisInfo => {
    const r = v.type.shape.length;
    return { contiguity: Array(r).fill(1), constancy: Array(r).fill(1), divisibility: Array(r).fill(1) };
  };
  const get = (v: Value): AxisInfo => info.get(v) ?? scalarInfo(v, 1);
  for (const p of kernel.params) info.set(p.value, scalarInfo(p.value, isPointer(p.value.type) ? POINTER_ALIGNMENT : p.divisibility ?? 1));
  walkOps(kernel.body, (op) => {
    for (const r of op.regions.flatMap((g) => g.args)) info.set(r, unknown(r));
    if (op.opcode === 'for') {
      // The induction variable is lb + i·step: divisible by what divides both.
      const [lb, , step] = op.operands as [Value, Value, Value];
      const iv = op.regions[0]!.args[0]!;
      info.set(iv, scalarInfo(iv, Math.min(get(lb).divisibility[0] ?? 1, get(step).divisibility[0] ?? 1)));
    }
    if (op.results.length !== 1) return;
    const v = op.result;
    info.set(v, rule(op, get) ?? unknown(v));
  });
  return info;
}

/** A scalar's info has no axes; its one divisibility entry is that of the value itself. */
function scalarInfo(v: Value, div: number): AxisInfo {
  const r = v.type.shape.length;
  if (r === 0) return { contiguity: [], constancy: [], divisibility: [div] };
  return { contiguity: Array(r).fill(1), constancy: [...v.type.shape], divisibility: Array(r).fill(div) };
}

function scalarRule(op: Op, get: (v: Value) => AxisInfo): AxisInfo {
  const div = (v: Value): number => get(v).divisibility[0] ?? 1;
  const [a, b] = op.operands;
  switch (op.opcode) {
    case 'constant': return scalarInfo(op.result, pow2Dividing(Number(op.attrs['value'])));
    case 'mul': return scalarInfo(op.result, Math.min(MAX_DIV, div(a!) * div(b!)));
    case 'add': case 'sub': return scalarInfo(op.result, Math.min(div(a!), div(b!)));
    case 'cast': return scalarInfo(op.result, div(a!));
    case 'addptr': {
      const bytes = DTYPE_INFO[(op.result.type.elem as { pointee: DType }).pointee].bytes;
      return scalarInfo(op.result, Math.min(div(a!), Math.min(MAX_DIV, div(b!) * bytes)));
    }
    default: return scalarInfo(op.result, 1);
  }
}

function rule(op: Op, get: (v: Value) => AxisInfo): AxisInfo | undefined {
  const shape = op.result.type.shape;
  const r = shape.length;
  if (r === 0) return scalarRule(op, get);
  const all = (x: number): number[] => Array(r).fill(x);
  const [a, b] = op.operands.map(get);
  switch (op.opcode) {
    case 'constant': return { contiguity: all(1), constancy: [...shape], divisibility: all(pow2Dividing(Number(op.attrs['value']))) };
    case 'arange': return { contiguity: [shape[0]!], constancy: [1], divisibility: [pow2Dividing(op.attrs['start'] as number)] };
    case 'splat': return { contiguity: all(1), constancy: [...shape], divisibility: all(a!.divisibility[0] ?? 1) };
    case 'broadcast': {
      const src = op.operands[0]!.type.shape;
      return {
        contiguity: shape.map((_, d) => (src[d] === 1 ? 1 : a!.contiguity[d]!)),
        constancy: shape.map((n, d) => (src[d] === 1 ? n : a!.constancy[d]!)),
        divisibility: shape.map((_, d) => a!.divisibility[d]!),
      };
    }
    case 'expand_dims': {
      const axis = op.attrs['axis'] as number;
      const ins = <T,>(xs: readonly T[], x: T): T[] => [...xs.slice(0, axis), x, ...xs.slice(axis)];
      return { contiguity: ins(a!.contiguity, 1), constancy: ins(a!.constancy, 1), divisibility: ins(a!.divisibility, MAX_DIV) };
    }
    case 'add': case 'sub':
      return {
        contiguity: shape.map((_, d) => Math.max(gcd(a!.contiguity[d]!, b!.constancy[d]!), op.opcode === 'add' ? gcd(b!.contiguity[d]!, a!.constancy[d]!) : 1)),
        constancy: shape.map((_, d) => gcd(a!.constancy[d]!, b!.constancy[d]!)),
        divisibility: shape.map((_, d) => Math.min(a!.divisibility[d]!, b!.divisibility[d]!)),
      };
    case 'mul': {
      const one = (x: AxisInfo, v: Value): boolean => v.def?.opcode === 'constant' && Number(v.def.attrs['value']) === 1 && x !== undefined;
      return {
        contiguity: shape.map((_, d) => (one(b!, op.operands[1]!) ? a!.contiguity[d]! : one(a!, op.operands[0]!) ? b!.contiguity[d]! : 1)),
        constancy: shape.map((_, d) => gcd(a!.constancy[d]!, b!.constancy[d]!)),
        divisibility: shape.map((_, d) => Math.min(MAX_DIV, a!.divisibility[d]! * b!.divisibility[d]!)),
      };
    }
    case 'addptr': {
      const bytes = DTYPE_INFO[(op.result.type.elem as { pointee: DType }).pointee].bytes;
      return {
        contiguity: shape.map((_, d) => gcd(b!.contiguity[d]!, a!.constancy[d]!)),
        constancy: shape.map((_, d) => gcd(a!.constancy[d]!, b!.constancy[d]!)),
        divisibility: shape.map((_, d) => Math.min(a!.divisibility[d]!, Math.min(MAX_DIV, b!.divisibility[d]! * bytes))),
      };
    }
    case 'cmp': {
      // offs < n: constant over aligned chunks no longer than the runs of offs and the divisibility of both.
      const pred = op.attrs['pred'];
      const ordered = pred === 'lt' || pred === 'le' || pred === 'gt' || pred === 'ge';
      return {
        contiguity: all(1),
        constancy: shape.map((_, d) => {
          const c = gcd(a!.constancy[d]!, b!.constancy[d]!);
          if (!ordered) return c;
          // x < y and x >= y (x contiguous, y constant, both multiples of the chunk) are constant over
          // aligned chunks; x <= y and x > y are not (they flip inside the chunk that starts at y).
          const chunk = (x: AxisInfo, y: AxisInfo): number => (y.constancy[d]! >= x.contiguity[d]! ? Math.min(x.contiguity[d]!, gcd(x.divisibility[d]!, y.divisibility[d]!)) : 1);
          const left = pred === 'lt' || pred === 'ge' ? chunk(a!, b!) : 1;
          const right = pred === 'gt' || pred === 'le' ? chunk(b!, a!) : 1;
          return Math.max(c, left, right);
        }),
        divisibility: all(1),
      };
    }
    case 'and': case 'or':
      if (dtypeOf(op.result.type) !== 'i1') return undefined;
      return { contiguity: all(1), constancy: shape.map((_, d) => gcd(a!.constancy[d]!, b!.constancy[d]!)), divisibility: all(1) };
    default: return undefined;
  }
}
