// The README's PoPE/RoPE snippet, runnable: `npx tsx examples/pope-usage.ts` (test/examples.test.ts runs it).
import { Tensor, PoPE, flashAttnWithPope, RotaryEmbedding, flashAttnWithRope, applyPopeToQk, tl } from '../index.js';

const q = Tensor.rand([1, 4, 128, 64], { dtype: 'bf16', seed: 1 }); // on CUDA when present
const k = Tensor.rand([1, 4, 128, 64], { dtype: 'bf16', seed: 2 });
const v = Tensor.rand([1, 4, 128, 64], { dtype: 'bf16', seed: 3 });
const pope = new PoPE(64, { heads: 4 });
const out = flashAttnWithPope(q, k, v, { posEmb: pope.forward(128), causal: true }); // enqueued
const values = await out.toArray(); // waits for the result

const [qr, kr] = new RotaryEmbedding(32).rotateQueriesWithCachedKeys(q, k);
const ropeOut = flashAttnWithRope(q, k, v, { rotary: new RotaryEmbedding(32), causal: true }); // rotation fused into attention
// A custom PoPE magnitude written in the kernel language, fused into the kernel; complex (real, imag) output.
const [qc] = applyPopeToQk(pope.forward(128), q, k, { toMagnitude: (x) => tl.exp(x) * 0.5, returnComplex: true });

console.log(`device ${out.device}: attention output ${out.shape.join('x')} ${out.dtype}, mean ${(values.reduce((a, b) => a + b, 0) / values.length).toFixed(4)}`);
console.log(`rotated q ${qr.shape.join('x')}, k ${kr.shape.join('x')}`);
console.log(`RoPE attention ${ropeOut.shape.join('x')}, complex PoPE q ${qc.shape.join('x')}`);
if (!(await ropeOut.toArray()).every((x) => x >= 0 && x <= 1)) throw new Error('RoPE attention outputs outside [0, 1]');
// Softmax weights average v's entries, drawn from [0, 1): outputs stay inside that range.
if (!values.every((x) => x >= 0 && x <= 1)) throw new Error('attention outputs outside [0, 1]');
