// Comparison of kernel outputs with float64 references: fails with the worst element, its index and both values.
import { expect } from 'vitest';

export interface Tolerance {
  rtol: number;
  atol: number;
}

/** Asserts |a - e| <= atol + rtol * |e| elementwise. */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: Tolerance, label = ''): void {
  expect(actual.length, `${label}: length`).toBe(expected.length);
  let worst = -1, worstExcess = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!, e = expected[i]!;
    const excess = Math.abs(a - e) - (tol.atol + tol.rtol * Math.abs(e));
    if (!(excess <= 0) && (worst < 0 || !(excess <= worstExcess))) {
      worst = i;
      worstExcess = excess;
    }
  }
  if (worst >= 0) expect.fail(`${label}: element ${worst} is ${actual[worst]}, expected ${expected[worst]} (tolerance atol ${tol.atol}, rtol ${tol.rtol})`);
}

export const F32: Tolerance = { rtol: 1e-5, atol: 1e-5 };

/**
 * Tolerance for products computed on tensor cores from f16/bf16 inputs: each rotated feature and
 * softmax weight is rounded to the dtype, an error of c · rms(expected) (c = 1e-2 for f16, 4e-2 for
 * bf16), as for any half-precision attention. f32 products keep `f32`.
 */
export function halfProductTolerance(dtype: 'f32' | 'f16' | 'bf16', want: ArrayLike<number>, f32: Tolerance): Tolerance {
  if (dtype === 'f32') return f32;
  let ss = 0;
  for (let i = 0; i < want.length; i++) ss += want[i]! ** 2;
  const c = dtype === 'f16' ? 1e-2 : 4e-2;
  return { rtol: c, atol: c * Math.sqrt(ss / want.length) };
}
