// esbuild plugin: embeds the TypeScript source of every module that calls jit(), so that a bundle can
// compile its kernels where the original files are not at hand. Use: plugins: [tilejitSources()].
import { readFile } from 'node:fs/promises';
import { relative } from 'node:path';
import { registrationSnippet } from './registry.js';

interface MinimalPlugin {
  name: string;
  setup(build: {
    initialOptions: { keepNames?: boolean };
    onLoad(
      options: { filter: RegExp },
      callback: (args: { path: string }) => Promise<{ contents: string; loader: 'ts' | 'tsx' } | undefined>,
    ): void;
  }): void;
}

export function tilejitSources(options: { root?: string } = {}): MinimalPlugin {
  const root = options.root ?? process.cwd();
  return {
    name: 'tilejit-sources',
    setup(build) {
      // Kernels are found by their function's name; bundling must not rename them (vectorAdd → vectorAdd2).
      build.initialOptions.keepNames = true;
      build.onLoad({ filter: /\.[cm]?tsx?$/ }, async ({ path }) => {
        if (path.includes('node_modules')) return undefined;
        const text = await readFile(path, 'utf8');
        // Modules that define kernels, and modules of helpers written in the kernel language (they import tl).
        if (!/\bjit\s*\(\s*function\b|\bjit\s*\(\s*[A-Za-z_$][\w$]*\s*[,)]|\bimport\s*\{[^}]*\btl\b[^}]*\}\s*from/.test(text)) return undefined;
        const file = relative(root, path).split('\\').join('/');
        return { contents: registrationSnippet(file, text) + text, loader: path.endsWith('x') ? 'tsx' : 'ts' };
      });
    },
  };
}
