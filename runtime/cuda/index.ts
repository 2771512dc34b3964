// The CUDA runtime: the driver API bound lazily with koffi, device memory, PTX modules, launches, timing.
export {
  CudaError,
  CudaDriverLoadError,
  CUDA_ERROR_NAMES,
  CUresult,
  cudaErrorName,
  describeCudaError,
  libcudaCandidates,
  isDriverLoaded,
  loadedDriverPath,
  driverVersion,
  deviceCount,
  cuLinker,
  type CudaLinkerApi,
  type CuHandle,
  type CuDevicePtr,
} from './driver.js';
export { CudaContext, cudaContext, parseCudaDevice, DeviceAttribute, type CudaDeviceProperties } from './context.js';
export { CudaBuffer, cudaAlloc, toCuda, liveAllocations, elementBytes } from './memory.js';
export {
  PtxLoadError, loadPtxModule, getFunction, unloadModule, loadedModuleCount, prepareFunction, FuncAttribute, JitOption, linkPtx, cubinCacheKey, ptxHash, type LoadedModule,
} from './module.js';
export { packParams, ParamBlock, launchKernel, slotType, SLOT_BYTES, type ParamSlotType, type ParamValue, type LaunchDims } from './launch.js';
export {
  CudaDevice,
  cudaDevice,
  isCudaAvailable,
  timeLaunches,
  ptxArtifactKey,
  cudaArtifactKey,
  type CudaKernelArtifact,
  type LaunchTiming,
  type TimingOptions,
} from './device.js';
