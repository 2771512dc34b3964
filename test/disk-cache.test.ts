// The persistent kernel cache: verified reads, atomic writes under concurrent processes, and a second
// JITKernel for the same source finding its parameter kinds on disk instead of parsing.
import { describe, it, expect } from 'vitest';
import { mkdtempSync, readdirSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { DiskCache, compilerFingerprint } from '../runtime/disk-cache.js';
import { jit, type JITKernel } from '../index.js';

// The kernel's source is passed explicitly, so the function itself is only a name.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const kernelFromSource = (): JITKernel<(...args: any[]) => void> => jit(function cachedAdd() {}, { source: SOURCE }) as never;

describe('DiskCache', () => {
  it('returns what was put, and nothing for another key', () => {
    const c = new DiskCache(mkdtempSync(join(tmpdir(), 'tj-cache-')));
    c.put('a', { ptx: '.version 7.0', n: 3 });
    expect(c.get('a')).toEqual({ ptx: '.version 7.0', n: 3 });
    expect(c.get('b')).toBeUndefined();
  });

  it('treats a damaged or tampered entry as a miss and removes it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tj-cache-'));
    const c = new DiskCache(dir);
    c.put('k', { x: 1 });
    const file = join(dir, readdirSync(dir)[0]!);
    writeFileSync(file, readFileSync(file, 'utf8').replace('"x":1', '"x":2')); // payload no longer matches its digest
    expect(c.get('k')).toBeUndefined();
    expect(readdirSync(dir)).toEqual([]);
    c.put('k', { x: 1 });
    writeFileSync(join(dir, readdirSync(dir)[0]!), '{"format":1,"key":"k","dig'); // truncated
    expect(c.get('k')).toBeUndefined();
  });

  it('stays consistent when several processes write the same entries at once', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tj-cache-'));
    const script = `
      const { DiskCache } = await import(${JSON.stringify(new URL('../runtime/disk-cache.ts', import.meta.url).href)});
      const c = new DiskCache(${JSON.stringify(dir)});
      for (let i = 0; i < 200; i++) c.put('key' + (i % 5), { writer: process.pid, big: 'x'.repeat(20000 + i) });`;
    const tsx = join(process.cwd(), 'node_modules', '.bin', 'tsx');
    const procs = [0, 1, 2].map(() => spawnSync(tsx, ['--input-type=module', '-e', script], { encoding: 'utf8' }));
    for (const p of procs) expect(p.status, p.stderr).toBe(0);
    const c = new DiskCache(dir);
    for (let i = 0; i < 5; i++) expect((c.get<{ big: string }>('key' + i))?.big.startsWith('x'.repeat(20000))).toBe(true);
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('fingerprints the compiler', () => {
    expect(compilerFingerprint()).toMatch(/^[0-9a-f]{16}$/);
  });
});

const SOURCE = `function cachedAdd(X: tl.Ptr, Y: tl.Ptr, n: tl.i32, BLOCK: tl.constexpr) {
  const offs = tl.programId(0) * BLOCK + tl.arange(0, BLOCK);
  tl.store(Y + offs, tl.load(X + offs, { mask: offs < n }) + 1, { mask: offs < n });
}`;

const OTHER = SOURCE_TWO();
function SOURCE_TWO(): string {
  return `function cachedAdd(X: tl.Ptr, Y: tl.Ptr, n: tl.i32, BLOCK: tl.constexpr) {
  const offs = tl.programId(0) * BLOCK + tl.arange(0, BLOCK);
  tl.store(Y + offs, tl.load(X + offs, { mask: offs < n }) + 1, { mask: offs < n });
}
function cachedSub(X: tl.Ptr, Y: tl.Ptr, n: tl.i32, BLOCK: tl.constexpr) {
  const offs = tl.programId(0) * BLOCK + tl.arange(0, BLOCK);
  tl.store(Y + offs, tl.load(X + offs, { mask: offs < n }) - 1, { mask: offs < n });
}`;
}

describe('jit with the disk cache', () => {
  it('two kernels of one file with the same signature never share an entry', () => {
    const add = jit(function cachedAdd() {}, { source: OTHER }) as never as ReturnType<typeof kernelFromSource>;
    const sub = jit(function cachedSub() {}, { source: OTHER }) as never as ReturnType<typeof kernelFromSource>;
    const x = new Float32Array(4), y = new Float32Array(4);
    expect(add.specialize({ device: 'cpu' }, x, y, 4, 16).compiled.key).not.toBe(sub.specialize({ device: 'cpu' }, x, y, 4, 16).compiled.key);
    sub.launch({ grid: 1, device: 'cpu' }, x, y, 4, 16);
    expect(Array.from(y)).toEqual([-1, -1, -1, -1]);
  });

  it("a second kernel object for the same source reads its parameter kinds from disk and parses nothing until it compiles", () => {
    const first = kernelFromSource();
    const x = new Float32Array(10), y = new Float32Array(10);
    first.launch({ grid: 1, device: 'cpu' }, x, y, 10, 16);
    expect(Array.from(y)).toEqual(new Array(10).fill(1));
    const second = kernelFromSource();
    second.specialize({ device: 'cpu' }, x, y, 10, 16);
    expect((second as unknown as { def: unknown }).def).toBeUndefined(); // nothing parsed
    second.launch({ grid: 1, device: 'cpu' }, x, y, 10, 16); // compiling the IR parses now
    expect(Array.from(y)).toEqual(new Array(10).fill(1));
  });
});

// A fresh process (tsx) so that nothing loaded by other tests counts.
function runTsx(script: string, env: Record<string, string> = {}): string {
  const tsx = join(process.cwd(), 'node_modules', '.bin', 'tsx');
  const p = spawnSync(tsx, ['--input-type=module', '-e', script], { encoding: 'utf8', env: { ...process.env, ...env } });
  expect(p.status, p.stderr).toBe(0);
  return p.stdout.trim();
}
const indexUrl = JSON.stringify(new URL('../index.ts', import.meta.url).href);
const ptxUrl = JSON.stringify(new URL('../compiler/backends/ptx/index.ts', import.meta.url).href);

describe('the parser is loaded only on a cache miss', () => {
  it('importing tilejit does not load ts-morph', () => {
    expect(runTsx(`const t = await import(${indexUrl}); console.log(t.isTsMorphLoaded());`)).toBe('false');
  });

  it('a warm disk cache launches on a PTX device without loading ts-morph; an empty one parses', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tj-cache-'));
    // A stand-in PTX device: lowers on a miss as the CUDA device does, and reports what it was given.
    const script = `
      const { jit, isTsMorphLoaded } = await import(${indexUrl});
      const { lowerToPtx } = await import(${ptxUrl});
      let seen;
      const device = {
        name: 'fake-ptx', target: 'ptx', cacheTag: () => 'sm_00|driver=1',
        launch(req) {
          let ptx = req.kernel.artifacts.get('ptx:sm_80:4');
          if (!ptx) req.kernel.artifacts.set('ptx:sm_80:4', (ptx = lowerToPtx(req.kernel.module, { numWarps: 4 })));
          seen = { entry: ptx.entry, hasPtx: ptx.ptx.includes('.entry'), numStages: req.numStages };
        },
      };
      const k = jit(function cachedAdd() {}, { source: ${JSON.stringify(SOURCE)} });
      k.launch({ grid: 1, device, numStages: 2 }, new Float32Array(8), new Float32Array(8), 8, 16);
      console.log(JSON.stringify({ ...seen, tsMorph: isTsMorphLoaded() }));`;
    const cold = JSON.parse(runTsx(script, { TILEJIT_CACHE_DIR: dir }));
    expect(cold).toEqual({ entry: 'cachedAdd', hasPtx: true, numStages: 2, tsMorph: true });
    const warm = JSON.parse(runTsx(script, { TILEJIT_CACHE_DIR: dir }));
    expect(warm).toEqual({ entry: 'cachedAdd', hasPtx: true, numStages: 2, tsMorph: false });
    // Another GPU architecture or driver (the device's cache tag) is a miss.
    const other = JSON.parse(runTsx(script.replace('sm_00|driver=1', 'sm_00|driver=2'), { TILEJIT_CACHE_DIR: dir }));
    expect(other.tsMorph).toBe(true);
    // The simulator, launched on the same variant after a disk hit, lowers its own PTX: the cached one
    // keeps no thread program (it crashed in simulate when the two shared a key).
    const both = script.replace('console.log(JSON.stringify({ ...seen, tsMorph: isTsMorphLoaded() }));', `
      const x = Float32Array.from({ length: 8 }, (_, i) => i), y = new Float32Array(8);
      k.launch({ grid: 1, device: 'ptx-sim', numStages: 2 }, x, y, 8, 16);
      console.log(JSON.stringify({ ...seen, y: Array.from(y) }));`);
    expect(JSON.parse(runTsx(both, { TILEJIT_CACHE_DIR: dir }))).toEqual({ entry: 'cachedAdd', hasPtx: true, numStages: 2, y: [1, 2, 3, 4, 5, 6, 7, 8] });
  });
});

describe('numStages', () => {
  it('is part of the cache key when given, and checked', () => {
    const k = kernelFromSource();
    const x = new Float32Array(4), y = new Float32Array(4);
    const plain = k.specialize({ device: 'cpu' }, x, y, 4, 16).compiled.key;
    const two = k.specialize({ device: 'cpu', numStages: 2 }, x, y, 4, 16).compiled.key;
    const three = k.specialize({ device: 'cpu', numStages: 3 }, x, y, 4, 16).compiled.key;
    expect(new Set([plain, two, three]).size).toBe(3);
    expect(() => k.specialize({ device: 'cpu', numStages: 0 }, x, y, 4, 16)).toThrow(/numStages must be an integer from 1 to 8, got 0/);
    expect(() => k.specialize({ device: 'cpu', numStages: 2.5 }, x, y, 4, 16)).toThrow(/numStages must be an integer from 1 to 8, got 2.5/);
  });
});
