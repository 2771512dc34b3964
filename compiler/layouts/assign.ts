// Layout assignment. Today every value gets the default blocked layout of its shape (vectors of
// 16 bytes of f32 along the last axis, lanes along it, warps along the first axis); values of one
// shape therefore share a layout, elementwise ops never convert, and the ops that move elements
// between threads decide locally whether they need shared memory. The layout is recorded in each
// value's `layout` slot.
import type { Func, Value } from '../ir/ir.js';
import { walkOps } from '../ir/ir.js';
import { blockedLayout, defaultBlockedParams, type DistributedLayout } from './layout.js';

const cache = new Map<string, DistributedLayout>();

export function defaultLayout(shape: readonly number[], threads: number): DistributedLayout {
  const key = `${shape.join('x')}@${threads}`;
  let l = cache.get(key);
  if (!l) {
    l = blockedLayout(shape, defaultBlockedParams(shape, threads / 32, 4));
    cache.set(key, l);
  }
  return l;
}

/** The layout of `v` for a CTA of `threads` threads (assigning the default if none is set). */
export function layoutOf(v: Value, threads: number): DistributedLayout {
  const l = v.layout as DistributedLayout | undefined;
  if (l && l.threads === threads) return l;
  const d = defaultLayout(v.type.shape, threads);
  v.layout = d;
  return d;
}

export function assignLayouts(kernel: Func, numWarps: number): void {
  const threads = 32 * numWarps;
  for (const p of kernel.params) layoutOf(p.value, threads);
  walkOps(kernel.body, (op) => {
    for (const r of op.results) layoutOf(r, threads);
    for (const region of op.regions) for (const a of region.args) layoutOf(a, threads);
  });
}
