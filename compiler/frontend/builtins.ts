// The tl functions: how each call in a kernel becomes IR. One entry per function of
// compiler/language/tl.ts; argument checking happens here so that mistakes point at the argument.
import type { Node, CallExpression } from 'ts-morph';
import type { Value } from '../ir/ir.js';
import { IRTypeError, checkBlockShape } from '../ir/builder.js';
import { type DType, isFloat, isInt } from '../ir/dtype.js';
import { typeToString, dtypeOf, isPointer, numel } from '../ir/types.js';
import type { UnaryOpcode, ReduceKind } from '../ir/ops.js';
import { type Operand, valueOp, constOp, NONE, describeOperand } from './operand.js';
import { defaultConstDType } from './promote.js';
import type { FunctionGen } from './codegen.js';

export interface BuiltinArg {
  readonly node: Node;
  readonly op: Operand;
}
type Builtin = (g: FunctionGen, args: BuiltinArg[], call: CallExpression) => Operand;

// ---------------------------------------------------------------- argument helpers
function arity(name: string, args: BuiltinArg[], call: CallExpression, min: number, max = min): void {
  if (args.length < min || args.length > max) {
    const want = min === max ? `${min}` : `${min} to ${max}`;
    throw new IRTypeError(`tl.${name} takes ${want} argument${max === 1 ? '' : 's'}, got ${args.length}`);
  }
  void call;
}
function argError(g: FunctionGen, a: BuiltinArg, what: string): never {
  throw g.error(a.node, `${what}, got ${describeOperand(a.op)}`);
}
function constInt(g: FunctionGen, a: BuiltinArg, what: string): number {
  if (a.op.kind !== 'const' || typeof a.op.value !== 'number' || !Number.isInteger(a.op.value))
    argError(g, a, `${what} must be a constexpr integer`);
  return a.op.value;
}
function shapeArg(g: FunctionGen, a: BuiltinArg): number[] {
  if (a.op.kind !== 'tuple') argError(g, a, `a shape must be a list of constexpr integers such as [BLOCK_M, BLOCK_N]`);
  const shape = a.op.items.map((it) => {
    if (it.kind !== 'const' || typeof it.value !== 'number' || !Number.isInteger(it.value))
      throw g.error(a.node, `a shape must be a list of constexpr integers, got an entry that is ${describeOperand(it)}`);
    return it.value;
  });
  try {
    checkBlockShape(shape);
  } catch (e) {
    throw g.error(a.node, (e as Error).message);
  }
  return shape;
}
function dtypeArg(g: FunctionGen, a: BuiltinArg): DType {
  if (a.op.kind !== 'dtype') argError(g, a, `expected a dtype such as 'f32', 'f16', 'bf16' or 'i32'`);
  return a.op.dtype;
}
function valueArg(g: FunctionGen, a: BuiltinArg): Value {
  return g.toValue(a.op, a.node);
}
/** A float operand for math functions: integers are converted to f32 first. */
function floatArg(g: FunctionGen, a: BuiltinArg): Value {
  const v = valueArg(g, a);
  if (isPointer(v.type)) argError(g, a, `expected a number or block`);
  return isFloat(dtypeOf(v.type)) ? v : g.b.cast(v, 'f32');
}
function options(g: FunctionGen, a: BuiltinArg | undefined, fn: string, allowed: string[]): Map<string, BuiltinArg> {
  const out = new Map<string, BuiltinArg>();
  if (!a) return out;
  if (a.op.kind !== 'object') argError(g, a, `tl.${fn} expects an options object { ${allowed.join(', ')} } here`);
  for (const [k, f] of a.op.fields) {
    if (!allowed.includes(k)) throw g.error(f.node, `unknown option '${k}' for tl.${fn}; expected one of: ${allowed.join(', ')}`);
    out.set(k, { node: f.node, op: f.operand });
  }
  return out;
}
function pointerArg(g: FunctionGen, a: BuiltinArg, fn: string): Value {
  const v = a.op.kind === 'value' ? a.op.value : undefined;
  if (!v || !isPointer(v.type)) argError(g, a, `tl.${fn} needs a pointer (a pointer parameter plus offsets)`);
  return v;
}
/** Broadcasts a mask to the pointer's shape (or the pointer to the mask's). */
function maskFor(g: FunctionGen, ptr: Value, m: BuiltinArg | undefined): [Value, Value | undefined] {
  if (!m) return [ptr, undefined];
  if (m.op.kind === 'const') {
    if (m.op.value) return [ptr, undefined];
  }
  const mask = g.toValue(m.op, m.node, 'i1');
  if (dtypeOf(mask.type) !== 'i1') argError(g, m, `a mask must be boolean (a comparison)`);
  const shape = g.broadcastShapes(ptr.type.shape, mask.type.shape);
  return [g.broadcastTo(ptr, shape), g.broadcastTo(mask, shape)];
}
/** Converts a stored value to the pointer's element type and shape. */
function storedValue(g: FunctionGen, ptr: Value, a: BuiltinArg): Value {
  const pointee = (ptr.type.elem as { pointee: DType }).pointee;
  const v = g.b.cast(g.toValue(a.op, a.node, pointee), pointee);
  if (v.type.shape.length > ptr.type.shape.length)
    throw g.error(a.node, `cannot store a block ${typeToString(v.type)} through ${typeToString(ptr.type)}; the pointer block must be at least as large`);
  return g.broadcastTo(v, ptr.type.shape);
}

// ---------------------------------------------------------------- families
const unary = (name: string, opcode: UnaryOpcode): Builtin => (g, args, call) => {
  arity(name, args, call, 1);
  if (args[0]!.op.kind === 'const' && CONST_MATH[opcode]) return constOp(CONST_MATH[opcode]!(Number(args[0]!.op.value)));
  return valueOp(g.b.unary(opcode, floatArg(g, args[0]!)));
};
const CONST_MATH: Partial<Record<UnaryOpcode, (x: number) => number>> = {
  exp: Math.exp, exp2: (x) => 2 ** x, log: Math.log, log2: Math.log2, sqrt: Math.sqrt, rsqrt: (x) => 1 / Math.sqrt(x),
  sin: Math.sin, cos: Math.cos, floor: Math.floor, abs: Math.abs,
};

const minmax = (name: string, opcode: 'min' | 'max'): Builtin => (g, args, call) => {
  arity(name, args, call, 2);
  const [a, b] = args as [BuiltinArg, BuiltinArg];
  if (a.op.kind === 'const' && b.op.kind === 'const') return constOp(Math[opcode](Number(a.op.value), Number(b.op.value)));
  const [x, y] = g.unify(a.op, b.op, call);
  return valueOp(g.b.binary(opcode, x, y));
};

const reduction = (name: string, kind: ReduceKind): Builtin => (g, args, call) => {
  arity(name, args, call, kind === 'argmax' ? 2 : 1, 2);
  let x = valueArg(g, args[0]!);
  if (isPointer(x.type)) argError(g, args[0]!, `tl.${name} cannot reduce pointers`);
  if (x.type.shape.length === 0) throw g.error(args[0]!.node, `tl.${name} needs a block, got a scalar`);
  const d = dtypeOf(x.type);
  // Sums accumulate in at least 32 bits: f16/bf16 in f32, small integers and booleans in i32.
  if (kind === 'sum' && (d === 'f16' || d === 'bf16')) x = g.b.cast(x, 'f32');
  if (kind === 'sum' && (d === 'i1' || d === 'i8' || d === 'u8')) x = g.b.cast(x, 'i32');
  if (args.length === 1) {
    if (x.type.shape.length > 1) x = g.b.reshape(x, [numel(x.type.shape)]);
    return valueOp(g.b.reduce(kind, x, 0));
  }
  let axis = constInt(g, args[1]!, `the axis of tl.${name}`);
  if (axis < 0) axis += x.type.shape.length;
  return valueOp(g.b.reduce(kind, x, axis));
};

// ---------------------------------------------------------------- the table
export const BUILTINS: Record<string, Builtin> = {
  programId: (g, args, call) => {
    arity('programId', args, call, 1);
    return valueOp(g.b.programId(constInt(g, args[0]!, 'the grid axis')));
  },
  numPrograms: (g, args, call) => {
    arity('numPrograms', args, call, 1);
    return valueOp(g.b.numPrograms(constInt(g, args[0]!, 'the grid axis')));
  },
  arange: (g, args, call) => {
    arity('arange', args, call, 2);
    return valueOp(g.b.arange(constInt(g, args[0]!, 'start'), constInt(g, args[1]!, 'end')));
  },
  zeros: (g, args, call) => {
    arity('zeros', args, call, 1, 2);
    const shape = shapeArg(g, args[0]!);
    return valueOp(g.b.constant(0, args[1] ? dtypeArg(g, args[1]) : 'f32', shape));
  },
  full: (g, args, call) => {
    arity('full', args, call, 2, 3);
    const shape = shapeArg(g, args[0]!);
    const v = args[1]!;
    const dtype = args[2] ? dtypeArg(g, args[2]) : undefined;
    if (v.op.kind === 'const') return valueOp(g.b.constant(v.op.value, dtype ?? defaultConstDType(v.op.value), shape));
    const x = valueArg(g, v);
    if (x.type.shape.length !== 0) argError(g, v, `the fill value of tl.full must be a scalar`);
    return valueOp(g.b.splat(dtype ? g.b.cast(x, dtype) : x, shape));
  },

  load: (g, args, call) => {
    arity('load', args, call, 1, 2);
    const opts = options(g, args[1], 'load', ['mask', 'other']);
    const [ptr, mask] = maskFor(g, pointerArg(g, args[0]!, 'load'), opts.get('mask'));
    const otherArg = opts.get('other');
    if (otherArg && !opts.get('mask')) throw g.error(otherArg.node, `'other' only applies to masked-off lanes; pass a mask too`);
    const other = otherArg && mask ? storedValue(g, ptr, otherArg) : undefined;
    return valueOp(g.b.load(ptr, mask, other));
  },
  store: (g, args, call) => {
    arity('store', args, call, 2, 3);
    const opts = options(g, args[2], 'store', ['mask']);
    let ptr = pointerArg(g, args[0]!, 'store');
    const v0 = g.toValue(args[1]!.op, args[1]!.node, (ptr.type.elem as { pointee: DType }).pointee);
    if (v0.type.shape.length > ptr.type.shape.length) ptr = g.broadcastTo(ptr, g.broadcastShapes(ptr.type.shape, v0.type.shape));
    const [p, mask] = maskFor(g, ptr, opts.get('mask'));
    g.b.store(p, storedValue(g, p, { node: args[1]!.node, op: valueOp(v0) }), mask);
    return NONE;
  },
  atomicAdd: (g, args, call) => {
    arity('atomicAdd', args, call, 2, 3);
    const opts = options(g, args[2], 'atomicAdd', ['mask']);
    const [p, mask] = maskFor(g, pointerArg(g, args[0]!, 'atomicAdd'), opts.get('mask'));
    return valueOp(g.b.atomicAdd(p, storedValue(g, p, args[1]!), mask));
  },

  expandDims: (g, args, call) => {
    arity('expandDims', args, call, 2);
    const x = valueArg(g, args[0]!);
    let axis = constInt(g, args[1]!, 'the axis');
    if (axis < 0) axis += x.type.shape.length + 1;
    return valueOp(g.b.expandDims(x, axis));
  },
  col: (g, args, call) => {
    arity('col', args, call, 1);
    const x = valueArg(g, args[0]!);
    if (x.type.shape.length !== 1) argError(g, args[0]!, `tl.col needs a 1-D block`);
    return valueOp(g.b.expandDims(x, 1));
  },
  row: (g, args, call) => {
    arity('row', args, call, 1);
    const x = valueArg(g, args[0]!);
    if (x.type.shape.length !== 1) argError(g, args[0]!, `tl.row needs a 1-D block`);
    return valueOp(g.b.expandDims(x, 0));
  },
  broadcastTo: (g, args, call) => {
    arity('broadcastTo', args, call, 2);
    return valueOp(g.broadcastTo(valueArg(g, args[0]!), shapeArg(g, args[1]!)));
  },
  reshape: (g, args, call) => {
    arity('reshape', args, call, 2);
    return valueOp(g.b.reshape(valueArg(g, args[0]!), shapeArg(g, args[1]!)));
  },
  trans: (g, args, call) => {
    arity('trans', args, call, 1, 2);
    const perm = args[1] ? shapeArgUnchecked(g, args[1]) : undefined;
    return valueOp(g.b.trans(valueArg(g, args[0]!), perm));
  },

  where: (g, args, call) => {
    arity('where', args, call, 3);
    return g.where(args[0]!.op, args[1]!.op, args[2]!.op, call);
  },
  cast: (g, args, call) => {
    arity('cast', args, call, 2);
    const d = dtypeArg(g, args[1]!);
    return valueOp(g.b.cast(g.toValue(args[0]!.op, args[0]!.node, d), d));
  },
  exp: unary('exp', 'exp'),
  exp2: unary('exp2', 'exp2'),
  log: unary('log', 'log'),
  log2: unary('log2', 'log2'),
  sqrt: unary('sqrt', 'sqrt'),
  rsqrt: unary('rsqrt', 'rsqrt'),
  sin: unary('sin', 'sin'),
  cos: unary('cos', 'cos'),
  sigmoid: unary('sigmoid', 'sigmoid'),
  softplus: unary('softplus', 'softplus'),
  floor: (g, args, call) => {
    arity('floor', args, call, 1);
    if (args[0]!.op.kind === 'value' && isInt(dtypeOf(args[0]!.op.value.type))) return args[0]!.op;
    return unary('floor', 'floor')(g, args, call);
  },
  abs: (g, args, call) => {
    arity('abs', args, call, 1);
    if (args[0]!.op.kind === 'const') return constOp(Math.abs(Number(args[0]!.op.value)));
    const v = valueArg(g, args[0]!);
    if (isPointer(v.type) || dtypeOf(v.type) === 'i1') argError(g, args[0]!, `tl.abs needs a number or block of numbers`);
    return valueOp(g.b.unary('abs', v));
  },
  maximum: minmax('maximum', 'max'),
  minimum: minmax('minimum', 'min'),
  idiv: (g, args, call) => {
    arity('idiv', args, call, 2);
    const [a, b] = args as [BuiltinArg, BuiltinArg];
    if (a.op.kind === 'const' && b.op.kind === 'const') return constOp(Math.trunc(Number(a.op.value) / Number(b.op.value)));
    const [x, y] = g.unify(a.op, b.op, call);
    if (!isInt(dtypeOf(x.type))) throw new IRTypeError(`tl.idiv needs integer operands, got ${typeToString(x.type)}`);
    return valueOp(g.b.binary('idiv', x, y));
  },
  cdiv: (g, args, call) => {
    arity('cdiv', args, call, 2);
    const [a, b] = args as [BuiltinArg, BuiltinArg];
    if (a.op.kind === 'const' && b.op.kind === 'const') return constOp(Math.ceil(Number(a.op.value) / Number(b.op.value)));
    const num = g.arith('sub', g.arith('add', a.op, b.op, call), constOp(1), call);
    const [x, y] = g.unify(num, b.op, call);
    if (!isInt(dtypeOf(x.type))) throw new IRTypeError(`tl.cdiv needs integer operands, got ${typeToString(x.type)}`);
    return valueOp(g.b.binary('idiv', x, y));
  },

  sum: reduction('sum', 'sum'),
  max: reduction('max', 'max'),
  min: reduction('min', 'min'),
  argmax: reduction('argmax', 'argmax'),

  dot: (g, args, call) => {
    arity('dot', args, call, 2, 4);
    const a = valueArg(g, args[0]!), b = valueArg(g, args[1]!);
    const opts = options(g, args[3], 'dot', ['allowTf32']);
    const tf32 = opts.get('allowTf32');
    if (tf32 && tf32.op.kind !== 'const') argError(g, tf32, `allowTf32 must be a constexpr boolean`);
    let acc: Value;
    if (args[2] && !(args[2].op.kind === 'object')) acc = valueArg(g, args[2]);
    else {
      if (args[2]?.op.kind === 'object') throw g.error(args[2].node, `the third argument of tl.dot is the accumulator; options come fourth`);
      const accType: DType = dtypeOf(a.type) === 'i8' ? 'i32' : dtypeOf(a.type) === 'f64' ? 'f64' : 'f32';
      acc = g.b.constant(0, accType, [a.type.shape[0] ?? 1, b.type.shape[1] ?? 1]);
    }
    return valueOp(g.b.dot(a, b, acc, tf32?.op.kind === 'const' ? Boolean(tf32.op.value) : false));
  },

  range: () => {
    throw new IRTypeError(`tl.range(...) can only be the iterable of a for-of loop`);
  },
  staticRange: () => {
    throw new IRTypeError(`tl.staticRange(...) can only be the iterable of a for-of loop`);
  },
  staticAssert: (g, args, call) => {
    arity('staticAssert', args, call, 1, 2);
    const c = args[0]!;
    if (c.op.kind !== 'const') argError(g, c, `tl.staticAssert needs a constexpr condition`);
    const msg = args[1]?.op.kind === 'string' ? args[1].op.value : 'static assertion failed';
    if (!c.op.value) throw g.error(call, `static assertion failed: ${msg}`);
    return NONE;
  },
  print: (g, args, call) => {
    if (args.length < 1 || args[0]!.op.kind !== 'string') throw g.error(call, `tl.print takes a string prefix first, then values`);
    g.b.print(args[0]!.op.value, args.slice(1).map((a) => valueArg(g, a)));
    return NONE;
  },
  deviceAssert: (g, args, call) => {
    arity('deviceAssert', args, call, 1, 2);
    const msg = args[1]?.op.kind === 'string' ? args[1].op.value : `assertion failed: ${args[0]!.node.getText()}`;
    if (args[0]!.op.kind === 'const') {
      if (!args[0]!.op.value) throw g.error(call, `device assertion is always false: ${msg}`);
      return NONE;
    }
    g.b.assert(valueArg(g, args[0]!), msg);
    return NONE;
  },
};

function shapeArgUnchecked(g: FunctionGen, a: BuiltinArg): number[] {
  if (a.op.kind !== 'tuple') argError(g, a, `expected a list of constexpr integers`);
  return a.op.items.map((it) => {
    if (it.kind !== 'const' || typeof it.value !== 'number') throw g.error(a.node, `expected constexpr integers`);
    return it.value;
  });
}

