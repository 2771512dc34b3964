// The devices the kernel tests run on: the interpreter and the PTX simulator by default, or the list
// in TILEJIT_TEST_DEVICES (the GPU run uses 'cuda').
import type { DeviceName } from '../../index.js';

export function testDevices(): DeviceName[] {
  const env = process.env['TILEJIT_TEST_DEVICES'];
  return env ? (env.split(',').map((s) => s.trim()) as DeviceName[]) : ['cpu', 'ptx-sim'];
}
