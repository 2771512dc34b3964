// Independent float64 references for rotary position embeddings, written from the math of
// rotary-embedding-torch (lucidrains). Row-major, explicit shapes, no tilejit imports.
//
// Conventions (pinned by the golden cases, test/fixtures/golden-README.md):
// - pairs are adjacent features (x0, x1), (x2, x3), …; rotate_half maps (a, b) to (-b, a), so
//   out[2i] = x[2i]·cos θi − x[2i+1]·sin θi and out[2i+1] = x[2i+1]·cos θi + x[2i]·sin θi;
// - the per-feature frequency table repeats each pair frequency twice: [f0, f0, f1, f1, …];
// - only the features [startIndex, startIndex + rotDim) rotate; the others pass through unchanged.
//
// Where the library has bugs these references do not copy them: positions are float64 (the library
// builds them in the tensor's dtype, so bf16 turns 257 into 256), and xpos scales of cached keys use
// the same centre as the full sequence.

export type FreqsFor = 'lang' | 'pixel' | 'constant';

export interface RopeFreqOptions {
  /** Rotary dim: the number of rotated features ('lang', 'pixel'); frequencies are per pair. */
  readonly dim: number;
  readonly freqsFor?: FreqsFor;
  readonly theta?: number;
  readonly maxFreq?: number;
  readonly numFreqs?: number;
  /** NTK-aware rescaling: theta *= factor^(dim / (dim - 2)). */
  readonly thetaRescaleFactor?: number;
  /** Replaces the computed frequencies (one per pair). */
  readonly customFreqs?: ArrayLike<number>;
  /**
   * Compute 'lang' frequencies in float32 as the library does (`arange(...).float()`), which is how
   * the golden cases' frequencies were made ('pixel' ones are float64 there: linspace in the default
   * dtype). Default false: exact float64.
   */
  readonly f32?: boolean;
}

/** torch.linspace(start, end, steps) in float64. */
export function linspace(start: number, end: number, steps: number): Float64Array {
  if (steps === 1) return Float64Array.of(start);
  const step = (end - start) / (steps - 1);
  // torch fills the first half from the start and the second half from the end
  return Float64Array.from({ length: steps }, (_, i) => (i < Math.floor(steps / 2) ? start + i * step : end - (steps - 1 - i) * step));
}

/**
 * The frequencies of one pair each (the library's `self.freqs`):
 *   'lang'     theta^(-2i/dim) for i < floor(dim/2), after theta *= thetaRescaleFactor^(dim/(dim-2));
 *   'pixel'    linspace(1, maxFreq/2, floor(dim/2)) · π;
 *   'constant' numFreqs ones.
 */
export function ropeInvFreqs(o: RopeFreqOptions): Float64Array {
  const { dim, freqsFor = 'lang', maxFreq = 10, numFreqs = 1, thetaRescaleFactor = 1 } = o;
  let theta = o.theta ?? 10000;
  theta *= thetaRescaleFactor ** (dim / (dim - 2));
  const half = Math.floor(dim / 2);
  const r = o.f32 ? Math.fround : (x: number) => x;
  let freqs: Float64Array;
  if (o.customFreqs) freqs = Float64Array.from(o.customFreqs);
  else if (freqsFor === 'lang')
    freqs = Float64Array.from({ length: half }, (_, i) => (o.f32 ? r(1 / r(r(theta) ** r((2 * i) / dim))) : theta ** (-(2 * i) / dim)));
  else if (freqsFor === 'pixel') freqs = linspace(1, maxFreq / 2, half).map((f) => f * Math.PI);
  else freqs = new Float64Array(numFreqs).fill(1);
  return freqs;
}

/** Positions (i + offset) / interpolateFactor for i < seqLen, in float64. */
export function ropePositions(seqLen: number, o: { readonly offset?: number; readonly interpolateFactor?: number } = {}): Float64Array {
  const { offset = 0, interpolateFactor = 1 } = o;
  return Float64Array.from({ length: seqLen }, (_, i) => (i + offset) / interpolateFactor);
}

/** Angles per pair: [N, F] with angles[n, j] = positions[n] · invFreqs[j] (the kernels' half-width table). */
export function ropeAngles(positions: ArrayLike<number>, invFreqs: ArrayLike<number>): Float64Array {
  const N = positions.length, F = invFreqs.length, out = new Float64Array(N * F);
  for (let n = 0; n < N; n++) for (let j = 0; j < F; j++) out[n * F + j] = positions[n]! * invFreqs[j]!;
  return out;
}

/** Repeats each of the last-axis values twice: [..., F] -> [..., 2F] (the library's '... n -> ... (n r)', r = 2). */
export function repeatPairs(half: ArrayLike<number>, F: number): Float64Array {
  const rows = half.length / F, out = new Float64Array(half.length * 2);
  for (let n = 0; n < rows; n++)
    for (let j = 0; j < F; j++) out[n * 2 * F + 2 * j] = out[n * 2 * F + 2 * j + 1] = half[n * F + j]!;
  return out;
}

/** The library's `forward(positions)`: per-feature angles [N, 2F]. */
export function ropeFreqs(positions: ArrayLike<number>, invFreqs: ArrayLike<number>): Float64Array {
  return repeatPairs(ropeAngles(positions, invFreqs), invFreqs.length);
}

/**
 * xpos scales [N, 2P] (P = floor(dim/2) pairs, each repeated twice):
 *   scale[n, j] = ((2j + 0.4·dim) / (1.4·dim)) ^ ((positions[n] − center) / scaleBase).
 * The library centres at floor(len/2) of the positions it is given; pass the centre of the full
 * (key) sequence for queries too, which the library's cached-keys path does not.
 */
export function xposScale(positions: ArrayLike<number>, dim: number, scaleBase: number, center: number): Float64Array {
  const P = Math.floor(dim / 2), N = positions.length, out = new Float64Array(N * P);
  for (let n = 0; n < N; n++)
    for (let j = 0; j < P; j++) out[n * P + j] = ((2 * j + 0.4 * dim) / (1.4 * dim)) ** ((positions[n]! - center) / scaleBase);
  return repeatPairs(out, P);
}

export interface Arr {
  readonly data: ArrayLike<number>;
  readonly shape: readonly number[];
}

const numel = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);
const rowMajor = (shape: readonly number[]): number[] => {
  const s = new Array<number>(shape.length).fill(1);
  for (let i = shape.length - 2; i >= 0; i--) s[i] = s[i + 1]! * shape[i + 1]!;
  return s;
};

/**
 * Element strides of `a` broadcast against t's shape on every axis but the last: a 2-D [N, R] table
 * (per position) is placed along t's `seqDim` after keeping its last N = t.shape[seqDim] rows;
 * any other shape is right-aligned NumPy-style. Returns the element offset of a's first used row too.
 */
function broadcastRows(a: Arr, tShape: readonly number[], seqDim: number, what: string): { strides: number[]; base: number } {
  const nd = tShape.length, R = a.shape[a.shape.length - 1]!;
  const strides = new Array<number>(nd).fill(0);
  strides[nd - 1] = 1;
  if (a.shape.length === 2) {
    const sd = seqDim < 0 ? nd + seqDim : seqDim, N = tShape[sd]!;
    if (a.shape[0]! < N) throw new Error(`${what}: ${a.shape[0]} rows for ${N} positions`);
    strides[sd] = R;
    return { strides, base: (a.shape[0]! - N) * R };
  }
  const as = rowMajor(a.shape);
  for (let k = 1; k < a.shape.length; k++) {
    const ax = nd - 1 - k, ad = a.shape.length - 1 - k;
    if (ax < 0) {
      if (a.shape[ad] !== 1) throw new Error(`${what}: shape ${a.shape} does not broadcast to ${tShape}`);
      continue;
    }
    if (a.shape[ad] === tShape[ax]) strides[ax] = as[ad]!;
    else if (a.shape[ad] !== 1) throw new Error(`${what}: shape ${a.shape} does not broadcast to ${tShape}`);
  }
  return { strides, base: 0 };
}

export interface ApplyRotaryOptions {
  /** First rotated feature (default 0). */
  readonly startIndex?: number;
  /** A number, or per-feature scales shaped like `freqs` (xpos); multiplies the rotated features. */
  readonly scale?: number | Arr;
  /** The sequence axis of t, for 2-D [positions, R] freqs (default -2). */
  readonly seqDim?: number;
}

/**
 * apply_rotary_emb: rotates features [startIndex, startIndex + R) of t by the per-feature angles
 * `freqs` (last axis R, each pair's angle repeated twice): t·cos·scale + rotate_half(t)·sin·scale;
 * other features pass through. 2-D freqs are per position (their last rows are used, along seqDim);
 * others broadcast right-aligned against t (e.g. axial [H, W, R] against [B, H, W, D]).
 */
export function applyRotaryEmb(freqs: Arr, t: Arr, o: ApplyRotaryOptions = {}): Float64Array {
  const start = o.startIndex ?? 0, seqDim = o.seqDim ?? -2;
  const R = freqs.shape[freqs.shape.length - 1]!, D = t.shape[t.shape.length - 1]!;
  if (R % 2 !== 0) throw new Error(`applyRotaryEmb: rotated width ${R} is odd`);
  if (start + R > D) throw new Error(`applyRotaryEmb: feature dimension ${D} cannot rotate [${start}, ${start + R})`);
  const f = broadcastRows(freqs, t.shape, seqDim, 'freqs');
  const s = typeof o.scale === 'object' ? broadcastRows(o.scale, t.shape, seqDim, 'scale') : null;
  const scalar = typeof o.scale === 'number' ? o.scale : 1;
  const out = Float64Array.from(t.data);
  const rows = numel(t.shape) / D, nd = t.shape.length;
  const idx = new Array<number>(nd).fill(0);
  for (let r = 0; r < rows; r++) {
    let rem = r, fo = f.base, so = s?.base ?? 0;
    for (let ax = nd - 2; ax >= 0; ax--) {
      idx[ax] = rem % t.shape[ax]!;
      rem = Math.floor(rem / t.shape[ax]!);
      fo += idx[ax]! * f.strides[ax]!;
      if (s) so += idx[ax]! * s.strides[ax]!;
    }
    const x = r * D + start;
    for (let c = 0; c < R; c += 2) {
      const a = t.data[x + c]!, b = t.data[x + c + 1]!;
      const th0 = freqs.data[fo + c]!, th1 = freqs.data[fo + c + 1]!;
      const s0 = s ? (o.scale as Arr).data[so + c]! : scalar, s1 = s ? (o.scale as Arr).data[so + c + 1]! : scalar;
      out[x + c] = (a * Math.cos(th0) - b * Math.sin(th0)) * s0;
      out[x + c + 1] = (b * Math.cos(th1) + a * Math.sin(th1)) * s1;
    }
  }
  return out;
}

export interface RopeOptions extends Omit<RopeFreqOptions, 'dim'> {
  readonly interpolateFactor?: number;
  readonly useXpos?: boolean;
  readonly xposScaleBase?: number;
  /** Sequence axis -3 (t is [..., N, H, D]) instead of -2. */
  readonly seqBeforeHeadDim?: boolean;
}

/** RotaryEmbedding(dim, options).rotate_queries_or_keys(t, { offset, scale }) (no xpos). */
export function rotateQueriesOrKeys(dim: number, t: Arr, o: RopeOptions & { readonly offset?: number; readonly seqDim?: number; readonly scale?: number | Arr } = {}): Float64Array {
  const seqDim = o.seqDim ?? (o.seqBeforeHeadDim ? -3 : -2);
  const N = t.shape[t.shape.length + seqDim]!;
  const pos = ropePositions(N, { offset: o.offset ?? 0, interpolateFactor: o.interpolateFactor ?? 1 });
  const inv = ropeInvFreqs({ ...o, dim });
  return applyRotaryEmb({ data: ropeFreqs(pos, inv), shape: [N, 2 * inv.length] }, t, { seqDim, scale: o.scale ?? 1 });
}

/**
 * rotate_queries_with_cached_keys: keys take positions 0..k_len-1, queries the last q_len of them
 * (plus offset). With xpos, both use scales centred at floor(k_len / 2) (queries scaled up, keys down).
 */
export function rotateQueriesWithCachedKeys(dim: number, q: Arr, k: Arr, o: RopeOptions & { readonly offset?: number; readonly seqDim?: number } = {}): { q: Float64Array; k: Float64Array } {
  const seqDim = o.seqDim ?? (o.seqBeforeHeadDim ? -3 : -2);
  const Nq = q.shape[q.shape.length + seqDim]!, Nk = k.shape[k.shape.length + seqDim]!;
  if (Nq > Nk) throw new Error('rotateQueriesWithCachedKeys: q_len > k_len');
  const interp = o.interpolateFactor ?? 1, inv = ropeInvFreqs({ ...o, dim }), R = 2 * inv.length;
  const qPos = ropePositions(Nq, { offset: Nk - Nq + (o.offset ?? 0), interpolateFactor: interp });
  const kPos = ropePositions(Nk, { interpolateFactor: interp });
  let qScale: number | Arr = 1, kScale: number | Arr = 1;
  if (o.useXpos) {
    const base = o.xposScaleBase ?? 512, center = Math.floor(Nk / 2);
    qScale = { data: xposScale(qPos, dim, base, center), shape: [Nq, R] };
    kScale = { data: xposScale(kPos, dim, base, center).map((v) => 1 / v), shape: [Nk, R] };
  }
  return {
    q: applyRotaryEmb({ data: ropeFreqs(qPos, inv), shape: [Nq, R] }, q, { seqDim, scale: qScale }),
    k: applyRotaryEmb({ data: ropeFreqs(kPos, inv), shape: [Nk, R] }, k, { seqDim, scale: kScale }),
  };
}

/** rotate_queries_and_keys (xpos): same positions for q and k, q scaled by xpos scales, k by their inverse. */
export function rotateQueriesAndKeys(dim: number, q: Arr, k: Arr, o: RopeOptions & { readonly seqDim?: number } = {}): { q: Float64Array; k: Float64Array } {
  return rotateQueriesWithCachedKeys(dim, q, k, { ...o, useXpos: true, offset: 0 });
}

/**
 * get_axial_freqs(...dims, { offsets }): per-axis positions (linspace(-1, 1, n) for 'pixel', else
 * 0..n-1) plus the axis offset, each axis' angles [n, 2F] placed on its own axis and broadcast, then
 * concatenated on the last axis: shape [...dims, dims.length · 2F].
 */
export function getAxialFreqs(dim: number, dims: readonly number[], o: RopeOptions & { readonly offsets?: readonly number[] } = {}): Arr {
  const inv = ropeInvFreqs({ ...o, dim }), W = 2 * inv.length, A = dims.length;
  if (o.offsets && o.offsets.length !== A) throw new Error('getAxialFreqs: one offset per axis');
  const perAxis = dims.map((n, a) => {
    const pos = (o.freqsFor === 'pixel' ? linspace(-1, 1, n) : Float64Array.from({ length: n }, (_, i) => i)).map((p) => p + (o.offsets?.[a] ?? 0));
    return ropeFreqs(pos, inv);
  });
  const shape = [...dims, A * W], out = new Float64Array(numel(shape));
  const cells = numel(dims), idx = new Array<number>(A).fill(0);
  for (let cell = 0; cell < cells; cell++) {
    let rem = cell;
    for (let a = A - 1; a >= 0; a--) { idx[a] = rem % dims[a]!; rem = Math.floor(rem / dims[a]!); }
    for (let a = 0; a < A; a++)
      for (let c = 0; c < W; c++) out[cell * A * W + a * W + c] = perAxis[a]![idx[a]! * W + c]!;
  }
  return { data: out, shape };
}

/**
 * apply_learned_rotations(rotations [..., N, Rr], t, { startIndex, freqRanges [Fr] }): angles
 * rotations[..., r]·freqRanges[f] flattened (r, f), each repeated twice, applied like applyRotaryEmb.
 */
export function applyLearnedRotations(rotations: Arr, t: Arr, o: { readonly startIndex?: number; readonly freqRanges?: ArrayLike<number> } = {}): Float64Array {
  let angles = Float64Array.from(rotations.data), shape = [...rotations.shape];
  if (o.freqRanges) {
    const fr = o.freqRanges, Fr = fr.length, Rr = shape[shape.length - 1]!;
    angles = new Float64Array(rotations.data.length * Fr);
    for (let i = 0; i < rotations.data.length; i++) for (let f = 0; f < Fr; f++) angles[i * Fr + f] = rotations.data[i]! * fr[f]!;
    shape[shape.length - 1] = Rr * Fr;
  }
  const F = shape[shape.length - 1]!;
  shape[shape.length - 1] = 2 * F;
  // the library slices 3-D t's freqs on axis 0 (a no-op for a batch axis of 1); rows broadcast right-aligned
  return applyRotaryEmb({ data: repeatPairs(angles, F), shape: shape.length === 2 ? [1, ...shape] : shape }, t, { startIndex: o.startIndex ?? 0 });
}

/** broadcat: every axis but `dim` broadcast to a common size (size 1 repeats), then concatenated along `dim`. */
export function broadcat(tensors: readonly Arr[], dim: number): Arr {
  const nd = tensors[0]!.shape.length, d = dim < 0 ? dim + nd : dim;
  const shape = tensors[0]!.shape.map((_, a) => (a === d ? tensors.reduce((s, t) => s + t.shape[a]!, 0) : Math.max(...tensors.map((t) => t.shape[a]!))));
  const out = new Float64Array(numel(shape)), outStrides = rowMajor(shape);
  let at = 0;
  for (const t of tensors) {
    const ts = rowMajor(t.shape), piece = shape.map((s, a) => (a === d ? t.shape[a]! : s));
    for (let i = 0; i < numel(piece); i++) {
      let rem = i, src = 0, dst = 0;
      for (let a = nd - 1; a >= 0; a--) {
        const idx = rem % piece[a]!;
        rem = Math.floor(rem / piece[a]!);
        src += (t.shape[a] === 1 ? 0 : idx) * ts[a]!;
        dst += (a === d ? idx + at : idx) * outStrides[a]!;
      }
      out[dst] = t.data[src]!;
    }
    at += t.shape[d]!;
  }
  return { data: out, shape };
}
