// Host-side launchers of the RoPE kernels (kernels/rope.ts) on raw buffers: they check shapes (a
// RangeError naming the argument, the expected and the received), derive strides, block sizes and
// the grid. Also the host-side tables the kernels read: angles per (position, pair) and xpos scales,
// computed in float64 from float64 positions and rounded once to f32, so that positions never pass
// through the tensor's dtype (rotary-embedding-torch builds them in it: bf16 turns 257 into 256).
import { ropeApply, ropeQK } from '../kernels/rope.js';
import type { BufferArg } from '../runtime/buffers.js';
import type { Device, DeviceName } from '../runtime/device.js';
import type { Shape4, Strides4 } from './pope-kernels.js';

export type { Shape4, Strides4 };

/** A [B, H, N, D]-like view of a buffer: element (b, h, n, d) at b·s0 + h·s1 + n·s2 + d (contiguous by default). */
export interface View4 {
  readonly data: BufferArg;
  readonly shape: Shape4;
  readonly strides?: Strides4;
}

export const contiguous4 = (s: Shape4): Strides4 => [s[1] * s[2] * s[3], s[2] * s[3], s[3], 1];
const nextPow2 = (n: number): number => 2 ** Math.ceil(Math.log2(Math.max(1, n)));
const blockDim = (d: number): number => Math.max(16, nextPow2(d));
const BLOCK_N = 16;

function check(cond: boolean, arg: string, expected: string, received: unknown): void {
  if (!cond) throw new RangeError(`${arg}: expected ${expected}, received ${typeof received === 'string' ? received : JSON.stringify(received)}`);
}

/** Elements a buffer argument holds (typed array, tagged host buffer or device buffer). */
function lengthOf(b: BufferArg): number {
  if (ArrayBuffer.isView(b)) return (b as { length: number }).length;
  if ('data' in b) return b.data.length;
  return b.length;
}

function checkView(v: View4, arg: string): Strides4 {
  const s = v.shape;
  check(Array.isArray(s) && s.length === 4 && s.every((d) => Number.isInteger(d) && d >= 0), `${arg}.shape`, 'four non-negative integers [B, H, N, D]', s);
  const st = v.strides ?? contiguous4(s);
  check(st.length === 4 && st[3] === 1 && st.slice(0, 3).every((x) => Number.isInteger(x) && x >= 0), `${arg}.strides`, 'four non-negative integers with a last stride of 1', st);
  const last = s.some((d) => d === 0) ? 0 : (s[0] - 1) * st[0] + (s[1] - 1) * st[1] + (s[2] - 1) * st[2] + s[3];
  check(lengthOf(v.data) >= last, `${arg}.data`, `at least ${last} elements for shape ${JSON.stringify(s)} and strides ${JSON.stringify(st)}`, `${lengthOf(v.data)} elements`);
  return st;
}

function checkRotation(D: number, rotDim: number, startIndex: number, arg: string): void {
  check(Number.isInteger(rotDim) && rotDim >= 2 && rotDim % 2 === 0, `${arg}rotDim`, 'an even integer >= 2', rotDim);
  check(Number.isInteger(startIndex) && startIndex >= 0 && startIndex + rotDim <= D, `${arg}startIndex`, `startIndex + rotDim (${rotDim}) <= head dim ${D}`, startIndex);
}

/** A table of f32 values per (row, pair), rows [0, rows): angles or xpos scales. */
export interface Table {
  readonly data: BufferArg;
  readonly rows: number;
}

function checkTable(t: Table, width: number, needRows: number, arg: string): void {
  check(Number.isInteger(t.rows) && t.rows >= needRows, `${arg}.rows`, `at least ${needRows} rows (one per position + offset)`, t.rows);
  check(lengthOf(t.data) >= t.rows * width, `${arg}.data`, `at least ${t.rows * width} elements ([${t.rows}, ${width}])`, `${lengthOf(t.data)} elements`);
}

export interface RopeApplyOptions {
  /** Number of rotated features (even); they start at startIndex (default 0); the others pass through. */
  readonly rotDim: number;
  readonly startIndex?: number;
  /** Angles [rows, rotDim / 2]: row `position + freqOffset`, one angle per pair. */
  readonly freqs: Table;
  /** Table row of position 0 (default 0). */
  readonly freqOffset?: number;
  /** xpos scales [rows, rotDim / 2] (row `position + offset`); `invert` divides by them (keys). */
  readonly scale?: Table & { readonly offset?: number; readonly invert?: boolean };
  readonly device?: DeviceName | Device;
}

/** Rotates x [B, H, N, D] (any strides, last one 1) into out (same shape; may be x itself). */
export function launchRopeApply(x: View4, out: View4, o: RopeApplyOptions): void {
  const xs = checkView(x, 'x'), os = checkView(out, 'out');
  const [B, H, N, D] = x.shape, start = o.startIndex ?? 0, F = o.rotDim / 2;
  check(out.shape.every((d, i) => d === x.shape[i]), 'out.shape', JSON.stringify(x.shape), out.shape);
  checkRotation(D, o.rotDim, start, '');
  const freqOffset = o.freqOffset ?? 0;
  check(Number.isInteger(freqOffset) && freqOffset >= 0, 'freqOffset', 'a non-negative integer', freqOffset);
  checkTable(o.freqs, F, N + freqOffset, 'freqs');
  const scaleOffset = o.scale?.offset ?? 0;
  if (o.scale) {
    check(Number.isInteger(scaleOffset) && scaleOffset >= 0, 'scale.offset', 'a non-negative integer', scaleOffset);
    checkTable(o.scale, F, N + scaleOffset, 'scale');
  }
  if (B * H * N === 0) return;
  ropeApply.launch(
    { grid: [Math.ceil(N / BLOCK_N), B * H], device: o.device },
    x.data, out.data, o.freqs.data, o.scale?.data ?? o.freqs.data, o.freqs.data,
    H, N, D, o.rotDim, start, xs[0], xs[1], xs[2], os[0], os[1], os[2], F, 0, freqOffset, scaleOffset,
    o.scale !== undefined, o.scale?.invert ?? false, 0, BLOCK_N, blockDim(D),
  );
}

export interface LearnedRotationsOptions {
  /** Frequency ranges [Fr] (f32): pair (r, f) turns by rotations[..., r] · freqRanges[f]. */
  readonly freqRanges?: { readonly data: BufferArg; readonly length: number };
  readonly startIndex?: number;
  readonly device?: DeviceName | Device;
}

/**
 * apply_learned_rotations: rotations [Br, N, Rr] (Br = 1 or B; f32) per position of t [B, H, N, D]
 * (a 3-D t [B, N, D] is [B, 1, N, D]); rotDim = 2 · Rr · Fr.
 */
export function launchLearnedRotations(rotations: { readonly data: BufferArg; readonly shape: readonly [number, number, number] }, t: View4, out: View4, o: LearnedRotationsOptions = {}): void {
  const ts = checkView(t, 't'), os = checkView(out, 'out');
  const [B, H, N, D] = t.shape, [Br, Nr, Rr] = rotations.shape, start = o.startIndex ?? 0;
  check(out.shape.every((d, i) => d === t.shape[i]), 'out.shape', JSON.stringify(t.shape), out.shape);
  check(rotations.shape.length === 3 && (Br === 1 || Br === B) && Nr === N && Number.isInteger(Rr) && Rr >= 1, 'rotations.shape',
    `[1 or ${B}, ${N}, Rr]`, rotations.shape);
  check(lengthOf(rotations.data) >= Br * Nr * Rr, 'rotations.data', `at least ${Br * Nr * Rr} elements`, `${lengthOf(rotations.data)} elements`);
  const Fr = o.freqRanges?.length ?? 0;
  if (o.freqRanges) {
    check(Number.isInteger(Fr) && Fr >= 1, 'freqRanges.length', 'a positive integer', Fr);
    check(lengthOf(o.freqRanges.data) >= Fr, 'freqRanges.data', `at least ${Fr} elements`, `${lengthOf(o.freqRanges.data)} elements`);
  }
  const rotDim = 2 * Rr * Math.max(1, Fr);
  checkRotation(D, rotDim, start, 'rotations: ');
  if (B * H * N === 0) return;
  ropeApply.launch(
    { grid: [Math.ceil(N / BLOCK_N), B * H], device: o.device },
    t.data, out.data, rotations.data, rotations.data, o.freqRanges?.data ?? rotations.data,
    H, N, D, rotDim, start, ts[0], ts[1], ts[2], os[0], os[1], os[2], Rr, Br === 1 ? 0 : N * Rr, 0, 0,
    false, false, Fr, BLOCK_N, blockDim(D),
  );
}

export interface RopeQKOptions {
  readonly rotDim: number;
  readonly startIndex?: number;
  /** Angles [rows, rotDim / 2] per position (row = position). */
  readonly freqs: Table;
  /** Table row of key position 0 (default 0). */
  readonly kOffset?: number;
  /** Table row of query position 0 (default kOffset + Nk − Nq: queries take the last positions). */
  readonly qOffset?: number;
  /** xpos scales [rows, rotDim / 2], indexed like freqs: queries multiplied, keys divided. */
  readonly scale?: Table;
  readonly device?: DeviceName | Device;
}

/**
 * Rotates q [B, H, Nq, D] and k [B, Hkv, Nk, D] (H a multiple of Hkv: grouped-query heads) in one
 * launch into qOut and kOut (same shapes; may be q and k themselves).
 */
export function launchRopeQK(q: View4, k: View4, qOut: View4, kOut: View4, o: RopeQKOptions): void {
  const qs = checkView(q, 'q'), ks = checkView(k, 'k'), qos = checkView(qOut, 'qOut'), kos = checkView(kOut, 'kOut');
  const [B, H, Nq, D] = q.shape, [Bk, Hkv, Nk, Dk] = k.shape, start = o.startIndex ?? 0, F = o.rotDim / 2;
  check(qOut.shape.every((d, i) => d === q.shape[i]), 'qOut.shape', JSON.stringify(q.shape), qOut.shape);
  check(kOut.shape.every((d, i) => d === k.shape[i]), 'kOut.shape', JSON.stringify(k.shape), kOut.shape);
  check(Bk === B, 'k.shape[0]', `the batch size of q (${B})`, Bk);
  check(Dk === D, 'k.shape[3]', `the head dim of q (${D})`, Dk);
  check(Hkv >= 1 && H % Hkv === 0, 'k.shape[1]', `a divisor of the ${H} query heads`, Hkv);
  checkRotation(D, o.rotDim, start, '');
  const kOffset = o.kOffset ?? 0, qOffset = o.qOffset ?? kOffset + Nk - Nq;
  check(Number.isInteger(kOffset) && kOffset >= 0, 'kOffset', 'a non-negative integer', kOffset);
  check(Number.isInteger(qOffset) && qOffset >= 0, 'qOffset', `a non-negative integer (q_len ${Nq} <= k_len ${Nk} when defaulted)`, qOffset);
  const need = Math.max(Nq + qOffset, Nk + kOffset);
  checkTable(o.freqs, F, need, 'freqs');
  if (o.scale) checkTable(o.scale, F, need, 'scale');
  if (B * H * Math.max(Nq, Nk) === 0) return;
  ropeQK.launch(
    { grid: [Math.ceil(Math.max(Nq, Nk) / BLOCK_N), B * H], device: o.device },
    q.data, k.data, qOut.data, kOut.data, o.freqs.data, o.scale?.data ?? o.freqs.data,
    H, H / Hkv, Nq, Nk, D, o.rotDim, start, qs[0], qs[1], qs[2], ks[0], ks[1], ks[2],
    qos[0], qos[1], qos[2], kos[0], kos[1], kos[2], F, qOffset, kOffset,
    o.scale !== undefined, BLOCK_N, blockDim(D),
  );
}

// ---- host-side tables (float64 math, one rounding to f32)

export type FreqsFor = 'lang' | 'pixel' | 'constant';

export interface RopeFrequencyOptions {
  readonly freqsFor?: FreqsFor;
  readonly theta?: number;
  readonly maxFreq?: number;
  readonly numFreqs?: number;
  readonly thetaRescaleFactor?: number;
}

/** Frequencies per pair ('lang': theta^(-2i/dim) after NTK rescaling; 'pixel': linspace(1, maxFreq/2)·π; 'constant': ones). */
export function ropeFrequencies(dim: number, o: RopeFrequencyOptions = {}): Float64Array {
  const { freqsFor = 'lang', maxFreq = 10, numFreqs = 1, thetaRescaleFactor = 1 } = o;
  const theta = (o.theta ?? 10000) * thetaRescaleFactor ** (dim / (dim - 2)), P = Math.floor(dim / 2);
  if (freqsFor === 'constant') return new Float64Array(numFreqs).fill(1);
  if (freqsFor === 'pixel') {
    const step = P > 1 ? (maxFreq / 2 - 1) / (P - 1) : 0;
    return Float64Array.from({ length: P }, (_, i) => (1 + i * step) * Math.PI);
  }
  return Float64Array.from({ length: P }, (_, i) => theta ** (-(2 * i) / dim));
}

/**
 * Angles [positions, F] as f32: (position + offset) / interpolateFactor · freqs[j], positions
 * 0..seqLen-1 (or the given ones), all in float64 before the single rounding.
 */
export function ropeAngleTable(freqs: ArrayLike<number>, o: { readonly seqLen?: number; readonly positions?: ArrayLike<number>; readonly offset?: number; readonly interpolateFactor?: number }): Float32Array {
  const pos = o.positions ?? Array.from({ length: o.seqLen ?? 0 }, (_, i) => i);
  const F = freqs.length, out = new Float32Array(pos.length * F), off = o.offset ?? 0, interp = o.interpolateFactor ?? 1;
  for (let n = 0; n < pos.length; n++) for (let j = 0; j < F; j++) out[n * F + j] = ((pos[n]! + off) / interp) * freqs[j]!;
  return out;
}

/**
 * xpos scales [positions, floor(dim/2)] as f32: ((2j + 0.4·dim) / (1.4·dim))^((position − center) / scaleBase).
 * Use one centre (floor(k_len / 2)) for queries and keys alike.
 */
export function xposScaleTable(dim: number, positions: ArrayLike<number>, o: { readonly scaleBase?: number; readonly center: number }): Float32Array {
  const P = Math.floor(dim / 2), base = o.scaleBase ?? 512, out = new Float32Array(positions.length * P);
  for (let n = 0; n < positions.length; n++)
    for (let j = 0; j < P; j++) out[n * P + j] = ((2 * j + 0.4 * dim) / (1.4 * dim)) ** ((positions[n]! - o.center) / base);
  return out;
}
