// The PTX backend: optimized block IR → layouts → thread program → PTX text, as named stages that
// can each be dumped (stages 'rematerialize', 'layouts', 'insert-conversions', 'remove-conversions', 'threads', 'ptx';
// see compiler/pipeline.ts).
import type { Module } from '../../ir/ir.js';
import { assignLayouts } from '../../layouts/assign.js';
import { rematerializeBroadcastSources } from '../../layouts/rematerialize.js';
import { insertLayoutConversions } from '../../layouts/insert-conversions.js';
import { removeLayoutConversions } from '../../layouts/remove-conversions.js';
import { cloneModule } from '../../ir/clone.js';
import { verifyModule } from '../../ir/verifier.js';
import { printModule } from '../../ir/printer.js';
import { emitDump, type DumpOption } from '../../pipeline.js';
import { lowerToThreads, type ThreadLoweringOptions } from '../../threads/lower.js';
import { renderPtx, ptxName } from './render.js';
import { printThreadProgram, type ThreadProgram } from '../../threads/thread-ir.js';

/** How one kernel parameter is passed to cuLaunchKernel (one 8-byte slot each). */
export type PtxParam =
  | { readonly name: string; readonly kind: 'ptr' }
  | { readonly name: string; readonly kind: 'scalar'; readonly type: 's32' | 'u32' | 's64' | 'u64' | 'f32' | 'f64' };

export interface PtxKernel {
  readonly ptx: string;
  /** The .entry name inside the PTX. */
  readonly entry: string;
  /** Dynamic shared memory the launch must request, in bytes. */
  readonly sharedBytes: number;
  /** Threads per CTA (32 × numWarps). */
  readonly threads: number;
  /** Parameters in order (constexprs are baked in and absent). */
  readonly params: readonly PtxParam[];
  /** The thread program the PTX prints, for the CPU simulator. */
  readonly program: ThreadProgram;
}

/** 'sm_80' (default), 'sm_90', or 'sm_90a' for Hopper's arch-specific features (wgmma products). */
export type PtxArch = 'sm_80' | 'sm_90' | 'sm_90a';

export interface PtxOptions {
  readonly numWarps: number;
  readonly arch?: PtxArch;
  readonly dump?: DumpOption;
  /** 1: no software pipelining; 2 or more (the default): tiles double-buffered across loop iterations. */
  readonly numStages?: number;
  /** `.minnctapersm`: programs per multiprocessor ptxas keeps registers for. */
  readonly minBlocksPerSM?: number;
  /** Options of the thread lowering (the WGSL backend, which prints the same thread program, sets its own). */
  readonly threads?: ThreadLoweringOptions;
}

export function lowerToPtx(module: Module, options: PtxOptions): PtxKernel {
  // Layouts and conversions are specific to this warp count: work on a copy of the module.
  const m = cloneModule(module);
  const kernel = m.kernel;
  const stage = (name: string, run: () => void): void => {
    run();
    verifyModule(m);
    emitDump(kernel.name, name, printModule(m, { layouts: true }), options.dump);
  };
  stage('rematerialize', () => rematerializeBroadcastSources(kernel));
  stage('layouts', () => assignLayouts(kernel, options.numWarps));
  stage('insert-conversions', () => insertLayoutConversions(kernel, options.numWarps));
  stage('remove-conversions', () => removeLayoutConversions(kernel));
  // cp.async is PTX's: a caller that brings its own thread options (the WGSL backend) opts in explicitly.
  // wgmma needs sm_90a (Hopper's arch-specific features); elsewhere tensor-core dots are mma.sync.
  const program = lowerToThreads(kernel, options.numWarps, {
    vectorize: true, asyncCopies: options.threads === undefined, pipeline: (options.numStages ?? 2) >= 2,
    wgmma: options.threads === undefined && options.arch === 'sm_90a', wideAddressing: options.threads === undefined, ...options.threads,
  });
  emitDump(kernel.name, 'threads', printThreadProgram(program), options.dump);
  const ptx = renderPtx(program, { arch: options.arch ?? 'sm_80', minBlocksPerSM: options.minBlocksPerSM });
  emitDump(kernel.name, 'ptx', ptx, options.dump);
  return {
    ptx,
    entry: ptxName(kernel.name),
    sharedBytes: program.sharedBytes,
    threads: program.threads,
    params: program.params.map((p) => (p.isPointer ? { name: p.name, kind: 'ptr' } : { name: p.name, kind: 'scalar', type: p.type as 's32' })),
    program,
  };
}
