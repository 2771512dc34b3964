// The inner loop of an FMA dot product kept as a loop over K (ThreadLoweringOptions.dotLoops), instead
// of K unrolled steps per output register. Both operands are in shared memory already; each iteration
// loads the A and B elements its output registers need (each distinct element once) and adds one
// product to each accumulator, in the same order as the unrolled form (so the results are identical).
// The WGSL backend uses it: llvmpipe (and other shader compilers) take minutes over fully unrolled
// kernels, while the loop costs little at run time.
import { imm, type MemType, type Reg, type RegType, type ThreadBuilder } from './thread-ir.js';

export interface DotLoop {
  readonly tb: ThreadBuilder;
  readonly K: number;
  /** Columns of B (its row stride in elements). */
  readonly N: number;
  /** The accumulators' initial values, one per output register. */
  readonly acc: readonly Reg[];
  readonly accType: RegType;
  /** The operands' register type and how they are stored in shared memory. */
  readonly inType: RegType;
  readonly mem: MemType;
  readonly bytes: number;
  /** Shared-memory byte addresses (u32) of this thread's A and B terms. */
  readonly baseA: Reg;
  readonly baseB: Reg;
  /** Per output register: the constant element offset of its A row (row · K) and of its B column, and B's byte offset. */
  readonly aConst: readonly number[];
  readonly bConst: readonly number[];
  readonly bBytes: number;
}

/** Emits `for kk in [0, K)` accumulating a·b into the accumulators; returns them (loop-carried registers). */
export function emitDotLoop(d: DotLoop): Reg[] {
  const { tb, bytes } = d;
  const carried = d.acc.map((r) => tb.mov(tb.cvt(r, d.accType)));
  const iv = tb.reg('u32');
  const body = tb.nested(() => {
    const addrA = tb.binary('add', d.baseA, tb.binary('mul', iv, imm(bytes, 'u32')));
    const addrB = tb.binary('add', d.baseB, tb.binary('mul', iv, imm(d.N * bytes, 'u32')));
    const loaded = new Map<string, Reg>();
    const load = (addr: Reg, offset: number, which: string): Reg => {
      const key = `${which}${offset}`;
      let r = loaded.get(key);
      if (!r) {
        const x = tb.reg(d.inType);
        tb.emit({ op: 'ld', space: 'shared', mem: d.mem, dst: x, addr, offset });
        r = tb.cvt(x, d.accType);
        loaded.set(key, r);
      }
      return r;
    };
    const next = carried.map((acc, k) => {
      const x = load(addrA, d.aConst[k]! * bytes, 'a'), y = load(addrB, d.bBytes + d.bConst[k]! * bytes, 'b');
      const n = tb.reg(d.accType);
      tb.emit({ op: 'fma', dst: n, a: x, b: y, c: acc });
      return n;
    });
    next.forEach((n, k) => tb.emit({ op: 'mov', dst: carried[k]!, src: n }));
  });
  tb.emit({ op: 'for', iv, lb: imm(0, 'u32'), ub: imm(d.K, 'u32'), step: imm(1, 'u32'), body });
  return carried;
}
