// `npm start`: compiles the PoPE flash-attention kernel, runs it on the best device present (a CUDA GPU,
// else a WebGPU adapter, else the CPU interpreter), checks it against a float64 reference and prints
// which device ran, the error and the time.
import { defaultDevice, type Device } from '../index.js';
import { initWebGPU, type WebGpuBuffer } from '../runtime/webgpu/index.js';
import { launchPopeFlashAttention, contiguous, type Shape4 } from '../ops/pope-kernels.js';
import * as ref from '../test/reference/reference.js';
import { rng } from '../test/reference/random.js';

/** CUDA when a driver answers; else WebGPU when there is an adapter; else the CPU interpreter. */
async function bestDevice(): Promise<Device> {
  const d = defaultDevice();
  if (d.target !== 'cpu') return d;
  process.env['LP_NUM_THREADS'] ??= '0'; // Dawn + Mesa's llvmpipe crash now and then with llvmpipe's worker threads
  return (await initWebGPU()) ?? d;
}

const device: Device = await bestDevice();
const webgpu = device.target === 'wgsl' ? (device as import('../runtime/webgpu/index.js').WebGpuDevice) : undefined;
const B = 1, H = 4, Nq = 128, Nk = 128, D = 64, rot = 64;
const qs: Shape4 = [B, H, Nq, D], ks: Shape4 = [B, H, Nk, D];
const r = rng(2026);
const q = Float32Array.from(r.array(B * H * Nq * D, -2, 2));
const k = Float32Array.from(r.array(B * H * Nk * D, -2, 2));
const v = Float32Array.from(r.array(B * H * Nk * D, -1, 1));
const freqs = Float32Array.from(ref.popeFreqs({ dim: rot, seqLen: Nk }));
const bias = Float32Array.from(r.array(H * rot, -2 * Math.PI, 0));
const out = new Float32Array(B * H * Nq * D);
// On WebGPU the output is a device buffer, read back asynchronously.
const outBuffer: WebGpuBuffer | undefined = webgpu?.alloc('f32', out.length);

console.log(`tilejit demo: PoPE flash attention, B=${B} H=${H} N=${Nq} D=${D}, causal, f32`);
console.log(`device: ${device.name}`);
const run = async (): Promise<number> => {
  const t0 = performance.now();
  launchPopeFlashAttention(q, qs, contiguous(qs), k, ks, contiguous(ks), v, contiguous(ks), freqs, bias, outBuffer ?? out, contiguous(qs), { rotateDim: rot, causal: true, device });
  if (outBuffer) await outBuffer.readInto(out); // waits for the launch (on WebGPU, the shader compiles then)
  return performance.now() - t0;
};
const first = await run(); // includes parsing and compiling the kernel
const second = await run();
const want = ref.popeFlashAttention(Float64Array.from(q), qs, Float64Array.from(k), ks, Float64Array.from(v), ks, Float64Array.from(freqs), Float64Array.from(bias), { rotateDim: rot, causal: true });
let maxErr = 0;
for (let i = 0; i < want.length; i++) maxErr = Math.max(maxErr, Math.abs(out[i]! - want[i]!));
console.log(`first call (compile + run): ${first.toFixed(0)} ms; second call (cached): ${second.toFixed(0)} ms`);
console.log(`max abs error vs float64 reference: ${maxErr.toExponential(2)}`);
if (!(maxErr < 1e-4)) {
  console.error('FAILED: the result does not match the reference');
  process.exit(1);
}
console.log(`OK (ran on ${device.name})`);
