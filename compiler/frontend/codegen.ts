// The frontend: one visitor over a kernel's TypeScript syntax tree driving one IR builder.
// Compile-time values (constexprs, shapes, dtypes) fold here; everything else becomes block IR.
import type { SourceFile, Statement, Expression, CallExpression, ForStatement, ForOfStatement, IfStatement, ArrowFunction } from 'ts-morph';
import { Node, SyntaxKind, lazyTable } from './ts-morph.js';
import { Func, Module, Value, Block, type SourceLoc } from '../ir/ir.js';
import { IRBuilder, IRTypeError } from '../ir/builder.js';
import { type DType, isFloat, isInt } from '../ir/dtype.js';
import { type BlockType, scalarType, ptrElem, blockOf, typeToString, sameType, sameShape, dtypeOf, isPointer } from '../ir/types.js';
import type { BinaryOpcode, CmpPredicate } from '../ir/ops.js';
import { CompilationError } from './errors.js';
import { type Operand, valueOp, constOp, NONE, describeOperand } from './operand.js';
import { promoteDTypes, defaultConstDType, promoteWithConst } from './promote.js';
import { Scope, Binding } from './scope.js';
import { resolveHelper, type KernelFunction } from './parse.js';
import { BUILTINS, type BuiltinArg } from './builtins.js';
import type { ConstexprFunction } from './constexpr-function.js';
import { parseConstexprFunction } from './parse-constexpr-function.js';

/** A kernel parameter with its launch-time kind resolved. */
export type BoundParam =
  | { readonly name: string; readonly kind: 'ptr'; readonly pointee: DType }
  | { readonly name: string; readonly kind: 'scalar'; readonly dtype: DType; readonly divisibleBy16?: boolean; readonly equalsOne?: boolean }
  | { readonly name: string; readonly kind: 'constexpr'; readonly value: number | boolean | string | ConstexprFunction };

export interface IRGenRequest {
  readonly kernelName: string;
  readonly fn: KernelFunction;
  readonly file: string;
  readonly text: string;
  readonly sf: SourceFile;
  readonly params: readonly BoundParam[];
}

export function generateIR(req: IRGenRequest): Module {
  const module = new Module(req.kernelName);
  const ctx = new ModuleGen(module, req.kernelName);
  const fparams = req.params
    .filter((p) => p.kind !== 'constexpr')
    .map((p) => {
      const type = p.kind === 'ptr' ? blockOf(ptrElem(p.pointee)) : scalarType(p.kind === 'scalar' ? p.dtype : 'i32');
      return { name: p.name, value: new Value(type, p.name), divisibility: p.kind === 'scalar' && p.divisibleBy16 ? 16 : undefined };
    });
  const func = new Func(req.kernelName, fparams, [], true);
  const gen = new FunctionGen(ctx, req.file, req.text, req.sf, func);
  func.loc = gen.loc(req.fn);
  for (const p of req.params) {
    const operand: Operand =
      p.kind === 'constexpr'
        ? typeof p.value === 'string' ? (isDTypeName(p.value) ? { kind: 'dtype', dtype: p.value } : { kind: 'string', value: p.value })
          : typeof p.value === 'object' ? { kind: 'function', fn: p.value } : constOp(p.value)
        : p.kind === 'scalar' && p.equalsOne
          ? constOp(1) // specialized: a stride of 1 makes accesses provably contiguous
          : valueOp(fparams.find((f) => f.name === p.name)!.value);
    gen.scope.declare(p.name, new Binding(operand, true, p.name));
  }
  gen.run(req.fn);
  module.add(func);
  return module;
}

/** State shared by the kernel and the helpers it calls. */
class ModuleGen {
  readonly helpers = new Map<string, { func: Func; results: number }>();
  readonly inProgress = new Set<string>();
  constructor(readonly module: Module, readonly kernelName: string) {}
}

type Flow = 'next' | 'return';

const ARITH_OPS: Partial<Record<SyntaxKind, BinaryOpcode | 'truediv'>> = lazyTable(() => ({
  [SyntaxKind.PlusToken]: 'add', [SyntaxKind.MinusToken]: 'sub', [SyntaxKind.AsteriskToken]: 'mul',
  [SyntaxKind.SlashToken]: 'truediv', [SyntaxKind.PercentToken]: 'rem', [SyntaxKind.AmpersandToken]: 'and',
  [SyntaxKind.BarToken]: 'or', [SyntaxKind.CaretToken]: 'xor', [SyntaxKind.LessThanLessThanToken]: 'shl',
  [SyntaxKind.GreaterThanGreaterThanToken]: 'shr',
}));
const CMP_OPS: Partial<Record<SyntaxKind, CmpPredicate>> = lazyTable(() => ({
  [SyntaxKind.LessThanToken]: 'lt', [SyntaxKind.LessThanEqualsToken]: 'le', [SyntaxKind.GreaterThanToken]: 'gt',
  [SyntaxKind.GreaterThanEqualsToken]: 'ge', [SyntaxKind.EqualsEqualsEqualsToken]: 'eq', [SyntaxKind.EqualsEqualsToken]: 'eq',
  [SyntaxKind.ExclamationEqualsEqualsToken]: 'ne', [SyntaxKind.ExclamationEqualsToken]: 'ne',
}));
const COMPOUND_OPS: Partial<Record<SyntaxKind, SyntaxKind>> = lazyTable(() => ({
  [SyntaxKind.PlusEqualsToken]: SyntaxKind.PlusToken, [SyntaxKind.MinusEqualsToken]: SyntaxKind.MinusToken,
  [SyntaxKind.AsteriskEqualsToken]: SyntaxKind.AsteriskToken, [SyntaxKind.SlashEqualsToken]: SyntaxKind.SlashToken,
  [SyntaxKind.PercentEqualsToken]: SyntaxKind.PercentToken, [SyntaxKind.AmpersandEqualsToken]: SyntaxKind.AmpersandToken,
  [SyntaxKind.BarEqualsToken]: SyntaxKind.BarToken, [SyntaxKind.CaretEqualsToken]: SyntaxKind.CaretToken,
  [SyntaxKind.LessThanLessThanEqualsToken]: SyntaxKind.LessThanLessThanToken,
  [SyntaxKind.GreaterThanGreaterThanEqualsToken]: SyntaxKind.GreaterThanGreaterThanToken,
}));
const MATH_CONSTANTS: Record<string, number> = {
  PI: Math.PI, E: Math.E, LN2: Math.LN2, LN10: Math.LN10, LOG2E: Math.LOG2E, LOG10E: Math.LOG10E, SQRT2: Math.SQRT2, SQRT1_2: Math.SQRT1_2,
};

/** Generates the IR of one function (the kernel or one specialization of a helper). */
export class FunctionGen {
  readonly b: IRBuilder;
  scope = new Scope();
  /**
   * The text is a function constexpr's runtime text, where transpilers have rewritten `tl.exp` into
   * `<module object>.tl.exp`: such a `.tl` reads as the tl namespace.
   */
  transpiledText = false;
  private returned: Operand | undefined;
  private returnNode: Node | undefined;

  constructor(
    readonly ctx: ModuleGen,
    readonly file: string,
    readonly text: string,
    readonly sf: SourceFile,
    readonly func: Func,
  ) {
    this.b = new IRBuilder(func.body);
  }

  // ---------------------------------------------------------------- diagnostics
  loc(node: Node): SourceLoc {
    const { line, column } = this.sf.getLineAndColumnAtPos(node.getStart());
    return { file: this.file, line, col: column };
  }
  error(node: Node, reason: string): CompilationError {
    const width = Math.max(1, Math.min(node.getEnd(), this.text.indexOf('\n', node.getStart()) >>> 0) - node.getStart());
    return new CompilationError(this.ctx.kernelName, this.loc(node), reason, this.text, width);
  }
  /** Runs `f` with the builder's location at `node`; IR typing errors become located errors. */
  at<T>(node: Node, f: () => T): T {
    const saved = this.b.loc;
    this.b.loc = this.loc(node);
    try {
      return f();
    } catch (e) {
      if (e instanceof IRTypeError) throw this.error(node, e.message);
      throw e;
    } finally {
      this.b.loc = saved;
    }
  }

  // ---------------------------------------------------------------- functions
  run(fn: KernelFunction | ArrowFunction): void {
    const body = fn.getBody();
    if (body && Node.isArrowFunction(fn) && !Node.isBlock(body)) {
      // (x) => expr: the expression is the result
      this.returned = this.expr(body as Expression);
      this.returnNode = body;
    } else if (!body || !Node.isBlock(body)) throw this.error(fn, `function '${Node.isArrowFunction(fn) ? '(arrow)' : fn.getName()}' needs a body`);
    const flow = body && Node.isBlock(body) ? this.statements(body.getStatements()) : 'return';
    if (this.func.isKernel) {
      if (flow === 'return' && this.returned && this.returned.kind !== 'none')
        throw this.error(this.returnNode ?? fn, `a kernel cannot return a value; store results through a pointer`);
      this.b.ret([]);
      return;
    }
    const results = this.returned ? this.flatten(this.returned, fn) : [];
    this.func.resultTypes = results.map((v) => v.type);
    this.b.ret(results);
  }

  private flatten(o: Operand, node: Node): Value[] {
    if (o.kind === 'none') return [];
    if (o.kind === 'tuple') return o.items.map((i) => this.toValue(i, node));
    return [this.toValue(o, node)];
  }

  // ---------------------------------------------------------------- statements
  private statements(stmts: Statement[]): Flow {
    for (const s of stmts) if (this.statement(s) === 'return') return 'return';
    return 'next';
  }

  private inScope<T>(f: () => T): T {
    const saved = this.scope;
    this.scope = new Scope(saved);
    try {
      return f();
    } finally {
      this.scope = saved;
    }
  }

  private statement(s: Statement): Flow {
    if (Node.isVariableStatement(s)) {
      const mutable = s.getDeclarationKind() !== 'const';
      for (const d of s.getDeclarations()) {
        const init = d.getInitializer();
        if (!init) throw this.error(d, `variable '${d.getName()}' must be initialised where it is declared`);
        const value = this.expr(init);
        const nameNode = d.getNameNode();
        if (Node.isIdentifier(nameNode)) this.declare(nameNode.getText(), value, mutable, d);
        else if (Node.isArrayBindingPattern(nameNode)) {
          if (value.kind !== 'tuple') throw this.error(init, `cannot destructure ${describeOperand(value)}`);
          const elems = nameNode.getElements();
          if (elems.length !== value.items.length)
            throw this.error(nameNode, `destructuring ${elems.length} names from ${value.items.length} values`);
          elems.forEach((e, i) => {
            if (!Node.isBindingElement(e) || !Node.isIdentifier(e.getNameNode())) throw this.error(e, `only plain names can be destructured`);
            this.declare(e.getName(), value.items[i]!, mutable, e);
          });
        } else throw this.error(nameNode, `object destructuring is not supported in kernels`);
      }
      return 'next';
    }
    if (Node.isExpressionStatement(s)) {
      this.expr(s.getExpression());
      return 'next';
    }
    if (Node.isIfStatement(s)) return this.ifStatement(s);
    if (Node.isForStatement(s)) return this.forStatement(s);
    if (Node.isForOfStatement(s)) return this.forOfStatement(s);
    if (Node.isBlock(s)) return this.inScope(() => this.statements(s.getStatements()));
    if (Node.isReturnStatement(s)) {
      const e = s.getExpression();
      this.returned = e ? this.expr(e) : NONE;
      this.returnNode = s;
      return 'return';
    }
    if (Node.isEmptyStatement(s)) return 'next';
    if (Node.isFunctionDeclaration(s)) throw this.error(s, `declare helper functions at the top level of the module, not inside a kernel`);
    if (Node.isWhileStatement(s) || Node.isDoStatement(s))
      throw this.error(s, `while loops are not supported in kernels; use for (let i = a; i < b; i += s) with runtime bounds`);
    if (Node.isBreakStatement(s) || Node.isContinueStatement(s))
      throw this.error(s, `'${s.getText().split(/\W/)[0]}' is not supported in kernels; compute a mask instead`);
    throw this.error(s, `unsupported statement (${s.getKindName()}) in a kernel`);
  }

  private declare(name: string, value: Operand, mutable: boolean, node: Node): void {
    if (value.kind === 'none') throw this.error(node, `'${name}' would hold nothing: the expression returns no value`);
    if (value.kind === 'value' && !value.value.name) value.value.name = name;
    if (this.scope.hasOwn(name)) throw this.error(node, `'${name}' is already declared in this scope`);
    this.scope.declare(name, new Binding(value, mutable, name));
  }

  private ifStatement(s: IfStatement): Flow {
    const cond = this.expr(s.getExpression());
    const thenS = s.getThenStatement();
    const elseS = s.getElseStatement();
    if (cond.kind === 'const') {
      const taken = cond.value ? thenS : elseS;
      return taken ? this.inScope(() => this.statement(taken)) : 'next';
    }
    const c = this.scalarCondition(cond, s.getExpression());
    const bindings = this.scope.visibleMutable();
    const before = bindings.map((b) => b.operand);
    const branch = (stmt: Statement | undefined, block: Block): Operand[] => {
      const saved = this.b.block;
      this.b.block = block;
      try {
        if (stmt && this.inScope(() => this.statement(stmt)) === 'return')
          throw this.error(stmt, `'return' inside an if on a runtime condition is not supported; use a mask (or a constexpr condition)`);
        return bindings.map((b) => b.operand);
      } finally {
        this.b.block = saved;
        bindings.forEach((b, i) => (b.operand = before[i]!));
      }
    };
    const { op, then, else: els } = this.at(s, () => this.b.if(c, []));
    const afterThen = branch(thenS, then);
    const afterElse = branch(elseS, els);
    const changed = bindings.map((_, i) => i).filter((i) => afterThen[i] !== before[i] || afterElse[i] !== before[i]);
    const types: BlockType[] = [];
    const thenVals: Value[] = [], elseVals: Value[] = [];
    for (const i of changed) {
      const name = bindings[i]!.name;
      const t = this.mergeType(afterThen[i]!, afterElse[i]!, s, `variable '${name}'`);
      types.push(t);
      this.b.block = then;
      thenVals.push(this.at(s, () => this.coerce(afterThen[i]!, t, s, name)));
      this.b.block = els;
      elseVals.push(this.at(s, () => this.coerce(afterElse[i]!, t, s, name)));
    }
    this.b.block = then;
    this.at(s, () => this.b.yield(thenVals));
    this.b.block = els;
    this.at(s, () => this.b.yield(elseVals));
    this.b.block = op.parent!;
    op.results = types.map((t, k) => {
      const v = new Value(t, bindings[changed[k]!]!.name);
      v.def = op;
      return v;
    });
    changed.forEach((i, k) => (bindings[i]!.operand = valueOp(op.results[k]!)));
    return 'next';
  }

  /** The type a variable has after two control-flow paths merge. */
  private mergeType(a: Operand, b: Operand, node: Node, what: string): BlockType {
    const ta = a.kind === 'value' ? a.value.type : undefined;
    const tb = b.kind === 'value' ? b.value.type : undefined;
    if (ta && tb) {
      if (!sameType(ta, tb)) throw this.error(node, `${what} has type ${typeToString(ta)} on one path and ${typeToString(tb)} on the other`);
      return ta;
    }
    const known = ta ?? tb;
    if (known) return known;
    if (a.kind === 'const' && b.kind === 'const') {
      const d = typeof a.value === 'boolean' || typeof b.value === 'boolean' ? 'i1'
        : promoteDTypes(defaultConstDType(a.value), defaultConstDType(b.value));
      return scalarType(d);
    }
    throw this.error(node, `${what} must hold a number or block on both paths, got ${describeOperand(a)} and ${describeOperand(b)}`);
  }

  /** Converts a compile-time constant to `type`; values must already have it. */
  private coerce(o: Operand, type: BlockType, node: Node, name: string): Value {
    if (o.kind === 'const') return this.b.constant(o.value, dtypeOf(type), type.shape);
    const v = this.toValue(o, node);
    if (!sameType(v.type, type)) throw this.error(node, `variable '${name}' has type ${typeToString(v.type)}, expected ${typeToString(type)}`);
    return v;
  }

  private scalarCondition(cond: Operand, node: Node): Value {
    const v = this.toValue(cond, node);
    if (v.type.shape.length !== 0)
      throw this.error(node, `an 'if' condition must be a scalar, got a block ${typeToString(v.type)}; use tl.where(cond, a, b) for elementwise choice`);
    const d = dtypeOf(v.type);
    if (d === 'i1') return v;
    if (isInt(d)) return this.at(node, () => this.b.cmp('ne', v, this.b.constant(0, d)));
    throw this.error(node, `an 'if' condition must be boolean or integer, got ${d}`);
  }

  private forStatement(s: ForStatement): Flow {
    const form = `write loops as for (let i = start; i < end; i += step) or for (const i of tl.range(start, end, step))`;
    const init = s.getInitializer();
    if (!init || !Node.isVariableDeclarationList(init) || init.getDeclarations().length !== 1) throw this.error(s, `unsupported loop header; ${form}`);
    const decl = init.getDeclarations()[0]!;
    const iv = decl.getName();
    const start = decl.getInitializer();
    const cond = s.getCondition();
    if (!start || !cond || !Node.isBinaryExpression(cond) || cond.getLeft().getText() !== iv) throw this.error(s, `unsupported loop header; ${form}`);
    const condOp = cond.getOperatorToken().getKind();
    if (condOp !== SyntaxKind.LessThanToken && condOp !== SyntaxKind.LessThanEqualsToken)
      throw this.error(cond, `loop conditions must be '${iv} < end' or '${iv} <= end'`);
    let end = this.expr(cond.getRight());
    if (condOp === SyntaxKind.LessThanEqualsToken) end = this.arith('add', end, constOp(1), cond);
    const step = this.loopStep(s.getIncrementor(), iv, form, s);
    return this.runtimeLoop(iv, this.expr(start), end, step, s.getStatement(), s);
  }

  private loopStep(inc: Expression | undefined, iv: string, form: string, s: Node): Operand {
    if (inc && (Node.isPostfixUnaryExpression(inc) || Node.isPrefixUnaryExpression(inc)) &&
        inc.getOperatorToken() === SyntaxKind.PlusPlusToken && inc.getOperand().getText() === iv) return constOp(1);
    if (inc && Node.isBinaryExpression(inc) && inc.getLeft().getText() === iv) {
      const k = inc.getOperatorToken().getKind();
      if (k === SyntaxKind.PlusEqualsToken) return this.expr(inc.getRight());
      const r = inc.getRight();
      if (k === SyntaxKind.EqualsToken && Node.isBinaryExpression(r) && r.getOperatorToken().getKind() === SyntaxKind.PlusToken && r.getLeft().getText() === iv)
        return this.expr(r.getRight());
    }
    throw this.error(inc ?? s, `unsupported loop increment; ${form}`);
  }

  private forOfStatement(s: ForOfStatement): Flow {
    const init = s.getInitializer();
    const iterable = s.getExpression();
    const decl = Node.isVariableDeclarationList(init) ? init.getDeclarations() : [];
    if (decl.length !== 1 || !Node.isIdentifier(decl[0]!.getNameNode()))
      throw this.error(s, `a for-of loop in a kernel declares one loop variable: for (const i of tl.range(a, b))`);
    const iv = decl[0]!.getName();
    const callee = Node.isCallExpression(iterable) ? this.expr(iterable.getExpression()) : undefined;
    if (!callee || callee.kind !== 'builtin' || (callee.name !== 'range' && callee.name !== 'staticRange'))
      throw this.error(iterable, `for-of loops in kernels iterate over tl.range(...) or tl.staticRange(...)`);
    const args = (iterable as CallExpression).getArguments().map((a) => this.expr(a as Expression));
    if (args.length < 1 || args.length > 3) throw this.error(iterable, `tl.${callee.name} takes 1 to 3 arguments (start, end, step), got ${args.length}`);
    const [start, end, step] = args.length === 1 ? [constOp(0), args[0]!, constOp(1)] : [args[0]!, args[1]!, args[2] ?? constOp(1)];
    if (callee.name === 'range') return this.runtimeLoop(iv, start, end, step, s.getStatement(), s);
    const bounds = [start, end, step].map((o, i) => {
      if (o.kind !== 'const' || typeof o.value !== 'number' || !Number.isInteger(o.value))
        throw this.error(iterable, `tl.staticRange needs constexpr integer bounds; argument ${i + 1} is ${describeOperand(o)}`);
      return o.value;
    });
    const [a, b, st] = bounds as [number, number, number];
    if (st === 0) throw this.error(iterable, `tl.staticRange step must not be 0`);
    if (Math.abs((b - a) / st) > 4096) throw this.error(iterable, `tl.staticRange would unroll ${Math.abs((b - a) / st)} iterations (limit 4096)`);
    for (let i = a; st > 0 ? i < b : i > b; i += st) {
      const flow = this.inScope(() => {
        this.scope.declare(iv, new Binding(constOp(i), false, iv));
        return this.statement(s.getStatement());
      });
      if (flow === 'return') throw this.error(s, `'return' inside a loop is not supported`);
    }
    return 'next';
  }

  /** A structured `for` with the variables assigned in the body carried as iteration arguments. */
  private runtimeLoop(iv: string, startOp: Operand, endOp: Operand, stepOp: Operand, body: Statement, s: Node): Flow {
    const [lb, ub, step] = this.at(s, () => {
      const vals = [startOp, endOp, stepOp].map((o) => this.toValue(o, s));
      for (const v of vals)
        if (v.type.shape.length !== 0 || !isInt(dtypeOf(v.type)))
          throw this.error(s, `loop bounds and step must be integer scalars, got ${typeToString(v.type)}`);
      const d = vals.map((v) => dtypeOf(v.type)).reduce(promoteDTypes);
      return vals.map((v) => this.b.cast(v, d));
    }) as [Value, Value, Value];
    const assigned = assignedNames(body);
    const carried = this.scope.visibleMutable().filter((bd) => assigned.has(bd.name) && bd.name !== iv);
    const before = carried.map((bd) => bd.operand);
    const block = this.b.block;
    const mark = block.ops.length;
    let initTypes: (BlockType | undefined)[] = before.map((o) => (o.kind === 'value' ? o.value.type : undefined));
    for (let attempt = 0; ; attempt++) {
      const inits = carried.map((bd, i) => this.at(s, () =>
        initTypes[i] ? this.coerce(before[i]!, initTypes[i]!, s, bd.name) : this.toValue(before[i]!, s)));
      inits.forEach((v, i) => (v.name ??= carried[i]!.name));
      const { op, body: bodyBlock } = this.at(s, () => this.b.for(lb, ub, step, inits));
      bodyBlock.args[0]!.name = iv;
      this.b.block = bodyBlock;
      let yields: Operand[];
      try {
        carried.forEach((bd, i) => (bd.operand = valueOp(bodyBlock.args[i + 1]!)));
        const flow = this.inScope(() => {
          this.scope.declare(iv, new Binding(valueOp(bodyBlock.args[0]!), false, iv));
          return this.statement(body);
        });
        if (flow === 'return') throw this.error(s, `'return' inside a loop is not supported`);
        yields = carried.map((bd) => bd.operand);
      } finally {
        this.b.block = block;
        carried.forEach((bd, i) => (bd.operand = before[i]!));
      }
      // A variable that enters as a plain number but leaves as a typed block: retry with that type.
      const retypes = yields.map((y, i) => (y.kind === 'value' && !sameType(y.value.type, inits[i]!.type) ? y.value.type : undefined));
      const retry = retypes.some((t, i) => t && before[i]!.kind === 'const');
      if (retry && attempt === 0) {
        block.ops.length = mark;
        initTypes = initTypes.map((t, i) => (retypes[i] && before[i]!.kind === 'const' ? retypes[i] : t ?? inits[i]!.type));
        continue;
      }
      this.b.block = bodyBlock;
      const yieldVals = yields.map((y, i) => this.at(s, () => {
        const v = this.coerce(y, inits[i]!.type, s, carried[i]!.name);
        return v;
      }));
      this.at(s, () => this.b.yield(yieldVals));
      this.b.block = block;
      op.results.forEach((r, i) => (r.name = carried[i]!.name));
      carried.forEach((bd, i) => (bd.operand = valueOp(op.results[i]!)));
      return 'next';
    }
  }

  // ---------------------------------------------------------------- expressions
  expr(node: Expression): Operand {
    return this.at(node, () => this.exprInner(node));
  }

  private exprInner(node: Expression): Operand {
    if (Node.isNumericLiteral(node)) return constOp(Number(node.getText().replace(/_/g, '')));
    if (node.getKind() === SyntaxKind.TrueKeyword) return constOp(true);
    if (node.getKind() === SyntaxKind.FalseKeyword) return constOp(false);
    if (Node.isStringLiteral(node) || Node.isNoSubstitutionTemplateLiteral(node)) {
      const s = node.getLiteralValue();
      return isDTypeName(s) ? { kind: 'dtype', dtype: s } : { kind: 'string', value: s };
    }
    if (Node.isIdentifier(node)) return this.identifier(node);
    if (Node.isParenthesizedExpression(node) || Node.isAsExpression(node) || Node.isNonNullExpression(node) || Node.isSatisfiesExpression(node))
      return this.expr(node.getExpression());
    if (Node.isPropertyAccessExpression(node)) return this.property(node.getExpression(), node.getName(), node);
    if (Node.isCallExpression(node)) return this.call(node);
    if (Node.isBinaryExpression(node)) return this.binaryExpression(node);
    if (Node.isPrefixUnaryExpression(node)) return this.prefixUnary(node);
    if (Node.isPostfixUnaryExpression(node)) {
      const target = node.getOperand();
      const k = node.getOperatorToken() === SyntaxKind.PlusPlusToken ? 'add' : 'sub';
      const old = this.expr(target);
      this.assign(target, this.arith(k, old, constOp(1), node));
      return old;
    }
    if (Node.isConditionalExpression(node)) {
      const c = this.expr(node.getCondition());
      if (c.kind === 'const') return this.expr(c.value ? node.getWhenTrue() : node.getWhenFalse());
      return this.where(c, this.expr(node.getWhenTrue()), this.expr(node.getWhenFalse()), node);
    }
    if (Node.isArrayLiteralExpression(node)) return { kind: 'tuple', items: node.getElements().map((e) => this.expr(e)) };
    if (Node.isObjectLiteralExpression(node)) {
      const fields = new Map<string, { operand: Operand; node: Node }>();
      for (const p of node.getProperties()) {
        if (Node.isPropertyAssignment(p)) fields.set(p.getName(), { operand: this.expr(p.getInitializerOrThrow()), node: p });
        else if (Node.isShorthandPropertyAssignment(p)) fields.set(p.getName(), { operand: this.identifier(p.getNameNode()), node: p });
        else throw this.error(p, `only 'name: value' entries are allowed in an options object`);
      }
      return { kind: 'object', fields };
    }
    if (Node.isElementAccessExpression(node))
      throw this.error(node, `indexing blocks is not supported; use tl.expandDims(x, axis) (or tl.col / tl.row) for x[:, None], and masks with tl.where for selection`);
    if (Node.isTypeOfExpression(node)) return { kind: 'string', value: typeOfOperand(this.expr(node.getExpression())) };
    if (Node.isArrowFunction(node) || Node.isFunctionExpression(node))
      throw this.error(node, `functions cannot be defined inside a kernel; declare a helper function at the top level`);
    throw this.error(node, `unsupported expression (${node.getKindName()}) in a kernel`);
  }

  private identifier(node: Node): Operand {
    const name = node.getText();
    const bd = this.scope.lookup(name);
    if (bd) return bd.operand;
    if (name === 'tl') return { kind: 'namespace', name: 'tl' };
    // esbuild names the namespace object of `tl` tl_exports (tl_exports2, ...) in a bundle's function texts.
    if (this.transpiledText && /^tl_exports\d*$/.test(name)) return { kind: 'namespace', name: 'tl' };
    if (name === 'Math') return { kind: 'namespace', name: 'Math' };
    if (name === 'Infinity') return constOp(Infinity);
    if (name === 'NaN') return constOp(NaN);
    if (resolveHelper(this.sf, this.file, name)) return { kind: 'helper', name };
    if (name in BUILTINS) return { kind: 'builtin', name };
    if (this.transpiledText)
      throw this.error(node, `unknown name '${name}': a function passed as a constexpr is written in the kernel language and sees only its parameters, its local variables, tl and Math`);
    throw this.error(node, `unknown name '${name}'; kernels see their parameters, local variables, tl, and helper functions of their module`);
  }

  private property(objNode: Expression, name: string, node: Node): Operand {
    if (this.transpiledText && name === 'tl' && Node.isIdentifier(objNode) && !this.scope.lookup(objNode.getText()))
      return { kind: 'namespace', name: 'tl' };
    const obj = this.expr(objNode);
    if (obj.kind === 'namespace' && obj.name === 'tl') {
      if (name in BUILTINS) return { kind: 'builtin', name };
      throw this.error(node, `unknown tl function 'tl.${name}'${suggest(name, Object.keys(BUILTINS), 'tl.')}`);
    }
    if (obj.kind === 'namespace' && obj.name === 'Math') {
      if (name in MATH_CONSTANTS) return constOp(MATH_CONSTANTS[name]!);
      throw this.error(node, `Math.${name} cannot be used in a kernel${name in BUILTINS ? `; use tl.${name}` : ''}`);
    }
    if (objNode.getText() === 'Number' && (name === 'POSITIVE_INFINITY' || name === 'NEGATIVE_INFINITY'))
      return constOp(name === 'POSITIVE_INFINITY' ? Infinity : -Infinity);
    throw this.error(node, `property access '.${name}' is not supported on ${describeOperand(obj)}`);
  }

  private call(node: CallExpression): Operand {
    const callee = this.expr(node.getExpression());
    if (callee.kind === 'builtin') {
      if (callee.name === 'range' || callee.name === 'staticRange')
        throw this.error(node, `tl.${callee.name}(...) can only be the iterable of a for-of loop`);
      const args: BuiltinArg[] = node.getArguments().map((a) => ({ node: a, op: this.expr(a as Expression) }));
      return this.at(node, () => BUILTINS[callee.name]!(this, args, node));
    }
    if (callee.kind === 'helper') {
      const target = resolveHelper(this.sf, this.file, callee.name)!;
      return this.callFunction(callee.name, { ...target, id: target.file, transpiled: false }, node);
    }
    if (callee.kind === 'function') {
      const parsed = parseConstexprFunction(callee.fn);
      if (!parsed.fn) throw this.error(node.getExpression(), parsed.problem!);
      return this.callFunction(callee.fn.name, { fn: parsed.fn, file: parsed.file, text: parsed.text, sf: parsed.sf, id: `fn:${callee.fn.hash}`, transpiled: true }, node);
    }
    throw this.error(node.getExpression(), `${describeOperand(callee)} cannot be called`);
  }

  /** Compiles `target` once per argument signature into a helper Func and calls it (inlined later). */
  private callFunction(name: string, target: CallTarget, node: CallExpression): Operand {
    const params = target.fn.getParameters();
    const args = node.getArguments().map((a) => this.expr(a as Expression));
    if (args.length !== params.length)
      throw this.error(node, `helper '${name}' takes ${params.length} argument${params.length === 1 ? '' : 's'}, got ${args.length}`);
    const keyParts = args.map((a) => (a.kind === 'value' ? typeToString(a.value.type) : a.kind === 'function' ? `fn:${a.fn.hash}` : JSON.stringify(a)));
    const key = `${target.id}#${name}(${keyParts.join(', ')})`;
    if (this.ctx.inProgress.has(key)) throw this.error(node, `helper '${name}' calls itself; recursion is not supported in kernels`);
    let entry = this.ctx.helpers.get(key);
    if (!entry) {
      const valueParams = args.flatMap((a, i) => (a.kind === 'value' ? [{ name: params[i]!.getName(), value: new Value(a.value.type, params[i]!.getName()) }] : []));
      const fname = this.ctx.module.funcs.has(name) || [...this.ctx.helpers.values()].some((h) => h.func.name === name) ? `${name}_${this.ctx.helpers.size}` : name;
      const func = new Func(fname, valueParams, [], false);
      const gen = new FunctionGen(this.ctx, target.file, target.text, target.sf, func);
      gen.transpiledText = target.transpiled;
      func.loc = gen.loc(target.fn);
      let vi = 0;
      args.forEach((a, i) => gen.scope.declare(params[i]!.getName(), new Binding(a.kind === 'value' ? valueOp(valueParams[vi++]!.value) : a, true, params[i]!.getName())));
      this.ctx.inProgress.add(key);
      try {
        gen.run(target.fn);
      } finally {
        this.ctx.inProgress.delete(key);
      }
      this.ctx.module.add(func);
      entry = { func, results: func.resultTypes.length };
      this.ctx.helpers.set(key, entry);
    }
    const valueArgs = args.flatMap((a) => (a.kind === 'value' ? [a.value] : []));
    const call = this.at(node, () => this.b.call(entry!.func.name, valueArgs, entry!.func.resultTypes));
    const outs = call.results.map(valueOp);
    const body = target.fn.getBody();
    const declaredTuple = body && (Node.isArrayLiteralExpression(body) ||
      body.getDescendantsOfKind(SyntaxKind.ReturnStatement).some((r) => Node.isArrayLiteralExpression(r.getExpression())));
    if (outs.length === 0) return NONE;
    return outs.length === 1 && !declaredTuple ? outs[0]! : { kind: 'tuple', items: outs };
  }

  private binaryExpression(node: Expression & { getOperatorToken(): Node; getLeft(): Expression; getRight(): Expression }): Operand {
    const k = node.getOperatorToken().getKind();
    if (k === SyntaxKind.EqualsToken) {
      const v = this.expr(node.getRight());
      this.assign(node.getLeft(), v);
      return v;
    }
    const compound = COMPOUND_OPS[k];
    if (compound !== undefined) {
      const v = this.binaryOp(compound, this.expr(node.getLeft()), this.expr(node.getRight()), node);
      this.assign(node.getLeft(), v);
      return v;
    }
    return this.binaryOp(k, this.expr(node.getLeft()), this.expr(node.getRight()), node);
  }

  private binaryOp(k: SyntaxKind, a: Operand, b: Operand, node: Node): Operand {
    const arith = ARITH_OPS[k];
    if (arith) return this.arith(arith, a, b, node);
    const pred = CMP_OPS[k];
    if (pred) return this.compare(pred, a, b, node);
    if (k === SyntaxKind.AmpersandAmpersandToken || k === SyntaxKind.BarBarToken) return this.logical(k === SyntaxKind.AmpersandAmpersandToken ? 'and' : 'or', a, b, node);
    if (k === SyntaxKind.AsteriskAsteriskToken) {
      if (a.kind === 'const' && b.kind === 'const') return constOp(Number(a.value) ** Number(b.value));
      throw this.error(node, `'**' works on constexprs only; use tl.exp2(y * tl.log2(x)) for blocks`);
    }
    if (k === SyntaxKind.GreaterThanGreaterThanGreaterThanToken) throw this.error(node, `'>>>' is not supported; cast to 'u32' and use '>>'`);
    throw this.error(node, `unsupported operator '${node.getChildAtIndex(1)?.getText() ?? SyntaxKind[k]}' in a kernel`);
  }

  private assign(target: Node, v: Operand): void {
    if (!Node.isIdentifier(target)) throw this.error(target, `only local variables can be assigned; store to memory with tl.store`);
    const bd = this.scope.lookup(target.getText());
    if (!bd) throw this.error(target, `assignment to undeclared variable '${target.getText()}'`);
    if (!bd.mutable) throw this.error(target, `cannot assign to '${target.getText()}': it is a const or a loop variable`);
    if (v.kind === 'none') throw this.error(target, `the right-hand side returns no value`);
    if (v.kind === 'value' && !v.value.name) v.value.name = target.getText();
    bd.operand = v;
  }

  private prefixUnary(node: Node & { getOperatorToken(): SyntaxKind; getOperand(): Expression }): Operand {
    const op = node.getOperatorToken();
    if (op === SyntaxKind.PlusPlusToken || op === SyntaxKind.MinusMinusToken) {
      const v = this.arith(op === SyntaxKind.PlusPlusToken ? 'add' : 'sub', this.expr(node.getOperand()), constOp(1), node);
      this.assign(node.getOperand(), v);
      return v;
    }
    const x = this.expr(node.getOperand());
    if (op === SyntaxKind.PlusToken) return x;
    if (x.kind === 'const') {
      if (op === SyntaxKind.MinusToken) return constOp(-x.value);
      if (op === SyntaxKind.ExclamationToken) return constOp(!x.value);
      if (op === SyntaxKind.TildeToken) return constOp(~x.value);
    }
    const v = this.toValue(x, node);
    if (isPointer(v.type)) throw this.error(node, `this operator does not apply to pointers`);
    if (op === SyntaxKind.MinusToken) return valueOp(this.b.unary('neg', v));
    if (op === SyntaxKind.ExclamationToken) {
      if (dtypeOf(v.type) !== 'i1') throw this.error(node, `'!' needs a boolean, got ${typeToString(v.type)}; compare with 0 first`);
      return valueOp(this.b.unary('not', v));
    }
    if (op === SyntaxKind.TildeToken) {
      if (!isInt(dtypeOf(v.type))) throw this.error(node, `'~' needs an integer, got ${typeToString(v.type)}`);
      return valueOp(this.b.unary('not', v));
    }
    throw this.error(node, `unsupported unary operator`);
  }

  // ---------------------------------------------------------------- typed operations (used by builtins too)
  /** Materializes a compile-time constant (in `dtype`, or its default dtype) or returns the value. */
  toValue(o: Operand, node: Node, dtype?: DType): Value {
    if (o.kind === 'value') return o.value;
    if (o.kind === 'const') return this.at(node, () => this.b.constant(o.value, dtype ?? defaultConstDType(o.value)));
    throw this.error(node, `expected a number or block here, got ${describeOperand(o)}`);
  }

  /** Converts two operands to one dtype and one shape (Triton's implicit promotion and broadcasting). */
  unify(a: Operand, b: Operand, node: Node, dtypeOverride?: (d: DType) => DType): [Value, Value] {
    let d: DType;
    if (a.kind === 'value' && b.kind === 'value') d = promoteDTypes(dtypeOf(a.value.type), dtypeOf(b.value.type));
    else if (a.kind === 'value' && b.kind === 'const') d = promoteWithConst(dtypeOf(a.value.type), b.value);
    else if (b.kind === 'value' && a.kind === 'const') d = promoteWithConst(dtypeOf(b.value.type), a.value);
    else d = promoteDTypes(defaultConstDType(this.constValue(a, node)), defaultConstDType(this.constValue(b, node)));
    if (dtypeOverride) d = dtypeOverride(d);
    const va = this.b.cast(this.toValue(a, node, d), d);
    const vb = this.b.cast(this.toValue(b, node, d), d);
    return this.broadcastPair(va, vb);
  }

  private constValue(o: Operand, node: Node): number | boolean {
    if (o.kind === 'const') return o.value;
    throw this.error(node, `expected a number or block here, got ${describeOperand(o)}`);
  }

  broadcastShapes(a: readonly number[], b: readonly number[]): number[] {
    const r = Math.max(a.length, b.length);
    const pa = [...Array(r - a.length).fill(1), ...a], pb = [...Array(r - b.length).fill(1), ...b];
    return pa.map((x, i) => {
      const y = pb[i]!;
      if (x !== y && x !== 1 && y !== 1) throw new IRTypeError(`shapes [${a.join(', ')}] and [${b.join(', ')}] cannot be broadcast together (axis ${i}: ${x} vs ${y})`);
      return Math.max(x, y);
    });
  }

  /** Broadcasts `v` to `shape`, inserting leading axes as needed. */
  broadcastTo(v: Value, shape: readonly number[]): Value {
    if (sameShape(v.type.shape, shape)) return v;
    if (v.type.shape.length > shape.length) throw new IRTypeError(`cannot broadcast ${typeToString(v.type)} to shape [${shape.join(', ')}]`);
    let x = v;
    while (x.type.shape.length < shape.length && x.type.shape.length > 0) x = this.b.expandDims(x, 0);
    return this.b.broadcast(x, shape);
  }

  broadcastPair(a: Value, b: Value): [Value, Value] {
    if (sameShape(a.type.shape, b.type.shape)) return [a, b];
    const shape = this.broadcastShapes(a.type.shape, b.type.shape);
    return [this.broadcastTo(a, shape), this.broadcastTo(b, shape)];
  }

  arith(op: BinaryOpcode | 'truediv', a: Operand, b: Operand, node: Node): Operand {
    if (a.kind === 'const' && b.kind === 'const') return constOp(foldArith(op, Number(a.value), Number(b.value)));
    // Pointer arithmetic: P + offsets, offsets + P, P - offsets.
    const pa = a.kind === 'value' && isPointer(a.value.type), pb = b.kind === 'value' && isPointer(b.value.type);
    if (pa || pb) {
      if (pa && pb) throw this.error(node, `cannot combine two pointers with '${op}'`);
      if (op !== 'add' && !(op === 'sub' && pa)) throw this.error(node, `pointers support only 'ptr + offset' and 'ptr - offset', not '${op}'`);
      const ptr = (pa ? a : b) as { kind: 'value'; value: Value };
      let off = this.toValue(pa ? b : a, node, 'i32');
      const od = dtypeOf(off.type);
      if (!isInt(od)) throw this.error(node, `pointer offsets must be integers, got ${typeToString(off.type)}`);
      if (op === 'sub') off = this.b.unary('neg', off);
      const [p2, o2] = this.broadcastPair(ptr.value, off);
      return valueOp(this.b.addptr(p2, o2));
    }
    if (op === 'truediv') {
      const [x, y] = this.unify(a, b, node, (d) => (isFloat(d) ? d : 'f32'));
      return valueOp(this.b.binary('div', x, y));
    }
    const [x, y] = this.unify(a, b, node, (d) => (d === 'i1' && ['add', 'sub', 'mul', 'rem', 'shl', 'shr'].includes(op) ? 'i32' : d));
    return valueOp(this.b.binary(op, x, y));
  }

  compare(pred: CmpPredicate, a: Operand, b: Operand, node: Node): Operand {
    if (a.kind === 'const' && b.kind === 'const') return constOp(foldCompare(pred, a.value, b.value));
    // Strings and dtypes are constexprs: compare them at compile time.
    const text = (o: Operand): string | undefined => (o.kind === 'string' ? o.value : o.kind === 'dtype' ? o.dtype : undefined);
    const ta = text(a), tb = text(b);
    if (ta !== undefined || tb !== undefined) {
      if (ta === undefined || tb === undefined || (pred !== 'eq' && pred !== 'ne'))
        throw this.error(node, `only '===' and '!==' compare strings and dtypes, and only with each other`);
      return constOp(pred === 'eq' ? ta === tb : ta !== tb);
    }
    const [x, y] = this.unify(a, b, node);
    return valueOp(this.b.cmp(pred, x, y));
  }

  logical(op: 'and' | 'or', a: Operand, b: Operand, node: Node): Operand {
    if (a.kind === 'const') return op === 'and' ? (a.value ? b : a) : a.value ? a : b;
    if (b.kind === 'const') {
      if (op === 'and') return b.value ? a : constOp(false);
      return b.value ? constOp(true) : a;
    }
    const [x, y] = this.unify(a, b, node);
    if (dtypeOf(x.type) !== 'i1') throw this.error(node, `'${op === 'and' ? '&&' : '||'}' needs boolean operands, got ${typeToString(x.type)}; compare with 0 first`);
    return valueOp(this.b.binary(op, x, y));
  }

  where(c: Operand, a: Operand, b: Operand, node: Node): Operand {
    if (c.kind === 'const') return c.value ? a : b;
    const cond = this.toValue(c, node);
    if (dtypeOf(cond.type) !== 'i1') throw this.error(node, `the condition of where must be boolean, got ${typeToString(cond.type)}`);
    const [x, y] = this.unify(a, b, node);
    const shape = this.broadcastShapes(cond.type.shape, x.type.shape);
    return valueOp(this.b.select(this.broadcastTo(cond, shape), this.broadcastTo(x, shape), this.broadcastTo(y, shape)));
  }
}

function foldArith(op: BinaryOpcode | 'truediv', a: number, b: number): number {
  switch (op) {
    case 'add': return a + b;
    case 'sub': return a - b;
    case 'mul': return a * b;
    case 'truediv': case 'div': return a / b;
    case 'idiv': return Math.trunc(a / b);
    case 'rem': return a % b;
    case 'min': return Math.min(a, b);
    case 'max': return Math.max(a, b);
    case 'and': return a & b;
    case 'or': return a | b;
    case 'xor': return a ^ b;
    case 'shl': return a << b;
    case 'shr': return a >> b;
  }
}

function foldCompare(pred: CmpPredicate, a: number | boolean, b: number | boolean): boolean {
  switch (pred) {
    case 'lt': return a < b;
    case 'le': return a <= b;
    case 'gt': return a > b;
    case 'ge': return a >= b;
    case 'eq': return a === b;
    case 'ne': return a !== b;
  }
}

/** A called function: a helper of the kernel's modules or a function constexpr. */
interface CallTarget {
  readonly fn: KernelFunction | ArrowFunction;
  readonly file: string;
  readonly text: string;
  readonly sf: SourceFile;
  /** Tells apart functions of one name in the helper cache: the file, or the function constexpr's hash. */
  readonly id: string;
  readonly transpiled: boolean;
}

/** What JavaScript's `typeof` says of a compile-time operand (runtime blocks are typed `number`). */
function typeOfOperand(o: Operand): string {
  switch (o.kind) {
    case 'const': return typeof o.value;
    case 'string': case 'dtype': return 'string';
    case 'function': case 'helper': case 'builtin': return 'function';
    case 'value': return 'number';
    case 'none': return 'undefined';
    default: return 'object';
  }
}

function isDTypeName(s: string): s is DType {
  return ['f64', 'f32', 'f16', 'bf16', 'i64', 'i32', 'u32', 'i8', 'u8', 'i1'].includes(s);
}

/** Names assigned anywhere inside `node` (plain assignments, compound assignments, ++ and --). */
function assignedNames(node: Node): Set<string> {
  const out = new Set<string>();
  const visit = (n: Node): void => {
    if (Node.isBinaryExpression(n)) {
      const k = n.getOperatorToken().getKind();
      if ((k === SyntaxKind.EqualsToken || COMPOUND_OPS[k] !== undefined) && Node.isIdentifier(n.getLeft())) out.add(n.getLeft().getText());
    } else if ((Node.isPostfixUnaryExpression(n) || Node.isPrefixUnaryExpression(n)) &&
      (n.getOperatorToken() === SyntaxKind.PlusPlusToken || n.getOperatorToken() === SyntaxKind.MinusMinusToken) && Node.isIdentifier(n.getOperand())) {
      out.add(n.getOperand().getText());
    }
    n.forEachChild(visit);
  };
  visit(node);
  return out;
}

/** " (did you mean tl.x?)" for a near miss. */
export function suggest(name: string, candidates: string[], prefix = ''): string {
  const dist = (a: string, b: string): number => {
    const dp = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array(b.length).fill(0)] as number[]);
    for (let j = 1; j <= b.length; j++) dp[0]![j] = j;
    for (let i = 1; i <= a.length; i++)
      for (let j = 1; j <= b.length; j++)
        dp[i]![j] = Math.min(dp[i - 1]![j]! + 1, dp[i]![j - 1]! + 1, dp[i - 1]![j - 1]! + (a[i - 1]!.toLowerCase() === b[j - 1]!.toLowerCase() ? 0 : 1));
    return dp[a.length]![b.length]!;
  };
  const best = candidates.map((c) => [c, dist(name, c)] as const).sort((x, y) => x[1] - y[1])[0];
  return best && best[1] <= Math.max(2, name.length / 3) ? ` (did you mean ${prefix}${best[0]}?)` : '';
}

