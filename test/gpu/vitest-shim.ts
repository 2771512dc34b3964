// The part of vitest's API the kernel tests use, for running them where vitest is not installed
// (the bundled GPU test run on a CUDA machine without Node modules). Tests register here and
// `runRegistered` runs them in order, collecting results.

type Fn = () => unknown | Promise<unknown>;
interface TestCase { readonly name: string; readonly fn: Fn; readonly skip: boolean }
const tests: TestCase[] = [];
const prefix: string[] = [];

function collect(name: string, body: () => void): void {
  prefix.push(name);
  try {
    body();
  } finally {
    prefix.pop();
  }
}

/** vitest's `each` rows: an array row is spread into the arguments, anything else is the one argument. */
const argsOf = (row: unknown): unknown[] => (Array.isArray(row) ? row : [row]);
/** The test's name for one row, with vitest's printf placeholders (%s %d %i %f %j %o %#, %%) filled in order. */
function eachName(name: string, args: readonly unknown[], index: number): string {
  let next = 0;
  return name.replace(/%([sdifjoO#%])/g, (m, k: string) => {
    if (k === '%') return '%';
    if (k === '#') return String(index);
    if (next >= args.length) return m;
    const v = args[next++];
    if (k === 'd') return String(Number(v));
    if (k === 'i') return String(parseInt(String(v), 10));
    if (k === 'f') return String(parseFloat(String(v)));
    if (k === 'j' || k === 'o' || k === 'O') return JSON.stringify(v);
    return String(v);
  });
}

type Describe = ((name: string, body: () => void) => void) & {
  each<T>(values: readonly T[]): (name: string, body: (...v: never[]) => void) => void;
  skipIf(cond: boolean): (name: string, body: () => void) => void;
};
export const describe: Describe = Object.assign((name: string, body: () => void) => collect(name, body), {
  each: <T,>(values: readonly T[]) => (name: string, body: (...v: never[]) => void) => {
    values.forEach((row, i) => collect(eachName(name, argsOf(row), i), () => body(...(argsOf(row) as never[]))));
  },
  skipIf: (cond: boolean) => (name: string, body: () => void) => (cond ? undefined : collect(name, body)),
});

const register = (name: string, fn: Fn, skip: boolean): void => void tests.push({ name: [...prefix, name].join(' > '), fn, skip });
export const it = Object.assign((name: string, fn: Fn) => register(name, fn, false), {
  skip: (name: string, fn: Fn) => register(name, fn, true),
  skipIf: (cond: boolean) => (name: string, fn: Fn) => register(name, fn, cond),
  each: <T,>(values: readonly T[]) => (name: string, fn: (...v: never[]) => unknown) => {
    values.forEach((row, i) => register(eachName(name, argsOf(row), i), () => fn(...(argsOf(row) as never[])), false));
  },
});
export const test = it;

class AssertionError extends Error {}

function fmt(x: unknown): string {
  try {
    return typeof x === 'string' ? JSON.stringify(x) : JSON.stringify(x, (_, v) => (typeof v === 'bigint' ? `${v}n` : v))?.slice(0, 200) ?? String(x);
  } catch {
    return String(x);
  }
}

/** vitest's toEqual: structural equality (NaN equals NaN; typed arrays, Maps and Sets by content; key order ignored). */
function deepEqual(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
  if (ArrayBuffer.isView(a)) {
    const x = a as unknown as ArrayLike<unknown>, y = b as unknown as ArrayLike<unknown>;
    return x.length === y.length && Array.from(x).every((v, i) => Object.is(v, y[i]) || v === y[i]);
  }
  if (a instanceof Map) return a.size === (b as Map<unknown, unknown>).size && [...a].every(([k, v]) => (b as Map<unknown, unknown>).has(k) && deepEqual(v, (b as Map<unknown, unknown>).get(k)));
  if (a instanceof Set) return a.size === (b as Set<unknown>).size && [...a].every((v) => (b as Set<unknown>).has(v));
  if (Array.isArray(a)) return a.length === (b as unknown[]).length && a.every((v, i) => deepEqual(v, (b as unknown[])[i]));
  const ka = Object.keys(a).filter((k) => (a as Record<string, unknown>)[k] !== undefined);
  const kb = Object.keys(b).filter((k) => (b as Record<string, unknown>)[k] !== undefined);
  return ka.length === kb.length && ka.every((k) => deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

/** vitest's toMatchObject: every property of `want` present in `actual` and matching, recursively. */
function matchesObject(actual: unknown, want: unknown): boolean {
  if (want === null || typeof want !== 'object') return deepEqual(actual, want);
  if (actual === null || typeof actual !== 'object') return false;
  if (Array.isArray(want)) return Array.isArray(actual) && actual.length === want.length && want.every((w, i) => matchesObject(actual[i], w));
  return Object.entries(want).every(([k, w]) => matchesObject((actual as Record<string, unknown>)[k], w));
}

const ARRAY_CONTAINING = Symbol('arrayContaining');
type ArrayContaining = { [ARRAY_CONTAINING]: unknown[] };

function matchers(actual: unknown, label?: string) {
  const fail = (msg: string): never => {
    throw new AssertionError(`${label ? label + ': ' : ''}${msg}`);
  };
  const positive = {
    toBeDefined: () => void (actual !== undefined || fail('expected a defined value')),
    toBeInstanceOf: (c: new (...a: never[]) => unknown) => void (actual instanceof c || fail(`expected an instance of ${c.name}`)),
    toBe: (e: unknown) => void (Object.is(actual, e) || fail(`expected ${fmt(actual)} to be ${fmt(e)}`)),
    toEqual: (e: unknown) => {
      if (e && typeof e === 'object' && ARRAY_CONTAINING in e) {
        const want = (e as ArrayContaining)[ARRAY_CONTAINING];
        if (!want.every((w) => (actual as unknown[]).some((a) => fmt(a) === fmt(w)))) fail(`expected ${fmt(actual)} to contain ${fmt(want)}`);
        return;
      }
      if (!deepEqual(actual, e)) fail(`expected ${fmt(actual)} to equal ${fmt(e)}`);
    },
    toMatchObject: (e: object) => void (matchesObject(actual, e) || fail(`expected ${fmt(actual)} to match ${fmt(e)}`)),
    toBeUndefined: () => void (actual === undefined || fail(`expected ${fmt(actual)} to be undefined`)),
    toBeNull: () => void (actual === null || fail(`expected ${fmt(actual)} to be null`)),
    toHaveLength: (n: number) => void ((actual as { length: number }).length === n || fail(`expected length ${n}, got ${(actual as { length: number }).length}`)),
    toBeLessThanOrEqual: (e: number) => void ((actual as number) <= e || fail(`expected ${fmt(actual)} <= ${e}`)),
    toBeGreaterThanOrEqual: (e: number) => void ((actual as number) >= e || fail(`expected ${fmt(actual)} >= ${e}`)),
    toBeLessThan: (e: number) => void ((actual as number) < e || fail(`expected ${fmt(actual)} < ${e}`)),
    toBeGreaterThan: (e: number) => void ((actual as number) > e || fail(`expected ${fmt(actual)} > ${e}`)),
    toContain: (e: string) => void (String(actual).includes(e) || fail(`expected ${fmt(actual)} to contain ${fmt(e)}`)),
    toMatch: (e: RegExp) => void (e.test(String(actual)) || fail(`expected ${fmt(actual)} to match ${e}`)),
    toThrow: (e?: RegExp | string) => {
      try {
        (actual as () => unknown)();
      } catch (err) {
        const m = String((err as Error).message);
        if (e && !(typeof e === 'string' ? m.includes(e) : e.test(m))) fail(`threw ${fmt(m)}, expected ${e}`);
        return;
      }
      fail('expected a throw');
    },
  };
  const negated = {
    toContain: (e: string) => void (!String(actual).includes(e) || fail(`expected ${fmt(actual)} not to contain ${fmt(e)}`)),
    toMatch: (e: RegExp) => void (!e.test(String(actual)) || fail(`expected ${fmt(actual)} not to match ${e}`)),
    toBe: (e: unknown) => void (!Object.is(actual, e) || fail(`expected ${fmt(actual)} not to be ${fmt(e)}`)),
    toEqual: (e: unknown) => void (!deepEqual(actual, e) || fail(`expected ${fmt(actual)} not to equal ${fmt(e)}`)),
    toBeNull: () => void (actual !== null || fail('expected a value other than null')),
  };
  return { ...positive, not: negated };
}

export const expect = Object.assign((actual: unknown, label?: string) => matchers(actual, label), {
  fail: (msg: string): never => {
    throw new AssertionError(msg);
  },
  arrayContaining: (items: unknown[]): ArrayContaining => ({ [ARRAY_CONTAINING]: items }),
});

// Spies: vi.spyOn(obj, 'method').mockImplementation(fn), with .mock.calls, undone by vi.restoreAllMocks().
const restores: (() => void)[] = [];
export const vi = {
  spyOn<T extends object, K extends keyof T>(obj: T, key: K) {
    const original = obj[key] as unknown as (...a: unknown[]) => unknown;
    let impl = original;
    const calls: unknown[][] = [];
    const spy = Object.assign(
      function (this: unknown, ...args: unknown[]) {
        calls.push(args);
        return impl.apply(this, args);
      },
      { mock: { calls }, mockImplementation: (f: (...a: never[]) => unknown) => ((impl = f as typeof impl), spy) },
    );
    (obj as Record<K, unknown>)[key] = spy;
    restores.push(() => ((obj as Record<K, unknown>)[key] = original));
    return spy;
  },
  restoreAllMocks(): void {
    while (restores.length) restores.pop()!();
  },
};
const afterHooks: Fn[] = [];
export const afterEach = (fn: Fn): void => void afterHooks.push(fn);
export const beforeEach = (_fn: Fn): void => undefined;

export interface TestResult { readonly name: string; readonly ok: boolean; readonly skipped: boolean; readonly ms: number; readonly error?: string }

export async function runRegistered(filter?: RegExp, onResult?: (r: TestResult) => void): Promise<TestResult[]> {
  const out: TestResult[] = [];
  for (const t of tests) {
    if (filter && !filter.test(t.name)) continue;
    const t0 = performance.now();
    let r: TestResult;
    if (t.skip) r = { name: t.name, ok: true, skipped: true, ms: 0 };
    else
      try {
        await t.fn();
        for (const h of afterHooks) await h();
        r = { name: t.name, ok: true, skipped: false, ms: performance.now() - t0 };
      } catch (e) {
        for (const h of afterHooks) await h();
        r = { name: t.name, ok: false, skipped: false, ms: performance.now() - t0, error: `${(e as Error).name}: ${(e as Error).message}` };
      }
    out.push(r);
    onResult?.(r);
  }
  return out;
}
