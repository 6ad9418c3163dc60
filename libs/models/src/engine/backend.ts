/**
 * Backend selection: one function picks and initializes the tfjs backend the study trains on.
 *
 * Order for `auto`: tensorflow-gpu (@tensorflow/tfjs-node-gpu, only if libtensorflow actually
 * runs on a GPU) > tensorflow (@tensorflow/tfjs-node) > wasm (with our training kernels) > cpu.
 * The two native bindings are optional and never installed by `npm ci` (their install step
 * downloads libtensorflow from outside the npm registry), so they are loaded with a guarded
 * require at run time; tests inject the loader to simulate "not installed" and "CPU only".
 *
 * GPU detection follows tfjs-node itself: its `NodeJSKernelBackend` sets `isGPUPackage`
 * (package name is @tensorflow/tfjs-node-gpu) and `isUsingGpuDevice` (the binding's
 * `IsUsingGPUDevice`, true only when TensorFlow registered a GPU device). libtensorflow 2.9
 * (tfjs-node-gpu 4.22) loads CUDA lazily: without CUDA 11.2 / cuDNN 8.1 it logs and runs on
 * the CPU, which is exactly the silent fallback we refuse when a GPU was asked for.
 *
 * On wasm, convolutions and matrix products run in oneDNN (libs/native, native-kernels.ts) when
 * its addon is built, else on XNNPACK; `BackendInfo.kernels`, the devices and the reason say which.
 * GAN_STUDY_NATIVE_KERNELS=0 (or `nativeKernels: false`) turns oneDNN off, =1 requires it.
 */
import { createRequire } from 'module';
import * as tf from '@tensorflow/tfjs';
import * as wasm from '@tensorflow/tfjs-backend-wasm';
import { UserInputError } from '@gan-study/core';
import { loadNative, NATIVE_BUILD_HINT, type NativeLoad } from '@gan-study/native';
import { listGpus, type GpuListing } from './gpus';
import { registerTfjsFixes } from './fixes';
import { registerNativeKernels, unregisterNativeKernels } from './native-kernels';
import { registerWasmTrainingKernels } from './wasm-kernels';

/** What a user may ask for (`--backend`). */
export const BACKEND_CHOICES = ['auto', 'tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'] as const;
export type BackendChoice = (typeof BACKEND_CHOICES)[number];

/** The packages behind the two native choices. */
export const GPU_PACKAGE = '@tensorflow/tfjs-node-gpu';
export const NODE_PACKAGE = '@tensorflow/tfjs-node';

/** How to get the GPU binding working; quoted in every GPU error. */
export const GPU_FIX =
  'Fix: on a Linux x86_64 host with an NVIDIA GPU, install the NVIDIA driver (>= 450), CUDA 11.2 and cuDNN 8.1 ' +
  '(libcudart.so.11.0, libcublas.so.11, libcudnn.so.8 on LD_LIBRARY_PATH), then run `npm run gpu:install`; ' +
  'check that CUDA_VISIBLE_DEVICES does not hide the GPU. Or pick another backend: auto, tensorflow, wasm, cpu.';

export interface BackendInfo {
  /** What was asked for. */
  requested: BackendChoice;
  /** The tfjs backend name now active: 'tensorflow', 'wasm' or 'cpu'. */
  backend: string;
  /** Why this backend, in one line (for `auto`, why each better one was skipped). */
  reason: string;
  /** True only when libtensorflow runs on a GPU. */
  gpu: boolean;
  /** Compute devices in use, e.g. 'GPU 0: NVIDIA A100 (40960 MiB)', 'wasm (SIMD, 1 thread) + oneDNN 2.6.3 (avx512_core_bf16, 1 thread)', 'cpu (JavaScript)'. */
  devices: string[];
  /** On wasm: what runs the convolutions and matrix products. */
  kernels?: WasmKernels;
}

/** What runs a wasm training step's convolutions and matrix products. */
export interface WasmKernels {
  engine: 'oneDNN' | 'XNNPACK';
  /** e.g. 'oneDNN 2.6.3 (avx512_core_bf16, 1 thread)', or why XNNPACK: 'XNNPACK (GAN_STUDY_NATIVE_KERNELS=0)'. */
  detail: string;
}

/** The environment variable that turns the oneDNN kernels off (0) or makes them required (1). */
export const NATIVE_KERNELS_ENV = 'GAN_STUDY_NATIVE_KERNELS';

/** Loads a package by name (default: Node's require). Tests inject one to simulate bindings. */
export type ModuleLoader = (name: string) => unknown;

export interface InitBackendOptions {
  /** Where the one-line decision goes (default: nowhere). */
  log?: (line: string) => void;
  /** Threads: oneDNN's per call (default 1: each trainer owns one core), and wasm's when its build has thread support (Node's has not). */
  threads?: number;
  /**
   * oneDNN kernels on wasm: 'auto' (default) uses them when the addon loads and warns when it does
   * not; true requires them (a UserInputError otherwise); false keeps XNNPACK. Unset, the
   * GAN_STUDY_NATIVE_KERNELS environment variable decides (0 = false, 1 = true).
   */
  nativeKernels?: boolean | 'auto';
  /** Where warnings go (the addon missing); default: `log`, else stderr. */
  warn?: (line: string) => void;
  /** The oneDNN addon loader, for tests. */
  loadNative?: () => NativeLoad;
  /** Package loader, for tests. */
  loadModule?: ModuleLoader;
  /** GPU listing (nvidia-smi), for tests and to name devices. */
  listGpus?: () => GpuListing;
}

/**
 * A GPU was requested and cannot be used. Not retryable on this host: do not fall back.
 * A UserInputError: the user asked for something this host cannot give (the CLI exits 2).
 */
export class GpuUnavailableError extends UserInputError {
  override readonly name = 'GpuUnavailableError';
  constructor(
    message: string,
    /** What is missing: the binding, a usable GPU (CUDA/cuDNN/driver), or the backend registration. */
    readonly missing: 'binding' | 'cuda' | 'registration',
  ) {
    super(message);
  }
}

/** A non-GPU backend was requested explicitly and is not available here. */
export class BackendUnavailableError extends UserInputError {
  override readonly name = 'BackendUnavailableError';
}

export const defaultLoader: ModuleLoader = (name) => createRequire(__filename)(name);

/** Backend fields tfjs-node's NodeJSKernelBackend exposes. */
export interface NodeBackendFlags {
  isGPUPackage?: boolean;
  isUsingGpuDevice?: boolean;
}

export type Loaded = { ok: true } | { ok: false; notInstalled: boolean; message: string };

/** Loads an optional package; tells "not installed" from "installed but broken". */
export function tryLoad(load: ModuleLoader, name: string): Loaded {
  try {
    load(name);
    return { ok: true };
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const message = e?.message ?? String(err);
    // "Cannot find module '<name>'" is the package itself; any other missing module (the native
    // .node file, a libtensorflow .so) means the package is there but broken.
    const notInstalled = e?.code === 'MODULE_NOT_FOUND' && message.includes(`'${name}'`);
    return { ok: false, notInstalled, message: message.split('\n')[0] };
  }
}

export function activeBackendFlags(): NodeBackendFlags {
  return tf.backend() as unknown as NodeBackendFlags;
}

export async function restore(previous: string | null): Promise<void> {
  if (previous && previous !== tf.getBackend() && tf.findBackendFactory(previous)) await tf.setBackend(previous);
}

export function currentBackendName(): string | null {
  // tf.getBackend() initializes a backend as a side effect when none is set; ask the engine instead.
  return (tf.engine() as unknown as { backendName: string | null }).backendName ?? null;
}

function gpuDevices(listing: GpuListing): string[] {
  if (!listing.found || listing.gpus.length === 0) return ['GPU (nvidia-smi could not name it)'];
  return listing.gpus.map((g) => `GPU ${g.index}: ${g.name} (${g.memoryMiB} MiB)`);
}

function visibleDevicesNote(): string {
  const v = process.env.CUDA_VISIBLE_DEVICES;
  return v === undefined ? 'CUDA_VISIBLE_DEVICES is unset' : `CUDA_VISIBLE_DEVICES='${v}'`;
}

function describeListing(listing: GpuListing): string {
  if (!listing.found) return `nvidia-smi: ${listing.error}`;
  if (listing.gpus.length === 0) return 'nvidia-smi lists no GPU';
  return `nvidia-smi sees ${listing.gpus.map((g) => `GPU ${g.index} ${g.name}`).join(', ')}`;
}

/**
 * Loads tfjs-node-gpu and activates it only if libtensorflow runs on a GPU. Throws
 * GpuUnavailableError otherwise, with the active backend restored to what it was.
 */
async function useGpu(load: ModuleLoader, listing: () => GpuListing): Promise<{ devices: string[] }> {
  const previous = currentBackendName();
  const loaded = tryLoad(load, GPU_PACKAGE);
  if (!loaded.ok) {
    if (loaded.notInstalled) {
      throw new GpuUnavailableError(`backend 'tensorflow-gpu' requested, but ${GPU_PACKAGE} is not installed (it is optional; npm ci never installs it). ${GPU_FIX}`, 'binding');
    }
    throw new GpuUnavailableError(
      `backend 'tensorflow-gpu' requested, but ${GPU_PACKAGE} failed to load: ${loaded.message}. Its native part (libtensorflow, downloaded by its install step) is missing or broken. ${GPU_FIX}`,
      'binding',
    );
  }
  if (!tf.findBackendFactory('tensorflow')) {
    throw new GpuUnavailableError(
      `${GPU_PACKAGE} loaded but registered no 'tensorflow' backend with this @tensorflow/tfjs (${tf.version.tfjs}): it uses another copy of tfjs-core. Install ${GPU_PACKAGE}@${tf.version.tfjs} so npm dedupes them (npm run gpu:install).`,
      'registration',
    );
  }
  const ok = await tf.setBackend('tensorflow');
  if (!ok) {
    await restore(previous);
    throw new GpuUnavailableError(`${GPU_PACKAGE} loaded but its 'tensorflow' backend failed to initialize. ${GPU_FIX}`, 'binding');
  }
  const flags = activeBackendFlags();
  if (flags.isGPUPackage !== true) {
    await restore(previous);
    throw new GpuUnavailableError(
      `backend 'tensorflow-gpu' requested, but the 'tensorflow' backend was registered by ${NODE_PACKAGE} (the CPU build), not ${GPU_PACKAGE}; uninstall ${NODE_PACKAGE} or load the GPU package first. ${GPU_FIX}`,
      'registration',
    );
  }
  if (flags.isUsingGpuDevice !== true) {
    await restore(previous);
    const seen = listing();
    throw new GpuUnavailableError(
      `backend 'tensorflow-gpu' requested, but libtensorflow loaded without a GPU device and would run on the CPU: ` +
        `the CUDA 11.2 / cuDNN 8.1 libraries are missing or not on LD_LIBRARY_PATH, or no GPU is visible (${visibleDevicesNote()}; ${describeListing(seen)}). ${GPU_FIX}`,
      'cuda',
    );
  }
  return { devices: gpuDevices(listing()) };
}

/** The oneDNN kernel choice: the option, else the environment variable, else 'auto'. */
export function nativeKernelsChoice(option: boolean | 'auto' | undefined, env: NodeJS.ProcessEnv = process.env): boolean | 'auto' {
  if (option !== undefined) {
    if (option !== true && option !== false && option !== 'auto') throw new UserInputError(`nativeKernels must be true, false or 'auto', got ${JSON.stringify(option)}`);
    return option;
  }
  const v = env[NATIVE_KERNELS_ENV];
  if (v === undefined || v === '') return 'auto';
  if (v === '0') return false;
  if (v === '1') return true;
  throw new UserInputError(`${NATIVE_KERNELS_ENV} must be 0 (convolutions on XNNPACK) or 1 (on oneDNN, an error if its addon is missing), got '${v}'`);
}

type WasmOptions = Pick<InitBackendOptions, 'threads' | 'nativeKernels' | 'warn' | 'log' | 'loadNative'>;

/** Activates the wasm backend with the training kernels, and the oneDNN ones when chosen and built. */
async function useWasm(opts: WasmOptions): Promise<{ device: string; kernels: WasmKernels }> {
  const { threads } = opts;
  if (threads !== undefined) {
    if (!Number.isInteger(threads) || threads < 1) throw new UserInputError(`threads must be a positive integer, got ${threads}`);
    wasm.setThreadsCount(threads);
  }
  const choice = nativeKernelsChoice(opts.nativeKernels);
  let loaded: NativeLoad | null = null;
  if (choice !== false) {
    loaded = (opts.loadNative ?? loadNative)();
    if (!loaded.ok && choice === true) {
      const by = opts.nativeKernels === true ? 'nativeKernels: true' : `${NATIVE_KERNELS_ENV}=1`;
      throw new UserInputError(`oneDNN kernels required (${by}), but ${loaded.reason}. Or set ${NATIVE_KERNELS_ENV}=0 to run convolutions on XNNPACK.`);
    }
  }
  // From a clean slate: the training kernels, then oneDNN's over them (they fall back to those).
  unregisterNativeKernels();
  registerWasmTrainingKernels();
  let kernels: WasmKernels;
  if (loaded?.ok) {
    loaded.kernels.setThreads(threads ?? 1);
    registerNativeKernels(loaded.kernels);
    const n = loaded.kernels.info();
    kernels = { engine: 'oneDNN', detail: `oneDNN ${n.version} (${n.isa}, ${n.threads} thread${n.threads === 1 ? '' : 's'})` };
  } else if (loaded) {
    kernels = { engine: 'XNNPACK', detail: `XNNPACK (oneDNN addon not loaded: ${NATIVE_BUILD_HINT})` };
    const warn = opts.warn ?? opts.log ?? ((line: string) => console.warn(line));
    warn(
      `WARNING: convolutions and matmuls run on XNNPACK in wasm, 4-8x slower than oneDNN: ${loaded.reason}. ` +
        `Set ${NATIVE_KERNELS_ENV}=0 to choose XNNPACK and silence this.`,
    );
  } else {
    kernels = { engine: 'XNNPACK', detail: `XNNPACK (${opts.nativeKernels === false ? 'nativeKernels: false' : `${NATIVE_KERNELS_ENV}=0`})` };
  }
  const ok = await tf.setBackend('wasm');
  if (!ok) throw new BackendUnavailableError(`backend 'wasm' failed to initialize (@tensorflow/tfjs-backend-wasm ${wasm.version_wasm}); see the warning above`);
  return { device: kernels.engine === 'oneDNN' ? `${describeWasm()} + ${kernels.detail}` : describeWasm(), kernels };
}

/** The reason's clause for the kernels, e.g. 'convolutions and matmuls on oneDNN 2.6.3 (avx512_core_bf16, 1 thread)'. */
function kernelsClause(k: WasmKernels): string {
  return `convolutions and matmuls on ${k.detail}`;
}

/** e.g. 'wasm (SIMD, 1 thread)'. Call after the wasm backend is initialized. */
export function describeWasm(): string {
  const simd = tf.env().getBool('WASM_HAS_SIMD_SUPPORT') ? 'SIMD' : 'no SIMD';
  const threads = wasm.getThreadsCount();
  return `wasm (${simd}, ${threads} thread${threads === 1 ? '' : 's'})`;
}

/**
 * Selects and initializes the backend. `auto` picks the best one available and says why in
 * `reason` (also passed to `log`). A GPU request that cannot be met throws GpuUnavailableError;
 * it never falls back to the CPU.
 */
export async function initBackend(requested: BackendChoice, opts: InitBackendOptions = {}): Promise<BackendInfo> {
  if (!(BACKEND_CHOICES as readonly string[]).includes(requested)) {
    throw new UserInputError(`backend must be one of ${BACKEND_CHOICES.join(', ')}, got '${String(requested)}'`);
  }
  const load = opts.loadModule ?? defaultLoader;
  const gpus = opts.listGpus ?? listGpus;
  registerTfjsFixes();
  let info: BackendInfo;
  switch (requested) {
    case 'tensorflow-gpu': {
      const { devices } = await useGpu(load, gpus);
      info = { requested, backend: 'tensorflow', reason: `tensorflow-gpu: ${GPU_PACKAGE} runs on the GPU`, gpu: true, devices };
      break;
    }
    case 'tensorflow': {
      const loaded = tryLoad(load, NODE_PACKAGE);
      if (!loaded.ok) {
        throw new BackendUnavailableError(
          loaded.notInstalled
            ? `backend 'tensorflow' requested, but ${NODE_PACKAGE} is not installed (optional; install it with \`npm install --no-save ${NODE_PACKAGE}@${tf.version.tfjs}\` on a host that can download libtensorflow). Or use backend 'wasm'.`
            : `backend 'tensorflow' requested, but ${NODE_PACKAGE} failed to load: ${loaded.message}`,
        );
      }
      if (!tf.findBackendFactory('tensorflow') || !(await tf.setBackend('tensorflow'))) {
        throw new BackendUnavailableError(`${NODE_PACKAGE} loaded but its 'tensorflow' backend could not be activated with @tensorflow/tfjs ${tf.version.tfjs}`);
      }
      const gpu = activeBackendFlags().isUsingGpuDevice === true;
      info = { requested, backend: 'tensorflow', reason: `tensorflow: ${NODE_PACKAGE} (libtensorflow)`, gpu, devices: gpu ? gpuDevices(gpus()) : ['cpu (libtensorflow)'] };
      break;
    }
    case 'wasm': {
      const { device, kernels } = await useWasm(opts);
      info = { requested, backend: 'wasm', reason: `wasm: requested (${describeWasm().slice(6, -1)}, training kernels registered); ${kernelsClause(kernels)}`, gpu: false, devices: [device], kernels };
      break;
    }
    case 'cpu': {
      if (!(await tf.setBackend('cpu'))) throw new BackendUnavailableError(`backend 'cpu' failed to initialize`);
      info = { requested, backend: 'cpu', reason: 'cpu: requested (plain JavaScript kernels, slowest)', gpu: false, devices: ['cpu (JavaScript)'] };
      break;
    }
    case 'auto':
      info = await initAuto(load, gpus, opts);
      break;
  }
  opts.log?.(`backend ${info.backend} gpu=${info.gpu} devices=[${info.devices.join('; ')}] reason: ${info.reason}`);
  return info;
}

async function initAuto(load: ModuleLoader, gpus: () => GpuListing, opts: WasmOptions): Promise<BackendInfo> {
  const skipped: string[] = [];
  try {
    const { devices } = await useGpu(load, gpus);
    return { requested: 'auto', backend: 'tensorflow', reason: `auto: ${GPU_PACKAGE} runs on the GPU`, gpu: true, devices };
  } catch (err) {
    if (!(err instanceof GpuUnavailableError)) throw err;
    skipped.push(gpuSkipReason(err));
    // tfjs-node-gpu loaded but on the CPU: its libtensorflow is still the fastest CPU engine.
    if (err.missing === 'cuda' && tf.findBackendFactory('tensorflow') && (await tf.setBackend('tensorflow'))) {
      return { requested: 'auto', backend: 'tensorflow', reason: `auto: ${skipped.join('; ')}; using its libtensorflow on the CPU`, gpu: false, devices: ['cpu (libtensorflow)'] };
    }
  }
  const node = tryLoad(load, NODE_PACKAGE);
  if (node.ok && tf.findBackendFactory('tensorflow') && (await tf.setBackend('tensorflow'))) {
    const gpu = activeBackendFlags().isUsingGpuDevice === true;
    return { requested: 'auto', backend: 'tensorflow', reason: `auto: ${skipped.join('; ')}; ${NODE_PACKAGE} loaded`, gpu, devices: gpu ? gpuDevices(gpus()) : ['cpu (libtensorflow)'] };
  }
  skipped.push(node.ok ? `${NODE_PACKAGE} loaded but its backend did not start` : node.notInstalled ? `${NODE_PACKAGE} not installed` : `${NODE_PACKAGE} failed to load (${node.message})`);
  try {
    const { device, kernels } = await useWasm(opts);
    return { requested: 'auto', backend: 'wasm', reason: `auto: ${skipped.join('; ')}; wasm available (${describeWasm().slice(6, -1)}); ${kernelsClause(kernels)}`, gpu: false, devices: [device], kernels };
  } catch (err) {
    if (err instanceof UserInputError && !(err instanceof BackendUnavailableError)) throw err;
    skipped.push(`wasm failed (${err instanceof Error ? err.message : String(err)})`);
  }
  if (!(await tf.setBackend('cpu'))) throw new BackendUnavailableError(`auto: no backend could be initialized: ${skipped.join('; ')}; cpu failed too`);
  return { requested: 'auto', backend: 'cpu', reason: `auto: ${skipped.join('; ')}; using cpu`, gpu: false, devices: ['cpu (JavaScript)'] };
}

function gpuSkipReason(err: GpuUnavailableError): string {
  switch (err.missing) {
    case 'binding':
      return err.message.includes('not installed') ? `${GPU_PACKAGE} not installed` : `${GPU_PACKAGE} failed to load`;
    case 'cuda':
      return `${GPU_PACKAGE} loaded but no GPU device (CUDA 11.2 / cuDNN 8.1 missing or GPU hidden)`;
    case 'registration':
      return `${GPU_PACKAGE} not usable (${err.message.split(':')[0]})`;
  }
}
