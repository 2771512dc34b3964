// Measures how long `import('tilejit')` takes in a fresh Node process, for the two bundled forms of the
// package entry: dist-like (dependencies external, as scripts/build.mjs builds it) and self-contained
// (every dependency bundled but koffi and webgpu, as the device bundle is). Also reports whether the
// TypeScript compiler (ts-morph) was evaluated by the import. Run: node scripts/import-time.mjs [runs]
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const runs = Number(process.argv[2] ?? 5);
// Inside the package (node_modules/.cache) so that the external form resolves ts-morph as a user's would.
mkdirSync(join(root, 'node_modules', '.cache'), { recursive: true });
const dir = mkdtempSync(join(root, 'node_modules', '.cache', 'tilejit-import-'));
const banner =
  "import { createRequire as __cr } from 'node:module'; import { fileURLToPath as __fu } from 'node:url'; import { dirname as __dn } from 'node:path'; const require = __cr(import.meta.url); const __filename = __fu(import.meta.url); const __dirname = __dn(__filename);";
const forms = {
  external: { packages: 'external' },
  bundled: { external: ['koffi', 'webgpu'], banner: { js: banner } },
};
// The probe: import time, then whether typescript's module was evaluated (ts-morph requires it; its
// bundled copy defines the global `ts` namespace only inside, so look for its side effect instead).
const probe = (file) => `
  const t0 = performance.now();
  const m = await import(${JSON.stringify(file)});
  const ms = performance.now() - t0;
  const loaded = typeof m.isTsMorphLoaded === 'function' ? m.isTsMorphLoaded() : 'unknown';
  console.log(JSON.stringify({ ms, frontendLoaded: loaded }));`;
try {
  for (const [name, opts] of Object.entries(forms)) {
    const outfile = join(dir, name, 'index.mjs');
    await build({ absWorkingDir: root, entryPoints: [join(root, 'index.ts')], outfile, bundle: true, format: 'esm', platform: 'node', target: 'node20', logLevel: 'warning', ...opts });
    const samples = [];
    let loaded;
    for (let i = 0; i < runs; i++) {
      // Run from the package root so that external packages resolve as they would for a user.
      const out = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', probe(outfile)], { cwd: root, encoding: 'utf8' }));
      samples.push(out.ms);
      loaded = out.frontendLoaded;
    }
    samples.sort((a, b) => a - b);
    console.log(`${name.padEnd(9)} import: median ${samples[samples.length >> 1].toFixed(0)} ms (min ${samples[0].toFixed(0)}, max ${samples.at(-1).toFixed(0)}, ${runs} runs); ts-morph loaded by the import: ${loaded}`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
