// The benchmark harness's code paths on the CPU device with tiny shapes (bench/run.ts --quick): every
// workload runs, the JSON and the SVG chart are written, and a failing PyTorch child is reported, not
// fatal. Also the op layer's `out` option that the harness times with, and the chart on its own.
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tensor, PoPE, flashAttnWithPope, computeAttnSimilarity } from '../index.js';
import { chartSvg } from '../bench/chart.js';

describe('bench/run.ts', () => {
  it('runs every quick workload on the CPU and writes a table, JSON and an SVG chart', () => {
    const out = mkdtempSync(join(tmpdir(), 'tj-bench-'));
    const tsx = join(process.cwd(), 'node_modules', '.bin', 'tsx');
    // PATH without python3 would hide the torch path; with it, a machine without torch reports that.
    const p = spawnSync(tsx, ['bench/run.ts', '--device', 'cpu', '--quick', '--no-cold', '--out', out, '--budget', '300'], { encoding: 'utf8' });
    expect(p.status, p.stderr).toBe(0);
    expect(p.stdout).toContain('| workload | tilejit |');
    const files = readdirSync(out);
    const json = files.find((f) => f.endsWith('.json'))!, svg = files.find((f) => f.endsWith('.svg'))!;
    const report = JSON.parse(readFileSync(join(out, json), 'utf8')) as { rows: { id: string; ok: boolean; error?: string; medianMs?: number }[]; device: string; torch?: { ok: boolean } };
    expect(report.device).toBe('cpu');
    for (const r of report.rows) expect(r, r.error).toMatchObject({ ok: true });
    expect(report.rows.map((r) => r.id)).toContain('similarity');
    expect(report.rows.some((r) => r.id.startsWith('sweep-'))).toBe(true);
    expect(report.torch).toBeDefined(); // ran or reported why not
    const text = readFileSync(join(out, svg), 'utf8');
    expect(text).toMatch(/^<svg /);
    expect(text).toContain('tilejit');
    expect(text).toContain('<polyline');
  });

  it('rejects unknown options, naming them', () => {
    const tsx = join(process.cwd(), 'node_modules', '.bin', 'tsx');
    const p = spawnSync(tsx, ['bench/run.ts', '--devcie', 'cpu'], { encoding: 'utf8' });
    expect(p.status).not.toBe(0);
    expect(p.stderr).toContain("bench: unknown option '--devcie'");
  });
});

describe('out tensors of the PoPE ops', () => {
  const [B, H, N, D] = [1, 2, 16, 16];
  const q = Tensor.rand([B, H, N, D], { dtype: 'f32', seed: 1, device: 'cpu' });
  const k = Tensor.rand([B, H, N, D], { dtype: 'f32', seed: 2, device: 'cpu' });
  const v = Tensor.rand([B, H, N, D], { dtype: 'f32', seed: 3, device: 'cpu' });
  const posEmb = new PoPE(D, { heads: H, device: 'cpu' }).forward(N);

  it('write into the given tensor, with the result of a new one', async () => {
    const fresh = await flashAttnWithPope(q, k, v, { posEmb, causal: true }).toArray();
    const out = Tensor.empty([B, H, N, D], { dtype: 'f32', device: 'cpu' });
    expect(flashAttnWithPope(q, k, v, { posEmb, causal: true, out })).toBe(out);
    expect(await out.toArray()).toEqual(fresh);
    const sim = Tensor.empty([B, H, N, N], { dtype: 'f32', device: 'cpu' });
    expect(computeAttnSimilarity(q, k, posEmb, { out: sim })).toBe(sim);
    expect(await sim.toArray()).toEqual(await computeAttnSimilarity(q, k, posEmb).toArray());
  });

  it('name what is wrong with a bad out', () => {
    expect(() => flashAttnWithPope(q, k, v, { posEmb, out: Tensor.empty([B, H, N, 8], { device: 'cpu' }) })).toThrow('out must have shape [1,2,16,16], got [1,2,16,8]');
    expect(() => flashAttnWithPope(q, k, v, { posEmb, out: Tensor.empty([B, H, N, D], { dtype: 'bf16', device: 'cpu' }) })).toThrow('out must be f32, got bf16');
    expect(() => computeAttnSimilarity(q, k, posEmb, { out: Tensor.empty([B, H, N, N], { device: 'cpu' }).transpose(2, 3) })).toThrow('out must be contiguous');
  });
});

describe('chartSvg', () => {
  it('draws each series with its legend and marks empty ones', () => {
    const svg = chartSvg({
      title: 'T <1>', xLabel: 'N', yLabel: 'TFLOP/s',
      series: [{ name: 'a', points: [[1024, 10], [4096, 30]], color: '#000' }, { name: 'b', points: [], color: '#f00', dashed: true }],
      ceiling: { value: 40, label: 'ceiling' },
    });
    expect(svg).toContain('T &lt;1&gt;');
    expect(svg.match(/<circle/g)!.length).toBe(2);
    expect(svg).toContain('b (no data)');
    expect(svg).toContain('ceiling');
  });
});
