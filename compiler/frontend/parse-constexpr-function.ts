// Parses a function constexpr's text (compiler/frontend/constexpr-function.ts) for the frontend.
import type { ArrowFunction, FunctionExpression, SourceFile } from 'ts-morph';
import { Node } from './ts-morph.js';
import { parseSource } from './parse.js';
import type { ConstexprFunction } from './constexpr-function.js';

export interface ParsedConstexprFunction {
  readonly fn?: ArrowFunction | FunctionExpression;
  /** Why the text is not a function the compiler can read, when it is not. */
  readonly problem?: string;
  readonly file: string;
  readonly text: string;
  readonly sf: SourceFile;
}

/** Parses the function's text as an expression; methods, classes and native functions are refused. */
export function parseConstexprFunction(f: ConstexprFunction): ParsedConstexprFunction {
  const file = `function constexpr '${f.name}'`;
  const text = `(${f.source});\n`;
  const sf = parseSource(`${f.name}.constexpr.js`, text);
  if (/\{\s*\[native code\]\s*\}\s*$/.test(f.source))
    return { file, text, sf, problem: `'${f.name}' is a built-in JavaScript function, not a function written in the kernel language` };
  const stmt = sf.getStatements()[0];
  let e = stmt && Node.isExpressionStatement(stmt) ? stmt.getExpression() : undefined;
  while (e && Node.isParenthesizedExpression(e)) e = e.getExpression();
  if (e && (Node.isArrowFunction(e) || Node.isFunctionExpression(e)) && sf.getStatements().length === 1 && !hasSyntaxErrors(sf))
    return { fn: e, file, text, sf };
  return { file, text, sf, problem: `'${f.name}' is not a function expression the compiler can read (write it as (x) => ... or function (x) { ... })` };
}

function hasSyntaxErrors(sf: SourceFile): boolean {
  return ((sf.compilerNode as unknown as { parseDiagnostics?: unknown[] }).parseDiagnostics?.length ?? 0) > 0;
}
