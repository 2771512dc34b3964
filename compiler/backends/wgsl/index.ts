// The WGSL backend: optimized block IR → layouts → thread program → WGSL text, as named stages that
// can each be dumped (stages 'layouts', 'threads', 'wgsl'; see compiler/pipeline.ts). The thread
// program is the one the PTX backend prints (compiler/threads); render.ts prints it as WGSL.
// With `dump: true` every stage but the unused 'ptx' text is dumped.
import { basename } from 'node:path';
import type { Module } from '../../ir/ir.js';
import type { DType } from '../../ir/dtype.js';
import { emitDump, type DumpOption } from '../../pipeline.js';
import { lowerToPtx } from '../ptx/index.js';
import type { ThreadProgram } from '../../threads/thread-ir.js';
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
  /** Bytes of workgroup memory the shader declares. */
  readonly sharedBytes: number;
  /** The thread program the WGSL prints. */
  readonly program: ThreadProgram;
}

export interface WgslOptions {
  readonly numWarps: number;
  /** Device features the shader may use (shader-f16). */
  readonly features?: WgslFeatures;
  readonly dump?: DumpOption;
}

export function lowerToWgsl(module: Module, options: WgslOptions): WgslKernel {
  const kernel = module.kernel;
  // The layouts → thread program stages are the PTX backend's (dumped under their names: 'layouts', the
  // layout-conversion stages, 'threads'); only the rendering differs. The PTX text it also prints is
  // not used (and dumped only when asked for).
  const dump = options.dump === true ? ['layouts', 'insert-conversions', 'remove-conversions', 'threads'] : options.dump;
  const { program } = lowerToPtx(module, { numWarps: options.numWarps, dump });
  const pointees = kernel.params.map((p): DType | undefined => (p.value.type.elem.kind === 'ptr' ? p.value.type.elem.pointee : undefined));
  const r = renderWgsl(program, { features: options.features ?? {}, pointees, sourceFile: kernel.loc ? basename(kernel.loc.file) : undefined });
  emitDump(kernel.name, 'wgsl', r.wgsl, options.dump);
  return { ...r, workgroupSize: program.threads, sharedBytes: Math.ceil(program.sharedBytes / 4) * 4, program };
}
