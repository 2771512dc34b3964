// The WGSL backend: optimized block IR → layouts → thread program → WGSL text, as named stages that
// can each be dumped (stages 'layouts', 'threads', 'wgsl'; see compiler/pipeline.ts). The thread
// program is the one the PTX backend prints (compiler/threads); render.ts prints it as WGSL.
// With `dump: true` every stage but the unused 'ptx' text is dumped.
//
// What differs from the PTX backend's thread program: f16/bf16 dots run on FMA (fma-dots.ts; WebGPU
// has no tensor cores) and FMA dots stay loops over K (threads/dot-loop.ts), because shader compilers
// such as llvmpipe's take minutes over the fully unrolled form; comments name the kernel's source lines.
import { basename } from 'node:path';
import type { Module } from '../../ir/ir.js';
import type { DType } from '../../ir/dtype.js';
import { cloneModule } from '../../ir/clone.js';
import { emitDump, type DumpOption } from '../../pipeline.js';
import { lowerToPtx } from '../ptx/index.js';
import type { ThreadProgram } from '../../threads/thread-ir.js';
import { sourceComments, sourceLineReader } from '../../threads/source-comments.js';
import { dotsOnFma } from './fma-dots.js';
import { renderWgsl, type UniformLayout, type WgslBinding, type WgslFeatures } from './render.js';

export { WgslLoweringError, type WgslBinding, type UniformLayout, type UniformField, type WgslFeatures, type StorageRep } from './render.js';

export interface WgslKernel {
  readonly wgsl: string;
  /** The compute entry point's name. */
  readonly entry: string;
  /** Invocations per workgroup (32 × numWarps), all along x. */
  readonly workgroupSize: number;
  /** Storage buffers (one per pointer parameter, in order) and the uniform buffer, all in group 0. */
  readonly bindings: readonly WgslBinding[];
  /** Where each scalar parameter goes in the uniform buffer (absent when there are none). */
  readonly uniformLayout: UniformLayout | undefined;
  /** Bytes of the thread program's shared memory (its `var<workgroup>` of shared tiles). */
  readonly sharedBytes: number;
  /** Bytes of workgroup memory the shader declares in all: the shared tiles, shuffle exchange slots and emulated-mma tiles. */
  readonly workgroupBytes: number;
  /** The thread program the WGSL prints. */
  readonly program: ThreadProgram;
}

export interface WgslOptions {
  readonly numWarps: number;
  /** Device features the shader may use (shader-f16, subgroups). */
  readonly features?: WgslFeatures;
  /**
   * f16/bf16 dots: 'fma' (the default) casts their operands to f32 and runs FMA loops; 'emulate' keeps
   * the tensor-core thread program and emulates mma.sync and ldmatrix through workgroup memory.
   */
  readonly tensorCores?: 'fma' | 'emulate';
  /** Source texts by file name, for the source-line comments (else read from the embedded sources or disk). */
  readonly sources?: Readonly<Record<string, string>>;
  readonly dump?: DumpOption;
}

export function lowerToWgsl(module: Module, options: WgslOptions): WgslKernel {
  const kernel = module.kernel;
  // The layouts → thread program stages are the PTX backend's (dumped under their names: 'layouts', the
  // layout-conversion stages, 'threads'); only the rendering differs. The PTX text it also prints is
  // not used (and dumped only when asked for).
  const dump = options.dump === true ? ['layouts', 'insert-conversions', 'remove-conversions', 'threads'] : options.dump;
  let m = module;
  if ((options.tensorCores ?? 'fma') === 'fma') {
    m = cloneModule(module);
    dotsOnFma(m);
  }
  const threads = { dotLoops: true, sourceComments: sourceComments(sourceLineReader(options.sources)) };
  const { program } = lowerToPtx(m, { numWarps: options.numWarps, dump, threads });
  const pointees = kernel.params.map((p): DType | undefined => (p.value.type.elem.kind === 'ptr' ? p.value.type.elem.pointee : undefined));
  const r = renderWgsl(program, { features: options.features ?? {}, pointees, sourceFile: kernel.loc ? basename(kernel.loc.file) : undefined });
  emitDump(kernel.name, 'wgsl', r.wgsl, options.dump);
  return { ...r, workgroupSize: program.threads, sharedBytes: Math.ceil(program.sharedBytes / 4) * 4, program };
}
