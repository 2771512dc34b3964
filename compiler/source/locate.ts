// Finds the TypeScript source text of a kernel function. The compiler never runs the kernel; it needs
// the original text (with its type annotations), which transpiled code has lost. In order:
// an explicit `source` option, texts embedded by the esbuild plugin, the file that called jit().
import { readFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { registeredSources } from './registry.js';

export interface SourceFileText {
  readonly file: string;
  readonly text: string;
}

const FRAME_PATH = /(?:\(|at )((?:file:\/\/)?\/[^():]+|[A-Za-z]:\\[^():]+):(\d+):(\d+)\)?\s*$/;

/** The file of the stack frame `depth` levels above the function that created `stack`. */
export function callerFileFromStack(stack: string | undefined, depth: number): string | undefined {
  const frames = (stack ?? '').split('\n').filter((l) => l.trim().startsWith('at '));
  const m = frames[depth] ? FRAME_PATH.exec(frames[depth].trim()) : null;
  if (!m) return undefined;
  return m[1]!.startsWith('file://') ? fileURLToPath(m[1]!) : m[1]!;
}

/** Does `text` declare a function called `name` (declaration or named function expression)? */
export function declaresFunction(text: string, name: string): boolean {
  return new RegExp(`\\bfunction\\s*\\*?\\s*${name.replace(/\$/g, '\\$')}\\s*[<(]`).test(text);
}

/** The parameter names of `function name(...)` in `text` (type annotations dropped), or undefined. */
export function declaredParamNames(text: string, name: string): string[] | undefined {
  const m = new RegExp(`\\bfunction\\s*\\*?\\s*${name.replace(/\$/g, '\\$')}\\s*(?:<[^>]*>)?\\s*\\(([^)]*)\\)`).exec(text);
  return m ? paramNamesOf(m[1]!) : undefined;
}
export function paramNamesOf(list: string): string[] {
  return list.split(',').map((p) => p.trim().split(/[\s:=?]/)[0]!).filter(Boolean);
}

export function locateKernelSource(fnName: string, callerFile: string | undefined, paramNames?: readonly string[]): SourceFileText | undefined {
  let embedded = [...registeredSources()].filter(([, text]) => declaresFunction(text, fnName));
  // Several bundled files declare a function of this name: keep those whose parameters match.
  if (embedded.length > 1 && paramNames)
    embedded = embedded.filter(([, text]) => declaredParamNames(text, fnName)?.join(',') === paramNames.join(','));
  if (embedded.length === 1) return { file: embedded[0]![0], text: embedded[0]![1] };
  if (callerFile && /\.[cm]?tsx?$/.test(callerFile) && existsSync(callerFile)) {
    const text = readFileSync(callerFile, 'utf8');
    if (declaresFunction(text, fnName)) return { file: callerFile, text };
  }
  if (embedded.length > 1) {
    const near = embedded.find(([file]) => callerFile?.endsWith(file));
    if (near) return { file: near[0], text: near[1] };
  }
  return undefined;
}
