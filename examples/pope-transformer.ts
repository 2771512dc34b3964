// A small causal transformer (2 layers, PoPE attention through the op layer, seeded random weights)
// that generates tokens greedily with a KV cache, and checks that every cached step gives the logits of
// recomputing the whole sequence without a cache. `npx tsx examples/pope-transformer.ts [device]`.
import { Tensor, PoPE, flashAttnWithPope, type TensorDevice } from '../index.js';

const device = (process.argv[2] ?? 'cpu') as TensorDevice;
const VOCAB = 13, DIM = 16, HEADS = 2, HEAD_DIM = DIM / HEADS, LAYERS = 2;

// Seeded weights (mulberry32), scaled like a fan-in initialisation.
let seed = 7;
const rand = (): number => {
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296 - 0.5;
};
const matrix = (rows: number, cols: number): Float64Array => Float64Array.from({ length: rows * cols }, () => (2 * rand()) / Math.sqrt(rows));
const embed = matrix(VOCAB, DIM);
const layers = Array.from({ length: LAYERS }, () => ({
  wq: matrix(DIM, DIM), wk: matrix(DIM, DIM), wv: matrix(DIM, DIM), wo: matrix(DIM, DIM),
  w1: matrix(DIM, 2 * DIM), w2: matrix(2 * DIM, DIM), pope: new PoPE(HEAD_DIM, { heads: HEADS, biasUniformInit: true, seed: 3, device }),
}));

/** x [n, a] @ w [a, b]. */
function matmul(x: Float64Array, n: number, w: Float64Array, a: number, b: number): Float64Array {
  const out = new Float64Array(n * b);
  for (let i = 0; i < n; i++) for (let k = 0; k < a; k++) for (let j = 0; j < b; j++) out[i * b + j]! += x[i * a + k]! * w[k * b + j]!;
  return out;
}
function rmsNorm(x: Float64Array, n: number): Float64Array {
  const out = new Float64Array(x.length);
  for (let i = 0; i < n; i++) {
    let ss = 0;
    for (let d = 0; d < DIM; d++) ss += x[i * DIM + d]! ** 2;
    const r = 1 / Math.sqrt(ss / DIM + 1e-6);
    for (let d = 0; d < DIM; d++) out[i * DIM + d] = x[i * DIM + d]! * r;
  }
  return out;
}
/** [n, HEADS·HEAD_DIM] rows to a (1, heads, n, head_dim) f32 tensor. */
const toHeads = (x: Float64Array, n: number): Tensor => {
  const out = new Float64Array(x.length);
  for (let i = 0; i < n; i++) for (let h = 0; h < HEADS; h++) for (let d = 0; d < HEAD_DIM; d++) out[(h * n + i) * HEAD_DIM + d] = x[i * DIM + h * HEAD_DIM + d]!;
  return Tensor.from(out, { shape: [1, HEADS, n, HEAD_DIM], dtype: 'f32', device });
};
const fromHeads = (x: Float64Array, n: number): Float64Array => {
  const out = new Float64Array(x.length);
  for (let i = 0; i < n; i++) for (let h = 0; h < HEADS; h++) for (let d = 0; d < HEAD_DIM; d++) out[i * DIM + h * HEAD_DIM + d] = x[(h * n + i) * HEAD_DIM + d]!;
  return out;
};

interface Cache { k: Float64Array[]; v: Float64Array[] } // per layer: keys/values of the positions so far, [n, DIM]

/** Logits of the last of `tokens` (the new ones: all of them without a cache, or the appended ones with one). */
async function forward(tokens: readonly number[], cache?: Cache): Promise<Float64Array> {
  const n = tokens.length;
  let x = new Float64Array(n * DIM);
  tokens.forEach((t, i) => x.set(embed.subarray(t * DIM, (t + 1) * DIM), i * DIM));
  for (const [l, L] of layers.entries()) {
    const h = rmsNorm(x, n);
    let k = matmul(h, n, L.wk, DIM, DIM), v = matmul(h, n, L.wv, DIM, DIM);
    if (cache) {
      const joinRows = (old: Float64Array | undefined, add: Float64Array): Float64Array => Float64Array.of(...(old ?? []), ...add);
      k = cache.k[l] = joinRows(cache.k[l], k);
      v = cache.v[l] = joinRows(cache.v[l], v);
    }
    const nk = k.length / DIM;
    // queries take the last n of the nk positions; causal masks align bottom-right
    const att = flashAttnWithPope(toHeads(matmul(h, n, L.wq, DIM, DIM), n), toHeads(k, nk), toHeads(v, nk), { posEmb: L.pope.forward(nk), causal: true });
    const o = matmul(fromHeads(await att.toArray(), n), n, L.wo, DIM, DIM);
    x = x.map((xi, i) => xi + o[i]!);
    const ff = matmul(rmsNorm(x, n), n, L.w1, DIM, 2 * DIM).map((z) => z / (1 + Math.exp(-z))); // SiLU
    const down = matmul(ff, n, L.w2, 2 * DIM, DIM);
    x = x.map((xi, i) => xi + down[i]!);
  }
  return matmul(rmsNorm(x, n).subarray((n - 1) * DIM), 1, embed.map((_, i) => embed[(i % VOCAB) * DIM + Math.floor(i / VOCAB)]!), DIM, VOCAB); // tied output embedding
}

const argmax = (a: Float64Array): number => a.reduce((best, v, i) => (v > a[best]! ? i : best), 0);

const prompt = [1, 5, 2];
const cache: Cache = { k: [], v: [] };
const tokens = [...prompt];
let logits = await forward(prompt, cache);
let worst = 0;
for (let step = 0; step < 6; step++) {
  const full = await forward(tokens); // uncached recomputation of the whole sequence
  worst = Math.max(worst, ...full.map((z, i) => Math.abs(z - logits[i]!) / (1 + Math.abs(z))));
  if (argmax(full) !== argmax(logits)) throw new Error(`step ${step}: cached generation chose ${argmax(logits)}, recomputation ${argmax(full)}`);
  tokens.push(argmax(logits));
  logits = await forward([tokens.at(-1)!], cache);
}
if (!(worst < 1e-5)) throw new Error(`cached logits differ from recomputed ones by ${worst} (relative)`);
console.log(`device ${device}: generated ${tokens.slice(prompt.length).join(' ')} from prompt ${prompt.join(' ')}; cached = uncached (max relative logit difference ${worst.toExponential(2)})`);
