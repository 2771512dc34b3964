// tilejit: the public API. The kernel language (jit, tl, cdiv) and the runtime pieces users touch.
export * as tl from './compiler/language/tl.js';
export type { DTypeName, Ptr, Mask, constexpr } from './compiler/language/tl.js';
export { jit, cdiv, JITKernel, type LaunchOptions, type JitOptions, type Grid, type Meta, type LaunchArgs } from './runtime/jit.js';
export { autotune, AutotunedKernel, cudaEventTimer, type AutotuneConfig, type AutotuneOptions, type AutotuneResult, type AutotuneTimer } from './runtime/autotune.js';
export { CompilationError, KernelRuntimeError, LaunchError } from './compiler/frontend/errors.js';
/** Whether the TypeScript parser (ts-morph) has been loaded: not until a kernel is parsed; never on a warm disk cache. */
export { isTsMorphLoaded } from './compiler/frontend/ts-morph.js';
export { hostBuffer, type HostBuffer, type DeviceBuffer, type BufferArg } from './runtime/buffers.js';
export { toHost, fromHost, allocateHost, type TypedArray } from './runtime/storage.js';
export { getDevice, defaultDevice, type Device, type DeviceName } from './runtime/device.js';
export type { DType } from './compiler/ir/dtype.js';
// The op layer.
export { Tensor, defaultTensorDevice, type TensorOptions, type TensorDevice } from './ops/tensor.js';
export { PoPE, AxialPoPE, applyPopeToQk, computeAttnSimilarity, flashAttnWithPope, type PoPEOptions, type PosEmb, type FlashOptions } from './ops/pope.js';
export { RotaryEmbedding, type RotaryEmbeddingOptions, type RotateOptions, type AxialFreqsOptions } from './ops/rope.js';
export { applyRotaryEmb, applyLearnedRotations, type ApplyRotaryEmbOptions, type ApplyLearnedRotationsOptions } from './ops/rope-functions.js';
export { broadcat } from './ops/broadcat.js';
export { flashAttnWithRope, type FlashAttnWithRopeOptions } from './ops/rope-attention.js';
// GPU runtimes, for keeping data on a device and timing.
export { cudaDevice, isCudaAvailable, timeLaunches, CudaBuffer } from './runtime/cuda/index.js';
export { initWebGPU, webgpuDevice, WebGpuBuffer } from './runtime/webgpu/index.js';
