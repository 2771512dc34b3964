// The benchmark harness of issue 6: times PoPE flash attention, decoding and similarity through the op
// layer (flashAttnWithPope, computeAttnSimilarity, with preallocated outputs) with CUDA events (median of
// many runs, inputs rotated among several buffers so that L2 does not flatter), beside the copy and
// vector-add ceilings measured in the same run, PyTorch's best alternative (bench/torch-sdpa.py, where
// python3 with torch is present) and first calls in new processes (empty and warm disk cache). Prints a
// table and writes bench-<date>.json and bench-<date>.svg (throughput against sequence length) into
// $OUT, --out DIR, or bench/results/.
//
//   npx tsx bench/run.ts [--device cuda|cpu|ptx-sim] [--quick] [--budget SECONDS] [--only REGEX]
//                        [--no-torch] [--no-cold] [--no-sweep] [--out DIR] [--target-ms MS]
//
// --quick uses tiny shapes (to check the code paths on 'cpu' or 'ptx-sim', where times are wall clock
// and mean nothing). --budget (default 450 s) bounds the whole run: workloads left when it is spent are
// reported as skipped. Every workload runs in its own try/catch: a failure is reported, never fatal.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tensor, PoPE, flashAttnWithPope, computeAttnSimilarity, cdiv, type TensorDevice } from '../index.js';
import { vectorAdd } from '../kernels/vector-add.js';
import { benchCopy } from './kernels.js';
import { chartSvg, type Series } from './chart.js';

// ------------------------------------------------------------------------------------------- options
const argv = process.argv.slice(2);
const flag = (name: string): boolean => argv.includes(name);
function option(name: string): string | undefined {
  const i = argv.indexOf(name);
  if (i < 0) return undefined;
  const v = argv[i + 1];
  if (v === undefined || v.startsWith('--')) throw new TypeError(`bench: ${name} needs a value`);
  return v;
}
function numberOption(name: string, fallback: number): number {
  const v = option(name);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new TypeError(`bench: ${name} must be a positive number, got '${v}'`);
  return n;
}
const KNOWN = new Set(['--device', '--quick', '--budget', '--only', '--no-torch', '--no-cold', '--no-sweep', '--out', '--target-ms']);
for (const a of argv) if (a.startsWith('--') && !KNOWN.has(a)) throw new TypeError(`bench: unknown option '${a}' (known: ${[...KNOWN].join(', ')})`);

const quick = flag('--quick');
const budgetS = numberOption('--budget', 450);
const targetMs = numberOption('--target-ms', quick ? 1 : 300);
const only = option('--only') ? new RegExp(option('--only')!) : undefined;
const requested = option('--device');
const deviceName = (requested ?? ((await import('../runtime/cuda/index.js')).isCudaAvailable() ? 'cuda' : 'cpu')) as TensorDevice;
if (!['cuda', 'cpu', 'ptx-sim'].includes(deviceName) && !/^cuda:\d+$/.test(deviceName))
  throw new TypeError(`bench: --device must be cuda, cuda:N, cpu or ptx-sim, got '${deviceName}'`);
const onCuda = deviceName.startsWith('cuda');
const t0 = Date.now();
const elapsedS = (): number => (Date.now() - t0) / 1000;
const left = (): number => budgetS - elapsedS();
const here = dirname(fileURLToPath(import.meta.url));
const bundled = import.meta.url.endsWith('.mjs');
const root = bundled ? process.cwd() : resolve(here, '..');
const outDir = option('--out') ?? process.env['OUT'] ?? join(root, 'bench', 'results');

// The issue's ceilings, for fractions when the run cannot measure its own.
const ISSUE_CEILINGS = { bf16Tflops: 746, copyTBps: 3.0 };

// ------------------------------------------------------------------------------------------- device
const cuda = onCuda ? await import('../runtime/cuda/index.js') : undefined;
const info: Record<string, unknown> = { date: new Date().toISOString(), device: deviceName, node: process.version, quick, budgetS, targetMs };
if (cuda) {
  const p = cuda.cudaDevice(deviceName).properties;
  Object.assign(info, { gpu: p.name, arch: p.arch, driverVersion: cuda.driverVersion(), smCount: p.smCount });
  try {
    info['driver'] = execFileSync('nvidia-smi', ['--query-gpu=driver_version', '--format=csv,noheader'], { encoding: 'utf8', timeout: 10_000 }).trim().split('\n')[0];
  } catch {
    // nvidia-smi absent: the driver API version is recorded
  }
}
console.log(`tilejit bench on ${deviceName}${info['gpu'] ? ` (${String(info['gpu'])}, ${String(info['arch'])}, driver ${String(info['driver'] ?? info['driverVersion'])})` : ''}${quick ? ', quick shapes' : ''}, budget ${budgetS} s`);

/** Median milliseconds of `run(i)` (i counts up, for rotating inputs): CUDA events on CUDA, wall clock elsewhere. */
function timeRuns(run: (i: number) => void): { medianMs: number; iters: number } {
  let i = 0;
  if (cuda) {
    const idx = cuda.parseCudaDevice(deviceName);
    const estimate = cuda.timeLaunches(() => run(i++), { warmup: 1, iters: 3, device: idx }).medianMs;
    const iters = Math.max(10, Math.min(200, Math.ceil(targetMs / Math.max(estimate, 1e-3))));
    const t = cuda.timeLaunches(() => run(i++), { warmup: 2, iters, device: idx });
    return { medianMs: t.medianMs, iters };
  }
  run(i++);
  const samples: number[] = [];
  for (let k = 0; k < 3; k++) {
    const s = performance.now();
    run(i++);
    samples.push(performance.now() - s);
  }
  samples.sort((a, b) => a - b);
  return { medianMs: samples[1]!, iters: 3 };
}

// ------------------------------------------------------------------------------------------- inputs
/** Random values in [-1, 1) as the dtype's stored elements, generated once and tiled into every tensor. */
const chunks = new Map<string, Uint16Array | Float32Array>();
function chunk(dtype: 'bf16' | 'f16' | 'f32'): Uint16Array | Float32Array {
  let c = chunks.get(dtype);
  if (!c) {
    const n = quick ? 1 << 12 : 1 << 22;
    const t = Tensor.rand([n], { dtype, seed: 7, lo: -1, hi: 1, device: 'cpu' });
    c = (t.storage.arg as { data: Uint16Array | Float32Array }).data;
    chunks.set(dtype, c);
  }
  return c;
}
function randomTensor(shape: readonly number[], dtype: 'bf16' | 'f16' | 'f32'): Tensor {
  const t = Tensor.empty(shape, { dtype, device: deviceName });
  const c = chunk(dtype), n = t.numel;
  const arg = t.storage.arg as unknown as { upload?: (d: Uint16Array | Float32Array, offset: number) => void; data?: Uint16Array | Float32Array };
  for (let off = 0; off < n; off += c.length) {
    const part = c.subarray(0, Math.min(c.length, n - off));
    if (arg.upload) arg.upload(part, off);
    else arg.data!.set(part, off);
  }
  return t;
}

const ELT = { bf16: 2, f16: 2, f32: 4 } as const;

// ------------------------------------------------------------------------------------------- workloads
interface Workload {
  readonly id: string;
  readonly group: 'issue' | 'variant' | 'sweep';
  readonly label: string;
  readonly kind: 'flash' | 'similarity';
  readonly B: number; readonly H: number; readonly Hkv: number; readonly Nq: number; readonly Nk: number; readonly D: number; readonly rot: number;
  readonly dtype: 'bf16' | 'f16';
  readonly causal: boolean;
  /** The issue's target, for the table. */
  readonly target?: string;
}

function workloads(): Workload[] {
  const list: Workload[] = [];
  const add = (w: Omit<Workload, 'Hkv' | 'rot' | 'dtype' | 'causal' | 'Nq'> & Partial<Workload>): void => {
    list.push({ Hkv: w.H, rot: w.D, dtype: 'bf16', causal: false, Nq: w.Nk, ...w } as Workload);
  };
  if (quick) {
    add({ id: 'fwd-b2-n32', group: 'issue', label: 'forward B=2 N=32 D=16', kind: 'flash', B: 2, H: 2, Nk: 32, D: 16 });
    add({ id: 'fwd-b2-n32-causal', group: 'issue', label: 'forward B=2 N=32 causal', kind: 'flash', B: 2, H: 2, Nk: 32, D: 16, causal: true });
    add({ id: 'decode', group: 'issue', label: 'decode q_len=1 k_len=64 fp16', kind: 'flash', B: 2, H: 2, Nq: 1, Nk: 64, D: 16, dtype: 'f16' });
    add({ id: 'similarity', group: 'issue', label: 'similarity f32 out N=32', kind: 'similarity', B: 1, H: 2, Nk: 32, D: 16 });
    add({ id: 'partial-rot', group: 'variant', label: 'rot = D/2', kind: 'flash', B: 1, H: 2, Nk: 32, D: 16, rot: 8 });
    add({ id: 'gqa', group: 'variant', label: 'GQA H=4 Hkv=2', kind: 'flash', B: 1, H: 4, Hkv: 2, Nk: 32, D: 16 });
    if (!flag('--no-sweep')) for (const N of [16, 32, 64]) for (const causal of [false, true])
      add({ id: `sweep-n${N}${causal ? '-causal' : ''}`, group: 'sweep', label: `sweep N=${N}${causal ? ' causal' : ''}`, kind: 'flash', B: 1, H: 2, Nk: N, D: 16, causal });
    return list.filter((w) => !only || only.test(w.id));
  }
  const H = 16, D = 64;
  add({ id: 'fwd-b4-n4096', group: 'issue', label: 'forward B=4 N=4096', kind: 'flash', B: 4, H, Nk: 4096, D, target: '≤ 0.75 ms' });
  add({ id: 'fwd-b4-n4096-causal', group: 'issue', label: 'forward B=4 N=4096 causal', kind: 'flash', B: 4, H, Nk: 4096, D, causal: true, target: '≤ 0.45 ms' });
  add({ id: 'fwd-b1-n16384', group: 'issue', label: 'forward B=1 N=16384', kind: 'flash', B: 1, H, Nk: 16384, D, target: '≤ 3.0 ms' });
  add({ id: 'fwd-b1-n16384-causal', group: 'issue', label: 'forward B=1 N=16384 causal', kind: 'flash', B: 1, H, Nk: 16384, D, causal: true, target: '≤ 1.6 ms' });
  add({ id: 'decode-b8-k32768-f16', group: 'issue', label: 'decode q_len=1 k_len=32768 B=8 fp16', kind: 'flash', B: 8, H, Nq: 1, Nk: 32768, D, dtype: 'f16', target: '≤ 0.45 ms' });
  add({ id: 'similarity-b2-h8-n4096', group: 'issue', label: 'similarity f32 out B=2 H=8 N=4096', kind: 'similarity', B: 2, H: 8, Nk: 4096, D, target: '≤ 0.45 ms' });
  add({ id: 'fwd-d32', group: 'variant', label: 'forward B=4 N=4096 D=32', kind: 'flash', B: 4, H, Nk: 4096, D: 32 });
  add({ id: 'fwd-d128', group: 'variant', label: 'forward B=4 N=4096 D=128', kind: 'flash', B: 4, H, Nk: 4096, D: 128 });
  add({ id: 'fwd-rot-half', group: 'variant', label: 'forward B=4 N=4096 rot=D/2', kind: 'flash', B: 4, H, Nk: 4096, D, rot: D / 2 });
  add({ id: 'fwd-gqa-h16-kv4', group: 'variant', label: 'forward B=4 N=4096 GQA H=16 Hkv=4', kind: 'flash', B: 4, H, Hkv: 4, Nk: 4096, D });
  if (!flag('--no-sweep'))
    for (const N of [1024, 2048, 8192]) for (const causal of [false, true])
      add({ id: `sweep-n${N}${causal ? '-causal' : ''}`, group: 'sweep', label: `forward B=${16384 / N} N=${N}${causal ? ' causal' : ''}`, kind: 'flash', B: 16384 / N, H, Nk: N, D, causal });
  return list.filter((w) => !only || only.test(w.id));
}

/** The issue's FLOP count: 2·B·H·Nq·Nk·(2·rot + (D − rot) + D), halved for causal. */
const flopsOf = (w: Workload): number => (2 * w.B * w.H * w.Nq * w.Nk * (2 * w.rot + (w.D - w.rot) + w.D)) / (w.causal && w.Nq > 1 ? 2 : 1);
/** Bytes that bound decoding (K and V read once) and similarity (the f32 scores written). */
const bytesOf = (w: Workload): number => (w.kind === 'similarity' ? w.B * w.H * w.Nq * w.Nk * 4 : 2 * w.B * w.Hkv * w.Nk * w.D * ELT[w.dtype]);
const boundBy = (w: Workload): 'flops' | 'bytes' => (w.kind === 'similarity' || w.Nq === 1 ? 'bytes' : 'flops');

interface Row {
  readonly id: string;
  readonly label: string;
  readonly group: Workload['group'];
  readonly shape: Workload;
  ok: boolean;
  error?: string;
  medianMs?: number;
  iters?: number;
  tflops?: number;
  tbps?: number;
  /** Of the bf16 tensor-core ceiling (flops-bound rows) or the copy ceiling (bytes-bound rows). */
  fractionOfCeiling?: number;
  torch?: { ok: boolean; totalMs?: number; prepassMs?: number; mainMs?: number; tflops?: number; tbps?: number; headDim?: number; backend?: string; error?: string };
}

function runWorkload(w: Workload): Row {
  const row: Row = { id: w.id, label: w.label, group: w.group, shape: w, ok: false };
  const owned: Tensor[] = [];
  try {
    const qShape = [w.B, w.H, w.Nq, w.D], kShape = [w.B, w.Hkv, w.Nk, w.D];
    const setBytes = (numel(qShape) + 2 * numel(kShape)) * ELT[w.dtype];
    const sets = onCuda ? Math.max(2, Math.min(6, Math.ceil((256 << 20) / setBytes))) : 2;
    const mk = (s: number[]): Tensor => {
      const t = randomTensor(s, w.dtype);
      owned.push(t);
      return t;
    };
    const qs = Array.from({ length: sets }, () => mk(qShape));
    const ks = Array.from({ length: sets }, () => mk(kShape));
    const vs = w.kind === 'flash' ? Array.from({ length: sets }, () => mk(kShape)) : [];
    const pope = new PoPE(w.rot, { heads: w.H, device: deviceName, biasUniformInit: true, seed: 3 });
    const posEmb = pope.forward(w.Nk);
    owned.push(posEmb.freqs, posEmb.bias, pope.rawBias);
    const out = w.kind === 'flash' ? Tensor.empty(qShape, { dtype: w.dtype, device: deviceName }) : Tensor.empty([w.B, w.H, w.Nq, w.Nk], { dtype: 'f32', device: deviceName });
    owned.push(out);
    const run = w.kind === 'flash'
      ? (i: number) => void flashAttnWithPope(qs[i % sets]!, ks[i % sets]!, vs[i % sets]!, { posEmb, causal: w.causal, out })
      : (i: number) => void computeAttnSimilarity(qs[i % sets]!, ks[i % sets]!, posEmb, { out });
    const t = timeRuns(run);
    row.medianMs = t.medianMs;
    row.iters = t.iters;
    row.tflops = flopsOf(w) / t.medianMs / 1e9;
    row.tbps = bytesOf(w) / t.medianMs / 1e9;
    row.ok = true;
  } catch (e) {
    row.error = e instanceof Error ? `${e.name}: ${e.message.split('\n').slice(0, 3).join(' | ')}` : String(e);
  } finally {
    for (const t of owned) {
      try {
        t.dispose();
      } catch {
        // after a fault the context may refuse frees; the row already carries the error
      }
    }
  }
  return row;
}

function numel(s: readonly number[]): number {
  return s.reduce((a, b) => a * b, 1);
}

// ------------------------------------------------------------------------------------------- ceilings
function measureCeilings(): { copyTBps?: number; vectorAddTBps?: number; error?: string } {
  const n = quick ? 1 << 12 : 1 << 26; // 256 MiB of f32 per buffer
  const owned: Tensor[] = [];
  try {
    const mk = (): Tensor => {
      const t = randomTensor([n], 'f32');
      owned.push(t);
      return t;
    };
    const xs = [mk(), mk()], ys = [mk(), mk()], z = mk();
    const BLOCK = 1024;
    const copy = timeRuns((i) => benchCopy.launch({ grid: cdiv(n, BLOCK), numWarps: 4, device: deviceName }, xs[i % 2]!.storage.arg, ys[i % 2]!.storage.arg, n, BLOCK));
    const add = timeRuns((i) => vectorAdd.launch({ grid: cdiv(n, BLOCK), numWarps: 4, device: deviceName }, xs[i % 2]!.storage.arg, ys[i % 2]!.storage.arg, z.storage.arg, n, BLOCK));
    return { copyTBps: (8 * n) / copy.medianMs / 1e9, vectorAddTBps: (12 * n) / add.medianMs / 1e9 };
  } catch (e) {
    return { error: e instanceof Error ? e.message.split('\n')[0] : String(e) };
  } finally {
    for (const t of owned) t.dispose();
  }
}

// ------------------------------------------------------------------------------------------- cold start
function coldStarts(): { cache: string; ok: boolean; processMs?: number; firstCallMs?: number; importMs?: number; tsMorphLoaded?: boolean; error?: string }[] {
  const script = bundled ? join(here, 'bench-cold.mjs') : join(here, 'cold-start.ts');
  if (!existsSync(script)) return [{ cache: 'empty', ok: false, error: `missing ${script}` }];
  const dir = mkdtempSync(join(tmpdir(), 'tilejit-bench-cold-'));
  try {
    return ['empty', 'warm'].map((cache) => {
      const t = performance.now();
      const p = spawnSync(process.execPath, [...process.execArgv, script, '--device', deviceName, ...(quick ? ['--quick'] : [])], {
        encoding: 'utf8', env: { ...process.env, TILEJIT_CACHE_DIR: dir, TILEJIT_CACHE: '1' }, timeout: Math.round(Math.max(20, Math.min(120, left() / 4)) * 1000),
      });
      const processMs = performance.now() - t;
      if (p.status !== 0) return { cache, ok: false, processMs, error: (p.stderr || p.error?.message || `exit ${p.status}`).trim().split('\n').slice(-3).join(' | ') };
      const r = JSON.parse(p.stdout.trim().split('\n').pop()!) as { firstCallMs: number; importMs: number; totalMs: number; tsMorphLoaded: boolean };
      return { cache, ok: true, processMs, firstCallMs: r.firstCallMs, importMs: r.importMs, tsMorphLoaded: r.tsMorphLoaded };
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ------------------------------------------------------------------------------------------- PyTorch
interface TorchReport {
  ok: boolean;
  error?: string;
  torch?: string;
  gpu?: string;
  matmulTflops?: number;
  copyTBps?: number;
  results: { id: string; ok?: boolean; error?: string; prepassMs?: number; mainMs?: number; totalMs?: number; headDim?: number; backend?: string }[];
}

function runTorch(list: readonly Workload[], seconds: number): TorchReport {
  const script = [join(here, 'torch-sdpa.py'), join(root, 'bench', 'torch-sdpa.py')].find((p) => existsSync(p));
  if (!script) return { ok: false, error: 'bench/torch-sdpa.py not found', results: [] };
  const dir = mkdtempSync(join(tmpdir(), 'tilejit-bench-torch-'));
  try {
    const spec = join(dir, 'spec.json');
    writeFileSync(spec, JSON.stringify({ device: onCuda ? 'cuda' : 'cpu', budgetSeconds: seconds - 10, targetMs, ceilings: !quick, workloads: list }));
    const p = spawnSync('python3', [script, spec], { encoding: 'utf8', timeout: seconds * 1000, maxBuffer: 16 << 20 });
    if (p.error) return { ok: false, error: `python3: ${p.error.message}`, results: [] };
    const line = p.stdout.trim().split('\n').pop() ?? '';
    try {
      return JSON.parse(line) as TorchReport;
    } catch {
      return { ok: false, error: `python3 exited ${p.status}: ${(p.stderr || line).trim().split('\n').slice(-2).join(' | ')}`, results: [] };
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ------------------------------------------------------------------------------------------- the run
const list = workloads();
const report: Record<string, unknown> = { ...info };
console.log('\nceilings (measured here):');
const ceilings = measureCeilings();
report['ceilings'] = ceilings;
console.log(ceilings.error ? `  failed: ${ceilings.error}` : `  copy ${ceilings.copyTBps!.toFixed(2)} TB/s, vector add ${ceilings.vectorAddTBps!.toFixed(2)} TB/s`);

if (!flag('--no-cold')) {
  let cold: ReturnType<typeof coldStarts>;
  try {
    cold = coldStarts();
  } catch (e) {
    cold = [{ cache: 'empty', ok: false, error: e instanceof Error ? e.message : String(e) }];
  }
  report['coldStarts'] = cold;
  console.log('\nfirst call in a new process (imports, compile or disk cache, module load, launch):');
  for (const c of cold)
    console.log(c.ok ? `  ${c.cache.padEnd(5)} disk cache: first call ${c.firstCallMs!.toFixed(0)} ms, import ${c.importMs!.toFixed(0)} ms, whole process ${c.processMs!.toFixed(0)} ms, ts-morph loaded: ${c.tsMorphLoaded}` : `  ${c.cache} disk cache: FAILED ${c.error}`);
}

let torch: TorchReport | undefined;
if (!flag('--no-torch')) {
  const seconds = Math.round(Math.max(30, Math.min(180, left() / 3)));
  console.log(`\nPyTorch best alternative (python3 bench/torch-sdpa.py, up to ${seconds.toFixed(0)} s)...`);
  const sets = (w: Workload): number => (onCuda ? Math.max(2, Math.min(6, Math.ceil((256 << 20) / ((w.B * w.H * w.Nq * w.D + 2 * w.B * w.Hkv * w.Nk * w.D) * ELT[w.dtype])))) : 2);
  try {
    torch = runTorch(list.map((w) => ({ ...w, sets: sets(w) })), seconds);
  } catch (e) {
    torch = { ok: false, error: e instanceof Error ? e.message : String(e), results: [] };
  }
  report['torch'] = torch;
  console.log(torch.ok ? `  torch ${torch.torch} on ${torch.gpu ?? 'cpu'}; bf16 matmul ${torch.matmulTflops?.toFixed(0) ?? '-'} TFLOP/s, copy ${torch.copyTBps?.toFixed(2) ?? '-'} TB/s` : `  not run: ${torch.error}`);
}

const flopCeiling = torch?.matmulTflops ?? ISSUE_CEILINGS.bf16Tflops;
const copyCeiling = ceilings.copyTBps && onCuda && !quick ? ceilings.copyTBps : ISSUE_CEILINGS.copyTBps;
report['ceilingsUsed'] = {
  bf16Tflops: flopCeiling, bf16Source: torch?.matmulTflops ? 'torch.mm 8192³ bf16 in this run' : 'issue 6 (746 TFLOP/s, 2026-11-23)',
  copyTBps: copyCeiling, copySource: ceilings.copyTBps && onCuda && !quick ? 'benchCopy in this run' : 'issue 6 (3.0 TB/s)',
};

console.log('\ntilejit:');
const rows: Row[] = [];
for (const w of list) {
  if (left() <= 0) {
    rows.push({ id: w.id, label: w.label, group: w.group, shape: w, ok: false, error: 'skipped: time budget spent' });
    continue;
  }
  const row = runWorkload(w);
  if (row.ok) row.fractionOfCeiling = boundBy(w) === 'flops' ? row.tflops! / flopCeiling : row.tbps! / copyCeiling;
  const tr = torch?.results.find((r) => r.id === w.id);
  if (tr) {
    row.torch = tr.ok
      ? { ok: true, totalMs: tr.totalMs, prepassMs: tr.prepassMs, mainMs: tr.mainMs, headDim: tr.headDim, backend: tr.backend, tflops: flopsOf(w) / tr.totalMs! / 1e9, tbps: bytesOf(w) / tr.totalMs! / 1e9 }
      : { ok: false, error: tr.error };
  }
  rows.push(row);
  console.log(row.ok ? `  ${w.label.padEnd(44)} ${row.medianMs!.toFixed(4)} ms (${row.iters} runs)` : `  ${w.label.padEnd(44)} FAILED ${row.error}`);
}
report['rows'] = rows;

// ------------------------------------------------------------------------------------------- output
const fmtMs = (ms?: number): string => (ms === undefined ? '–' : ms < 0.1 ? ms.toFixed(4) : ms.toFixed(3));
const rate = (w: Workload, tflops?: number, tbps?: number): string =>
  tflops === undefined ? '–' : boundBy(w) === 'flops' ? `${tflops.toFixed(1)} TFLOP/s` : `${tbps!.toFixed(2)} TB/s`;
const lines = [
  '| workload | tilejit | rate | of ceiling | PyTorch pre-pass + SDPA | rate | target (issue 6) |',
  '|---|---|---|---|---|---|---|',
  ...rows.map((r) => {
    const w = r.shape;
    const tj = r.ok ? `${fmtMs(r.medianMs)} ms` : r.error?.startsWith('skipped') ? 'skipped' : 'FAILED';
    const th = r.torch ? (r.torch.ok ? `${fmtMs(r.torch.totalMs)} ms (${fmtMs(r.torch.prepassMs)} + ${fmtMs(r.torch.mainMs)})` : 'failed') : '–';
    return `| ${r.label} | ${tj} | ${rate(w, r.tflops, r.tbps)} | ${r.fractionOfCeiling === undefined ? '–' : `${(100 * r.fractionOfCeiling).toFixed(1)}%`} | ${th} | ${r.torch?.ok ? rate(w, r.torch.tflops, r.torch.tbps) : '–'} | ${w.target ?? ''} |`;
  }),
];
console.log(`\n${lines.join('\n')}`);
console.log(`\nceilings: ${flopCeiling.toFixed(0)} TFLOP/s bf16 (${String((report['ceilingsUsed'] as Record<string, unknown>)['bf16Source'])}), ${copyCeiling.toFixed(2)} TB/s copy (${String((report['ceilingsUsed'] as Record<string, unknown>)['copySource'])})`);
const failures = rows.filter((r) => !r.ok);
for (const f of failures) console.log(`  ${f.label}: ${f.error}`);

// Chart: throughput against sequence length for the non-decode flash rows with D=64, full rotation, H=Hkv.
const chartRows = rows.filter((r) => r.ok && r.shape.kind === 'flash' && r.shape.Nq > 1 && r.shape.rot === r.shape.D && r.shape.H === r.shape.Hkv && r.shape.D === (quick ? 16 : 64));
const series: Series[] = [];
for (const causal of [false, true]) {
  const pick = (f: (r: Row) => number | undefined) =>
    [...new Map(chartRows.filter((r) => r.shape.causal === causal).map((r) => [r.shape.Nk, f(r)] as const)).entries()].filter(([, y]) => y !== undefined).sort((a, b) => a[0] - b[0]) as [number, number][];
  series.push({ name: `tilejit${causal ? ', causal' : ''}`, points: pick((r) => r.tflops), dashed: causal, color: '#1f77b4' });
  series.push({ name: `PyTorch pre-pass + SDPA${causal ? ', causal' : ''}`, points: pick((r) => (r.torch?.ok ? r.torch.tflops : undefined)), dashed: causal, color: '#ff7f0e' });
}
const stamp = new Date().toISOString().replace(/[:]/g, '-').replace(/\..*/, '');
const title = `PoPE flash attention, ${quick ? 'quick shapes' : 'H=16, D=64, bf16, 16384 tokens per batch'} — ${String(info['gpu'] ?? deviceName)}${info['driver'] ? `, driver ${String(info['driver'])}` : ''}, ${String(info['date']).slice(0, 10)}`;
const svg = chartSvg({ title, xLabel: 'sequence length', yLabel: 'TFLOP/s', series, ceiling: onCuda && !quick ? { value: flopCeiling, label: `bf16 ceiling ${flopCeiling.toFixed(0)} TFLOP/s` } : undefined });
mkdirSync(outDir, { recursive: true });
const jsonFile = join(outDir, `bench-${stamp}.json`), svgFile = join(outDir, `bench-${stamp}.svg`);
report['table'] = lines.join('\n');
report['elapsedS'] = elapsedS();
writeFileSync(jsonFile, JSON.stringify(report, null, 2));
writeFileSync(svgFile, svg);
console.log(`\nwrote ${jsonFile}\nwrote ${svgFile}\n${rows.filter((r) => r.ok).length}/${rows.length} workloads ran in ${elapsedS().toFixed(0)} s`);
