/**
 * What this host can train on, for `study doctor`: which backends load, which one `auto` would
 * pick, which GPUs the driver lists and whether libtensorflow sees them. Leaves the active
 * backend as it found it.
 */
import * as tf from '@tensorflow/tfjs';
import * as wasm from '@tensorflow/tfjs-backend-wasm';
import { activeBackendFlags, currentBackendName, defaultLoader, describeWasm, GPU_PACKAGE, NODE_PACKAGE, restore, tryLoad, type ModuleLoader } from './backend';
import { listGpus, type GpuListing } from './gpus';
import { registerWasmTrainingKernels } from './wasm-kernels';

export type ProbedBackend = 'tensorflow-gpu' | 'tensorflow' | 'wasm' | 'cpu';

export interface BackendProbe {
  name: ProbedBackend;
  available: boolean;
  /** Why (not), in a few words: 'not installed', 'loaded, GPU device in use', 'SIMD, 1 thread'... */
  detail: string;
}

export interface BackendsReport {
  backends: BackendProbe[];
  /** The backend `initBackend('auto')` would choose. */
  auto: ProbedBackend;
  gpus: GpuListing;
  /** Whether libtensorflow (tfjs-node-gpu) runs on a GPU; null when the GPU binding did not load. */
  libtensorflowSeesGpu: boolean | null;
  versions: { tfjs: string; tfjsBackendWasm: string };
}

export interface ProbeOptions {
  loadModule?: ModuleLoader;
  listGpus?: () => GpuListing;
}

/** Probes every backend in `auto`'s order of preference. */
export async function probeBackends(opts: ProbeOptions = {}): Promise<BackendsReport> {
  const load = opts.loadModule ?? defaultLoader;
  const previous = currentBackendName();
  const backends: BackendProbe[] = [];
  let libtensorflowSeesGpu: boolean | null = null;
  let tensorflowFrom: string | null = null;
  try {
    const gpu = tryLoad(load, GPU_PACKAGE);
    if (!gpu.ok) {
      backends.push({ name: 'tensorflow-gpu', available: false, detail: gpu.notInstalled ? `${GPU_PACKAGE} not installed` : `${GPU_PACKAGE} failed to load: ${gpu.message}` });
    } else if (!tf.findBackendFactory('tensorflow') || !(await tf.setBackend('tensorflow'))) {
      backends.push({ name: 'tensorflow-gpu', available: false, detail: `${GPU_PACKAGE} loaded but its backend did not start` });
    } else {
      const flags = activeBackendFlags();
      tensorflowFrom = flags.isGPUPackage ? GPU_PACKAGE : NODE_PACKAGE;
      libtensorflowSeesGpu = flags.isGPUPackage === true && flags.isUsingGpuDevice === true;
      backends.push({
        name: 'tensorflow-gpu',
        available: libtensorflowSeesGpu,
        detail: libtensorflowSeesGpu ? 'libtensorflow runs on the GPU' : flags.isGPUPackage ? 'loaded, but libtensorflow found no GPU device (CUDA 11.2 / cuDNN 8.1 missing or GPU hidden)' : `'tensorflow' backend comes from ${NODE_PACKAGE}`,
      });
    }
    const node = tryLoad(load, NODE_PACKAGE);
    if (node.ok && tf.findBackendFactory('tensorflow') && (await tf.setBackend('tensorflow'))) {
      backends.push({ name: 'tensorflow', available: true, detail: `${NODE_PACKAGE} loaded` });
    } else if (tensorflowFrom) {
      backends.push({ name: 'tensorflow', available: true, detail: `libtensorflow from ${tensorflowFrom}` });
    } else {
      backends.push({ name: 'tensorflow', available: false, detail: node.ok ? `${NODE_PACKAGE} loaded but its backend did not start` : node.notInstalled ? `${NODE_PACKAGE} not installed` : `${NODE_PACKAGE} failed to load: ${node.message}` });
    }
    registerWasmTrainingKernels();
    let wasmOk = false;
    try {
      wasmOk = await tf.setBackend('wasm');
    } catch {
      wasmOk = false;
    }
    backends.push({ name: 'wasm', available: wasmOk, detail: wasmOk ? `${describeWasm().slice(6, -1)}, training kernels registered` : 'failed to initialize' });
    const cpuOk = await tf.setBackend('cpu');
    backends.push({ name: 'cpu', available: cpuOk, detail: cpuOk ? 'plain JavaScript kernels' : 'failed to initialize' });
  } finally {
    await restore(previous);
  }
  const auto = backends.find((b) => b.available)?.name ?? 'cpu';
  return { backends, auto, gpus: (opts.listGpus ?? listGpus)(), libtensorflowSeesGpu, versions: { tfjs: tf.version.tfjs, tfjsBackendWasm: wasm.version_wasm } };
}
