// Rotary embeddings with the API of rotary-embedding-torch in TypeScript idiom, backed by the RoPE
// kernels on the tensors' device. Angles (and xpos scales) are tables built on the host in float64
// from float64 positions (never in the tensors' dtype: bf16 would turn position 257 into 256).
import { Tensor, defaultTensorDevice, type TensorDevice } from './tensor.js';
import { canonicalDevice } from './storage.js';
import { launchRopeApply, launchRopeQK, launchLearnedRotations, ropeAngleTable, ropeFrequencies, xposScaleTable, type FreqsFor, type View4, type Shape4, type Strides4 } from './rope-kernels.js';

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
  /**
   * Frequencies as a tensor you may update (`learnedFreqs`, f32 [pairs] on `device`): rotations read
   * its current values on the device at each call.
   */
  readonly learnedFreq?: boolean;
  /** Keep the angle tables made for each (length, offset) on their device (default true). */
  readonly cacheIfPossible?: boolean;
  /** Longest position (length + offset) whose table is cached (default 8192). */
  readonly cacheMaxSeqLen?: number;
  /** Where learnedFreqs and getAxialFreqs / getScale results live (default: the default device). */
  readonly device?: TensorDevice;
}

export interface AxialFreqsOptions {
  /** Added to each axis' positions (one per axis). */
  readonly offsets?: readonly number[];
}

export interface RotateOptions {
  /** The sequence axis: -2 for (b, h, n, d), -3 for (b, n, h, d). Default from seqBeforeHeadDim. */
  readonly seqDim?: -2 | -3;
  readonly offset?: number;
}

export class RotaryEmbedding {
  readonly dim: number;
  /** One frequency per rotated pair (the initial values of learnedFreqs with learnedFreq). */
  readonly freqs: Float64Array;
  readonly device: TensorDevice;
  private readonly o: RotaryEmbeddingOptions;
  private learned: Tensor | undefined;
  /** Angle tables by device, length and offset: every input that changes a table is in the key. */
  private readonly tables = new Map<string, Tensor>();

  constructor(dim: number, options: RotaryEmbeddingOptions = {}) {
    if (!Number.isInteger(dim) || dim < 2) throw new TypeError(`RotaryEmbedding dim must be an integer >= 2, got ${dim}`);
    this.dim = dim;
    this.o = options;
    const interp = options.interpolateFactor ?? 1;
    if (!(interp >= 1)) throw new RangeError(`interpolateFactor must be >= 1, got ${interp}`);
    this.freqs = options.customFreqs ? Float64Array.from(options.customFreqs) : ropeFrequencies(dim, options);
    if (this.freqs.length === 0) throw new RangeError(`RotaryEmbedding: expected at least one frequency, received none (dim ${dim}, customFreqs ${options.customFreqs?.length})`);
    if (options.useXpos && options.freqsFor === 'pixel') throw new TypeError(`useXpos applies to 'lang' frequencies only`);
    if (options.useXpos && options.learnedFreq) throw new TypeError(`useXpos with learnedFreq is not supported`);
    this.device = canonicalDevice(options.device ?? defaultTensorDevice());
    if (options.learnedFreq) this.learned = Tensor.from(Float32Array.from(this.freqs), { device: this.device });
  }

  /** With learnedFreq: the frequencies [pairs] (f32) the rotations read; assign a new tensor or write into it. */
  get learnedFreqs(): Tensor {
    if (!this.learned) throw new TypeError(`learnedFreqs exists with learnedFreq: true only`);
    return this.learned;
  }
  set learnedFreqs(t: Tensor) {
    if (!this.learned) throw new TypeError(`learnedFreqs exists with learnedFreq: true only`);
    if (!(t instanceof Tensor) || t.dtype !== 'f32' || t.shape.join() !== String(this.freqs.length) || t.device !== this.device)
      throw new TypeError(`learnedFreqs: expected an f32 tensor of shape [${this.freqs.length}] on '${this.device}', received ${t instanceof Tensor ? `${t.dtype} [${t.shape}] on '${t.device}'` : typeof t}`);
    this.learned = t;
  }

  private get rotDim(): number {
    return 2 * this.freqs.length;
  }
  private seqDim(o: RotateOptions): -2 | -3 {
    return o.seqDim ?? (this.o.seqBeforeHeadDim ? -3 : -2);
  }
  private angles(n: number, offset: number, device: TensorDevice): Tensor {
    const key = `${device}|${n}|${offset}`;
    const hit = this.tables.get(key);
    if (hit) return hit;
    const table = Tensor.from(ropeAngleTable(this.freqs, { seqLen: n, offset, interpolateFactor: this.o.interpolateFactor }), { shape: [n, this.freqs.length], device });
    if ((this.o.cacheIfPossible ?? true) && n + offset <= (this.o.cacheMaxSeqLen ?? 8192)) this.tables.set(key, table);
    return table;
  }

  /**
   * Angles [n, pairs] (f32, one per pair) of positions offset..offset+n-1 (over interpolateFactor), on
   * `device`: the table the fused kernels read (cached as the rotations' are). Fixed frequencies only.
   */
  angleTable(n: number, options: { readonly offset?: number; readonly device?: TensorDevice } = {}): Tensor {
    if (this.learned) throw new TypeError(`angleTable: with learnedFreq the angles come from learnedFreqs on the device; fused attention takes fixed frequencies`);
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`angleTable: expected a non-negative integer length, received ${n}`);
    return this.angles(n, options.offset ?? 0, canonicalDevice(options.device ?? this.device));
  }

  /** Learned frequencies: positions (i + offset) / interpolateFactor times learnedFreqs, on the device. */
  private rotateLearned(x: View4, out: View4, offset: number, device: TensorDevice): void {
    if (device !== this.device) throw new TypeError(`t: expected a tensor on '${this.device}' (where learnedFreqs is), received one on '${device}'`);
    const n = x.shape[2], interp = this.o.interpolateFactor ?? 1;
    const positions = Tensor.from(Float32Array.from({ length: n }, (_, i) => (i + offset) / interp), { shape: [1, n, 1], device });
    launchLearnedRotations({ data: positions.storage.arg, shape: [1, n, 1] }, x, out, { freqRanges: { data: this.learnedFreqs.storage.arg, length: this.freqs.length }, device });
  }

  /** Rotates queries or keys; positions are offset..offset+n-1 along the sequence axis. */
  rotateQueriesOrKeys(t: Tensor, options: RotateOptions = {}): Tensor {
    if (this.o.useXpos) throw new TypeError(`with useXpos, rotate queries and keys together with rotateQueriesAndKeys (keys are scaled inversely)`);
    const x = view4(t, this.seqDim(options), 't');
    this.checkWidth(x.shape[3], 't');
    const out = Tensor.zeros(t.shape, { dtype: t.dtype, device: t.device });
    const o = view4(out, this.seqDim(options), 'out');
    const n = x.shape[2], offset = options.offset ?? 0;
    if (this.learned) this.rotateLearned(x, o, offset, t.device);
    else launchRopeApply(x, o, { rotDim: this.rotDim, freqs: { data: this.angles(n, offset, t.device).storage.arg, rows: n }, device: t.device });
    return out;
  }

  /**
   * Per-feature angles [...dims, dims.length · rotated width] for a grid (images, video): each axis'
   * positions ('pixel': linspace(-1, 1, n), else 0..n-1) plus its offset, times the frequencies (each
   * pair's angle repeated, as applyRotaryEmb takes them), concatenated over the axes.
   */
  getAxialFreqs(...args: (number | AxialFreqsOptions)[]): Tensor {
    const last = args[args.length - 1];
    const o: AxialFreqsOptions = typeof last === 'object' ? last : {};
    const dims = (typeof last === 'object' ? args.slice(0, -1) : args) as number[];
    if (dims.length === 0 || dims.some((d) => typeof d !== 'number' || !Number.isInteger(d) || d < 1))
      throw new TypeError(`getAxialFreqs: expected positive integer dims, received [${dims.map(String)}]`);
    const offsets = o.offsets ?? dims.map(() => 0);
    if (offsets.length !== dims.length) throw new RangeError(`offsets: expected one offset per axis (${dims.length}), received ${offsets.length}`);
    const F = this.freqs.length, W = 2 * F, A = dims.length, cells = dims.reduce((a, b) => a * b, 1);
    const perAxis = dims.map((n, a) => Float64Array.from({ length: n }, (_, i) =>
      (this.o.freqsFor === 'pixel' ? (n === 1 ? -1 : -1 + (2 * i) / (n - 1)) : i) + offsets[a]!));
    const out = new Float32Array(cells * A * W);
    for (let cell = 0; cell < cells; cell++) {
      let rest = cell;
      for (let a = A - 1; a >= 0; a--) {
        const p = perAxis[a]![rest % dims[a]!]!;
        rest = Math.floor(rest / dims[a]!);
        for (let j = 0; j < F; j++) out[cell * A * W + a * W + 2 * j] = out[cell * A * W + a * W + 2 * j + 1] = p * this.freqs[j]!;
      }
    }
    return Tensor.from(out, { shape: [...dims, A * W], device: this.device });
  }

  /**
   * xpos scales [n, 2·floor(dim/2)] (each pair's scale repeated) for positions 0..n-1 or the given ones:
   * ((2j + 0.4·dim) / (1.4·dim))^((position − center) / xposScaleBase), center floor(n / 2) by default.
   * Pass them to applyRotaryEmb's `scale` (queries) or their inverse (keys), with one centre for both.
   */
  getScale(seqLenOrPositions: number | ArrayLike<number>, options: { readonly center?: number } = {}): Tensor {
    if (!this.o.useXpos) throw new TypeError(`getScale needs useXpos: true`);
    const positions = typeof seqLenOrPositions === 'number' ? Array.from({ length: seqLenOrPositions }, (_, i) => i) : Array.from(seqLenOrPositions);
    const center = options.center ?? Math.floor(positions.length / 2);
    const half = xposScaleTable(this.dim, positions, { scaleBase: this.o.xposScaleBase, center });
    const P = Math.floor(this.dim / 2), out = new Float32Array(positions.length * 2 * P);
    half.forEach((v, i) => (out[2 * i] = out[2 * i + 1] = v));
    return Tensor.from(out, { shape: [positions.length, 2 * P], device: this.device });
  }

  /**
   * Queries take the last positions of the keys' sequence (a KV cache); both rotated in one launch.
   * `offset` moves both: keys at offset..offset+k_len−1, queries at the last q_len of those, so scores
   * do not change. (rotary-embedding-torch moves only the queries, which puts them past the keys.)
   */
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
    if (this.learned) {
      const qOut = Tensor.zeros(q.shape, { dtype: q.dtype, device: q.device }), kOut = Tensor.zeros(k.shape, { dtype: k.dtype, device: k.device });
      this.rotateLearned(qv, view4(qOut, sd, 'qOut'), offset + nk - nq, q.device);
      this.rotateLearned(kv, view4(kOut, sd, 'kOut'), offset, k.device);
      return [qOut, kOut];
    }
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

