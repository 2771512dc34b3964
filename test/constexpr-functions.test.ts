// Functions passed as constexpr arguments: written in the kernel language, inlined where the kernel
// calls them, one compiled variant per function text. Checked against plain JavaScript on ragged sizes.
import { describe, it, expect } from 'vitest';
import { jit, tl, cdiv, CompilationError } from '../index.js';
import { rng } from './reference/random.js';
import { testDevices } from './reference/devices.js';

type Activation = (x: tl.Tensor) => tl.Tensor;

// ACT is a function constexpr; KIND picks a built-in when ACT is a string (typeof folds at compile time).
const mapRows = jit(function mapRows(X: tl.Ptr, Out: tl.Ptr, n: tl.i32, ACT: tl.constexpr<Activation | 'square'>, BLOCK: tl.constexpr) {
  const offs = tl.programId(0) * BLOCK + tl.arange(0, BLOCK);
  const m = offs < n;
  const x = tl.load(X + offs, { mask: m, other: 0 });
  tl.store(Out + offs, applyActivation(x, ACT), { mask: m });
});

// A helper that receives the function and calls it: function constexprs travel through helpers.
function applyActivation(x: tl.Tensor, ACT: tl.constexpr<Activation | 'square'>): tl.Tensor {
  return typeof ACT === 'function' ? ACT(x) : x * x;
}

// Two function constexprs in one kernel: each call site inlines its own function.
const mapTwice = jit(function mapTwice(X: tl.Ptr, Out: tl.Ptr, n: tl.i32, F: tl.constexpr<Activation>, G: tl.constexpr<Activation>, BLOCK: tl.constexpr) {
  const offs = tl.programId(0) * BLOCK + tl.arange(0, BLOCK);
  const m = offs < n;
  const x = tl.load(X + offs, { mask: m, other: 0 });
  tl.store(Out + offs, G(F(x)), { mask: m });
});

function halfSoftplus(x: tl.Tensor): tl.Tensor {
  const y = tl.softplus(x);
  return y * 0.5;
}

describe.each(testDevices())('function constexprs on %s', (device) => {
  const run = (act: Activation | 'square', n: number): Float32Array => {
    const r = rng(n);
    const x = Float32Array.from(r.array(n, -4, 4));
    const out = new Float32Array(n);
    mapRows.launch({ grid: cdiv(n, 64), device }, x, out, n, act, 64);
    return out;
  };
  const inputs = (n: number): Float64Array => Float64Array.from(Float32Array.from(rng(n).array(n, -4, 4)));
  const close = (got: Float32Array, want: Float64Array): void => {
    want.forEach((w, i) => expect(Math.abs(got[i]! - w), `element ${i}: ${got[i]} vs ${w}`).toBeLessThanOrEqual(1e-5 * (1 + Math.abs(w))));
  };

  it('arrow functions and function declarations are inlined; a string constexpr still selects the built-in path', () => {
    for (const n of [1, 77, 130]) {
      const x = inputs(n);
      close(run((v) => tl.exp(v) - 1, n), x.map((v) => Math.exp(v) - 1));
      close(run(halfSoftplus, n), x.map((v) => 0.5 * (Math.max(v, 0) + Math.log1p(Math.exp(-Math.abs(v))))));
      close(run((v) => tl.where(v > 0, v, 0.1 * v), n), x.map((v) => (v > 0 ? v : 0.1 * v)));
      close(run('square', n), x.map((v) => v * v));
    }
  });

  it('each function text compiles its own variant, even under one name; the same text reuses it', () => {
    const before = mapRows.cacheSize;
    const make = (k: number): Activation => k === 2 ? function scaled(v) { return v * 2; } : function scaled(v) { return v * 3; };
    const x = inputs(40);
    close(run(make(2), 40), x.map((v) => v * 2));
    close(run(make(3), 40), x.map((v) => v * 3));
    close(run(make(2), 40), x.map((v) => v * 2));
    expect(mapRows.cacheSize - before).toBe(2);
  });

  it('two different functions of the same name in one kernel are two helpers', () => {
    const add = function step(v: tl.Tensor): tl.Tensor { return v + 1; };
    const mul = function step(v: tl.Tensor): tl.Tensor { return v * 3; };
    const n = 70, x = inputs(n), out = new Float32Array(n);
    mapTwice.launch({ grid: cdiv(n, 64), device }, Float32Array.from(x), out, n, add, mul, 64);
    close(out, x.map((v) => (v + 1) * 3));
  });

  it('a function that is not in the kernel language is a CompilationError naming what it used', () => {
    const scale = 3;
    const closure: Activation = (v) => v * scale; // captures a host variable
    const err = (() => {
      try {
        run(closure, 8);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(CompilationError);
    expect(String((err as Error).message)).toMatch(/function constexpr 'closure'.*\n[\s\S]*unknown name 'scale': a function passed as a constexpr is written in the kernel language and sees only its parameters, its local variables, tl and Math/);
    expect(() => run(Math.exp, 8)).toThrow(/'exp' is a built-in JavaScript function, not a function written in the kernel language/);
    expect(() => run(((v: number) => { while (v > 0) v = v - 1; return v; }) as Activation, 8)).toThrow(/while loops are not supported in kernels/);
  });
});
