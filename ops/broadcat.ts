// broadcat (rotary-embedding-torch): concatenation along one axis after broadcasting every other
// axis to a common size (size-1 axes repeat), each piece copied by a kernel into its slice.
import { Tensor } from './tensor.js';

export function broadcat(tensors: readonly Tensor[], dim = -1): Tensor {
  if (!Array.isArray(tensors) || tensors.length === 0) throw new TypeError(`tensors: expected a non-empty list of Tensors, received ${Array.isArray(tensors) ? 'an empty list' : typeof tensors}`);
  tensors.forEach((t, i) => {
    if (!(t instanceof Tensor)) throw new TypeError(`tensors[${i}]: expected a Tensor, received ${typeof t}`);
  });
  const first = tensors[0]!, nd = first.ndim;
  if (!Number.isInteger(dim) || dim < -nd || dim >= nd) throw new RangeError(`dim: expected an axis in [${-nd}, ${nd - 1}], received ${dim}`);
  const d = dim < 0 ? dim + nd : dim;
  tensors.forEach((t, i) => {
    if (t.ndim !== nd) throw new RangeError(`tensors[${i}]: expected ${nd} dims (as tensors[0]), received shape [${t.shape}]`);
    if (t.dtype !== first.dtype) throw new TypeError(`tensors[${i}]: expected dtype ${first.dtype} (as tensors[0]), received ${t.dtype}`);
    if (t.device !== first.device) throw new TypeError(`tensors[${i}]: expected device '${first.device}' (as tensors[0]), received '${t.device}'`);
  });
  const shape: number[] = first.shape.map((_: number, a: number): number => {
    if (a === d) return tensors.reduce((s, t) => s + t.shape[a]!, 0);
    const sizes = new Set(tensors.map((t) => t.shape[a]!).filter((n) => n !== 1));
    if (sizes.size > 1) throw new RangeError(`tensors: axis ${a} must be broadcastable (equal sizes or 1), received sizes ${tensors.map((t) => t.shape[a]).join(', ')}`);
    return sizes.size ? [...sizes][0]! : 1;
  });
  const out = Tensor.zeros(shape, { dtype: first.dtype, device: first.device });
  let at = 0;
  for (const t of tensors) {
    const n = t.shape[d]!;
    out.slice(d, at, at + n).assign(t.expand(shape.map((s, a) => (a === d ? n : s))));
    at += n;
  }
  return out;
}
