// Builds .device/: everything `npm run test:gpu` needs on a CUDA machine without Node.js or
// node_modules (shared/device/README.md): one esbuild bundle of test/gpu/run.ts (kernel sources
// embedded by the tilejit plugin, vitest replaced by a small shim), koffi with only its linux-x64
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
  entryPoints: { 'gpu-tests': join(root, 'test/gpu/run.ts'), demo: join(root, 'examples/demo.ts') },
  outdir: out,
  outExtension: { '.js': '.mjs' },
  splitting: true, // the compiler and ts-morph are shared by both entry points
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  external: ['koffi'],
  alias: { vitest: join(root, 'test/gpu/vitest-shim.ts') },
  plugins: [tilejitSources({ root })],
  // ts-morph is CommonJS: give the ESM bundle require, __filename and __dirname.
  banner: {
    js: "import { createRequire as __cr } from 'node:module'; import { fileURLToPath as __fu } from 'node:url'; import { dirname as __dn } from 'node:path'; const require = __cr(import.meta.url); const __filename = __fu(import.meta.url); const __dirname = __dn(__filename);",
  },
  logLevel: 'warning',
});

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
writeFileSync(join(out, 'README.txt'), 'Built by scripts/device-bundle.mjs. Run: node .device/gpu-tests.mjs (tests) or node .device/demo.mjs (npm start)\n');
console.log(`.device/ is ${(size(out) / 2 ** 20).toFixed(1)} MiB`);
