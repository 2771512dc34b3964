// The thread program, shared by the GPU backends: what one GPU thread executes, as a list of scalar instructions on typed virtual
// registers with structured (CTA-uniform) loops and branches. Block IR is lowered into it using the
// layouts; the PTX renderer prints it and the CPU simulator runs it with every thread of a CTA explicit.

export type RegType = 'pred' | 's32' | 'u32' | 's64' | 'u64' | 'f32' | 'f64';
/** How a value is stored in memory; loads and stores convert between it and the register type. */
export type MemType = 'f64' | 'f32' | 'f16' | 'bf16' | 's64' | 'u64' | 's32' | 'u32' | 's8' | 'u8' | 'pred8';

export interface Reg {
  readonly kind: 'reg';
  readonly id: number;
  readonly type: RegType;
}
export interface Imm {
  readonly kind: 'imm';
  readonly value: number;
  readonly type: RegType;
}
export type Src = Reg | Imm;

export type BinaryFn = 'add' | 'sub' | 'mul' | 'div' | 'rem' | 'min' | 'max' | 'and' | 'or' | 'xor' | 'shl' | 'shr';
export type UnaryFn = 'neg' | 'not' | 'abs' | 'floor' | 'sqrt' | 'rsqrt' | 'ex2' | 'lg2' | 'sin' | 'cos' | 'rint';
export type CmpFn = 'lt' | 'le' | 'gt' | 'ge' | 'eq' | 'ne';
export type Special = 'tid' | 'ctaid.x' | 'ctaid.y' | 'ctaid.z' | 'nctaid.x' | 'nctaid.y' | 'nctaid.z';
/** Rounding of an f32 register to a narrower format, kept in the same register type. */
export type Narrow = 'f16' | 'bf16' | 's8' | 'u8';

export type Instr =
  | { readonly op: 'mov'; readonly dst: Reg; readonly src: Src }
  | { readonly op: 'special'; readonly dst: Reg; readonly which: Special }
  | { readonly op: 'param'; readonly dst: Reg; readonly index: number }
  | { readonly op: 'smem_base'; readonly dst: Reg }
  | { readonly op: 'binary'; readonly fn: BinaryFn; readonly dst: Reg; readonly a: Src; readonly b: Src }
  | { readonly op: 'unary'; readonly fn: UnaryFn; readonly dst: Reg; readonly a: Src }
  | { readonly op: 'fma'; readonly dst: Reg; readonly a: Src; readonly b: Src; readonly c: Src }
  /** dst = c + a · b with a s32 register sign-extended and dst, c 64-bit: a pointer plus a scaled i32 offset in one instruction. */
  | { readonly op: 'mad_wide'; readonly dst: Reg; readonly a: Reg; readonly b: number; readonly c: Reg }
  | { readonly op: 'setp'; readonly fn: CmpFn; readonly dst: Reg; readonly a: Src; readonly b: Src }
  | { readonly op: 'selp'; readonly dst: Reg; readonly a: Src; readonly b: Src; readonly cond: Reg }
  | { readonly op: 'cvt'; readonly dst: Reg; readonly src: Src }
  | { readonly op: 'narrow'; readonly to: Narrow; readonly dst: Reg; readonly src: Reg }
  /** Two f32 registers (holding f16/bf16 values) packed into one 32-bit register, `lo` in the low half. */
  | { readonly op: 'pack_half2'; readonly to: 'f16' | 'bf16'; readonly dst: Reg; readonly lo: Reg; readonly hi: Reg }
  /**
   * One warp-wide mma.sync.m16n8k16 with f32 accumulation: d = a·b + c, where a (4 packed registers),
   * b (2) and c, d (4 f32 each) are this lane's fragments in the layouts of compiler/layouts/mma.ts.
   */
  | { readonly op: 'mma'; readonly type: 'f16' | 'bf16'; readonly d: readonly Reg[]; readonly a: readonly Reg[]; readonly b: readonly Reg[]; readonly c: readonly Reg[] }
  /**
   * wgmma.mma_async (sm_90a), issued by a whole warpgroup (4 warps): d += A · B, where d holds this lane's
   * n/2 f32 accumulators of the warp's 16 rows of a 64×n tile (the mma accumulator layout, tiles in order
   * along n); A [64, 16] is `a`, this lane's 4 packed registers of the A fragment, or, with `aDesc`, read
   * from shared memory (K-major) as that descriptor says; B [16, n] is read from shared memory as the
   * matrix descriptor {descLo, descHi} says (compiler/layouts/wgmma.ts); `transB`: B is stored MN-major;
   * without `accumulate`, d = A · B (d's old values are not read).
   * Asynchronous: d is updated in place and may be read only after a wgmma_wait that covers it.
   */
  | { readonly op: 'wgmma'; readonly type: 'f16' | 'bf16'; readonly n: number; readonly d: readonly Reg[]; readonly a: readonly Reg[]; readonly aDesc?: { readonly lo: Reg; readonly hi: number }; readonly descLo: Reg; readonly descHi: number; readonly transB: boolean; readonly accumulate: boolean }
  /** Orders this thread's earlier register writes before the wgmmas that follow read them. */
  | { readonly op: 'wgmma_fence' }
  /** Closes a group of this warpgroup's wgmmas; wgmma_wait waits until at most `pending` groups are in flight. */
  | { readonly op: 'wgmma_commit' }
  | { readonly op: 'wgmma_wait'; readonly pending: number }
  /** Makes this thread's shared-memory writes (generic proxy) visible to the tensor cores' reads (async proxy). */
  | { readonly op: 'fence_proxy_async' }
  | { readonly op: 'ld'; readonly space: 'global' | 'shared'; readonly mem: MemType; readonly dst: Reg; readonly addr: Reg; readonly offset: number; readonly pred?: Reg }
  | { readonly op: 'st'; readonly space: 'global' | 'shared'; readonly mem: MemType; readonly src: Src; readonly addr: Reg; readonly offset: number; readonly pred?: Reg }
  /** A vector access of `regs.length` (2 or 4) consecutive elements at one aligned address. */
  | { readonly op: 'ldv'; readonly mem: MemType; readonly dsts: readonly Reg[]; readonly addr: Reg; readonly pred?: Reg }
  | { readonly op: 'stv'; readonly mem: MemType; readonly srcs: readonly Reg[]; readonly addr: Reg; readonly pred?: Reg }
  | { readonly op: 'atom_add'; readonly mem: MemType; readonly dst: Reg; readonly addr: Reg; readonly src: Src; readonly pred?: Reg }
  /**
   * cp.async: `bytes` (4, 8 or 16) of consecutive `mem` elements copied from global to shared memory
   * without passing through registers; zeros written instead where `pred` is false. The copies are
   * complete once a cp_async_wait has seen their group done (then a barrier makes them visible to the CTA).
   */
  | { readonly op: 'cp_async'; readonly mem: 'f16' | 'bf16'; readonly dst: Reg; readonly src: Reg; readonly bytes: 4 | 8 | 16; readonly pred?: Reg }
  /** Closes a group of this thread's cp_async copies (what a later wait counts). */
  | { readonly op: 'cp_async_commit' }
  /** Waits until at most `pending` of this thread's committed cp_async groups are still in flight. */
  | { readonly op: 'cp_async_wait'; readonly pending: number }
  | { readonly op: 'bar' }
  /**
   * ldmatrix.sync.aligned.m8n8.x{1,2,4}.shared.b16: lanes 8i..8i+7 give the row addresses of 8×8 matrix i;
   * dsts[i] receives this lane's two 16-bit elements of matrix i (transposed with `trans`).
   */
  | { readonly op: 'ldmatrix'; readonly dsts: readonly Reg[]; readonly addr: Reg; readonly trans: boolean }
  /** dst = src of the lane whose index differs from this one's by xor `laneMask` (a whole warp takes part). */
  | { readonly op: 'shfl_bfly'; readonly dst: Reg; readonly src: Reg; readonly laneMask: number }
  /**
   * Lane 0's src in every lane of the warp (shfl.sync.idx): for a value the same in all lanes, it tells
   * ptxas so, which may then keep what is computed from it in the warp's uniform registers.
   */
  | { readonly op: 'warp_broadcast'; readonly dst: Reg; readonly src: Reg }
  /** Stops the kernel with an error when `cond` is false in any thread. */
  | { readonly op: 'trap_unless'; readonly cond: Reg }
  | { readonly op: 'for'; readonly iv: Reg; readonly lb: Src; readonly ub: Src; readonly step: Src; readonly body: Instr[] }
  | { readonly op: 'if'; readonly cond: Reg; readonly then: Instr[]; readonly else: Instr[] }
  | { readonly op: 'comment'; readonly text: string };

export interface ThreadParam {
  readonly name: string;
  readonly type: 'u64' | RegType;
  readonly isPointer: boolean;
}

export interface ThreadProgram {
  readonly name: string;
  readonly threads: number;
  readonly params: readonly ThreadParam[];
  /** Bytes of dynamic shared memory. */
  readonly sharedBytes: number;
  /** Alignment the dynamic shared memory needs: 1024 where wgmma reads swizzled tiles, 16 when absent. */
  readonly sharedAlign?: number;
  readonly body: readonly Instr[];
  readonly regCount: number;
}

export const MEM_BYTES: Record<MemType, number> = { f64: 8, f32: 4, f16: 2, bf16: 2, s64: 8, u64: 8, s32: 4, u32: 4, s8: 1, u8: 1, pred8: 1 };

export const imm = (value: number, type: RegType): Imm => ({ kind: 'imm', value, type });

/** Creates registers and appends instructions to the current list. */
export class ThreadBuilder {
  private nextReg = 0;
  out: Instr[] = [];
  reg(type: RegType): Reg {
    return { kind: 'reg', id: this.nextReg++, type };
  }
  get regCount(): number {
    return this.nextReg;
  }
  emit(i: Instr): void {
    this.out.push(i);
  }
  /** Runs `f` with instructions going to a fresh list, which it returns. */
  nested(f: () => void): Instr[] {
    const saved = this.out;
    this.out = [];
    try {
      f();
      return this.out;
    } finally {
      this.out = saved;
    }
  }
  binary(fn: BinaryFn, a: Src, b: Src, type: RegType = a.type): Reg {
    const dst = this.reg(type);
    this.emit({ op: 'binary', fn, dst, a, b });
    return dst;
  }
  unary(fn: UnaryFn, a: Src, type: RegType = a.type): Reg {
    const dst = this.reg(type);
    this.emit({ op: 'unary', fn, dst, a });
    return dst;
  }
  setp(fn: CmpFn, a: Src, b: Src): Reg {
    const dst = this.reg('pred');
    this.emit({ op: 'setp', fn, dst, a, b });
    return dst;
  }
  selp(a: Src, b: Src, cond: Reg, type: RegType = a.type): Reg {
    const dst = this.reg(type);
    this.emit({ op: 'selp', dst, a, b, cond });
    return dst;
  }
  cvt(src: Src, type: RegType): Reg {
    if (src.type === type && src.kind === 'reg') return src;
    const dst = this.reg(type);
    this.emit({ op: 'cvt', dst, src });
    return dst;
  }
  mov(src: Src, type: RegType = src.type): Reg {
    const dst = this.reg(type);
    this.emit({ op: 'mov', dst, src });
    return dst;
  }
}

/** Text form of a thread program, for dumps. */
export function printThreadProgram(p: ThreadProgram): string {
  const lines = [`thread program @${p.name} threads=${p.threads} shared=${p.sharedBytes}B regs=${p.regCount}`];
  const s = (x: Src): string => (x.kind === 'reg' ? `%${x.type}${x.id}` : `${x.value}`);
  const walk = (body: readonly Instr[], ind: string): void => {
    for (const i of body) {
      switch (i.op) {
        case 'for':
          lines.push(`${ind}for ${s(i.iv)} = ${s(i.lb)} to ${s(i.ub)} step ${s(i.step)} {`);
          walk(i.body, ind + '  ');
          lines.push(`${ind}}`);
          break;
        case 'if':
          lines.push(`${ind}if ${s(i.cond)} {`);
          walk(i.then, ind + '  ');
          lines.push(`${ind}} else {`);
          walk(i.else, ind + '  ');
          lines.push(`${ind}}`);
          break;
        case 'comment':
          lines.push(`${ind}// ${i.text}`);
          break;
        default: {
          const { op, ...rest } = i;
          const fields = Object.entries(rest).map(([k, v]) => `${k}=${Array.isArray(v) ? `{${v.map((x) => s(x as Src)).join(',')}}` : typeof v === 'object' && v !== null && 'kind' in v ? s(v as Src) : String(v)}`);
          lines.push(`${ind}${op} ${fields.join(' ')}`);
        }
      }
    }
  };
  walk(p.body, '  ');
  return lines.join('\n') + '\n';
}
