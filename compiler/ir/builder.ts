// Creates IR ops at an insertion point and computes their result types. Every typing rule of a single
// op lives here; the frontend inserts the casts and broadcasts that make operands agree, and turns an
// IRTypeError into a located CompilationError.
import { Block, Op, Value, type Attrs, type SourceLoc } from './ir.js';
import type { Opcode, UnaryOpcode, BinaryOpcode, CmpPredicate, ReduceKind } from './ops.js';
import { type DType, isFloat, isInt, isBool } from './dtype.js';
import {
  type BlockType, blockOf, scalarType, sameShape, sameType, sameElem, typeToString, numel, isPointer, dtypeOf,
} from './types.js';

export class IRTypeError extends Error {}

const FLOAT_ONLY: ReadonlySet<UnaryOpcode> = new Set(['exp', 'exp2', 'log', 'log2', 'sqrt', 'rsqrt', 'sin', 'cos', 'sigmoid', 'softplus', 'floor']);
const INT_ONLY: ReadonlySet<BinaryOpcode> = new Set(['idiv', 'and', 'or', 'xor', 'shl', 'shr']);

export class IRBuilder {
  loc: SourceLoc | undefined;
  constructor(public block: Block) {}

  private emit(opcode: Opcode, operands: Value[], resultTypes: BlockType[], attrs: Attrs = {}, regions: Block[] = []): Op {
    const op = new Op(opcode, operands, resultTypes.map((t) => new Value(t)), attrs, regions, this.loc);
    this.block.append(op);
    return op;
  }
  private one(opcode: Opcode, operands: Value[], type: BlockType, attrs: Attrs = {}): Value {
    return this.emit(opcode, operands, [type], attrs).result;
  }

  constant(value: number | boolean, dtype: DType, shape: readonly number[] = []): Value {
    return this.one('constant', [], scalarType(dtype, shape), { value });
  }
  programId(axis: number): Value {
    checkAxis3(axis);
    return this.one('program_id', [], scalarType('i32'), { axis });
  }
  numPrograms(axis: number): Value {
    checkAxis3(axis);
    return this.one('num_programs', [], scalarType('i32'), { axis });
  }
  arange(start: number, end: number): Value {
    if (!Number.isInteger(start) || !Number.isInteger(end) || end <= start)
      throw new IRTypeError(`arange(start, end) needs integer constants with end > start, got (${start}, ${end})`);
    checkBlockShape([end - start]);
    return this.one('arange', [], scalarType('i32', [end - start]), { start, end });
  }

  splat(v: Value, shape: readonly number[]): Value {
    if (v.type.shape.length !== 0) throw new IRTypeError(`splat needs a scalar, got ${typeToString(v.type)}`);
    if (shape.length === 0) return v;
    checkBlockShape(shape);
    return this.one('splat', [v], blockOf(v.type.elem, shape));
  }
  broadcast(v: Value, shape: readonly number[]): Value {
    const from = v.type.shape;
    if (sameShape(from, shape)) return v;
    if (from.length === 0) return this.splat(v, shape);
    if (from.length !== shape.length || from.some((d, i) => d !== 1 && d !== shape[i]))
      throw new IRTypeError(`cannot broadcast shape [${from.join(', ')}] to [${shape.join(', ')}]`);
    return this.one('broadcast', [v], blockOf(v.type.elem, shape));
  }
  expandDims(v: Value, axis: number): Value {
    const s = [...v.type.shape];
    if (!Number.isInteger(axis) || axis < 0 || axis > s.length)
      throw new IRTypeError(`expandDims axis must be in [0, ${s.length}], got ${axis}`);
    s.splice(axis, 0, 1);
    return this.one('expand_dims', [v], blockOf(v.type.elem, s), { axis });
  }
  reshape(v: Value, shape: readonly number[]): Value {
    if (numel(shape) !== numel(v.type.shape))
      throw new IRTypeError(`cannot reshape [${v.type.shape.join(', ')}] (${numel(v.type.shape)} elements) to [${shape.join(', ')}] (${numel(shape)} elements)`);
    checkBlockShape(shape);
    return this.one('reshape', [v], blockOf(v.type.elem, shape));
  }
  trans(v: Value, perm?: readonly number[]): Value {
    const r = v.type.shape.length;
    const p = perm ?? [...Array(r).keys()].reverse();
    if (p.length !== r || [...p].sort().some((x, i) => x !== i))
      throw new IRTypeError(`trans permutation [${p.join(', ')}] is not a permutation of ${r} axes`);
    return this.one('trans', [v], blockOf(v.type.elem, p.map((i) => v.type.shape[i]!)), { perm: [...p] });
  }

  unary(opcode: UnaryOpcode, v: Value): Value {
    const d = dtypeOf(v.type);
    if (isPointer(v.type)) throw new IRTypeError(`'${opcode}' does not apply to pointers`);
    if (FLOAT_ONLY.has(opcode) && !isFloat(d)) throw new IRTypeError(`'${opcode}' needs a floating-point operand, got ${d}`);
    if (opcode === 'not' && !isBool(d) && !isInt(d)) throw new IRTypeError(`'not' needs a boolean or integer operand, got ${d}`);
    if (opcode === 'neg' && isBool(d)) throw new IRTypeError(`cannot negate a boolean`);
    return this.one(opcode, [v], v.type);
  }
  binary(opcode: BinaryOpcode, a: Value, b: Value): Value {
    requireSame(opcode, a, b);
    if (isPointer(a.type)) throw new IRTypeError(`'${opcode}' does not apply to pointers`);
    const d = dtypeOf(a.type);
    if (INT_ONLY.has(opcode) && isFloat(d)) throw new IRTypeError(`'${opcode}' needs integer or boolean operands, got ${d}`);
    if ((opcode === 'div') && !isFloat(d)) throw new IRTypeError(`'div' needs floating-point operands, got ${d}`);
    return this.one(opcode, [a, b], a.type);
  }
  cmp(pred: CmpPredicate, a: Value, b: Value): Value {
    requireSame(`cmp ${pred}`, a, b);
    return this.one('cmp', [a, b], scalarType('i1', a.type.shape), { pred });
  }
  cast(v: Value, dtype: DType): Value {
    if (isPointer(v.type)) throw new IRTypeError(`cannot cast a pointer to ${dtype}`);
    if (dtypeOf(v.type) === dtype) return v;
    return this.one('cast', [v], scalarType(dtype, v.type.shape));
  }
  select(cond: Value, a: Value, b: Value): Value {
    requireSame('where', a, b);
    if (dtypeOf(cond.type) !== 'i1' || !sameShape(cond.type.shape, a.type.shape))
      throw new IRTypeError(`where: condition must be i1 of shape [${a.type.shape.join(', ')}], got ${typeToString(cond.type)}`);
    return this.one('select', [cond, a, b], a.type);
  }

  addptr(ptr: Value, offset: Value): Value {
    if (!isPointer(ptr.type)) throw new IRTypeError(`addptr needs a pointer, got ${typeToString(ptr.type)}`);
    if (!isInt(dtypeOf(offset.type))) throw new IRTypeError(`pointer offsets must be integers, got ${typeToString(offset.type)}`);
    if (!sameShape(ptr.type.shape, offset.type.shape)) throw new IRTypeError(`internal: addptr shapes differ`);
    return this.one('addptr', [ptr, offset], ptr.type);
  }
  load(ptr: Value, mask?: Value, other?: Value): Value {
    const elem = ptr.type.elem;
    if (elem.kind !== 'ptr') throw new IRTypeError(`load needs a pointer or block of pointers, got ${typeToString(ptr.type)}`);
    if (mask) checkMask(mask, ptr);
    const type = scalarType(elem.pointee, ptr.type.shape);
    if (other && !sameType(other.type, type)) throw new IRTypeError(`internal: load 'other' has type ${typeToString(other.type)}, expected ${typeToString(type)}`);
    const operands = [ptr, ...(mask ? [mask] : []), ...(other ? [other] : [])];
    return this.one('load', operands, type, { hasMask: !!mask, hasOther: !!other });
  }
  store(ptr: Value, value: Value, mask?: Value): Op {
    checkStore('store', ptr, value, mask);
    return this.emit('store', [ptr, value, ...(mask ? [mask] : [])], [], { hasMask: !!mask });
  }
  atomicAdd(ptr: Value, value: Value, mask?: Value): Value {
    checkStore('atomicAdd', ptr, value, mask);
    return this.emit('atomic_add', [ptr, value, ...(mask ? [mask] : [])], [value.type], { hasMask: !!mask }).result;
  }

  reduce(kind: ReduceKind, v: Value, axis: number): Value {
    const s = v.type.shape;
    if (!Number.isInteger(axis) || axis < 0 || axis >= s.length)
      throw new IRTypeError(`reduction axis must be in [0, ${s.length - 1}] for shape [${s.join(', ')}], got ${axis}`);
    if (isPointer(v.type)) throw new IRTypeError(`cannot reduce pointers`);
    const out = s.filter((_, i) => i !== axis);
    const dtype = kind === 'argmax' ? 'i32' : dtypeOf(v.type);
    return this.one('reduce', [v], scalarType(dtype, out), { kind, axis });
  }
  dot(a: Value, b: Value, acc: Value, allowTf32: boolean): Value {
    const [m, k] = a.type.shape, [k2, n] = b.type.shape;
    if (a.type.shape.length !== 2 || b.type.shape.length !== 2)
      throw new IRTypeError(`dot needs 2-D blocks, got ${typeToString(a.type)} and ${typeToString(b.type)}`);
    if (k !== k2) throw new IRTypeError(`dot inner dimensions differ: [${m}, ${k}] x [${k2}, ${n}]`);
    if (!sameElem(a.type.elem, b.type.elem)) throw new IRTypeError(`dot operands must have the same dtype, got ${dtypeOf(a.type)} and ${dtypeOf(b.type)}`);
    if (!isFloat(dtypeOf(a.type)) && dtypeOf(a.type) !== 'i8') throw new IRTypeError(`dot operands must be floating point or i8, got ${dtypeOf(a.type)}`);
    if (k! < 16 || m! < 16 || n! < 16) throw new IRTypeError(`dot needs every dimension >= 16, got [${m}, ${k}] x [${k2}, ${n}]`);
    if (!sameShape(acc.type.shape, [m!, n!])) throw new IRTypeError(`dot accumulator must have shape [${m}, ${n}], got ${typeToString(acc.type)}`);
    return this.one('dot', [a, b, acc], acc.type, { allowTf32 });
  }

  /** A counted loop; the caller fills `body` (args: induction variable, then the carried values). */
  for(lb: Value, ub: Value, step: Value, inits: Value[]): { op: Op; body: Block } {
    for (const [n, v] of [['lower bound', lb], ['upper bound', ub], ['step', step]] as const)
      if (v.type.shape.length !== 0 || !isInt(dtypeOf(v.type))) throw new IRTypeError(`loop ${n} must be an integer scalar, got ${typeToString(v.type)}`);
    const body = new Block([new Value(lb.type), ...inits.map((v) => new Value(v.type, v.name))]);
    const op = this.emit('for', [lb, ub, step, ...inits], inits.map((v) => v.type), {}, [body]);
    return { op, body };
  }
  if(cond: Value, resultTypes: BlockType[]): { op: Op; then: Block; else: Block } {
    if (cond.type.shape.length !== 0 || dtypeOf(cond.type) !== 'i1')
      throw new IRTypeError(`'if' condition must be a scalar boolean, got ${typeToString(cond.type)}; use tl.where for blocks`);
    const then = new Block(), els = new Block();
    const op = this.emit('if', [cond], resultTypes, {}, [then, els]);
    return { op, then, else: els };
  }
  yield(values: Value[]): Op {
    return this.emit('yield', values, []);
  }
  ret(values: Value[]): Op {
    return this.emit('return', values, []);
  }
  call(callee: string, args: Value[], resultTypes: BlockType[]): Op {
    return this.emit('call', args, resultTypes, { callee });
  }
  print(prefix: string, values: Value[]): Op {
    return this.emit('print', values, [], { prefix });
  }
  assert(cond: Value, message: string): Op {
    if (dtypeOf(cond.type) !== 'i1') throw new IRTypeError(`device assert needs a boolean condition, got ${typeToString(cond.type)}`);
    return this.emit('assert', [cond], [], { message });
  }
}

function requireSame(what: string, a: Value, b: Value): void {
  if (!sameType(a.type, b.type)) throw new IRTypeError(`internal: '${what}' operands differ: ${typeToString(a.type)} vs ${typeToString(b.type)}`);
}
function checkAxis3(axis: number): void {
  if (axis !== 0 && axis !== 1 && axis !== 2) throw new IRTypeError(`grid axis must be 0, 1 or 2, got ${axis}`);
}
/** Block dimensions are powers of two so that GPU layouts tile them exactly (as in Triton). */
export function checkBlockShape(shape: readonly number[]): void {
  for (const d of shape)
    if (!Number.isInteger(d) || d < 1 || (d & (d - 1)) !== 0)
      throw new IRTypeError(`block dimensions must be powers of two, got [${shape.join(', ')}]`);
  if (numel(shape) > 1 << 20) throw new IRTypeError(`block of ${numel(shape)} elements is too large (limit 2^20)`);
}
function checkMask(mask: Value, ptr: Value): void {
  if (dtypeOf(mask.type) !== 'i1' || !sameShape(mask.type.shape, ptr.type.shape))
    throw new IRTypeError(`mask must be a boolean block of shape [${ptr.type.shape.join(', ')}], got ${typeToString(mask.type)}`);
}
function checkStore(what: string, ptr: Value, value: Value, mask?: Value): void {
  const elem = ptr.type.elem;
  if (elem.kind !== 'ptr') throw new IRTypeError(`${what} needs a pointer or block of pointers, got ${typeToString(ptr.type)}`);
  if (!sameType(value.type, scalarType(elem.pointee, ptr.type.shape)))
    throw new IRTypeError(`internal: ${what} value ${typeToString(value.type)} does not match pointer ${typeToString(ptr.type)}`);
  if (mask) checkMask(mask, ptr);
}
