// Compiles one specialization of a kernel: source → block IR → target-independent passes.
// Backends take the optimized module from here.
import type { Module } from './ir/ir.js';
import { parseSource, findFunctions, type KernelFunction } from './frontend/parse.js';
import { declaredParams, ParamAnnotationError, type DeclaredParam } from './frontend/params.js';
import { generateIR, type BoundParam } from './frontend/codegen.js';
import { CompilationError } from './frontend/errors.js';
import { runStages, IR_STAGES, type DumpOption, type StageDump } from './pipeline.js';
import { IRVerifyError } from './ir/verifier.js';
import type { SourceFileText } from './source/locate.js';

/** A kernel function found in its source file, with its parameters' declared kinds. */
export interface KernelDefinition {
  readonly name: string;
  readonly source: SourceFileText;
  readonly fn: KernelFunction;
  readonly params: readonly DeclaredParam[];
}

export function defineKernel(name: string, source: SourceFileText, extraConstexprs: readonly string[] = []): KernelDefinition {
  const sf = parseSource(source.file, source.text);
  const fns = findFunctions(sf, name);
  if (fns.length === 0) throw new CompilationError(name, undefined, `no function named '${name}' in ${source.file}`);
  if (fns.length > 1) {
    const fn = fns[1]!;
    const { line, column } = sf.getLineAndColumnAtPos(fn.getStart());
    throw new CompilationError(name, { file: source.file, line, col: column }, `${fns.length} functions are named '${name}' in this file; kernel names must be unique`, source.text);
  }
  const fn = fns[0]!;
  try {
    return { name, source, fn, params: declaredParams(fn, extraConstexprs) };
  } catch (e) {
    if (!(e instanceof ParamAnnotationError)) throw e;
    const { line, column } = sf.getLineAndColumnAtPos(e.node.getStart());
    throw new CompilationError(name, { file: source.file, line, col: column }, e.message, source.text, e.node.getWidth());
  }
}

export interface CompileResult {
  readonly module: Module;
  readonly stages: readonly StageDump[];
}

export function compileToIR(def: KernelDefinition, params: readonly BoundParam[], dump?: DumpOption): CompileResult {
  const module = generateIR({ kernelName: def.name, fn: def.fn, file: def.source.file, text: def.source.text, sf: def.fn.getSourceFile(), params });
  try {
    const stages = runStages(module, IR_STAGES, dump);
    return { module, stages };
  } catch (e) {
    if (e instanceof IRVerifyError) throw new CompilationError(def.name, undefined, `internal compiler error: ${e.message}`);
    throw e;
  }
}

export type { BoundParam, DeclaredParam, DumpOption };
