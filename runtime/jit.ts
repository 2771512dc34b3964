// jit(): wraps a kernel function, specializes it on its launch arguments, caches each compiled variant
// in memory, and launches it on a device.
import { createHash } from 'node:crypto';
import { defineKernel, compileToIR, type KernelDefinition, type DumpOption, type DeclaredParam } from '../compiler/compile.js';
import type { PtxKernel } from '../compiler/backends/ptx/index.js';
import { diskCache, compilerFingerprint } from './disk-cache.js';
import { ptxArtifactKey } from './cuda/device.js';
import { callerFileFromStack, locateKernelSource, paramNamesOf, type SourceFileText } from '../compiler/source/locate.js';
import { CompilationError, LaunchError } from '../compiler/frontend/errors.js';
import type { Ptr, KernelFn as KernelLanguageFn } from '../compiler/language/tl.js';
import { bindArguments, type Binding } from './bind.js';
import type { BufferArg } from './buffers.js';
import type { CompiledKernel } from './compiled.js';
import { getDevice, type Device, type DeviceName } from './device.js';

/** The launch-time type of each kernel parameter: buffers for pointers, numbers/booleans/dtypes otherwise. */
export type LaunchArgs<P extends readonly unknown[]> = { [K in keyof P]: LaunchArg<P[K]> };
/** One parameter's launch type; distributes over unions such as `'relu' | ((x) => x)`. */
type LaunchArg<T> = T extends Ptr<infer _D> ? BufferArg : T extends boolean ? boolean : T extends string ? T : T extends KernelLanguageFn ? T : number | boolean;

export type Grid = number | readonly [number] | readonly [number, number] | readonly [number, number, number];
/** Constexpr values of a launch, by parameter name, for grids computed from block sizes. */
export type Meta = Readonly<Record<string, number | boolean | string>>;

export interface LaunchOptions {
  /** Number of programs along each axis, or a function of the constexpr arguments. */
  readonly grid: Grid | ((meta: Meta) => Grid);
  /** Warps per program on GPUs (a power of two, 1 to 32; default 4). Part of the cache key. */
  readonly numWarps?: number;
  /**
   * Software-pipelining stages for loops that load tensor-core tiles (an integer, 1 to 8), as Triton's
   * num_stages: 1 copies each tile when it is needed; 2 or more (the PTX backend's default) copies the
   * next iteration's tiles while this one computes. The PTX backend double-buffers: more than 2 stages
   * act as 2. Part of the cache key when given.
   */
  readonly numStages?: number;
  /**
   * Programs that should fit on one multiprocessor at once (PTX `.minnctapersm`, CUDA's launch
   * bounds): ptxas then keeps registers under 65536 / (this × threads), spilling if it must. Part of
   * the cache key when given.
   */
  readonly minBlocksPerSM?: number;
  /** Where to run; the default is the best device present. */
  readonly device?: DeviceName | Device;
  /** Dump the IR after every stage (true) or the named stages. */
  readonly dump?: DumpOption;
}

export interface JitOptions {
  /** The kernel's TypeScript source, when it cannot be found from the call site (see docs). */
  readonly source?: string;
  /** File name used in error messages together with `source`. */
  readonly file?: string;
  /** Parameters to treat as constexpr when the source has no type annotations (plain JavaScript). */
  readonly constexprs?: readonly string[];
}

type KernelFn = (...args: never[]) => void;

export class JITKernel<F extends KernelFn> {
  readonly name: string;
  private def: KernelDefinition | undefined;
  private source: SourceFileText | undefined;
  private declared: readonly DeclaredParam[] | undefined;
  private readonly cache = new Map<string, CompiledKernel>();
  private sourceHash = '';

  constructor(
    fn: F,
    private readonly options: JitOptions,
    private readonly callerFile: string | undefined,
  ) {
    if (typeof fn !== 'function') throw new TypeError(`jit() expects a kernel function, got ${typeof fn}`);
    if (!fn.name) throw new TypeError(`jit() needs a named function (jit(function myKernel(...) {...})) so that its source can be found`);
    this.name = fn.name;
    // The runtime parameter names (kept by transpilers) tell apart bundled kernels of the same name.
    const list = /^[^(]*\(([^)]*)\)/.exec(Function.prototype.toString.call(fn));
    this.paramNames = list ? paramNamesOf(list[1]!) : undefined;
  }
  private readonly paramNames: readonly string[] | undefined;

  /** The parsed kernel definition (found and parsed on first use). */
  get definition(): KernelDefinition {
    this.def ??= defineKernel(this.name, this.sourceText(), this.options.constexprs);
    return this.def;
  }

  private sourceText(): SourceFileText {
    if (!this.source) {
      this.source = this.findSource();
      this.sourceHash = createHash('sha256').update(this.source.text).digest('hex').slice(0, 16);
    }
    return this.source;
  }

  /** The kernel's parameters in order, with their kinds (read from the disk cache when possible: no parsing). */
  get parameters(): readonly DeclaredParam[] {
    return this.declaredParams();
  }

  /** What identifies this kernel's code across processes: its name and a hash of its source file. */
  get identity(): string {
    this.sourceText();
    return `${this.name}|${this.sourceHash}`;
  }

  /** The kernel's parameter kinds: from the disk cache when this source was seen before, else parsed. */
  private declaredParams(): readonly DeclaredParam[] {
    if (this.declared) return this.declared;
    this.sourceText();
    const disk = diskCache();
    const key = `params|${compilerFingerprint()}|${this.sourceHash}|${this.name}|${(this.options.constexprs ?? []).join(',')}`;
    const hit = disk?.get<DeclaredParam[]>(key);
    if (hit) return (this.declared = hit);
    this.declared = this.definition.params;
    disk?.put(key, this.declared);
    return this.declared;
  }

  private findSource(): SourceFileText {
    if (this.options.source !== undefined) return { file: this.options.file ?? `${this.name}.ts`, text: this.options.source };
    const found = locateKernelSource(this.name, this.callerFile, this.paramNames);
    if (found) return found;
    throw new CompilationError(
      this.name,
      undefined,
      `cannot find the TypeScript source of kernel '${this.name}' (called from ${this.callerFile ?? 'an unknown file'}). ` +
        `Run the .ts file directly (tsx, vitest), bundle it with tilejit's esbuild plugin (tilejit/esbuild-plugin), or pass jit(fn, { source })`,
    );
  }

  /** Compiles (or fetches from the cache) the variant for these arguments, without launching. */
  specialize(opts: Omit<LaunchOptions, 'grid'>, ...args: LaunchArgs<Parameters<F>>): { compiled: CompiledKernel; binding: Binding; device: Device } {
    const binding = bindArguments(this.name, this.declaredParams(), args);
    const device = getDevice(opts.device);
    const numWarps = opts.numWarps ?? 4;
    if (!Number.isInteger(numWarps) || numWarps < 1 || numWarps > 32 || (numWarps & (numWarps - 1)) !== 0)
      throw new LaunchError(`numWarps must be a power of two from 1 to 32, got ${numWarps}`);
    const numStages = opts.numStages;
    if (numStages !== undefined && (!Number.isInteger(numStages) || numStages < 1 || numStages > 8))
      throw new LaunchError(`numStages must be an integer from 1 to 8, got ${String(numStages)}`);
    const minBlocks = opts.minBlocksPerSM;
    if (minBlocks !== undefined && (!Number.isInteger(minBlocks) || minBlocks < 1 || minBlocks > 32))
      throw new LaunchError(`minBlocksPerSM must be an integer from 1 to 32, got ${String(minBlocks)}`);
    // The source hash is the file's: the kernel's name tells apart the kernels of one file.
    const key = `${this.name}|${this.sourceHash}|${binding.signature}|${device.target}|warps=${numWarps}` +
      `${numStages === undefined ? '' : `|stages=${numStages}`}${minBlocks === undefined ? '' : `|minBlocks=${minBlocks}`}`;
    let compiled = this.cache.get(key);
    if (!compiled) {
      compiled = this.lazilyCompiled(key, binding, opts.dump);
      // A GPU's lowered code may already be on disk: then nothing is parsed or compiled. (The simulator,
      // which has no cache tag, needs the thread program, which the disk does not keep.)
      if (device.target === 'ptx' && device.cacheTag) {
        // What the CUDA device needs of a PtxKernel; the thread program is for the simulator only.
        const hit = diskCache()?.get<Omit<PtxKernel, 'program'>>(this.ptxDiskKey(key, numWarps, device));
        if (hit) compiled.artifacts.set(ptxArtifactKey(numWarps, device.ptxArch?.()), hit);
      }
      this.cache.set(key, compiled);
    }
    return { compiled, binding, device };
  }

  /** The disk key of lowered PTX: the in-memory key, the compiler's fingerprint and the device's tag (GPU architecture, driver). */
  private ptxDiskKey(key: string, numWarps: number, device: Device): string {
    return `ptx|${compilerFingerprint()}|${key}|${numWarps}|${device.cacheTag?.() ?? ''}`;
  }

  /** A compiled variant whose IR is built on first use (a disk-cache hit never needs it). */
  private lazilyCompiled(key: string, binding: Binding, dump: DumpOption | undefined): CompiledKernel {
    let result: ReturnType<typeof compileToIR> | undefined;
    const compile = (): ReturnType<typeof compileToIR> => (result ??= compileToIR(this.definition, binding.params, dump));
    const source = this.sourceText();
    return {
      name: this.name, key, params: binding.params, sourceText: source.text, artifacts: new Map(),
      get module() {
        return compile().module;
      },
      get stages() {
        return compile().stages;
      },
    };
  }

  /** Compiles if needed and runs the kernel over `grid`. */
  launch(opts: LaunchOptions, ...args: LaunchArgs<Parameters<F>>): void {
    const { compiled, binding, device } = this.specialize(opts, ...args);
    const grid = normalizeGrid(typeof opts.grid === 'function' ? opts.grid(binding.constexprs) : opts.grid);
    if (grid.some((g) => g === 0)) return;
    const numWarps = opts.numWarps ?? 4;
    const pkey = ptxArtifactKey(numWarps, device.ptxArch?.());
    const onDisk = compiled.artifacts.has(pkey);
    device.launch({ kernel: compiled, grid, args: binding.args, numWarps, numStages: opts.numStages, minBlocksPerSM: opts.minBlocksPerSM });
    // Keep the PTX the CUDA device lowered for the next process.
    if (device.target === 'ptx' && device.cacheTag && !onDisk) {
      const ptx = compiled.artifacts.get(pkey) as PtxKernel | undefined;
      if (ptx) {
        const { program: _program, ...portable } = ptx;
        diskCache()?.put(this.ptxDiskKey(compiled.key, numWarps, device), portable);
      }
    }
  }

  /** Number of compiled variants in the in-memory cache. */
  get cacheSize(): number {
    return this.cache.size;
  }
}

export function normalizeGrid(g: Grid): [number, number, number] {
  const arr = typeof g === 'number' ? [g] : [...g];
  if (arr.length < 1 || arr.length > 3) throw new LaunchError(`grid must have 1 to 3 dimensions, got ${arr.length}`);
  const limits = [2 ** 31 - 1, 65535, 65535];
  arr.forEach((x, i) => {
    if (!Number.isInteger(x) || x < 0 || x > limits[i]!) throw new LaunchError(`grid[${i}] must be an integer in [0, ${limits[i]}], got ${x}`);
  });
  return [arr[0] ?? 1, arr[1] ?? 1, arr[2] ?? 1];
}

/** Wraps a kernel function written against `tl`. The function is never called; its source is compiled. */
export function jit<F extends KernelFn>(fn: F, options: JitOptions = {}): JITKernel<F> {
  // Frame 0 is jit() itself; frame 1 is the module that defines the kernel.
  return new JITKernel(fn, options, callerFileFromStack(new Error().stack, 1));
}

/** Ceiling division for grid sizes. */
export function cdiv(a: number, b: number): number {
  return Math.ceil(a / b);
}
