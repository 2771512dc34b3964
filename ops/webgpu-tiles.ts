// Block sizes that fit WebGPU. There is no tensor core there: the WGSL backend runs every tl.dot on FMA
// and stages both operand tiles in workgroup memory as f32 (4 bytes an element, whatever the input
// dtype), so a kernel's workgroup memory is that of its largest dot, (M·K + K·N)·4 bytes, plus the
// shuffle exchange slots. The tilings sized for CUDA (128 × 64 tensor-core tiles and more) need 40 to
// 160 KB; WebGPU guarantees 16 KB and llvmpipe and most GPUs offer 32 KB. The launchers of the op
// layer start from their f32 tiling and halve blocks until the device's budget holds them.
import { getDevice, type Device, type DeviceName } from '../runtime/device.js';

/**
 * When `device` (undefined: the default device, as a launch resolves it) is WebGPU, or another device
 * with Device.workgroupBudget: the bytes of workgroup memory a launch of `numWarps` warps may give its
 * shared tiles. Undefined on other devices.
 */
export function webgpuWorkgroupBudget(device: DeviceName | Device | undefined): ((numWarps: number) => number) | undefined {
  const d = getDevice(device);
  return d.workgroupBudget ? (numWarps) => d.workgroupBudget!(numWarps) : undefined;
}

/** Bytes of workgroup memory a dot [M, K] · [K, N] stages on WebGPU (both operands in f32). */
export const fmaDotBytes = (m: number, k: number, n: number): number => 4 * (m * k + k * n);

/**
 * Blocks [M, N] (powers of two) halved until `fits`: the larger first, N on a tie, never below `min`
 * (the smallest tile tl.dot takes) and never a fixed one. Returns the last try when nothing fits (the
 * launch then reports the excess) and whether it fits.
 */
export function fitBlocks(
  M: number, N: number, fits: (M: number, N: number) => boolean,
  o: { readonly fixedM?: boolean; readonly fixedN?: boolean; readonly min?: number } = {},
): { M: number; N: number; fits: boolean } {
  const min = o.min ?? 16;
  for (;;) {
    if (fits(M, N)) return { M, N, fits: true };
    const canM = !o.fixedM && M > min, canN = !o.fixedN && N > min;
    if (canN && (N >= M || !canM)) N /= 2;
    else if (canM) M /= 2;
    else return { M, N, fits: false };
  }
}
