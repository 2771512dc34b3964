// autotune(): picks, per set of key values, the fastest of several launch configurations of a jit kernel
// (constexpr block sizes, numWarps, numStages), as Triton's @triton.autotune. On a CUDA device each
// config is timed with CUDA events (median over `rep` milliseconds after `warmup` milliseconds of
// untimed runs) and the choice is kept in memory and in the disk cache, keyed by the kernel's source,
// the compiler, the GPU and the key values. Configs that fail to compile or launch (too many registers,
// too much shared memory) are skipped. Devices without a GPU timer (cpu, ptx-sim, webgpu) use the first
// config that launches, without timing, unless a `timer` is given.
//
// Timed runs launch the kernel on the caller's arguments several times: a kernel that accumulates into
// its output (atomicAdd, +=) leaves it changed by the tuning runs; give such kernels a zeroed output
// after tuning, or tune them on scratch buffers.
import { createHash } from 'node:crypto';
import { LaunchError } from '../compiler/frontend/errors.js';
import { resolveBuffer } from './buffers.js';
import { getDevice, type Device } from './device.js';
import { compilerFingerprint, diskCache } from './disk-cache.js';
import type { JITKernel, LaunchOptions } from './jit.js';
import { CudaDevice, timeLaunches } from './cuda/device.js';

/** One launch configuration: constexpr values by parameter name, warps and pipelining stages. */
export interface AutotuneConfig {
  /** Values of constexpr parameters (block sizes), by name; the caller does not pass these. */
  readonly kwargs?: Readonly<Record<string, number | boolean | string>>;
  /** Warps per program (default 4). */
  readonly numWarps?: number;
  /** Pipelining stages (LaunchOptions.numStages; default: not set). */
  readonly numStages?: number;
  /** Programs per multiprocessor to keep registers for (LaunchOptions.minBlocksPerSM; default: not set). */
  readonly minBlocksPerSM?: number;
}

/** Measures one configuration: runs `run` as often as it likes and returns milliseconds per run. */
export type AutotuneTimer = (run: () => void, info: { readonly config: AutotuneConfig; readonly device: Device }) => number;

export interface AutotuneOptions {
  /** The candidate configurations (at least one); every config sets the same constexpr names. */
  readonly configs: readonly AutotuneConfig[];
  /** Names of the parameters whose values select a tuning result (scalars by value, buffers by dtype and length). */
  readonly key: readonly string[];
  /** Drops configurations that cannot suit these arguments (by parameter name) before any is timed. */
  readonly prune?: (configs: readonly AutotuneConfig[], args: Readonly<Record<string, unknown>>) => readonly AutotuneConfig[];
  /** Milliseconds of untimed runs before timing each config (default 25, as Triton). */
  readonly warmup?: number;
  /** Milliseconds of timed runs per config (default 100, as Triton); the median run counts. */
  readonly rep?: number;
  /** The timer; the default times CUDA devices with events and does not time other devices. */
  readonly timer?: AutotuneTimer;
  /** Show a progress bar on stderr while tuning (default: when stderr is a terminal). */
  readonly progress?: boolean;
}

/** The outcome of tuning for one set of key values. */
export interface AutotuneResult {
  readonly config: AutotuneConfig;
  /** Milliseconds per run of each config tried (undefined: not timed; null: it failed). */
  readonly timings: readonly { readonly config: AutotuneConfig; readonly ms: number | null | undefined; readonly error?: string }[];
  /** Where the result came from. */
  readonly source: 'tuned' | 'first-valid' | 'disk';
}

type AnyKernel = JITKernel<(...args: never[]) => void>;
type AutotuneLaunchOptions = Omit<LaunchOptions, 'numWarps' | 'numStages' | 'minBlocksPerSM'>;

const fail = (what: string, expected: string, got: unknown): never => {
  throw new TypeError(`autotune: ${what} must be ${expected}, got ${describe(got)}`);
};

function describe(v: unknown): string {
  if (v === undefined || v === null) return String(v);
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (typeof v === 'object') return `an object (${JSON.stringify(v).slice(0, 60)})`;
  return typeof v === 'string' ? JSON.stringify(v) : `${typeof v} ${String(v)}`;
}

function checkOptions(o: AutotuneOptions): void {
  if (typeof o !== 'object' || o === null) fail('its options', 'an object { configs, key }', o);
  if (!Array.isArray(o.configs) || o.configs.length === 0) fail('configs', 'a non-empty array of { kwargs, numWarps, numStages }', o.configs);
  let names: string | undefined;
  o.configs.forEach((c, i) => {
    if (typeof c !== 'object' || c === null || Array.isArray(c)) fail(`configs[${i}]`, 'an object { kwargs, numWarps, numStages }', c);
    if (c.kwargs !== undefined && (typeof c.kwargs !== 'object' || c.kwargs === null || Array.isArray(c.kwargs))) fail(`configs[${i}].kwargs`, 'an object of constexpr values by name', c.kwargs);
    for (const [k, v] of Object.entries(c.kwargs ?? {}))
      if (!['number', 'boolean', 'string'].includes(typeof v)) fail(`configs[${i}].kwargs.${k}`, 'a number, boolean or string', v);
    const w = c.numWarps;
    if (w !== undefined && (!Number.isInteger(w) || w < 1 || w > 32 || (w & (w - 1)) !== 0)) fail(`configs[${i}].numWarps`, 'a power of two from 1 to 32', w);
    const st = c.numStages;
    if (st !== undefined && (!Number.isInteger(st) || st < 1 || st > 8)) fail(`configs[${i}].numStages`, 'an integer from 1 to 8', st);
    const mb = c.minBlocksPerSM;
    if (mb !== undefined && (!Number.isInteger(mb) || mb < 1 || mb > 32)) fail(`configs[${i}].minBlocksPerSM`, 'an integer from 1 to 32', mb);
    const these = Object.keys(c.kwargs ?? {}).sort().join(', ');
    if (names === undefined) names = these;
    else if (these !== names) fail(`configs[${i}].kwargs`, `the same names as configs[0].kwargs (${names || 'none'})`, c.kwargs);
  });
  if (!Array.isArray(o.key) || o.key.some((k) => typeof k !== 'string')) fail('key', 'an array of parameter names', o.key);
  if (o.prune !== undefined && typeof o.prune !== 'function') fail('prune', 'a function (configs, args) => configs', o.prune);
  for (const f of ['warmup', 'rep'] as const) {
    const v = o[f];
    if (v !== undefined && !(typeof v === 'number' && Number.isFinite(v) && v >= 0)) fail(f, 'a number of milliseconds >= 0', v);
  }
  if (o.timer !== undefined && typeof o.timer !== 'function') fail('timer', 'a function (run, info) => milliseconds', o.timer);
}

/** One line of an error: its first line and, for compilation errors, the `error:` line under the caret. */
function errorSummary(e: unknown): string {
  const lines = (e instanceof Error ? e.message : String(e)).split('\n').map((l) => l.trim()).filter(Boolean);
  const detail = lines.find((l, i) => i > 0 && l.startsWith('error:'));
  return detail ? `${lines[0]}: ${detail}` : (lines[0] ?? '');
}

const configLabel = (c: AutotuneConfig): string =>
  [...Object.entries(c.kwargs ?? {}).map(([k, v]) => `${k}=${String(v)}`), `warps=${c.numWarps ?? 4}`, ...(c.numStages === undefined ? [] : [`stages=${c.numStages}`]),
    ...(c.minBlocksPerSM === undefined ? [] : [`minBlocks=${c.minBlocksPerSM}`])].join(' ');

/** A jit kernel that chooses its launch configuration by timing. */
export class AutotunedKernel {
  private readonly results = new Map<string, AutotuneResult>();
  /** Constexpr names the configs set. */
  private readonly tuned: readonly string[];

  constructor(
    readonly kernel: AnyKernel,
    readonly options: AutotuneOptions,
  ) {
    if (!kernel || typeof (kernel as { launch?: unknown }).launch !== 'function' || typeof (kernel as { specialize?: unknown }).specialize !== 'function')
      fail('its kernel', 'a jit() kernel', kernel);
    checkOptions(options);
    this.tuned = Object.keys(options.configs[0]!.kwargs ?? {});
  }

  get name(): string {
    return this.kernel.name;
  }

  /** Number of key-value sets tuned (or found on disk) in this process. */
  get cacheSize(): number {
    return this.results.size;
  }

  /**
   * Launches the kernel with the best config for these arguments, tuning first when the key values are
   * new. Pass the kernel's arguments in order without the constexprs the configs set.
   */
  launch(opts: AutotuneLaunchOptions, ...args: readonly unknown[]): AutotuneResult {
    const device = getDevice(opts.device);
    const named = this.fullArgs(args);
    const { result, launched } = this.choose(opts, device, named);
    // Without a timer the search itself was the caller's launch.
    if (!launched) this.launchWith(opts, device, result.config, named);
    return result;
  }

  /** The parameters in order, checked against the configs and the key. */
  private params(): { names: string[]; callerNames: string[] } {
    const declared = this.kernel.parameters;
    const names = declared.map((p) => p.name);
    for (const t of this.tuned) {
      const p = declared.find((d) => d.name === t);
      if (!p) throw new LaunchError(`autotune: configs set '${t}', which is not a parameter of kernel '${this.name}' (parameters: ${names.join(', ')})`);
      if (p.kind !== 'constexpr' && p.kind !== 'infer') throw new LaunchError(`autotune: configs set '${t}', which is a ${p.kind} parameter of kernel '${this.name}'; only constexpr parameters can be tuned`);
    }
    for (const k of this.options.key)
      if (!names.includes(k)) throw new LaunchError(`autotune: key '${k}' is not a parameter of kernel '${this.name}' (parameters: ${names.join(', ')})`);
    return { names, callerNames: names.filter((n) => !this.tuned.includes(n)) };
  }

  /** The caller's arguments by parameter name. */
  private fullArgs(args: readonly unknown[]): Map<string, unknown> {
    const { callerNames } = this.params();
    if (args.length !== callerNames.length)
      throw new LaunchError(
        `autotuned kernel '${this.name}' takes ${callerNames.length} arguments (${callerNames.join(', ')})` +
          (this.tuned.length ? `; ${this.tuned.join(', ')} come${this.tuned.length === 1 ? 's' : ''} from the configs` : '') +
          `, got ${args.length}`,
      );
    return new Map(callerNames.map((n, i) => [n, args[i]]));
  }

  private argsFor(config: AutotuneConfig, named: Map<string, unknown>): unknown[] {
    return this.params().names.map((n) => (this.tuned.includes(n) ? config.kwargs![n] : named.get(n)));
  }

  private launchWith(opts: AutotuneLaunchOptions, device: Device, config: AutotuneConfig, named: Map<string, unknown>): void {
    const launch = this.kernel.launch.bind(this.kernel) as (o: LaunchOptions, ...a: unknown[]) => void;
    launch({ ...opts, device, numWarps: config.numWarps, numStages: config.numStages, minBlocksPerSM: config.minBlocksPerSM }, ...this.argsFor(config, named));
  }

  private keyValues(named: Map<string, unknown>): string {
    return this.options.key
      .map((k) => {
        const v = named.get(k);
        if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'string') return `${k}=${String(v)}`;
        const b = resolveBuffer(v);
        if (!b) throw new LaunchError(`autotune: key '${k}' of kernel '${this.name}' must be a number, boolean, string or buffer argument, got ${describe(v)}`);
        return `${k}=${b.dtype}[${b.kind === 'host' ? b.data.length : b.buffer.length}]`;
      })
      .join(',');
  }

  /** The identity of the device in tuning keys: its name and, for CUDA, the GPU's name, architecture and driver. */
  private deviceId(device: Device): string {
    if (device instanceof CudaDevice) return `${device.name}|${device.properties.name}|${device.cacheTag()}`;
    return device.name;
  }

  private diskKey(device: Device, keyValues: string): string {
    const configs = createHash('sha256').update(JSON.stringify(this.options.configs)).digest('hex').slice(0, 16);
    return `autotune|${compilerFingerprint()}|${this.kernel.identity}|${this.deviceId(device)}|${configs}|${keyValues}`;
  }

  private timerFor(device: Device): AutotuneTimer | undefined {
    if (this.options.timer) return this.options.timer;
    if (device instanceof CudaDevice) return cudaEventTimer(this.options.warmup ?? 25, this.options.rep ?? 100, device.index);
    return undefined;
  }

  /** The chosen config for these arguments (tuning if needed); see launch(). */
  private choose(opts: AutotuneLaunchOptions, device: Device, named: Map<string, unknown>): { result: AutotuneResult; launched: boolean } {
    const keyValues = this.keyValues(named);
    // The device's identity includes its PTX target: configs tuned on mma.sync do not carry over to wgmma.
    const memKey = `${this.deviceId(device)}|${keyValues}`;
    const known = this.results.get(memKey);
    if (known) return { result: known, launched: false };
    const timer = this.timerFor(device);
    const disk = timer ? diskCache() : undefined;
    const dkey = disk ? this.diskKey(device, keyValues) : '';
    const stored = disk?.get<AutotuneResult>(dkey);
    // Only a config still in the list (the key hashes the list; this guards against edits by hand).
    if (stored && this.options.configs.some((c) => JSON.stringify(c) === JSON.stringify(stored.config))) {
      const result: AutotuneResult = { ...stored, source: 'disk' };
      this.results.set(memKey, result);
      return { result, launched: false };
    }
    let configs = this.options.configs;
    if (this.options.prune) {
      const pruned = this.options.prune(configs, Object.fromEntries(named));
      if (!Array.isArray(pruned)) fail('prune', 'a function returning an array of configs', pruned);
      if (pruned.length === 0) throw new LaunchError(`autotune: prune left no configs for kernel '${this.name}' with ${keyValues || 'these arguments'}`);
      configs = pruned;
    }
    const timings: { config: AutotuneConfig; ms: number | null | undefined; error?: string }[] = [];
    const bar = new ProgressBar(`autotune ${this.name}${keyValues ? ` (${keyValues})` : ''}`, configs.length, this.options.progress);
    let best: { config: AutotuneConfig; ms: number } | undefined;
    try {
      for (const config of configs) {
        const run = (): void => this.launchWith(opts, device, config, named);
        try {
          if (!timer) {
            // No timer: the first config that launches is the choice, and this launch was the caller's.
            run();
            timings.push({ config, ms: undefined });
            const result: AutotuneResult = { config, timings, source: 'first-valid' };
            this.results.set(memKey, result);
            return { result, launched: true };
          }
          const ms = timer(run, { config, device });
          if (!(typeof ms === 'number' && Number.isFinite(ms) && ms >= 0)) fail('timer', 'a function returning milliseconds (a finite number >= 0)', ms);
          timings.push({ config, ms });
          if (!best || ms < best.ms) best = { config, ms };
          bar.tick(`${configLabel(config)}: ${ms.toFixed(4)} ms`);
        } catch (e) {
          if (e instanceof TypeError && e.message.startsWith('autotune:')) throw e;
          timings.push({ config, ms: null, error: errorSummary(e) });
          bar.tick(`${configLabel(config)}: failed`);
        }
      }
    } finally {
      bar.done();
    }
    if (!best) {
      const why = timings.map((t) => `  ${configLabel(t.config)}: ${t.error ?? 'failed'}`).join('\n');
      throw new LaunchError(`autotune: every config of kernel '${this.name}' failed${keyValues ? ` for ${keyValues}` : ''}:\n${why}`);
    }
    const result: AutotuneResult = { config: best.config, timings, source: 'tuned' };
    this.results.set(memKey, result);
    disk?.put(dkey, result);
    return { result, launched: false };
  }
}

/** The default CUDA timer: estimates one run, then warms up for `warmupMs` and takes the median over `repMs`. */
export function cudaEventTimer(warmupMs: number, repMs: number, deviceIndex = 0): AutotuneTimer {
  return (run) => {
    const estimate = timeLaunches(run, { warmup: 1, iters: 3, device: deviceIndex }).medianMs;
    const per = Math.max(estimate, 1e-3);
    const warmup = Math.min(1000, Math.ceil(warmupMs / per));
    const iters = Math.max(1, Math.min(1000, Math.ceil(repMs / per)));
    return timeLaunches(run, { warmup, iters, device: deviceIndex }).medianMs;
  };
}

/** A one-line progress bar on stderr, drawn only when stderr is a terminal (or when forced). */
class ProgressBar {
  private done_ = 0;
  private readonly on: boolean;
  constructor(
    private readonly label: string,
    private readonly total: number,
    force: boolean | undefined,
  ) {
    this.on = force ?? (process.stderr.isTTY === true && process.env['TILEJIT_AUTOTUNE_QUIET'] !== '1');
    if (this.on) this.draw('');
  }
  tick(note: string): void {
    this.done_++;
    if (this.on) this.draw(note);
  }
  private draw(note: string): void {
    const width = 20, filled = Math.round((width * this.done_) / Math.max(1, this.total));
    const cols = process.stderr.columns ?? 100;
    const line = `${this.label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${this.done_}/${this.total} ${note}`;
    // Carriage return, the line cut to the terminal's width, and erase what an earlier, longer line left.
    process.stderr.write(`\r${line.slice(0, cols - 1)}\x1b[K`);
  }
  done(): void {
    if (this.on) process.stderr.write('\n');
  }
}

/**
 * Wraps a jit kernel so that each launch uses the fastest of `configs` for its key values:
 * `autotune({ configs, key })(kernel)` or `autotune(kernel, { configs, key })`.
 */
export function autotune(options: AutotuneOptions): (kernel: AnyKernel) => AutotunedKernel;
export function autotune(kernel: AnyKernel, options: AutotuneOptions): AutotunedKernel;
export function autotune(a: AnyKernel | AutotuneOptions, b?: AutotuneOptions): AutotunedKernel | ((kernel: AnyKernel) => AutotunedKernel) {
  if (b !== undefined) return new AutotunedKernel(a as AnyKernel, b);
  const options = a as AutotuneOptions;
  checkOptions(options);
  return (kernel) => new AutotunedKernel(kernel, options);
}

