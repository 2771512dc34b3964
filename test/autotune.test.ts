// autotune() on the CPU device: choosing by a supplied timer, the first valid config without one, caching
// by key values in memory and on disk, pruning, and errors that name the bad argument.
import { describe, it, expect } from 'vitest';
import { autotune, jit, cdiv, type AutotuneConfig, type AutotuneTimer, type JITKernel } from '../index.js';

const SOURCE = `function tunedAdd(X: tl.Ptr, Y: tl.Ptr, Z: tl.Ptr, n: tl.i32, BLOCK: tl.constexpr) {
  const offs = tl.programId(0) * BLOCK + tl.arange(0, BLOCK);
  const mask = offs < n;
  tl.store(Z + offs, tl.load(X + offs, { mask }) + tl.load(Y + offs, { mask }), { mask });
}`;
// Each test gets its own kernel text (a comment), so that disk entries of one test never serve another.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const makeKernel = (tag: string): JITKernel<(...args: any[]) => void> => jit(function tunedAdd() {}, { source: `// ${tag} ${Date.now()}\n${SOURCE}` }) as never;

const CONFIGS: AutotuneConfig[] = [
  { kwargs: { BLOCK: 16 }, numWarps: 1 },
  { kwargs: { BLOCK: 32 }, numWarps: 2, numStages: 2 },
  { kwargs: { BLOCK: 64 }, numWarps: 4 },
];
const FAKE_MS: Record<number, number> = { 16: 3, 32: 1, 64: 2 };

/** A timer that runs the config once (so it is really launched) and reports a made-up time. */
function fakeTimer(): AutotuneTimer & { calls: AutotuneConfig[] } {
  const calls: AutotuneConfig[] = [];
  const t = ((run, { config }) => {
    run();
    calls.push(config);
    return FAKE_MS[config.kwargs!['BLOCK'] as number]!;
  }) as AutotuneTimer & { calls: AutotuneConfig[] };
  t.calls = calls;
  return t;
}

function inputs(n: number): [Float32Array, Float32Array, Float32Array] {
  return [Float32Array.from({ length: n }, (_, i) => i), new Float32Array(n).fill(0.5), new Float32Array(n)];
}
const grid = (n: number) => (meta: Readonly<Record<string, unknown>>) => cdiv(n, meta['BLOCK'] as number);

describe('autotune', () => {
  it('picks the fastest config by the timer, launches it, and keeps the choice per key value', () => {
    const timer = fakeTimer();
    const k = autotune(makeKernel('select'), { configs: CONFIGS, key: ['n'], timer, progress: false });
    const [x, y, z] = inputs(100);
    const r = k.launch({ grid: grid(100), device: 'cpu' }, x, y, z, 100);
    expect(r.source).toBe('tuned');
    expect(r.config).toEqual(CONFIGS[1]);
    expect(r.timings.map((t) => t.ms)).toEqual([3, 1, 2]);
    expect(Array.from(z)).toEqual(Array.from(x, (v) => v + 0.5));
    expect(timer.calls.length).toBe(3);
    // Same key value: no tuning. Another n: tuned again.
    z.fill(0);
    expect(k.launch({ grid: grid(100), device: 'cpu' }, x, y, z, 100).config).toEqual(CONFIGS[1]);
    expect(Array.from(z)).toEqual(Array.from(x, (v) => v + 0.5));
    expect(timer.calls.length).toBe(3);
    const [x2, y2, z2] = inputs(40);
    k.launch({ grid: grid(40), device: 'cpu' }, x2, y2, z2, 40);
    expect(timer.calls.length).toBe(6);
    expect(k.cacheSize).toBe(2);
    expect(Array.from(z2)).toEqual(Array.from(x2, (v) => v + 0.5));
  });

  it('keys buffers by dtype and length', () => {
    const timer = fakeTimer();
    const k = autotune(makeKernel('buffer-key'), { configs: CONFIGS, key: ['X'], timer, progress: false });
    const [x, y, z] = inputs(50);
    k.launch({ grid: grid(50), device: 'cpu' }, x, y, z, 50);
    k.launch({ grid: grid(20), device: 'cpu' }, x, y, z, 20); // same X: no tuning
    expect(timer.calls.length).toBe(3);
    const [x2, y2, z2] = inputs(60);
    k.launch({ grid: grid(60), device: 'cpu' }, x2, y2, z2, 60);
    expect(timer.calls.length).toBe(6);
  });

  it('without a timer (cpu, ptx-sim) takes the first config that launches, in one launch', () => {
    const bad: AutotuneConfig = { kwargs: { BLOCK: 3 } }; // tl.arange needs a power of two
    const k = autotune(makeKernel('first-valid'), { configs: [bad, ...CONFIGS], key: ['n'], progress: false });
    const [x, y, z] = inputs(33);
    const r = k.launch({ grid: grid(33), device: 'cpu' }, x, y, z, 33);
    expect(r.source).toBe('first-valid');
    expect(r.config).toEqual(CONFIGS[0]);
    expect(r.timings[0]!.ms).toBeNull();
    expect(r.timings[0]!.error).toMatch(/power of two|BLOCK|arange/i);
    expect(r.timings[1]!.ms).toBeUndefined();
    expect(Array.from(z)).toEqual(Array.from(x, (v) => v + 0.5));
  });

  it('prunes before timing, and says so when nothing is left', () => {
    const timer = fakeTimer();
    const seen: unknown[] = [];
    const k = autotune(makeKernel('prune'), {
      configs: CONFIGS, key: ['n'], timer, progress: false,
      prune: (configs, args) => {
        seen.push(args['n']);
        return configs.filter((c) => (c.kwargs!['BLOCK'] as number) <= (args['n'] as number));
      },
    });
    const [x, y, z] = inputs(20);
    const r = k.launch({ grid: grid(20), device: 'cpu' }, x, y, z, 20);
    expect(seen).toEqual([20]);
    expect(timer.calls.map((c) => c.kwargs!['BLOCK'])).toEqual([16]);
    expect(r.config).toEqual(CONFIGS[0]);
    const [x2, y2, z2] = inputs(8);
    expect(() => k.launch({ grid: grid(8), device: 'cpu' }, x2, y2, z2, 8)).toThrow(/prune left no configs for kernel 'tunedAdd' with n=8/);
  });

  it('keeps tuned results on disk: a new wrapper (a new process) times nothing', () => {
    const kernel = makeKernel('disk');
    const t1 = fakeTimer();
    const [x, y, z] = inputs(70);
    autotune(kernel, { configs: CONFIGS, key: ['n'], timer: t1, progress: false }).launch({ grid: grid(70), device: 'cpu' }, x, y, z, 70);
    expect(t1.calls.length).toBe(3);
    const t2 = fakeTimer();
    z.fill(0);
    const r = autotune(kernel, { configs: CONFIGS, key: ['n'], timer: t2, progress: false }).launch({ grid: grid(70), device: 'cpu' }, x, y, z, 70);
    expect(r.source).toBe('disk');
    expect(r.config).toEqual(CONFIGS[1]);
    expect(t2.calls.length).toBe(0);
    expect(Array.from(z)).toEqual(Array.from(x, (v) => v + 0.5));
    // Another config list is another tuning problem.
    const t3 = fakeTimer();
    autotune(kernel, { configs: CONFIGS.slice(1), key: ['n'], timer: t3, progress: false }).launch({ grid: grid(70), device: 'cpu' }, x, y, z, 70);
    expect(t3.calls.length).toBe(2);
  });

  it('reports every failure when no config works', () => {
    const k = autotune(makeKernel('all-bad'), { configs: [{ kwargs: { BLOCK: 3 } }, { kwargs: { BLOCK: 5 } }], key: [], progress: false });
    const [x, y, z] = inputs(4);
    expect(() => k.launch({ grid: 1, device: 'cpu' }, x, y, z, 4)).toThrow(/every config of kernel 'tunedAdd' failed:\n  BLOCK=3 warps=4: .*\n  BLOCK=5 warps=4: /);
  });

  it('names the bad argument, what was expected and what it got', () => {
    const kernel = makeKernel('errors');
    const opts = { key: ['n'], progress: false };
    expect(() => autotune(kernel, { ...opts, configs: [] })).toThrow('autotune: configs must be a non-empty array of { kwargs, numWarps, numStages }, got an array of 0');
    expect(() => autotune(kernel, { ...opts, configs: [{ numWarps: 4 }, { numWarps: 3 }] })).toThrow('autotune: configs[1].numWarps must be a power of two from 1 to 32, got number 3');
    expect(() => autotune(kernel, { ...opts, configs: [{ numStages: 0 }] })).toThrow('autotune: configs[0].numStages must be an integer from 1 to 8, got number 0');
    expect(() => autotune(kernel, { ...opts, configs: [{ kwargs: { BLOCK: 16 } }, { kwargs: { B: 16 } }] })).toThrow(
      /autotune: configs\[1\]\.kwargs must be the same names as configs\[0\]\.kwargs \(BLOCK\), got an object/,
    );
    expect(() => autotune(kernel, { configs: CONFIGS, key: 'n' as never })).toThrow('autotune: key must be an array of parameter names, got "n"');
    expect(() => autotune(kernel, { configs: CONFIGS, key: [], warmup: -1 })).toThrow('autotune: warmup must be a number of milliseconds >= 0, got number -1');
    expect(() => autotune({} as never, { configs: CONFIGS, key: [] })).toThrow('autotune: its kernel must be a jit() kernel');
    const [x, y, z] = inputs(4);
    expect(() => autotune(kernel, { configs: CONFIGS, key: ['m'] }).launch({ grid: 1, device: 'cpu' }, x, y, z, 4)).toThrow(
      "autotune: key 'm' is not a parameter of kernel 'tunedAdd' (parameters: X, Y, Z, n, BLOCK)",
    );
    expect(() => autotune(kernel, { configs: [{ kwargs: { n: 4 } }], key: [] }).launch({ grid: 1, device: 'cpu' }, x, y, z, 16)).toThrow(
      "autotune: configs set 'n', which is a scalar parameter of kernel 'tunedAdd'; only constexpr parameters can be tuned",
    );
    expect(() => autotune(kernel, { configs: CONFIGS, key: ['n'] }).launch({ grid: 1, device: 'cpu' }, x, y, z, 4, 16)).toThrow(
      "autotuned kernel 'tunedAdd' takes 4 arguments (X, Y, Z, n); BLOCK comes from the configs, got 5",
    );
    expect(() => autotune(kernel, { configs: CONFIGS, key: ['n'], timer: () => Number.NaN }).launch({ grid: 1, device: 'cpu' }, x, y, z, 4)).toThrow(
      'autotune: timer must be a function returning milliseconds (a finite number >= 0), got number NaN',
    );
  });

  it('works as a decorator: autotune(options)(kernel)', () => {
    const k = autotune({ configs: CONFIGS, key: ['n'], progress: false })(makeKernel('decorator'));
    const [x, y, z] = inputs(10);
    expect(k.launch({ grid: grid(10), device: 'cpu' }, x, y, z, 10).config).toEqual(CONFIGS[0]);
    expect(Array.from(z)).toEqual(Array.from(x, (v) => v + 0.5));
  });
});
