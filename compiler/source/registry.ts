// Kernel source texts embedded by the esbuild plugin, for bundles where the original .ts files are absent.
// A plain global map, so that bundled modules register without importing the compiler.

const KEY = '__tilejitSources';
type Registry = Map<string, string>;

export function registeredSources(): Registry {
  const g = globalThis as unknown as Record<string, Registry | undefined>;
  return (g[KEY] ??= new Map());
}

/** The statement the esbuild plugin prepends to each module that defines kernels. */
export function registrationSnippet(file: string, text: string): string {
  return `;(globalThis.${KEY} ??= new Map()).set(${JSON.stringify(file)}, ${JSON.stringify(text)});\n`;
}
