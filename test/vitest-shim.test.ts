// The vitest shim of the bundled GPU run (test/gpu/vitest-shim.ts) registers `each` rows as vitest does:
// array rows spread into the arguments, printf placeholders in the name filled from them.
import { describe as vDescribe, it as vIt, expect as vExpect } from 'vitest';
import * as shim from './gpu/vitest-shim.js';

vDescribe('the GPU run\'s vitest shim', () => {
  vIt('spreads each rows into arguments and fills %s, %i, %d, %f, %j, %% and %# in names (placeholders past the row left as they are), under describe.each', async () => {
    const seen: unknown[][] = [];
    shim.describe.each(['cpu', 'gpu'])('shim-check on %s', (device: string) => {
      shim.it.each([[20, 8], [24.9, 16.5]])('D %i, rot %f, %s left #%#', (D: number, rot: number) => void seen.push([device, D, rot]));
      shim.it.each([[{ a: 1 }, 7]])('%j %d', (o: object, n: number) => void seen.push([device, o, n]));
      shim.it.each(['x'])('one %s and %%', (v: string) => void seen.push([device, v]));
    });
    const results = await shim.runRegistered(/^shim-check/);
    vExpect(results.map((r) => [r.name, r.ok])).toEqual([
      ['shim-check on cpu > D 20, rot 8, %s left #0', true], ['shim-check on cpu > D 24, rot 16.5, %s left #1', true],
      ['shim-check on cpu > {"a":1} 7', true], ['shim-check on cpu > one x and %', true],
      ['shim-check on gpu > D 20, rot 8, %s left #0', true], ['shim-check on gpu > D 24, rot 16.5, %s left #1', true],
      ['shim-check on gpu > {"a":1} 7', true], ['shim-check on gpu > one x and %', true],
    ]);
    vExpect(seen).toEqual([['cpu', 20, 8], ['cpu', 24.9, 16.5], ['cpu', { a: 1 }, 7], ['cpu', 'x'], ['gpu', 20, 8], ['gpu', 24.9, 16.5], ['gpu', { a: 1 }, 7], ['gpu', 'x']]);
  });
});
