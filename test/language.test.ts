// One test per construct of the kernel language, each checked against an independent plain-JS
// computation on random inputs whose sizes are not multiples of the block (so masks matter).
import { testDevices } from './reference/devices.js';
import { describe, it, expect, vi, afterEach } from 'vitest';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { jit, tl, cdiv, CompilationError, KernelRuntimeError, type DTypeName, type TypedArray } from '../index.js';
import { toHost, fromHost, allocateHost } from '../index.js';

// ---------------------------------------------------------------- helpers (test side)
const SRC_LINES = readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n');
/** 1-based line of the unique source line holding `marker` (not counting lineOf calls). */
function lineOf(marker: string): number {
  const hits = SRC_LINES.map((l, i) => [l, i] as const).filter(([l]) => l.includes(marker) && !l.includes('lineOf('));
  if (hits.length !== 1) throw new Error(`marker ${marker} found ${hits.length} times`);
  return hits[0]![1] + 1;
}

let seed = 12345;
function rand(): number {
  // xorshift32: reproducible inputs
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return (seed >>> 0) / 4294967296;
}
const randF32 = (n: number, lo = -1, hi = 1): Float32Array => Float32Array.from({ length: n }, () => lo + (hi - lo) * rand());
const randI32 = (n: number, lo: number, hi: number): Int32Array => Int32Array.from({ length: n }, () => lo + Math.floor((hi - lo) * rand()));
const f32 = Math.fround;

function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, rel = 1e-6, abs = 1e-7): void {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    const g = got[i]!, w = want[i]!;
    if (Number.isNaN(w)) {
      expect(Number.isNaN(g), `element ${i}: got ${g}, want NaN`).toBe(true);
      continue;
    }
    if (!Number.isFinite(w)) {
      expect(g, `element ${i}`).toBe(w);
      continue;
    }
    const ok = Math.abs(g - w) <= abs + rel * Math.abs(w);
    expect(ok, `element ${i}: got ${g}, want ${w}`).toBe(true);
  }
}
function expectExact(got: ArrayLike<number>, want: ArrayLike<number>): void {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++) expect(Object.is(got[i], want[i]) || got[i] === want[i], `element ${i}: got ${got[i]}, want ${want[i]}`).toBe(true);
}

// Independent f16 / bf16 bit decoding (not the runtime's).
function f16ToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 31, m = h & 1023;
  if (e === 0) return sign * m * Math.pow(2, -24);
  if (e === 31) return m === 0 ? sign * Infinity : NaN;
  return sign * Math.pow(2, e - 15) * (1 + m / 1024);
}
function bf16ToNumber(h: number): number {
  const b = new DataView(new ArrayBuffer(4));
  b.setUint32(0, h << 16);
  return b.getFloat32(0);
}

const cpu = 'cpu' as const;
/** A typed array (not BigInt64Array) as plain numbers. */
const nums = (a: TypedArray): number[] => Array.from(a as unknown as ArrayLike<number>);

// ---------------------------------------------------------------- kernels
const pid2d = jit(function pid2d(Out: tl.Ptr) {
  const x = tl.programId(0);
  const y = tl.programId(1);
  const z = tl.programId(2);
  const nx = tl.numPrograms(0);
  const ny = tl.numPrograms(1);
  const nz = tl.numPrograms(2);
  const base = ((z * ny + y) * nx + x) * 6;
  tl.store(Out + base, x);
  tl.store(Out + base + 1, y);
  tl.store(Out + base + 2, z);
  tl.store(Out + base + 3, nx);
  tl.store(Out + base + 4, ny);
  tl.store(Out + base + 5, nz);
});

const creation = jit(function creation(A: tl.Ptr, Z: tl.Ptr, F: tl.Ptr, n: tl.i32, BLOCK: tl.constexpr, V: tl.constexpr) {
  const offs = tl.programId(0) * BLOCK + tl.arange(0, BLOCK);
  const m = offs < n;
  tl.store(A + offs, tl.arange(3, BLOCK + 3) + 0 * offs, { mask: m });
  tl.store(Z + offs, tl.zeros([BLOCK], 'i32') + 1, { mask: m });
  tl.store(F + offs, tl.full([BLOCK], V, 'f32'), { mask: m });
});

const ptrArith = jit(function ptrArith(X: tl.Ptr, Rev: tl.Ptr, Strided: tl.Ptr, n: tl.i32, BLOCK: tl.constexpr) {
  const offs = tl.programId(0) * BLOCK + tl.arange(0, BLOCK);
  const m = offs < n;
  // reversed: element n-1-i, through 'ptr - offset'
  const last = X + (n - 1);
  tl.store(Rev + offs, tl.load(last - offs, { mask: m }), { mask: m });
  // every second element: offsets + pointer (offset on the left)
  const m2 = offs * 2 < n;
  tl.store(Strided + offs, tl.load(offs * 2 + X, { mask: m2 }), { mask: m2 });
});

const loadOther = jit(function loadOther(X: tl.Ptr, Out: tl.Ptr, n: tl.i32, BLOCK: tl.constexpr) {
  const offs = tl.programId(0) * BLOCK + tl.arange(0, BLOCK);
  const x = tl.load(X + offs, { mask: offs < n, other: -7.5 });
  tl.store(Out + offs, x); // Out is padded to a whole number of blocks: no mask needed
});

const storeMask = jit(function storeMask(X: tl.Ptr, Out: tl.Ptr, n: tl.i32, BLOCK: tl.constexpr) {
  const offs = tl.programId(0) * BLOCK + tl.arange(0, BLOCK);
  const inb = offs < n;
  const x = tl.load(X + offs, { mask: inb });
  tl.store(Out + offs, x * 2, { mask: inb && offs % 3 === 0 });
});

const outer = jit(function outer(X: tl.Ptr, Y: tl.Ptr, S: tl.Ptr, P: tl.Ptr, E: tl.Ptr, M: tl.i32, N: tl.i32, BM: tl.constexpr, BN: tl.constexpr) {
  const rm = tl.programId(0) * BM + tl.arange(0, BM);
  const rn = tl.programId(1) * BN + tl.arange(0, BN);
  const x = tl.load(X + rm, { mask: rm < M });
  const y = tl.load(Y + rn, { mask: rn < N });
  const mask = tl.col(rm) < M && tl.row(rn) < N;
  const idx = tl.col(rm) * N + tl.row(rn);
  tl.store(S + idx, tl.col(x) + tl.row(y), { mask });
  tl.store(P + idx, tl.expandDims(x, 1) * tl.expandDims(y, 0), { mask });
  // expandDims with a negative axis: x[:, None] - y[None, :]
  tl.store(E + idx, tl.expandDims(x, -1) - tl.expandDims(y, 0), { mask });
});

const floatArith = jit(function floatArith(X: tl.Ptr, Y: tl.Ptr, Out: tl.Ptr, n: tl.i32, BLOCK: tl.constexpr) {
  const offs = tl.programId(0) * BLOCK + tl.arange(0, BLOCK);
  const m = offs < n;
  const x = tl.load(X + offs, { mask: m });
  const y = tl.load(Y + offs, { mask: m, other: 1 });
  tl.store(Out + offs, x + y, { mask: m });
  tl.store(Out + n + offs, x - y, { mask: m });
  tl.store(Out + 2 * n + offs, x * y, { mask: m });
  tl.store(Out + 3 * n + offs, x / y, { mask: m });
  tl.store(Out + 4 * n + offs, x % y, { mask: m });
  tl.store(Out + 5 * n + offs, -x + 0.5, { mask: m });
});

const intArith = jit(function intArith(X: tl.Ptr, Y: tl.Ptr, Out: tl.Ptr, Div: tl.Ptr, n: tl.i32, BLOCK: tl.constexpr) {
  const offs = tl.programId(0) * BLOCK + tl.arange(0, BLOCK);
  const m = offs < n;
  const x = tl.load(X + offs, { mask: m });
  const y = tl.load(Y + offs, { mask: m, other: 1 });
  tl.store(Out + offs, x + y, { mask: m });
  tl.store(Out + n + offs, x - y, { mask: m });
  tl.store(Out + 2 * n + offs, x * y, { mask: m });
  tl.store(Out + 3 * n + offs, x % y, { mask: m });
  tl.store(Out + 4 * n + offs, tl.idiv(x, y), { mask: m });
  tl.store(Div + offs, x / y, { mask: m }); // true division of ints gives f32
});

const promote = jit(function promote(I: tl.Ptr<'i32'>, F: tl.Ptr<'f32'>, Out: tl.Ptr<'f64'>, n: tl.i32, BLOCK: tl.constexpr) {
  const offs = tl.programId(0) * BLOCK + tl.arange(0, BLOCK);
  const m = offs < n;
  const i = tl.load(I + offs, { mask: m });
  const f = tl.load(F + offs, { mask: m });
  tl.store(Out + offs, i + f, { mask: m }); // i32 + f32 -> f32, rounded in f32 before the f64 store
  tl.store(Out + n + offs, i * 0.5, { mask: m }); // i32 * float constant -> f32
  tl.store(Out + 2 * n + offs, i + 1, { mask: m }); // stays i32 (wraps)
});

const u32ops = jit(function u32ops(A: tl.Ptr<'u32'>, B: tl.Ptr<'u32'>, I: tl.Ptr<'i32'>, Out: tl.Ptr<'f64'>, n: tl.i32, BLOCK: tl.constexpr) {
  const offs = tl.programId(0) * BLOCK + tl.arange(0, BLOCK);
  const m = offs < n;
  const a = tl.load(A + offs, { mask: m });
  const b = tl.load(B + offs, { mask: m });
  const i = tl.load(I + offs, { mask: m });
  tl.store(Out + offs, a - b, { mask: m }); // wraps modulo 2^32
  tl.store(Out + n + offs, a * b, { mask: m });
  tl.store(Out + 2 * n + offs, a >> 3, { mask: m }); // logical shift
  tl.store(Out + 3 * n + offs, tl.cast(a > b, 'f64'), { mask: m }); // unsigned comparison
  tl.store(Out + 4 * n + offs, i + a, { mask: m }); // i32 with u32 -> u32
  tl.store(Out + 5 * n + offs, tl.cast(i < a, 'f64'), { mask: m }); // compared as u32
});

const compare = jit(function compare(X: tl.Ptr, Y: tl.Ptr, Out: tl.Ptr<'u8'>, n: tl.i32, BLOCK: tl.constexpr) {
  const offs = tl.programId(0) * BLOCK + tl.arange(0, BLOCK);
  const m = offs < n;
  const x = tl.load(X + offs, { mask: m });
  const y = tl.load(Y + offs, { mask: m });
  tl.store(Out + offs, x < y, { mask: m });
  tl.store(Out + n + offs, x <= y, { mask: m });
  tl.store(Out + 2 * n + offs, x > y, { mask: m });
  tl.store(Out + 3 * n + offs, x >= y, { mask: m });
  tl.store(Out + 4 * n + offs, x === y, { mask: m });
  tl.store(Out + 5 * n + offs, x !== y, { mask: m });
  tl.store(Out + 6 * n + offs, x > 0 && y > 0, { mask: m });
  tl.store(Out + 7 * n + offs, x > 0 || y > 0, { mask: m });
  tl.store(Out + 8 * n + offs, !(x > y), { mask: m });
});

const bitwise = jit(function bitwise(X: tl.Ptr<'i32'>, Y: tl.Ptr<'i32'>, S: tl.Ptr<'i32'>, Out: tl.Ptr<'i32'>, n: tl.i32, BLOCK: tl.constexpr) {
  const offs = tl.programId(0) * BLOCK + tl.arange(0, BLOCK);
  const m = offs < n;
  const x = tl.load(X + offs, { mask: m });
  const y = tl.load(Y + offs, { mask: m });
  const s = tl.load(S + offs, { mask: m });
  tl.store(Out + offs, x & y, { mask: m });
  tl.store(Out + n + offs, x | y, { mask: m });
  tl.store(Out + 2 * n + offs, x ^ y, { mask: m });
  tl.store(Out + 3 * n + offs, x << s, { mask: m });
  tl.store(Out + 4 * n + offs, x >> s, { mask: m }); // arithmetic shift on i32
  tl.store(Out + 5 * n + offs, ~x, { mask: m });
});

const selects = jit(function selects(X: tl.Ptr, Y: tl.Ptr, W: tl.Ptr, T: tl.Ptr, n: tl.i32, BLOCK: tl.constexpr) {
  const offs = tl.programId(0) * BLOCK + tl.arange(0, BLOCK);
  const m = offs < n;
  const x = tl.load(X + offs, { mask: m });
  const y = tl.load(Y + offs, { mask: m });
  tl.store(W + offs, tl.where(x > y, x, y * 2), { mask: m });
  tl.store(T + offs, x < 0 ? -x : 0, { mask: m });
});

const mathFns = jit(function mathFns(X: tl.Ptr, P: tl.Ptr, Out: tl.Ptr, n: tl.i32, BLOCK: tl.constexpr) {
  const offs = tl.programId(0) * BLOCK + tl.arange(0, BLOCK);
  const m = offs < n;
  const x = tl.load(X + offs, { mask: m });
  const p = tl.load(P + offs, { mask: m, other: 1 }); // positive inputs for log/sqrt
  tl.store(Out + offs, tl.exp(x), { mask: m });
  tl.store(Out + n + offs, tl.exp2(x), { mask: m });
  tl.store(Out + 2 * n + offs, tl.log(p), { mask: m });
  tl.store(Out + 3 * n + offs, tl.log2(p), { mask: m });
  tl.store(Out + 4 * n + offs, tl.sqrt(p), { mask: m });
  tl.store(Out + 5 * n + offs, tl.rsqrt(p), { mask: m });
  tl.store(Out + 6 * n + offs, tl.sin(x), { mask: m });
  tl.store(Out + 7 * n + offs, tl.cos(x), { mask: m });
  tl.store(Out + 8 * n + offs, tl.sigmoid(x), { mask: m });
  tl.store(Out + 9 * n + offs, tl.softplus(x), { mask: m });
  tl.store(Out + 10 * n + offs, tl.abs(x), { mask: m });
  tl.store(Out + 11 * n + offs, tl.floor(x), { mask: m });
  tl.store(Out + 12 * n + offs, tl.minimum(x, p), { mask: m });
  tl.store(Out + 13 * n + offs, tl.maximum(x, p), { mask: m });
});

const halfMath = jit(function halfMath(X: tl.Ptr<'f16'>, Out: tl.Ptr<'f16'>, n: tl.i32, BLOCK: tl.constexpr) {
  const offs = tl.programId(0) * BLOCK + tl.arange(0, BLOCK);
  const m = offs < n;
  const x = tl.load(X + offs, { mask: m });
  tl.store(Out + offs, tl.softplus(x), { mask: m });
  tl.store(Out + n + offs, tl.sigmoid(x), { mask: m });
});

const castTo = jit(function castTo(X: tl.Ptr, Out: tl.Ptr, n: tl.i32, D: tl.constexpr<DTypeName>, BLOCK: tl.constexpr) {
  const offs = tl.programId(0) * BLOCK + tl.arange(0, BLOCK);
  const m = offs < n;
  tl.store(Out + offs, tl.cast(tl.load(X + offs, { mask: m }), D), { mask: m });
});

const reductions = jit(function reductions(X: tl.Ptr, Out: tl.Ptr<'f32'>, Arg: tl.Ptr<'i32'>, M: tl.i32, N: tl.i32, BM: tl.constexpr, BN: tl.constexpr) {
  const rm = tl.arange(0, BM);
  const rn = tl.arange(0, BN);
  const mask = tl.col(rm) < M && tl.row(rn) < N;
  const ptrs = X + tl.col(rm) * N + tl.row(rn);
  const xs = tl.load(ptrs, { mask, other: 0 });
  const xmax = tl.load(ptrs, { mask, other: -Infinity });
  const xmin = tl.load(ptrs, { mask, other: Infinity });
  // along axis 0 (one value per column), axis 1 (one per row), and over everything
  tl.store(Out + rn, tl.sum(xs, 0), { mask: rn < N });
  tl.store(Out + BN + rn, tl.max(xmax, 0), { mask: rn < N });
  tl.store(Out + 2 * BN + rn, tl.min(xmin, 0), { mask: rn < N });
  tl.store(Arg + rn, tl.argmax(xmax, 0), { mask: rn < N });
  tl.store(Out + 3 * BN + rm, tl.sum(xs, 1), { mask: rm < M });
  tl.store(Out + 3 * BN + BM + rm, tl.max(xmax, 1), { mask: rm < M });
  tl.store(Out + 3 * BN + 2 * BM + rm, tl.min(xmin, -1), { mask: rm < M });
  tl.store(Arg + BN + rm, tl.argmax(xmax, 1), { mask: rm < M });
  const base = 3 * BN + 3 * BM;
  tl.store(Out + base, tl.sum(xs));
  tl.store(Out + base + 1, tl.max(xmax));
  tl.store(Out + base + 2, tl.min(xmin));
});

const matmul = jit(function matmul(A: tl.Ptr, B: tl.Ptr, C: tl.Ptr, Out: tl.Ptr<'f32'>, M: tl.i32, N: tl.i32, K: tl.i32, BM: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr) {
  const rm = tl.arange(0, BM);
  const rn = tl.arange(0, BN);
  const rk = tl.arange(0, BK);
  const a = tl.load(A + tl.col(rm) * K + tl.row(rk), { mask: tl.col(rm) < M && tl.row(rk) < K, other: 0 });
  const b = tl.load(B + tl.col(rk) * N + tl.row(rn), { mask: tl.col(rk) < K && tl.row(rn) < N, other: 0 });
  const cmask = tl.col(rm) < M && tl.row(rn) < N;
  const acc = tl.load(C + tl.col(rm) * N + tl.row(rn), { mask: cmask, other: 0 });
  const r = tl.dot(a, b, acc);
  tl.store(Out + tl.col(rm) * N + tl.row(rn), r, { mask: cmask });
});

const shapes = jit(function shapes(X: tl.Ptr, T: tl.Ptr, R: tl.Ptr, Bc: tl.Ptr, M: tl.i32, N: tl.i32, BM: tl.constexpr, BN: tl.constexpr) {
  const rm = tl.arange(0, BM);
  const rn = tl.arange(0, BN);
  const mask = tl.col(rm) < M && tl.row(rn) < N;
  const x = tl.load(X + tl.col(rm) * N + tl.row(rn), { mask, other: 0 });
  // transpose: T is N x M
  const xt = tl.trans(x);
  tl.store(T + tl.col(rn) * M + tl.row(rm), xt, { mask: tl.col(rn) < N && tl.row(rm) < M });
  // reshape [BM, BN] -> [BM * BN / 4, 4] and sum groups of 4 consecutive elements (row-major order)
  const g = tl.sum(tl.reshape(x, [(BM * BN) / 4, 4]), 1);
  tl.store(R + tl.arange(0, (BM * BN) / 4), g);
  // broadcastTo: the first row repeated BM times
  const first = tl.load(X + tl.row(rn), { mask: tl.row(rn) < N, other: 0 });
  tl.store(Bc + tl.col(rm) * N + tl.row(rn), tl.broadcastTo(first, [BM, BN]), { mask });
});

const histogram = jit(function histogram(X: tl.Ptr<'i32'>, H: tl.Ptr<'i32'>, n: tl.i32, BLOCK: tl.constexpr) {
  const offs = tl.programId(0) * BLOCK + tl.arange(0, BLOCK);
  const m = offs < n;
  const bin = tl.load(X + offs, { mask: m });
  tl.atomicAdd(H + bin, 1, { mask: m });
});

const ticket = jit(function ticket(Counter: tl.Ptr<'i32'>, Total: tl.Ptr<'f32'>, X: tl.Ptr<'f32'>, Old: tl.Ptr<'i32'>, n: tl.i32, BLOCK: tl.constexpr) {
  const pid = tl.programId(0);
  const old = tl.atomicAdd(Counter, 1);
  tl.store(Old + pid, old);
  const offs = pid * BLOCK + tl.arange(0, BLOCK);
  tl.atomicAdd(Total, tl.sum(tl.load(X + offs, { mask: offs < n })));
});

const rowSums = jit(function rowSums(X: tl.Ptr, Out: tl.Ptr<'f32'>, Count: tl.Ptr<'i32'>, n: tl.i32, BLOCK: tl.constexpr) {
  const row = tl.programId(0);
  let acc = tl.zeros([BLOCK], 'f32');
  let tiles = 0;
  for (let k = 0; k < n; k += BLOCK) {
    const offs = k + tl.arange(0, BLOCK);
    acc += tl.load(X + row * n + offs, { mask: offs < n });
    tiles += 1;
  }
  let sq = 0.0;
  for (const k of tl.range(0, n, BLOCK)) {
    const offs = k + tl.arange(0, BLOCK);
    const x = tl.load(X + row * n + offs, { mask: offs < n });
    sq = sq + tl.sum(x * x);
  }
  tl.store(Out + 2 * row, tl.sum(acc));
  tl.store(Out + 2 * row + 1, sq);
  tl.store(Count + row, tiles);
});

const runtimeIf = jit(function runtimeIf(X: tl.Ptr, Out: tl.Ptr, n: tl.i32, flag: tl.i32, BLOCK: tl.constexpr) {
  const pid = tl.programId(0);
  const offs = pid * BLOCK + tl.arange(0, BLOCK);
  const m = offs < n;
  let y = tl.load(X + offs, { mask: m });
  let scale = 1.0;
  if (flag) {
    y = y * 2;
  }
  if (pid % 2 === 1) {
    scale = 10.0;
  } else {
    scale = -1.0;
  }
  tl.store(Out + offs, y * scale, { mask: m });
});

const staticIf = jit(function staticIf(X: tl.Ptr, Out: tl.Ptr, n: tl.i32, NEGATE: tl.constexpr<boolean>, SQUARE: tl.constexpr<boolean>, BLOCK: tl.constexpr) {
  const offs = tl.programId(0) * BLOCK + tl.arange(0, BLOCK);
  const m = offs < n;
  let x = tl.load(X + offs, { mask: m });
  if (NEGATE) {
    x = -x;
  }
  if (SQUARE) {
    x = x * x;
  } else {
    x = x + 100;
  }
  // a constexpr-condition ternary picks one side at compile time
  const out = NEGATE && !SQUARE ? x * 3 : x;
  tl.store(Out + offs, out, { mask: m });
});

const unrolled = jit(function unrolled(X: tl.Ptr, Out: tl.Ptr, n: tl.i32, COPIES: tl.constexpr, BLOCK: tl.constexpr) {
  const offs = tl.programId(0) * BLOCK + tl.arange(0, BLOCK);
  const m = offs < n;
  let acc = tl.zeros([BLOCK], 'f32');
  for (const i of tl.staticRange(0, COPIES)) {
    acc += tl.load(X + i * n + offs, { mask: m }) * (i + 1);
  }
  tl.store(Out + offs, acc, { mask: m });
});

// Helpers at the top level of the module, inlined into kernels.
function scaleShift(x: number, SCALE: number, SHIFT: boolean): number {
  let y = x * SCALE;
  if (SHIFT) {
    y = y + 1;
  }
  return y;
}
function orderPair(a: number, b: number): [number, number] {
  return [tl.minimum(a, b), tl.maximum(a, b)];
}
function sumAndCount(x: number, mask: boolean): [number, number] {
  return [tl.sum(tl.where(mask, x, 0)), tl.sum(tl.cast(mask, 'i32'))];
}

const helpers = jit(function helpers(X: tl.Ptr, Y: tl.Ptr, Out: tl.Ptr, Stats: tl.Ptr<'f32'>, n: tl.i32, SCALE: tl.constexpr, BLOCK: tl.constexpr) {
  const pid = tl.programId(0);
  const offs = pid * BLOCK + tl.arange(0, BLOCK);
  const m = offs < n;
  const x = tl.load(X + offs, { mask: m });
  const y = tl.load(Y + offs, { mask: m });
  const [lo, hi] = orderPair(x, y);
  tl.store(Out + offs, scaleShift(lo, SCALE, true), { mask: m });
  tl.store(Out + n + offs, scaleShift(hi, 2, false), { mask: m });
  const [s, c] = sumAndCount(x, m);
  tl.store(Stats + 2 * pid, s);
  tl.store(Stats + 2 * pid + 1, c);
});

const staticAssertOk = jit(function staticAssertOk(X: tl.Ptr, BLOCK: tl.constexpr) {
  tl.staticAssert(BLOCK % 16 === 0, 'BLOCK must be a multiple of 16');
  tl.store(X + tl.arange(0, BLOCK), 1);
});

const printer = jit(function printer(X: tl.Ptr, BLOCK: tl.constexpr) {
  const pid = tl.programId(0);
  const x = tl.load(X + pid * BLOCK + tl.arange(0, BLOCK));
  tl.print('sum=', tl.sum(x), pid);
});

const asserter = jit(function asserter(X: tl.Ptr, n: tl.i32, BLOCK: tl.constexpr) {
  const offs = tl.programId(0) * BLOCK + tl.arange(0, BLOCK);
  const x = tl.load(X + offs, { mask: offs < n, other: 1 });
  tl.deviceAssert(x > 0, 'inputs must be positive'); // @assert-line
});

const oob = jit(function oob(Src: tl.Ptr, Dst: tl.Ptr, BLOCK: tl.constexpr) {
  const offs = tl.programId(0) * BLOCK + tl.arange(0, BLOCK);
  const v = tl.load(Src + offs); // @oob-line
  tl.store(Dst + offs, v);
});

const copy = jit(function copy(X: tl.Ptr, Y: tl.Ptr, n: tl.i32, BLOCK: tl.constexpr) {
  const offs = tl.programId(0) * BLOCK + tl.arange(0, BLOCK);
  const m = offs < n;
  tl.store(Y + offs, tl.load(X + offs, { mask: m }), { mask: m });
});

const cached = jit(function cached(X: tl.Ptr, Y: tl.Ptr, n: tl.i32, BLOCK: tl.constexpr) {
  const offs = tl.programId(0) * BLOCK + tl.arange(0, BLOCK);
  const m = offs < n;
  tl.store(Y + offs, tl.load(X + offs, { mask: m }) + 1, { mask: m });
});

const dumped = jit(function dumped(X: tl.Ptr, n: tl.i32, BLOCK: tl.constexpr) {
  const offs = tl.programId(0) * BLOCK + tl.arange(0, BLOCK);
  let v = offs * 7; // dead after the reassignment: removed by dce
  v = offs;
  tl.store(X + offs, v, { mask: offs < n });
});

afterEach(() => {
  vi.restoreAllMocks();
});

// ---------------------------------------------------------------- tests
// The language on the IR interpreter and through the PTX backend on the thread-level simulator.
describe.each(testDevices())('on %s', (device) => {
  describe('program index space', () => {
    it('programId and numPrograms on 2-D and 3-D grids', () => {
      for (const grid of [[5, 3], [4, 3, 2]] as const) {
        const g: readonly number[] = grid;
        const [gx, gy, gz] = [g[0]!, g[1]!, g[2] ?? 1];
        const out = new Int32Array(gx * gy * gz * 6).fill(-1);
        pid2d.launch({ grid, device }, out);
        for (let z = 0; z < gz; z++)
          for (let y = 0; y < gy; y++)
            for (let x = 0; x < gx; x++) {
              const b = ((z * gy + y) * gx + x) * 6;
              expect(Array.from(out.subarray(b, b + 6))).toEqual([x, y, z, gx, gy, gz]);
            }
      }
    });

    it('arange, zeros and full (with a constexpr fill value)', () => {
      const n = 77, B = 32;
      const a = new Int32Array(n), z = new Int32Array(n), f = new Float32Array(n);
      creation.launch({ grid: (meta) => cdiv(n, meta['BLOCK'] as number), device }, a, z, f, n, B, 2.25);
      for (let i = 0; i < n; i++) {
        expect(a[i]).toBe((i % B) + 3);
        expect(z[i]).toBe(1);
        expect(f[i]).toBe(2.25);
      }
    });
  });

  describe('memory', () => {
    it('pointer arithmetic: ptr - offsets and offsets + ptr', () => {
      const n = 53, B = 16;
      const x = randF32(n);
      const rev = new Float32Array(n), strided = new Float32Array(n).fill(99);
      ptrArith.launch({ grid: cdiv(n, B), device }, x, rev, strided, n, B);
      for (let i = 0; i < n; i++) expect(rev[i]).toBe(x[n - 1 - i]);
      for (let i = 0; i < n; i++) expect(strided[i]).toBe(2 * i < n ? x[2 * i] : 99);
    });

    it('load with mask and other fills masked-off lanes', () => {
      const n = 45, B = 16;
      const x = randF32(n);
      const out = new Float32Array(cdiv(n, B) * B);
      loadOther.launch({ grid: cdiv(n, B), device }, x, out, n, B);
      for (let i = 0; i < out.length; i++) expect(out[i]).toBe(i < n ? x[i] : -7.5);
    });

    it('store with a mask writes only the selected lanes', () => {
      const n = 70, B = 32;
      const x = randF32(n);
      const out = new Float32Array(n).fill(-1);
      storeMask.launch({ grid: cdiv(n, B), device }, x, out, n, B);
      for (let i = 0; i < n; i++) expect(out[i]).toBe(i % 3 === 0 ? f32(x[i]! * 2) : -1);
    });
  });

  describe('broadcasting', () => {
    it('col/row/expandDims: outer sum, product and difference into a 2-D tile', () => {
      const M = 21, N = 13, BM = 16, BN = 8;
      const x = randF32(M), y = randF32(N);
      const s = new Float32Array(M * N), p = new Float32Array(M * N), e = new Float32Array(M * N);
      outer.launch({ grid: [cdiv(M, BM), cdiv(N, BN)], device }, x, y, s, p, e, M, N, BM, BN);
      for (let i = 0; i < M; i++)
        for (let j = 0; j < N; j++) {
          expect(s[i * N + j]).toBe(f32(x[i]! + y[j]!));
          expect(p[i * N + j]).toBe(f32(x[i]! * y[j]!));
          expect(e[i * N + j]).toBe(f32(x[i]! - y[j]!));
        }
    });
  });

  describe('arithmetic', () => {
    it('+ - * / % and negation on f32', () => {
      const n = 100, B = 32;
      const x = randF32(n, -10, 10), y = randF32(n, 0.5, 3);
      for (let i = 0; i < n; i += 2) y[i] = -y[i]!;
      const out = new Float32Array(6 * n);
      floatArith.launch({ grid: cdiv(n, B), device }, x, y, out, n, B);
      for (let i = 0; i < n; i++) {
        const a = x[i]!, b = y[i]!;
        expect(out[i]).toBe(f32(a + b));
        expect(out[n + i]).toBe(f32(a - b));
        expect(out[2 * n + i]).toBe(f32(a * b));
        expect(out[3 * n + i]).toBe(f32(a / b));
        expect(out[4 * n + i]).toBe(f32(a % b)); // JS/C fmod: sign of the dividend
        expect(out[5 * n + i]).toBe(f32(-a + 0.5));
      }
    });

    it('+ - * % idiv and / on i32 (wrapping, C remainder, true division to f32)', () => {
      const n = 90, B = 32;
      const x = randI32(n, -1000, 1000), y = randI32(n, -50, 50);
      for (let i = 0; i < n; i++) if (y[i] === 0) y[i] = 7;
      x[0] = 2147483647; y[0] = 1; // + overflows
      x[1] = -2147483648; y[1] = 3; // - overflows
      x[2] = 65536; y[2] = 65536; // * overflows
      const out = new Int32Array(5 * n), div = new Float32Array(n);
      intArith.launch({ grid: cdiv(n, B), device }, x, y, out, div, n, B);
      for (let i = 0; i < n; i++) {
        const a = x[i]!, b = y[i]!;
        expect(out[i]).toBe((a + b) | 0);
        expect(out[n + i]).toBe((a - b) | 0);
        expect(out[2 * n + i]).toBe(Math.imul(a, b));
        expect(out[3 * n + i]).toBe((a % b) | 0);
        expect(out[4 * n + i]).toBe(Math.trunc(a / b) | 0);
        expect(div[i]).toBe(f32(f32(a) / f32(b)));
      }
    });

    it('integer type promotion: i32 with f32 gives f32', () => {
      const n = 37, B = 16;
      const i = randI32(n, -100000, 100000), f = randF32(n, -3, 3);
      i[0] = 16777217; f[0] = 0.5; // 16777217 is not an f32: computed in f32 the sum is 16777216
      i[1] = 2147483647; // i + 1 wraps in i32
      const out = new Float64Array(3 * n);
      promote.launch({ grid: cdiv(n, B), device }, i, f, out, n, B);
      for (let k = 0; k < n; k++) {
        expect(out[k]).toBe(f32(f32(i[k]!) + f[k]!));
        expect(out[n + k]).toBe(f32(f32(i[k]!) * 0.5));
        expect(out[2 * n + k]).toBe((i[k]! + 1) | 0);
      }
      expect(out[0]).toBe(16777216);
      expect(out[2 * n + 1]).toBe(-2147483648);
    });

    it('u32: wrapping, logical shifts, unsigned comparisons, i32 with u32 gives u32', () => {
      const n = 41, B = 16;
      const a = Uint32Array.from({ length: n }, () => Math.floor(rand() * 2 ** 32));
      const b = Uint32Array.from({ length: n }, () => Math.floor(rand() * 2 ** 32));
      const i = randI32(n, -5, 5);
      a[0] = 1; b[0] = 2; // 1 - 2 wraps to 2^32 - 1
      a[1] = 3000000000; b[1] = 1; // > 2^31: still greater than 1 unsigned
      const out = new Float64Array(6 * n);
      u32ops.launch({ grid: cdiv(n, B), device }, a, b, i, out, n, B);
      for (let k = 0; k < n; k++) {
        const x = a[k]!, y = b[k]!, s = i[k]!;
        expect(out[k], `a-b ${k}`).toBe((x - y) >>> 0);
        expect(out[n + k], `a*b ${k}`).toBe(Math.imul(x, y) >>> 0);
        expect(out[2 * n + k], `a>>3 ${k}`).toBe(x >>> 3);
        expect(out[3 * n + k], `a>b ${k}`).toBe(x > y ? 1 : 0);
        expect(out[4 * n + k], `i+a ${k}`).toBe((s + x) >>> 0);
        expect(out[5 * n + k], `i<a ${k}`).toBe((s >>> 0) < x ? 1 : 0);
      }
      expect(out[0]).toBe(4294967295);
      expect(out[3 * n + 1]).toBe(1);
    });

    it('comparisons and && || ! on masks', () => {
      const n = 60, B = 16;
      const x = randF32(n), y = randF32(n);
      for (let i = 0; i < n; i += 5) y[i] = x[i]!; // some equal pairs
      const out = new Uint8Array(9 * n).fill(7);
      compare.launch({ grid: cdiv(n, B), device }, x, y, out, n, B);
      for (let i = 0; i < n; i++) {
        const a = x[i]!, b = y[i]!;
        const want = [a < b, a <= b, a > b, a >= b, a === b, a !== b, a > 0 && b > 0, a > 0 || b > 0, !(a > b)];
        want.forEach((w, k) => expect(out[k * n + i], `op ${k} element ${i}`).toBe(w ? 1 : 0));
      }
    });

    it('bitwise & | ^ << >> ~ on i32', () => {
      const n = 50, B = 16;
      const x = Int32Array.from({ length: n }, () => (rand() * 2 ** 32) | 0);
      const y = Int32Array.from({ length: n }, () => (rand() * 2 ** 32) | 0);
      const s = randI32(n, 0, 32);
      const out = new Int32Array(6 * n);
      bitwise.launch({ grid: cdiv(n, B), device }, x, y, s, out, n, B);
      for (let i = 0; i < n; i++) {
        const a = x[i]!, b = y[i]!, sh = s[i]!;
        expect(out[i]).toBe(a & b);
        expect(out[n + i]).toBe(a | b);
        expect(out[2 * n + i]).toBe(a ^ b);
        expect(out[3 * n + i]).toBe(a << sh);
        expect(out[4 * n + i]).toBe(a >> sh);
        expect(out[5 * n + i]).toBe(~a);
      }
    });

    it('where and a runtime ternary', () => {
      const n = 33, B = 16;
      const x = randF32(n), y = randF32(n);
      const w = new Float32Array(n), t = new Float32Array(n);
      selects.launch({ grid: cdiv(n, B), device }, x, y, w, t, n, B);
      for (let i = 0; i < n; i++) {
        expect(w[i]).toBe(x[i]! > y[i]! ? x[i]! : f32(y[i]! * 2));
        expect(t[i]).toBe(x[i]! < 0 ? -x[i]! : 0);
      }
    });
  });

  describe('math functions', () => {
    it('exp exp2 log log2 sqrt rsqrt sin cos sigmoid softplus abs floor minimum maximum on f32', () => {
      const n = 75, B = 32;
      const x = randF32(n, -20, 20), p = randF32(n, 0.01, 50);
      x[0] = -3.5; x[1] = 3; x[2] = -0.25;
      const out = new Float32Array(14 * n);
      mathFns.launch({ grid: cdiv(n, B), device }, x, p, out, n, B);
      const sig = (v: number): number => 1 / (1 + Math.exp(-v));
      const sp = (v: number): number => Math.log(1 + Math.exp(v));
      const fns: ((a: number, q: number) => number)[] = [
        (a) => Math.exp(a), (a) => Math.pow(2, a), (_, q) => Math.log(q), (_, q) => Math.log2(q), (_, q) => Math.sqrt(q),
        (_, q) => 1 / Math.sqrt(q), (a) => Math.sin(a), (a) => Math.cos(a), sig, sp, (a) => Math.abs(a), (a) => Math.floor(a),
        (a, q) => Math.min(a, q), (a, q) => Math.max(a, q),
      ];
      // The interpreter computes these in float64 and rounds; GPUs use the approximate instructions
      // with the accuracy stated in docs/ptx-backend.md (rtol, atol per function, in this order).
      const gpu: [number, number][] = [[4e-6, 0], [1e-6, 0], [2e-7, 3e-7], [0, 3e-7], [1e-7, 0], [4e-7, 0], [0, 1e-6], [0, 1e-6], [4e-6, 1e-7], [4e-6, 1e-6], [0, 0], [0, 0], [0, 0], [0, 0]];
      fns.forEach((f, k) => {
        const want = Array.from({ length: n }, (_, i) => f(x[i]!, p[i]!));
        const [rtol, atol] = device === 'cpu' ? [2e-6, 1e-7] : [Math.max(2e-6, gpu[k]![0]), Math.max(1e-7, gpu[k]![1])];
        expectClose(out.subarray(k * n, (k + 1) * n), want, rtol, atol);
      });
      expect(out[11 * n]).toBe(-4); // floor(-3.5)
      expect(out[10 * n]).toBe(3.5);
    });

    it('softplus and sigmoid in f16 stay finite and correct for large |x|', () => {
      const vals = [-60000, -1000, -20, -3, -0.5, 0, 0.5, 3, 11, 20, 100, 1000, 30000, 65504];
      const n = vals.length, B = 8;
      const xb = toHost('f16', vals) as Uint16Array;
      const out = new Uint16Array(2 * n);
      halfMath.launch({ grid: cdiv(n, B), device }, { dtype: 'f16', data: xb }, { dtype: 'f16', data: out }, n, B);
      for (let i = 0; i < n; i++) {
        const v = f16ToNumber(xb[i]!);
        const sp = f16ToNumber(out[i]!), sg = f16ToNumber(out[n + i]!);
        expect(Number.isFinite(sp), `softplus(${v}) = ${sp}`).toBe(true);
        const wantSp = v > 30 ? v : Math.log1p(Math.exp(v));
        expect(Math.abs(sp - wantSp) <= 1e-3 * Math.max(1, Math.abs(wantSp)), `softplus(${v}) = ${sp}, want ${wantSp}`).toBe(true);
        const wantSg = 1 / (1 + Math.exp(-v));
        expect(Number.isNaN(sg), `sigmoid(${v})`).toBe(false);
        expect(Math.abs(sg - wantSg) <= 1e-3, `sigmoid(${v}) = ${sg}, want ${wantSg}`).toBe(true);
      }
    });
  });

  describe('casts', () => {
    function runCast(from: DTypeName, data: TypedArray, to: DTypeName): number[] {
      const n = data.length;
      const out = allocateHost(to, n);
      castTo.launch({ grid: cdiv(n, 8), device }, { dtype: from, data }, { dtype: to, data: out }, n, to, 8);
      return nums(out);
    }
    const hex = (a: ArrayLike<number>): string[] => Array.from(a, (v) => '0x' + v.toString(16).padStart(4, '0'));

    it('f32 -> f16 rounds to nearest even (exact bits)', () => {
      const src = Float32Array.of(
        1 + 2 ** -11, // tie: down to 1.0
        1 + 3 * 2 ** -11, // tie: up to 1 + 2^-9 (even mantissa)
        1 + 2 ** -11 + 2 ** -20, // above the tie: up
        -(1 + 2 ** -11), // negative tie
        65519, // below the overflow tie: max finite
        65520, // tie between 65504 and 65536 (even): overflows to inf
        2 ** -25, // subnormal tie: to 0
        3 * 2 ** -25, // subnormal tie: up to 2^-23
        2049, // exact integer check: 2049 needs 12 bits; tie -> 2048
        0.1,
      );
      const out = runCast('f32', src, 'f16');
      expect(hex(out)).toEqual(hex([0x3c00, 0x3c02, 0x3c01, 0xbc00, 0x7bff, 0x7c00, 0x0000, 0x0002, 0x6800, 0x2e66]));
    });

    it('f32 -> bf16 rounds to nearest even (exact bits)', () => {
      const src = Float32Array.of(1 + 2 ** -8, 1 + 3 * 2 ** -8, 1 + 2 ** -8 + 2 ** -20, -(1 + 2 ** -8), 3.140625, 1e30);
      const out = runCast('f32', src, 'bf16');
      // 1e30 = 0x7149f2ca in f32 -> 0x7149 + round(0xf2ca/0x10000) = 0x714a
      expect(hex(out)).toEqual(hex([0x3f80, 0x3f82, 0x3f81, 0xbf80, 0x4049, 0x714a]));
    });

    it('i32 -> f16 rounds to nearest even', () => {
      const out = runCast('i32', Int32Array.of(2049, 2051, 4097, 65504, 65519, 65520, 100000, -2049), 'f16');
      expect(Array.from(out, f16ToNumber)).toEqual([2048, 2052, 4096, 65504, 65504, Infinity, Infinity, -2048]);
    });

    it('f16 <-> f32, f16 <-> bf16 and bf16 -> f32', () => {
      const halfBits = Uint16Array.of(0x3c00, 0x3c01, 0x0001, 0x8001, 0x7bff, 0xfc00, 0x3555, 0x8000);
      const asF32 = runCast('f16', halfBits, 'f32');
      expectExact(asF32, Array.from(halfBits, f16ToNumber));
      const back = runCast('f32', Float32Array.from(asF32), 'f16');
      expect(hex(back)).toEqual(hex(halfBits));
      // f16 -> bf16: 1 + 2^-10 has too many bits for bf16 (7 fraction bits): rounds to 1.0
      const asBf = runCast('f16', Uint16Array.of(0x3c01, 0x3c03 /* 1+3*2^-10 */, 0x4900 /* 10 */), 'bf16');
      expect(Array.from(asBf, bf16ToNumber)).toEqual([1, 1, 10]);
      const bfBits = Uint16Array.of(0x3f81, 0x4049, 0xc2f7, 0x0001);
      const bfF32 = runCast('bf16', bfBits, 'f32');
      expectExact(bfF32, Array.from(bfBits, bf16ToNumber));
    });

    it('float -> int truncates toward zero and saturates; int -> int wraps', () => {
      const src = Float32Array.of(-2.7, 2.7, 3e9, -3e9, 127.9, 200.5, -300, -0.5, 12.9, 255.5);
      expect((runCast('f32', src, 'i32'))).toEqual([-2, 2, 2147483647, -2147483648, 127, 200, -300, 0, 12, 255]);
      expect((runCast('f32', src, 'i8'))).toEqual([-2, 2, 127, -128, 127, 127, -128, 0, 12, 127]);
      expect((runCast('f32', src, 'u8'))).toEqual([0, 2, 255, 0, 127, 200, 0, 0, 12, 255]);
      const ints = Int32Array.of(200, -1, 255, 256, -129, 1000);
      expect((runCast('i32', ints, 'i8'))).toEqual([-56, -1, -1, 0, 127, -24]);
      expect((runCast('i32', ints, 'u8'))).toEqual([200, 255, 255, 0, 127, 232]);
      expect((runCast('u8', Uint8Array.of(0, 128, 255), 'i32'))).toEqual([0, 128, 255]);
      expect((runCast('i8', Int8Array.of(-128, -1, 127), 'i32'))).toEqual([-128, -1, 127]);
      expect((runCast('i8', Int8Array.of(-128, -1, 127), 'f32'))).toEqual([-128, -1, 127]);
      expect(runCast('u8', Uint8Array.of(0, 200, 255), 'bf16').map(bf16ToNumber)).toEqual([0, 200, 255]);
      expect((runCast('i32', Int32Array.of(0, 5, -3), 'i1'))).toEqual([0, 1, 1]);
      expect((runCast('i1', Uint8Array.of(0, 1, 1), 'f32'))).toEqual([0, 1, 1]);
    });
  });

  describe('reductions', () => {
    it('sum/max/min/argmax along axis 0, axis 1 and over all elements of a masked 2-D tile', () => {
      const M = 13, N = 27, BM = 16, BN = 32;
      const x = randF32(M * N, -5, 5);
      const out = new Float32Array(3 * BN + 3 * BM + 3).fill(NaN);
      const arg = new Int32Array(BN + BM).fill(-1);
      reductions.launch({ grid: 1, device }, x, out, arg, M, N, BM, BN);
      const at = (i: number, j: number): number => x[i * N + j]!;
      for (let j = 0; j < N; j++) {
        const colv = Array.from({ length: M }, (_, i) => at(i, j));
        expectClose([out[j]!], [colv.reduce((a, b) => a + b, 0)], 1e-6, 1e-5);
        expect(out[BN + j]).toBe(Math.max(...colv));
        expect(out[2 * BN + j]).toBe(Math.min(...colv));
        expect(arg[j]).toBe(colv.indexOf(Math.max(...colv)));
      }
      for (let i = 0; i < M; i++) {
        const rowv = Array.from({ length: N }, (_, j) => at(i, j));
        expectClose([out[3 * BN + i]!], [rowv.reduce((a, b) => a + b, 0)], 1e-6, 1e-5);
        expect(out[3 * BN + BM + i]).toBe(Math.max(...rowv));
        expect(out[3 * BN + 2 * BM + i]).toBe(Math.min(...rowv));
        expect(arg[BN + i]).toBe(rowv.indexOf(Math.max(...rowv)));
      }
      const base = 3 * BN + 3 * BM;
      expectClose([out[base]!], [Array.from(x).reduce((a, b) => a + b, 0)], 1e-6, 1e-4);
      expect(out[base + 1]).toBe(Math.max(...x));
      expect(out[base + 2]).toBe(Math.min(...x));
    });
  });

  describe('dot', () => {
    function refMatmul(a: ArrayLike<number>, b: ArrayLike<number>, c: ArrayLike<number>, M: number, N: number, K: number): number[] {
      const r: number[] = [];
      for (let i = 0; i < M; i++)
        for (let j = 0; j < N; j++) {
          let s = c[i * N + j]!;
          for (let k = 0; k < K; k++) s += a[i * K + k]! * b[k * N + j]!;
          r.push(s);
        }
      return r;
    }

    it('16x32 @ 32x16 + acc in f32 (ragged 13x29 @ 29x11)', () => {
      const M = 13, K = 29, N = 11;
      const a = randF32(M * K), b = randF32(K * N), c = randF32(M * N);
      const out = new Float32Array(M * N);
      matmul.launch({ grid: 1, device }, a, b, c, out, M, N, K, 16, 16, 32);
      expectClose(out, refMatmul(a, b, c, M, N, K), 1e-5, 1e-5);
    });

    it('f16 inputs with an f32 accumulator', () => {
      const M = 16, K = 32, N = 16;
      const av = Array.from({ length: M * K }, () => rand() * 2 - 1), bv = Array.from({ length: K * N }, () => rand() * 2 - 1);
      const ah = toHost('f16', av) as Uint16Array, bh = toHost('f16', bv) as Uint16Array;
      const c = randF32(M * N);
      const out = new Float32Array(M * N);
      matmul.launch({ grid: 1, device }, { dtype: 'f16', data: ah }, { dtype: 'f16', data: bh }, c, out, M, N, K, 16, 16, 32);
      expectClose(out, refMatmul(Array.from(ah, f16ToNumber), Array.from(bh, f16ToNumber), c, M, N, K), 1e-5, 1e-5);
    });
  });

  describe('shape ops', () => {
    it('trans, reshape and broadcastTo', () => {
      const M = 7, N = 6, BM = 8, BN = 8;
      const x = randF32(M * N);
      const t = new Float32Array(N * M), r = new Float32Array((BM * BN) / 4), bc = new Float32Array(M * N);
      shapes.launch({ grid: 1, device }, x, t, r, bc, M, N, BM, BN);
      for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) expect(t[j * M + i]).toBe(x[i * N + j]);
      // the padded tile, row-major, with zeros outside M x N
      const tile = Array.from({ length: BM * BN }, (_, k) => {
        const i = Math.floor(k / BN), j = k % BN;
        return i < M && j < N ? x[i * N + j]! : 0;
      });
      for (let g = 0; g < r.length; g++) expectClose([r[g]!], [tile[4 * g]! + tile[4 * g + 1]! + tile[4 * g + 2]! + tile[4 * g + 3]!], 1e-6, 1e-6);
      for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) expect(bc[i * N + j]).toBe(x[j]);
    });
  });

  describe('atomics', () => {
    it('atomicAdd: a histogram from many programs', () => {
      const n = 1000, BINS = 17, B = 64;
      const x = randI32(n, 0, BINS);
      const h = new Int32Array(BINS);
      histogram.launch({ grid: cdiv(n, B), device }, x, h, n, B);
      const want = new Array<number>(BINS).fill(0);
      for (const v of x) want[v]!++;
      expect(Array.from(h)).toEqual(want);
    });

    it('atomicAdd on a scalar counter returns distinct old values; f32 totals add up', () => {
      const n = 300, B = 32, G = cdiv(n, B);
      const x = Float32Array.from({ length: n }, () => Math.floor(rand() * 9) - 4); // integers: order-independent sum
      const counter = new Int32Array(1), total = new Float32Array(1), old = new Int32Array(G).fill(-1);
      ticket.launch({ grid: G, device }, counter, total, x, old, n, B);
      expect(counter[0]).toBe(G);
      expect(Array.from(old).sort((a, b) => a - b)).toEqual(Array.from({ length: G }, (_, i) => i));
      expect(total[0]).toBe(Array.from(x).reduce((a, b) => a + b, 0));
    });
  });

  describe('control flow', () => {
    it('runtime for loops with loop-carried values (block, scalar and counter)', () => {
      const rows = 5, n = 100, B = 32;
      const x = randF32(rows * n);
      const out = new Float32Array(2 * rows), count = new Int32Array(rows);
      rowSums.launch({ grid: rows, device }, x, out, count, n, B);
      for (let r = 0; r < rows; r++) {
        const seg = Array.from(x.subarray(r * n, (r + 1) * n));
        expectClose([out[2 * r]!], [seg.reduce((a, b) => a + b, 0)], 1e-5, 1e-5);
        expectClose([out[2 * r + 1]!], [seg.reduce((a, b) => a + b * b, 0)], 1e-5, 1e-5);
        expect(count[r]).toBe(cdiv(n, B));
      }
    });

    it('if on a runtime scalar: a variable modified in one branch, and in both', () => {
      const n = 70, B = 16;
      const x = randF32(n);
      const variantsBefore = runtimeIf.cacheSize; // variants for other devices are cached too
      // Integers are specialized on divisibility by 16 and on being 1, never on other values.
      for (const flag of [3, 5, 0]) {
        const out = new Float32Array(n);
        runtimeIf.launch({ grid: cdiv(n, B), device }, x, out, n, flag, B);
        for (let i = 0; i < n; i++) {
          const pid = Math.floor(i / B);
          const y = flag ? f32(x[i]! * 2) : x[i]!;
          expect(out[i]).toBe(f32(y * (pid % 2 === 1 ? 10 : -1)));
        }
      }
      // The flag is a runtime value: 3 and 5 share a variant; 0 (a multiple of 16) adds one.
      expect(runtimeIf.cacheSize - variantsBefore).toBe(2);
    });

    it('static if on constexpr booleans compiles one variant per combination', () => {
      const n = 30, B = 16;
      const x = randF32(n);
      const variantsBefore = staticIf.cacheSize; // variants for other devices are cached too
      const cases: [boolean, boolean, (v: number) => number][] = [
        [false, false, (v) => f32(v + 100)],
        [true, false, (v) => f32(f32(-v + 100) * 3)],
        [false, true, (v) => f32(v * v)],
        [true, true, (v) => f32(v * v)],
      ];
      for (const [neg, sq, f] of cases) {
        const out = new Float32Array(n);
        staticIf.launch({ grid: cdiv(n, B), device }, x, out, n, neg, sq, B);
        for (let i = 0; i < n; i++) expect(out[i], `NEGATE=${neg} SQUARE=${sq} element ${i}`).toBe(f(x[i]!));
      }
      expect(staticIf.cacheSize - variantsBefore).toBe(4);
    });

    it('tl.staticRange unrolls (no loop op in the IR)', () => {
      const n = 50, B = 16, COPIES = 3;
      const x = randF32(COPIES * n);
      const out = new Float32Array(n);
      unrolled.launch({ grid: cdiv(n, B), device }, x, out, n, COPIES, B);
      for (let i = 0; i < n; i++) {
        let acc = 0;
        for (let c = 0; c < COPIES; c++) acc = f32(acc + f32(x[c * n + i]! * (c + 1)));
        expect(out[i]).toBe(acc);
      }
      const { compiled } = unrolled.specialize({ device }, x, out, n, COPIES, B);
      const finalIR = compiled.stages[compiled.stages.length - 1]!.text;
      expect(finalIR).not.toMatch(/\bfor\b/);
      expect(finalIR.match(/\bload\b/g)?.length).toBe(COPIES);
    });
  });

  describe('helpers', () => {
    it('helpers are inlined, take constexpr arguments and return tuples', () => {
      const n = 45, B = 16, SCALE = 3;
      const x = randF32(n), y = randF32(n);
      const out = new Float32Array(2 * n), stats = new Float32Array(2 * cdiv(n, B));
      helpers.launch({ grid: cdiv(n, B), device }, x, y, out, stats, n, SCALE, B);
      for (let i = 0; i < n; i++) {
        const lo = Math.min(x[i]!, y[i]!), hi = Math.max(x[i]!, y[i]!);
        expect(out[i]).toBe(f32(f32(lo * SCALE) + 1));
        expect(out[n + i]).toBe(f32(hi * 2));
      }
      for (let p = 0; p < cdiv(n, B); p++) {
        const seg = Array.from(x.subarray(p * B, Math.min(n, (p + 1) * B)));
        expectClose([stats[2 * p]!], [seg.reduce((a, b) => a + b, 0)], 1e-6, 1e-6);
        expect(stats[2 * p + 1]).toBe(seg.length);
      }
      const { compiled } = helpers.specialize({ device }, x, y, out, stats, n, SCALE, B);
      const finalIR = compiled.stages[compiled.stages.length - 1]!.text;
      expect(finalIR).not.toMatch(/\bcall\b/);
    });
  });
});

describe('debugging', () => {
  it('tl.staticAssert passes on a true constexpr condition and fails with a CompilationError', () => {
    const x = new Float32Array(32);
    staticAssertOk.launch({ grid: 1, device: cpu }, x, 32);
    expect(Array.from(x).every((v) => v === 1)).toBe(true);
    let err: unknown;
    try {
      staticAssertOk.launch({ grid: 1, device: cpu }, new Float32Array(8), 8);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CompilationError);
    expect((err as Error).message).toContain('BLOCK must be a multiple of 16');
    expect((err as Error).message).toContain(`language.test.ts:${lineOf("tl.staticAssert(BLOCK % 16 === 0")}:`);
  });

  it('tl.print prints through console.log, once per program', () => {
    const spy = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    const B = 8;
    const x = Float32Array.from({ length: 3 * B }, (_, i) => i);
    printer.launch({ grid: 3, device: cpu }, x, B);
    const lines = spy.mock.calls.map((c) => c.map(String).join(' '));
    expect(lines.length).toBe(3);
    for (let p = 0; p < 3; p++) {
      let s = 0;
      for (let i = 0; i < B; i++) s += p * B + i;
      const line = lines.find((l) => l.includes(`pid (${p}, 0, 0)`));
      expect(line, lines.join('\n')).toBeDefined();
      expect(line).toContain('sum=');
      expect(line).toContain(String(s));
    }
  });

  it('tl.deviceAssert failing raises a KernelRuntimeError naming the line', () => {
    const n = 40, B = 16;
    const x = Float32Array.from({ length: n }, (_, i) => (i === 21 ? -1 : 1));
    let err: unknown;
    try {
      asserter.launch({ grid: cdiv(n, B), device: cpu }, x, n, B);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(KernelRuntimeError);
    const msg = (err as Error).message;
    expect(msg).toContain('asserter');
    expect(msg).toContain(`language.test.ts:${lineOf('@assert-line')}:`);
    expect(msg).toContain('inputs must be positive');
    expect(msg).toContain('tl.deviceAssert(x > 0');
    // no failure when all inputs are positive
    x[21] = 2;
    asserter.launch({ grid: cdiv(n, B), device: cpu }, x, n, B);
  });

  it('an out-of-bounds unmasked load raises a KernelRuntimeError naming kernel, line and argument', () => {
    const src = new Float32Array(20), dst = new Float32Array(32);
    let err: unknown;
    try {
      oob.launch({ grid: 2, device: cpu }, src, dst, 16);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(KernelRuntimeError);
    const msg = (err as Error).message;
    expect(msg).toContain("'oob'");
    expect(msg).toContain(`language.test.ts:${lineOf('@oob-line')}:`);
    expect(msg).toContain("'Src'");
    expect(msg).toMatch(/out of bounds/);
  });
});

describe('dtypes round-trip through load/store', () => {
  const n = 37, B = 16;
  function roundTrip(dtype: DTypeName, data: TypedArray): TypedArray {
    const out = allocateHost(dtype, data.length);
    copy.launch({ grid: cdiv(data.length, B), device: cpu }, { dtype, data }, { dtype, data: out }, data.length, B);
    return out;
  }
  function randomBits16(count: number, isNaN: (h: number) => boolean): Uint16Array {
    const out = new Uint16Array(count);
    for (let i = 0; i < count; i++) {
      let h: number;
      do h = Math.floor(rand() * 65536);
      while (isNaN(h));
      out[i] = h;
    }
    return out;
  }

  it('f64', () => {
    const d = Float64Array.from({ length: n }, () => (rand() - 0.5) * 1e10 + rand());
    d[0] = -0; d[1] = 5e-324; d[2] = Infinity; d[3] = -Infinity; d[4] = Number.MAX_VALUE; d[5] = 1 / 3;
    expectExact(roundTrip('f64', d) as Float64Array, d);
  });
  it('f32 (random bit patterns, subnormals, -0, inf)', () => {
    const bits = Uint32Array.from({ length: n }, () => Math.floor(rand() * 2 ** 32));
    const d = new Float32Array(bits.buffer);
    for (let i = 0; i < n; i++) if (Number.isNaN(d[i])) d[i] = 1.5;
    d[0] = -0; d[1] = 1e-45; d[2] = -Infinity;
    expectExact(roundTrip('f32', d) as Float32Array, d);
  });
  it('f16 (random bit patterns; NaN stays NaN)', () => {
    const d = randomBits16(n, (h) => (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0);
    d[0] = 0x8000; d[1] = 0x0001; d[2] = 0x7c00; d[3] = 0x03ff;
    expect(nums(roundTrip('f16', d))).toEqual(Array.from(d));
    const nan = roundTrip('f16', Uint16Array.of(0x7e00, 0x7c01));
    expect(nums(nan).map(f16ToNumber).every(Number.isNaN)).toBe(true);
  });
  it('bf16 (random bit patterns)', () => {
    const d = randomBits16(n, (h) => (h & 0x7f80) === 0x7f80 && (h & 0x7f) !== 0);
    d[0] = 0x8000; d[1] = 0x0001; d[2] = 0xff80;
    expect(nums(roundTrip('bf16', d))).toEqual(Array.from(d));
  });
  it('i64 (values within 2^53)', () => {
    const d = BigInt64Array.from({ length: n }, () => BigInt(Math.floor((rand() - 0.5) * 2 ** 53)));
    expect(Array.from(roundTrip('i64', d) as BigInt64Array)).toEqual(Array.from(d));
  });
  it('i64 beyond ±2^53: the interpreter refuses the value rather than rounding it', () => {
    // The CPU interpreter computes in float64 (documented in docs/type-promotion.md); GPU backends are exact.
    const d = BigInt64Array.of(1n, 2n ** 62n + 1n);
    expect(() => roundTrip('i64', d)).toThrow(/i64 value 4611686018427387905 at element 1 is beyond ±2\^53/);
  });
  it('i32', () => {
    const d = Int32Array.from({ length: n }, () => (rand() * 2 ** 32) | 0);
    d[0] = -2147483648; d[1] = 2147483647;
    expect(nums(roundTrip('i32', d))).toEqual(Array.from(d));
  });
  it('u32', () => {
    const d = Uint32Array.from({ length: n }, () => Math.floor(rand() * 2 ** 32));
    d[0] = 4294967295; d[1] = 0;
    expect(nums(roundTrip('u32', d))).toEqual(Array.from(d));
  });
  it('i8', () => {
    const d = Int8Array.from({ length: n }, () => Math.floor(rand() * 256) - 128);
    d[0] = -128; d[1] = 127;
    expect(nums(roundTrip('i8', d))).toEqual(Array.from(d));
  });
  it('u8', () => {
    const d = Uint8Array.from({ length: n }, () => Math.floor(rand() * 256));
    d[0] = 255;
    expect(nums(roundTrip('u8', d))).toEqual(Array.from(d));
  });
  it('i1', () => {
    const d = Uint8Array.from({ length: n }, () => (rand() < 0.5 ? 1 : 0));
    expect(nums(roundTrip('i1', d))).toEqual(Array.from(d));
  });
  it('f16 values via toHost/fromHost', () => {
    const vals = [0.5, -2, 1024, 0.000061035156, 65504];
    expect(Array.from(fromHost('f16', roundTrip('f16', toHost('f16', vals))))).toEqual(vals.map((v) => f16ToNumber(toHost('f16', [v])[0] as number)));
  });
});

describe('specialization cache and IR dumps', () => {
  it('compiles once per signature; a new constexpr or pointer dtype adds a variant', () => {
    const n = 20;
    const x = randF32(n), y = new Float32Array(n);
    expect(cached.cacheSize).toBe(0);
    cached.launch({ grid: 2, device: cpu }, x, y, n, 16);
    expect(cached.cacheSize).toBe(1);
    cached.launch({ grid: 2, device: cpu }, x, y, n, 16);
    cached.launch({ grid: 1, device: cpu }, x, y, 10, 16); // a different runtime scalar value: same variant
    expect(cached.cacheSize).toBe(1);
    expect(Array.from(y)).toEqual(Array.from(x, (v) => f32(v + 1)));
    cached.launch({ grid: 1, device: cpu }, x, y, n, 32); // another BLOCK
    expect(cached.cacheSize).toBe(2);
    const xd = Float64Array.from(x), yd = new Float64Array(n);
    cached.launch({ grid: 1, device: cpu }, xd, yd, n, 32); // another pointer dtype
    expect(cached.cacheSize).toBe(3);
    expect(Array.from(yd)).toEqual(Array.from(xd, (v) => v + 1));
    const a = cached.specialize({ device: cpu }, x, y, n, 16).compiled;
    const b = cached.specialize({ device: cpu }, x, y, 5, 16).compiled;
    expect(a).toBe(b);
    expect(cached.cacheSize).toBe(3);
  });

  it("dump: ['dce'] writes the IR after dce to stderr; compiled.stages holds every stage", () => {
    const chunks: string[] = [];
    vi.spyOn(process.stderr, 'write').mockImplementation(((s: string | Uint8Array) => {
      chunks.push(String(s));
      return true;
    }) as typeof process.stderr.write);
    const x = new Int32Array(10);
    dumped.launch({ grid: 1, device: cpu, dump: ['dce'] }, x, 10, 16);
    vi.restoreAllMocks();
    expect(Array.from(x)).toEqual(Array.from({ length: 10 }, (_, i) => i));
    const text = chunks.join('');
    expect(text).toContain('dumped');
    expect(text).toContain('dce');
    expect(text).not.toContain('after cse'); // only the requested stage
    const { compiled } = dumped.specialize({ device: cpu }, x, 10, 16);
    const names = compiled.stages.map((s) => s.stage);
    expect(names).toEqual(expect.arrayContaining(['inline', 'cse', 'dce']));
    const before = compiled.stages[0]!.text;
    const after = compiled.stages.find((s) => s.stage === 'dce')!.text;
    // the dead multiply by 7 is gone after dce
    expect(before).toContain('value=7');
    expect(after).not.toContain('value=7');
    expect(text).toContain(after.trim());
  });
});
