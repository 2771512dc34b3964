// The tilejit command line: compiles one kernel of a .ts file for a given signature and prints the
// result. `tilejit compile kernels/vector-add.ts --kernel vectorAdd --signature '*f32,*f32,*f32,i32' --constexpr BLOCK=128`
import { readFileSync, realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { defineKernel, compileToIR, type BoundParam, type KernelDefinition } from './compile.js';
import { CompilationError } from './frontend/errors.js';
import { printModule } from './ir/printer.js';
import { lowerToPtx } from './backends/ptx/index.js';
import { lowerToWgsl, WgslLoweringError } from './backends/wgsl/index.js';
import { isDType, DTYPES } from './ir/dtype.js';

const TARGETS = ['ir', 'ptx', 'wgsl'] as const;
type Target = (typeof TARGETS)[number];

export const USAGE = `Usage: tilejit compile <file.ts> --kernel <name> [options]

Compiles one kernel of a TypeScript file for one specialization and prints it.

Options:
  --kernel <name>        the kernel function's name (required)
  --target <ir|ptx|wgsl> what to print (default: ir, the optimized block IR)
  --signature '<types>'  comma-separated types of the non-constexpr parameters, in order:
                         '*f32' is a pointer to f32, 'i32' a scalar (dtypes: ${DTYPES.join(', ')})
  --constexpr K=V        value of constexpr parameter K: a number, true/false or a dtype name
                         (repeat for each constexpr parameter)
  --num-warps <n>        warps per program for GPU targets (default 4)
  --arch <sm_80|sm_90|sm_90a>  PTX target architecture (default sm_80; sm_90a runs tensor-core dots as wgmma)
  --dump                 also print the IR after every compiler stage (to stderr)
  -h, --help             show this help

Example:
  tilejit compile kernels/vector-add.ts --kernel vectorAdd \\
    --signature '*f32,*f32,*f32,i32' --constexpr BLOCK=128
`;

/** A mistake on the command line: printed with the usage, exit status 2. */
export class UsageError extends Error {}

export interface CompileCommand {
  readonly file: string;
  readonly kernel: string;
  readonly target: Target;
  readonly signature: readonly string[];
  readonly constexprs: ReadonlyMap<string, number | boolean | string>;
  readonly dump: boolean;
  readonly numWarps: number;
  readonly arch: 'sm_80' | 'sm_90' | 'sm_90a';
}

export type Command = { readonly help: true } | ({ readonly help: false } & CompileCommand);

export function parseCommandLine(argv: readonly string[]): Command {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        kernel: { type: 'string' },
        target: { type: 'string', default: 'ir' },
        signature: { type: 'string' },
        constexpr: { type: 'string', multiple: true, default: [] },
        dump: { type: 'boolean', default: false },
        'num-warps': { type: 'string', default: '4' },
        arch: { type: 'string', default: 'sm_80' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) return { help: true };
  const [command, file, ...rest] = positionals;
  if (command === undefined) throw new UsageError('missing command (only `compile` exists)');
  if (command !== 'compile') throw new UsageError(`unknown command '${command}' (only \`compile\` exists)`);
  if (file === undefined) throw new UsageError('missing the .ts file to compile');
  if (rest.length) throw new UsageError(`unexpected argument '${rest[0]}'`);
  if (!values.kernel) throw new UsageError('missing --kernel <name>');
  const target = values.target as Target;
  if (!TARGETS.includes(target)) throw new UsageError(`unknown target '${values.target}' (expected one of ${TARGETS.join(', ')})`);
  const signature = values.signature === undefined || values.signature.trim() === '' ? [] : values.signature.split(',').map((s) => s.trim());
  const constexprs = new Map<string, number | boolean | string>();
  for (const kv of values.constexpr) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new UsageError(`--constexpr expects K=V, got '${kv}'`);
    const key = kv.slice(0, eq).trim();
    if (constexprs.has(key)) throw new UsageError(`--constexpr ${key} is given twice`);
    constexprs.set(key, parseConstexprValue(key, kv.slice(eq + 1).trim()));
  }
  const numWarps = Number(values['num-warps']);
  if (![1, 2, 4, 8, 16, 32].includes(numWarps)) throw new UsageError(`--num-warps must be a power of two from 1 to 32, got '${values['num-warps']}'`);
  const arch = values.arch as CompileCommand['arch'];
  if (!['sm_80', 'sm_90', 'sm_90a'].includes(arch)) throw new UsageError(`--arch must be sm_80, sm_90 or sm_90a, got '${values.arch}'`);
  return { help: false, file, kernel: values.kernel, target, signature, constexprs, dump: values.dump, numWarps, arch };
}

function parseConstexprValue(key: string, v: string): number | boolean | string {
  if (v === 'true') return true;
  if (v === 'false') return false;
  if (isDType(v)) return v;
  const n = Number(v);
  if (v !== '' && Number.isFinite(n)) return n;
  throw new UsageError(`--constexpr ${key}=${v}: expected a number, true/false or a dtype name (${DTYPES.join(', ')})`);
}

/** Errors in the signature or constexprs, reported against the kernel (exit status 1). */
export class SignatureError extends Error {}

/** Pairs the kernel's declared parameters with the signature's types and the constexpr values. */
export function bindSignature(def: KernelDefinition, signature: readonly string[], constexprs: ReadonlyMap<string, number | boolean | string>): BoundParam[] {
  const runtime = def.params.filter((p) => p.kind !== 'constexpr');
  const declaredConstexprs = def.params.filter((p) => p.kind === 'constexpr').map((p) => p.name);
  const paramList = def.params.map((p) => (p.kind === 'constexpr' ? `${p.name}: constexpr` : p.name)).join(', ');
  if (signature.length !== runtime.length)
    throw new SignatureError(
      `kernel '${def.name}' has ${runtime.length} non-constexpr parameter${runtime.length === 1 ? '' : 's'} (${runtime.map((p) => p.name).join(', ')}), ` +
        `but --signature gives ${signature.length} type${signature.length === 1 ? '' : 's'} ('${signature.join(',')}'); parameters: (${paramList})`,
    );
  for (const k of constexprs.keys())
    if (!declaredConstexprs.includes(k))
      throw new SignatureError(`--constexpr ${k}: kernel '${def.name}' has no constexpr parameter '${k}' (constexprs: ${declaredConstexprs.join(', ') || 'none'})`);
  let i = 0;
  return def.params.map((d): BoundParam => {
    if (d.kind === 'constexpr') {
      const v = constexprs.get(d.name);
      if (v === undefined) throw new SignatureError(`missing --constexpr ${d.name}=<value> for constexpr parameter '${d.name}' of kernel '${def.name}'`);
      return { name: d.name, kind: 'constexpr', value: v };
    }
    const t = signature[i++]!;
    const where = `--signature entry ${i} ('${t}') for parameter '${d.name}'`;
    if (t.startsWith('*')) {
      const pointee = t.slice(1);
      if (!isDType(pointee)) throw new SignatureError(`${where}: unknown pointer element type '${pointee}' (dtypes: ${DTYPES.join(', ')})`);
      if (d.kind === 'scalar') throw new SignatureError(`${where}: parameter '${d.name}' is declared as a ${d.dtype} scalar, not a pointer`);
      if (d.kind === 'ptr' && d.pointee && d.pointee !== pointee)
        throw new SignatureError(`${where}: parameter '${d.name}' is declared Ptr<'${d.pointee}'>`);
      return { name: d.name, kind: 'ptr', pointee };
    }
    if (!isDType(t)) throw new SignatureError(`${where}: unknown type '${t}' (expected a dtype such as i32 or f32, or *dtype for a pointer; dtypes: ${DTYPES.join(', ')})`);
    if (d.kind === 'ptr') throw new SignatureError(`${where}: parameter '${d.name}' is declared as a pointer; write '*${d.pointee ?? t}'`);
    if (d.kind === 'scalar' && d.dtype !== t) throw new SignatureError(`${where}: parameter '${d.name}' is declared as ${d.dtype}`);
    return { name: d.name, kind: 'scalar', dtype: t };
  });
}

/** Runs the CLI; returns the exit status. Output goes through the given writers (tests pass their own). */
export function main(argv: readonly string[], out: (s: string) => void = (s) => process.stdout.write(s), err: (s: string) => void = (s) => process.stderr.write(s)): number {
  let cmd: Command;
  try {
    cmd = parseCommandLine(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    err(`tilejit: ${e.message}\n\n${USAGE}`);
    return 2;
  }
  if (cmd.help) {
    out(USAGE);
    return 0;
  }
  let text: string;
  try {
    text = readFileSync(resolve(cmd.file), 'utf8');
  } catch (e) {
    err(`tilejit: cannot read ${cmd.file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}\n`);
    return 1;
  }
  try {
    const def = defineKernel(cmd.kernel, { file: cmd.file, text });
    const params = bindSignature(def, cmd.signature, cmd.constexprs);
    const { module } = compileToIR(def, params, cmd.dump || undefined);
    if (cmd.target === 'ptx') out(lowerToPtx(module, { numWarps: cmd.numWarps, arch: cmd.arch, dump: cmd.dump || undefined }).ptx);
    // Portable WGSL: without the shader-f16 extension (f16 buffers as halves of u32 words).
    else if (cmd.target === 'wgsl') out(lowerToWgsl(module, { numWarps: cmd.numWarps, dump: cmd.dump || undefined }).wgsl);
    else out(printModule(module));
    return 0;
  } catch (e) {
    if (e instanceof CompilationError || e instanceof SignatureError || e instanceof WgslLoweringError) {
      err(`tilejit: error${e instanceof SignatureError ? ': ' : ' '}${e.message}\n`);
      return 1;
    }
    throw e;
  }
}

// Run when executed directly (tsx compiler/cli.ts, node dist/cli.js, or the `tilejit` bin link),
// not when imported by tests.
if (process.argv[1] && isEntry(process.argv[1])) {
  try {
    process.exitCode = main(process.argv.slice(2));
  } catch (e) {
    // A bug in tilejit itself: keep the stack, it is what a bug report needs.
    process.stderr.write(`tilejit: internal error: ${(e as Error)?.stack ?? String(e)}\n`);
    process.exitCode = 70;
  }
}

function isEntry(argv1: string): boolean {
  try {
    return realpathSync(argv1) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}
