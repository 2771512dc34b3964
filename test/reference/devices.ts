// The devices the kernel tests run on: the interpreter and the PTX simulator by default, or the list
// in TILEJIT_TEST_DEVICES (the GPU run uses 'cuda').
import type { DeviceName } from '../../index.js';
import { initWebGPU, webgpuUnavailableReason, WEBGPU_HOWTO, type WebGpuDevice } from '../../runtime/webgpu/index.js';

export function testDevices(): DeviceName[] {
  const env = process.env['TILEJIT_TEST_DEVICES'];
  return env ? (env.split(',').map((s) => s.trim()) as DeviceName[]) : ['cpu', 'ptx-sim'];
}

/**
 * The WebGPU device for the kernel tests, or why there is none. The synchronous kernel tests above do
 * not list 'webgpu': on WebGPU, outputs are WebGpuBuffers read back with `await buffer.read()`, so
 * test/webgpu-kernels.test.ts runs every sample kernel there against the same references. Sets
 * LP_NUM_THREADS=0 (Dawn + llvmpipe crash now and then without it) unless it is set already.
 */
export async function webgpuForTests(): Promise<{ device?: WebGpuDevice; skipReason: string }> {
  process.env['LP_NUM_THREADS'] ??= '0';
  const device = await initWebGPU();
  if (device) return { device, skipReason: '' };
  const why = webgpuUnavailableReason();
  return { skipReason: `WebGPU tests skipped: ${why}${why.includes(WEBGPU_HOWTO) ? '' : `. ${WEBGPU_HOWTO}`}` };
}
