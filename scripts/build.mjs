// Bundles tilejit into dist/ with esbuild: the library (dist/index.js), the CLI (dist/cli.js) and the
// esbuild plugin (dist/esbuild-plugin.js). ESM for Node 20; dependencies (ts-morph) stay external,
// so that the package's own dependency is used instead of a second copy. Run: npm run build.
import { build } from 'esbuild';
import { chmod, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outdir = join(root, 'dist');

const common = {
  absWorkingDir: root,
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: true,
  // Keep every package in node_modules (ts-morph, node builtins) out of the bundle.
  packages: 'external',
  logLevel: 'info',
};

await rm(outdir, { recursive: true, force: true });
await Promise.all([
  build({ ...common, entryPoints: { index: 'index.ts' }, outdir }),
  build({ ...common, entryPoints: { cli: 'compiler/cli.ts' }, outdir, banner: { js: '#!/usr/bin/env node' } }),
  build({ ...common, entryPoints: { 'esbuild-plugin': 'compiler/source/esbuild-plugin.ts' }, outdir }),
]);
// The bin must be executable when run from a checkout (npm sets the mode only when installing).
await chmod(join(outdir, 'cli.js'), 0o755);
