// The WebGPU runtime (Dawn's `webgpu` package): see device.ts for how launches and readback work.
export { WebGpuDevice, webgpuDevice, initWebGPU, isWebGpuReady, wgslArtifactKey, webgpuArtifactKey, type WebGpuKernelArtifact, type WebGpuTiming, type WebGpuDeviceOptions, type WgslVariant } from './device.js';
export { WebGpuBuffer } from './buffer.js';
export { WebGpuError, WEBGPU_HOWTO, webgpuUnavailableReason, type WebGpuContext, type WebGpuFeatures, type WebGpuInitOptions } from './context.js';
