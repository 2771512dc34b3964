// rotary-embedding-torch's free functions over tensors: applyRotaryEmb (per-feature angles, as
// RotaryEmbedding's and getAxialFreqs' tables give them) and applyLearnedRotations, on the RoPE kernels.
// The kernels read one angle per pair: tables here repeat each pair's angle, so the first of each pair
// is read (a stride-2 view copied into a [rows, pairs] table).
import { Tensor } from './tensor.js';
import { launchRopeApply, launchLearnedRotations, type View4, type Shape4, type Strides4 } from './rope-kernels.js';

export interface ApplyRotaryEmbOptions {
  /** First rotated feature (default 0); features outside [startIndex, startIndex + R) pass through. */
  readonly startIndex?: number;
  /** A number, or per-feature scales shaped (and broadcast) like freqs (xpos: RotaryEmbedding.getScale). */
  readonly scale?: number | Tensor;
  /** The sequence axis of t, along which a 2-D [positions, R] freqs table lies (default -2). */
  readonly seqDim?: number;
  /**
   * The sequence axis of freqs: its last t.shape[seqDim] entries are used (a cache longer than the
   * sequence). Default 0 for 2-D freqs; others broadcast right-aligned against t (e.g. axial [H, W, R]
   * against [B, H, W, D]).
   */
  readonly freqsSeqDim?: number;
}

function isTensor(name: string, x: unknown): asserts x is Tensor {
  if (!(x instanceof Tensor)) throw new TypeError(`${name}: expected a Tensor, received ${x === null ? 'null' : typeof x}`);
}
function axis(name: string, a: number, ndim: number): number {
  if (!Number.isInteger(a) || a < -ndim || a >= ndim) throw new RangeError(`${name}: expected an axis in [${-ndim}, ${ndim - 1}], received ${a}`);
  return a < 0 ? a + ndim : a;
}

/** Element strides of `f` (without its last axis) over t's non-feature axes; 0 where it broadcasts. */
function broadcastStrides(name: string, f: Tensor, tShape: readonly number[], seqAxis: number | undefined): number[] {
  const lead = tShape.length - 1, out = new Array<number>(lead).fill(0);
  const place = (fAxis: number, tAxis: number): void => {
    const n = f.shape[fAxis]!;
    if (n === tShape[tAxis]) out[tAxis] = n === 1 ? 0 : f.strides[fAxis]!;
    else if (n !== 1) throw new RangeError(`${name}: expected size ${tShape[tAxis]} or 1 on axis ${fAxis} (against axis ${tAxis} of t [${tShape}]), received shape [${f.shape}]`);
  };
  if (seqAxis !== undefined) place(0, seqAxis);
  else
    for (let j = f.ndim - 2; j >= 0; j--) {
      const tAxis = lead - (f.ndim - 1 - j);
      if (tAxis < 0) {
        if (f.shape[j] !== 1) throw new RangeError(`${name}: shape [${f.shape}] has more axes than t [${tShape}] and axis ${j} is not 1`);
      } else place(j, tAxis);
    }
  return out;
}

/** [rows, pairs] f32 table: the first angle (or scale) of each pair of `f` over t's axes lo..hi. */
function pairTable(f: Tensor, strides: readonly number[], tShape: readonly number[], lo: number, hi: number): Tensor {
  const R = f.shape[f.ndim - 1]!, last = f.strides[f.ndim - 1]!;
  return f.asStrided([...tShape.slice(lo, hi + 1), R / 2], [...strides.slice(lo, hi + 1), 2 * last], f.offset).contiguous('f32');
}

/**
 * apply_rotary_emb: t·cos + rotate_half(t)·sin (times `scale`) on features [startIndex, startIndex + R)
 * of t, R = freqs.shape[-1] (even; adjacent pairs, each pair's angle repeated as in the tables this
 * library makes). Returns a new tensor of t's shape and dtype.
 */
export function applyRotaryEmb(freqs: Tensor, t: Tensor, options: ApplyRotaryEmbOptions = {}): Tensor {
  isTensor('freqs', freqs);
  isTensor('t', t);
  if (freqs.device !== t.device) throw new TypeError(`freqs: expected a tensor on '${t.device}' (where t is), received one on '${freqs.device}'`);
  if (t.ndim < 2) throw new RangeError(`t: expected at least 2 dims (..., seq, features), received shape [${t.shape}]`);
  const R = freqs.shape[freqs.ndim - 1] ?? 0, D = t.shape[t.ndim - 1]!, start = options.startIndex ?? 0;
  if (!(R >= 2 && R % 2 === 0)) throw new RangeError(`freqs: expected an even last axis of at least 2 (the rotated width), received shape [${freqs.shape}]`);
  if (!Number.isInteger(start) || start < 0 || start + R > D)
    throw new RangeError(`startIndex: expected startIndex + ${R} (the rotated width) <= ${D} (t's feature dim), received ${start}`);
  const seqAxis = axis('seqDim', options.seqDim ?? -2, t.ndim);
  if (seqAxis === t.ndim - 1) throw new RangeError(`seqDim: expected an axis before the feature axis, received ${options.seqDim}`);
  const freqsSeqDim = options.freqsSeqDim ?? (freqs.ndim === 2 ? 0 : undefined);
  const N = t.shape[seqAxis]!;
  // A table longer than the sequence: its last N rows.
  const lastRows = (name: string, f: Tensor): Tensor => {
    if (freqsSeqDim === undefined) return f;
    const a = axis(`${name}SeqDim`, freqsSeqDim, f.ndim), n = f.shape[a]!;
    if (a === f.ndim - 1) throw new RangeError(`${name}SeqDim: expected an axis before the last (angle) axis of ${name} [${f.shape}], received ${freqsSeqDim}`);
    if (n < N) throw new RangeError(`${name}: expected at least ${N} entries (t's sequence length) on axis ${a}, received shape [${f.shape}]`);
    return f.slice(a, n - N, n);
  };
  const perPosition = freqs.ndim === 2 && freqsSeqDim !== undefined;
  const f = lastRows('freqs', freqs);
  const fStrides = broadcastStrides('freqs', f, t.shape, perPosition ? seqAxis : undefined);
  let scaleT: Tensor | undefined, sStrides: number[] | undefined;
  if (options.scale instanceof Tensor) {
    if (options.scale.shape.join() !== freqs.shape.join()) throw new RangeError(`scale: expected the shape of freqs [${freqs.shape}], received [${options.scale.shape}]`);
    if (options.scale.device !== t.device) throw new TypeError(`scale: expected a tensor on '${t.device}', received one on '${options.scale.device}'`);
    scaleT = lastRows('scale', options.scale);
    sStrides = broadcastStrides('scale', scaleT, t.shape, perPosition ? seqAxis : undefined);
  } else if (options.scale !== undefined && typeof options.scale !== 'number') throw new TypeError(`scale: expected a number or a Tensor, received ${typeof options.scale}`);
  // The axes the tables vary along become the kernel's row axis; the others are batch-like.
  const varying = fStrides.map((s, i) => (s !== 0 || (sStrides?.[i] ?? 0) !== 0 ? i : -1)).filter((i) => i >= 0);
  const lo = varying.length ? Math.min(...varying) : seqAxis, hi = varying.length ? Math.max(...varying) : seqAxis;
  if (hi - lo > 2) throw new RangeError(`freqs: the angles vary along t axes ${lo}..${hi}; at most 3 consecutive axes are supported`);
  const shape = t.shape, prod = (a: number, b: number): number => shape.slice(a, b).reduce((x, y) => x * y, 1);
  const outer = prod(0, lo), rows = prod(lo, hi + 1), inner = prod(hi + 1, t.ndim - 1);
  const x = t.contiguous(), out = Tensor.zeros(t.shape, { dtype: t.dtype, device: t.device });
  const s4: Shape4 = [outer, inner, rows, D], st: Strides4 = [rows * inner * D, D, inner * D, 1];
  const view = (v: Tensor): View4 => ({ data: v.storage.arg, shape: s4, strides: st });
  const table = pairTable(f, fStrides, shape, lo, hi);
  let scale: { data: Tensor['storage']['arg']; rows: number } | undefined;
  if (scaleT) scale = { data: pairTable(scaleT, sStrides!, shape, lo, hi).storage.arg, rows };
  else if (typeof options.scale === 'number' && options.scale !== 1)
    scale = { data: Tensor.from(new Float32Array(rows * (R / 2)).fill(options.scale), { shape: [rows, R / 2], device: t.device }).storage.arg, rows };
  launchRopeApply(view(x), view(out), { rotDim: R, startIndex: start, freqs: { data: table.storage.arg, rows }, scale, device: t.device });
  return out;
}

export interface ApplyLearnedRotationsOptions {
  readonly startIndex?: number;
  /** Frequency ranges [Fr]: pair (r, f) turns by rotations[..., r] · freqRanges[f] (rotated width 2·Rr·Fr). */
  readonly freqRanges?: ArrayLike<number> | Tensor;
}

/**
 * apply_learned_rotations: rotations [N, Rr] or [Br, N, Rr] (angles per position, e.g. predicted by a
 * network) rotate t [B, N, D] (Br = 1 or B) or [B, H, N, D] (right-aligned as in the library: Br = 1 or H).
 */
export function applyLearnedRotations(rotations: Tensor, t: Tensor, options: ApplyLearnedRotationsOptions = {}): Tensor {
  isTensor('rotations', rotations);
  isTensor('t', t);
  if (rotations.device !== t.device) throw new TypeError(`rotations: expected a tensor on '${t.device}' (where t is), received one on '${rotations.device}'`);
  if (t.ndim !== 3 && t.ndim !== 4) throw new RangeError(`t: expected a 3-D [B, N, D] or 4-D [B, H, N, D] tensor, received shape [${t.shape}]`);
  if (rotations.ndim !== 2 && rotations.ndim !== 3) throw new RangeError(`rotations: expected [N, Rr] or [Br, N, Rr], received shape [${rotations.shape}]`);
  const r3 = rotations.ndim === 2 ? rotations.reshape(1, ...rotations.shape) : rotations.contiguous();
  const [Br, Nr, Rr] = r3.shape as [number, number, number];
  const x = t.contiguous(), out = Tensor.zeros(t.shape, { dtype: t.dtype, device: t.device });
  // [B, H, N, D] with the axis rotations' first axis lines up with first (the kernel's per-batch tables)
  const [B, H, N, D] = t.ndim === 3 ? [t.shape[0]!, 1, t.shape[1]!, t.shape[2]!] : (t.shape as unknown as Shape4);
  const swap = t.ndim === 4;
  const along = swap ? H : B;
  if (Nr !== N || (Br !== 1 && Br !== along))
    throw new RangeError(`rotations: expected shape [1 or ${along}, ${N}, Rr] (right-aligned against t [${t.shape}]), received [${rotations.shape}]`);
  const s4: Shape4 = swap ? [H, B, N, D] : [B, H, N, D];
  const st: Strides4 = swap ? [N * D, H * N * D, D, 1] : [H * N * D, N * D, D, 1];
  let ranges: { data: Tensor['storage']['arg']; length: number } | undefined;
  if (options.freqRanges !== undefined) {
    const fr = options.freqRanges instanceof Tensor ? options.freqRanges.contiguous('f32') : Tensor.from(Float32Array.from(options.freqRanges), { device: t.device });
    if (fr.device !== t.device) throw new TypeError(`freqRanges: expected a tensor on '${t.device}', received one on '${fr.device}'`);
    ranges = { data: fr.storage.arg, length: fr.numel };
  }
  launchLearnedRotations({ data: r3.contiguous('f32').storage.arg, shape: [Br, Nr, Rr] }, { data: x.storage.arg, shape: s4, strides: st }, { data: out.storage.arg, shape: s4, strides: st },
    { freqRanges: ranges, startIndex: options.startIndex, device: t.device });
  return out;
}
