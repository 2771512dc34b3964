// PoPE (polar coordinate positional embeddings) with the API of PoPE-pytorch in TypeScript idiom,
// backed by the JIT-compiled kernels on the tensors' device. Frequencies follow PoPE-pytorch:
// inv_freq[c] = theta^(-c/dim) for c < dim (kept in f32, as its buffer is), freqs[n, c] = (pos[n] +
// offset)·inv_freq[c] computed in float64 on the host (never in the tensors' low precision).
import type { DType } from '../compiler/ir/dtype.js';
import { Tensor, type TensorDevice, defaultTensorDevice } from './tensor.js';
import { canonicalDevice } from './storage.js';
import { clampKernel } from '../kernels/elementwise.js';
import { launchPopeApply, launchPopeSimilarity, launchPopeFlashAttention, flashTiling, popeFeatureWidth, popeFeatureDType, type Shape4, type Strides4 } from './pope-kernels.js';
import type { Magnitude } from '../kernels/pope-math.js';
import { decodeApplies, decodeScratchSizes, launchPopeDecode } from './pope-decode.js';

export interface PoPEOptions {
  readonly heads: number;
  readonly theta?: number;
  /** Initialize the key phase bias uniformly in [-2π, 0] (else zeros). */
  readonly biasUniformInit?: boolean;
  /** Custom inverse frequencies, one per rotated dimension. */
  readonly invFreqs?: ArrayLike<number>;
  readonly device?: TensorDevice;
  readonly seed?: number;
}

export interface PosEmb {
  /** [N, dim] phases (f32). */
  readonly freqs: Tensor;
  /** [heads, dim] key phase bias, clamped to [-2π, 0]. */
  readonly bias: Tensor;
}

const TWO_PI = 2 * Math.PI;

function positiveInt(x: unknown, name: string): number {
  if (typeof x !== 'number' || !Number.isInteger(x) || x < 1) throw new TypeError(`${name} must be a positive integer, got ${String(x)}`);
  return x;
}

export class PoPE {
  readonly dim: number;
  readonly heads: number;
  readonly invFreqs: Float64Array;
  /** The raw bias parameter [heads, dim]; forward() returns it clamped. */
  readonly rawBias: Tensor;
  readonly device: TensorDevice;

  constructor(dim: number, options: PoPEOptions) {
    this.dim = positiveInt(dim, 'PoPE dim');
    this.heads = positiveInt(options?.heads, 'PoPE options.heads');
    this.device = canonicalDevice(options.device ?? defaultTensorDevice());
    const theta = options.theta ?? 10000;
    if (options.invFreqs) {
      if (options.invFreqs.length !== dim) throw new RangeError(`PoPE invFreqs must have ${dim} entries (one per dimension), got ${options.invFreqs.length}`);
      this.invFreqs = Float64Array.from(options.invFreqs);
    } else this.invFreqs = Float64Array.from({ length: dim }, (_, c) => Math.fround(theta ** -Math.fround(c / dim)));
    this.rawBias = options.biasUniformInit
      ? Tensor.rand([this.heads, dim], { lo: -TWO_PI, hi: 0, seed: options.seed ?? 0, device: this.device })
      : Tensor.zeros([this.heads, dim], { device: this.device });
  }

  /** Phases for positions 0..n-1 (or the given positions), shifted by `offset`, and the clamped bias. */
  forward(seqLenOrPositions: number | ArrayLike<number>, options: { readonly offset?: number } = {}): PosEmb {
    const offset = options.offset ?? 0;
    const positions = typeof seqLenOrPositions === 'number'
      ? Float64Array.from({ length: positiveInt(seqLenOrPositions, 'seqLen') }, (_, i) => i)
      : Float64Array.from(seqLenOrPositions);
    const freqs = new Float64Array(positions.length * this.dim);
    positions.forEach((p, n) => this.invFreqs.forEach((f, c) => (freqs[n * this.dim + c] = (p + offset) * f)));
    const bias = Tensor.zeros([this.heads, this.dim], { device: this.device });
    const count = this.heads * this.dim;
    clampKernel.launch({ grid: Math.ceil(count / 256), device: this.device }, this.rawBias.storage.arg, bias.storage.arg, count, -TWO_PI, 0, 256);
    return { freqs: Tensor.from(freqs, { shape: [positions.length, this.dim], dtype: 'f32', device: this.device }), bias };
  }
}

export interface AxialPoPEOptions {
  readonly heads: number;
  /** Rotated dimensions given to each axis; they sum to dim. */
  readonly axialDims: readonly number[];
  readonly theta?: number;
  readonly biasUniformInit?: boolean;
  readonly device?: TensorDevice;
  readonly seed?: number;
}

/**
 * PoPE over a grid (images, video): the dim is split into one block per axis, each with PoPE's
 * frequencies for its width, and a position's phases are its coordinates times those frequencies.
 * As PoPE-pytorch (checked on its golden cases), the first block follows the last (fastest) grid axis.
 */
export class AxialPoPE {
  readonly dim: number;
  readonly heads: number;
  readonly axialDims: readonly number[];
  private readonly blocks: Float64Array[];
  readonly rawBias: Tensor;
  readonly device: TensorDevice;

  constructor(dim: number, options: AxialPoPEOptions) {
    this.dim = positiveInt(dim, 'AxialPoPE dim');
    this.heads = positiveInt(options?.heads, 'AxialPoPE options.heads');
    const axial = options.axialDims;
    if (!Array.isArray(axial) || axial.length === 0 || axial.some((d) => !Number.isInteger(d) || d < 1))
      throw new TypeError(`AxialPoPE options.axialDims must be a non-empty list of positive integers, got ${JSON.stringify(axial)}`);
    const total = axial.reduce((a, b) => a + b, 0);
    if (total !== dim) throw new RangeError(`AxialPoPE options.axialDims must sum to dim ${dim}, got ${total} ([${axial}])`);
    this.axialDims = [...axial];
    this.device = canonicalDevice(options.device ?? defaultTensorDevice());
    const theta = options.theta ?? 10000;
    this.blocks = axial.map((d) => Float64Array.from({ length: d }, (_, c) => Math.fround(theta ** -Math.fround(c / d))));
    this.rawBias = options.biasUniformInit
      ? Tensor.rand([this.heads, dim], { lo: -TWO_PI, hi: 0, seed: options.seed ?? 0, device: this.device })
      : Tensor.zeros([this.heads, dim], { device: this.device });
  }

  /** Phases for every point of a grid (row-major over `gridDims`), or for explicit positions [N][axes]. */
  forward(grid: readonly number[] | readonly (readonly number[])[]): PosEmb {
    const axes = this.axialDims.length;
    let points: number[][];
    if (grid.length > 0 && Array.isArray(grid[0])) points = (grid as readonly (readonly number[])[]).map((p) => [...p]);
    else {
      const dims = grid as readonly number[];
      if (dims.length !== axes) throw new RangeError(`AxialPoPE.forward: expected ${axes} grid dims (one per axial block), got [${dims}]`);
      points = [];
      const n = dims.reduce((a, b) => a * positiveInt(b, 'grid dim'), 1);
      for (let r = 0; r < n; r++) {
        const coords: number[] = [];
        let rest = r;
        for (let a = axes - 1; a >= 0; a--) {
          coords.unshift(rest % dims[a]!);
          rest = Math.floor(rest / dims[a]!);
        }
        // Block i takes the coordinate of axis axes − 1 − i.
        points.push(coords.reverse());
      }
    }
    const freqs = new Float64Array(points.length * this.dim);
    points.forEach((p, n) => {
      if (p.length !== axes) throw new RangeError(`AxialPoPE.forward: position ${n} has ${p.length} coordinates, expected ${axes}`);
      let c0 = 0;
      this.blocks.forEach((inv, i) => {
        inv.forEach((f, c) => (freqs[n * this.dim + c0 + c] = p[i]! * f));
        c0 += inv.length;
      });
    });
    const bias = Tensor.zeros([this.heads, this.dim], { device: this.device });
    const count = this.heads * this.dim;
    clampKernel.launch({ grid: Math.ceil(count / 256), device: this.device }, this.rawBias.storage.arg, bias.storage.arg, count, -TWO_PI, 0, 256);
    return { freqs: Tensor.from(freqs, { shape: [points.length, this.dim], dtype: 'f32', device: this.device }), bias };
  }
}

function checkSameDevice(name: string, t: Tensor, device: TensorDevice): void {
  if (!(t instanceof Tensor)) throw new TypeError(`${name} must be a Tensor, got ${typeof t}`);
  if (t.device !== device) throw new TypeError(`${name} is on '${t.device}', expected '${device}' (where the other tensors are); move it with toDevice()`);
}
function check4(name: string, t: Tensor): Shape4 {
  if (t.ndim !== 4) throw new RangeError(`${name} must be 4-D (batch, heads, seq, dim), got shape [${t.shape}]`);
  return t.shape as unknown as Shape4;
}
/** posEmb's dtypes and shapes; with `keys`, freqs must cover that many key positions (its first rows are read). */
function checkPosEmb(p: PosEmb, heads: number, keys?: number): void {
  if (p.freqs.dtype !== 'f32' || p.freqs.ndim !== 2) throw new TypeError(`posEmb.freqs must be a 2-D f32 tensor (positions, rotated dims), got ${p.freqs.dtype} [${p.freqs.shape}]`);
  if (keys !== undefined && p.freqs.shape[0]! < keys)
    throw new RangeError(`posEmb.freqs: expected at least ${keys} rows (one per key position), received ${p.freqs.shape[0]}`);
  if (p.bias.dtype !== 'f32' || p.bias.shape.join() !== [heads, p.freqs.shape[1]].join())
    throw new TypeError(`posEmb.bias must be an f32 tensor of shape [${heads}, ${p.freqs.shape[1]}], got ${p.bias.dtype} [${p.bias.shape}]`);
}
function checkFloat(name: string, t: Tensor): void {
  const ok: DType[] = ['f32', 'f16', 'bf16'];
  if (!ok.includes(t.dtype)) throw new TypeError(`${name} must be f32, f16 or bf16, got ${t.dtype}`);
}

/**
 * (b, h, n, d) views of q/k/v given in (b, h, n, d) or, with headDimensionAtFirst: false, (b, n, h, d):
 * read in place through strides when the last axis is contiguous, copied otherwise.
 */
function bhnd(t: Tensor, headFirst: boolean): Tensor {
  const v = headFirst ? t : t.transpose(1, 2);
  return v.strides[3] === 1 && v.offset === 0 ? v : headFirst ? t.contiguous() : t.contiguous().transpose(1, 2);
}

export interface ApplyOptions {
  /**
   * The magnitude of each feature: 'softplus' (default), 'relu', 'exp', or a function written in the
   * kernel language, fused into the kernel, e.g. `(x) => tl.exp(x) * 0.5` (it sees only its
   * parameter, tl and Math; each distinct function text compiles once).
   */
  readonly toMagnitude?: Magnitude;
  /**
   * Return the rotated features as complex numbers m·e^{iφ}: there is no complex dtype, so each tensor
   * gets a trailing axis of 2 holding (real, imag), shape [b, h, n, d, 2] (PyTorch's
   * `view_as_real` layout); the unrotated tail is (x, 0). The PoPE score is then
   * Σ Re(q · conj(k)) over the d features.
   */
  readonly returnComplex?: boolean;
}

/**
 * PoPE features of q and k (b, h, n, d): [b, h, n, 2·rot + (d − rot)] interleaved (m·cos, m·sin)
 * followed by the unrotated tail; with `returnComplex`, [b, h, n, d, 2] (real, imag) pairs.
 */
export function applyPopeToQk(posEmb: PosEmb, q: Tensor, k: Tensor, options: ApplyOptions = {}): [Tensor, Tensor] {
  const { freqs, bias } = posEmb;
  const device = q.device;
  for (const [n, t] of [['q', q], ['k', k], ['posEmb.freqs', freqs], ['posEmb.bias', bias]] as const) checkSameDevice(n, t, device);
  checkFloat('q', q);
  checkFloat('k', k);
  const qs = check4('q', q), ks = check4('k', k);
  const rot = freqs.shape[1]!;
  if (rot > qs[3]) throw new RangeError(`posEmb.freqs has ${rot} rotated dims, more than the head dim ${qs[3]} of q`);
  if (freqs.shape[0]! !== ks[2]) throw new RangeError(`posEmb.freqs must have one row per key position (${ks[2]}), got ${freqs.shape[0]}`);
  checkPosEmb(posEmb, qs[1]);
  const mag = checkMagnitude(options.toMagnitude);
  const complex = options.returnComplex ?? false;
  const run = (x: Tensor, s: Shape4, isKey: boolean): Tensor => {
    const out = Tensor.zeros(complex ? [s[0], s[1], s[2], s[3], 2] : [s[0], s[1], s[2], s[3] + rot], { device });
    launchPopeApply(x.contiguous().storage.arg, s, freqs.storage.arg, freqs.shape[0]!, bias.storage.arg, out.storage.arg, { rotateDim: rot, isKey, toMagnitude: mag, complex, device });
    return out;
  };
  return [run(q, qs, false), run(k, ks, true)];
}

/** The toMagnitude option, checked: a built-in name or a kernel-language function (compiled at launch). */
function checkMagnitude(mag: Magnitude | undefined): Magnitude | undefined {
  if (mag !== undefined && typeof mag !== 'function' && !['softplus', 'relu', 'exp'].includes(mag))
    throw new TypeError(`toMagnitude: expected 'softplus', 'relu', 'exp' or a kernel-language function, received ${JSON.stringify(mag)}`);
  return mag;
}

/** sim [b, h, q_len, k_len] (f32): the PoPE attention scores (unscaled), with grouped-query heads. */
export function computeAttnSimilarity(
  q: Tensor, k: Tensor, posEmb: PosEmb,
  options: { readonly headDimensionAtFirst?: boolean; readonly toMagnitude?: Magnitude; readonly out?: Tensor } = {},
): Tensor {
  const headFirst = options.headDimensionAtFirst ?? true;
  const { freqs, bias } = posEmb;
  for (const [n, t] of [['k', k], ['posEmb.freqs', freqs], ['posEmb.bias', bias]] as const) checkSameDevice(n, t, q.device);
  const qv = bhnd(q, headFirst), kv = bhnd(k, headFirst);
  const qs = check4('q', qv), ks = check4('k', kv);
  checkPosEmb(posEmb, qs[1], ks[2]);
  const sim = outTensor(options.out, [qs[0], qs[1], qs[2], ks[2]], 'f32', q.device);
  // Features of every query and key computed once, into scratch, then one tiled product.
  const o = { rotateDim: freqs.shape[1]!, toMagnitude: checkMagnitude(options.toMagnitude), device: q.device };
  const dtype = popeFeatureDType(o, qv.storage.arg), width = popeFeatureWidth(qs[3], o.rotateDim);
  const features = { queries: scratchBuffer(q.device, dtype, qs[0] * qs[1] * qs[2] * width, 'q'), keys: scratchBuffer(q.device, dtype, ks[0] * ks[1] * ks[2] * width, 'k') };
  launchPopeSimilarity(qv.storage.arg, qs, strides4('q', qv), kv.storage.arg, ks, strides4('k', kv), freqs.storage.arg, bias.storage.arg, sim.storage.arg, { ...o, features });
  return sim;
}

export interface FlashOptions {
  readonly posEmb: PosEmb;
  /** Boolean mask, true = attend: (batch, k_len) key padding, (q_len, k_len) or (batch, q_len, k_len). */
  readonly mask?: Tensor;
  readonly causal?: boolean;
  readonly softmaxScale?: number;
  readonly headDimensionAtFirst?: boolean;
  readonly toMagnitude?: Magnitude;
  /** Where to write the result (shape and dtype of q, contiguous, on q's device); a new tensor when absent. */
  readonly out?: Tensor;
  /**
   * Pick the kernel's tiling by timing on a CUDA GPU (tilejit's autotune: once per shape, kept on disk,
   * seconds on the first call). Default: the tiling measured best in bench/RESULTS.md.
   */
  readonly autotune?: boolean;
}

/** A caller's output tensor, checked, or a new one. Every element is written by the kernels, so no zero fill. */
function outTensor(out: Tensor | undefined, shape: readonly number[], dtype: Tensor['dtype'], device: Tensor['device']): Tensor {
  if (out === undefined) return Tensor.zeros(shape, { dtype, device });
  if (!(out instanceof Tensor)) throw new TypeError(`out must be a Tensor, got ${typeof out}`);
  if (out.shape.join() !== shape.join()) throw new RangeError(`out must have shape [${shape}], got [${out.shape}]`);
  if (out.dtype !== dtype) throw new TypeError(`out must be ${dtype}, got ${out.dtype}`);
  if (out.device !== device) throw new TypeError(`out must be on ${device}, got ${out.device}`);
  if (!out.isContiguous) throw new RangeError('out must be contiguous');
  return out;
}

/** PoPE attention: softmax(sim · scale, masked) @ v, bottom-right causal, output laid out like q. */
export function flashAttnWithPope(q: Tensor, k: Tensor, v: Tensor, options: FlashOptions): Tensor {
  const headFirst = options.headDimensionAtFirst ?? true;
  const { freqs, bias } = options.posEmb;
  for (const [n, t] of [['k', k], ['v', v], ['posEmb.freqs', freqs], ['posEmb.bias', bias]] as const) checkSameDevice(n, t, q.device);
  const qv = bhnd(q, headFirst), kv = bhnd(k, headFirst), vv = bhnd(v, headFirst);
  const qs = check4('q', qv), ks = check4('k', kv), vs = check4('v', vv);
  checkPosEmb(options.posEmb, qs[1], ks[2]);
  if (vs.join() !== ks.join()) throw new RangeError(`v must have the shape of k [${ks}], got [${vs}]`);
  if (qs[2] > ks[2]) throw new RangeError(`q_len (${qs[2]}) must not exceed k_len (${ks[2]})`);
  const out = outTensor(options.out, q.shape, q.dtype, q.device);
  const ov = bhnd(out, headFirst);
  let mask: { data: Tensor['storage']['arg']; strides: [number, number, number] } | undefined;
  if (options.mask) {
    const m = options.mask;
    checkSameDevice('mask', m, q.device);
    if (m.dtype !== 'i1' && m.dtype !== 'u8') throw new TypeError(`mask must be boolean (i1 or u8), got ${m.dtype}`);
    const [B, , Nq] = qs, Nk = ks[2];
    const sh = m.shape.join();
    const c = m.contiguous();
    if (sh === [B, Nk].join()) mask = { data: c.storage.arg, strides: [Nk, 0, 1] };
    else if (sh === [Nq, Nk].join()) mask = { data: c.storage.arg, strides: [0, Nk, 1] };
    else if (sh === [B, Nq, Nk].join()) mask = { data: c.storage.arg, strides: [Nq * Nk, Nk, 1] };
    else throw new RangeError(`mask must have shape [${B}, ${Nk}], [${Nq}, ${Nk}] or [${B}, ${Nq}, ${Nk}], got [${m.shape}]`);
  }
  const launch = { rotateDim: freqs.shape[1]!, causal: options.causal, softmaxScale: options.softmaxScale, toMagnitude: checkMagnitude(options.toMagnitude), mask, device: q.device, autotune: options.autotune };
  // Short query lengths (decoding): split the keys across programs (flash-decoding), partials combined.
  if (decodeApplies(qs, ks, q.device)) {
    const n = decodeScratchSizes(qs, ks, undefined, q.device);
    const scratch = { out: scratchBuffer(q.device, 'f32', n.out, 'decode-o'), m: scratchBuffer(q.device, 'f32', n.stats, 'decode-m'), l: scratchBuffer(q.device, 'f32', n.stats, 'decode-l') };
    launchPopeDecode(qv.storage.arg, qs, strides4('q', qv), kv.storage.arg, ks, strides4('k', kv), vv.storage.arg, strides4('v', vv),
      freqs.storage.arg, bias.storage.arg, ov.storage.arg, strides4('out', ov), { ...launch, scratch });
    return out;
  }
  // Keys rotated once by a pre-pass into scratch when several query blocks read each key head.
  let features: { queries: Tensor['storage']['arg']; keys: Tensor['storage']['arg'] } | undefined;
  if (flashTiling(qs, ks, launch, qv.storage.arg).rotateKeysOnce) {
    const dtype = popeFeatureDType(launch, qv.storage.arg), width = popeFeatureWidth(ks[3], launch.rotateDim);
    features = { queries: scratchBuffer(q.device, dtype, qs[0] * qs[1] * qs[2] * width, 'q'), keys: scratchBuffer(q.device, dtype, ks[0] * ks[1] * ks[2] * width, 'k') };
  }
  launchPopeFlashAttention(qv.storage.arg, qs, strides4('q', qv), kv.storage.arg, ks, strides4('k', kv), vv.storage.arg, strides4('v', vv),
    freqs.storage.arg, bias.storage.arg, ov.storage.arg, strides4('out', ov), { ...launch, features });
  return out;
}

/**
 * Scratch memory per device and dtype, grown on demand and kept: launches on one device run in order,
 * so the next op may reuse it, and no allocation (or the free's synchronization) sits between ops.
 */
const scratch = new Map<string, Tensor>();
function scratchBuffer(device: TensorDevice, dtype: DType, length: number, use: string): Tensor['storage']['arg'] {
  const key = `${device}|${dtype}|${use}`;
  let t = scratch.get(key);
  if (!t || t.storage.length < length) {
    t?.dispose();
    t = Tensor.empty([length], { dtype, device });
    scratch.set(key, t);
  }
  return t.storage.arg;
}

/** Strides of a 4-D view whose last axis is contiguous and that starts at its storage's start. */
function strides4(name: string, t: Tensor): Strides4 {
  if (t.strides[3] !== 1 || t.offset !== 0) throw new RangeError(`${name}: the last axis must be contiguous and the view must start at its memory's start (call contiguous())`);
  return [t.strides[0]!, t.strides[1]!, t.strides[2]!, 1];
}
