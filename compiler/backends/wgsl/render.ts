// Prints a thread program (compiler/threads/thread-ir.ts) as a WGSL compute shader: the second renderer
// of the program the PTX backend prints, with one invocation per thread of the layouts.
//
// What WGSL lacks, and how the renderer makes up for it:
// - Pointers and 64-bit integers. A provenance analysis finds which pointer parameter every u64
//   register derives from (through mov, add and selp); such a register is rendered as an i32 BYTE
//   offset into that parameter's storage buffer, and a load or store through it becomes an element
//   index into the buffer's binding. s64 registers are i32: buffers must stay under 2^31 bytes and
//   i64 arithmetic wraps at 32 bits (launches refuse i64 scalars beyond the i32 range).
// - Sub-word memory. f16 (without shader-f16), bf16, i8/u8 and i1 live as halves/bytes of u32 words;
//   loads extract them, stores to a buffer the kernel writes go through atomicAnd/atomicOr on
//   `array<atomic<u32>>`, so an invocation never overwrites the neighbouring element another one
//   writes. With shader-f16, f16 buffers are `array<f16>` (`enable f16`).
// - f32 atomic add: a compare-exchange loop on `atomic<u32>`.
// - Traps: `trap_unless` cannot be expressed (WGSL cannot abort a dispatch); it becomes a comment,
//   and device assertions are checked by the CPU interpreter and the PTX simulator only.
// Every global access is bounds-checked against arrayLength() in a per-buffer helper function, so no
// access leaves its buffer even on implementations that do not clamp: an out-of-range load reads 0,
// an out-of-range store is dropped, and a masked-off invocation never touches memory.
import type { DType } from '../../ir/dtype.js';
import type { Instr, MemType, Reg, RegType, Src, ThreadProgram, UnaryFn } from '../../threads/thread-ir.js';

export class WgslLoweringError extends Error {
  override name = 'WgslLoweringError';
}

export interface WgslFeatures {
  /** The device has shader-f16: f16 buffers are `array<f16>` and f16 rounding is a conversion. */
  readonly f16?: boolean;
  /**
   * The device has subgroups of at least this many invocations, made of consecutive invocation indices
   * (subgroup_invocation_id = local_invocation_index % subgroup_size; the WebGPU runtime checks it with a
   * probe shader): butterfly shuffles with a lane mask below it are `subgroupShuffleXor`.
   */
  readonly subgroupSize?: number;
}

/** How a pointer parameter's elements sit in its storage buffer. */
export type StorageRep =
  | 'f32' | 'i32' | 'u32' // one element per array element
  | 'f16' // array<f16> (shader-f16)
  | 'half' // 16-bit halves of u32 words (bf16; f16 without shader-f16)
  | 'byte'; // bytes of u32 words (i8, u8, i1)

export interface WgslBinding {
  readonly binding: number;
  readonly kind: 'storage' | 'read-only-storage' | 'uniform';
  /** The kernel parameter (index among the thread program's parameters); absent for the uniform buffer. */
  readonly param?: number;
  readonly name: string;
  readonly dtype?: DType;
  readonly rep?: StorageRep;
}

export interface UniformField {
  readonly name: string;
  readonly param: number;
  /** Byte offset in the uniform buffer. */
  readonly offset: number;
  readonly type: 'i32' | 'u32' | 'f32';
  /** The parameter's type in the thread program (s64 scalars are packed as i32 after a range check). */
  readonly from: RegType;
}

export interface UniformLayout {
  readonly binding: number;
  /** Bytes (a multiple of 16). */
  readonly size: number;
  readonly fields: readonly UniformField[];
}

export interface RenderedWgsl {
  readonly wgsl: string;
  readonly entry: string;
  readonly bindings: readonly WgslBinding[];
  readonly uniformLayout: UniformLayout | undefined;
  /** Bytes of every `var<workgroup>` the shader declares: shared tiles, shuffle exchange slots, mma tiles. */
  readonly workgroupBytes: number;
}

export interface WgslRenderOptions {
  readonly features: WgslFeatures;
  /** Element type of each pointer parameter (by thread-program parameter index). */
  readonly pointees: readonly (DType | undefined)[];
  /** The kernel's source file, for the header comment. */
  readonly sourceFile?: string;
}

export function renderWgsl(p: ThreadProgram, opts: WgslRenderOptions): RenderedWgsl {
  return new WgslRenderer(p, opts).render();
}

// ------------------------------------------------------------------------------------------ analysis

/** Every register an instruction reads. */
function usesOf(i: Instr): Reg[] {
  const out: Reg[] = [];
  const s = (x: Src | undefined): void => void (x && x.kind === 'reg' && out.push(x));
  switch (i.op) {
    case 'mov': s(i.src); break;
    case 'binary': s(i.a); s(i.b); break;
    case 'unary': s(i.a); break;
    case 'fma': s(i.a); s(i.b); s(i.c); break;
    case 'setp': s(i.a); s(i.b); break;
    case 'selp': s(i.a); s(i.b); s(i.cond); break;
    case 'cvt': s(i.src); break;
    case 'narrow': s(i.src); break;
    case 'ld': s(i.addr); s(i.pred); break;
    case 'st': s(i.src); s(i.addr); s(i.pred); break;
    case 'atom_add': s(i.addr); s(i.src); s(i.pred); break;
    case 'trap_unless': s(i.cond); break;
    case 'shfl_bfly': s(i.src); break;
    case 'ldv': s(i.addr); s(i.pred); break;
    case 'stv': i.srcs.forEach(s); s(i.addr); s(i.pred); break;
    case 'ldmatrix': s(i.addr); break;
    case 'pack_half2': s(i.lo); s(i.hi); break;
    case 'mma': [...i.a, ...i.b, ...i.c].forEach(s); break;
    case 'for': s(i.lb); s(i.ub); s(i.step); break;
    case 'if': s(i.cond); break;
    default: break;
  }
  return out;
}

/** The registers an instruction writes. */
function defsOf(i: Instr): readonly Reg[] {
  switch (i.op) {
    case 'mov': case 'special': case 'param': case 'smem_base': case 'binary': case 'unary': case 'fma':
    case 'setp': case 'selp': case 'cvt': case 'narrow': case 'ld': case 'atom_add': case 'shfl_bfly': case 'pack_half2':
      return [i.dst];
    case 'mma': return i.d;
    case 'ldv': case 'ldmatrix': return i.dsts;
    case 'for': return [i.iv];
    default: return [];
  }
}

/** Instructions without side effects, left out when nothing reads their results (shuffles and mma are CTA-uniform, so dropping them is too). */
const PURE = new Set<Instr['op']>(['mov', 'special', 'param', 'smem_base', 'binary', 'unary', 'fma', 'setp', 'selp', 'cvt', 'narrow', 'ld', 'ldv', 'ldmatrix', 'shfl_bfly', 'pack_half2', 'mma']);

function walk(body: readonly Instr[], f: (i: Instr) => void): void {
  for (const i of body) {
    f(i);
    if (i.op === 'for') walk(i.body, f);
    else if (i.op === 'if') {
      walk(i.then, f);
      walk(i.else, f);
    }
  }
}

// ------------------------------------------------------------------------------------------ naming

/** WGSL keywords and reserved words an identifier must not be (a name that is gets a trailing '_'). */
const RESERVED = new Set(`alias break case const const_assert continue continuing default diagnostic discard else enable false fn for
if let loop override requires return struct switch true var while NULL Self abstract active alignas alignof as asm asm_fragment
async attribute auto await become binding_array cast catch class co_await co_return co_yield coherent column_major common compile
compile_fragment concept const_cast consteval constexpr constinit crate debugger decltype delete demote demote_to_helper do dynamic_cast
enum explicit export extends extern external fallthrough filter final finally friend from fxgroup get goto groupshared highp impl
implements import inline instanceof interface layout lowp macro macro_rules match mediump meta mod module move mut mutable namespace
new nil noexcept noinline nointerpolation non_coherent noncoherent noperspective null nullptr of operator package packoffset partition
pass patch pixelfragment precise precision premerge priv protected pub public readonly ref regardless register reinterpret_cast
require resource restrict self set shared sizeof smooth snorm static static_assert static_cast std subroutine super target template
this thread_local throw trait try type typedef typeid typename typeof union unless unorm unsafe unsized use using varying virtual
volatile wgsl where with writeonly yield bool f16 f32 i32 u32 vec2 vec3 vec4 mat2x2 array atomic ptr sampler texture_2d`.split(/\s+/));

function identifier(name: string): string {
  let s = name.replace(/[^A-Za-z0-9_]/g, '_');
  if (!/^[A-Za-z_]/.test(s)) s = `_${s}`;
  if (s.startsWith('__')) s = `x${s}`;
  if (s === '_' || RESERVED.has(s)) s = `${s}_`;
  return s;
}

// ------------------------------------------------------------------------------------------ types and literals

type WType = 'bool' | 'i32' | 'u32' | 'f32';

function wtype(t: RegType): WType {
  switch (t) {
    case 'pred': return 'bool';
    case 's32': case 's64': case 'u64': return 'i32';
    case 'u32': return 'u32';
    case 'f32': return 'f32';
    case 'f64': throw new WgslLoweringError('f64 values are not supported on WebGPU (WGSL has no 64-bit floats); use f32');
  }
}

const F32_MAX = 3.4028234663852886e38;

/**
 * The shortest decimal that reads back as the same f32; near the top of the range, where that decimal
 * is itself above the largest f32 (3.4028235e38, which WGSL rejects as out of range), a hex float.
 */
function f32Text(v: number): string {
  const x = Math.fround(v);
  if (Object.is(x, -0)) return '-0.0f';
  for (let p = 1; p <= 9; p++) {
    const s = x.toPrecision(p);
    if (Math.abs(Number(s)) > F32_MAX) return f32Hex(x);
    if (Math.fround(Number(s)) === x) {
      let t = s.includes('e') ? s.replace(/\.?0+e/, 'e').replace('e+', 'e') : s.includes('.') ? s.replace(/0+$/, '').replace(/\.$/, '.0') : `${s}.0`;
      if (t.startsWith('.')) t = `0${t}`;
      return `${t}f`;
    }
  }
  return `${x}f`;
}

/** A normal f32 as a WGSL hex float literal: ±0x1.<23 bits, 6 hex digits>p<exponent>f. */
function f32Hex(x: number): string {
  const bits = new Uint32Array(new Float32Array([x]).buffer)[0]!;
  const exponent = ((bits >>> 23) & 0xff) - 127, mantissa = (bits & 0x7fffff) << 1;
  return `${x < 0 ? '-' : ''}0x1.${mantissa.toString(16).padStart(6, '0')}p${exponent >= 0 ? '+' : ''}${exponent}f`;
}

interface Operand {
  readonly text: string;
  /** A WGSL const-expression (a literal): an instruction of constants only would be evaluated at shader creation. */
  readonly isConst: boolean;
  readonly type: WType;
}

function literal(v: number, t: WType): Operand {
  switch (t) {
    case 'bool': return { text: v ? 'true' : 'false', isConst: true, type: t };
    case 'u32': return { text: `${(v >>> 0) >>> 0}u`, isConst: true, type: t };
    case 'i32': {
      const x = Number(BigInt.asIntN(32, BigInt(Math.trunc(v))));
      return { text: x === -(2 ** 31) ? '(-2147483647i - 1i)' : `${x}i`, isConst: true, type: t };
    }
    case 'f32': {
      const x = Math.fround(v);
      // Infinities and NaN have no literal and must not appear in const-expressions: built at run time.
      if (!Number.isFinite(x)) {
        const bits = Number.isNaN(x) ? '0x7fc00000u' : x > 0 ? '0x7f800000u' : '0xff800000u';
        return { text: `f32_bits(${bits})`, isConst: false, type: t };
      }
      return { text: f32Text(x), isConst: true, type: t };
    }
  }
}

/** Converts an operand to another WGSL type (integer conversions keep the bits, as the simulator's cvt). */
function coerce(o: Operand, to: WType): Operand {
  if (o.type === to) return o;
  if (to === 'bool') return { text: `(${o.text} != ${literal(0, o.type).text})`, isConst: o.isConst, type: to };
  if (o.type === 'bool') return { text: `select(${literal(0, to).text}, ${literal(1, to).text}, ${o.text})`, isConst: o.isConst, type: to };
  return { text: `${to}(${o.text})`, isConst: o.isConst, type: to };
}

const neg = (t: string): string => (t.startsWith('-') ? `(${t})` : t);

// ------------------------------------------------------------------------------------------ the renderer

interface ParamInfo {
  readonly index: number;
  readonly name: string; // WGSL identifier of its buffer
  readonly dtype: DType;
  readonly rep: StorageRep;
  loads: boolean;
  stores: boolean;
  atomics: boolean;
  binding: number;
}

class WgslRenderer {
  private readonly used = new Set<string>();
  private readonly counters = new Map<string, number>();
  private readonly names = new Map<number, string>();
  /** Registers rendered as an expression instead of a declaration (aliases of immutable values). */
  private readonly alias = new Map<number, Operand>();
  /** Pointer registers known to be a parameter's base (byte offset 0). */
  private readonly zeroPtr = new Set<number>();
  private readonly defs = new Map<number, number>();
  private readonly uses = new Map<number, number>();
  /** Registers that must be `var`s (several definitions, or used outside the definition's scope). */
  private readonly mutable = new Set<number>();
  private readonly dead = new Set<Instr>();
  private readonly prov = new Map<number, number>();
  private readonly params = new Map<number, ParamInfo>();
  private readonly helpers = new Map<string, string>();
  private readonly varDecls: string[] = [];
  private readonly lines: string[] = [];
  private smemAtomic = false;
  private uniformName = 'args';
  private tidName = 'tid';
  private pidName = 'pid';
  private npidName = 'npid';
  private smemName = 'smem';
  private shuffles = false;
  private subgroups = false;
  /**
   * Which of the two exchange buffers of the emulated shuffles no invocation may still read (a barrier
   * has passed since their last reads): a shuffle into a free buffer needs one barrier, not two.
   */
  private xchgFree: [boolean, boolean] = [true, true];
  private xchgNext = 0;
  private mmaTypes = new Set<'f16' | 'bf16'>();
  private xchgName = 'xchg';
  private mmaTileName = 'mma_tile';

  constructor(private readonly p: ThreadProgram, private readonly opts: WgslRenderOptions) {}

  // ------------------------------------------------------------ analysis
  private analyze(): void {
    // Definitions, uses and scopes: a register becomes a `let` when it is defined once and every use is
    // in the defining list (after the definition) or nested inside it.
    const defScope = new Map<number, number>();
    const open: number[] = [];
    let nextScope = 0;
    const visit = (body: readonly Instr[]): void => {
      const id = nextScope++;
      open.push(id);
      for (const i of body) {
        for (const r of usesOf(i)) {
          this.uses.set(r.id, (this.uses.get(r.id) ?? 0) + 1);
          const s = defScope.get(r.id);
          if (s === undefined || !open.includes(s)) this.mutable.add(r.id);
        }
        for (const d of defsOf(i)) {
          this.defs.set(d.id, (this.defs.get(d.id) ?? 0) + 1);
          if (this.defs.get(d.id)! > 1) this.mutable.add(d.id);
          if (i.op !== 'for') defScope.set(d.id, id);
        }
        if (i.op === 'for') {
          // The induction variable is declared by the loop header, visible in its body only.
          const inner = nextScope;
          defScope.set(i.iv.id, inner);
          visit(i.body);
        } else if (i.op === 'if') {
          visit(i.then);
          visit(i.else);
        }
      }
      open.pop();
    };
    visit(this.p.body);

    // Registers defined but never read are not printed (the lowering leaves a few, e.g. argmax indices of a sum).
    let changed = true;
    while (changed) {
      changed = false;
      walk(this.p.body, (i) => {
        if (this.dead.has(i) || !PURE.has(i.op)) return;
        if (defsOf(i).some((d) => (this.uses.get(d.id) ?? 0) > 0)) return;
        this.dead.add(i);
        for (const r of usesOf(i)) this.uses.set(r.id, this.uses.get(r.id)! - 1);
        changed = true;
      });
    }

    // Pointer provenance, to a fixed point (loop-carried pointers are assigned after their first use).
    const setProv = (r: Reg, param: number, what: string): boolean => {
      const old = this.prov.get(r.id);
      if (old === undefined) {
        this.prov.set(r.id, param);
        return true;
      }
      if (old !== param)
        throw new WgslLoweringError(`WGSL backend: ${what} may point into '${this.p.params[old]!.name}' or '${this.p.params[param]!.name}'; ` +
          'WGSL has no pointers, so every address must derive from one pointer argument');
      return false;
    };
    changed = true;
    while (changed) {
      changed = false;
      // Layout conversions move pointer blocks through shared memory: a pointer loaded from there comes
      // from the pointers stored last before it (each conversion stores, waits at a barrier, loads).
      let sharedPtr: number | undefined;
      walk(this.p.body, (i) => {
        if (i.op === 'param' && this.p.params[i.index]!.isPointer) changed = setProv(i.dst, i.index, 'a pointer') || changed;
        if (i.op === 'st' && i.space === 'shared' && i.mem === 'u64' && i.src.kind === 'reg' && this.prov.has(i.src.id)) sharedPtr = this.prov.get(i.src.id);
        if (i.op === 'ld' && i.space === 'shared' && i.mem === 'u64' && sharedPtr !== undefined) changed = setProv(i.dst, sharedPtr, `pointer register %${i.dst.id} (through shared memory)`) || changed;
        if (!('dst' in i) || i.dst.type !== 'u64') return;
        const from = (s: Src): void => {
          if (s.kind === 'reg' && this.prov.has(s.id)) changed = setProv((i as { dst: Reg }).dst, this.prov.get(s.id)!, `address register %${(i as { dst: Reg }).dst.id}`) || changed;
        };
        if (i.op === 'mov') from(i.src);
        else if (i.op === 'binary' && (i.fn === 'add' || i.fn === 'sub')) {
          from(i.a);
          if (i.fn === 'add') from(i.b);
        } else if (i.op === 'selp') {
          from(i.a);
          from(i.b);
        }
      });
    }

    // What each pointer parameter is used for.
    this.p.params.forEach((q, index) => {
      if (!q.isPointer) return;
      const dtype = this.opts.pointees[index] ?? 'u32';
      const rep: StorageRep = dtype === 'f32' ? 'f32' : dtype === 'i32' ? 'i32' : dtype === 'u32' ? 'u32'
        : dtype === 'f16' ? (this.opts.features.f16 ? 'f16' : 'half') : dtype === 'bf16' ? 'half' : dtype === 'i8' || dtype === 'u8' || dtype === 'i1' ? 'byte' : 'u32';
      this.params.set(index, { index, name: '', dtype, rep, loads: false, stores: false, atomics: false, binding: -1 });
    });
    walk(this.p.body, (i) => {
      if (this.dead.has(i)) return;
      if ((i.op === 'ld' || i.op === 'st') && i.space === 'shared') {
        // Sub-word stores to workgroup memory are read-modify-writes of words other invocations may write too.
        if (i.op === 'st' && MEM_BYTES_SUB.has(i.mem)) this.smemAtomic = true;
        return;
      }
      if (i.op !== 'ld' && i.op !== 'st' && i.op !== 'atom_add' && i.op !== 'ldv' && i.op !== 'stv') return;
      const info = this.paramOf(i.addr, i.op);
      const dtype = info.dtype;
      const want = MEM_OF[dtype];
      if (want !== i.mem)
        throw new WgslLoweringError(`WGSL backend: ${i.op} of ${i.mem} through '${this.p.params[info.index]!.name}', a buffer of ${dtype}`);
      if (dtype === 'f64' || dtype === 'i64')
        throw new WgslLoweringError(`WGSL backend: '${this.p.params[info.index]!.name}' is a buffer of ${dtype}; WGSL has no 64-bit types (use f32/i32 buffers on WebGPU)`);
      if (i.op === 'ld' || i.op === 'ldv') info.loads = true;
      else if (i.op === 'st' || i.op === 'stv') info.stores = true;
      else {
        if (dtype !== 'f32' && dtype !== 'i32' && dtype !== 'u32') throw new WgslLoweringError(`WGSL backend: atomic add on ${dtype} is not supported`);
        info.atomics = true;
      }
    });
  }

  private paramOf(addr: Reg, what: string): ParamInfo {
    const index = this.prov.get(addr.id);
    if (index === undefined)
      throw new WgslLoweringError(`WGSL backend: the address of a ${what} (register %${addr.id}) does not derive from a pointer argument`);
    return this.params.get(index)!;
  }

  // ------------------------------------------------------------ names
  private fresh(base: string): string {
    let name = identifier(base);
    if (this.used.has(name)) {
      let n = this.counters.get(name) ?? 1;
      while (this.used.has(`${name}${n}`)) n++;
      this.counters.set(name, n + 1);
      name = `${name}${n}`;
    }
    this.used.add(name);
    return name;
  }
  /** Names from a per-prefix counter: f0, f1, ... */
  private numbered(prefix: string): string {
    let n = this.counters.get(`#${prefix}`) ?? 0;
    while (this.used.has(`${prefix}${n}`) || RESERVED.has(`${prefix}${n}`)) n++; // f32, i32, u32, f16 are types
    this.counters.set(`#${prefix}`, n + 1);
    const name = `${prefix}${n}`;
    this.used.add(name);
    return name;
  }

  private nameOf(r: Reg, prefix?: string): string {
    let n = this.names.get(r.id);
    if (!n) {
      const pa = this.prov.get(r.id);
      n = this.numbered(prefix ?? (pa !== undefined ? `${this.params.get(pa)!.name}_off` : { pred: 'p', s32: 'i', s64: 'l', u64: 'a', u32: 'u', f32: 'f', f64: 'd' }[r.type]));
      this.names.set(r.id, n);
      if (this.mutable.has(r.id)) this.varDecls.push(`  var ${n}: ${wtype(r.type)};`);
    }
    return n;
  }

  private isLet(r: Reg): boolean {
    return !this.mutable.has(r.id);
  }

  // ------------------------------------------------------------ operands
  private src(s: Src, want?: WType): Operand {
    let o: Operand;
    if (s.kind === 'imm') o = literal(s.value, want ?? wtype(s.type));
    else {
      const a = this.alias.get(s.id);
      o = a ?? { text: this.nameOf(s), isConst: false, type: wtype(s.type) };
    }
    return want ? coerce(o, want) : o;
  }

  /** Operand texts; when all of them are literals the first is bound to a `let` (a run-time value), so no const-expression can fail. */
  private operands(ind: string, ...ops: Operand[]): string[] {
    if (ops.length > 0 && ops.every((o) => o.isConst)) {
      const t = this.numbered('c');
      this.lines.push(`${ind}let ${t} = ${ops[0]!.text};`);
      ops[0] = { text: t, isConst: false, type: ops[0]!.type };
    }
    return ops.map((o) => o.text);
  }

  /** Defines `dst` as `expr`: an alias, a `let`, or an assignment to its `var`. */
  private define(dst: Reg, expr: string, ind: string, opts: { aliasable?: boolean; prefix?: string } = {}): void {
    if (this.isLet(dst)) {
      if (opts.aliasable) {
        this.alias.set(dst.id, { text: expr, isConst: false, type: wtype(dst.type) });
        return;
      }
      this.lines.push(`${ind}let ${this.nameOf(dst, opts.prefix)} = ${expr};`);
    } else this.lines.push(`${ind}${this.nameOf(dst, opts.prefix)} = ${expr};`);
  }

  // ------------------------------------------------------------ output
  render(): RenderedWgsl {
    this.analyze();
    const entry = this.fresh(this.p.name);
    for (const n of ['f32_bits', 'round_bf16', 'round_f16', 'smem_u16']) this.used.add(n);
    this.tidName = this.fresh('tid');
    this.pidName = this.fresh('pid');
    this.npidName = this.fresh('npid');
    this.smemName = this.fresh('smem');
    this.uniformName = this.fresh('args');
    this.xchgName = this.fresh('xchg');
    this.mmaTileName = this.fresh('mma_tile');
    const argsType = this.fresh('Args');

    // Bindings: one storage buffer per pointer parameter, in order, then one uniform buffer of scalars.
    const bindings: WgslBinding[] = [];
    const decls: string[] = [];
    let binding = 0;
    for (const info of this.params.values()) {
      (info as { name: string }).name = this.fresh(this.p.params[info.index]!.name);
      for (const h of ['_ld', '_st', '_atomic_add']) this.used.add(info.name + h);
      info.binding = binding++;
      const written = info.stores || info.atomics;
      const elem = this.storageElem(info);
      decls.push(`@group(0) @binding(${info.binding}) var<storage, ${written ? 'read_write' : 'read'}> ${info.name}: array<${elem}>; // ${this.p.params[info.index]!.name}: *${info.dtype}`);
      bindings.push({ binding: info.binding, kind: written ? 'storage' : 'read-only-storage', param: info.index, name: this.p.params[info.index]!.name, dtype: info.dtype, rep: info.rep });
    }
    const fields: UniformField[] = [];
    const fieldNames = new Set<string>();
    this.p.params.forEach((q, index) => {
      if (q.isPointer) return;
      let name = identifier(q.name);
      while (fieldNames.has(name)) name = `${name}_`;
      fieldNames.add(name);
      const type: UniformField['type'] = q.type === 'f32' ? 'f32' : q.type === 'u32' || q.type === 'pred' ? 'u32' : q.type === 's32' || q.type === 's64' ? 'i32' : wtype(q.type) as 'i32';
      fields.push({ name, param: index, offset: 4 * fields.length, type, from: q.type });
    });
    let uniformLayout: UniformLayout | undefined;
    if (fields.length) {
      uniformLayout = { binding, size: Math.ceil((4 * fields.length) / 16) * 16, fields };
      decls.push(`struct ${argsType} {\n${fields.map((f) => `  ${f.name}: ${f.type}, // ${this.p.params[f.param]!.name}: ${f.from === 's64' ? 'i64 (as i32)' : f.from === 'pred' ? 'bool (as u32)' : f.type}`).join('\n')}\n}`);
      decls.push(`@group(0) @binding(${binding}) var<uniform> ${this.uniformName}: ${argsType};`);
      bindings.push({ binding, kind: 'uniform', name: this.uniformName });
    }
    const fieldOf = new Map(fields.map((f) => [f.param, f]));

    let workgroupWords = 0;
    if (this.p.sharedBytes > 0) {
      const words = Math.ceil(this.p.sharedBytes / 4);
      workgroupWords += words;
      decls.push(`var<workgroup> ${this.smemName}: array<${this.smemAtomic ? 'atomic<u32>' : 'u32'}, ${words}>; // ${this.p.sharedBytes} bytes of shared memory`);
    }

    this.body(this.p.body, '  ', fieldOf);
    if (this.shuffles) {
      workgroupWords += 2 * this.p.threads;
      decls.push(`var<workgroup> ${this.xchgName}: array<u32, ${2 * this.p.threads}>; // two sets of exchange slots for the emulated warp shuffles`);
    }
    if (this.mmaTypes.size) {
      workgroupWords += (this.p.threads / 32) * MMA_TILE_WORDS;
      decls.push(`var<workgroup> ${this.mmaTileName}: array<f32, ${(this.p.threads / 32) * MMA_TILE_WORDS}>; // per warp: the A (16x16) and B (16x8) tiles of the emulated mma`);
    }

    if ([...this.helpers.values(), ...this.lines].some((l) => l.includes('f32_bits('))) this.helper('f32_bits', () => F32_BITS);
    const usesF16 = this.opts.features.f16 === true && [...this.params.values()].some((q) => q.rep === 'f16');
    const header = [
      `// Generated by tilejit from kernel '${this.p.name}'${this.opts.sourceFile ? ` (${this.opts.sourceFile})` : ''}.`,
      `// ${this.p.threads} invocations per workgroup (one per thread of the layouts); program ids are workgroup ids.`,
      '// Pointers are i32 byte offsets into their argument\'s buffer; every access is bounds-checked.',
    ];
    const out = [
      ...header,
      ...(usesF16 ? ['enable f16;'] : []),
      ...(this.subgroups ? ['enable subgroups;'] : []),
      '',
      ...decls,
      '',
      ...[...this.helpers.values()].map((h) => h + '\n'),
      `@compute @workgroup_size(${this.p.threads})`,
      `fn ${entry}(@builtin(local_invocation_index) ${this.tidName}: u32, @builtin(workgroup_id) ${this.pidName}: vec3<u32>, @builtin(num_workgroups) ${this.npidName}: vec3<u32>) {`,
      ...this.varDecls,
      ...this.lines,
      '}',
      '',
    ];
    return { wgsl: out.join('\n'), entry, bindings, uniformLayout, workgroupBytes: 4 * workgroupWords };
  }

  private storageElem(info: ParamInfo): string {
    const written = info.stores || info.atomics;
    switch (info.rep) {
      case 'f32': return info.atomics ? 'atomic<u32>' : 'f32';
      case 'i32': return info.atomics ? 'atomic<i32>' : 'i32';
      case 'u32': return info.atomics ? 'atomic<u32>' : 'u32';
      case 'f16': return 'f16';
      case 'half': case 'byte': return written ? 'atomic<u32>' : 'u32';
    }
  }

  private helper(name: string, text: () => string): string {
    if (!this.helpers.has(name)) this.helpers.set(name, text());
    return name;
  }

  private body(instrs: readonly Instr[], ind: string, fieldOf: Map<number, UniformField>): void {
    for (const i of instrs) if (!this.dead.has(i)) this.instr(i, ind, fieldOf);
  }

  private instr(i: Instr, ind: string, fieldOf: Map<number, UniformField>): void {
    const L = (s: string): void => void this.lines.push(ind + s);
    switch (i.op) {
      case 'comment': return L(`// ${i.text}`);
      case 'mov': {
        if (i.src.kind === 'reg' && this.zeroPtr.has(i.src.id) && this.isLet(i.dst)) this.zeroPtr.add(i.dst.id);
        const s = this.src(i.src, wtype(i.dst.type));
        // A copy of an immutable value (or a finite literal) is the value itself.
        const immutable = i.src.kind === 'imm' ? s.isConst : this.isLet(i.src);
        if (this.isLet(i.dst) && immutable) {
          this.alias.set(i.dst.id, s);
          return;
        }
        return this.define(i.dst, s.text, ind);
      }
      case 'special': {
        const text = i.which === 'tid' ? this.tidName : `${i.which.startsWith('ctaid') ? this.pidName : this.npidName}.${i.which.at(-1)}`;
        return this.define(i.dst, text, ind, { aliasable: true });
      }
      case 'param': {
        const q = this.p.params[i.index]!;
        if (q.isPointer) {
          this.zeroPtr.add(i.dst.id);
          return this.define(i.dst, '0i', ind, { aliasable: true });
        }
        const f = fieldOf.get(i.index)!;
        return this.define(i.dst, coerce({ text: `${this.uniformName}.${f.name}`, isConst: false, type: f.type }, wtype(i.dst.type)).text, ind, { aliasable: true });
      }
      case 'smem_base': return this.define(i.dst, '0u', ind, { aliasable: true });
      case 'binary': return this.binary(i, ind);
      case 'unary': return this.unary(i, ind);
      case 'fma': {
        const t = wtype(i.dst.type);
        const [a, b, c] = this.operands(ind, this.src(i.a, t), this.src(i.b, t), this.src(i.c, t));
        return this.define(i.dst, t === 'f32' ? `fma(${a}, ${b}, ${c})` : `${a} * ${b} + ${c}`, ind);
      }
      case 'setp': {
        const t = i.a.kind === 'reg' ? wtype(i.a.type) : wtype(i.b.type);
        const [a, b] = this.operands(ind, this.src(i.a, t), this.src(i.b, t));
        const op = { lt: '<', le: '<=', gt: '>', ge: '>=', eq: '==', ne: '!=' }[i.fn];
        return this.define(i.dst, `${a} ${op} ${b}`, ind);
      }
      case 'selp': {
        const t = wtype(i.dst.type);
        const [a, b] = this.operands(ind, this.src(i.a, t), this.src(i.b, t));
        return this.define(i.dst, `select(${b}, ${a}, ${this.src(i.cond).text})`, ind);
      }
      case 'cvt': return this.cvt(i.dst, i.src, ind);
      case 'narrow': {
        const t = wtype(i.dst.type);
        const s = this.src(i.src, t).text;
        switch (i.to) {
          case 'f16': return this.define(i.dst, `${this.roundF16()}(${s})`, ind);
          case 'bf16': return this.define(i.dst, `${this.roundBF16()}(${s})`, ind);
          case 's8': return this.define(i.dst, t === 'i32' ? `(${s} << 24u) >> 24u` : `u32((i32(${s}) << 24u) >> 24u)`, ind);
          case 'u8': return this.define(i.dst, `${s} & ${literal(255, t).text}`, ind);
        }
        return;
      }
      case 'ld': {
        if (i.pred && this.isLet(i.dst)) throw new WgslLoweringError('internal: a masked load needs a default value (a mutable destination)');
        const expr = i.space === 'shared' ? this.sharedLoad(i.mem, i.addr, i.offset) : this.globalLoad(i.mem, i.addr, i.offset);
        if (!i.pred) return this.define(i.dst, expr, ind, { prefix: i.space === 'global' ? `${this.paramOf(i.addr, 'load').name}_v` : undefined });
        L(`if (${this.src(i.pred).text}) { ${this.nameOf(i.dst)} = ${expr}; }`);
        return;
      }
      case 'st': {
        const stmt = i.space === 'shared' ? this.sharedStore(i.mem, i.addr, i.offset, i.src, ind) : this.globalStore(i.mem, i.addr, i.offset, i.src, ind);
        if (!i.pred) return L(stmt);
        return L(`if (${this.src(i.pred).text}) { ${stmt} }`);
      }
      case 'atom_add': {
        const info = this.paramOf(i.addr, 'atomic add');
        const t = wtype(i.dst.type);
        const fn = this.atomicAddHelper(info);
        const call = `${fn}(${this.addrText(i.addr, 0)}, ${this.src(i.src, t).text})`;
        if (!i.pred) return this.define(i.dst, call, ind);
        L(`if (${this.src(i.pred).text}) { ${this.nameOf(i.dst)} = ${call}; }`);
        return;
      }
      case 'wgmma': case 'wgmma_fence': case 'wgmma_commit': case 'wgmma_wait': case 'fence_proxy_async':
        throw new WgslLoweringError(`WGSL backend: ${i.op} is a Hopper (sm_90a) instruction, which the WGSL lowering never asks for`);
      case 'mad_wide': case 'warp_broadcast':
        throw new WgslLoweringError(`WGSL backend: ${i.op} is a PTX instruction the WGSL lowering never asks for`);
      case 'bar':
        this.xchgFree = [true, true];
        return L('workgroupBarrier();');
      case 'ldv': case 'stv': {
        // Vector accesses become consecutive scalar ones (the helpers check each element's bounds).
        const bytes = MEM_BYTES_OF[i.mem];
        const regs = i.op === 'ldv' ? i.dsts : i.srcs;
        const stmts = regs.map((r, k) => {
          if (i.op === 'stv') return this.globalStore(i.mem, i.addr, k * bytes, r, ind);
          const expr = this.globalLoad(i.mem, i.addr, k * bytes);
          if (!i.pred && this.isLet(r)) return `let ${this.nameOf(r, `${this.paramOf(i.addr, 'load').name}_v`)} = ${expr};`;
          return `${this.nameOf(r)} = ${expr};`;
        });
        if (!i.pred) return stmts.forEach((st) => L(st));
        L(`if (${this.src(i.pred).text}) {`);
        stmts.forEach((st) => L(`  ${st}`));
        L('}');
        return;
      }
      case 'ldmatrix': {
        // Each lane needs the row addresses other lanes hold: exchange them, then read the 16-bit elements.
        const T = this.tidName;
        const u16 = this.smemU16Helper();
        L(`// ldmatrix.m8n8.x${i.dsts.length}${i.trans ? '.trans' : ''}: row addresses through workgroup memory`);
        const X = this.exchange(this.src(i.addr, 'u32').text, L);
        const warp = `(${T} & ~31u)`;
        // The row address given by lane `lane` of matrix `first / 8` of this warp.
        const row = (first: number, lane: string): string => X(`${warp} + ${first}u + ${lane}`);
        i.dsts.forEach((d, m) => {
          const expr = i.trans
            ? `${u16}(${row(8 * m, `2u * (${T} & 3u)`)} + 2u * ((${T} & 31u) >> 2u)) | (${u16}(${row(8 * m + 1, `2u * (${T} & 3u)`)} + 2u * ((${T} & 31u) >> 2u)) << 16u)`
            : `${u16}(${row(8 * m, `((${T} & 31u) >> 2u)`)} + 4u * (${T} & 3u)) | (${u16}(${row(8 * m, `((${T} & 31u) >> 2u)`)} + 4u * (${T} & 3u) + 2u) << 16u)`;
          this.define(d, coerce({ text: expr, isConst: false, type: 'u32' }, wtype(d.type)).text, ind);
        });
        return;
      }
      case 'shfl_bfly': {
        const t = wtype(i.src.type);
        const v = this.src(i.src, t).text;
        const sg = this.opts.features.subgroupSize ?? 0;
        if (i.laneMask < sg) {
          // Within a subgroup (consecutive invocations, at least `sg` of them): the lane's partner is in it.
          this.subgroups = true;
          const x = t === 'bool' ? `subgroupShuffleXor(select(0u, 1u, ${v}), ${i.laneMask}u) != 0u` : `subgroupShuffleXor(${v}, ${i.laneMask}u)`;
          return this.define(i.dst, x, ind);
        }
        // Across subgroups (WGSL's need not be warps of 32 in tid order; llvmpipe's are 8 wide): through workgroup memory.
        const bits = t === 'u32' ? v : t === 'bool' ? `select(0u, 1u, ${v})` : `bitcast<u32>(${v})`;
        L(`// butterfly shuffle with the lane ${i.laneMask} away`);
        const back = this.exchange(bits, L)(`(${this.tidName} ^ ${i.laneMask}u)`);
        return this.define(i.dst, t === 'u32' ? back : t === 'bool' ? `${back} != 0u` : `bitcast<${t}>(${back})`, ind);
      }
      case 'pack_half2': {
        const lo = this.src(i.lo, 'f32').text, hi = this.src(i.hi, 'f32').text;
        const expr = i.to === 'f16'
          ? `pack2x16float(vec2<f32>(${lo}, ${hi}))`
          : `(bitcast<u32>(${this.roundBF16()}(${lo})) >> 16u) | (bitcast<u32>(${this.roundBF16()}(${hi})) & 0xffff0000u)`;
        return this.define(i.dst, coerce({ text: expr, isConst: false, type: 'u32' }, wtype(i.dst.type)).text, ind);
      }
      case 'mma': {
        this.mmaTypes.add(i.type);
        const fn = this.mmaHelper(i.type);
        const u = (r: Reg): string => this.src(r, 'u32').text, f = (r: Reg): string => this.src(r, 'f32').text;
        const m = this.numbered('mma');
        L(`let ${m} = ${fn}(${this.tidName}, vec4<u32>(${i.a.map(u).join(', ')}), vec2<u32>(${i.b.map(u).join(', ')}), vec4<f32>(${i.c.map(f).join(', ')}));`);
        i.d.forEach((d, k) => this.define(d, `${m}[${k}]`, ind, { aliasable: true }));
        return;
      }
      case 'trap_unless':
        return L(`// device assertion on ${this.src(i.cond).text}: WGSL cannot trap, so it is checked by the CPU backends only`);
      case 'for': {
        const t = wtype(i.iv.type);
        const iv = this.nameOf(i.iv, 'k');
        L(`for (var ${iv}: ${t} = ${this.src(i.lb, t).text}; ${iv} < ${this.src(i.ub, t).text}; ${iv} = ${iv} + ${this.src(i.step, t).text}) {`);
        // The body runs after the code before the loop or after its own end: assume no exchange buffer is free.
        this.xchgFree = [false, false];
        this.body(i.body, ind + '  ', fieldOf);
        this.xchgFree = [false, false];
        L('}');
        return;
      }
      case 'if': {
        L(`if (${this.src(i.cond).text}) {`);
        const entry: [boolean, boolean] = [...this.xchgFree];
        this.body(i.then, ind + '  ', fieldOf);
        const afterThen = this.xchgFree;
        this.xchgFree = [...entry];
        const before = this.lines.length;
        L('} else {');
        this.body(i.else, ind + '  ', fieldOf);
        if (this.lines.length === before + 1) this.lines.pop();
        L('}');
        this.xchgFree = [afterThen[0] && this.xchgFree[0], afterThen[1] && this.xchgFree[1]];
        return;
      }
    }
  }

  /**
   * Publishes each invocation's `bits` in one of the two sets of exchange slots and returns how to read
   * the bits of the invocation at an index. One barrier when the set chosen is free (a barrier has
   * passed since its last reads), else two.
   */
  private exchange(bits: string, L: (s: string) => void): (index: string) => string {
    this.shuffles = true;
    let b = this.xchgFree[this.xchgNext] ? this.xchgNext : this.xchgFree[1 - this.xchgNext] ? 1 - this.xchgNext : -1;
    if (b < 0) {
      L('workgroupBarrier();');
      b = this.xchgNext;
    }
    const X = this.xchgName, T = this.tidName, n = this.p.threads;
    L(`${X}[${b ? `${n}u + ` : ''}${T}] = ${bits};`);
    L('workgroupBarrier();');
    // Every invocation has finished reading the other set before this barrier; this one is read next.
    this.xchgFree = b ? [true, false] : [false, true];
    this.xchgNext = 1 - b;
    return (index) => (b ? `${X}[${n}u + ${index}]` : `${X}[${index}]`);
  }

  private binary(i: Extract<Instr, { op: 'binary' }>, ind: string): void {
    const t = wtype(i.dst.type);
    // Pointer arithmetic: base + offset is the offset (a parameter's base is byte 0 of its buffer).
    if (i.dst.type === 'u64' && i.fn === 'add') {
      if (i.a.kind === 'reg' && this.zeroPtr.has(i.a.id)) return this.define(i.dst, this.src(i.b, 'i32').text, ind, { aliasable: this.isAliasable(i.b) });
      if (i.b.kind === 'reg' && this.zeroPtr.has(i.b.id)) return this.define(i.dst, this.src(i.a, 'i32').text, ind, { aliasable: this.isAliasable(i.a) });
    }
    const shift = i.fn === 'shl' || i.fn === 'shr';
    const a0 = this.src(i.a, t), b0 = this.src(i.b, shift ? 'u32' : t);
    const [a, b] = this.operands(ind, a0, b0);
    const zero = literal(0, t).text;
    let expr: string;
    switch (i.fn) {
      case 'add': expr = `${a} + ${b}`; break;
      case 'sub': expr = `${a} - ${b}`; break;
      case 'mul': expr = `${a} * ${b}`; break;
      // Integer division and remainder by zero give 0, as in the interpreter and the simulator.
      case 'div': expr = t === 'f32' ? `${a} / ${b}` : `select(${a} / ${b}, ${zero}, ${b} == ${zero})`; break;
      case 'rem': expr = t === 'f32' ? `${a} % ${b}` : `select(${a} % ${b}, ${zero}, ${b} == ${zero})`; break;
      case 'min': case 'max': expr = `${i.fn}(${a}, ${b})`; break;
      case 'and': expr = `${a} & ${b}`; break;
      case 'or': expr = `${a} | ${b}`; break;
      case 'xor': expr = t === 'bool' ? `${a} != ${b}` : `${a} ^ ${b}`; break;
      case 'shl': case 'shr': {
        const op = i.fn === 'shl' ? '<<' : '>>';
        if (i.b.kind === 'imm') {
          const n = i.b.value;
          if (n < 32) expr = `${a} ${op} ${b}`;
          else expr = i.fn === 'shr' && t === 'i32' ? `${a} >> 31u` : zero;
        } else if (i.fn === 'shr' && t === 'i32') expr = `${a} >> min(${b}, 31u)`;
        else expr = `select(${a} ${op} ${b}, ${zero}, ${b} >= 32u)`;
        break;
      }
    }
    this.define(i.dst, expr, ind);
  }

  private isAliasable(s: Src): boolean {
    return s.kind === 'imm' || this.isLet(s);
  }

  private unary(i: Extract<Instr, { op: 'unary' }>, ind: string): void {
    const t = wtype(i.dst.type);
    const [a] = this.operands(ind, this.src(i.a, t));
    const F: Record<UnaryFn, () => string> = {
      neg: () => `-${neg(a!)}`,
      not: () => (t === 'bool' ? `!${a}` : `~${neg(a!)}`),
      abs: () => `abs(${a})`,
      floor: () => `floor(${a})`,
      sqrt: () => `sqrt(${a})`,
      rsqrt: () => `inverseSqrt(${a})`,
      ex2: () => `exp2(${a})`,
      lg2: () => `log2(${a})`,
      sin: () => `sin(${a})`,
      cos: () => `cos(${a})`,
      rint: () => `round(${a})`, // WGSL rounds halves to even, as cvt.rni
    };
    this.define(i.dst, F[i.fn](), ind);
  }

  private cvt(dst: Reg, s: Src, ind: string): void {
    const to = wtype(dst.type);
    if (s.kind === 'reg' && this.prov.has(s.id)) throw new WgslLoweringError('WGSL backend: a pointer converted to an integer cannot be expressed in WGSL');
    const from = s.kind === 'reg' ? wtype(s.type) : to;
    const o = this.src(s, from);
    if (from === to) {
      // s32 ↔ s64 and the like are the same WGSL type.
      if (this.isLet(dst) && this.isAliasable(s)) return void this.alias.set(dst.id, o);
      return this.define(dst, o.text, ind);
    }
    const [x] = this.operands(ind, o);
    this.define(dst, coerce({ ...o, text: x!, isConst: false }, to).text, ind);
  }

  // ------------------------------------------------------------ memory
  private addrText(addr: Reg, offset: number): string {
    const base = this.src(addr, 'i32').text;
    if (offset === 0) return base;
    return base === '0i' ? `${offset}i` : `${base} + ${offset}i`;
  }

  private globalLoad(mem: MemType, addr: Reg, offset: number): string {
    const info = this.paramOf(addr, 'load');
    return `${this.loadHelper(info, mem)}(${this.addrText(addr, offset)})`;
  }

  private globalStore(mem: MemType, addr: Reg, offset: number, src: Src, ind: string): string {
    const info = this.paramOf(addr, 'store');
    const t = mem === 'pred8' ? 'bool' : regOfMem(mem);
    const [v] = this.operands(ind, this.src(src, t));
    return `${this.storeHelper(info, mem)}(${this.addrText(addr, offset)}, ${v});`;
  }

  /** `fn X_ld(off: i32) -> T`: the element at byte offset `off` of X, converted to its register type (0 when out of bounds). */
  private loadHelper(info: ParamInfo, mem: MemType): string {
    const name = `${info.name}_ld`;
    const B = info.name;
    const written = info.stores || info.atomics;
    const rt = mem === 'pred8' ? 'bool' : regOfMem(mem);
    const zero = literal(0, rt).text;
    const word = (i: string): string => (written && (info.rep === 'half' || info.rep === 'byte') ? `atomicLoad(&${B}[${i}])` : `${B}[${i}]`);
    return this.helper(name, () => {
      const body: string[] = [];
      switch (info.rep) {
        case 'f32': case 'i32': case 'u32': {
          body.push('  let i = u32(off) >> 2u;');
          const e = info.atomics ? `atomicLoad(&${B}[i])` : `${B}[i]`;
          const v = info.rep === 'f32' && info.atomics ? `bitcast<f32>(${e})` : e;
          body.push(`  if (i < arrayLength(&${B})) { return ${v}; }`);
          break;
        }
        case 'f16':
          body.push('  let i = u32(off) >> 1u;');
          body.push(`  if (i < arrayLength(&${B})) { return f32(${B}[i]); }`);
          break;
        case 'half': {
          body.push('  let i = u32(off) >> 1u;');
          body.push(`  if ((i >> 1u) < arrayLength(&${B})) {`);
          body.push(`    let bits = (${word('i >> 1u')} >> ((i & 1u) * 16u)) & 0xffffu;`);
          body.push(info.dtype === 'bf16' ? '    return bitcast<f32>(bits << 16u);' : '    return unpack2x16float(bits).x;');
          body.push('  }');
          break;
        }
        case 'byte': {
          body.push('  let i = u32(off);');
          body.push(`  if ((i >> 2u) < arrayLength(&${B})) {`);
          body.push(`    let b = (${word('i >> 2u')} >> ((i & 3u) * 8u)) & 0xffu;`);
          body.push(mem === 's8' ? '    return (bitcast<i32>(b) << 24u) >> 24u;' : mem === 'pred8' ? '    return b != 0u;' : '    return b;');
          body.push('  }');
          break;
        }
      }
      body.push(`  return ${zero};`);
      return `// Element of '${this.p.params[info.index]!.name}' (${info.dtype}) at byte offset off; ${zero} outside the buffer.\nfn ${name}(off: i32) -> ${rt} {\n${body.join('\n')}\n}`;
    });
  }

  /** `fn X_st(off: i32, v: T)`: stores v (rounded to the element type) at byte offset `off` of X; dropped when out of bounds. */
  private storeHelper(info: ParamInfo, mem: MemType): string {
    const name = `${info.name}_st`;
    const B = info.name;
    const rt = mem === 'pred8' ? 'bool' : regOfMem(mem);
    return this.helper(name, () => {
      const body: string[] = [];
      switch (info.rep) {
        case 'f32': case 'i32': case 'u32': {
          body.push('  let i = u32(off) >> 2u;');
          const v = info.atomics ? `atomicStore(&${B}[i], ${info.rep === 'f32' ? 'bitcast<u32>(v)' : 'v'})` : `${B}[i] = v`;
          body.push(`  if (i < arrayLength(&${B})) { ${v}; }`);
          break;
        }
        case 'f16':
          body.push('  let i = u32(off) >> 1u;');
          body.push(`  if (i < arrayLength(&${B})) { ${B}[i] = f16(v); }`);
          break;
        case 'half': case 'byte': {
          // Read-modify-write of the containing word with atomics: neighbours stored by other invocations survive.
          const half = info.rep === 'half';
          body.push(half ? '  let i = u32(off) >> 1u;' : '  let i = u32(off);');
          body.push(`  let w = i >> ${half ? 1 : 2}u;`);
          body.push(`  if (w >= arrayLength(&${B})) { return; }`);
          const bits = half
            ? info.dtype === 'bf16' ? `bitcast<u32>(${this.roundBF16()}(v)) >> 16u` : 'pack2x16float(vec2<f32>(v, 0.0f)) & 0xffffu'
            : mem === 'pred8' ? 'select(0u, 1u, v)' : mem === 's8' ? 'bitcast<u32>(v) & 0xffu' : 'v & 0xffu';
          body.push(`  let shift = (i & ${half ? 1 : 3}u) * ${half ? 16 : 8}u;`);
          body.push(`  let bits = ${bits};`);
          body.push(`  atomicAnd(&${B}[w], ~(${half ? '0xffffu' : '0xffu'} << shift));`);
          body.push(`  atomicOr(&${B}[w], bits << shift);`);
          break;
        }
      }
      return `// Stores v into '${this.p.params[info.index]!.name}' (${info.dtype}) at byte offset off; dropped outside the buffer.\nfn ${name}(off: i32, v: ${rt}) {\n${body.join('\n')}\n}`;
    });
  }

  private atomicAddHelper(info: ParamInfo): string {
    const name = `${info.name}_atomic_add`;
    const B = info.name;
    return this.helper(name, () => {
      const t = info.rep as 'f32' | 'i32' | 'u32';
      const body = [`  let i = u32(off) >> 2u;`, `  if (i >= arrayLength(&${B})) { return ${literal(0, t).text}; }`];
      if (t !== 'f32') body.push(`  return atomicAdd(&${B}[i], v);`);
      else {
        // No f32 atomics in WGSL: compare-exchange the bits until no other invocation intervened.
        body.push(`  var old = atomicLoad(&${B}[i]);`);
        body.push('  loop {');
        body.push(`    let r = atomicCompareExchangeWeak(&${B}[i], old, bitcast<u32>(bitcast<f32>(old) + v));`);
        body.push('    if (r.exchanged) { return bitcast<f32>(old); }');
        body.push('    old = r.old_value;');
        body.push('  }');
      }
      return `// Atomically adds v to the element of '${this.p.params[info.index]!.name}' at byte offset off; returns the old value.\nfn ${name}(off: i32, v: ${t}) -> ${t} {\n${body.join('\n')}\n}`;
    });
  }

  private smemIndex(addr: Reg, offset: number, shift: number): string {
    const base = this.src(addr, 'u32').text;
    if (base === '0u') return String((offset >> shift) >>> 0);
    const sum = offset ? `(${base} + ${offset}u)` : base;
    return shift ? `${sum} >> ${shift}u` : sum;
  }

  private sharedLoad(mem: MemType, addr: Reg, offset: number): string {
    const S = this.smemName;
    const word = (idx: string): string => (this.smemAtomic ? `atomicLoad(&${S}[${idx}])` : `${S}[${idx}]`);
    switch (mem) {
      case 'f32': return `bitcast<f32>(${word(this.smemIndex(addr, offset, 2))})`;
      case 's32': return `bitcast<i32>(${word(this.smemIndex(addr, offset, 2))})`;
      case 'u32': return word(this.smemIndex(addr, offset, 2));
      // 64-bit integers and pointers are i32 in WGSL: the low word of their 8-byte slot.
      case 's64': case 'u64': return `bitcast<i32>(${word(this.smemIndex(addr, offset, 2))})`;
      case 'f16': return `unpack2x16float(${this.smemU16Helper()}(${this.smemIndex(addr, offset, 0)})).x`;
      case 'bf16': return `bitcast<f32>(${this.smemU16Helper()}(${this.smemIndex(addr, offset, 0)}) << 16u)`;
      case 'pred8': {
        const b = this.smemIndex(addr, offset, 0);
        return `((${word(`${b} >> 2u`)} >> ((${b} & 3u) * 8u)) & 0xffu) != 0u`;
      }
      default: throw new WgslLoweringError(`WGSL backend: shared memory of ${mem} is not supported (no 64-bit types in WGSL)`);
    }
  }

  private sharedStore(mem: MemType, addr: Reg, offset: number, src: Src, ind: string): string {
    const S = this.smemName;
    const put = (idx: string, v: string): string => (this.smemAtomic ? `atomicStore(&${S}[${idx}], ${v});` : `${S}[${idx}] = ${v};`);
    switch (mem) {
      case 'f32': return put(this.smemIndex(addr, offset, 2), `bitcast<u32>(${this.operands(ind, this.src(src, 'f32'))[0]})`);
      case 's32': return put(this.smemIndex(addr, offset, 2), `bitcast<u32>(${this.operands(ind, this.src(src, 'i32'))[0]})`);
      case 'u32': return put(this.smemIndex(addr, offset, 2), this.operands(ind, this.src(src, 'u32'))[0]!);
      case 's64': case 'u64': return put(this.smemIndex(addr, offset, 2), `bitcast<u32>(${this.operands(ind, this.src(src, 'i32'))[0]})`);
      case 'f16': case 'bf16': {
        const v = this.operands(ind, this.src(src, 'f32'))[0]!;
        const bits = mem === 'f16' ? `pack2x16float(vec2<f32>(${v}, 0.0f)) & 0xffffu` : `bitcast<u32>(${this.roundBF16()}(${v})) >> 16u`;
        const b = this.smemIndex(addr, offset, 0);
        const sh = `((${b} & 2u) * 8u)`;
        return `atomicAnd(&${S}[${b} >> 2u], ~(0xffffu << ${sh})); atomicOr(&${S}[${b} >> 2u], (${bits}) << ${sh});`;
      }
      case 'pred8': {
        const b = this.smemIndex(addr, offset, 0);
        const v = this.src(src, 'bool').text;
        const sh = `((${b} & 3u) * 8u)`;
        return `atomicAnd(&${S}[${b} >> 2u], ~(0xffu << ${sh})); atomicOr(&${S}[${b} >> 2u], select(0u, 1u, ${v}) << ${sh});`;
      }
      default: throw new WgslLoweringError(`WGSL backend: shared memory of ${mem} is not supported (no 64-bit types in WGSL)`);
    }
  }

  /** mma.sync.m16n8k16 of one warp, emulated: the lanes' fragments go to workgroup memory, each lane computes its four results. */
  private mmaHelper(type: 'f16' | 'bf16'): string {
    const name = `mma_m16n8k16_${type}`;
    const T = this.mmaTileName;
    const half = type === 'f16' ? 'unpack2x16float(bits).x' : 'bitcast<f32>(bits << 16u)';
    return this.helper(name, () => [
      `// mma.sync.m16n8k16 (${type} inputs, f32 accumulation) for the warp of invocation tid, with the fragment`,
      '// layouts of the PTX ISA: g = lane / 4, q = lane % 4. WGSL has no warp-wide matrix operation, so the warp',
      '// writes its A and B tiles to workgroup memory and every lane sums its four results. Called by all invocations.',
      `fn ${name}(tid: u32, a: vec4<u32>, b: vec2<u32>, c: vec4<f32>) -> vec4<f32> {`,
      `  let base = (tid >> 5u) * ${MMA_TILE_WORDS}u;`,
      '  let g = (tid & 31u) >> 2u;',
      '  let q = tid & 3u;',
      '  workgroupBarrier();',
      '  for (var e = 0u; e < 8u; e++) {',
      '    let bits = (a[e >> 1u] >> ((e & 1u) * 16u)) & 0xffffu;',
      '    let row = g + select(0u, 8u, (e & 3u) >= 2u);',
      '    let col = 2u * q + (e & 1u) + select(0u, 8u, e >= 4u);',
      `    ${T}[base + row * 16u + col] = ${half};`,
      '  }',
      '  for (var e = 0u; e < 4u; e++) {',
      '    let bits = (b[e >> 1u] >> ((e & 1u) * 16u)) & 0xffffu;',
      '    let k = 2u * q + (e & 1u) + select(0u, 8u, e >= 2u);',
      `    ${T}[base + 256u + k * 8u + g] = ${half};`,
      '  }',
      '  workgroupBarrier();',
      '  var d = c;',
      '  for (var e = 0u; e < 4u; e++) {',
      '    let row = g + select(0u, 8u, e >= 2u);',
      '    let col = 2u * q + (e & 1u);',
      '    var s = c[e];',
      `    for (var k = 0u; k < 16u; k++) { s = fma(${T}[base + row * 16u + k], ${T}[base + 256u + k * 8u + col], s); }`,
      '    d[e] = s;',
      '  }',
      '  return d;',
      '}',
    ].join('\n'));
  }

  /** `fn smem_u16(b: u32) -> u32`: the 16 bits at byte b of workgroup memory. */
  private smemU16Helper(): string {
    const S = this.smemName;
    const word = this.smemAtomic ? `atomicLoad(&${S}[b >> 2u])` : `${S}[b >> 2u]`;
    return this.helper('smem_u16', () => `// The 16-bit element at byte b of workgroup memory.\nfn smem_u16(b: u32) -> u32 {\n  return (${word} >> ((b & 2u) * 8u)) & 0xffffu;\n}`);
  }

  // ------------------------------------------------------------ rounding helpers
  /**
   * Rounding to f16 in integer arithmetic, as round_bf16: not through f16(x) or pack2x16float, whose
   * rounding WGSL leaves to the implementation, and which llvmpipe (NIR) optimizes away in a round trip
   * back to f32 (f32(f16(x)) and unpack2x16float(pack2x16float(x)) both return x unrounded there).
   * Normal results keep 10 mantissa bits (nearest, ties to even); below 2^-14 the result is a multiple
   * of 2^-24 (round() ties to even, and the scalings by powers of two are exact); 65520 and beyond
   * overflow to infinity; NaN stays NaN. test/webgpu-rounding.test.ts checks it bit for bit against the
   * CPU interpreter.
   */
  private roundF16(): string {
    return this.helper('round_f16', () => [
      '// Rounds to the nearest f16 (ties to even; overflow to infinity), kept in an f32. Branch-free: it is inlined a lot.',
      'fn round_f16(x: f32) -> f32 {',
      '  let b = bitcast<u32>(x);',
      '  let a = b & 0x7fffffffu;',
      '  let n = (a + 0xfffu + ((a >> 13u) & 1u)) & 0xffffe000u;',
      '  let normal = select(n, 0x7f800000u, n >= 0x47800000u);',
      '  let tiny = bitcast<u32>(round(bitcast<f32>(a) * 16777216.0f) * 5.9604644775390625e-8f);',
      '  let r = select(normal, tiny, a < 0x38800000u) | (b & 0x80000000u);',
      '  return bitcast<f32>(select(r, b | 0x00400000u, a > 0x7f800000u));',
      '}',
    ].join('\n'));
  }

  private roundBF16(): string {
    return this.helper('round_bf16', () => [
      '// Rounds to the nearest bf16 (ties to even), kept in an f32; NaN stays NaN. Branch-free: it is inlined a lot.',
      'fn round_bf16(x: f32) -> f32 {',
      '  let b = bitcast<u32>(x);',
      '  let r = (b + 0x7fffu + ((b >> 16u) & 1u)) & 0xffff0000u;',
      '  return bitcast<f32>(select(r, b | 0x00400000u, (b & 0x7fffffffu) > 0x7f800000u));',
      '}',
    ].join('\n'));
  }
}

/** Memory types narrower than a word. */
const MEM_BYTES_SUB = new Set<MemType>(['f16', 'bf16', 's8', 'u8', 'pred8']);
const MEM_BYTES_OF: Record<MemType, number> = { f64: 8, f32: 4, f16: 2, bf16: 2, s64: 8, u64: 8, s32: 4, u32: 4, s8: 1, u8: 1, pred8: 1 };

/** Words of workgroup memory per warp for the emulated mma: A (16x16) and B (16x8) as f32. */
const MMA_TILE_WORDS = 16 * 16 + 16 * 8;

const F32_BITS = '// An f32 from its bits (infinities and NaN have no WGSL literal).\nfn f32_bits(b: u32) -> f32 {\n  return bitcast<f32>(b);\n}';

const MEM_OF: Record<DType, MemType> = { f64: 'f64', f32: 'f32', f16: 'f16', bf16: 'bf16', i64: 's64', i32: 's32', u32: 'u32', i8: 's8', u8: 'u8', i1: 'pred8' };

function regOfMem(mem: MemType): WType {
  switch (mem) {
    case 'f32': case 'f16': case 'bf16': return 'f32';
    case 's32': case 's8': return 'i32';
    case 'u32': case 'u8': return 'u32';
    case 'pred8': return 'bool';
    default: throw new WgslLoweringError(`WGSL backend: ${mem} memory is not supported (no 64-bit types in WGSL)`);
  }
}
