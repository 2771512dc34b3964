// The examples run as users run them (tsx, in a child process) and finish cleanly.
import { describe, it, expect } from 'vitest';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

const root = fileURLToPath(new URL('..', import.meta.url));
const tsx = join(root, 'node_modules', '.bin', 'tsx');
const run = (file: string): string => execFileSync(tsx, [file], { cwd: root, encoding: 'utf8', env: { ...process.env, TILEJIT_DUMP: '' }, timeout: 120_000 });

describe('examples', () => {
  it('the README PoPE/RoPE snippet', () => {
    const out = run('examples/pope-usage.ts');
    expect(out).toMatch(/attention output 1x4x128x64 bf16, mean 0\.\d+/);
    expect(out).toContain('rotated q 1x4x128x64, k 1x4x128x64');
  });
  it('a small causal PoPE transformer: KV-cached generation equals uncached recomputation (cpu)', () => {
    const out = run('examples/pope-transformer.ts');
    expect(out).toMatch(/device cpu: generated( \d+){6} from prompt 1 5 2; cached = uncached/);
  });
  it('the npm start demo', () => {
    const out = run('examples/demo.ts');
    expect(out).toContain('OK');
    expect(out).toMatch(/max abs error vs float64 reference: \d\.\d+e-\d+/);
  });
});
