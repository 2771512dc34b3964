// Loader for the PoPE/RoPE golden fixture (test/fixtures/pope-rope-public.json).
// Imported (not read from disk) so that bundles of the tests carry it.
import fixture from '../fixtures/pope-rope-public.json' with { type: 'json' };

export interface GoldenTensor { shape: number[]; dtype: string; data: (number | boolean)[] }
export interface GoldenCase {
  name: string;
  op: string;
  params: Record<string, unknown>;
  inputs: Record<string, GoldenTensor>;
  outputs: Record<string, GoldenTensor>;
}

let cache: GoldenCase[] | undefined;

/** All golden cases, parsed once. */
export function loadGolden(): GoldenCase[] {
  cache ??= (fixture as unknown as { cases: GoldenCase[] }).cases;
  return cache;
}

/** The case with this name (throws if absent). */
export function goldenCase(name: string): GoldenCase {
  const c = loadGolden().find((x) => x.name === name);
  if (!c) throw new Error(`no golden case ${name}`);
  return c;
}

/** A named tensor of a case as float64 (booleans become 0/1). */
export function tensor(c: GoldenCase, side: 'inputs' | 'outputs', name: string): { shape: number[]; data: Float64Array } {
  const t = c[side][name];
  if (!t) throw new Error(`golden case ${c.name} has no ${side}.${name}`);
  return { shape: t.shape, data: Float64Array.from(t.data, (v) => Number(v)) };
}

/** A named boolean tensor of a case (accepts booleans or 0/1). */
export function boolTensor(c: GoldenCase, side: 'inputs' | 'outputs', name: string): { shape: number[]; data: boolean[] } {
  const t = c[side][name];
  if (!t) throw new Error(`golden case ${c.name} has no ${side}.${name}`);
  return { shape: t.shape, data: t.data.map((v) => v === true || v === 1) };
}
