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

type Describe = ((name: string, body: () => void) => void) & {
  each<T>(values: readonly T[]): (name: string, body: (v: T) => void) => void;
  skipIf(cond: boolean): (name: string, body: () => void) => void;
};
export const describe: Describe = Object.assign((name: string, body: () => void) => collect(name, body), {
  each: <T,>(values: readonly T[]) => (name: string, body: (v: T) => void) => {
    for (const v of values) collect(name.replace('%s', String(v)), () => body(v));
  },
  skipIf: (cond: boolean) => (name: string, body: () => void) => (cond ? undefined : collect(name, body)),
});

export const it = Object.assign((name: string, fn: Fn) => void tests.push({ name: [...prefix, name].join(' > '), fn, skip: false }), {
  skip: (name: string, fn: Fn) => void tests.push({ name: [...prefix, name].join(' > '), fn, skip: true }),
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

function matchers(actual: unknown, label?: string) {
  const fail = (msg: string): never => {
    throw new AssertionError(`${label ? label + ': ' : ''}${msg}`);
  };
  return {
    toBe: (e: unknown) => void (Object.is(actual, e) || fail(`expected ${fmt(actual)} to be ${fmt(e)}`)),
    toEqual: (e: unknown) => void (fmt(actual) === fmt(e) || fail(`expected ${fmt(actual)} to equal ${fmt(e)}`)),
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
}

export const expect = Object.assign((actual: unknown, label?: string) => matchers(actual, label), {
  fail: (msg: string): never => {
    throw new AssertionError(msg);
  },
});

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
        r = { name: t.name, ok: true, skipped: false, ms: performance.now() - t0 };
      } catch (e) {
        r = { name: t.name, ok: false, skipped: false, ms: performance.now() - t0, error: `${(e as Error).name}: ${(e as Error).message}` };
      }
    out.push(r);
    onResult?.(r);
  }
  return out;
}
