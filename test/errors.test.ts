// Mistakes in kernels and at launch: each must raise the right error class with a message that names
// the kernel, points at file:line:col with the source line and a caret, and says what is wrong.
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { jit, tl, CompilationError, LaunchError } from '../index.js';

const SRC_LINES = readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n');
/** 1-based line of the unique source line holding `marker`. */
function lineOf(marker: string): number {
  const hits = SRC_LINES.map((l, i) => [l, i] as const).filter(([l]) => l.includes(marker) && !l.includes('markers: ['));
  if (hits.length !== 1) throw new Error(`marker ${marker} found ${hits.length} times`);
  return hits[0]![1] + 1;
}

const cpu = 'cpu' as const;

// ---------------------------------------------------------------- kernels with one mistake each
const unknownTl = jit(function unknownTl(X: tl.Ptr, BLOCK: tl.constexpr) {
  const offs = tl.arange(0, BLOCK);
  // @ts-expect-error: deliberate typo
  const y = tl.expp(tl.load(X + offs)); // @E-unknown-tl
  tl.store(X + offs, y);
});

const unknownVar = jit(function unknownVar(X: tl.Ptr, BLOCK: tl.constexpr) {
  const offs = tl.arange(0, BLOCK);
  // @ts-expect-error: deliberate unknown name
  tl.store(X + offs, y2); // @E-unknown-var
});

const wrongArity = jit(function wrongArity(X: tl.Ptr, BLOCK: tl.constexpr) {
  // @ts-expect-error: deliberate wrong argument count
  const offs = tl.arange(0); // @E-arity
  tl.store(X + offs, BLOCK);
});

const shapeMismatch = jit(function shapeMismatch(X: tl.Ptr) {
  const a = tl.arange(0, 16);
  const b = tl.arange(0, 32);
  const s = a + b; // @E-shape
  tl.store(X + a, s);
});

const carriedDtype = jit(function carriedDtype(X: tl.Ptr, n: tl.i32) {
  let acc = tl.zeros([16], 'f32');
  for (let i = 0; i < n; i++) { // @E-carried-for
    acc = tl.cast(acc, 'f16') + 1; // @E-carried-assign
  }
  tl.store(X + tl.arange(0, 16), acc);
});

const assignConst = jit(function assignConst(X: tl.Ptr) {
  const a = 1;
  // @ts-expect-error: deliberate assignment to a const
  a = 2; // @E-const
  tl.store(X, a);
});

const whileLoop = jit(function whileLoop(X: tl.Ptr, n: tl.i32) {
  let i = 0;
  while (i < n) { // @E-while
    tl.store(X + i, i);
    i += 1;
  }
});

const breakLoop = jit(function breakLoop(X: tl.Ptr, n: tl.i32) {
  for (let i = 0; i < n; i++) {
    tl.store(X + i, i);
    break; // @E-break
  }
});

const indexBlock = jit(function indexBlock(X: tl.Ptr, BLOCK: tl.constexpr) {
  const x = tl.load(X + tl.arange(0, BLOCK));
  // @ts-expect-error: deliberate indexing of a block
  const first = x[0]; // @E-index
  tl.store(X, first);
});

const runtimeShape = jit(function runtimeShape(X: tl.Ptr, n: tl.i32) {
  const z = tl.zeros([n], 'f32'); // @E-zeros
  tl.store(X, tl.sum(z));
});

const arangeNonPow2 = jit(function arangeNonPow2(X: tl.Ptr) {
  const offs = tl.arange(0, 10); // @E-arange
  tl.store(X + offs, 1);
});

const ifOnBlock = jit(function ifOnBlock(X: tl.Ptr, BLOCK: tl.constexpr) {
  const offs = tl.arange(0, BLOCK);
  let x = tl.load(X + offs);
  if (x > 0) { // @E-if-block
    x = x * 2;
  }
  tl.store(X + offs, x);
});

const mathExp = jit(function mathExp(X: tl.Ptr, BLOCK: tl.constexpr) {
  const offs = tl.arange(0, BLOCK);
  const y = Math.exp(tl.load(X + offs)); // @E-math
  tl.store(X + offs, y);
});

const returnsValue = jit(function returnsValue(X: tl.Ptr, BLOCK: tl.constexpr) {
  const x = tl.load(X + tl.arange(0, BLOCK));
  return tl.sum(x); // @E-return
});

const badAnnotation = jit(function badAnnotation(X: tl.Ptr, mode: string) { // @E-annotation
  tl.store(X, 1);
});

const storeNonPtr = jit(function storeNonPtr(X: tl.Ptr, n: tl.i32) {
  tl.store(n, 1); // @E-store-nonptr
  tl.store(X, n);
});

const staticAssertFails = jit(function staticAssertFails(X: tl.Ptr, BLOCK: tl.constexpr) {
  tl.staticAssert(BLOCK >= 64, 'BLOCK must be at least 64'); // @E-static-assert
  tl.store(X + tl.arange(0, BLOCK), 0);
});

const badLoadOption = jit(function badLoadOption(X: tl.Ptr, BLOCK: tl.constexpr) {
  const offs = tl.arange(0, BLOCK);
  // @ts-expect-error: deliberate unknown option
  const x = tl.load(X + offs, { mask: offs < 3, othr: 0 }); // @E-option
  tl.store(X + offs, x);
});

const badDtype = jit(function badDtype(X: tl.Ptr) {
  // @ts-expect-error: deliberate unknown dtype
  const z = tl.zeros([16], 'float32'); // @E-dtype
  tl.store(X + tl.arange(0, 16), z);
});

// ---------------------------------------------------------------- a correct kernel, for launch errors
const good = jit(function good(X: tl.Ptr, H: tl.Ptr<'f16'>, n: tl.i32, BLOCK: tl.constexpr) {
  const offs = tl.programId(0) * BLOCK + tl.arange(0, BLOCK);
  const m = offs < n;
  tl.store(X + offs, tl.load(X + offs, { mask: m }) + tl.load(H + offs, { mask: m }), { mask: m });
});

// ---------------------------------------------------------------- checks
function catchError(f: () => void): Error {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error, none was thrown');
}

/** No compiler-internal paths or stack frames in the text users read. */
function expectNoInternals(msg: string): void {
  expect(msg).not.toMatch(/compiler\/(frontend|ir|passes|language|source)\//);
  expect(msg).not.toMatch(/runtime\/[a-z]+\.ts/);
  expect(msg).not.toMatch(/node_modules/);
  expect(msg).not.toMatch(/\n\s+at .+:\d+:\d+/);
  expect(msg).not.toMatch(/internal/i);
}

interface Case {
  readonly title: string;
  readonly run: () => void;
  readonly kernel: string;
  /** Markers of the acceptable lines (the first is the preferred one). */
  readonly markers: readonly string[];
  /** Text at the reported column of the (first) marker line, when the column is checked. */
  readonly token?: string;
  readonly reason: readonly (string | RegExp)[];
}

const f32 = (n: number): Float32Array => new Float32Array(n);

const CASES: Case[] = [
  {
    title: 'unknown tl function (with a did-you-mean)',
    run: () => unknownTl.launch({ grid: 1, device: cpu }, f32(16), 16),
    kernel: 'unknownTl', markers: ['@E-unknown-tl'], token: 'tl.expp',
    reason: ["tl.expp", 'did you mean tl.exp?'],
  },
  {
    title: 'unknown variable',
    run: () => unknownVar.launch({ grid: 1, device: cpu }, f32(16), 16),
    kernel: 'unknownVar', markers: ['@E-unknown-var'], token: 'y2',
    reason: ["unknown name 'y2'"],
  },
  {
    title: 'wrong argument count to a tl function',
    run: () => wrongArity.launch({ grid: 1, device: cpu }, f32(16), 16),
    kernel: 'wrongArity', markers: ['@E-arity'], token: 'tl.arange(0)',
    reason: ['tl.arange takes 2 arguments, got 1'],
  },
  {
    title: 'shape mismatch in a binary op ([16] + [32])',
    run: () => shapeMismatch.launch({ grid: 1, device: cpu }, f32(32)),
    kernel: 'shapeMismatch', markers: ['@E-shape'], token: 'a + b',
    reason: [/\[16\]/, /\[32\]/, /broadcast/],
  },
  {
    title: 'dtype mismatch through a loop-carried variable',
    run: () => carriedDtype.launch({ grid: 1, device: cpu }, f32(16), 4),
    kernel: 'carriedDtype', markers: ['@E-carried-assign', '@E-carried-for'],
    reason: ["'acc'", /f16/, /f32/],
  },
  {
    title: 'assignment to a const',
    run: () => assignConst.launch({ grid: 1, device: cpu }, f32(1)),
    kernel: 'assignConst', markers: ['@E-const'], token: 'a = 2',
    reason: ["cannot assign to 'a'", /const/],
  },
  {
    title: 'while loop',
    run: () => whileLoop.launch({ grid: 1, device: cpu }, f32(4), 4),
    kernel: 'whileLoop', markers: ['@E-while'], token: 'while',
    reason: ['while loops are not supported', /for \(let i/],
  },
  {
    title: 'break',
    run: () => breakLoop.launch({ grid: 1, device: cpu }, f32(4), 4),
    kernel: 'breakLoop', markers: ['@E-break'], token: 'break',
    reason: ["'break' is not supported", /mask/],
  },
  {
    title: 'indexing a block x[0]',
    run: () => indexBlock.launch({ grid: 1, device: cpu }, f32(16), 16),
    kernel: 'indexBlock', markers: ['@E-index'], token: 'x[0]',
    reason: ['indexing blocks is not supported'],
  },
  {
    title: 'non-constexpr shape to tl.zeros',
    run: () => runtimeShape.launch({ grid: 1, device: cpu }, f32(16), 16),
    kernel: 'runtimeShape', markers: ['@E-zeros'], token: '[n]',
    // what came: the runtime i32 scalar 'n' (not 'a block value')
    reason: [/constexpr/, /shape/, /i32/],
  },
  {
    title: 'non-power-of-two arange',
    run: () => arangeNonPow2.launch({ grid: 1, device: cpu }, f32(16)),
    kernel: 'arangeNonPow2', markers: ['@E-arange'], token: 'tl.arange(0, 10)',
    reason: [/power(s)? of two/, /10/],
  },
  {
    title: "'if' on a block",
    run: () => ifOnBlock.launch({ grid: 1, device: cpu }, f32(16), 16),
    kernel: 'ifOnBlock', markers: ['@E-if-block'], token: 'x > 0',
    reason: [/must be a scalar/, /tl\.where/],
  },
  {
    title: 'Math.exp (suggests tl.exp)',
    run: () => mathExp.launch({ grid: 1, device: cpu }, f32(16), 16),
    kernel: 'mathExp', markers: ['@E-math'], token: 'Math.exp',
    reason: ['Math.exp cannot be used in a kernel', 'tl.exp'],
  },
  {
    title: 'returning a value from a kernel',
    run: () => returnsValue.launch({ grid: 1, device: cpu }, f32(16), 16),
    kernel: 'returnsValue', markers: ['@E-return'], token: 'return',
    reason: ['cannot return a value', /store/],
  },
  {
    title: 'a bad parameter annotation',
    run: () => badAnnotation.launch({ grid: 1, device: cpu }, f32(1), 1 as never),
    kernel: 'badAnnotation', markers: ['@E-annotation'], token: 'string',
    reason: ["parameter 'mode'", "'string'", /tl\.Ptr/, /tl\.constexpr/],
  },
  {
    title: 'store through a non-pointer',
    run: () => storeNonPtr.launch({ grid: 1, device: cpu }, f32(1), 7), // not 1: a 1 is specialized into the constant 1
    kernel: 'storeNonPtr', markers: ['@E-store-nonptr'], token: 'n, 1)',
    // what came: an i32 scalar (not 'a block value')
    reason: ['tl.store needs a pointer', /i32/],
  },
  {
    title: 'a failing tl.staticAssert',
    run: () => staticAssertFails.launch({ grid: 1, device: cpu }, f32(16), 16),
    kernel: 'staticAssertFails', markers: ['@E-static-assert'], token: 'tl.staticAssert',
    reason: ['static assertion failed', 'BLOCK must be at least 64'],
  },
  {
    title: 'an unknown option to tl.load',
    run: () => badLoadOption.launch({ grid: 1, device: cpu }, f32(16), 16),
    kernel: 'badLoadOption', markers: ['@E-option'], token: 'othr',
    reason: ["unknown option 'othr'", /mask, other/],
  },
  {
    title: 'an unknown dtype name',
    run: () => badDtype.launch({ grid: 1, device: cpu }, f32(16)),
    kernel: 'badDtype', markers: ['@E-dtype'], token: "'float32'",
    reason: [/dtype/, /float32/],
  },
];

describe('compilation errors', () => {
  for (const c of CASES) {
    it(c.title, () => {
      const err = catchError(c.run);
      expect(err).toBeInstanceOf(CompilationError);
      const msg = err.message;
      // the kernel's name
      expect(msg).toContain(`'${c.kernel}'`);
      // file:line:col at one of the acceptable lines (the reported line must be one of them)
      const lines = c.markers.map(lineOf);
      const m = /errors\.test\.ts:(\d+):(\d+)/.exec(msg);
      expect(m, msg).not.toBeNull();
      const line = Number(m![1]), col = Number(m![2]);
      expect(lines.includes(line), `line ${line} not in ${lines.join(", ")}\n${msg}`).toBe(true);
      const srcLine = SRC_LINES[line - 1]!;
      if (c.token && line === lines[0]) {
        const want = srcLine.indexOf(c.token) + 1;
        expect(col, `${msg}\n(expected column ${want}, at '${c.token}')`).toBe(want);
      }
      // the offending source line, then a caret under the reported column
      const msgLines = msg.split('\n');
      const srcIdx = msgLines.findIndex((l) => l.includes(srcLine.trim()));
      expect(srcIdx, msg).toBeGreaterThanOrEqual(0);
      const caretLine = msgLines[srcIdx + 1] ?? '';
      expect(caretLine, msg).toMatch(/\|\s*\^/);
      const bar = msgLines[srcIdx]!.indexOf('| ') + 2;
      expect(caretLine.indexOf('^') - bar, `caret under column ${col}\n${msg}`).toBe(col - 1);
      // a helpful reason
      for (const r of c.reason) {
        if (typeof r === 'string') expect(msg, msg).toContain(r);
        else expect(msg, msg).toMatch(r);
      }
      expectNoInternals(msg);
    });
  }
});

describe('launch errors', () => {
  const x = (): Float32Array => new Float32Array(16);
  const h = (): { dtype: 'f16'; data: Uint16Array } => ({ dtype: 'f16', data: new Uint16Array(16) });

  function expectLaunchError(f: () => void, parts: readonly (string | RegExp)[]): void {
    const err = catchError(f);
    expect(err).toBeInstanceOf(TypeError);
    expect(err).toBeInstanceOf(LaunchError);
    for (const p of parts) {
      if (typeof p === 'string') expect(err.message).toContain(p);
      else expect(err.message).toMatch(p);
    }
    expectNoInternals(err.message);
  }

  it('the correct kernel launches', () => {
    const a = x();
    a.fill(1);
    good.launch({ grid: 1, device: cpu }, a, h(), 10, 16);
    expect(a[0]).toBe(1);
  });

  it('wrong number of arguments', () => {
    // @ts-expect-error: deliberate missing arguments
    expectLaunchError(() => good.launch({ grid: 1, device: cpu }, x(), h()), ["'good'", /takes 4 arguments/, /X, H, n, BLOCK/, /got 2/]);
    // @ts-expect-error: deliberate extra argument
    expectLaunchError(() => good.launch({ grid: 1, device: cpu }, x(), h(), 10, 16, 3), ["'good'", /takes 4 arguments/, /got 5/]);
  });

  it('a plain JS array instead of a typed array', () => {
    const plain = [1, 2, 3] as unknown as Float32Array;
    expectLaunchError(() => good.launch({ grid: 1, device: cpu }, plain, h(), 3, 16), ["'X'", "'good'", /pointer/, /typed array/, /plain array/]);
  });

  it('a float for an i32 parameter', () => {
    expectLaunchError(() => good.launch({ grid: 1, device: cpu }, x(), h(), 2.5, 16), ["'n'", "'good'", /i32/, /integer/, /2\.5/]);
  });

  it('an out-of-range integer for an i32 parameter', () => {
    expectLaunchError(() => good.launch({ grid: 1, device: cpu }, x(), h(), 2 ** 31, 16), ["'n'", /i32/, /2147483648/]);
  });

  it("a Float32Array for a tl.Ptr<'f16'> parameter", () => {
    expectLaunchError(() => good.launch({ grid: 1, device: cpu }, x(), x(), 10, 16), ["'H'", "'good'", "Ptr<'f16'>", /f32/]);
  });

  it('a non-constexpr value for a constexpr parameter', () => {
    expectLaunchError(() => good.launch({ grid: 1, device: cpu }, x(), h(), 10, { size: 16 } as unknown as number), ["'BLOCK'", /constexpr/, /size/]);
  });

  it('bad grids: negative, non-integer, too many dimensions', () => {
    expectLaunchError(() => good.launch({ grid: -1, device: cpu }, x(), h(), 10, 16), [/grid/, /-1/, /integer/]);
    expectLaunchError(() => good.launch({ grid: 1.5, device: cpu }, x(), h(), 10, 16), [/grid/, /1\.5/]);
    expectLaunchError(() => good.launch({ grid: [2, -3], device: cpu }, x(), h(), 10, 16), [/grid\[1\]/, /-3/]);
    expectLaunchError(() => good.launch({ grid: () => 0.5, device: cpu }, x(), h(), 10, 16), [/grid/, /0\.5/]);
    const four = [1, 1, 1, 1] as unknown as [number, number, number];
    expectLaunchError(() => good.launch({ grid: four, device: cpu }, x(), h(), 10, 16), [/grid/, /3 dimensions/, /4/]);
  });

  it('bad numWarps', () => {
    expectLaunchError(() => good.launch({ grid: 1, device: cpu, numWarps: 3 }, x(), h(), 10, 16), [/numWarps/, /power of two/, /got 3/]);
    expectLaunchError(() => good.launch({ grid: 1, device: cpu, numWarps: 64 }, x(), h(), 10, 16), [/numWarps/, /got 64/]);
    expectLaunchError(() => good.launch({ grid: 1, device: cpu, numWarps: 0 }, x(), h(), 10, 16), [/numWarps/, /got 0/]);
  });
});
