// A CPU simulator of the PTX backend's thread programs: one CTA at a time, every thread explicit (its
// warp and lane follow from its index, as in the layouts), executing in lockstep. Registers are
// per-thread arrays, shared memory is real bytes, and a race detector flags a thread reading or
// overwriting a shared word another thread wrote or read since the last barrier, so missing barriers
// and wrong layouts show up without a GPU.
import type { Instr, MemType, Reg, Src, ThreadProgram } from '../../compiler/threads/thread-ir.js';
import { MEM_BYTES } from '../../compiler/threads/thread-ir.js';
import { roundF16, roundBF16 } from '../../compiler/ir/semantics.js';
import type { DType } from '../../compiler/ir/dtype.js';
import { elementReader, elementWriter, f16BitsToNumber, bf16BitsToNumber, numberToF16Bits, numberToBF16Bits, type TypedArray } from '../storage.js';

export type SimArg =
  | { readonly kind: 'buffer'; readonly name: string; readonly dtype: DType; readonly data: TypedArray }
  | { readonly kind: 'scalar'; readonly name: string; readonly value: number };

export class SimulationError extends Error {
  override name = 'SimulationError';
}

const ADDR_SCALE = 2 ** 44; // a global address is (argument + 1) · 2^44 + byte offset

const MEM_DTYPE: Partial<Record<MemType, DType>> = {
  f64: 'f64', f32: 'f32', f16: 'f16', bf16: 'bf16', s64: 'i64', s32: 'i32', u32: 'u32', s8: 'i8', u8: 'u8', pred8: 'i1',
};

export function simulate(p: ThreadProgram, args: readonly SimArg[], grid: readonly [number, number, number]): void {
  const sim = new CtaSimulator(p, args, grid);
  for (let z = 0; z < grid[2]; z++) for (let y = 0; y < grid[1]; y++) for (let x = 0; x < grid[0]; x++) sim.run([x, y, z]);
}

class CtaSimulator {
  private regs: Float64Array[] = [];
  private ctaid: readonly number[] = [0, 0, 0];
  private readonly T: number;
  private readonly smem: DataView;
  // Race detection per byte: who touched it in which barrier epoch.
  private readonly writer: Int32Array;
  private readonly writeEpoch: Int32Array;
  private readonly reader: Int32Array;
  private readonly readEpoch: Int32Array;
  private epoch = 1;
  private readonly readers: ((i: number) => number)[];
  private readonly writers: ((i: number, x: number) => void)[];
  /** wgmma runs at once here; its ordering rules are checked instead (programs that use it only). */
  private readonly wgmmaUsed: boolean;
  private wg: WgmmaOrdering | undefined;

  constructor(private readonly p: ThreadProgram, private readonly args: readonly SimArg[], private readonly grid: readonly number[]) {
    this.T = p.threads;
    const words = p.sharedBytes + 8;
    this.smem = new DataView(new ArrayBuffer(words));
    this.writer = new Int32Array(words);
    this.writeEpoch = new Int32Array(words);
    this.reader = new Int32Array(words);
    this.readEpoch = new Int32Array(words);
    this.wgmmaUsed = usesWgmma(p.body);
    this.readers = args.map((a) => (a.kind === 'buffer' ? elementReader(a.dtype, a.data) : () => NaN));
    this.writers = args.map((a) => (a.kind === 'buffer' ? elementWriter(a.dtype, a.data) : () => undefined));
  }

  run(ctaid: readonly number[]): void {
    this.ctaid = ctaid;
    this.regs = [];
    this.epoch++;
    this.wg = this.wgmmaUsed ? new WgmmaOrdering() : undefined;
    this.exec(this.p.body, allThreads(this.T));
  }

  private r(reg: Reg): Float64Array {
    let a = this.regs[reg.id];
    if (!a) this.regs[reg.id] = a = new Float64Array(this.T);
    return a;
  }
  private v(s: Src, t: number): number {
    return s.kind === 'imm' ? s.value : this.r(s)[t]!;
  }
  private uniform(s: Src, what: string): number {
    if (s.kind === 'imm') return s.value;
    const a = this.r(s);
    for (let t = 1; t < this.T; t++)
      if (a[t] !== a[0] && !(Number.isNaN(a[t]!) && Number.isNaN(a[0]!))) throw new SimulationError(`${what} differs between threads 0 and ${t}: control flow must be uniform`);
    return a[0]!;
  }

  private exec(body: readonly Instr[], active: Uint8Array): void {
    for (const i of body) this.instr(i, active);
  }

  private each(active: Uint8Array, pred: Reg | undefined, f: (t: number) => void): void {
    const pa = pred ? this.r(pred) : undefined;
    for (let t = 0; t < this.T; t++) if (active[t] && (!pa || pa[t])) f(t);
  }

  private instr(i: Instr, active: Uint8Array): void {
    if (this.wg) this.wg.check(i, active);
    switch (i.op) {
      case 'comment': return;
      case 'mov': {
        const d = this.r(i.dst);
        return this.each(active, undefined, (t) => (d[t] = this.v(i.src, t)));
      }
      case 'special': {
        const d = this.r(i.dst);
        const val = (t: number): number => {
          if (i.which === 'tid') return t;
          const axis = 'xyz'.indexOf(i.which.at(-1)!);
          return i.which.startsWith('ctaid') ? this.ctaid[axis]! : this.grid[axis]!;
        };
        return this.each(active, undefined, (t) => (d[t] = val(t)));
      }
      case 'param': {
        const a = this.args[i.index]!;
        const value = a.kind === 'buffer' ? (i.index + 1) * ADDR_SCALE : a.value;
        const d = this.r(i.dst);
        return this.each(active, undefined, (t) => (d[t] = value));
      }
      case 'smem_base': {
        const d = this.r(i.dst);
        return this.each(active, undefined, (t) => (d[t] = 0));
      }
      case 'binary': {
        const d = this.r(i.dst);
        const f = binaryOp(i.fn, i.dst.type);
        return this.each(active, undefined, (t) => (d[t] = f(this.v(i.a, t), this.v(i.b, t))));
      }
      case 'unary': {
        const d = this.r(i.dst);
        const f = unaryOp(i.fn, i.dst.type);
        return this.each(active, undefined, (t) => (d[t] = f(this.v(i.a, t))));
      }
      case 'fma': {
        const d = this.r(i.dst);
        const round = wrap(i.dst.type);
        return this.each(active, undefined, (t) => (d[t] = round(this.v(i.a, t) * this.v(i.b, t) + this.v(i.c, t))));
      }
      case 'mad_wide': {
        // 64-bit integers are exact JS numbers here (addresses stay below 2^53).
        const d = this.r(i.dst), a = this.r(i.a), c = this.r(i.c);
        return this.each(active, undefined, (t) => (d[t] = c[t]! + (a[t]! | 0) * i.b));
      }
      case 'setp': {
        const d = this.r(i.dst);
        const isF = i.a.type === 'f32' || i.a.type === 'f64';
        return this.each(active, undefined, (t) => (d[t] = compare(i.fn, this.v(i.a, t), this.v(i.b, t), isF) ? 1 : 0));
      }
      case 'selp': {
        const d = this.r(i.dst), c = this.r(i.cond);
        return this.each(active, undefined, (t) => (d[t] = c[t] ? this.v(i.a, t) : this.v(i.b, t)));
      }
      case 'cvt': {
        const d = this.r(i.dst);
        const f = convert(i.src.type, i.dst.type);
        return this.each(active, undefined, (t) => (d[t] = f(this.v(i.src, t))));
      }
      case 'narrow': {
        const d = this.r(i.dst), s = this.r(i.src);
        const f = i.to === 'f16' ? roundF16 : i.to === 'bf16' ? (x: number) => Math.fround(roundBF16(x)) : i.to === 's8' ? (x: number) => (x << 24) >> 24 : (x: number) => x & 255;
        return this.each(active, undefined, (t) => (d[t] = f(s[t]!)));
      }
      case 'pack_half2': {
        const d = this.r(i.dst), lo = this.r(i.lo), hi = this.r(i.hi);
        const bits = i.to === 'f16' ? numberToF16Bits : numberToBF16Bits;
        return this.each(active, undefined, (t) => (d[t] = (bits(lo[t]!) | (bits(hi[t]!) << 16)) >>> 0));
      }
      case 'mma': return this.mma(i, active);
      case 'ldmatrix': return this.ldmatrix(i, active);
      case 'wgmma': return this.wgmma(i, active);
      // Issue and wait are one step here (wgmma runs at once), and shared memory has one proxy.
      case 'wgmma_fence': case 'wgmma_commit': case 'wgmma_wait': case 'fence_proxy_async': return;
      case 'ld': {
        const d = this.r(i.dst), a = this.r(i.addr);
        if (i.space === 'shared') return this.each(active, i.pred, (t) => (d[t] = this.sharedLoad(i.mem, a[t]! + i.offset, t)));
        return this.each(active, i.pred, (t) => (d[t] = this.globalAccess('load', i.mem, a[t]! + i.offset)));
      }
      case 'st': {
        const a = this.r(i.addr);
        if (i.space === 'shared') return this.each(active, i.pred, (t) => this.sharedStore(i.mem, a[t]! + i.offset, this.v(i.src, t), t));
        return this.each(active, i.pred, (t) => void this.globalAccess('store', i.mem, a[t]! + i.offset, this.v(i.src, t)));
      }
      case 'ldv': case 'stv': {
        const a = this.r(i.addr);
        const regs = (i.op === 'ldv' ? i.dsts : i.srcs).map((r) => this.r(r));
        const bytes = MEM_BYTES[i.mem];
        return this.each(active, i.pred, (t) => {
          const base = a[t]!;
          const off = base - (Math.round(base / ADDR_SCALE)) * ADDR_SCALE;
          if (off % (bytes * regs.length) !== 0) throw new SimulationError(`misaligned ${regs.length}-wide vector ${i.op === 'ldv' ? 'load' : 'store'} of ${i.mem} at byte ${off}`);
          regs.forEach((reg, k) => {
            if (i.op === 'ldv') reg[t] = this.globalAccess('load', i.mem, base + k * bytes);
            else this.globalAccess('store', i.mem, base + k * bytes, reg[t]!);
          });
        });
      }
      case 'atom_add': {
        const d = this.r(i.dst), a = this.r(i.addr);
        const round = wrap(i.dst.type);
        return this.each(active, i.pred, (t) => {
          const old = this.globalAccess('load', i.mem, a[t]!);
          this.globalAccess('store', i.mem, a[t]!, round(old + this.v(i.src, t)));
          d[t] = old;
        });
      }
      case 'cp_async': {
        // Copied at once: the program waits (cp_async_wait) and syncs before reading the tile anyway.
        const d = this.r(i.dst), a = this.r(i.src);
        const n = i.bytes / 2;
        return this.each(active, undefined, (t) => {
          const on = !i.pred || this.r(i.pred)[t] !== 0;
          for (let k = 0; k < n; k++) this.sharedStore(i.mem, d[t]! + 2 * k, on ? this.globalAccess('load', i.mem, a[t]! + 2 * k) : 0, t);
        });
      }
      case 'cp_async_commit': case 'cp_async_wait': return;
      case 'bar':
        this.epoch++;
        return;
      case 'shfl_bfly': {
        const d = this.r(i.dst), s = this.r(i.src);
        for (let t = 0; t < this.T; t++) if (!active[t]) throw new SimulationError('shfl.sync with inactive lanes');
        const snapshot = Float64Array.from(s);
        for (let t = 0; t < this.T; t++) d[t] = snapshot[t ^ i.laneMask]!;
        return;
      }
      case 'warp_broadcast': {
        const d = this.r(i.dst), s = this.r(i.src);
        for (let t = 0; t < this.T; t++) if (!active[t]) throw new SimulationError('shfl.sync with inactive lanes');
        const snapshot = Float64Array.from(s);
        for (let t = 0; t < this.T; t++) d[t] = snapshot[t & ~31]!;
        return;
      }
      case 'trap_unless': {
        const c = this.r(i.cond);
        return this.each(active, undefined, (t) => {
          if (!c[t]) throw new SimulationError(`trap: device assertion failed in thread ${t} of CTA (${this.ctaid.join(', ')})`);
        });
      }
      case 'for': {
        const lb = this.uniform(i.lb, 'loop lower bound'), ub = this.uniform(i.ub, 'loop upper bound'), step = this.uniform(i.step, 'loop step');
        const iv = this.r(i.iv);
        for (let x = lb; x < ub; x += step) {
          iv.fill(x);
          this.exec(i.body, active);
        }
        return;
      }
      case 'if':
        this.exec(this.uniform(i.cond, 'if condition') ? i.then : i.else, active);
        return;
    }
  }

  /** mma.sync.m16n8k16 for each warp: fragments gathered from the 32 lanes as the PTX ISA lays them out. */
  private mma(i: Extract<Instr, { op: 'mma' }>, active: Uint8Array): void {
    const half = i.type === 'f16' ? f16BitsToNumber : bf16BitsToNumber;
    const [a, b, c] = [i.a.map((r) => this.r(r)), i.b.map((r) => this.r(r)), i.c.map((r) => this.r(r))];
    const d = i.d.map((r) => this.r(r));
    for (let w = 0; w < this.T / 32; w++) {
      for (let l = 0; l < 32; l++) if (!active[w * 32 + l]) throw new SimulationError('mma.sync with inactive lanes');
      const A = aFragment(a, w, half), B = new Float64Array(16 * 8), C = new Float64Array(16 * 8);
      for (let l = 0; l < 32; l++) {
        const t = w * 32 + l, g = l >> 2, q = l & 3;
        for (let e = 0; e < 4; e++) {
          const bits = b[e >> 1]![t]!;
          B[(2 * q + (e & 1) + (e >= 2 ? 8 : 0)) * 8 + g] = half(e & 1 ? bits >>> 16 : bits & 0xffff);
        }
        for (let e = 0; e < 4; e++) C[(g + (e >= 2 ? 8 : 0)) * 8 + 2 * q + (e & 1)] = c[e]![t]!;
      }
      for (let l = 0; l < 32; l++) {
        const t = w * 32 + l, g = l >> 2, q = l & 3;
        for (let e = 0; e < 4; e++) {
          const row = g + (e >= 2 ? 8 : 0), col = 2 * q + (e & 1);
          let s = C[row * 8 + col]!;
          for (let k = 0; k < 16; k++) s += A[row * 16 + k]! * B[k * 8 + col]!;
          d[e]![t] = Math.fround(s);
        }
      }
    }
  }

  /**
   * wgmma.mma_async.m64nNk16 per warpgroup: warp w of the group multiplies its 16 rows of A (the mma.sync
   * A fragment in registers, or rows 16·(w mod 4)... of a K-major A in shared memory) by B [16, N], read
   * from shared memory as the matrix descriptor says (the PTX ISA's canonical layouts:
   * wgmmaElementAddress), and adds into its accumulator fragment.
   */
  private wgmma(i: Extract<Instr, { op: 'wgmma' }>, active: Uint8Array): void {
    const half = i.type === 'f16' ? f16BitsToNumber : bf16BitsToNumber;
    const a = i.a.map((r) => this.r(r)), d = i.d.map((r) => this.r(r)), lo = this.r(i.descLo);
    const aLo = i.aDesc ? this.r(i.aDesc.lo) : undefined;
    if (i.d.length !== i.n / 2) throw new SimulationError(`wgmma m64n${i.n}k16 with ${i.d.length} accumulator registers (needs ${i.n / 2})`);
    if (this.T % 128 !== 0) throw new SimulationError(`wgmma in a CTA of ${this.T} threads: warpgroups need multiples of 128`);
    for (let g = 0; g < this.T / 128; g++) {
      for (let t = g * 128; t < g * 128 + 128; t++) {
        if (!active[t]) throw new SimulationError('wgmma with inactive threads in the warpgroup');
        if (lo[t] !== lo[g * 128] || (aLo && aLo[t] !== aLo[g * 128])) throw new SimulationError(`wgmma descriptor differs between threads ${g * 128} and ${t} of a warpgroup`);
      }
      const B = new Float64Array(16 * i.n);
      for (let k = 0; k < 16; k++)
        for (let n = 0; n < i.n; n++) B[k * i.n + n] = half(this.asyncLoad(wgmmaElementAddress(lo[g * 128]!, i.descHi, i.transB, k, n), g * 128));
      for (let w = 4 * g; w < 4 * g + 4; w++) {
        let A: Float64Array;
        if (aLo) {
          // The warp's 16 rows of A [64, 16], K-major in shared memory (row m of A read as the K-major formula's n).
          A = new Float64Array(16 * 16);
          for (let row = 0; row < 16; row++)
            for (let k = 0; k < 16; k++) A[row * 16 + k] = half(this.asyncLoad(wgmmaElementAddress(aLo[g * 128]!, i.aDesc!.hi, false, k, 16 * (w % 4) + row), g * 128));
        } else A = aFragment(a, w, half);
        for (let l = 0; l < 32; l++) {
          const t = w * 32 + l;
          d.forEach((reg, j) => {
            const row = (l >> 2) + (j % 4 >= 2 ? 8 : 0), col = 8 * (j >> 2) + 2 * (l & 3) + (j & 1);
            let s = i.accumulate ? reg[t]! : 0;
            for (let k = 0; k < 16; k++) s += A[row * 16 + k]! * B[k * i.n + col]!;
            reg[t] = Math.fround(s);
          });
        }
      }
    }
  }

  /** A 16-bit element read by the tensor cores (the async proxy): its bytes must have been fenced since written. */
  private asyncLoad(addr: number, t: number): number {
    for (const w of [addr, addr + 1]) {
      const writer = this.wg?.unfenced.get(w);
      if (writer !== undefined) throw new SimulationError(`wgmma reads shared byte ${w}, which thread ${writer} wrote without a fence.proxy.async after it`);
      this.wg?.noteRead(w);
    }
    return this.sharedLoad('u16', addr, t);
  }

  /** ldmatrix.m8n8: lanes 8i..8i+7 address the rows of matrix i; each lane gets two 16-bit elements of each. */
  private ldmatrix(i: Extract<Instr, { op: 'ldmatrix' }>, active: Uint8Array): void {
    const a = this.r(i.addr);
    const d = i.dsts.map((r) => this.r(r));
    for (let w = 0; w < this.T / 32; w++) {
      const mats = i.dsts.map((_, m) => Array.from({ length: 8 }, (_, row) => {
        const t = w * 32 + m * 8 + row;
        if (!active[t]) throw new SimulationError('ldmatrix with inactive lanes');
        const addr = a[t]!;
        if (addr % 16 !== 0) throw new SimulationError(`ldmatrix row address ${addr} is not 16-byte aligned`);
        return Array.from({ length: 8 }, (_, c) => this.sharedLoad('u16', addr + 2 * c, t));
      }));
      for (let l = 0; l < 32; l++)
        mats.forEach((mat, m) => {
          const [r0, c0, r1, c1] = i.trans ? [2 * (l % 4), l >> 2, 2 * (l % 4) + 1, l >> 2] : [l >> 2, 2 * (l % 4), l >> 2, 2 * (l % 4) + 1];
          d[m]![w * 32 + l] = (mat[r0]![c0]! | (mat[r1]![c1]! << 16)) >>> 0;
        });
    }
  }

  private globalAccess(kind: 'load' | 'store', mem: MemType, addr: number, value = 0): number {
    const ai = Math.round(addr / ADDR_SCALE) - 1;
    const arg = this.args[ai];
    const off = addr - (ai + 1) * ADDR_SCALE;
    if (!arg || arg.kind !== 'buffer') throw new SimulationError(`${kind} at address ${addr} outside every buffer argument`);
    const bytes = MEM_BYTES[mem];
    if (MEM_DTYPE[mem] !== arg.dtype && !(mem === 'u64' && arg.dtype === 'i64')) throw new SimulationError(`${kind} of ${mem} from '${arg.name}', a buffer of ${arg.dtype}`);
    if (off % bytes !== 0) throw new SimulationError(`misaligned ${kind} of ${mem} at byte ${off} of '${arg.name}'`);
    const idx = off / bytes;
    if (idx < 0 || idx >= arg.data.length) throw new SimulationError(`${kind} out of bounds: element ${idx} of '${arg.name}' (${arg.data.length} elements)`);
    if (kind === 'load') return this.readers[ai]!(idx);
    this.writers[ai]!(idx, value);
    return value;
  }

  private checkShared(addr: number, bytes: number): void {
    if (addr < 0 || addr + bytes > this.p.sharedBytes) throw new SimulationError(`shared memory access of ${bytes} bytes at ${addr} outside the ${this.p.sharedBytes} bytes reserved`);
    if (addr % bytes !== 0) throw new SimulationError(`misaligned shared memory access of ${bytes} bytes at ${addr}`);
  }

  private sharedLoad(mem: MemType | 'u16', addr: number, t: number): number {
    const bytes = mem === 'u16' ? 2 : MEM_BYTES[mem];
    this.checkShared(addr, bytes);
    for (let w = addr; w < addr + bytes; w++) {
      if (this.writeEpoch[w] === this.epoch && this.writer[w] !== t)
        throw new SimulationError(`shared memory race: thread ${t} reads byte ${addr} written by thread ${this.writer[w]} without a barrier between`);
      if (this.readEpoch[w] !== this.epoch) {
        this.readEpoch[w] = this.epoch;
        this.reader[w] = t;
      } else if (this.reader[w] !== t) this.reader[w] = -1; // several readers
    }
    const dv = this.smem;
    switch (mem) {
      case 'f32': return dv.getFloat32(addr, true);
      case 'f64': return dv.getFloat64(addr, true);
      case 's32': return dv.getInt32(addr, true);
      case 'u32': return dv.getUint32(addr, true);
      case 's64': return Number(dv.getBigInt64(addr, true));
      case 'u64': return Number(dv.getBigUint64(addr, true));
      case 'pred8': return dv.getUint8(addr) ? 1 : 0;
      case 'f16': return f16BitsToNumber(dv.getUint16(addr, true));
      case 'bf16': return bf16BitsToNumber(dv.getUint16(addr, true));
      case 'u16': return dv.getUint16(addr, true);
      default: throw new SimulationError(`shared load of ${mem} is not simulated`);
    }
  }

  private sharedStore(mem: MemType, addr: number, x: number, t: number): void {
    const bytes = MEM_BYTES[mem];
    this.checkShared(addr, bytes);
    for (let w = addr; w < addr + bytes; w++) {
      if (this.readEpoch[w] === this.epoch && this.reader[w] !== t)
        throw new SimulationError(`shared memory race: thread ${t} overwrites byte ${addr} that thread ${this.reader[w] === -1 ? '(several)' : this.reader[w]} read without a barrier between`);
      if (this.writeEpoch[w] === this.epoch && this.writer[w] !== t)
        throw new SimulationError(`shared memory race: threads ${this.writer[w]} and ${t} write byte ${addr} without a barrier between`);
      this.writeEpoch[w] = this.epoch;
      this.writer[w] = t;
      this.wg?.checkStore(w, t);
      this.wg?.unfenced.set(w, t);
    }
    const dv = this.smem;
    switch (mem) {
      case 'f32': return dv.setFloat32(addr, x, true);
      case 'f64': return dv.setFloat64(addr, x, true);
      case 's32': return dv.setInt32(addr, x, true);
      case 'u32': return dv.setUint32(addr, x, true);
      case 's64': return dv.setBigInt64(addr, BigInt(Math.trunc(x)), true);
      case 'u64': return dv.setBigUint64(addr, BigInt(Math.trunc(x)), true);
      case 'pred8': return dv.setUint8(addr, x ? 1 : 0);
      case 'f16': return dv.setUint16(addr, numberToF16Bits(x), true);
      case 'bf16': return dv.setUint16(addr, numberToBF16Bits(x), true);
      default: throw new SimulationError(`shared store of ${mem} is not simulated`);
    }
  }
}

function allThreads(n: number): Uint8Array {
  return new Uint8Array(n).fill(1);
}

type RT = Reg['type'];
function wrap(t: RT): (x: number) => number {
  switch (t) {
    case 'f32': return Math.fround;
    case 's32': return (x) => x | 0;
    case 'u32': return (x) => x >>> 0;
    case 'pred': return (x) => (x ? 1 : 0);
    default: return (x) => x; // f64, and 64-bit integers (exact below 2^53, which addresses stay)
  }
}

function binaryOp(fn: string, t: RT): (a: number, b: number) => number {
  const w = wrap(t);
  const isF = t === 'f32' || t === 'f64';
  switch (fn) {
    case 'add': return (a, b) => w(a + b);
    case 'sub': return (a, b) => w(a - b);
    case 'mul': return t === 's32' || t === 'u32' ? (a, b) => w(Math.imul(a, b)) : (a, b) => w(a * b);
    case 'div': return isF ? (a, b) => w(a / b) : (a, b) => (b === 0 ? 0 : w(Math.trunc(a / b))); // undefined on GPUs; 0 as the interpreter
    case 'rem': return (a, b) => (b === 0 ? 0 : w(a % b));
    case 'min': return (a, b) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.min(a, b));
    case 'max': return (a, b) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.max(a, b));
    case 'and': return t === 'pred' ? (a, b) => (a && b ? 1 : 0) : (a, b) => w(Number(BigInt.asIntN(64, BigInt(a) & BigInt(b))));
    case 'or': return t === 'pred' ? (a, b) => (a || b ? 1 : 0) : (a, b) => w(Number(BigInt.asIntN(64, BigInt(a) | BigInt(b))));
    case 'xor': return t === 'pred' ? (a, b) => (a !== b ? 1 : 0) : (a, b) => w(Number(BigInt.asIntN(64, BigInt(a) ^ BigInt(b))));
    case 'shl': return (a, b) => (b >= 32 && (t === 's32' || t === 'u32') ? 0 : w(a * 2 ** b));
    case 'shr': return t === 'u32' ? (a, b) => (b >= 32 ? 0 : a >>> b) : t === 's32' ? (a, b) => a >> Math.min(b, 31) : (a, b) => Math.floor(a / 2 ** b);
    default: throw new SimulationError(`unknown binary '${fn}'`);
  }
}

function rint(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

function unaryOp(fn: string, t: RT): (a: number) => number {
  const w = wrap(t);
  switch (fn) {
    case 'neg': return (a) => w(-a);
    case 'not': return t === 'pred' ? (a) => (a ? 0 : 1) : (a) => w(~a);
    case 'abs': return (a) => w(Math.abs(a));
    case 'floor': return (a) => w(Math.floor(a));
    case 'rint': return (a) => w(rint(a));
    case 'sqrt': return (a) => w(Math.sqrt(a));
    // The approximate instructions are simulated exactly (then rounded): the simulator checks
    // layouts and data movement, not the hardware's last bits.
    case 'rsqrt': return (a) => w(1 / Math.sqrt(a));
    case 'ex2': return (a) => w(2 ** a);
    case 'lg2': return (a) => w(Math.log2(a));
    case 'sin': return (a) => w(Math.sin(a));
    case 'cos': return (a) => w(Math.cos(a));
    default: throw new SimulationError(`unknown unary '${fn}'`);
  }
}

function compare(fn: string, a: number, b: number, isF: boolean): boolean {
  switch (fn) {
    case 'lt': return a < b;
    case 'le': return a <= b;
    case 'gt': return a > b;
    case 'ge': return a >= b;
    case 'eq': return a === b;
    case 'ne': return isF ? a !== b : a !== b;
    default: throw new SimulationError(`unknown comparison '${fn}'`);
  }
}

function convert(from: RT, to: RT): (x: number) => number {
  const fF = from === 'f32' || from === 'f64', tF = to === 'f32' || to === 'f64';
  if (fF && !tF) {
    const [lo, hi] = to === 's32' ? [-(2 ** 31), 2 ** 31 - 1] : to === 'u32' ? [0, 2 ** 32 - 1] : to === 'u64' ? [0, 2 ** 64] : [-(2 ** 63), 2 ** 63];
    return (x) => (Number.isNaN(x) ? 0 : Math.min(hi, Math.max(lo, Math.trunc(x))));
  }
  if (to === 'f32') return Math.fround;
  if (tF) return (x) => x;
  if (to === 's32') return (x) => Number(BigInt.asIntN(32, BigInt(Math.trunc(x))));
  if (to === 'u32') return (x) => Number(BigInt.asUintN(32, BigInt(Math.trunc(x))));
  if (to === 'u64' && from === 's32') return (x) => x; // sign-extended, as the renderer's cvt.s64.s32
  return (x) => x;
}

/**
 * The shared address of element (k, n) of a wgmma B operand of 16-bit elements, from its matrix
 * descriptor as the PTX ISA defines it (written from the ISA, not from the compiler's tile code, so that
 * the two check each other). Low word: start address (bits 0–13) and leading byte offset (16–29);
 * high word: stride byte offset (0–13) and swizzle mode (30–31: 1 = 128-byte, 2 = 64-byte, 3 = 32-byte);
 * offsets in 16-byte units. Swizzle width W bytes: rows of W bytes, 8 of them make an atom whose 16-byte
 * chunk index (address bits 4 and up) is XOR-ed with the row within the atom (bits 7 and up).
 *   K-major (transB false): n's row at (n mod 8)·W + ⌊n/8⌋·SBO, k's 2 bytes along it.
 *   MN-major (transB true): n along the row (W/2 elements), the next W/2 at LBO; k's row at
 *   (k mod 8)·W + ⌊k/8⌋·SBO.
 */
export function wgmmaElementAddress(lo: number, hi: number, transB: boolean, k: number, n: number): number {
  const start = (lo & 0x3fff) << 4, lbo = ((lo >>> 16) & 0x3fff) << 4, sbo = (hi & 0x3fff) << 4;
  const mode = hi >>> 30;
  const W = mode === 1 ? 128 : mode === 2 ? 64 : mode === 3 ? 32 : 0;
  if (!W) throw new SimulationError('wgmma descriptor without a swizzle mode (the interleaved layout is not simulated)');
  const perRow = W / 2;
  const linear = transB
    ? start + (n % perRow) * 2 + Math.floor(n / perRow) * lbo + (k % 8) * W + Math.floor(k / 8) * sbo
    : start + (n % 8) * W + Math.floor(n / 8) * sbo + k * 2;
  const phase = (linear >> 7) & (W / 16 - 1);
  return linear ^ (phase << 4);
}

/** The 16×16 A tile of warp `w` from its lanes' m16n8k16 A fragments (4 registers of two halves each). */
function aFragment(a: readonly Float64Array[], w: number, half: (bits: number) => number): Float64Array {
  const A = new Float64Array(16 * 16);
  for (let l = 0; l < 32; l++)
    for (let e = 0; e < 8; e++) {
      const bits = a[e >> 1]![w * 32 + l]!;
      A[((l >> 2) + (e % 4 >= 2 ? 8 : 0)) * 16 + 2 * (l & 3) + (e & 1) + (e >= 4 ? 8 : 0)] = half(e & 1 ? bits >>> 16 : bits & 0xffff);
    }
  return A;
}

function usesWgmma(body: readonly Instr[]): boolean {
  return body.some((i) => i.op === 'wgmma' || (i.op === 'for' && usesWgmma(i.body)) || (i.op === 'if' && (usesWgmma(i.then) || usesWgmma(i.else))));
}

/** The wgmmas of one commit group (or of the group not yet committed): their accumulator and A registers, and the shared bytes they read. */
interface WgmmaGroup { readonly regs: Set<number>; readonly aRegs: Set<number>; readonly bytes: Set<number> }

/**
 * The PTX ISA's ordering rules around wgmma, which the simulator cannot see go wrong by running wgmma at
 * once: its A and accumulator registers must not have been written since the last wgmma.fence (except by
 * wgmmas), its accumulators must not be read or written until a wgmma.wait_group has seen its group
 * complete (wait_group N completes all but the N most recent committed groups), the shared bytes it reads
 * must have been fenced for the async proxy (fence.proxy.async) since their last write, and must not be
 * written until then either. Checked per instruction, before it runs.
 */
class WgmmaOrdering {
  private tick = 0;
  private fencedAt = -1;
  private readonly lastWrite = new Map<number, number>();
  /** wgmmas issued since the last commit, then the committed groups not yet waited for, oldest first. */
  private open: WgmmaGroup = { regs: new Set(), aRegs: new Set(), bytes: new Set() };
  private readonly committed: WgmmaGroup[] = [];
  /** Shared bytes written since their writer's last fence.proxy.async, with the writer. */
  readonly unfenced = new Map<number, number>();

  private inFlight(reg: number): boolean {
    const holds = (g: WgmmaGroup): boolean => g.regs.has(reg) || g.aRegs.has(reg);
    return holds(this.open) || this.committed.some(holds);
  }
  /** A shared byte a wgmma in flight reads (recorded as it runs). */
  noteRead(byte: number): void {
    this.open.bytes.add(byte);
  }
  /** Throws when a store would overwrite shared bytes that a wgmma not yet waited for reads. */
  checkStore(byte: number, t: number): void {
    if (this.open.bytes.has(byte) || this.committed.some((g) => g.bytes.has(byte)))
      throw new SimulationError(`thread ${t} writes shared byte ${byte}, which a wgmma not yet waited for reads`);
  }

  check(i: Instr, active: Uint8Array): void {
    this.tick++;
    switch (i.op) {
      case 'wgmma_fence': this.fencedAt = this.tick; return;
      case 'wgmma_commit':
        this.committed.push(this.open);
        this.open = { regs: new Set(), aRegs: new Set(), bytes: new Set() };
        return;
      case 'wgmma_wait': this.committed.splice(0, Math.max(0, this.committed.length - i.pending)); return;
      case 'fence_proxy_async':
        for (const [w, t] of this.unfenced) if (active[t]) this.unfenced.delete(w);
        return;
      case 'wgmma':
        for (const r of [...i.a, ...i.d])
          if ((this.lastWrite.get(r.id) ?? -1) > this.fencedAt)
            throw new SimulationError(`wgmma reads register ${r.type}${r.id}, written after the last wgmma.fence`);
        // (Its group's earlier wgmmas may read the same A fragments.)
        for (const r of [...i.a, ...(i.aDesc ? [i.aDesc.lo] : []), i.descLo])
          if (!this.open.aRegs.has(r.id) && this.inFlight(r.id)) throw new SimulationError(`wgmma reads register ${r.type}${r.id}, a register of a wgmma not yet waited for`);
        // Accumulating into registers of another group still in flight is not ordered by the ISA either.
        for (const r of i.d)
          if (!this.open.regs.has(r.id) && this.inFlight(r.id)) throw new SimulationError(`wgmma accumulates into register ${r.type}${r.id} of a wgmma group not yet waited for`);
        // The ISA leaves accessing a wgmma's accumulators or A fragments before its wait undefined.
        i.d.forEach((r) => this.open.regs.add(r.id));
        i.a.forEach((r) => this.open.aRegs.add(r.id));
        return;
      case 'for': case 'if':
        for (const r of regsIn(i.op === 'for' ? [i.lb, i.ub, i.step] : [i.cond]))
          if (this.inFlight(r.id)) throw new SimulationError(`register ${r.type}${r.id} read before the wgmma that writes it was waited for`);
        if (i.op === 'for') this.lastWrite.set(i.iv.id, this.tick);
        return;
      default: {
        for (const [key, v] of Object.entries(i)) {
          const written = key === 'dst' || key === 'dsts' || key === 'd';
          for (const r of regsIn(Array.isArray(v) ? v : [v])) {
            if (this.inFlight(r.id))
              throw new SimulationError(`register ${r.type}${r.id} ${written ? 'written' : 'read'} by ${i.op} before the wgmma that writes it was waited for`);
            if (written) this.lastWrite.set(r.id, this.tick);
          }
        }
      }
    }
  }
}

const regsIn = (xs: readonly unknown[]): Reg[] => xs.filter((x): x is Reg => typeof x === 'object' && x !== null && (x as { kind?: string }).kind === 'reg');
