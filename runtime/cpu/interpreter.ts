// The CPU interpreter of the block IR: runs each program of the grid in turn on float64 arrays, with
// every result rounded to its dtype as the hardware stores it, and every load and store checked
// against its buffer's bounds. It is the reference executor for tests and the fallback device.
import type { Block, Func, Op, Value } from '../../compiler/ir/ir.js';
import type { DType } from '../../compiler/ir/dtype.js';
import { unaryFn, binaryFn, cmpFn, castValue, roundTo } from '../../compiler/ir/semantics.js';
import { opcodeInfo, type UnaryOpcode, type BinaryOpcode, type CmpPredicate, type ReduceKind } from '../../compiler/ir/ops.js';
import { dtypeOf, numel, rowMajorStrides } from '../../compiler/ir/types.js';
import { KernelRuntimeError } from '../../compiler/frontend/errors.js';
import { elementReader, elementWriter, type TypedArray } from '../storage.js';

/** A launch argument as the interpreter sees it. */
export type InterpreterArg =
  | { readonly kind: 'buffer'; readonly name: string; readonly dtype: DType; readonly data: TypedArray }
  | { readonly kind: 'scalar'; readonly name: string; readonly value: number };

interface Arr {
  readonly shape: readonly number[];
  readonly data: Float64Array;
}

// A pointer is (argument index + 1) * 2^44 + element offset, exact in a float64.
const PTR_SCALE = 2 ** 44;
const decodeArg = (p: number): number => Math.round(p / PTR_SCALE) - 1;

export interface InterpretOptions {
  readonly kernelName: string;
  readonly sourceText?: string;
  readonly print?: (line: string) => void;
}

export function interpret(kernel: Func, args: readonly InterpreterArg[], grid: readonly [number, number, number], opts: InterpretOptions): void {
  const run = new ProgramRunner(kernel, args, grid, opts);
  for (let z = 0; z < grid[2]; z++)
    for (let y = 0; y < grid[1]; y++)
      for (let x = 0; x < grid[0]; x++) run.program([x, y, z]);
}

class ProgramRunner {
  private readonly readers: ((i: number) => number)[];
  private readonly writers: ((i: number, x: number) => void)[];
  private pid: readonly number[] = [0, 0, 0];
  private env = new Map<Value, Arr>();

  constructor(
    private readonly kernel: Func,
    private readonly args: readonly InterpreterArg[],
    private readonly grid: readonly number[],
    private readonly opts: InterpretOptions,
  ) {
    this.readers = args.map((a) => (a.kind === 'buffer' ? elementReader(a.dtype, a.data) : () => NaN));
    this.writers = args.map((a) => (a.kind === 'buffer' ? elementWriter(a.dtype, a.data) : () => undefined));
  }

  program(pid: readonly number[]): void {
    this.pid = pid;
    this.env = new Map();
    this.kernel.params.forEach((p, i) => {
      const a = this.args[i]!;
      this.env.set(p.value, scalar(a.kind === 'buffer' ? (i + 1) * PTR_SCALE : a.value));
    });
    this.block(this.kernel.body);
  }

  private get(v: Value): Arr {
    const a = this.env.get(v);
    if (!a) throw new Error(`internal: interpreter has no value for %${v.name ?? v.id}`);
    return a;
  }

  /** Runs a block; returns the operands of its terminator. */
  private block(b: Block): Arr[] {
    for (const op of b.ops) {
      if (op.opcode === 'yield' || op.opcode === 'return') return op.operands.map((v) => this.get(v));
      const results = this.op(op);
      op.results.forEach((r, i) => this.env.set(r, results[i]!));
    }
    return [];
  }

  private fail(op: Op, reason: string): never {
    throw new KernelRuntimeError(this.opts.kernelName, op.loc, `${reason} (program ${this.pid.join(', ')})`, this.opts.sourceText);
  }

  private op(op: Op): Arr[] {
    const ins = op.operands.map((v) => this.get(v));
    const out = op.results[0];
    const dtype = out ? dtypeOf(out.type) : 'f32';
    const shape = out?.type.shape ?? [];
    switch (opcodeInfo(op.opcode).family) {
      case 'unary': return [map1(ins[0]!, unaryFn(op.opcode as UnaryOpcode, dtype))];
      case 'binary': return [map2(ins[0]!, ins[1]!, binaryFn(op.opcode as BinaryOpcode, dtype))];
      case 'cmp': return [map2(ins[0]!, ins[1]!, cmpFn(op.attrs['pred'] as CmpPredicate))];
      case 'cast': {
        const from = dtypeOf(op.operands[0]!.type);
        return [map1(ins[0]!, (x) => castValue(x, from, dtype))];
      }
      default: break;
    }
    switch (op.opcode) {
      case 'constant': return [fill(shape, roundTo(dtype, Number(op.attrs['value'])))];
      case 'program_id': return [scalar(this.pid[op.attrs['axis'] as number]!)];
      case 'num_programs': return [scalar(this.grid[op.attrs['axis'] as number]!)];
      case 'arange': {
        const start = op.attrs['start'] as number;
        return [{ shape, data: Float64Array.from({ length: numel(shape) }, (_, i) => start + i) }];
      }
      case 'splat': return [fill(shape, ins[0]!.data[0]!)];
      case 'broadcast': return [broadcast(ins[0]!, shape)];
      case 'expand_dims': case 'reshape': case 'convert_layout': return [{ shape, data: ins[0]!.data }];
      case 'trans': return [transpose(ins[0]!, op.attrs['perm'] as number[])];
      case 'select': {
        const [c, a, b] = ins as [Arr, Arr, Arr];
        return [{ shape, data: a.data.map((x, i) => (c.data[i] ? x : b.data[i]!)) }];
      }
      case 'addptr': return [map2(ins[0]!, ins[1]!, (p, o) => p + o)];
      case 'load': return [this.load(op, ins)];
      case 'store': this.store(op, ins, false); return [];
      case 'atomic_add': return [this.store(op, ins, true)!];
      case 'reduce': return [reduce(ins[0]!, op.attrs['kind'] as ReduceKind, op.attrs['axis'] as number, dtype)];
      case 'dot': return [dot(ins[0]!, ins[1]!, ins[2]!, dtype)];
      case 'for': return this.forLoop(op, ins);
      case 'if': return this.block(op.regions[ins[0]!.data[0] ? 0 : 1]!);
      case 'print': {
        const parts = ins.map((a) => (a.shape.length ? `[${Array.from(a.data).join(', ')}]` : String(a.data[0])));
        (this.opts.print ?? console.log)(`pid (${this.pid.join(', ')}) ${op.attrs['prefix']}${parts.join(' ')}`);
        return [];
      }
      case 'assert': {
        const bad = ins[0]!.data.findIndex((x) => !x);
        if (bad >= 0) this.fail(op, `device assertion failed: ${op.attrs['message']} (element ${bad})`);
        return [];
      }
      case 'call': throw new Error(`internal: call ops must be inlined before interpretation`);
      default: throw new Error(`internal: the interpreter does not implement '${op.opcode}'`);
    }
  }

  private forLoop(op: Op, ins: Arr[]): Arr[] {
    const [lb, ub, step] = ins.slice(0, 3).map((a) => a.data[0]!) as [number, number, number];
    if (step <= 0) this.fail(op, `loop step must be positive, got ${step}`);
    const body = op.regions[0]!;
    let carried = ins.slice(3);
    for (let i = lb; i < ub; i += step) {
      this.env.set(body.args[0]!, scalar(i));
      body.args.slice(1).forEach((a, k) => this.env.set(a, carried[k]!));
      carried = this.block(body);
    }
    return carried;
  }

  /** Checks a pointer against its buffer; returns [argument index, element offset]. */
  private resolve(op: Op, p: number, what: string): [number, number] {
    const ai = decodeArg(p);
    const arg = this.args[ai];
    const off = p - (ai + 1) * PTR_SCALE;
    if (!arg || arg.kind !== 'buffer') this.fail(op, `${what} through a value that is not a pointer argument`);
    if (off < 0 || off >= arg.data.length || !Number.isInteger(off))
      this.fail(op, `${what} out of bounds: element ${off} of '${arg.name}', which has ${arg.data.length} elements of ${arg.dtype}; mask the lanes past the end`);
    return [ai, off];
  }

  private load(op: Op, ins: Arr[]): Arr {
    const hasMask = op.attrs['hasMask'] === true, hasOther = op.attrs['hasOther'] === true;
    const ptr = ins[0]!, mask = hasMask ? ins[1] : undefined, other = hasOther ? ins[hasMask ? 2 : 1] : undefined;
    const data = new Float64Array(ptr.data.length);
    for (let i = 0; i < data.length; i++) {
      if (mask && !mask.data[i]) {
        data[i] = other ? other.data[i]! : 0;
        continue;
      }
      const [ai, off] = this.resolve(op, ptr.data[i]!, 'load');
      try {
        data[i] = this.readers[ai]!(off);
      } catch (e) {
        this.fail(op, `load of '${this.args[ai]!.name}': ${(e as Error).message}`);
      }
    }
    return { shape: ptr.shape, data };
  }

  private store(op: Op, ins: Arr[], atomic: boolean): Arr | undefined {
    const [ptr, val] = ins as [Arr, Arr];
    const mask = op.attrs['hasMask'] === true ? ins[2] : undefined;
    const dtype = dtypeOf(op.operands[1]!.type);
    const old = atomic ? new Float64Array(ptr.data.length) : undefined;
    for (let i = 0; i < ptr.data.length; i++) {
      if (mask && !mask.data[i]) continue;
      const [ai, off] = this.resolve(op, ptr.data[i]!, atomic ? 'atomicAdd' : 'store');
      if (old) {
        old[i] = this.readers[ai]!(off);
        this.writers[ai]!(off, roundTo(dtype, old[i]! + val.data[i]!));
      } else this.writers[ai]!(off, val.data[i]!);
    }
    return old && { shape: ptr.shape, data: old };
  }
}

const scalar = (x: number): Arr => ({ shape: [], data: Float64Array.of(x) });
const fill = (shape: readonly number[], x: number): Arr => ({ shape, data: new Float64Array(numel(shape)).fill(x) });
const map1 = (a: Arr, f: (x: number) => number): Arr => ({ shape: a.shape, data: a.data.map(f) });
function map2(a: Arr, b: Arr, f: (x: number, y: number) => number): Arr {
  const data = new Float64Array(a.data.length);
  for (let i = 0; i < data.length; i++) data[i] = f(a.data[i]!, b.data[i]!);
  return { shape: a.shape, data };
}


/** Broadcasts along axes of size 1 (same rank). */
function broadcast(a: Arr, shape: readonly number[]): Arr {
  const n = numel(shape);
  const inStrides = rowMajorStrides(a.shape).map((s, i) => (a.shape[i] === 1 ? 0 : s));
  const outStrides = rowMajorStrides(shape);
  const data = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let src = 0;
    for (let d = 0; d < shape.length; d++) src += Math.floor(i / outStrides[d]!) % shape[d]! * inStrides[d]!;
    data[i] = a.data[src]!;
  }
  return { shape, data };
}

function transpose(a: Arr, perm: readonly number[]): Arr {
  const shape = perm.map((p) => a.shape[p]!);
  const inStrides = rowMajorStrides(a.shape);
  const outStrides = rowMajorStrides(shape);
  const data = new Float64Array(a.data.length);
  for (let i = 0; i < data.length; i++) {
    let src = 0;
    for (let d = 0; d < shape.length; d++) src += Math.floor(i / outStrides[d]!) % shape[d]! * inStrides[perm[d]!]!;
    data[i] = a.data[src]!;
  }
  return { shape, data };
}

/** Reduces along `axis`. Sums accumulate in float64 and round once to the result dtype. */
function reduce(a: Arr, kind: ReduceKind, axis: number, dtype: DType): Arr {
  const shape = a.shape.filter((_, i) => i !== axis);
  const n = a.shape[axis]!;
  const inner = a.shape.slice(axis + 1).reduce((p, d) => p * d, 1);
  const outer = a.shape.slice(0, axis).reduce((p, d) => p * d, 1);
  const data = new Float64Array(outer * inner);
  for (let o = 0; o < outer; o++)
    for (let i = 0; i < inner; i++) {
      const base = o * n * inner + i;
      let acc = kind === 'sum' ? 0 : a.data[base]!;
      let arg = 0;
      for (let k = kind === 'sum' ? 0 : 1; k < n; k++) {
        const x = a.data[base + k * inner]!;
        if (kind === 'sum') acc += x;
        else if (Number.isNaN(acc)) break;
        else if (Number.isNaN(x) || (kind === 'min' ? x < acc : x > acc)) {
          acc = x;
          arg = k;
        }
      }
      data[o * inner + i] = kind === 'argmax' ? arg : roundTo(dtype, acc);
    }
  return { shape, data };
}

/** a @ b + acc with products summed in float64, rounded once to the accumulator's dtype. */
function dot(a: Arr, b: Arr, acc: Arr, dtype: DType): Arr {
  const [m, k] = a.shape as [number, number];
  const n = b.shape[1]!;
  const data = new Float64Array(m * n);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += a.data[i * k + p]! * b.data[p * n + j]!;
      data[i * n + j] = roundTo(dtype, s + acc.data[i * n + j]!);
    }
  return { shape: [m, n], data };
}

