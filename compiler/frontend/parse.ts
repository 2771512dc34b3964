// Parses kernel source files with ts-morph (syntax only: no type checker, nothing is executed) and
// finds function declarations by name, following relative imports for helpers defined elsewhere.
import type { SourceFile, FunctionDeclaration, FunctionExpression } from 'ts-morph';
import { Project, Node, SyntaxKind } from './ts-morph.js';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { registeredSources } from '../source/registry.js';

export type KernelFunction = FunctionDeclaration | FunctionExpression;

let project: Project | undefined;
const parsed = new Map<string, SourceFile>();

/** Parses `text` (cached by file and content). */
export function parseSource(file: string, text: string): SourceFile {
  const key = `${file}\0${text.length}\0${hashText(text)}`;
  let sf = parsed.get(key);
  if (!sf) {
    project ??= new Project({ useInMemoryFileSystem: true, compilerOptions: { noLib: true }, skipLoadingLibFiles: true });
    sf = project.createSourceFile(`/src/${parsed.size}/${file.split(/[\\/]/).pop()}`, text, { overwrite: true });
    parsed.set(key, sf);
  }
  return sf;
}

/** All functions named `name` declared anywhere in the file (declarations and named function expressions). */
export function findFunctions(sf: SourceFile, name: string): KernelFunction[] {
  const out: KernelFunction[] = [];
  sf.forEachDescendant((n) => {
    if ((Node.isFunctionDeclaration(n) || Node.isFunctionExpression(n)) && n.getName() === name) out.push(n);
  });
  return out;
}

/** A top-level function of the file, or one imported from a relative module, by its local name. */
export function resolveHelper(sf: SourceFile, originFile: string, localName: string): { fn: FunctionDeclaration; file: string; text: string; sf: SourceFile } | undefined {
  const local = sf.getFunction(localName);
  if (local) return { fn: local, file: originFile, text: sf.getFullText(), sf };
  for (const imp of sf.getImportDeclarations()) {
    const spec = imp.getModuleSpecifierValue();
    if (!spec.startsWith('.')) continue;
    const named = imp.getNamedImports().find((n) => (n.getAliasNode()?.getText() ?? n.getName()) === localName);
    if (!named) continue;
    const target = readRelative(originFile, spec);
    if (!target) return undefined;
    const tsf = parseSource(target.file, target.text);
    const fn = tsf.getFunction(named.getName());
    return fn ? { fn, file: target.file, text: target.text, sf: tsf } : undefined;
  }
  return undefined;
}

function readRelative(fromFile: string, spec: string): { file: string; text: string } | undefined {
  const base = resolve(dirname(fromFile), spec).replace(/\.[cm]?js$/, '');
  for (const ext of ['.ts', '.mts', '.tsx']) {
    const p = base + ext;
    if (existsSync(p)) return { file: p, text: readFileSync(p, 'utf8') };
    // Embedded by the esbuild plugin under a root-relative path.
    for (const [file, text] of registeredSources()) if (p.endsWith(file)) return { file, text };
  }
  return undefined;
}

function hashText(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

export { Node, SyntaxKind };
