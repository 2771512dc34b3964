// `npm run test:gpu`: on a CUDA machine, runs the CUDA runtime checks, every sample-kernel test with
// TILEJIT_TEST_DEVICES=cuda (the same test files vitest runs, through a small vitest shim when bundled),
// and times each sample kernel with CUDA events. Prints a summary and writes gpu-report.json to $OUT
// (or the working directory).
import { writeFileSync, existsSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';

process.env['TILEJIT_TEST_DEVICES'] ??= 'cuda';
// The bundle aliases 'vitest' to ./vitest-shim.ts, which has the runner.
const { runRegistered } = (await import('vitest')) as unknown as typeof import('./vitest-shim.js');
const { runCudaRuntimeChecks } = await import('./cuda-runtime.gpu.js');
const { cudaDevice, timeLaunches, liveAllocations, isCudaAvailable } = await import('../../runtime/cuda/index.js');
const { driverVersion } = await import('../../runtime/cuda/driver.js');
await import('../vector-add.test.js');
await import('../kernels-basic.test.js');
await import('../kernels-pope.test.js');
await import('../language.test.js');
await import('../kernels-rope.test.js');
// The op layer on the GPU: golden parity, float64 references and the reference libraries' bugs.
await import('../ops-pope.test.js');
await import('../ops-rope.test.js');
await import('../ops-rope-attention.test.js');
// Hopper's wgmma products against float64 references.
await import('../wgmma.test.js');
const { timeSampleKernels } = await import('./timings.js');

const report: Record<string, unknown> = { date: new Date().toISOString(), devices: process.env['TILEJIT_TEST_DEVICES'] };
const cuda = isCudaAvailable();
const runtimeChecks: { name: string; ok: boolean; detail?: string }[] = [];
if (cuda) {
  const props = cudaDevice(0).properties;
  report['gpu'] = props.name;
  report['driverVersion'] = driverVersion();
  report['computeCapability'] = `${props.major}.${props.minor}`;
  console.log(`GPU: ${props.name} (sm_${props.major}${props.minor}), driver API ${driverVersion()}`);
  await runCudaRuntimeChecks((name, ok, detail) => {
    runtimeChecks.push({ name, ok, detail });
    console.log(`${ok ? 'PASS' : 'FAIL'} runtime: ${name}${detail ? ` (${detail})` : ''}`);
  });
} else console.log('no CUDA driver: skipping the runtime checks and timings');
report['runtimeChecks'] = runtimeChecks;

// Only the device-parametrized tests ("on cuda > ..."); the rest are host-side checks.
const onDevice = new RegExp(`\\bon (${(process.env['TILEJIT_TEST_DEVICES'] ?? '').split(',').join('|')})\\b`);
const results = await runRegistered(onDevice, (r) => console.log(`${r.ok ? 'PASS' : 'FAIL'} ${r.name} [${r.ms.toFixed(0)} ms]${r.error ? `\n     ${r.error}` : ''}`));
report['kernelTests'] = results;

if (cuda && process.env['TILEJIT_SKIP_TIMINGS'] !== '1') {
  const timings = timeSampleKernels(cudaDevice(0), timeLaunches);
  for (const t of timings) console.log(`time ${t.kernel.padEnd(20)} ${t.shape.padEnd(30)} ${t.medianMs.toFixed(4)} ms  ${t.throughput}`);
  report['timings'] = timings;
  report['liveAllocationsAtEnd'] = liveAllocations();
}

// First call in a new process (imports, compile, module load, launch), with an empty and then a warm
// disk cache: the bundled demo run twice against a fresh cache directory.
const demo = fileURLToPath(new URL('./demo.mjs', import.meta.url));
if (cuda && existsSync(demo)) {
  const cacheDir = mkdtempSync(join(tmpdir(), 'tilejit-cold-'));
  const coldStarts = ['empty', 'warm'].map((state) => {
    const t0 = performance.now();
    const out = execFileSync(process.execPath, [demo], { encoding: 'utf8', env: { ...process.env, TILEJIT_CACHE_DIR: cacheDir } });
    const wall = performance.now() - t0;
    const first = Number(/first call \(compile \+ run\): (\d+) ms/.exec(out)?.[1]);
    console.log(`cold start, ${state} disk cache: first call ${first} ms, whole process ${wall.toFixed(0)} ms`);
    return { cache: state, firstCallMs: first, processMs: wall };
  });
  report['coldStarts'] = coldStarts;
}

const passed = results.filter((r) => r.ok).length + runtimeChecks.filter((r) => r.ok).length;
const total = results.length + runtimeChecks.length;
console.log(`\n${passed}/${total} passed (${results.length} kernel tests, ${runtimeChecks.length} runtime checks)`);
const out = join(process.env['OUT'] ?? '.', 'gpu-report.json');
writeFileSync(out, JSON.stringify(report, null, 2));
console.log(`report: ${out}`);
process.exit(passed === total ? 0 : 1);
