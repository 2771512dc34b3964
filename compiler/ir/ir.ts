// Core data structures of the block IR: SSA values, operations with structured regions, functions, modules.
import type { BlockType } from './types.js';
import type { Opcode } from './ops.js';
import type { DType } from './dtype.js';

/** Where in the kernel's TypeScript source an op came from. */
export interface SourceLoc {
  readonly file: string;
  readonly line: number; // 1-based
  readonly col: number; // 1-based
}

/** Filled in by the PTX backend's layout assignment; opaque to the target-independent passes. */
export type LayoutSlot = unknown;

export type AttrValue = number | boolean | string | readonly number[] | undefined;
export type Attrs = Record<string, AttrValue>;

let nextValueId = 0;

export class Value {
  readonly id = nextValueId++;
  /** The op that defines this value, or null for a block argument. */
  def: Op | null = null;
  /** Set by layout assignment in GPU backends. */
  layout: LayoutSlot = undefined;
  constructor(
    public type: BlockType,
    /** The source-level variable name, kept for readable dumps and generated code. */
    public name?: string,
  ) {}
}

export class Op {
  parent: Block | null = null;
  constructor(
    public opcode: Opcode,
    public operands: Value[],
    public results: Value[],
    public attrs: Attrs,
    public regions: Block[],
    public loc: SourceLoc | undefined,
  ) {
    for (const r of results) r.def = this;
  }
  get result(): Value {
    if (this.results.length !== 1) throw new Error(`internal: op '${this.opcode}' has ${this.results.length} results`);
    return this.results[0]!;
  }
}

/** A straight-line list of ops with arguments; regions of `for`/`if` and function bodies are blocks. */
export class Block {
  ops: Op[] = [];
  constructor(public args: Value[] = []) {}
  append(op: Op): Op {
    op.parent = this;
    this.ops.push(op);
    return op;
  }
}

/** How a kernel parameter is passed at launch. */
export type ParamKind =
  | { readonly kind: 'ptr'; readonly pointee: DType }
  | { readonly kind: 'scalar'; readonly dtype: DType };

export interface FuncParam {
  readonly name: string;
  readonly value: Value;
  /** Known power of two dividing an integer argument (16 when specialized so), for vectorization. */
  readonly divisibility?: number;
}

export class Func {
  readonly body: Block;
  constructor(
    public name: string,
    public params: FuncParam[],
    public resultTypes: BlockType[],
    /** Kernels are launched; helpers are called and inlined. */
    public isKernel: boolean,
    public loc?: SourceLoc,
  ) {
    this.body = new Block(params.map((p) => p.value));
  }
}

export class Module {
  readonly funcs = new Map<string, Func>();
  constructor(public kernelName: string) {}
  get kernel(): Func {
    const k = this.funcs.get(this.kernelName);
    if (!k) throw new Error(`internal: module has no kernel '${this.kernelName}'`);
    return k;
  }
  add(f: Func): void {
    this.funcs.set(f.name, f);
  }
}

/** Visits every op, depth first, in program order (regions before the next op). */
export function walkOps(block: Block, visit: (op: Op) => void): void {
  for (const op of block.ops) {
    visit(op);
    for (const r of op.regions) walkOps(r, visit);
  }
}

/** The ops that use each value in `block` (nested regions included), each op once per value. */
export function usersOf(block: Block): Map<Value, Op[]> {
  const users = new Map<Value, Op[]>();
  walkOps(block, (op) => new Set(op.operands).forEach((v) => users.set(v, [...(users.get(v) ?? []), op])));
  return users;
}
