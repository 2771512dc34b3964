// Builds .device/: everything `npm run test:gpu` and the benchmark need on a CUDA machine without
// Node.js or node_modules (shared/device/README.md): one esbuild bundle of test/gpu/run.ts, the demo,
// bench/run.ts and bench/cold-start.ts (kernel sources embedded by the tilejit plugin, vitest replaced
// by a small shim), bench/torch-sdpa.py, ts-morph as its own CommonJS file in node_modules (required
// only when a kernel is parsed, so a warm kernel cache never loads it), koffi with only its linux-x64
// native module, and, with --node, a compressed Node binary. Stays under the 64 MiB carry limit.
import { build } from 'esbuild';
import { cpSync, existsSync, mkdirSync, rmSync, statSync, readdirSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, '.device');
// The plugin is bundled from source each time, so the bundle never embeds kernels with a stale plugin.
mkdirSync(out, { recursive: true });
for (const f of readdirSync(out)) if (f.endsWith('.mjs')) rmSync(join(out, f)); // chunks of earlier builds
const pluginFile = join(out, 'esbuild-plugin.mjs');
await build({ entryPoints: [join(root, 'compiler/source/esbuild-plugin.ts')], bundle: true, platform: 'node', format: 'esm', outfile: pluginFile, logLevel: 'silent' });
const { tilejitSources } = await import(pluginFile);

await build({
  entryPoints: {
    'gpu-tests': join(root, 'test/gpu/run.ts'),
    demo: join(root, 'examples/demo.ts'),
    bench: join(root, 'bench/run.ts'),
    'bench-cold': join(root, 'bench/cold-start.ts'),
    'bench-variants': join(root, 'bench/variants.ts'),
  },
  outdir: out,
  outExtension: { '.js': '.mjs' },
  splitting: true, // the compiler and ts-morph are shared by both entry points
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  // ts-morph is required from node_modules on first use (compiler/frontend/ts-morph.ts).
  external: ['koffi', 'ts-morph'],
  alias: { vitest: join(root, 'test/gpu/vitest-shim.ts') },
  plugins: [tilejitSources({ root })],
  // ts-morph is CommonJS: give the ESM bundle require, __filename and __dirname.
  banner: {
    js: "import { createRequire as __cr } from 'node:module'; import { fileURLToPath as __fu } from 'node:url'; import { dirname as __dn } from 'node:path'; const require = __cr(import.meta.url); const __filename = __fu(import.meta.url); const __dirname = __dn(__filename);",
  },
  logLevel: 'warning',
});

// ts-morph (with the TypeScript compiler) as one CommonJS file: loaded only on a kernel-cache miss.
const tsMorphDst = join(out, 'node_modules', 'ts-morph');
rmSync(tsMorphDst, { recursive: true, force: true });
await build({ entryPoints: [join(root, 'node_modules', 'ts-morph')], bundle: true, platform: 'node', target: 'node20', format: 'cjs', outfile: join(tsMorphDst, 'index.js'), logLevel: 'warning' });
writeFileSync(join(tsMorphDst, 'package.json'), JSON.stringify({ name: 'ts-morph', main: 'index.js' }));
cpSync(join(root, 'bench', 'torch-sdpa.py'), join(out, 'torch-sdpa.py'));

// koffi: its JavaScript plus the linux-x64 native module it loads.
const koffiDst = join(out, 'node_modules', 'koffi');
rmSync(koffiDst, { recursive: true, force: true });
cpSync(join(root, 'node_modules', 'koffi'), koffiDst, { recursive: true, filter: (p) => !p.includes('/koffi/doc') && !p.includes('/koffi/vendor') });
const nativeSrc = join(root, 'node_modules', '@koromix', 'koffi-linux-x64');
if (existsSync(nativeSrc)) {
  const nativeDst = join(out, 'node_modules', '@koromix', 'koffi-linux-x64');
  rmSync(nativeDst, { recursive: true, force: true });
  cpSync(nativeSrc, nativeDst, { recursive: true, filter: (p) => !p.includes('musl') });
}

if (process.argv.includes('--node')) {
  const shared = join(root, '..', 'shared', 'device', 'node-xz.sh');
  if (existsSync(shared)) execFileSync('bash', [shared, out], { stdio: 'inherit' });
  else console.warn('no ../shared/device/node-xz.sh: bring a Node binary yourself');
}

const size = (p) => (statSync(p).isDirectory() ? readdirSync(p).reduce((s, f) => s + size(join(p, f)), 0) : statSync(p).size);
writeFileSync(join(out, 'README.txt'), 'Built by scripts/device-bundle.mjs. Run: node .device/gpu-tests.mjs (tests), node .device/demo.mjs (npm start) or node .device/bench.mjs (bench/run.ts)\n');
console.log(`.device/ is ${(size(out) / 2 ** 20).toFixed(1)} MiB`);
