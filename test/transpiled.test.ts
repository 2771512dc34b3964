// The compiler reads kernel *source*, which transpiled code has lost. This checks that vectorAdd compiles
// to the same IR and computes the same z = x + y however the calling code runs: (a) under vitest,
// (b) under tsx, (c) as an esbuild bundle made with tilejit's plugin, run where the original .ts files
// cannot be read; and (d) that a bundle made without the plugin fails with an error that says what to do.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { build, type BuildOptions } from 'esbuild';
import { tilejitSources } from '../compiler/source/esbuild-plugin.js';
import { runVectorAdd, type VectorAddRun } from './fixtures/run-vector-add.js';

const ROOT = resolve(import.meta.dirname, '..');
const FIXTURE = join(ROOT, 'test/fixtures/run-vector-add.ts');
const TSX = join(ROOT, 'node_modules/.bin/tsx');
const NODE_MODULES = join(ROOT, 'node_modules');

let tmp = '';

/** Bundles the fixture into the temp dir. ts-morph stays external and is found through NODE_PATH. */
async function bundle(name: string, options: Partial<BuildOptions>): Promise<string> {
  const outfile = join(tmp, name);
  await build({
    entryPoints: [FIXTURE],
    absWorkingDir: ROOT,
    bundle: true,
    // CommonJS because ESM resolution ignores NODE_PATH; the library's code is the same either way.
    format: 'cjs',
    platform: 'node',
    target: 'node20',
    external: ['ts-morph'],
    outfile,
    logLevel: 'silent',
    ...options,
  });
  return outfile;
}

/** Node's flag for its permission model: --permission from Node 22, --experimental-permission on 20. */
const PERMISSION_FLAG = process.allowedNodeEnvironmentFlags.has('--permission') ? '--permission' : '--experimental-permission';

/** Silences only the permission model's "experimental" notice (the flag exists from Node 20.11). */
const QUIET = process.allowedNodeEnvironmentFlags.has('--disable-warning') ? ['--disable-warning=ExperimentalWarning'] : [];

/** Runs node in the temp dir, allowed to read only the temp dir and the repo's node_modules (for ts-morph). */
function nodeSandboxed(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [...QUIET, PERMISSION_FLAG, `--allow-fs-read=${tmp}`, `--allow-fs-read=${NODE_MODULES}`, ...args], {
    cwd: tmp,
    encoding: 'utf8',
    env: { ...process.env, NODE_PATH: NODE_MODULES, TILEJIT_RUN_VECTOR_ADD: '1', NODE_OPTIONS: '' },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function parseRun(stdout: string): VectorAddRun {
  const parsed = JSON.parse(stdout) as VectorAddRun | { error: { name: string; message: string } };
  if ('error' in parsed) throw new Error(`${parsed.error.name}: ${parsed.error.message}`);
  return parsed;
}

function expectSum(run: VectorAddRun): void {
  expect(run.z).toHaveLength(1000);
  for (let i = 0; i < run.z.length; i++) if (run.z[i] !== Math.fround(run.x[i]! + run.y[i]!)) expect.fail(`z[${i}] = ${run.z[i]}, want ${Math.fround(run.x[i]! + run.y[i]!)}`);
}

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'tilejit-transpiled-'));
});
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('vectorAdd gives the same result however the caller was transpiled', () => {
  const runs: Record<'vitest' | 'tsx' | 'bundle', VectorAddRun | undefined> = { vitest: undefined, tsx: undefined, bundle: undefined };

  it('(a) under vitest', () => {
    runs.vitest = runVectorAdd();
    expect(runs.vitest.sourceFile).toBe(join(ROOT, 'kernels/vector-add.ts'));
    expectSum(runs.vitest);
  });

  it('(b) under tsx', () => {
    const stdout = execFileSync(TSX, [FIXTURE], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, TILEJIT_RUN_VECTOR_ADD: '1' } });
    runs.tsx = parseRun(stdout);
    expect(runs.tsx.sourceFile).toBe(join(ROOT, 'kernels/vector-add.ts'));
    expectSum(runs.tsx);
  });

  it('(c) as an esbuild bundle with tilejitSources(), without the original files', async () => {
    // The plugin turns on keepNames itself, so that the kernel function keeps its name.
    const file = await bundle('with-plugin.cjs', { plugins: [tilejitSources({ root: ROOT })] });
    expect(readFileSync(file, 'utf8')).toContain('.set("kernels/vector-add.ts", ');
    expect(existsSync(join(tmp, 'kernels'))).toBe(false);
    // The sandbox really cannot read the repo's sources.
    const probe = nodeSandboxed(['-e', `require('fs').readFileSync(${JSON.stringify(join(ROOT, 'kernels/vector-add.ts'))})`]);
    expect(probe.status).not.toBe(0);
    expect(probe.stderr).toContain('ERR_ACCESS_DENIED');

    const r = nodeSandboxed([file]);
    expect(r.stderr).not.toMatch(/Error/);
    runs.bundle = parseRun(r.stdout);
    expect(r.status).toBe(0);
    // The root-relative name the plugin recorded: the source came from the bundle itself.
    expect(runs.bundle.sourceFile).toBe('kernels/vector-add.ts');
    expectSum(runs.bundle);
  });

  it('all three compile the same IR and compute the same z', () => {
    const { vitest, tsx, bundle: bundled } = runs;
    if (!vitest || !tsx || !bundled) return expect.fail('an earlier run failed');
    expect(vitest.ir).toContain('kernel @vectorAdd(%X: *f32, %Y: *f32, %Z: *f32, %n: i32)');
    expect(tsx.ir).toBe(vitest.ir);
    expect(bundled.ir).toBe(vitest.ir);
    expect(tsx.x).toEqual(vitest.x);
    expect(bundled.x).toEqual(vitest.x);
    expect(tsx.z).toEqual(vitest.z);
    expect(bundled.z).toEqual(vitest.z);
  });

  it('(d) a bundle without the plugin fails, naming the kernel and the esbuild plugin', async () => {
    const file = await bundle('no-plugin.cjs', { keepNames: true });
    expect(readFileSync(file, 'utf8')).not.toContain('__tilejitSources ??=');
    const r = nodeSandboxed([file]);
    expect(r.status).toBe(1);
    const { error } = JSON.parse(r.stdout) as { error: { name: string; message: string } };
    expect(error.name).toBe('CompilationError');
    // The caller is the bundle (a .cjs file), so there is no .ts file to fall back on.
    expect(error.message).toContain(`cannot find the TypeScript source of kernel 'vectorAdd' (called from ${file})`);
    expect(error.message).toContain("esbuild plugin (tilejit/esbuild-plugin)");
  });

});
