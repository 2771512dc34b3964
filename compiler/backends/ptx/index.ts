// The PTX backend's entry: optimized block IR → layouts → thread program → PTX text.
import type { Module } from '../../ir/ir.js';

/** How one kernel parameter is passed to cuLaunchKernel (one 8-byte-aligned slot each). */
export type PtxParam =
  | { readonly name: string; readonly kind: 'ptr' }
  | { readonly name: string; readonly kind: 'scalar'; readonly type: 's32' | 'u32' | 's64' | 'f32' | 'f64' | 'u8' | 's8' | 'pred' };

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
}

export interface PtxOptions {
  readonly numWarps: number;
  /** 'sm_80' (default) or 'sm_90' / 'sm_90a' for Hopper-only features. */
  readonly arch?: 'sm_80' | 'sm_90' | 'sm_90a';
}

export function lowerToPtx(module: Module, options: PtxOptions): PtxKernel {
  void module;
  void options;
  throw new Error('PTX backend: not implemented yet');
}
