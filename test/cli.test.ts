// The tilejit CLI, run as users run it: a separate process through tsx.
import { describe, it, expect } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '..');
const TSX = join(ROOT, 'node_modules/.bin/tsx');
const VECTOR_ADD = ['compile', 'kernels/vector-add.ts', '--kernel', 'vectorAdd'];

interface Run {
  status: number;
  stdout: string;
  stderr: string;
}

/** Runs `tsx compiler/cli.ts ...args`; execFileSync throws on a non-zero exit, with the outputs attached. */
function cli(...args: string[]): Run {
  const env = { ...process.env, TILEJIT_DUMP: '', TILEJIT_DUMP_DIR: '' };
  try {
    const stdout = execFileSync(TSX, ['compiler/cli.ts', ...args], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env });
    return { status: 0, stdout, stderr: '' };
  } catch (e) {
    const err = e as { status: number | null; stdout: string; stderr: string };
    return { status: err.status ?? -1, stdout: err.stdout, stderr: err.stderr };
  }
}

describe('tilejit compile', () => {
  it('prints the optimized IR of vectorAdd', () => {
    const r = cli(...VECTOR_ADD, '--target', 'ir', '--signature', '*f32,*f32,*f32,i32', '--constexpr', 'BLOCK=128');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('kernel @vectorAdd(%X: *f32, %Y: *f32, %Z: *f32, %n: i32) {');
    expect(r.stdout).toMatch(/= load .*: <128xf32>/);
    expect(r.stdout).toMatch(/^\s*store /m);
    expect(r.stdout).toContain('arange {start=0, end=128}');
  });

  it('specializes on the signature and the constexprs', () => {
    const r = cli(...VECTOR_ADD, '--signature', '*f16,*f16,*f16,i32', '--constexpr', 'BLOCK=64');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('kernel @vectorAdd(%X: *f16, %Y: *f16, %Z: *f16, %n: i32) {');
    expect(r.stdout).toContain('<64xf16>');
  });

  it('--dump writes every stage to stderr and keeps stdout the plain IR', () => {
    const r = spawnSync(TSX, ['compiler/cli.ts', ...VECTOR_ADD, '--signature', '*f32,*f32,*f32,i32', '--constexpr', 'BLOCK=128', '--dump'], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, TILEJIT_DUMP: '', TILEJIT_DUMP_DIR: '' },
    });
    expect(r.status).toBe(0);
    expect(r.stdout.startsWith('kernel @vectorAdd(')).toBe(true);
    for (const stage of ['inline', 'cse', 'dce']) expect(r.stderr).toContain(`// ---- vectorAdd: after ${stage}`);
  });

  it('rejects a signature with the wrong number of types, clearly', () => {
    const r = cli(...VECTOR_ADD, '--signature', '*f32,*f32,i32', '--constexpr', 'BLOCK=128');
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain("kernel 'vectorAdd' has 4 non-constexpr parameters (X, Y, Z, n)");
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });

  it('rejects an unknown dtype in the signature', () => {
    const r = cli(...VECTOR_ADD, '--signature', '*f32,*f32,*float,i32', '--constexpr', 'BLOCK=128');
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("unknown pointer element type 'float'");
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('asks for missing constexprs', () => {
    const r = cli(...VECTOR_ADD, '--signature', '*f32,*f32,*f32,i32');
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('missing --constexpr BLOCK=<value>');
  });

  it('reports kernel errors with file:line:col and a caret, without a stack trace', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tilejit-cli-'));
    try {
      const file = join(dir, 'bad.ts');
      writeFileSync(file, ["import { jit, tl } from 'tilejit';", 'export const k = jit(function k(X: tl.Ptr, BLOCK: tl.constexpr) {', '  tl.store(X + tl.arange(0, BLOCK), nope);', '});', ''].join('\n'));
      const r = cli('compile', file, '--kernel', 'k', '--signature', '*f32', '--constexpr', 'BLOCK=16');
      expect(r.status).toBe(1);
      expect(r.stderr).toContain(`${file}:3:37`);
      expect(r.stderr).toContain(' 3 |   tl.store(X + tl.arange(0, BLOCK), nope);');
      expect(r.stderr).toMatch(/\|\s+\^~~~/);
      expect(r.stderr).toContain("unknown name 'nope'");
      expect(r.stderr).not.toMatch(/\n\s+at /);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('prints PTX for --target ptx, with the chosen arch and warps', () => {
    const r = cli(...VECTOR_ADD, '--target', 'ptx', '--arch', 'sm_90', '--num-warps', '2', '--signature', '*f32,*f32,*f32,i32', '--constexpr', 'BLOCK=128');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('.target sm_90');
    expect(r.stdout).toContain('.visible .entry vectorAdd(');
    expect(r.stdout).toContain('.maxntid 64, 1, 1');
    expect(r.stdout).toMatch(/ld\.global\.f32/);
    const bad = cli(...VECTOR_ADD, '--target', 'ptx', '--num-warps', '3', '--signature', '*f32,*f32,*f32,i32', '--constexpr', 'BLOCK=128');
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('--num-warps must be a power of two');
  });

  it('prints the usage for unknown flags and missing arguments (exit 2)', () => {
    for (const args of [[...VECTOR_ADD, '--bogus'], ['compile', 'kernels/vector-add.ts'], ['compile'], ['build'], []]) {
      const r = cli(...args);
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stderr).toContain('Usage: tilejit compile');
    }
  });

  it('--help prints the usage with an example', () => {
    const r = cli('--help');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('Usage: tilejit compile <file.ts> --kernel <name>');
    expect(r.stdout).toContain("--signature '*f32,*f32,*f32,i32' --constexpr BLOCK=128");
  });
});
