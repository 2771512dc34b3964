// Kernel-language helpers shared by the PoPE kernels (inlined where they are called).
import { tl } from '../index.js';

/** The built-in PoPE magnitudes. */
export type MagnitudeName = 'softplus' | 'relu' | 'exp';
/** A custom PoPE magnitude, written in the kernel language: features (f32 block) to magnitudes. */
export type MagnitudeFn = (x: tl.Tensor) => tl.Tensor;
export type Magnitude = MagnitudeName | MagnitudeFn;

/**
 * The PoPE magnitude of each feature: softplus by default (computed without overflow), or the
 * caller's kernel-language function, inlined (typeof folds at compile time).
 */
export function magnitude(x: tl.Tensor, KIND: tl.constexpr<Magnitude>): tl.Tensor {
  if (typeof KIND === 'function') return KIND(x);
  if (KIND === 'relu') return tl.maximum(x, 0);
  if (KIND === 'exp') return tl.exp(x);
  return tl.softplus(x);
}

/** The key phase bias as read: clamped to [-2π, 0]. */
export function clampBias(b: tl.Tensor): tl.Tensor {
  return tl.minimum(tl.maximum(b, -2 * Math.PI), 0);
}

/**
 * Loads a tile of rows (queries or keys) and returns its PoPE features split in three, each
 * [rows, BLOCK_D]: magnitude·cos(phase) and magnitude·sin(phase) on the first `rot` features (zero
 * elsewhere) and the unrotated tail (zero on the first `rot`). The PoPE score of a query and a key is
 * then cos·cos + sin·sin + tail·tail: three ordinary dot products.
 * `phaseShift` is added to every phase: a [1, BLOCK_D] row (the bias moved to the query side) or 0.
 */
export function popeRotatedTile(
  Base: tl.Tensor, rows: tl.Tensor, nRows: tl.Tensor, rowStride: tl.Tensor, Freqs: tl.Tensor, freqRowOffset: tl.Tensor,
  D: tl.Tensor, rot: tl.Tensor, phaseShift: tl.Tensor, MAGNITUDE: tl.constexpr<Magnitude>, BLOCK_D: tl.constexpr,
): [tl.Tensor, tl.Tensor, tl.Tensor] {
  const dims = tl.arange(0, BLOCK_D);
  const rowOk = tl.col(rows < nRows);
  const x = tl.cast(tl.load(Base + tl.col(rows) * rowStride + tl.row(dims), { mask: rowOk && tl.row(dims < D), other: 0 }), 'f32');
  const rotMask = rowOk && tl.row(dims < rot);
  const phase = tl.load(Freqs + tl.col(rows + freqRowOffset) * rot + tl.row(dims), { mask: rotMask, other: 0 }) + phaseShift;
  const m = tl.where(rotMask, magnitude(x, MAGNITUDE), 0);
  return [m * tl.cos(phase), m * tl.sin(phase), tl.where(tl.row(dims >= rot), x, 0)];
}

/**
 * The same features for keys laid out transposed, [BLOCK_D, rows], ready to be the right-hand
 * operand of q·kᵀ without a transpose. Features are cast to DOT (the tensor-core input type).
 */
export function popeRotatedTileT(
  Base: tl.Tensor, rows: tl.Tensor, nRows: tl.Tensor, rowStride: tl.Tensor, Freqs: tl.Tensor,
  D: tl.Tensor, rot: tl.Tensor, MAGNITUDE: tl.constexpr<Magnitude>, BLOCK_D: tl.constexpr, DOT: tl.constexpr<tl.DTypeName>,
): [tl.Tensor, tl.Tensor, tl.Tensor] {
  const dims = tl.arange(0, BLOCK_D);
  const rowOk = tl.row(rows < nRows);
  const x = tl.cast(tl.load(Base + tl.row(rows) * rowStride + tl.col(dims), { mask: rowOk && tl.col(dims < D), other: 0 }), 'f32');
  const rotMask = rowOk && tl.col(dims < rot);
  const phase = tl.load(Freqs + tl.row(rows) * rot + tl.col(dims), { mask: rotMask, other: 0 });
  const m = tl.where(rotMask, magnitude(x, MAGNITUDE), 0);
  return [tl.cast(m * tl.cos(phase), DOT), tl.cast(m * tl.sin(phase), DOT), tl.cast(tl.where(tl.col(dims >= rot), x, 0), DOT)];
}
