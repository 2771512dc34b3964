// A compiled specialization of a kernel, as cached by the JIT.
import type { Module } from '../compiler/ir/ir.js';
import type { StageDump } from '../compiler/pipeline.js';
import type { BoundParam } from '../compiler/compile.js';

export interface CompiledKernel {
  readonly name: string;
  /** (source hash, signature, constexprs, target, options): what the cache is keyed by. */
  readonly key: string;
  readonly params: readonly BoundParam[];
  readonly module: Module;
  /** The IR after each stage, for dumps and tests. */
  readonly stages: readonly StageDump[];
  readonly sourceText: string;
  /** Backend artifacts by target (PTX text, WGSL text) filled by device runtimes. */
  readonly artifacts: Map<string, unknown>;
}
