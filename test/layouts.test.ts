// Layouts as tables: coverage of the blocked layouts, the mma.sync fragment maps of the PTX ISA,
// slice layouts that make broadcasts thread-local, and explicit conversions in the PTX stages.
import { describe, it, expect } from 'vitest';
import { blockedLayout, defaultBlockedParams, linearize, replicationMask } from '../compiler/layouts/layout.js';
import { mmaAccumulatorLayout, mmaOperandALayout, mmaOperandBLayout, mmaTiling } from '../compiler/layouts/mma.js';
import { sliceLayout } from '../compiler/layouts/assign.js';
import { lowerToPtx } from '../compiler/backends/ptx/index.js';
import { matmul } from '../kernels/matmul.js';
import { toHost, jit, tl } from '../index.js';

describe('blocked layouts', () => {
  for (const [shape, warps] of [[[1024], 4], [[16, 64], 4], [[64, 16], 8], [[8], 4], [[32, 32, 4], 2]] as const)
    it(`default layout of [${shape}] with ${warps} warps holds each element, and is linear in the thread id`, () => {
      const l = blockedLayout(shape, defaultBlockedParams(shape, warps, 4));
      const n = shape.reduce((a, b) => a * b, 1);
      const count = new Array<number>(n).fill(0);
      l.table.forEach((e) => count[e]!++);
      const replicas = l.threads * l.regs / n;
      expect(count.every((c) => c === replicas)).toBe(true);
      expect(linearize(l.threads, l.regs, (t, k) => l.table[t * l.regs + k]!)).toBeDefined();
      expect(replicationMask(l) === 0).toBe(replicas === 1);
    });
});

describe('mma.sync.m16n8k16 fragment layouts (PTX ISA lane maps)', () => {
  const m = mmaTiling(16, 8, 16, 1);
  const at = (l: { table: Int32Array; regs: number }, lane: number, reg: number): number => l.table[lane * l.regs + reg]!;
  it('accumulator: c0,c1 at (g, 2t..2t+1), c2,c3 at (g+8, ...)', () => {
    const c = mmaAccumulatorLayout(m);
    expect(c.regs).toBe(4);
    // lane 5: g = 1, t = 1
    expect([0, 1, 2, 3].map((k) => at(c, 5, k))).toEqual([1 * 8 + 2, 1 * 8 + 3, 9 * 8 + 2, 9 * 8 + 3]);
  });
  it('A operand: a0..a7 at rows g / g+8, cols 2t+(i&1) (+8 for i >= 4)', () => {
    const a = mmaOperandALayout(m);
    expect([0, 1, 2, 3, 4, 5, 6, 7].map((k) => at(a, 5, k))).toEqual([1 * 16 + 2, 1 * 16 + 3, 9 * 16 + 2, 9 * 16 + 3, 1 * 16 + 10, 1 * 16 + 11, 9 * 16 + 10, 9 * 16 + 11]);
  });
  it('B operand: b0..b3 at k-rows 2t+(i&1) (+8 for i >= 2), col g', () => {
    const b = mmaOperandBLayout(m);
    expect([0, 1, 2, 3].map((k) => at(b, 5, k))).toEqual([2 * 8 + 1, 3 * 8 + 1, 10 * 8 + 1, 11 * 8 + 1]);
  });
  it('tiles split over warps cover a 64x32 accumulator once', () => {
    const c = mmaAccumulatorLayout(mmaTiling(64, 32, 32, 4));
    const seen = new Set(c.table);
    expect(seen.size).toBe(64 * 32);
    expect(c.table.length).toBe(64 * 32);
  });
});

describe('slice layouts', () => {
  it('the source of a broadcast gets the rows its consumer threads hold', () => {
    const parent = blockedLayout([16, 64], defaultBlockedParams([16, 64], 4, 4));
    const s = sliceLayout(parent, [16, 1])!;
    expect(s).toBeDefined();
    for (let t = 0; t < parent.threads; t++)
      for (let k = 0; k < parent.regs; k++) {
        const row = Math.floor(parent.table[t * parent.regs + k]! / 64);
        expect(Array.from(s.table.subarray(t * s.regs, (t + 1) * s.regs))).toContain(row);
      }
  });
});

/** The dump of each named backend stage of one lowering (written to stderr as `// ---- name: after stage`). */
function stageDumps(lower: () => void): Record<string, string> {
  const dumps: Record<string, string> = {};
  const write = process.stderr.write;
  process.stderr.write = ((s: string) => {
    const m = /^\/\/ ---- \w+: after (\S+)\n/.exec(s);
    if (m) dumps[m[1]!] = s;
    return true;
  }) as typeof process.stderr.write;
  try {
    lower();
  } finally {
    process.stderr.write = write;
  }
  return dumps;
}

// x and the product have one shape, so CSE merges the two `tl.col(rows < M)` masks into one broadcast.
const rowsTimesW = jit(function rowsTimesW(X: tl.Ptr, W: tl.Ptr, Out: tl.Ptr, M: tl.i32, BLOCK_M: tl.constexpr, K: tl.constexpr) {
  const rows = tl.programId(0) * BLOCK_M + tl.arange(0, BLOCK_M);
  const cols = tl.row(tl.arange(0, K));
  const x = tl.load(X + tl.col(rows) * K + cols, { mask: tl.col(rows < M), other: 0 });
  const w = tl.load(W + tl.col(tl.arange(0, K)) * K + cols);
  tl.store(Out + tl.col(rows) * K + cols, tl.dot(x, w), { mask: tl.col(rows < M) });
});

describe('explicit layout conversions in the PTX stages', () => {
  it('a tensor-core matmul converts its operands to dot_op layouts and keeps the accumulator in the mma layout', () => {
    const buf = (d: 'f16') => ({ dtype: d, data: toHost(d, new Float64Array(64)) });
    const { compiled } = matmul.specialize({ device: 'ptx-sim' }, buf('f16'), buf('f16'), new Float32Array(4), 64, 64, 64, 64, 1, 64, 1, 64, 1, 32, 32, 16);
    const dumps = stageDumps(() => lowerToPtx(compiled.module, { numWarps: 4, dump: ['insert-conversions', 'remove-conversions', 'ptx'] }));
    expect(dumps['insert-conversions']).toMatch(/convert_layout .*#dot_op<A/);
    expect(dumps['insert-conversions']).toMatch(/convert_layout .*#dot_op<B/);
    expect(dumps['remove-conversions']).toMatch(/%acc\S* = dot .*#mma</);
    expect(dumps['ptx']).toContain('mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32');
    // The original module is untouched by the backend.
    expect(compiled.module.kernel.body.ops.some((o) => o.opcode === 'convert_layout')).toBe(false);
  });

  it('a mask broadcast shared by a load and an unrelated store does not put the loaded tile in the stored tile\'s layout', () => {
    const buf = (d: 'f16') => ({ dtype: d, data: toHost(d, new Float64Array(64)) });
    const { compiled } = rowsTimesW.specialize({ device: 'ptx-sim' }, buf('f16'), buf('f16'), new Float32Array(4), 50, 64, 32);
    const dumps = stageDumps(() => lowerToPtx(compiled.module, { numWarps: 4, dump: ['rematerialize', 'remove-conversions'] }));
    // Each user of the broadcast mask has its own copy: the load of x keeps a blocked layout (then
    // converted to the dot's A) while the stored product stays in the mma accumulator's.
    expect(dumps['rematerialize']!.match(/= broadcast %\S+ : <64x32xi1>/g)).toHaveLength(2);
    expect(dumps['remove-conversions']).toMatch(/%x = load .*#blocked</);
    expect(dumps['remove-conversions']).toMatch(/convert_layout %x .*#dot_op<A/);
  });
});
