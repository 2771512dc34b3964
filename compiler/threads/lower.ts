// Lowers the optimized block IR of a kernel to a thread program (shared by the PTX and WGSL backends). Each block value lives in registers
// as its layout says; elementwise ops work register by register; ops that move elements between
// threads (broadcast, transpose, reductions, dot) gather them through shared memory unless the layouts
// make the move thread-local. Control flow is CTA-uniform (its conditions are scalars).
import { walkOps, type Block, type Func, type Op, type Value } from '../ir/ir.js';
import type { DType } from '../ir/dtype.js';
import { DTYPE_INFO } from '../ir/dtype.js';
import { roundTo } from '../ir/semantics.js';
import { dtypeOf, isPointer, numel } from '../ir/types.js';
import { opcodeInfo, type BinaryOpcode, type CmpPredicate, type ReduceKind, type UnaryOpcode } from '../ir/ops.js';
import { type DistributedLayout, linearize, replicationMask, rowMajorStrides, tableLayout } from '../layouts/layout.js';
import { layoutOf, usesTensorCores } from '../layouts/assign.js';
import { computeAxisInfo, type AxisInfo } from '../analysis/axis-info.js';
import { mmaOperandALayout, mmaOperandBLayout, mmaTiling, type MmaTiling } from '../layouts/mma.js';
import { swizzledLayout, describeShared, type SharedLayout } from '../layouts/shared.js';
import { WGMMA_TILE_ALIGN, wgmmaDescriptor, wgmmaEligible, wgmmaPlace, wgmmaSharedLayout, wgmmaTile, wgmmaTileBytes, type WgmmaTile } from '../layouts/wgmma.js';
import { isCheapOp } from '../layouts/rematerialize.js';
import {
  ThreadBuilder, imm, type Instr, type MemType, type Narrow, type Reg, type RegType, type ThreadParam, type ThreadProgram, MEM_BYTES,
} from './thread-ir.js';
import { emitDotLoop } from './dot-loop.js';
import type { SourceCommenter } from './source-comments.js';

/**
 * A loop whose cp.async operand tiles are double-buffered: while iteration i works on one buffer,
 * the copies for iteration i + 1 fill the other (FlashAttention's and Triton's software pipelining,
 * numStages = 2). Each load's address and mask come from cheap ops of the loop's induction variable
 * and loop-invariant values, which are lowered again for the next iteration.
 */
interface Pipeline {
  readonly loads: readonly Op[];
  /** The body ops each load's address and mask need, in body order. */
  readonly chains: ReadonlyMap<Op, readonly Op[]>;
  /** Byte offset of each load's tile within one stage, and the bytes of one stage. */
  readonly offsets: ReadonlyMap<Op, number>;
  readonly stageBytes: number;
}
interface ActivePipeline {
  readonly plan: Pipeline;
  readonly stage: Reg;
  readonly iv: Value;
  readonly ivReg: Reg;
  readonly ub: Reg;
  readonly step: Reg;
  /** Whether this iteration has waited for its tiles and issued the next iteration's (at its first tile). */
  synced: boolean;
}

/**
 * Where the elements of an operand tile [rows, cols] go in shared memory: (row, col) placed at (row', col')
 * of the swizzled layout `sh` (the identity for ldmatrix tiles; column blocks for wgmma tiles).
 */
interface TileMap {
  readonly sh: SharedLayout;
  readonly place: (row: number, col: number) => { row: number; col: number };
  readonly wgmma?: WgmmaTile;
}
const plainTileMap = (rows: number, cols: number): TileMap => ({ sh: swizzledLayout(rows, cols, 2), place: (row, col) => ({ row, col }) });
const wgmmaTileMap = (t: WgmmaTile): TileMap => ({ sh: wgmmaSharedLayout(t), place: (row, col) => wgmmaPlace(t, row, col), wgmma: t });

/** Where a tensor-core operand tile comes from: registers, or a load left for cp.async. */
type OperandSource = { readonly kind: 'regs'; readonly lowered: Lowered } | { readonly kind: 'load'; readonly load: Op };

interface Lowered {
  readonly layout: DistributedLayout;
  readonly regs: readonly Reg[];
  /** Dot-operand fragments loaded by ldmatrix: each register packs two f16/bf16 elements. */
  readonly packed?: boolean;
  /**
   * Packed fragments read on demand (fragment j = step (tile, k-step) of the operand) right before the
   * mma that uses them, so that few are live at once; `regs` is then empty.
   */
  readonly fetch?: (j: number) => readonly Reg[];
  /** An operand left in shared memory for wgmma: its tile and the tile's shared address; `regs` is then empty. */
  readonly wgmma?: { readonly tile: WgmmaTile; readonly base: Reg };
}

export class ThreadLoweringError extends Error {}

export function regTypeOf(d: DType): RegType {
  switch (d) {
    case 'f64': return 'f64';
    case 'f32': case 'f16': case 'bf16': return 'f32';
    case 'i64': return 's64';
    case 'i32': case 'i8': return 's32';
    case 'u32': case 'u8': return 'u32';
    case 'i1': return 'pred';
  }
}
export function memTypeOf(d: DType): MemType {
  switch (d) {
    case 'f64': return 'f64';
    case 'f32': return 'f32';
    case 'f16': return 'f16';
    case 'bf16': return 'bf16';
    case 'i64': return 's64';
    case 'i32': return 's32';
    case 'u32': return 'u32';
    case 'i8': return 's8';
    case 'u8': return 'u8';
    case 'i1': return 'pred8';
  }
}
const narrowOf = (d: DType): Narrow | undefined => (d === 'f16' || d === 'bf16' || d === 'u8' ? d : d === 'i8' ? 's8' : undefined);
const smemTypeOf = (t: RegType): MemType => (t === 'pred' ? 'pred8' : t);
const valueRegType = (v: Value): RegType => (isPointer(v.type) ? 'u64' : regTypeOf(dtypeOf(v.type)));

export interface ThreadLoweringOptions {
  /** Use 2- and 4-wide vector loads and stores where axis info proves them aligned (PTX). */
  readonly vectorize?: boolean;
  /**
   * Copy f16/bf16 tiles that are only read as tensor-core operands straight from global to shared
   * memory with cp.async (PTX, sm_80+), instead of through registers.
   */
  readonly asyncCopies?: boolean;
  /** Double-buffer the cp.async tiles of loops (software pipelining; needs asyncCopies). */
  readonly pipeline?: boolean;
  /** Run tensor-core dots that fit them as Hopper warpgroup products, B read from shared memory (PTX for sm_90a). */
  readonly wgmma?: boolean;
  /** A pointer plus an i32 offset as one widening multiply-add (PTX mad.wide.s32) instead of convert, multiply and add. */
  readonly wideAddressing?: boolean;
  /** Keep FMA dot products as loops over K instead of unrolling them (WGSL: shader compilers are slow on unrolled code). */
  readonly dotLoops?: boolean;
  /** Comments naming the kernel source line of the ops that follow, where it changes (one per lowering). */
  readonly sourceComments?: SourceCommenter;
}

export function lowerToThreads(kernel: Func, numWarps: number, options: ThreadLoweringOptions = {}): ThreadProgram {
  return new ThreadLowering(kernel, numWarps, options).run();
}

class ThreadLowering {
  private readonly tb = new ThreadBuilder();
  private readonly prologue: Instr[] = [];
  private readonly threads: number;
  private readonly env = new Map<Value, Lowered>();
  private readonly tidTerms = new Map<string, Reg>();
  private tid!: Reg;
  private smemBase!: Reg;
  private sharedBytes = 0;

  private readonly axis: Map<Value, AxisInfo> | undefined;
  /** The ops that use each value (to see that a transpose only feeds tensor-core operands). */
  private readonly users = new Map<Value, Op[]>();
  /** The innermost loop around each op (undefined outside every loop), and the op whose region has each block argument. */
  private readonly loopOf = new Map<Op, Op | undefined>();
  private readonly argOwner = new Map<Value, Op>();
  /** Transposes left unperformed: their source, stored untransposed, is read by ldmatrix without .trans. */
  private readonly deferredTrans = new Map<Value, OperandSource>();
  /** Loads left unperformed: their tile is copied to shared memory by cp.async where it is needed. */
  private readonly deferredLoads = new Map<Value, Op>();
  private readonly pipelines = new Map<Op, Pipeline>();
  /** Shared memory for the pipelines' buffers, below the scratch region that `smemBase` starts. */
  private pipelineBytes = 0;
  private pipeBase!: Reg;
  private activePipeline: ActivePipeline | undefined;
  /**
   * wgmma B tiles not in a pipeline buffer: each conversion has its own slot, above the scratch region
   * (the tile must survive until its product, past other conversions that reuse scratch).
   */
  private readonly wgmmaSlots = new Map<Op, number>();
  private wgmmaBytes = 0;
  private wgmmaBase: Reg | undefined;
  private usesWgmma = false;
  /**
   * wgmma groups committed and not yet waited for, oldest first, by the registers they write or read
   * as A fragments. A product's
   * wait is deferred to the first op that reads those registers (wait_group for just that group), so
   * later work overlaps it: attention's P·V runs on the tensor cores during the next scores' softmax.
   * Every group is waited for before the end of a loop body (the next iteration refills the stage
   * buffers), before a loop, and at the end of the kernel.
   */
  private pendingWgmma: Set<Reg>[] = [];
  /**
   * wgmma products whose result a loop carries to its next iteration, with the carried registers: the
   * product accumulates in them, so the loop needs no copy of its accumulator per iteration (ptxas did
   * not coalesce that copy: 32 moves per key block of attention).
   */
  private readonly accumulateInto = new Map<Op, readonly Reg[]>();

  constructor(private readonly kernel: Func, numWarps: number, private readonly options: ThreadLoweringOptions) {
    this.threads = 32 * numWarps;
    this.axis = options.vectorize ? computeAxisInfo(kernel) : undefined;
    walkOps(kernel.body, (op) => op.operands.forEach((v) => this.users.set(v, [...(this.users.get(v) ?? []), op])));
    const enclose = (b: Block, loop: Op | undefined): void => b.ops.forEach((op) => {
      this.loopOf.set(op, loop);
      op.regions.forEach((r) => {
        r.args.forEach((a) => this.argOwner.set(a, op));
        enclose(r, op.opcode === 'for' ? op : loop);
      });
    });
    enclose(kernel.body, undefined);
    this.planPipelines();
  }

  /** Finds innermost loops whose cp.async tiles can be prefetched one iteration ahead. */
  private planPipelines(): void {
    if (!this.options.asyncCopies || !this.options.pipeline) return;
    walkOps(this.kernel.body, (loop) => {
      if (loop.opcode !== 'for') return;
      const body = loop.regions[0]!;
      if (body.ops.some((o) => o.opcode === 'for')) return; // innermost loops only (branches are fine)
      const iv = body.args[0]!;
      const inBody = new Set(body.ops.flatMap((o) => o.results));
      const chainOf = (load: Op): Op[] | undefined => {
        const need = new Set<Op>();
        const ok = (v: Value): boolean => {
          if (v === iv || (!inBody.has(v) && !body.args.includes(v))) return true;
          const d = v.def;
          if (!d || !inBody.has(v)) return false; // a loop-carried value
          if (need.has(d)) return true;
          if (!isCheapOp(d)) return false;
          need.add(d);
          return d.operands.every(ok);
        };
        return load.operands.every(ok) ? body.ops.filter((o) => need.has(o)) : undefined;
      };
      // The one conversion that reads a load's tile (through a transpose or not), by its place in the body.
      const consumer = (load: Op): number => {
        let uses = this.users.get(load.result) ?? [];
        if (uses.length === 1 && uses[0]!.opcode === 'trans') uses = this.users.get(uses[0]!.result) ?? [];
        return uses.length === 1 ? body.ops.indexOf(uses[0]!) : -1;
      };
      const chains = new Map<Op, Op[]>(), offsets = new Map<Op, number>();
      let stageBytes = 0, stageAlign = 128;
      for (const op of body.ops) {
        if (op.opcode !== 'load' || !this.canCopyAsync(op) || consumer(op) < 0) continue;
        const chain = chainOf(op);
        if (!chain) continue;
        chains.set(op, chain);
        // wgmma tiles start on whole swizzle patterns; the others on 128 bytes.
        const align = this.tileMapOf(op).wgmma ? WGMMA_TILE_ALIGN : 128;
        stageAlign = Math.max(stageAlign, align);
        const offset = Math.ceil(stageBytes / align) * align;
        offsets.set(op, offset);
        stageBytes = offset + numel(op.result.type.shape) * 2;
      }
      stageBytes = Math.ceil(stageBytes / stageAlign) * stageAlign;
      if (!chains.size) return;
      // Groups are committed, and so waited for, in the order the tiles are read.
      const loads = [...chains.keys()].sort((a, b) => consumer(a) - consumer(b));
      this.pipelines.set(loop, { loads, chains, offsets, stageBytes });
      this.pipelineBytes = Math.max(this.pipelineBytes, 2 * stageBytes);
    });
  }

  /**
   * Whether a load can be left to cp.async: 16-bit elements, zeros (or nothing) where masked, and read
   * only as a tensor-core operand (possibly through a transpose).
   */
  private canCopyAsync(op: Op): boolean {
    if (!this.options.asyncCopies) return false;
    const d = dtypeOf(op.result.type);
    if ((d !== 'f16' && d !== 'bf16') || op.result.type.shape.length !== 2) return false;
    if (op.attrs['hasOther'] === true) {
      const other = op.operands[op.attrs['hasMask'] === true ? 2 : 1]!.def;
      if (other?.opcode !== 'constant' || other.attrs['value'] !== 0) return false;
    }
    const uses = this.users.get(op.result) ?? [];
    const viaTrans = uses.length === 1 && uses[0]!.opcode === 'trans' && this.onlyFeedsMmaOperands(uses[0]!.result);
    return (viaTrans || this.onlyFeedsMmaOperands(op.result)) && this.vectorWidth(op.operands[0]!, op.attrs['hasMask'] === true ? op.operands[1] : undefined, 2) >= 2;
  }

  /** Whether a value's only uses are conversions to f16/bf16 mma operands (read through shared memory). */
  private onlyFeedsMmaOperands(v: Value): boolean {
    const uses = this.users.get(v) ?? [];
    return uses.length > 0 && uses.every((u) => this.isMmaOperandConversion(u));
  }
  private isMmaOperandConversion(u: Op): boolean {
    if (u.opcode !== 'convert_layout') return false;
    const d = dtypeOf(u.result.type);
    return !!layoutOf(u.result, this.threads).dotOperand && (d === 'f16' || d === 'bf16');
  }

  /**
   * How many consecutive registers of a load or store through `ptr` form one aligned vector access:
   * the layout must hold them as consecutive elements of the last axis, and axis info must prove the
   * addresses contiguous and aligned and the mask constant across them. 1 when nothing is proven.
   * At most 16 bytes and `maxElems` elements (4 for register vectors; a cp.async copies 8 halves).
   */
  private vectorWidth(ptr: Value, mask: Value | undefined, bytes: number, maxElems = 4): number {
    const info = this.axis?.get(ptr);
    const r = ptr.type.shape.length;
    if (!info || r === 0 || bytes === 1) return 1;
    const last = r - 1;
    let w = Math.min(16 / bytes, maxElems, info.contiguity[last]!, Math.floor(info.divisibility[last]! / bytes));
    if (mask) w = Math.min(w, this.axis!.get(mask)?.constancy[last] ?? 1);
    const l = layoutOf(ptr, this.threads);
    const fits = (w: number): boolean => {
      if (l.regs % w) return false;
      for (let t = 0; t < l.threads; t++)
        for (let k = 0; k < l.regs; k += w) {
          const e = l.table[t * l.regs + k]!;
          if (e % w) return false;
          for (let i = 1; i < w; i++) if (l.table[t * l.regs + k + i] !== e + i) return false;
        }
      return true;
    };
    while (w > 1 && !fits(w)) w /= 2;
    return Math.max(1, 2 ** Math.floor(Math.log2(Math.max(1, w))));
  }

  run(): ThreadProgram {
    const params: ThreadParam[] = [];
    this.tid = this.tb.reg('u32');
    this.pipeBase = this.tb.reg('u32');
    this.prologue.push({ op: 'special', dst: this.tid, which: 'tid' }, { op: 'smem_base', dst: this.pipeBase });
    this.smemBase = this.pipeBase;
    if (this.pipelineBytes) {
      this.smemBase = this.tb.reg('u32');
      this.prologue.push({ op: 'binary', fn: 'add', dst: this.smemBase, a: this.pipeBase, b: imm(this.pipelineBytes, 'u32') });
    }
    this.kernel.params.forEach((p, i) => {
      const ptr = isPointer(p.value.type);
      const d = ptr ? 'i64' : dtypeOf(p.value.type);
      const paramType: RegType = ptr ? 'u64' : d === 'i1' ? 'u32' : d === 'f16' || d === 'bf16' ? 'f32' : regTypeOf(d);
      params.push({ name: p.name, type: paramType, isPointer: ptr });
      const raw = this.tb.reg(paramType);
      this.prologue.push({ op: 'param', dst: raw, index: i });
      let reg = raw;
      if (d === 'i1') {
        reg = this.tb.reg('pred');
        this.prologue.push({ op: 'setp', fn: 'ne', dst: reg, a: raw, b: imm(0, 'u32') });
      }
      this.env.set(p.value, { layout: layoutOf(p.value, this.threads), regs: [reg] });
    });
    const body = this.tb.nested(() => {
      this.block(this.kernel.body);
      this.flushWgmma();
    });
    let sharedBytes = this.pipelineBytes + this.sharedBytes;
    if (this.wgmmaBase) {
      // The wgmma slots follow the scratch region, whose size is known only now, on a 1024-byte boundary.
      const slots = Math.ceil(sharedBytes / WGMMA_TILE_ALIGN) * WGMMA_TILE_ALIGN;
      this.prologue.push({ op: 'binary', fn: 'add', dst: this.wgmmaBase, a: this.pipeBase, b: imm(slots, 'u32') });
      sharedBytes = slots + this.wgmmaBytes;
    }
    return {
      name: this.kernel.name,
      threads: this.threads,
      params,
      sharedBytes,
      ...(this.usesWgmma ? { sharedAlign: WGMMA_TILE_ALIGN } : {}),
      body: [...this.prologue, ...body],
      regCount: this.tb.regCount,
    };
  }

  private get(v: Value): Lowered {
    const l = this.env.get(v);
    if (!l) throw new ThreadLoweringError(`internal: no registers for value %${v.name ?? v.id}`);
    return l;
  }
  private fail(op: Op, msg: string): never {
    const at = op.loc ? ` (${op.loc.file}:${op.loc.line}:${op.loc.col})` : '';
    throw new ThreadLoweringError(`GPU lowering: ${msg}${at}`);
  }

  private block(b: Block): Reg[][] {
    for (const op of b.ops) {
      if (op.opcode === 'yield' || op.opcode === 'return') return op.operands.map((v) => [...this.get(v).regs]);
      this.op(op);
    }
    return [];
  }

  private define(v: Value, regs: Reg[]): void {
    const layout = layoutOf(v, this.threads);
    if (regs.length !== layout.regs) throw new ThreadLoweringError(`internal: ${regs.length} registers for a layout of ${layout.regs}`);
    this.env.set(v, { layout, regs });
  }

  // ---------------------------------------------------------------- thread-id dependent terms
  /** A thread-id dependent value, computed by `make` in the prologue once per `key`. */
  private prologueTerm(key: string, make: () => Reg): Reg {
    let r = this.tidTerms.get(key);
    if (r) return r;
    const saved = this.tb.out;
    this.tb.out = this.prologue;
    try {
      r = make();
    } finally {
      this.tb.out = saved;
    }
    this.tidTerms.set(key, r);
    return r;
  }

  /**
   * warpgroup index (tid / 128) × `scale`, from a value ptxas knows is the same in every lane of a warp
   * (so what a wgmma descriptor computes from it can stay in uniform registers).
   */
  private warpgroupTerm(scale: number): Reg {
    return this.prologueTerm(`warpgroup*${scale}`, () => {
      const wg = this.tb.reg('u32');
      this.tb.emit({ op: 'warp_broadcast', dst: wg, src: this.tb.binary('shr', this.tid, imm(7, 'u32')) });
      return this.tb.binary('mul', wg, imm(scale, 'u32'));
    });
  }

  /** Σ_b bit_b(tid)·tidBit[b] (times `scale`), computed once in the prologue. */
  private tidTerm(tidBit: readonly number[], scale = 1, plusSmemBase = false): Reg {
    return this.prologueTerm(`${tidBit.join(',')}*${scale}${plusSmemBase ? '+smem' : ''}`, () => {
      let acc: Reg | undefined;
      const add = (x: Reg): void => {
        acc = acc ? this.tb.binary('add', acc, x) : x;
      };
      // Runs of consecutive bits whose contributions double are one shift, mask and multiply.
      let b = 0;
      while (b < tidBit.length) {
        const c = tidBit[b]! * scale;
        if (c === 0) { b++; continue; }
        let e = b + 1;
        while (e < tidBit.length && tidBit[e]! * scale === c * 2 ** (e - b)) e++;
        const shifted = b ? this.tb.binary('shr', this.tid, imm(b, 'u32')) : this.tid;
        const field = this.tb.binary('and', shifted, imm((1 << (e - b)) - 1, 'u32'));
        add(c === 1 ? field : this.tb.binary('mul', field, imm(c, 'u32')));
        b = e;
      }
      if (plusSmemBase) add(this.smemBase);
      return acc ?? this.tb.mov(imm(0, 'u32'));
    });
  }

  /** A predicate true in the one thread that owns each element of a replicated layout. */
  private ownerPredicate(l: DistributedLayout): Reg | undefined {
    const mask = replicationMask(l);
    if (mask === 0) return undefined;
    return this.prologueTerm(`owner:${mask}`, () => this.tb.setp('eq', this.tb.binary('and', this.tid, imm(mask, 'u32')), imm(0, 'u32')));
  }

  private linear(l: DistributedLayout, f: (t: number, k: number) => number, what: string) {
    const form = linearize(l.threads, l.regs, f);
    if (!form) throw new ThreadLoweringError(`internal: ${what} is not a linear function of the thread id (layout ${l.name})`);
    return form;
  }

  // ---------------------------------------------------------------- moving elements between threads
  /**
   * Registers of `dst` (a value of layout `dstLayout`) where dst element e equals src element
   * `srcIndex(e)`: register moves when every thread already holds what it needs, else through shared memory.
   */
  private gather(src: Lowered, dstLayout: DistributedLayout, srcIndex: (e: number) => number, what: string): Reg[] {
    const sl = src.layout, dl = dstLayout;
    const regs = this.localGather(src, dl, srcIndex);
    if (regs) return regs;
    const type = src.regs[0]!.type;
    const mem = smemTypeOf(type), bytes = MEM_BYTES[mem];
    this.reserveShared(numel(sl.shape) * bytes);
    this.tb.emit({ op: 'comment', text: `${what}: through shared memory` });
    this.storeToShared(src, 0);
    const form = this.linear(dl, (t, k) => srcIndex(dl.table[t * dl.regs + k]!), what);
    const base = this.tidTerm(form.tidBit, bytes, true);
    const out = form.regConst.map((c) => {
      const r = this.tb.reg(type);
      this.tb.emit({ op: 'ld', space: 'shared', mem, dst: r, addr: base, offset: c * bytes });
      return r;
    });
    return out;
  }

  private localGather(src: Lowered, dl: DistributedLayout, srcIndex: (e: number) => number): Reg[] | undefined {
    const sl = src.layout;
    const out: Reg[] = [];
    for (let k = 0; k < dl.regs; k++) {
      let found = -1;
      for (let k2 = 0; k2 < sl.regs && found < 0; k2++) {
        let ok = true;
        for (let t = 0; t < dl.threads && ok; t++) ok = sl.table[t * sl.regs + k2] === srcIndex(dl.table[t * dl.regs + k]!);
        if (ok) found = k2;
      }
      if (found < 0) return undefined;
      out.push(src.regs[found]!);
    }
    return out.map((r) => this.tb.mov(r));
  }

  /** bar; each thread writes its registers at their element index (× element size) from `byteOffset`; bar. */
  private storeToShared(src: Lowered, byteOffset: number): void {
    const l = src.layout;
    const mem = smemTypeOf(src.regs[0]!.type), bytes = MEM_BYTES[mem];
    const form = this.linear(l, (t, k) => l.table[t * l.regs + k]!, 'a shared-memory store');
    const base = this.tidTerm(form.tidBit, bytes, true);
    const owner = this.ownerPredicate(l);
    this.tb.emit({ op: 'bar' });
    form.regConst.forEach((c, k) => this.tb.emit({ op: 'st', space: 'shared', mem, src: src.regs[k]!, addr: base, offset: byteOffset + c * bytes, pred: owner }));
    this.tb.emit({ op: 'bar' });
  }

  private reserveShared(bytes: number): void {
    this.sharedBytes = Math.max(this.sharedBytes, Math.ceil(bytes / 16) * 16);
  }

  // ---------------------------------------------------------------- ops
  private op(op: Op): void {
    const note = this.options.sourceComments?.commentFor(op);
    if (note) this.tb.emit({ op: 'comment', text: note });
    if (this.pendingWgmma.length) {
      if (op.opcode === 'for') this.flushWgmma();
      else this.awaitWgmma((op.opcode === 'if' ? [op.operands[0]!, ...usedFromOutside(op)] : op.operands).flatMap((v) => this.env.get(v)?.regs ?? []));
    }
    const fam = opcodeInfo(op.opcode).family;
    if (fam === 'unary') return this.unaryOp(op);
    if (fam === 'binary') return this.binaryOp(op);
    switch (op.opcode) {
      case 'constant': return this.constant(op);
      case 'program_id': case 'num_programs': {
        const axis = ['x', 'y', 'z'][op.attrs['axis'] as number]!;
        const raw = this.tb.reg('u32');
        this.tb.emit({ op: 'special', dst: raw, which: `${op.opcode === 'program_id' ? 'ctaid' : 'nctaid'}.${axis}` as 'ctaid.x' });
        return this.define(op.result, [this.tb.cvt(raw, 's32')]);
      }
      case 'arange': {
        const l = layoutOf(op.result, this.threads);
        const form = this.linear(l, (t, k) => l.table[t * l.regs + k]!, 'arange');
        const base = this.tidTerm(form.tidBit);
        const start = op.attrs['start'] as number;
        return this.define(op.result, form.regConst.map((c) => this.tb.binary('add', this.tb.cvt(base, 's32'), imm(c + start, 's32'))));
      }
      case 'splat': {
        const s = this.get(op.operands[0]!).regs[0]!;
        return this.define(op.result, Array.from({ length: layoutOf(op.result, this.threads).regs }, () => this.tb.mov(s)));
      }
      case 'broadcast': {
        const src = op.operands[0]!.type.shape, dst = op.result.type.shape;
        const ss = rowMajorStrides(src), ds = rowMajorStrides(dst);
        const idx = (e: number): number => dst.reduce((acc, n, d) => acc + (src[d] === 1 ? 0 : (Math.floor(e / ds[d]!) % n) * ss[d]!), 0);
        return this.define(op.result, this.gather(this.get(op.operands[0]!), layoutOf(op.result, this.threads), idx, 'broadcast'));
      }
      case 'convert_layout': {
        const dst = layoutOf(op.result, this.threads);
        const d = dtypeOf(op.result.type);
        if (dst.dotOperand && (d === 'f16' || d === 'bf16')) {
          const src = op.operands[0]!;
          if (this.feedsWgmma(op) || this.feedsWgmmaA(op)) return void this.env.set(op.result, this.wgmmaOperand(op, dst));
          const transposed = this.deferredTrans.get(src);
          if (transposed) return void this.env.set(op.result, this.ldmatrixOperand(transposed, dst, d, true));
          const load = this.deferredLoads.get(src);
          if (load) return void this.env.set(op.result, this.ldmatrixOperand({ kind: 'load', load }, dst, d, false));
          // Where every thread already holds its fragment's elements (attention's P from the S
          // accumulator: FlashAttention-2's register-resident softmax) the conversion is register moves.
          const local = this.localGather(this.get(src), dst, (e) => e);
          if (local) return this.define(op.result, local);
          return void this.env.set(op.result, this.ldmatrixOperand({ kind: 'regs', lowered: this.get(src) }, dst, d, false));
        }
        return this.define(op.result, this.gather(this.get(op.operands[0]!), layoutOf(op.result, this.threads), (e) => e, `convert_layout to ${op.attrs['layout']}`));
      }
      case 'expand_dims': case 'reshape':
        return this.define(op.result, this.gather(this.get(op.operands[0]!), layoutOf(op.result, this.threads), (e) => e, op.opcode));
      case 'trans': {
        const perm = op.attrs['perm'] as number[];
        if (perm.length === 2 && perm[0] === 1 && this.onlyFeedsMmaOperands(op.result)) {
          const load = this.deferredLoads.get(op.operands[0]!);
          return void this.deferredTrans.set(op.result, load ? { kind: 'load', load } : { kind: 'regs', lowered: this.get(op.operands[0]!) });
        }
        const src = op.operands[0]!.type.shape, dst = op.result.type.shape;
        const ss = rowMajorStrides(src), ds = rowMajorStrides(dst);
        const idx = (e: number): number => dst.reduce((acc, n, d) => acc + (Math.floor(e / ds[d]!) % n) * ss[perm[d]!]!, 0);
        return this.define(op.result, this.gather(this.get(op.operands[0]!), layoutOf(op.result, this.threads), idx, 'trans'));
      }
      case 'cmp': return this.cmpOp(op);
      case 'select': return this.selectOp(op);
      case 'cast': return this.castOp(op);
      case 'addptr': return this.addptr(op);
      case 'load': return this.load(op);
      case 'store': case 'atomic_add': return this.store(op);
      case 'reduce': return this.reduce(op);
      case 'dot': return this.dot(op);
      case 'for': return this.forOp(op);
      case 'if': return this.ifOp(op);
      case 'print':
        this.tb.emit({ op: 'comment', text: `tl.print("${op.attrs['prefix']}") runs in the CPU interpreter only` });
        return;
      case 'assert':
        for (const r of this.get(op.operands[0]!).regs) this.tb.emit({ op: 'trap_unless', cond: r });
        return;
      default:
        this.fail(op, `no lowering for '${op.opcode}'`);
    }
  }

  private constant(op: Op): void {
    const l = layoutOf(op.result, this.threads);
    const d = dtypeOf(op.result.type);
    const t = regTypeOf(d);
    const v = roundTo(d, Number(op.attrs['value'])); // as the interpreter stores it
    const r = this.tb.mov(imm(v, t));
    this.define(op.result, Array.from({ length: l.regs }, (_, i) => (i === 0 ? r : this.tb.mov(r))));
  }

  /** Rounds f32 results of f16/bf16 (and i8/u8) values to their dtype, as the hardware would store them. */
  private narrow(r: Reg, d: DType): Reg {
    const to = narrowOf(d);
    if (!to) return r;
    const out = this.tb.reg(r.type);
    this.tb.emit({ op: 'narrow', to, dst: out, src: r });
    return out;
  }

  private unaryOp(op: Op): void {
    const d = dtypeOf(op.result.type);
    const x = this.get(op.operands[0]!);
    const f = op.opcode as UnaryOpcode;
    this.define(op.result, x.regs.map((r) => this.narrow(this.unaryReg(f, r, d), d)));
  }

  private unaryReg(f: UnaryOpcode, r: Reg, d: DType): Reg {
    const tb = this.tb;
    const t = r.type;
    const isF = t === 'f32' || t === 'f64';
    // Transcendentals use the f32 approximate instructions (f64 inputs are converted; docs/ptx-math.md).
    const f32 = (x: Reg): Reg => tb.cvt(x, 'f32');
    const back = (x: Reg): Reg => tb.cvt(x, t);
    switch (f) {
      case 'neg': return isF ? tb.unary('neg', r) : tb.binary('sub', imm(0, t), r);
      case 'not': return tb.unary('not', r);
      case 'abs': return tb.unary('abs', r);
      case 'floor': return tb.unary('floor', r);
      case 'sqrt': return tb.unary('sqrt', r);
      case 'rsqrt': return back(tb.unary('rsqrt', f32(r)));
      case 'exp2': return back(tb.unary('ex2', f32(r)));
      case 'exp': return back(tb.unary('ex2', tb.binary('mul', f32(r), imm(Math.LOG2E, 'f32'))));
      case 'log2': return back(tb.unary('lg2', f32(r)));
      case 'log': return back(tb.binary('mul', tb.unary('lg2', f32(r)), imm(Math.LN2, 'f32')));
      case 'sin': case 'cos': return back(tb.unary(f, this.reducePhase(f32(r))));
      case 'sigmoid': {
        const e = tb.unary('ex2', tb.binary('mul', f32(r), imm(-Math.LOG2E, 'f32')));
        return back(tb.binary('div', imm(1, 'f32'), tb.binary('add', e, imm(1, 'f32'))));
      }
      case 'softplus': {
        // max(x, 0) + log(1 + exp(-|x|)): no overflow for large |x|.
        const x = f32(r);
        const e = tb.unary('ex2', tb.binary('mul', tb.unary('abs', x), imm(-Math.LOG2E, 'f32')));
        const l = tb.binary('mul', tb.unary('lg2', tb.binary('add', e, imm(1, 'f32'))), imm(Math.LN2, 'f32'));
        return back(tb.binary('add', tb.binary('max', x, imm(0, 'f32')), l));
      }
    }
    void d;
  }

  /** x − 2π·rint(x / 2π) in two steps (Cody–Waite), so sin.approx/cos.approx see [−π, π]. */
  private reducePhase(x: Reg): Reg {
    const tb = this.tb;
    const TWO_PI_HI = Math.fround(2 * Math.PI);
    const TWO_PI_LO = Math.fround(2 * Math.PI - TWO_PI_HI);
    const k = tb.unary('rint', tb.binary('mul', x, imm(1 / (2 * Math.PI), 'f32')));
    const r1 = tb.reg('f32');
    tb.emit({ op: 'fma', dst: r1, a: k, b: imm(-TWO_PI_HI, 'f32'), c: x });
    const r2 = tb.reg('f32');
    tb.emit({ op: 'fma', dst: r2, a: k, b: imm(-TWO_PI_LO, 'f32'), c: r1 });
    return r2;
  }

  private binaryOp(op: Op): void {
    const d = dtypeOf(op.result.type);
    const a = this.get(op.operands[0]!).regs, b = this.get(op.operands[1]!).regs;
    const f = op.opcode as BinaryOpcode;
    this.define(op.result, a.map((x, i) => this.narrow(this.binaryReg(f, x, b[i]!), d)));
  }

  private binaryReg(f: BinaryOpcode, a: Reg, b: Reg): Reg {
    const tb = this.tb;
    const isF = a.type === 'f32' || a.type === 'f64';
    switch (f) {
      case 'idiv': return tb.binary('div', a, b);
      case 'rem': {
        if (!isF) return tb.binary('rem', a, b);
        // a − trunc(a / b)·b, as C's fmod.
        const q = tb.binary('div', a, b);
        const neg = tb.setp('lt', q, imm(0, a.type));
        const tq = tb.selp(tb.unary('neg', tb.unary('floor', tb.unary('neg', q))), tb.unary('floor', q), neg);
        const r = tb.reg(a.type);
        tb.emit({ op: 'fma', dst: r, a: tb.unary('neg', tq), b, c: a });
        return r;
      }
      default: return tb.binary(f, a, b);
    }
  }

  private cmpOp(op: Op): void {
    const a = this.get(op.operands[0]!).regs, b = this.get(op.operands[1]!).regs;
    const pred = op.attrs['pred'] as CmpPredicate;
    const type = a[0]!.type;
    this.define(op.result, a.map((x, i) => {
      if (type !== 'pred') return this.tb.setp(pred, x, b[i]!);
      // Booleans compare as integers.
      const xi = this.tb.selp(imm(1, 'u32'), imm(0, 'u32'), x), yi = this.tb.selp(imm(1, 'u32'), imm(0, 'u32'), b[i]!);
      return this.tb.setp(pred, xi, yi);
    }));
  }

  private selectOp(op: Op): void {
    const [c, a, b] = op.operands.map((v) => this.get(v).regs) as [Reg[], Reg[], Reg[]];
    this.define(op.result, a.map((x, i) => {
      if (x.type !== 'pred') return this.tb.selp(x, b[i]!, c[i]!);
      const t = this.tb.binary('and', c[i]!, x);
      const f = this.tb.binary('and', this.tb.unary('not', c[i]!), b[i]!);
      return this.tb.binary('or', t, f);
    }));
  }

  private castOp(op: Op): void {
    const from = dtypeOf(op.operands[0]!.type), to = dtypeOf(op.result.type);
    const x = this.get(op.operands[0]!).regs;
    const tt = regTypeOf(to);
    // A value read only as a tensor-core operand is rounded to `to` where it is packed or stored to
    // shared memory (round to nearest even, as here): rounding it here too would be work twice.
    const uses = this.users.get(op.result) ?? [];
    const roundedLater = (to === 'f16' || to === 'bf16') && uses.length > 0 && uses.every((u) =>
      this.isMmaOperandConversion(u) || (u.opcode === 'dot' && usesTensorCores(u) && u.operands[2] !== op.result));
    this.define(op.result, x.map((r) => {
      if (to === 'i1') return r.type === 'pred' ? r : this.tb.setp('ne', r, imm(0, r.type));
      if (r.type === 'pred') return this.narrow(this.tb.selp(imm(1, tt), imm(0, tt), r), to);
      // Float to i8/u8 saturates to the narrow range (cvt saturates only to 32 bits).
      if ((to === 'i8' || to === 'u8') && (r.type === 'f32' || r.type === 'f64')) {
        const [lo, hi] = to === 'i8' ? [-128, 127] : [0, 255];
        r = this.tb.binary('min', this.tb.binary('max', r, imm(lo, r.type)), imm(hi, r.type));
      }
      // f16 → bf16 and the like still need rounding even when the register type does not change.
      const c = r.type === tt ? this.tb.mov(r) : this.tb.cvt(r, tt);
      return narrowOf(to) && to !== from && !roundedLater ? this.narrow(c, to) : c;
    }));
  }

  private addptr(op: Op): void {
    const p = this.get(op.operands[0]!).regs, o = this.get(op.operands[1]!).regs;
    const elem = (op.result.type.elem as { pointee: DType }).pointee;
    const bytes = DTYPE_INFO[elem].bytes;
    this.define(op.result, p.map((ptr, i) => {
      const off = o[i]!;
      if (this.options.wideAddressing && off.kind === 'reg' && off.type === 's32') {
        const dst = this.tb.reg('u64');
        this.tb.emit({ op: 'mad_wide', dst, a: off, b: bytes, c: ptr as Reg });
        return dst;
      }
      const off64 = this.tb.cvt(o[i]!, 's64');
      const scaled = bytes === 1 ? off64 : this.tb.binary('mul', off64, imm(bytes, 's64'));
      return this.tb.binary('add', ptr, scaled, 'u64');
    }));
  }

  private load(op: Op): void {
    if (this.canCopyAsync(op)) return void this.deferredLoads.set(op.result, op);
    const hasMask = op.attrs['hasMask'] === true, hasOther = op.attrs['hasOther'] === true;
    const ptr = this.get(op.operands[0]!).regs;
    const mask = hasMask ? this.get(op.operands[1]!).regs : undefined;
    const other = hasOther ? this.get(op.operands[hasMask ? 2 : 1]!).regs : undefined;
    const d = dtypeOf(op.result.type);
    const t = regTypeOf(d), mem = memTypeOf(d);
    const dsts = ptr.map((_, i) => {
      const dst = this.tb.reg(t);
      if (mask) this.tb.emit({ op: 'mov', dst, src: other ? other[i]! : imm(0, t) });
      return dst;
    });
    const w = this.vectorWidth(op.operands[0]!, hasMask ? op.operands[1] : undefined, DTYPE_INFO[d].bytes);
    for (let i = 0; i < ptr.length; i += w) {
      if (w === 1) this.tb.emit({ op: 'ld', space: 'global', mem, dst: dsts[i]!, addr: ptr[i]!, offset: 0, pred: mask?.[i] });
      else this.tb.emit({ op: 'ldv', mem, dsts: dsts.slice(i, i + w), addr: ptr[i]!, pred: mask?.[i] });
    }
    this.define(op.result, dsts);
  }

  private store(op: Op): void {
    const atomic = op.opcode === 'atomic_add';
    const ptr = this.get(op.operands[0]!), val = this.get(op.operands[1]!).regs;
    const mask = op.attrs['hasMask'] === true ? this.get(op.operands[2]!).regs : undefined;
    const d = dtypeOf(op.operands[1]!.type);
    const mem = memTypeOf(d);
    // Elements held by several threads are written once, by their owner.
    const owner = this.ownerPredicate(ptr.layout);
    const results: Reg[] = [];
    const w = atomic ? 1 : this.vectorWidth(op.operands[0]!, op.attrs['hasMask'] === true ? op.operands[2] : undefined, DTYPE_INFO[d].bytes);
    ptr.regs.forEach((p, i) => {
      if (i % w) return;
      let pred = mask?.[i];
      if (owner) pred = pred ? this.tb.binary('and', pred, owner) : owner;
      if (w > 1) return this.tb.emit({ op: 'stv', mem, srcs: val.slice(i, i + w), addr: p, pred });
      if (atomic) {
        if (d !== 'f32' && d !== 'i32' && d !== 'u32' && d !== 'f64' && d !== 'i64') this.fail(op, `atomicAdd on ${d} is not supported by the GPU backends`);
        const dst = this.tb.reg(regTypeOf(d));
        this.tb.emit({ op: 'mov', dst, src: imm(0, dst.type) });
        this.tb.emit({ op: 'atom_add', mem, dst, addr: p, src: val[i]!, pred });
        results.push(dst);
      } else this.tb.emit({ op: 'st', space: 'global', mem, src: val[i]!, addr: p, offset: 0, pred });
    });
    if (atomic) this.define(op.result, results);
  }

  private reduce(op: Op): void {
    const kind = op.attrs['kind'] as ReduceKind, axis = op.attrs['axis'] as number;
    const src = this.get(op.operands[0]!);
    const srcShape = op.operands[0]!.type.shape, dstShape = op.result.type.shape;
    const n = srcShape[axis]!;
    const dl = layoutOf(op.result, this.threads);
    const ss = rowMajorStrides(srcShape), ds = rowMajorStrides(dstShape);
    const srcIndex = (e: number, r: number): number => {
      let idx = r * ss[axis]!;
      dstShape.forEach((size, d) => (idx += (Math.floor(e / (ds[d] ?? 1)) % size) * ss[d < axis ? d : d + 1]!));
      return idx;
    };
    const type = src.regs[0]!.type, mem = smemTypeOf(type), bytes = MEM_BYTES[mem];
    if (kind !== 'argmax' && (type === 'f32' || type === 's32' || type === 'u32')) {
      const plan = shufflePlan(src.layout, (e) => srcIndex2dst(e, srcShape, axis, ss, ds), n);
      if (plan) {
        const fn = kind === 'sum' ? 'add' : kind;
        this.tb.emit({ op: 'comment', text: `reduce ${kind} over axis ${axis}: in registers, then butterfly shuffles over lanes ${plan.laneBits.join(',')}` });
        const partials = plan.slots.map((ks) => ks.map((k) => src.regs[k]!).reduce((acc, x) => this.tb.binary(fn, acc, x)));
        const reduced = partials.map((p) => {
          let acc = p;
          for (const b of plan.laneBits) {
            const other = this.tb.reg(type);
            this.tb.emit({ op: 'shfl_bfly', dst: other, src: acc, laneMask: 1 << b });
            acc = this.tb.binary(fn, acc, other);
          }
          return acc;
        });
        const combined = plan.warpBits.length ? this.combineAcrossWarps(plan, reduced, fn, numel(dstShape)) : reduced;
        const gathered = this.gather({ layout: plan.result(dstShape), regs: combined }, dl, (e) => e, 'reduction result');
        return this.define(op.result, gathered.map((r) => this.narrow(r, dtypeOf(op.result.type))));
      }
    }
    this.reserveShared(numel(srcShape) * bytes);
    this.tb.emit({ op: 'comment', text: `reduce ${kind} over axis ${axis} through shared memory` });
    this.storeToShared(src, 0);
    const form = this.linear(dl, (t, k) => srcIndex(dl.table[t * dl.regs + k]!, 0), 'a reduction');
    const base = this.tidTerm(form.tidBit, bytes, true);
    const load = (k: number, r: number): Reg => {
      const x = this.tb.reg(type);
      this.tb.emit({ op: 'ld', space: 'shared', mem, dst: x, addr: base, offset: (form.regConst[k]! + r * ss[axis]!) * bytes });
      return x;
    };
    const isF = type === 'f32' || type === 'f64';
    const out = form.regConst.map((_, k) => {
      let acc = load(k, 0);
      let arg: Reg = this.tb.mov(imm(0, 's32'));
      for (let r = 1; r < n; r++) {
        const x = load(k, r);
        if (kind === 'sum') acc = this.tb.binary('add', acc, x);
        else if (kind === 'max' || kind === 'min') acc = this.tb.binary(kind, acc, x);
        else {
          // First maximum; a NaN wins and stays (as the interpreter does).
          let better = this.tb.setp('gt', x, acc);
          if (isF) {
            const xNaN = this.tb.setp('ne', x, x), accNaN = this.tb.setp('ne', acc, acc);
            better = this.tb.binary('and', this.tb.binary('or', better, xNaN), this.tb.unary('not', accNaN));
          }
          acc = this.tb.selp(x, acc, better);
          arg = this.tb.selp(imm(r, 's32'), arg, better);
        }
      }
      return kind === 'argmax' ? arg : this.narrow(acc, dtypeOf(op.result.type));
    });
    this.define(op.result, out);
  }

  /**
   * A dot operand into its mma fragments through a swizzled shared tile: every thread stores its
   * elements as 16-bit values at their swizzled places, then each warp reads its fragments with
   * ldmatrix, packed two elements per register. A is stored row-major and read with x4. B [K, N] is
   * stored k-major and read with x2.trans, or, when `src` holds Bᵀ [N, K] (a transpose left
   * unperformed, as for attention's Kᵀ), stored as it is and read with x2 without .trans.
   */
  private ldmatrixOperand(src: OperandSource, dst: DistributedLayout, half: 'f16' | 'bf16', srcIsTransposed: boolean): Lowered {
    const { which, tiling: m } = dst.dotOperand!;
    const sl = src.kind === 'regs' ? src.lowered.layout : layoutOf(src.load.result, this.threads);
    const [rows, cols] = sl.shape as [number, number];
    const map = plainTileMap(rows, cols);
    const sh = map.sh;
    const { tileBase, pipelined } = this.stageOperandTile(src, map, half, () => {
      this.reserveShared(rows * cols * 2);
      return this.smemBase;
    }, (how) => `dot operand ${which}${srcIsTransposed ? ' (stored transposed)' : ''} to mma fragments: ${how} into ${describeShared(sh)}, then ldmatrix`);
    // Each lane gives the address of one 16-byte row of an 8×8 matrix. A fragment (16×16) is one x4;
    // B fragments (16×8) of two consecutive k-steps share one x4 where the k-steps pair up.
    const lane = (t: number): number => t % 32, warp = (t: number): number => Math.floor(t / 32);
    const steps: Array<[number, number]> = [];
    const tiles = which === 'A' ? m.tilesM : m.tilesN;
    for (let tile = 0; tile < tiles; tile++) for (let ks = 0; ks < m.kSteps; ks++) steps.push([tile, ks]);
    const pairs = which === 'B' && m.kSteps % 2 === 0;
    const nOf = (t: number, tile: number): number => (tile * m.wn + (Math.floor(warp(t) / m.wm) % m.wn)) * 8;
    const rowFn = (t: number, j: number): number => {
      const [tile, ks] = steps[j]!;
      if (which === 'A') return (tile * m.wm + (warp(t) % m.wm)) * 16 + (lane(t) % 16);
      return srcIsTransposed ? nOf(t, tile) + (lane(t) % 8) : ks * 16 + (lane(t) % (pairs ? 32 : 16));
    };
    const colFn = (t: number, j: number): number => {
      const [tile, ks] = steps[j]!;
      if (which === 'A') return ks * 16 + (lane(t) >> 4) * 8;
      return srcIsTransposed ? ks * 16 + ((lane(t) >> 3) & (pairs ? 3 : 1)) * 8 : nOf(t, tile);
    };
    const rowF = linearize(this.threads, steps.length, rowFn), colF = linearize(this.threads, steps.length, colFn);
    if (!rowF || !colF) throw new ThreadLoweringError('internal: ldmatrix addresses are not linear in the thread id');
    const fetched = new Map<number, Reg[]>();
    const load = (j: number): Reg[] => {
      const first = pairs ? j - (j % 2) : j; // steps[j] and steps[j ^ 1] are (tile, ks) and (tile, ks ± 1)
      if (!fetched.has(first)) {
        const addr = this.swizzledAddress(sh, rowF.tidBit, rowF.regConst[first]!, colF.tidBit, colF.regConst[first]!, tileBase);
        const dsts = Array.from({ length: which === 'A' || pairs ? 4 : 2 }, () => this.tb.reg('u32'));
        this.tb.emit({ op: 'ldmatrix', dsts, addr, trans: which === 'B' && !srcIsTransposed });
        fetched.set(first, pairs ? dsts.slice(0, 2) : dsts);
        if (pairs) fetched.set(first + 1, dsts.slice(2));
      }
      return fetched.get(j)!;
    };
    // A pipelined tile keeps its own buffer until the product is done: its fragments can be read
    // where the mma needs them (scratch tiles are overwritten by the next conversion, so read them now).
    if (pipelined) return { layout: dst, regs: [], packed: true, fetch: load };
    return { layout: dst, regs: steps.flatMap((_, j) => load(j)), packed: true };
  }

  /**
   * Puts an operand tile into shared memory where `map` says: a pipelined load's tile is in its stage
   * buffer already (wait for it, then prefetch the next iteration's into the other buffer); otherwise
   * cp.async or stores into the slot `slot()` gives, then a barrier. `comment` describes it, given how.
   */
  private stageOperandTile(src: OperandSource, map: TileMap, half: 'f16' | 'bf16', slot: () => Reg, comment: (how: string) => string): { tileBase: Reg; pipelined: Op | undefined } {
    const pipe = this.activePipeline;
    const pipelined = src.kind === 'load' && pipe?.plan.loads.includes(src.load) ? src.load : undefined;
    const how = pipelined ? 'cp.async, prefetched an iteration ahead,' : src.kind === 'load' ? 'cp.async' : 'stores';
    this.tb.emit({ op: 'comment', text: comment(how) });
    // wgmma reads shared memory through the async proxy: writes must be fenced for it before the barrier.
    const fence = (): void => void (map.wgmma && this.tb.emit({ op: 'fence_proxy_async' }));
    if (pipelined && pipe) {
      if (!pipe.synced) {
        // At the iteration's first tile (consumers are straight-line in the loop body): all of this
        // iteration's tiles, issued during the last one, have landed; one barrier makes them visible
        // (fenced for wgmma's async proxy) and tells that every thread is past its reads of the other
        // buffer, which then takes all of the next iteration's tiles, a whole iteration ahead.
        pipe.synced = true;
        this.tb.emit({ op: 'cp_async_wait', pending: 0 });
        if (pipe.plan.loads.some((l) => this.tileMapOf(l).wgmma)) this.tb.emit({ op: 'fence_proxy_async' });
        this.tb.emit({ op: 'bar' });
        const next = this.tb.binary('add', pipe.ivReg, pipe.step);
        const inRange = this.tb.setp('lt', next, pipe.ub), other = this.stageBase(pipe, true);
        for (const load of pipe.plan.loads) this.prefetch(pipe.plan, load, pipe.iv, next, inRange, other, this.tileMapOf(load));
      }
      return { tileBase: this.tb.binary('add', this.stageBase(pipe, false), imm(pipe.plan.offsets.get(pipelined)!, 'u32')), pipelined };
    }
    // No wgmma in flight reads this slot: wgmma tiles have slots of their own, one per product (and a
    // loop waits for its products before the next iteration), and wgmma never reads the scratch region.
    const base = slot();
    this.tb.emit({ op: 'bar' });
    if (src.kind === 'load') {
      this.copyTileAsync(src.load, this.get(src.load.operands[0]!).regs, src.load.attrs['hasMask'] === true ? this.get(src.load.operands[1]!).regs : undefined, undefined, base, map);
      this.tb.emit({ op: 'cp_async_wait', pending: 0 });
    } else {
      const sl = src.lowered.layout;
      const owner = this.ownerPredicate(sl);
      const addrOf = this.tileAddresses(sl, map, base);
      src.lowered.regs.forEach((r, k) => this.tb.emit({ op: 'st', space: 'shared', mem: half, src: r, addr: addrOf(k), offset: 0, pred: owner }));
    }
    fence();
    this.tb.emit({ op: 'bar' });
    return { tileBase: base, pipelined: undefined };
  }

  /** Whether a conversion to a dot operand feeds only wgmma products, as their B. */
  private feedsWgmma(conv: Op): boolean {
    if (!this.options.wgmma) return false;
    const uses = this.users.get(conv.result) ?? [];
    return uses.length > 0 && uses.every((u) => u.opcode === 'dot' && u.operands[1] === conv.result && u.operands[0] !== conv.result && this.dotUsesWgmma(u));
  }
  /**
   * Whether a conversion to a dot operand feeds only wgmma products as their A from outside the loop they
   * are in (attention's queries): such a tile is read from shared memory. A held in registers across the
   * loop gave wrong products on an H200 (bench/RESULTS.md); from shared memory it also frees registers.
   */
  private feedsWgmmaA(conv: Op): boolean {
    if (!this.options.wgmma) return false;
    const uses = this.users.get(conv.result) ?? [];
    return uses.length > 0 && uses.every((u) => {
      const bConv = u.operands[1]!.def;
      return u.operands[0] === conv.result && this.loopInvariantA(u) && this.aFitsShared(u) && bConv?.opcode === 'convert_layout' && this.feedsWgmma(bConv);
    });
  }
  /**
   * Whether a dot's A has the same value in every iteration of the loop the dot is in: defined outside it,
   * or computed inside from such values by conversions and cheap arithmetic (which the PTX compiler may
   * hoist, leaving registers live across the loop all the same).
   */
  private loopInvariantA(dot: Op): boolean {
    const loop = this.loopOf.get(dot);
    return dot.opcode === 'dot' && loop !== undefined && this.invariantIn(dot.operands[0]!, loop);
  }
  private invariantIn(v: Value, loop: Op): boolean {
    const inside = (op: Op | undefined): boolean => {
      for (let o = op; o; o = this.loopOf.get(o)) if (o === loop) return true;
      return false;
    };
    if (!v.def) {
      const owner = this.argOwner.get(v); // a region argument: the loop's own or one inside it varies
      return !owner || (owner !== loop && !inside(owner));
    }
    if (!inside(v.def)) return true;
    const d = v.def;
    return (isCheapOp(d) || d.opcode === 'convert_layout' || d.opcode === 'cast' || d.opcode === 'constant') && d.operands.every((o) => this.invariantIn(o, loop));
  }
  /**
   * Whether a dot's A can be read from shared memory: a conversion of a tile that is not a transpose (A
   * stored [M, K], K-major), whose every use is as some dot's A.
   */
  private aFitsShared(dot: Op): boolean {
    const conv = dot.operands[0]!.def;
    const [M, K] = dot.operands[0]!.type.shape as [number, number];
    return conv?.opcode === 'convert_layout' && conv.operands[0]!.def?.opcode !== 'trans' && !!wgmmaTile(M, K, 'K') &&
      (this.users.get(conv.result) ?? []).every((u) => u.opcode === 'dot' && u.operands[0] === conv.result && u.operands[1] !== conv.result);
  }
  private dotUsesWgmma(dot: Op): boolean {
    if (!this.options.wgmma || !usesTensorCores(dot) || !layoutOf(dot.result, this.threads).name.startsWith('mma')) return false;
    const [M, K] = dot.operands[0]!.type.shape as [number, number];
    const N = dot.operands[1]!.type.shape[1]!;
    // Either way B may be stored (as Bᵀ [N, K] or as B [K, N]), a tile must exist. An A converted
    // outside the loop must come from shared memory (see feedsWgmmaA).
    return wgmmaEligible(mmaTiling(M, N, K, this.threads / 32)) && !!wgmmaTile(N, K, 'K') && !!wgmmaTile(K, N, 'MN') &&
      (!this.loopInvariantA(dot) || this.aFitsShared(dot));
  }

  /** Where a pipelined load's tile goes in its stage buffer: as its conversion will read it. */
  private tileMapOf(load: Op): TileMap {
    const [rows, cols] = load.result.type.shape as [number, number];
    let uses = this.users.get(load.result) ?? [];
    const viaTrans = uses.length === 1 && uses[0]!.opcode === 'trans';
    if (viaTrans) uses = this.users.get(uses[0]!.result) ?? [];
    if (uses.length === 1 && uses[0]!.opcode === 'convert_layout' && this.feedsWgmma(uses[0]!)) return wgmmaTileMap(wgmmaTile(rows, cols, viaTrans ? 'K' : 'MN')!);
    return plainTileMap(rows, cols);
  }

  /**
   * A wgmma operand tile stored in shared memory in the canonical layout, read by the tensor cores at the
   * product: B stored as Bᵀ [N, K] (a transpose left unperformed) K-major, B [K, N] MN-major; A [M, K] K-major.
   */
  private wgmmaOperand(conv: Op, dst: DistributedLayout): Lowered {
    const which = dst.dotOperand!.which;
    const srcV = conv.operands[0]!;
    const half = dtypeOf(conv.result.type) as 'f16' | 'bf16';
    const transposed = this.deferredTrans.get(srcV);
    const load = this.deferredLoads.get(srcV);
    const src: OperandSource = transposed ?? (load ? { kind: 'load', load } : { kind: 'regs', lowered: this.get(srcV) });
    const sl = src.kind === 'regs' ? src.lowered.layout : layoutOf(src.load.result, this.threads);
    const [rows, cols] = sl.shape as [number, number];
    const tile = wgmmaTile(rows, cols, transposed || which === 'A' ? 'K' : 'MN')!;
    const { tileBase } = this.stageOperandTile(src, wgmmaTileMap(tile), half, () => {
      let slot = this.wgmmaSlots.get(conv);
      if (slot === undefined) {
        this.wgmmaSlots.set(conv, (slot = this.wgmmaBytes));
        this.wgmmaBytes += Math.ceil(wgmmaTileBytes(tile) / WGMMA_TILE_ALIGN) * WGMMA_TILE_ALIGN;
      }
      this.wgmmaBase ??= this.tb.reg('u32');
      return slot ? this.tb.binary('add', this.wgmmaBase, imm(slot, 'u32')) : this.wgmmaBase;
    }, (how) => `dot operand ${which} for wgmma: ${how} into ${describeShared(wgmmaSharedLayout(tile))} (${tile.major}-major, ${tile.blockCols}-column blocks)`);
    return { layout: dst, regs: [], wgmma: { tile, base: tileBase } };
  }

  /** The shared address of each register's element of a tile in layout `l`, stored at `base` as `map` places it. */
  private tileAddresses(l: DistributedLayout, map: TileMap, base: Reg): (k: number) => Reg {
    const cols = l.shape[1]!;
    const at = (t: number, k: number): { row: number; col: number } => {
      const e = l.table[t * l.regs + k]!;
      return map.place(Math.floor(e / cols), e % cols);
    };
    const rowOf = this.linear(l, (t, k) => at(t, k).row, 'a shared tile row');
    const colOf = this.linear(l, (t, k) => at(t, k).col, 'a shared tile column');
    return (k) => this.swizzledAddress(map.sh, rowOf.tidBit, rowOf.regConst[k]!, colOf.tidBit, colOf.regConst[k]!, base);
  }

  /**
   * cp.async of a load's tile to its swizzled place at `base` (a chunk of the swizzle's vector stays
   * contiguous under the swizzle), one copy per aligned vector of up to 16 bytes; zeros where the mask
   * (and `extra`) is false. Commits a group.
   */
  private copyTileAsync(load: Op, ptr: readonly Reg[], mask: readonly Reg[] | undefined, extra: Reg | undefined, base: Reg, map: TileMap): void {
    const half = dtypeOf(load.result.type) as 'f16' | 'bf16';
    const addrOf = this.tileAddresses(layoutOf(load.result, this.threads), map, base);
    const w = this.vectorWidth(load.operands[0]!, load.attrs['hasMask'] === true ? load.operands[1] : undefined, 2, map.sh.vec);
    for (let k = 0; k < ptr.length; k += w) {
      const pred = mask && extra ? this.tb.binary('and', mask[k]!, extra) : mask?.[k] ?? extra;
      this.tb.emit({ op: 'cp_async', mem: half, dst: addrOf(k), src: ptr[k]!, bytes: (2 * w) as 4 | 8 | 16, pred });
    }
    this.tb.emit({ op: 'cp_async_commit' });
  }

  /** The first byte of the current (or, with `other`, the next) stage's buffers. */
  private stageBase(pipe: ActivePipeline, other: boolean): Reg {
    const stage = other ? this.tb.binary('xor', pipe.stage, imm(1, 'u32')) : pipe.stage;
    return this.tb.binary('add', this.pipeBase, this.tb.binary('mul', stage, imm(pipe.plan.stageBytes, 'u32')));
  }

  /**
   * Issues the copies of `load` for the iteration whose induction variable is `ivReg`: its address and
   * mask chain is lowered again with that value, then put back as it was.
   */
  private prefetch(plan: Pipeline, load: Op, iv: Value, ivReg: Reg, inRange: Reg, stageBase: Reg, map: TileMap): void {
    const chain = plan.chains.get(load)!;
    const touched = [iv, ...chain.flatMap((o) => o.results)];
    const saved = touched.map((v) => this.env.get(v));
    this.env.set(iv, { layout: layoutOf(iv, this.threads), regs: [ivReg] });
    try {
      chain.forEach((o) => this.op(o));
      const ptr = this.get(load.operands[0]!).regs;
      const mask = load.attrs['hasMask'] === true ? this.get(load.operands[1]!).regs : undefined;
      const base = this.tb.binary('add', stageBase, imm(plan.offsets.get(load)!, 'u32'));
      this.copyTileAsync(load, ptr, mask, inRange, base, map);
    } finally {
      touched.forEach((v, i) => (saved[i] ? this.env.set(v, saved[i]!) : this.env.delete(v)));
    }
  }

  /**
   * The swizzle of (rowT + rowC, colT + colC) split into per-thread terms computed once, when the
   * constants cannot change the thread's phase (rowC a multiple of the phase period) and the constant
   * column's chunk bits lie above every thread's (so + is | and the XOR splits bit by bit):
   * byte offset = U + (W ^ chunk(colC)·16) + rowC·rowBytes, with U = rowT·rowBytes + ((colT >> log vec) ^
   * (phase & lowMask))·16 + (colT & (vec−1))·2 and W = (phase & ~lowMask)·16.
   */
  private swizzleTerms(sh: SharedLayout, rowBits: readonly number[], rowC: number, colBits: readonly number[], colC: number):
    { U: Reg; W: Reg; chunkBytes: number; rowBytes: number } | undefined {
    const period = sh.perPhase * sh.maxPhase;
    const maxChunkT = colBits.reduce((s, c) => s + c, 0) >> Math.log2(sh.vec);
    const lowMask = 2 ** Math.ceil(Math.log2(maxChunkT + 1)) - 1;
    const chunkC = colC / sh.vec;
    if (rowC % period !== 0 || colC % sh.vec !== 0 || (chunkC & lowMask) !== 0) return undefined;
    const key = `swz:${sh.rows}x${sh.cols}/${sh.perPhase}/${sh.maxPhase}|${rowBits.join(',')}|${colBits.join(',')}`;
    let U = this.tidTerms.get(key + ':U'), W = this.tidTerms.get(key + ':W');
    if (!U || !W) {
      const saved = this.tb.out;
      this.tb.out = this.prologue;
      try {
        const tb = this.tb, u32 = (x: number) => imm(x, 'u32');
        const rowT = this.tidTerm(rowBits), colT = this.tidTerm(colBits);
        const phase = tb.binary('and', tb.binary('shr', rowT, u32(Math.log2(sh.perPhase))), u32(sh.maxPhase - 1));
        const chunk = tb.binary('xor', tb.binary('shr', colT, u32(Math.log2(sh.vec))), tb.binary('and', phase, u32(lowMask)));
        const within = tb.binary('and', colT, u32(sh.vec - 1));
        const elems = tb.binary('add', tb.binary('add', tb.binary('mul', rowT, u32(sh.cols)), tb.binary('shl', chunk, u32(Math.log2(sh.vec)))), within);
        U = tb.binary('shl', elems, u32(1));
        W = tb.binary('shl', tb.binary('and', phase, u32(~lowMask & (sh.maxPhase - 1))), u32(4));
        this.tidTerms.set(key + ':U', U);
        this.tidTerms.set(key + ':W', W);
      } finally {
        this.tb.out = saved;
      }
    }
    return { U, W, chunkBytes: chunkC * 16, rowBytes: rowC * sh.cols * 2 };
  }

  /** base + 2 · offset of (row, col) in a swizzled tile of 16-bit elements; row and col are a thread term plus a constant. */
  private swizzledAddress(sh: SharedLayout, rowBits: readonly number[], rowC: number, colBits: readonly number[], colC: number, base: Reg): Reg {
    const fast = this.swizzleTerms(sh, rowBits, rowC, colBits, colC);
    if (fast) {
      // base + U + (W ^ chunk bits of the constant column) + the constant rows: three or four operations.
      const tb = this.tb;
      const x = fast.chunkBytes ? tb.binary('xor', fast.W, imm(fast.chunkBytes, 'u32')) : fast.W;
      const a = tb.binary('add', tb.binary('add', base, fast.U), x);
      return fast.rowBytes ? tb.binary('add', a, imm(fast.rowBytes, 'u32')) : a;
    }
    const tb = this.tb;
    const rowT = this.tidTerm(rowBits), colT = this.tidTerm(colBits);
    const row = rowC ? tb.binary('add', rowT, imm(rowC, 'u32')) : rowT;
    const col = colC ? tb.binary('add', colT, imm(colC, 'u32')) : colT;
    const log2 = (x: number): number => Math.log2(x);
    const phase = tb.binary('and', tb.binary('shr', row, imm(log2(sh.perPhase), 'u32')), imm(sh.maxPhase - 1, 'u32'));
    const chunk = tb.binary('xor', tb.binary('shr', col, imm(log2(sh.vec), 'u32')), phase);
    const within = tb.binary('and', col, imm(sh.vec - 1, 'u32'));
    const off = tb.binary('add', tb.binary('add', tb.binary('shl', row, imm(log2(sh.cols), 'u32')), tb.binary('shl', chunk, imm(log2(sh.vec), 'u32'))), within);
    return tb.binary('add', base, tb.binary('shl', off, imm(1, 'u32')));
  }

  /** dot on tensor cores: operands gathered into their mma fragment layouts, packed in pairs, one mma per 16×8×16 step. */
  private dotMma(op: Op): void {
    const [aV, bV, cV] = op.operands as [Value, Value, Value];
    const [M, K] = aV.type.shape as [number, number];
    const N = bV.type.shape[1]!;
    const half = dtypeOf(aV.type) as 'f16' | 'bf16';
    const m = mmaTiling(M, N, K, this.threads / 32);
    const dl = layoutOf(op.result, this.threads);
    const aL = this.get(aV), bL = this.get(bV);
    this.tb.emit({ op: 'comment', text: `dot [${M}x${K}] x [${K}x${N}] on tensor cores (${bL.wgmma ? 'wgmma' : 'mma.sync'}.m${bL.wgmma ? 64 : 16}n${bL.wgmma ? N : 8}k16.${half}, warps ${m.wm}x${m.wn})` });
    const a = aL.packed || aL.wgmma ? [...aL.regs] : this.gather(aL, mmaOperandALayout(m), (e) => e, 'dot operand A');
    const b = bL.packed || bL.wgmma ? [...bL.regs] : this.gather(bL, mmaOperandBLayout(m), (e) => e, 'dot operand B');
    // wgmma does not read a zero accumulator (scale-d 0), so it is not gathered.
    const zeroAcc = bL.wgmma !== undefined && isZeroConstant(cV);
    const acc = zeroAcc ? [] : this.gather(this.get(cV), dl, (e) => e, 'dot accumulator');
    const pack = (lo: Reg, hi: Reg): Reg => {
      const dst = this.tb.reg('u32');
      this.tb.emit({ op: 'pack_half2', to: half, dst, lo, hi });
      return dst;
    };
    const packedA = new Map<number, Reg[]>(); // each A fragment is packed once, not once per output tile
    const aFrag = (tm: number, ks: number): readonly Reg[] => {
      if (aL.fetch) return aL.fetch(tm * m.kSteps + ks);
      if (aL.packed) return a.slice((tm * m.kSteps + ks) * 4, (tm * m.kSteps + ks) * 4 + 4);
      const base = (tm * m.kSteps + ks) * 8;
      let regs = packedA.get(base);
      if (!regs) packedA.set(base, (regs = [0, 2, 4, 6].map((i) => pack(a[base + i]!, a[base + i + 1]!))));
      return regs;
    };
    const bFrag = (tn: number, ks: number): readonly Reg[] => {
      if (bL.fetch) return bL.fetch(tn * m.kSteps + ks);
      if (bL.packed) return b.slice((tn * m.kSteps + ks) * 2, (tn * m.kSteps + ks) * 2 + 2);
      const base = (tn * m.kSteps + ks) * 4;
      return [0, 2].map((i) => pack(b[base + i]!, b[base + i + 1]!));
    };
    if (aL.wgmma && !bL.wgmma) throw new ThreadLoweringError('internal: a wgmma A tile for a product whose B is not in shared memory');
    // (An A shared with a product that cannot run on wgmma stays in registers, which wgmma must then not
    // read from outside the loop: bench/RESULTS.md, 2026-11-29 evening.)
    if (bL.wgmma && !aL.wgmma && this.loopInvariantA(op)) this.fail(op, 'internal: wgmma would read a loop-invariant A from registers; lower with TILEJIT_WGMMA=0');
    if (bL.wgmma) return this.define(op.result, this.wgmmaProduct(m, half, aL.wgmma ?? aFrag, zeroAcc ? 'zeros' : acc, bL.wgmma, this.accumulateInto.get(op)));
    const out: Reg[] = [];
    // k-steps outermost: consecutive mmas write different accumulator tiles, so none waits for the
    // previous one's result, and each step's B fragments are read just before they are used.
    const tiles = Array.from({ length: m.tilesM * m.tilesN }, (_, tile) => acc.slice(tile * 4, tile * 4 + 4));
    for (let ks = 0; ks < m.kSteps; ks++)
      for (let tn = 0; tn < m.tilesN; tn++)
        for (let tm = 0; tm < m.tilesM; tm++) {
          const tile = tm * m.tilesN + tn;
          const d = [0, 1, 2, 3].map(() => this.tb.reg('f32'));
          this.tb.emit({ op: 'mma', type: half, d, a: aFrag(tm, ks), b: bFrag(tn, ks), c: tiles[tile]! });
          tiles[tile] = d;
        }
    out.push(...tiles.flat());
    this.define(op.result, out);
  }

  /**
   * The product on Hopper's warpgroup tensor cores: one wgmma m64nNk16 per (64-row tile, k-step), A from
   * registers or from its shared tile, B from its shared tile, through a descriptor per k-step; issued as
   * one group and waited for. The accumulators are copied into fresh registers (or `into`, a loop's
   * carried registers), which the wgmmas update in place.
   */
  private wgmmaProduct(m: MmaTiling, half: 'f16' | 'bf16', aSrc: ((tm: number, ks: number) => readonly Reg[]) | { tile: WgmmaTile; base: Reg }, acc: readonly Reg[] | 'zeros', b: { tile: WgmmaTile; base: Reg }, into?: readonly Reg[]): Reg[] {
    this.usesWgmma = true;
    const tb = this.tb, perTile = m.tilesN * 4;
    // A zero accumulator is not read: the first k-step overwrites (scale-d 0). The registers still get
    // a definition of their own, never a copy of a shared constant, as the wgmmas update them in place.
    // (`acc` is always a gathered copy, never the carried registers themselves.)
    let d: Reg[];
    if (into) {
      d = [...into];
      if (acc !== 'zeros') acc.forEach((r, k) => tb.emit({ op: 'mov', dst: into[k]!, src: r }));
    } else d = acc === 'zeros' ? Array.from({ length: m.tilesM * perTile }, () => tb.mov(imm(0, 'f32'))) : acc.map((r) => tb.mov(r));
    // The descriptor's low word: the start address in 16-byte units (bits 0–13) and the leading byte offset (bits 16–29).
    const loOf = (base: Reg, tile: WgmmaTile): Reg => tb.binary('or', tb.binary('shr', base, imm(4, 'u32')), imm(wgmmaDescriptor(tile, 0).lboField << 16, 'u32'));
    const plus = (lo: Reg, bytes: number): Reg => (bytes ? tb.binary('add', lo, imm(bytes >> 4, 'u32')) : lo);
    const loB = loOf(b.base, b.tile);
    // A's operand of (64-row tile, k-step): register fragments, all read before the fence; or a descriptor
    // of its shared tile, where warpgroup g's rows of tile tm start at row (tm · wm + 4g) · 16, a row being
    // one swizzle width within its column block.
    let aOperand: (tm: number, ks: number) => { a: readonly Reg[]; aDesc?: { lo: Reg; hi: number } };
    const aInRegisters = typeof aSrc === 'function';
    let aFragments: Reg[] = [];
    if (aInRegisters) {
      const frags = Array.from({ length: m.tilesM }, (_, tm) => Array.from({ length: m.kSteps }, (_, ks) => aSrc(tm, ks)));
      aFragments = frags.flat(2);
      aOperand = (tm, ks) => ({ a: frags[tm]![ks]! });
    } else {
      const width = aSrc.tile.blockCols * 2;
      const groupRows = this.warpgroupTerm(64 * width);
      const loA = loOf(tb.binary('add', aSrc.base, groupRows), aSrc.tile);
      aOperand = (tm, ks) => {
        const desc = wgmmaDescriptor(aSrc.tile, ks);
        return { a: [], aDesc: { lo: plus(loA, desc.offset + tm * m.wm * 16 * width), hi: desc.hi } };
      };
    }
    tb.emit({ op: 'comment', text: `${m.tilesM * m.kSteps} wgmma.m64n${m.N}k16 (A from ${aInRegisters ? 'registers' : 'shared memory'}, ${b.tile.major}-major B), one group` });
    tb.emit({ op: 'wgmma_fence' });
    for (let ks = 0; ks < m.kSteps; ks++) {
      const desc = wgmmaDescriptor(b.tile, ks);
      const descLo = plus(loB, desc.offset);
      for (let tm = 0; tm < m.tilesM; tm++)
        tb.emit({ op: 'wgmma', type: half, n: m.N, d: d.slice(tm * perTile, (tm + 1) * perTile), ...aOperand(tm, ks), descLo, descHi: desc.hi, transB: b.tile.major === 'MN', accumulate: ks > 0 || acc !== 'zeros' });
    }
    tb.emit({ op: 'wgmma_commit' });
    // Its accumulators and A fragments must not be touched until the group is waited for.
    this.pendingWgmma.push(new Set([...d, ...aFragments]));
    return d;
  }

  /** Waits for the youngest pending wgmma group that writes one of `regs` (and so every older one). */
  private awaitWgmma(regs: readonly Reg[]): void {
    let youngest = -1;
    this.pendingWgmma.forEach((g, i) => {
      if (regs.some((r) => g.has(r))) youngest = i;
    });
    if (youngest < 0) return;
    this.tb.emit({ op: 'wgmma_wait', pending: this.pendingWgmma.length - 1 - youngest });
    this.pendingWgmma = this.pendingWgmma.slice(youngest + 1);
  }
  private flushWgmma(): void {
    if (!this.pendingWgmma.length) return;
    this.tb.emit({ op: 'wgmma_wait', pending: 0 });
    this.pendingWgmma = [];
  }

  /** The last step of a reduction spread over warps: partials through shared memory, one slot per warp group. */
  private combineAcrossWarps(plan: ShufflePlan, partials: Reg[], fn: 'add' | 'max' | 'min', outCount: number): Reg[] {
    const type = partials[0]!.type, mem = smemTypeOf(type), bytes = MEM_BYTES[mem];
    const groups = 1 << plan.warpBits.length;
    this.reserveShared(groups * outCount * bytes);
    const compress = (t: number): number => plan.warpBits.reduce((c, b, i) => c | (((t >> b) & 1) << i), 0);
    const l = plan.result([outCount]);
    const write = this.linear(l, (t, j) => compress(t) * outCount + l.table[t * l.regs + j]!, 'a cross-warp reduction');
    const read = this.linear(l, (t, j) => l.table[t * l.regs + j]!, 'a cross-warp reduction');
    const wbase = this.tidTerm(write.tidBit, bytes, true), rbase = this.tidTerm(read.tidBit, bytes, true);
    const writer = this.prologueTerm(`writer:${plan.writerMask}`, () => this.tb.setp('eq', this.tb.binary('and', this.tid, imm(plan.writerMask, 'u32')), imm(0, 'u32')));
    this.tb.emit({ op: 'bar' });
    partials.forEach((r, j) => this.tb.emit({ op: 'st', space: 'shared', mem, src: r, addr: wbase, offset: write.regConst[j]! * bytes, pred: writer }));
    this.tb.emit({ op: 'bar' });
    return partials.map((_, j) => {
      let acc: Reg | undefined;
      for (let c = 0; c < groups; c++) {
        const x = this.tb.reg(type);
        this.tb.emit({ op: 'ld', space: 'shared', mem, dst: x, addr: rbase, offset: (read.regConst[j]! + c * outCount) * bytes });
        acc = acc ? this.tb.binary(fn, acc, x) : x;
      }
      return acc!;
    });
  }

  private dot(op: Op): void {
    if (usesTensorCores(op) && (layoutOf(op.result, this.threads).name.startsWith('mma'))) return this.dotMma(op);
    const [aV, bV, cV] = op.operands as [Value, Value, Value];
    const [M, K] = aV.type.shape as [number, number];
    const N = bV.type.shape[1]!;
    const a = this.get(aV), b = this.get(bV), c = this.get(cV);
    const dl = layoutOf(op.result, this.threads);
    const accType = c.regs[0]!.type;
    const inType = a.regs[0]!.type;
    const mem = smemTypeOf(inType), bytes = MEM_BYTES[mem];
    const aBytes = M * K * bytes;
    this.reserveShared(aBytes + K * N * bytes);
    this.tb.emit({ op: 'comment', text: `dot [${M}x${K}] x [${K}x${N}] with FMA` });
    this.tb.emit({ op: 'bar' });
    this.storeToSharedNoBarrier(a, 0);
    this.storeToSharedNoBarrier(b, aBytes);
    this.tb.emit({ op: 'bar' });
    const row = (e: number): number => Math.floor(e / N), col = (e: number): number => e % N;
    const fa = this.linear(dl, (t, k) => row(dl.table[t * dl.regs + k]!) * K, 'dot operand A');
    const fb = this.linear(dl, (t, k) => col(dl.table[t * dl.regs + k]!), 'dot operand B');
    const baseA = this.tidTerm(fa.tidBit, bytes, true), baseB = this.tidTerm(fb.tidBit, bytes, true);
    if (this.options.dotLoops) {
      const accs = emitDotLoop({ tb: this.tb, K, N, acc: c.regs, accType, inType, mem, bytes, baseA, baseB, aConst: fa.regConst, bConst: fb.regConst, bBytes: aBytes });
      return this.define(op.result, accs.map((r) => this.narrow(r, dtypeOf(op.result.type))));
    }
    const out = c.regs.map((acc0, k) => {
      let acc = this.tb.cvt(acc0, accType);
      for (let kk = 0; kk < K; kk++) {
        const x = this.tb.reg(inType), y = this.tb.reg(inType);
        this.tb.emit({ op: 'ld', space: 'shared', mem, dst: x, addr: baseA, offset: (fa.regConst[k]! + kk) * bytes });
        this.tb.emit({ op: 'ld', space: 'shared', mem, dst: y, addr: baseB, offset: aBytes + (fb.regConst[k]! + kk * N) * bytes });
        const nacc = this.tb.reg(accType);
        this.tb.emit({ op: 'fma', dst: nacc, a: this.tb.cvt(x, accType), b: this.tb.cvt(y, accType), c: acc });
        acc = nacc;
      }
      return this.narrow(acc, dtypeOf(op.result.type));
    });
    this.define(op.result, out);
  }

  private storeToSharedNoBarrier(src: Lowered, byteOffset: number): void {
    const l = src.layout;
    const mem = smemTypeOf(src.regs[0]!.type), bytes = MEM_BYTES[mem];
    const form = this.linear(l, (t, k) => l.table[t * l.regs + k]!, 'a shared-memory store');
    const base = this.tidTerm(form.tidBit, bytes, true);
    const owner = this.ownerPredicate(l);
    form.regConst.forEach((c, k) => this.tb.emit({ op: 'st', space: 'shared', mem, src: src.regs[k]!, addr: base, offset: byteOffset + c * bytes, pred: owner }));
  }

  private scalarReg(v: Value): Reg {
    return this.get(v).regs[0]!;
  }

  private forOp(op: Op): void {
    const [lb, ub, step] = op.operands.slice(0, 3).map((v) => this.scalarReg(v)) as [Reg, Reg, Reg];
    const body = op.regions[0]!;
    const inits = op.operands.slice(3).map((v) => this.get(v));
    const carried = inits.map((l) => l.regs.map((r) => this.tb.mov(r)));
    const iv = this.tb.reg(lb.type);
    this.env.set(body.args[0]!, { layout: layoutOf(body.args[0]!, this.threads), regs: [iv] });
    body.args.slice(1).forEach((a, i) => this.env.set(a, { layout: layoutOf(a, this.threads), regs: carried[i]! }));
    this.noteCarriedProducts(body, carried);
    const plan = this.pipelines.get(op);
    let pipe: ActivePipeline | undefined;
    if (plan) {
      // The first iteration's tiles, into stage 0, before the loop.
      this.tb.emit({ op: 'comment', text: `software pipeline: ${plan.loads.length} operand tile(s) double-buffered, ${2 * plan.stageBytes} bytes` });
      pipe = { plan, stage: this.tb.mov(imm(0, 'u32')), iv: body.args[0]!, ivReg: iv, ub, step, synced: false };
      const first = this.tb.setp('lt', lb, ub), base0 = this.stageBase(pipe, false);
      for (const load of plan.loads) this.prefetch(plan, load, body.args[0]!, lb, first, base0, this.tileMapOf(load));
    }
    const outer = this.activePipeline;
    this.activePipeline = pipe;
    let instrs: Instr[];
    try {
      instrs = this.tb.nested(() => {
        const yields = this.block(body);
        this.flushWgmma(); // the next iteration refills the shared tiles this one's products read
        // Parallel copy: a yield may read a carried register that an earlier copy would overwrite (a
        // value already in its carried registers, as a product accumulated there, is not copied).
        const moved = yields.map((regs, i) => regs.some((r, j) => r !== carried[i]![j]));
        const temps = yields.map((regs, i) => (moved[i] ? regs.map((r) => this.tb.mov(r)) : []));
        temps.forEach((regs, i) => regs.forEach((r, j) => this.tb.emit({ op: 'mov', dst: carried[i]![j]!, src: r })));
        if (pipe) this.tb.emit({ op: 'binary', fn: 'xor', dst: pipe.stage, a: pipe.stage, b: imm(1, 'u32') });
      });
    } finally {
      this.activePipeline = outer;
    }
    this.tb.emit({ op: 'for', iv, lb, ub, step, body: instrs });
    if (pipe) {
      // The last prefetch (zero-filled past the end) must land before shared memory is used again.
      this.tb.emit({ op: 'cp_async_wait', pending: 0 });
      this.tb.emit({ op: 'bar' });
    }
    op.results.forEach((r, i) => this.env.set(r, { layout: layoutOf(r, this.threads), regs: carried[i]! }));
  }

  /**
   * The products a loop body yields whose old carried value nothing reads after them: they accumulate in
   * the carried registers (see accumulateInto).
   */
  private noteCarriedProducts(body: Block, carried: readonly (readonly Reg[])[]): void {
    const y = body.ops.at(-1);
    if (y?.opcode !== 'yield') return;
    const readsAfter = (v: Value, from: number): boolean => {
      const uses = (o: Op): boolean => o.operands.includes(v) || o.regions.some((r) => r.ops.some(uses));
      return body.ops.slice(from + 1).some(uses);
    };
    y.operands.forEach((v, i) => {
      const d = v.def;
      if (d?.opcode !== 'dot' || d.parent !== body || y.operands.indexOf(v) !== i) return;
      if (!readsAfter(body.args[1 + i]!, body.ops.indexOf(d))) this.accumulateInto.set(d, carried[i]!);
    });
  }

  private ifOp(op: Op): void {
    const cond = this.scalarReg(op.operands[0]!);
    const outs = op.results.map((r) => Array.from({ length: layoutOf(r, this.threads).regs }, () => this.tb.reg(valueRegType(r))));
    // Groups issued in a branch are waited for in it, so both paths leave the same ones in flight (those
    // from before, which the branch did not need; a branch that waited for them makes a later wait free).
    const pending = this.pendingWgmma;
    const branch = (b: Block): Instr[] =>
      this.tb.nested(() => {
        this.pendingWgmma = [...pending];
        const ys = this.block(b);
        if (this.pendingWgmma.some((g) => !pending.includes(g))) this.flushWgmma();
        ys.forEach((regs, i) => regs.forEach((r, j) => this.tb.emit({ op: 'mov', dst: outs[i]![j]!, src: r })));
      });
    const thenI = branch(op.regions[0]!), elseI = branch(op.regions[1]!);
    this.pendingWgmma = pending;
    this.tb.emit({ op: 'if', cond, then: thenI, else: elseI });
    op.results.forEach((r, i) => this.env.set(r, { layout: layoutOf(r, this.threads), regs: outs[i]! }));
  }
}

/** Values an op's regions read that are defined outside them. */
function usedFromOutside(op: Op): Value[] {
  const inside = new Set<Value>(), used = new Set<Value>();
  const walk = (b: Block): void => {
    b.args.forEach((a) => inside.add(a));
    for (const o of b.ops) {
      o.operands.forEach((v) => used.add(v));
      o.results.forEach((r) => inside.add(r));
      o.regions.forEach(walk);
    }
  };
  op.regions.forEach(walk);
  return [...used].filter((v) => !inside.has(v));
}

/** Whether a value is a constant zero (as tl.dot's default accumulator is). */
function isZeroConstant(v: Value): boolean {
  return v.def?.opcode === 'constant' && Number(v.def.attrs['value']) === 0;
}

/** The index in the reduced shape of source element `e` (the reduced axis dropped). */
function srcIndex2dst(e: number, srcShape: readonly number[], axis: number, ss: readonly number[], ds: readonly number[]): number {
  let o = 0;
  srcShape.forEach((size, d) => {
    if (d === axis) return;
    o += (Math.floor(e / ss[d]!) % size) * ds[d < axis ? d : d - 1]!;
  });
  return o;
}

interface ShufflePlan {
  /** For each output slot, the source registers each thread combines first. */
  readonly slots: readonly (readonly number[])[];
  /** Lane bits to combine across with butterfly shuffles. */
  readonly laneBits: readonly number[];
  /** Warp bits whose partials are combined through shared memory afterwards. */
  readonly warpBits: readonly number[];
  /** Thread-id bits that must be clear in the one thread of a group that writes its partial. */
  readonly writerMask: number;
  /** The layout of the reduced values after the shuffles (every lane of a butterfly group holds them). */
  result(shape: readonly number[]): DistributedLayout;
}

/**
 * A reduction done in registers and warp shuffles, when the layout allows it: every thread holds its
 * outputs' source elements in the same registers, and the lanes that differ in some lane-id bits hold
 * the rest of each output's elements exactly once (no replicated element counted twice). Checked
 * over the layout's table; undefined when it does not hold (the reduction then goes through shared memory).
 */
function shufflePlan(l: DistributedLayout, outOf: (e: number) => number, n: number): ShufflePlan | undefined {
  const outsOf = (t: number): number[] => {
    const outs: number[] = [];
    for (let k = 0; k < l.regs; k++) {
      const o = outOf(l.table[t * l.regs + k]!);
      if (!outs.includes(o)) outs.push(o);
    }
    return outs;
  };
  const outs0 = outsOf(0);
  const slots = outs0.map((o) => [...Array(l.regs).keys()].filter((k) => outOf(l.table[k]!) === o));
  const perThread: number[][] = [];
  for (let t = 0; t < l.threads; t++) {
    const outs = outsOf(t);
    if (outs.length !== outs0.length) return undefined;
    // Same registers feed the same slot in every thread.
    if (slots.some((ks, j) => ks.some((k) => outOf(l.table[t * l.regs + k]!) !== outs[j]))) return undefined;
    perThread.push(outs);
  }
  const laneBits: number[] = [], warpBits: number[] = [];
  let writerMask = 0;
  for (let b = 0; 1 << b < l.threads; b++) {
    const m = 1 << b;
    let sameOutputs = true, sameElements = true;
    for (let t = 0; t < l.threads && sameOutputs; t++) {
      sameOutputs = perThread[t]!.every((o, j) => perThread[t ^ m]![j] === o);
      sameElements &&= l.table[t * l.regs] === l.table[(t ^ m) * l.regs];
    }
    if (!sameOutputs) continue;
    if (sameElements) writerMask |= m; // replicas: one of them writes
    else if (b < 5) {
      laneBits.push(b);
      writerMask |= m;
    } else warpBits.push(b);
  }
  // Each output must see each of its n source elements exactly once across lanes and warps combined.
  const groupMask = [...laneBits, ...warpBits].reduce((m, b) => m | (1 << b), 0);
  for (let t = 0; t < l.threads; t++) {
    if (t & groupMask) continue;
    for (let j = 0; j < slots.length; j++) {
      const seen = new Set<number>();
      let count = 0;
      for (let sub = 0; sub <= groupMask; sub++) {
        if (sub & ~groupMask) continue;
        for (const k of slots[j]!) {
          seen.add(l.table[(t | sub) * l.regs + k]!);
          count++;
        }
      }
      if (seen.size !== n || count !== n) return undefined;
    }
  }
  return {
    slots,
    laneBits,
    warpBits,
    writerMask,
    result: (shape) => tableLayout(`reduced<${l.name}>`, shape, l.threads, slots.length, (t, j) => perThread[t]![j]!),
  };
}

