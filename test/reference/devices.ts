// The devices the kernel tests run on: the interpreter and the PTX simulator by default, or the list
// in TILEJIT_TEST_DEVICES (the GPU run uses 'cuda'). The op-layer tests also run on WebGPU when an
// adapter is present (opTestDevices).
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

/**
 * The devices of the op-layer tests (ops/: tensors read back with `await t.toArray()`, which works on
 * every device): testDevices(), plus 'webgpu' when TILEJIT_TEST_DEVICES is not set and a WebGPU adapter
 * is present (then initialized; new tensors without a device go to WebGPU in that test file, so the
 * tests name their device). TILEJIT_TEST_DEVICES may list 'webgpu' itself. `webgpuSkipReason` says why
 * WebGPU is not among them ('' when it is, or when TILEJIT_TEST_DEVICES leaves it out): the test files
 * show it as a skipped test. Use with top-level await.
 */
export async function opTestDevices(): Promise<{ devices: DeviceName[]; webgpuSkipReason: string }> {
  const listed = process.env['TILEJIT_TEST_DEVICES'] !== undefined && process.env['TILEJIT_TEST_DEVICES'] !== '';
  const devices = testDevices();
  if (listed && !devices.includes('webgpu')) return { devices, webgpuSkipReason: '' };
  const { device, skipReason } = await webgpuForTests();
  if (!device) return { devices: devices.filter((d) => d !== 'webgpu'), webgpuSkipReason: skipReason };
  return { devices: listed ? devices : [...devices, 'webgpu'], webgpuSkipReason: '' };
}
