/** The training engine's public surface: backend selection, wasm training kernels, tfjs fixes, host probe. */
export { initBackend, describeWasm, nativeKernelsChoice, BACKEND_CHOICES, GPU_PACKAGE, NODE_PACKAGE, GPU_FIX, NATIVE_KERNELS_ENV, GpuUnavailableError, BackendUnavailableError } from './backend';
export type { BackendChoice, BackendInfo, InitBackendOptions, ModuleLoader, WasmKernels } from './backend';
export { NATIVE_KERNELS, registerNativeKernels, unregisterNativeKernels, registeredNativeKernels } from './native-kernels';
export { registerWasmTrainingKernels, WASM_TRAINING_KERNELS, shippedWasmKernel, conv2DBackpropInputDilated, maxPoolGradComposed, maxPoolGradLoop, upsampleNearestGradComposed, unsortedSegmentSumComposed } from './wasm-kernels';
export { conv2DBackpropFilterWasm, conv2DBackpropInputWasm, DEFAULT_DY_CHUNK_FLOATS, DEFAULT_IM2COL_FLOATS, COMBINED_PHASES_BELOW_CHANNELS, CONV_PATH_ABOVE_K_PER_CO } from './wasm-conv';
export type { BackpropFilterOptions, PhaseStrategy } from './wasm-conv';
export { registerTfjsFixes, mirrorPadGrad, resizeNearestNeighborGradScatter } from './fixes';
export { listGpus, parseNvidiaSmiCsv, NVIDIA_SMI_ARGS } from './gpus';
export type { GpuInfo, GpuListing, CommandRunner } from './gpus';
export { probeBackends } from './probe';
export type { BackendProbe, BackendsReport, ProbedBackend, ProbeOptions } from './probe';
