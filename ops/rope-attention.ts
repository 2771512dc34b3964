// flashAttnWithRope: attention over rotary-embedded queries and keys, the rotation fused into the
// attention kernel (kernels/rope-flash-attention.ts): q and k are read once, never written rotated.
import { Tensor } from './tensor.js';
import type { RotaryEmbedding } from './rope.js';
import { ropeFlashAttention } from '../kernels/rope-flash-attention.js';
import { webgpuWorkgroupBudget, fitBlocks, fmaDotBytes } from './webgpu-tiles.js';
import type { Device, DeviceName } from '../runtime/device.js';

export interface FlashAttnWithRopeOptions {
  /** The rotary embedding whose angles rotate q and k (fixed frequencies, no xpos)... */
  readonly rotary?: RotaryEmbedding;
  /** ...or per-feature angles [positions >= k_len, R] as applyRotaryEmb takes them (pairs repeated). */
  readonly freqs?: Tensor;
  readonly causal?: boolean;
  /** Boolean mask, true = attend: (batch, k_len) key padding, (q_len, k_len) or (batch, q_len, k_len). */
  readonly mask?: Tensor;
  /** Default head_dim^-0.5. */
  readonly softmaxScale?: number;
}

const nextPow2 = (n: number): number => 2 ** Math.ceil(Math.log2(Math.max(1, n)));

/**
 * The blocks of flashAttnWithRope's kernel (4 warps): up to 64 queries × 64 keys; on WebGPU (FMA dots,
 * both operand tiles in workgroup memory as f32) halved until [BM, BD] · [BD, BN] and [BM, BN] ·
 * [BN, BD] fit the device's budget.
 */
export function ropeAttentionBlocks(Nq: number, Nk: number, D: number, device?: DeviceName | Device): { BM: number; BN: number; BD: number } {
  const BD = Math.max(16, nextPow2(D));
  const budget = webgpuWorkgroupBudget(device);
  const { M: BM, N: BN } = fitBlocks(Math.min(64, Math.max(16, nextPow2(Nq))), Math.min(64, Math.max(16, nextPow2(Nk))),
    (m, n) => !budget || Math.max(fmaDotBytes(m, BD, n), fmaDotBytes(m, n, BD)) <= budget(4));
  return { BM, BN, BD };
}

function check4(name: string, t: unknown): readonly [number, number, number, number] {
  if (!(t instanceof Tensor)) throw new TypeError(`${name}: expected a Tensor, received ${typeof t}`);
  if (t.ndim !== 4) throw new RangeError(`${name}: expected 4 dims (batch, heads, seq, dim), received shape [${t.shape}]`);
  return t.shape as unknown as [number, number, number, number];
}

/**
 * softmax(rot(q)·rot(k)ᵀ · scale, masked) @ v for q [b, h, q_len, d], k and v [b, h_kv, k_len, d]
 * (h a multiple of h_kv). Keys take positions 0..k_len-1 and queries the last q_len of them; causal
 * masks align bottom-right. The output has q's shape and dtype.
 */
export function flashAttnWithRope(q: Tensor, k: Tensor, v: Tensor, options: FlashAttnWithRopeOptions): Tensor {
  const [B, H, Nq, D] = check4('q', q), [Bk, Hkv, Nk, Dk] = check4('k', k), vs = check4('v', v);
  for (const [n, t] of [['k', k], ['v', v]] as const)
    if (t.device !== q.device) throw new TypeError(`${n}: expected a tensor on '${q.device}' (where q is), received one on '${t.device}'`);
  if (Bk !== B || Dk !== D) throw new RangeError(`k: expected shape [${B}, h_kv, k_len, ${D}], received [${k.shape}]`);
  if (vs.join() !== k.shape.join()) throw new RangeError(`v: expected the shape of k [${k.shape}], received [${v.shape}]`);
  if (Hkv < 1 || H % Hkv !== 0) throw new RangeError(`k: expected a number of heads dividing q's ${H}, received ${Hkv}`);
  if (Nq > Nk) throw new RangeError(`q: expected q_len <= k_len (${Nk}), received q_len ${Nq}`);
  if ((options.rotary === undefined) === (options.freqs === undefined)) throw new TypeError(`options: expected exactly one of rotary and freqs`);
  let table: Tensor;
  if (options.rotary) table = options.rotary.angleTable(Nk, { device: q.device });
  else {
    const f = options.freqs!;
    if (!(f instanceof Tensor) || f.ndim !== 2 || f.shape[1]! % 2 !== 0 || f.shape[0]! < Nk)
      throw new RangeError(`freqs: expected [positions >= ${Nk}, even rotated width], received ${f instanceof Tensor ? `[${f.shape}]` : typeof f}`);
    if (f.device !== q.device) throw new TypeError(`freqs: expected a tensor on '${q.device}', received one on '${f.device}'`);
    const R = f.shape[1]!;
    // first Nk positions, first angle of each pair
    table = f.asStrided([Nk, R / 2], [f.strides[0]!, 2 * f.strides[1]!], f.offset).contiguous('f32');
  }
  const F = table.shape[1]!, rot = 2 * F;
  if (rot > D) throw new RangeError(`q: expected a head dim of at least ${rot} (the rotated width), received ${D}`);
  let mask: { t: Tensor; strides: [number, number, number] } | undefined;
  if (options.mask) {
    const m = options.mask;
    if (!(m instanceof Tensor) || (m.dtype !== 'u8' && m.dtype !== 'i1')) throw new TypeError(`mask: expected a boolean (u8 or i1) Tensor, received ${m instanceof Tensor ? m.dtype : typeof m}`);
    if (m.device !== q.device) throw new TypeError(`mask: expected a tensor on '${q.device}', received one on '${m.device}'`);
    const c = m.contiguous(), sh = m.shape.join();
    if (sh === [B, Nk].join()) mask = { t: c, strides: [Nk, 0, 1] };
    else if (sh === [Nq, Nk].join()) mask = { t: c, strides: [0, Nk, 1] };
    else if (sh === [B, Nq, Nk].join()) mask = { t: c, strides: [Nq * Nk, Nk, 1] };
    else throw new RangeError(`mask: expected shape [${B}, ${Nk}], [${Nq}, ${Nk}] or [${B}, ${Nq}, ${Nk}], received [${m.shape}]`);
  }
  const qc = q.contiguous(), kc = k.contiguous(), vc = v.contiguous();
  const out = Tensor.zeros(q.shape, { dtype: q.dtype, device: q.device });
  if (B * H * Nq === 0) return out;
  const { BM, BN, BD } = ropeAttentionBlocks(Nq, Nk, D, q.device);
  ropeFlashAttention.launch(
    { grid: [Math.ceil(Nq / BM), B * H], device: q.device, numWarps: 4 },
    qc.storage.arg, kc.storage.arg, vc.storage.arg, table.storage.arg, mask?.t.storage.arg ?? table.storage.arg, out.storage.arg,
    H, H / Hkv, Nq, Nk, D, rot, F, options.softmaxScale ?? D ** -0.5,
    H * Nq * D, Nq * D, D, Hkv * Nk * D, Nk * D, D, Hkv * Nk * D, Nk * D, D, H * Nq * D, Nq * D, D,
    mask?.strides[0] ?? 0, mask?.strides[1] ?? 0, mask?.strides[2] ?? 0,
    mask !== undefined, options.causal ?? false, BM, BN, BD,
  );
  return out;
}
