// Kernel parameters and cuLaunchKernel. cuLaunchKernel takes `void **kernelParams`: an array holding,
// for each parameter, the address of its value. tilejit keeps one 8-byte slot per parameter in one
// Buffer per kernel, plus the array of the slots' addresses; both are built once and reused for every
// launch (the driver copies the values during the call).
import type { PtxParam } from '../../compiler/backends/ptx/index.js';
import { check, cu, koffi, type CuHandle } from './driver.js';

/** How a slot is filled: a 64-bit device pointer or a scalar of a PTX type. */
export type ParamSlotType = 'ptr' | 's32' | 'u32' | 's64' | 'u64' | 'f32' | 'f64' | 'u8' | 's8' | 'pred';
/** A parameter value: device addresses as bigint (or number), scalars as number, predicates as boolean. */
export type ParamValue = number | bigint | boolean;

export const SLOT_BYTES = 8;

/** The slot type of a backend parameter description. */
export function slotType(p: PtxParam): ParamSlotType {
  return p.kind === 'ptr' ? 'ptr' : p.type;
}

/**
 * Writes each value into its 8-byte slot of `slots` (little-endian, the rest of the slot zeroed):
 * pointers and 64-bit integers as 8 bytes, s32/u32/f32 as 4, f64 as 8, u8/s8/pred as 1. Pure: no FFI.
 */
export function packParams(types: readonly ParamSlotType[], values: readonly ParamValue[], slots: Uint8Array | DataView): void {
  if (values.length !== types.length) throw new RangeError(`kernel takes ${types.length} parameters, got ${values.length} values`);
  if (slots.byteLength < types.length * SLOT_BYTES) throw new RangeError(`parameter buffer of ${slots.byteLength} bytes is too small for ${types.length} slots`);
  const dv = slots instanceof DataView ? slots : new DataView(slots.buffer, slots.byteOffset, slots.byteLength);
  for (let i = 0; i < types.length; i++) {
    const off = i * SLOT_BYTES, v = values[i]!, t = types[i]!;
    dv.setBigUint64(off, 0n, true);
    switch (t) {
      case 'ptr':
      case 'u64':
        dv.setBigUint64(off, toBigInt(v, t, i, 0n, 2n ** 64n - 1n), true);
        break;
      case 's64':
        dv.setBigInt64(off, toBigInt(v, t, i, -(2n ** 63n), 2n ** 63n - 1n), true);
        break;
      case 's32':
        dv.setInt32(off, toInt(v, t, i, -(2 ** 31), 2 ** 31 - 1), true);
        break;
      case 'u32':
        dv.setUint32(off, toInt(v, t, i, 0, 2 ** 32 - 1), true);
        break;
      case 's8':
        dv.setInt8(off, toInt(v, t, i, -128, 127));
        break;
      case 'u8':
        dv.setUint8(off, toInt(v, t, i, 0, 255));
        break;
      case 'pred':
        dv.setUint8(off, v === true || (typeof v === 'number' && v !== 0) || (typeof v === 'bigint' && v !== 0n) ? 1 : 0);
        break;
      case 'f32':
        dv.setFloat32(off, toFloat(v, t, i), true);
        break;
      case 'f64':
        dv.setFloat64(off, toFloat(v, t, i), true);
        break;
      default:
        throw new TypeError(`parameter ${i}: unknown slot type '${String(t)}'`);
    }
  }
}

function toBigInt(v: ParamValue, t: string, i: number, lo: bigint, hi: bigint): bigint {
  let b: bigint;
  if (typeof v === 'bigint') b = v;
  else if (typeof v === 'number' && Number.isInteger(v)) b = BigInt(v);
  else if (typeof v === 'boolean') b = v ? 1n : 0n;
  else throw new TypeError(`parameter ${i} (${t}) must be an integer, got ${String(v)}`);
  if (b < lo || b > hi) throw new RangeError(`parameter ${i} (${t}) out of range: ${b}`);
  return b;
}

function toInt(v: ParamValue, t: string, i: number, lo: number, hi: number): number {
  const n = typeof v === 'boolean' ? (v ? 1 : 0) : typeof v === 'bigint' ? Number(v) : v;
  if (!Number.isInteger(n) || n < lo || n > hi) throw new RangeError(`parameter ${i} (${t}) must be an integer in [${lo}, ${hi}], got ${String(v)}`);
  return n;
}

function toFloat(v: ParamValue, t: string, i: number): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'boolean') return v ? 1 : 0;
  throw new TypeError(`parameter ${i} (${t}) must be a number, got a ${typeof v}`);
}

/** One kernel's reusable parameter memory: the slots and the array of their addresses. */
export class ParamBlock {
  readonly slots: Buffer;
  private readonly view: DataView;
  /** kernelParams: the address of each slot (null when the kernel has no parameters). */
  readonly pointers: BigUint64Array | null;

  /** `addressOf` returns a Buffer's address (koffi.address by default; replaceable in tests). */
  constructor(
    readonly types: readonly ParamSlotType[],
    addressOf: (b: Buffer) => bigint = (b) => koffi().address(b),
  ) {
    // Buffer.alloc never hands out a slice of the shared pool, so the address is this block's alone.
    this.slots = Buffer.alloc(Math.max(1, types.length) * SLOT_BYTES);
    this.view = new DataView(this.slots.buffer, this.slots.byteOffset, this.slots.byteLength);
    if (types.length === 0) this.pointers = null;
    else {
      const base = addressOf(this.slots);
      this.pointers = new BigUint64Array(types.length);
      for (let i = 0; i < types.length; i++) this.pointers[i] = base + BigInt(i * SLOT_BYTES);
    }
  }

  pack(values: readonly ParamValue[]): void {
    packParams(this.types, values, this.view);
  }
}

export interface LaunchDims {
  readonly grid: readonly [number, number, number];
  readonly block: readonly [number, number, number];
  readonly sharedBytes: number;
  readonly stream: CuHandle | null;
}

/** Packs `values` into the block and calls cuLaunchKernel (the context must be current). */
export function launchKernel(fn: CuHandle, block: ParamBlock, values: readonly ParamValue[], dims: LaunchDims, what = 'kernel'): void {
  block.pack(values);
  const [gx, gy, gz] = dims.grid, [bx, by, bz] = dims.block;
  check(
    'cuLaunchKernel',
    cu().cuLaunchKernel(fn, gx, gy, gz, bx, by, bz, dims.sharedBytes, dims.stream, block.pointers, null),
    `launching ${what} with grid (${gx}, ${gy}, ${gz}), block (${bx}, ${by}, ${bz}), ${dims.sharedBytes} bytes of dynamic shared memory`,
  );
}
