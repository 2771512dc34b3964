// Small seeded RNG (mulberry32) for reproducible test inputs.

export interface Rng {
  /** Uniform in [lo, hi). */
  uniform(lo?: number, hi?: number): number;
  /** Standard normal (Box-Muller). */
  normal(): number;
  /** Float64Array of n uniforms in [lo, hi). */
  array(n: number, lo?: number, hi?: number): Float64Array;
}

export function rng(seed: number): Rng {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const uniform = (lo = 0, hi = 1): number => lo + (hi - lo) * next();
  return {
    uniform,
    normal: () => {
      const u = 1 - next(); // (0, 1]
      return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * next());
    },
    array: (n, lo = 0, hi = 1) => Float64Array.from({ length: n }, () => uniform(lo, hi)),
  };
}
