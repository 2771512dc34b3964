// ts-morph, loaded on first use. ts-morph carries the TypeScript compiler, which is most of tilejit's
// load time (about 0.3 s); it is needed only to parse a kernel, so importing tilejit does not load it,
// and a launch whose kernel is in the disk cache never does. The frontend takes the values it uses
// (Node, SyntaxKind, Project) from here: each forwards to ts-morph's, loaded at the first access.
import { createRequire } from 'node:module';
import type * as TsMorph from 'ts-morph';
import type { ts } from 'ts-morph';

let loaded: typeof TsMorph | undefined;

/** ts-morph itself, required on first use. */
export function tsMorph(): typeof TsMorph {
  if (!loaded) {
    // A literal require('ts-morph') is what esbuild bundles (evaluated only here) in self-contained
    // bundles. Where it cannot run (ES modules under Node, tsx or vitest; dist/, which keeps ts-morph
    // external) it is resolved from this file. ts-morph is CommonJS: both give the one instance in
    // require's cache, the one a static import would give.
    try {
      loaded = require('ts-morph') as typeof TsMorph;
    } catch (e) {
      if (typeof import.meta.url !== 'string') throw e;
      loaded = createRequire(import.meta.url)('ts-morph') as typeof TsMorph;
    }
  }
  return loaded;
}

/** Whether ts-morph (and the TypeScript compiler) have been loaded in this process. */
export function isTsMorphLoaded(): boolean {
  return loaded !== undefined;
}

/** A table built from ts-morph's values (SyntaxKind keys) on first use. */
export function lazyTable<T extends object>(make: () => T): T {
  let table: T | undefined;
  return forwarding(() => (table ??= make()));
}

/** An object that forwards property reads, `new` and `in` to the value `get` returns on first use. */
function forwarding<T extends object>(get: () => T): T {
  // A function target so that `new Project(...)` reaches the construct trap.
  return new Proxy(function lazyTsMorph() {} as unknown as T, {
    get(_target, prop) {
      const real = get();
      const v = Reflect.get(real, prop) as unknown;
      return typeof v === 'function' && prop !== 'prototype' && prop !== 'constructor' ? (v as (...a: unknown[]) => unknown).bind(real) : v;
    },
    has: (_target, prop) => Reflect.has(get(), prop),
    construct: (_target, args) => Reflect.construct(get() as unknown as new (...a: unknown[]) => object, args) as T,
  });
}

export type Node<NodeType extends ts.Node = ts.Node> = TsMorph.Node<NodeType>;
export const Node: typeof TsMorph.Node = forwarding(() => tsMorph().Node);
export type SyntaxKind = TsMorph.SyntaxKind;
export const SyntaxKind: typeof TsMorph.SyntaxKind = forwarding(() => tsMorph().SyntaxKind);
export type Project = TsMorph.Project;
export const Project: typeof TsMorph.Project = forwarding(() => tsMorph().Project);
