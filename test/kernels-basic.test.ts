// Softmax, layer norm and matmul kernels in the CPU interpreter against float64 references, on
// random inputs whose sizes are not multiples of the block, in f32, f16 and bf16.
import { describe, it } from 'vitest';
import { rowSoftmax } from '../kernels/softmax.js';
import { layerNorm } from '../kernels/layernorm.js';
import { matmul } from '../kernels/matmul.js';
import { toHost, fromHost, type DType } from '../index.js';
import * as ref from './reference/reference.js';
import { rng } from './reference/random.js';
import { testDevices } from './reference/devices.js';
import { expectClose, F32, type Tolerance } from './reference/compare.js';

/** Inputs rounded to `dtype` as stored, and the same values in float64 for the reference. */
function input(dtype: DType, values: Float64Array) {
  const host = toHost(dtype, values);
  return { arg: { dtype, data: host }, exact: fromHost(dtype, host) };
}
const outTol: Record<'f32' | 'f16' | 'bf16', Tolerance> = {
  f32: F32,
  f16: { rtol: 2e-3, atol: 1e-3 },
  bf16: { rtol: 1.6e-2, atol: 1e-2 },
};
const nextPow2 = (n: number): number => 2 ** Math.ceil(Math.log2(n));

// Every kernel runs on the IR interpreter and through the PTX backend on the thread-level simulator;
// the GPU run sets TILEJIT_TEST_DEVICES=cuda.
describe.each(testDevices())('on %s', (device) => {
  describe.each(['f32', 'f16', 'bf16'] as const)('sample kernels in %s', (dtype) => {
    it('rowSoftmax matches float64 on ragged rows', () => {
      const r = rng(11);
      const rows = 7, cols = 37 + Math.floor(r.uniform(0, 20));
      const x = input(dtype, r.array(rows * cols, -4, 4));
      const y = toHost(dtype, new Float64Array(rows * cols));
      rowSoftmax.launch({ grid: rows, device }, x.arg, { dtype, data: y }, cols, cols, cols, nextPow2(cols));
      expectClose(fromHost(dtype, y), ref.rowSoftmax(x.exact, rows, cols), outTol[dtype], 'softmax');
    });

    it('layerNorm matches float64 with rows longer than the block', () => {
      const r = rng(12);
      const rows = 5, cols = 100 + Math.floor(r.uniform(0, 30));
      const x = input(dtype, r.array(rows * cols, -3, 5));
      const w = input(dtype, r.array(cols, 0.5, 1.5)), b = input(dtype, r.array(cols, -1, 1));
      const y = toHost(dtype, new Float64Array(rows * cols));
      layerNorm.launch({ grid: rows, device }, x.arg, { dtype, data: y }, w.arg, b.arg, cols, cols, 1e-5, 32);
      expectClose(fromHost(dtype, y), ref.layerNorm(x.exact, rows, cols, w.exact, b.exact, 1e-5), outTol[dtype], 'layernorm');
    });

    it('matmul matches float64 on ragged M, N, K and a transposed B', () => {
      const r = rng(13);
      const M = 37, N = 29, K = 45;
      const a = input(dtype, r.array(M * K, -1, 1));
      const bT = input(dtype, r.array(N * K, -1, 1)); // stored [N, K]: B = bT^T read through strides
      const c = new Float32Array(M * N);
      matmul.launch({ grid: [Math.ceil(M / 16), Math.ceil(N / 32)], device }, a.arg, bT.arg, c, M, N, K, K, 1, 1, K, N, 1, 16, 32, 16);
      const b = new Float64Array(K * N);
      for (let k = 0; k < K; k++) for (let n = 0; n < N; n++) b[k * N + n] = bT.exact[n * K + k]!;
      // Products of f16/bf16 inputs are exact in f32; only the f32 accumulation rounds.
      expectClose(c, ref.matmul(a.exact, b, M, K, N), { rtol: 1e-5, atol: 1e-5 }, 'matmul');
    });
  });
});
