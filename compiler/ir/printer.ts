// Prints a module as MLIR-like text; used by dumps, the CLI's `--target ir` and snapshot tests.
import { type Block, type Func, type Module, type Op, type Value, type AttrValue } from './ir.js';
import { typeToString } from './types.js';

export interface PrintOptions {
  /** Append `loc(file:line:col)` to each op. */
  locations?: boolean;
  /** Append each result's layout (once a backend has assigned them). */
  layouts?: boolean;
}

export function printModule(m: Module, opts: PrintOptions = {}): string {
  return [...m.funcs.values()].map((f) => printFunc(f, opts)).join('\n');
}

export function printFunc(f: Func, opts: PrintOptions = {}): string {
  const names = new Namer();
  const params = f.params.map((p) => `${names.of(p.value)}: ${typeToString(p.value.type)}${p.divisibility ? ` {divisibility=${p.divisibility}}` : ''}`).join(', ');
  const ret = f.resultTypes.length ? ` -> (${f.resultTypes.map(typeToString).join(', ')})` : '';
  const lines = [`${f.isKernel ? 'kernel' : 'func'} @${f.name}(${params})${ret} {`];
  printBlockOps(f.body, 1, names, lines, opts);
  lines.push('}');
  return lines.join('\n') + '\n';
}

/** Gives each value a stable name: the source variable name where known, made unique, else a number. */
class Namer {
  private readonly byValue = new Map<Value, string>();
  private readonly used = new Set<string>();
  private counter = 0;
  of(v: Value): string {
    let n = this.byValue.get(v);
    if (n) return n;
    const base = v.name && /^[A-Za-z_]\w*$/.test(v.name) ? v.name : undefined;
    n = base && !this.used.has(base) ? base : base ? `${base}.${this.counter++}` : `${this.counter++}`;
    this.used.add(n);
    n = `%${n}`;
    this.byValue.set(v, n);
    return n;
  }
}

function printBlockOps(b: Block, depth: number, names: Namer, out: string[], opts: PrintOptions): void {
  const ind = '  '.repeat(depth);
  for (const op of b.ops) {
    const res = op.results.length ? `${op.results.map((r) => names.of(r)).join(', ')} = ` : '';
    const operands = op.operands.map((o) => names.of(o)).join(', ');
    const attrs = formatAttrs(op);
    const types = op.results.length ? ` : ${op.results.map((r) => typeToString(r.type)).join(', ')}` : '';
    const lay = opts.layouts ? op.results.map((r) => (r.layout as { name?: string } | undefined)?.name).filter(Boolean).map((n) => `  #${n}`).join('') : '';
    const loc = opts.locations && op.loc ? `  loc(${op.loc.file.split('/').pop()}:${op.loc.line}:${op.loc.col})` : '';
    if (op.regions.length === 0) {
      out.push(`${ind}${res}${op.opcode}${operands ? ' ' + operands : ''}${attrs}${types}${lay}${loc}`);
      continue;
    }
    out.push(`${ind}${res}${op.opcode}${operands ? ' ' + operands : ''}${attrs}${types} {${loc}`);
    op.regions.forEach((r, i) => {
      if (i > 0) out.push(`${ind}} else {`);
      if (r.args.length) out.push(`${ind}  ^(${r.args.map((a) => `${names.of(a)}: ${typeToString(a.type)}`).join(', ')}):`);
      printBlockOps(r, depth + 1, names, out, opts);
    });
    out.push(`${ind}}`);
  }
}

function formatAttrs(op: Op): string {
  const entries = Object.entries(op.attrs).filter(([, v]) => v !== undefined && v !== false);
  return entries.length ? ` {${entries.map(([k, v]) => `${k}=${formatAttr(v)}`).join(', ')}}` : '';
}
function formatAttr(v: AttrValue): string {
  if (Array.isArray(v)) return `[${v.join(', ')}]`;
  if (typeof v === 'string') return JSON.stringify(v);
  return String(v);
}
