// Rotary embeddings with the API of rotary-embedding-torch in TypeScript idiom, backed by the RoPE
// kernels on the tensors' device. Angles (and xpos scales) are tables built on the host in float64
// from float64 positions (never in the tensors' dtype: bf16 would turn position 257 into 256).
import { Tensor, type TensorDevice } from './tensor.js';
import { launchRopeApply, launchRopeQK, ropeAngleTable, ropeFrequencies, xposScaleTable, type FreqsFor, type View4, type Shape4, type Strides4 } from './rope-kernels.js';

export interface RotaryEmbeddingOptions {
  /** Frequencies per pair, replacing the computed ones. */
  readonly customFreqs?: ArrayLike<number>;
  readonly freqsFor?: FreqsFor;
  readonly theta?: number;
  readonly maxFreq?: number;
  readonly numFreqs?: number;
  readonly useXpos?: boolean;
  readonly xposScaleBase?: number;
  readonly interpolateFactor?: number;
  readonly thetaRescaleFactor?: number;
  /** Tensors are (batch, seq, heads, dim) rather than (batch, heads, seq, dim). */
  readonly seqBeforeHeadDim?: boolean;
}

export interface RotateOptions {
  /** The sequence axis: -2 for (b, h, n, d), -3 for (b, n, h, d). Default from seqBeforeHeadDim. */
  readonly seqDim?: -2 | -3;
  readonly offset?: number;
}

export class RotaryEmbedding {
  readonly dim: number;
  /** One frequency per rotated pair. */
  readonly freqs: Float64Array;
  private readonly o: RotaryEmbeddingOptions;

  constructor(dim: number, options: RotaryEmbeddingOptions = {}) {
    if (!Number.isInteger(dim) || dim < 2) throw new TypeError(`RotaryEmbedding dim must be an integer >= 2, got ${dim}`);
    this.dim = dim;
    this.o = options;
    const interp = options.interpolateFactor ?? 1;
    if (!(interp >= 1)) throw new RangeError(`interpolateFactor must be >= 1, got ${interp}`);
    this.freqs = options.customFreqs ? Float64Array.from(options.customFreqs) : ropeFrequencies(dim, options);
    if (options.useXpos && options.freqsFor === 'pixel') throw new TypeError(`useXpos applies to 'lang' frequencies only`);
  }

  private get rotDim(): number {
    return 2 * this.freqs.length;
  }
  private seqDim(o: RotateOptions): -2 | -3 {
    return o.seqDim ?? (this.o.seqBeforeHeadDim ? -3 : -2);
  }
  private angles(n: number, offset: number, device: TensorDevice): Tensor {
    const table = ropeAngleTable(this.freqs, { seqLen: n, offset, interpolateFactor: this.o.interpolateFactor });
    return Tensor.from(table, { shape: [n, this.freqs.length], device });
  }

  /** Rotates queries or keys; positions are offset..offset+n-1 along the sequence axis. */
  rotateQueriesOrKeys(t: Tensor, options: RotateOptions = {}): Tensor {
    if (this.o.useXpos) throw new TypeError(`with useXpos, rotate queries and keys together with rotateQueriesAndKeys (keys are scaled inversely)`);
    const x = view4(t, this.seqDim(options), 't');
    this.checkWidth(x.shape[3], 't');
    const out = Tensor.zeros(t.shape, { dtype: t.dtype, device: t.device });
    const o = view4(out, this.seqDim(options), 'out');
    const n = x.shape[2];
    launchRopeApply(x, o, { rotDim: this.rotDim, freqs: { data: this.angles(n, options.offset ?? 0, t.device).storage.arg, rows: n }, device: t.device });
    return out;
  }

  /** Queries take the last positions of the keys' sequence (a KV cache); both rotated in one launch. */
  rotateQueriesWithCachedKeys(q: Tensor, k: Tensor, options: RotateOptions = {}): [Tensor, Tensor] {
    return this.rotatePair(q, k, options, false);
  }

  /** xpos: queries scaled up, keys down, around one centre; requires useXpos. */
  rotateQueriesAndKeys(q: Tensor, k: Tensor, options: Pick<RotateOptions, 'seqDim'> = {}): [Tensor, Tensor] {
    if (!this.o.useXpos) throw new TypeError(`rotateQueriesAndKeys needs useXpos: true`);
    return this.rotatePair(q, k, options, true);
  }

  private rotatePair(q: Tensor, k: Tensor, options: RotateOptions, xpos: boolean): [Tensor, Tensor] {
    if (q.device !== k.device) throw new TypeError(`k is on '${k.device}', expected '${q.device}' (where q is)`);
    const sd = this.seqDim(options);
    const qv = view4(q, sd, 'q'), kv = view4(k, sd, 'k');
    this.checkWidth(qv.shape[3], 'q');
    const nq = qv.shape[2], nk = kv.shape[2], offset = options.offset ?? 0;
    if (nq > nk) throw new RangeError(`q: expected q_len <= k_len (${nk}), received q_len ${nq}`);
    const rows = nk + offset;
    const angles = this.angles(rows, 0, q.device);
    let scale: { data: Tensor['storage']['arg']; rows: number } | undefined;
    if (xpos) {
      // One centre for queries and keys (the reference library centres cached keys differently).
      const positions = Array.from({ length: rows }, (_, i) => i);
      const table = xposScaleTable(this.dim, positions, { scaleBase: this.o.xposScaleBase, center: Math.floor(rows / 2) });
      scale = { data: Tensor.from(table, { shape: [rows, this.freqs.length], device: q.device }).storage.arg, rows };
    }
    const qOut = Tensor.zeros(q.shape, { dtype: q.dtype, device: q.device }), kOut = Tensor.zeros(k.shape, { dtype: k.dtype, device: k.device });
    launchRopeQK(qv, kv, view4(qOut, sd, 'qOut'), view4(kOut, sd, 'kOut'), {
      rotDim: this.rotDim, freqs: { data: angles.storage.arg, rows }, kOffset: offset, qOffset: offset + nk - nq, scale, device: q.device,
    });
    return [qOut, kOut];
  }

  private checkWidth(d: number, arg: string): void {
    if (this.rotDim > d) throw new RangeError(`${arg}: expected a feature dim of at least ${this.rotDim} (the rotated width), received ${d}`);
  }
}

/** A (b, h, n, d) view (no copy when the last axis is contiguous) of a 3-D (b, n, d) or 4-D tensor. */
function view4(t: Tensor, seqDim: -2 | -3, arg: string): View4 {
  if (!(t instanceof Tensor)) throw new TypeError(`${arg} must be a Tensor, got ${typeof t}`);
  let v = t;
  if (v.ndim === 3) v = seqDim === -2 ? v.reshape(v.shape[0]!, 1, v.shape[1]!, v.shape[2]!) : v.reshape(v.shape[0]!, v.shape[1]!, 1, v.shape[2]!);
  if (v.ndim !== 4) throw new RangeError(`${arg}: expected a 3-D or 4-D tensor, received shape [${t.shape}]`);
  if (seqDim === -3) v = v.transpose(1, 2);
  if (v.strides[3] !== 1 || v.offset !== 0) throw new RangeError(`${arg}: the feature axis must be contiguous and the view start at its memory's start (call contiguous())`);
  return { data: v.storage.arg, shape: v.shape as unknown as Shape4, strides: v.strides as unknown as Strides4 };
}

