/** The training engine's public surface: backend selection, wasm training kernels, tfjs fixes, host probe. */
export { initBackend, describeWasm, BACKEND_CHOICES, GPU_PACKAGE, NODE_PACKAGE, GPU_FIX, GpuUnavailableError, BackendUnavailableError } from './backend';
export type { BackendChoice, BackendInfo, InitBackendOptions, ModuleLoader } from './backend';
export { registerWasmTrainingKernels, WASM_TRAINING_KERNELS, shippedWasmKernel, conv2DBackpropFilterComposed, conv2DBackpropInputComposed, conv2DBackpropInputDilated, maxPoolGradComposed, maxPoolGradLoop, upsampleNearestGradComposed, unsortedSegmentSumComposed } from './wasm-kernels';
export { registerTfjsFixes, mirrorPadGrad, resizeNearestNeighborGradScatter } from './fixes';
export { listGpus, parseNvidiaSmiCsv, NVIDIA_SMI_ARGS } from './gpus';
export type { GpuInfo, GpuListing, CommandRunner } from './gpus';
export { probeBackends } from './probe';
export type { BackendProbe, BackendsReport, ProbedBackend, ProbeOptions } from './probe';
