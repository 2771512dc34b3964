// One first call in a new process, for bench/run.ts's cold-start rows: import tilejit, build PoPE
// attention inputs, run flashAttnWithPope once and wait for it. Prints one JSON line: the time from the
// process's start to the end of the imports, of the first call (compile or disk-cache hit, module load,
// launch, wait) and of the whole. Run with an empty and then a warm TILEJIT_CACHE_DIR.
// Usage: cold-start [--device cuda|cpu|ptx-sim] [--quick]
const ready = performance.now(); // performance.now() counts from the process's start: this is the import time
const { Tensor, PoPE, flashAttnWithPope, isTsMorphLoaded } = await import('../index.js');
const imported = performance.now();
const argv = process.argv.slice(2);
const device = (argv.includes('--device') ? argv[argv.indexOf('--device') + 1] : 'cuda') as 'cuda' | 'cpu' | 'ptx-sim';
const quick = argv.includes('--quick');
const [B, H, N, D] = quick ? [1, 2, 16, 16] : [1, 16, 1024, 64];
const q = Tensor.rand([B, H, N, D], { dtype: 'bf16', seed: 1, device });
const k = Tensor.rand([B, H, N, D], { dtype: 'bf16', seed: 2, device });
const v = Tensor.rand([B, H, N, D], { dtype: 'bf16', seed: 3, device });
const posEmb = new PoPE(D, { heads: H, device }).forward(N);
if (device.startsWith('cuda')) {
  const { cudaDevice } = await import('../runtime/cuda/index.js');
  cudaDevice(0).synchronize();
}
const t0 = performance.now();
const out = flashAttnWithPope(q, k, v, { posEmb, causal: true });
const first = await out.toArray(); // waits for the result
const t1 = performance.now();
console.log(JSON.stringify({
  startupMs: ready, importMs: imported - ready, firstCallMs: t1 - t0, totalMs: t1, tsMorphLoaded: isTsMorphLoaded(),
  finite: first.every((x) => Number.isFinite(x)), shape: [B, H, N, D],
}));
