/**
 * Backend selection. The tfjs-node bindings are not installed here (and never will be), so the
 * "loaded" paths inject a module loader that does what requiring tfjs-node(-gpu) does: register a
 * 'tensorflow' backend whose instance carries tfjs-node's `isGPUPackage` / `isUsingGpuDevice`.
 */
import * as tf from '@tensorflow/tfjs';
import { UserInputError } from '@gan-study/core';
import { BackendUnavailableError, GpuUnavailableError, initBackend, type ModuleLoader } from './backend';
import type { GpuListing } from './gpus';
import { probeBackends } from './probe';
import { NATIVE_KERNELS } from './native-kernels';
import { WASM_TRAINING_KERNELS } from './wasm-kernels';

/** Stands in for tfjs-node's NodeJSKernelBackend: only the two flags initBackend reads. */
class FakeNodeBackend extends tf.KernelBackend {
  constructor(
    readonly isGPUPackage: boolean,
    readonly isUsingGpuDevice: boolean,
  ) {
    super();
  }
  override dispose(): void {}
}

function notFound(name: string): Error {
  return Object.assign(new Error(`Cannot find module '${name}'\nRequire stack:\n- backend.ts`), { code: 'MODULE_NOT_FOUND' });
}

/** A loader on which only `installed` packages load; loading one registers the fake backend. */
function loader(installed: Partial<Record<'@tensorflow/tfjs-node-gpu' | '@tensorflow/tfjs-node', { gpu: boolean }>>): ModuleLoader & { calls: string[] } {
  const calls: string[] = [];
  const load = (name: string) => {
    calls.push(name);
    const pkg = installed[name as keyof typeof installed];
    if (!pkg) throw notFound(name);
    if (!tf.findBackendFactory('tensorflow')) tf.registerBackend('tensorflow', () => new FakeNodeBackend(name === '@tensorflow/tfjs-node-gpu', pkg.gpu), 3);
    return {};
  };
  return Object.assign(load, { calls });
}

const oneGpu: () => GpuListing = () => ({ found: true, gpus: [{ index: 0, name: 'NVIDIA A100-SXM4-40GB', memoryMiB: 40960 }] });
const noSmi: () => GpuListing = () => ({ found: false, gpus: [], error: 'nvidia-smi not found' });

beforeEach(async () => {
  await tf.setBackend('cpu');
});

afterEach(async () => {
  await tf.setBackend('cpu');
  if (tf.findBackend('tensorflow') || tf.findBackendFactory('tensorflow')) tf.removeBackend('tensorflow');
});

describe("initBackend('tensorflow-gpu') never falls back", () => {
  it('binding not installed: GpuUnavailableError saying what and how', async () => {
    const err = await initBackend('tensorflow-gpu', { loadModule: loader({}), listGpus: noSmi }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GpuUnavailableError);
    expect(err).toBeInstanceOf(UserInputError);
    const e = err as GpuUnavailableError;
    expect(e.missing).toBe('binding');
    expect(e.message).toContain('@tensorflow/tfjs-node-gpu is not installed');
    for (const fix of ['npm run gpu:install', 'CUDA 11.2', 'cuDNN 8', 'CUDA_VISIBLE_DEVICES']) expect(e.message).toContain(fix);
    expect(tf.getBackend()).toBe('cpu');
  });

  it('binding installed but its native library fails to load: says so, with the loader message', async () => {
    const load: ModuleLoader = () => {
      throw new Error('libtensorflow.so.2: cannot open shared object file: No such file or directory');
    };
    const err = (await initBackend('tensorflow-gpu', { loadModule: load, listGpus: noSmi }).catch((e: unknown) => e)) as GpuUnavailableError;
    expect(err).toBeInstanceOf(GpuUnavailableError);
    expect(err.missing).toBe('binding');
    expect(err.message).toContain('failed to load: libtensorflow.so.2: cannot open shared object file');
    expect(err.message).toContain('npm run gpu:install');
  });

  it('libtensorflow loaded but on the CPU (no CUDA/cuDNN): GpuUnavailableError, previous backend restored', async () => {
    const load = loader({ '@tensorflow/tfjs-node-gpu': { gpu: false } });
    const err = (await initBackend('tensorflow-gpu', { loadModule: load, listGpus: oneGpu }).catch((e: unknown) => e)) as GpuUnavailableError;
    expect(err).toBeInstanceOf(GpuUnavailableError);
    expect(err.missing).toBe('cuda');
    expect(err.message).toContain('would run on the CPU');
    expect(err.message).toContain('CUDA 11.2 / cuDNN 8.1');
    expect(err.message).toContain('nvidia-smi sees GPU 0 NVIDIA A100-SXM4-40GB');
    expect(err.message).toMatch(/CUDA_VISIBLE_DEVICES(='.*'| is unset)/);
    expect(tf.getBackend()).toBe('cpu');
  });

  it("the 'tensorflow' backend came from the CPU package: refused", async () => {
    const load = loader({ '@tensorflow/tfjs-node': { gpu: false }, '@tensorflow/tfjs-node-gpu': { gpu: false } });
    load('@tensorflow/tfjs-node'); // the CPU package registered 'tensorflow' first
    const err = (await initBackend('tensorflow-gpu', { loadModule: load }).catch((e: unknown) => e)) as GpuUnavailableError;
    expect(err).toBeInstanceOf(GpuUnavailableError);
    expect(err.missing).toBe('registration');
    expect(err.message).toContain('registered by @tensorflow/tfjs-node (the CPU build)');
  });

  it('libtensorflow on the GPU: activated, devices named from nvidia-smi', async () => {
    const lines: string[] = [];
    const info = await initBackend('tensorflow-gpu', { loadModule: loader({ '@tensorflow/tfjs-node-gpu': { gpu: true } }), listGpus: oneGpu, log: (l) => lines.push(l) });
    expect(info).toEqual({ requested: 'tensorflow-gpu', backend: 'tensorflow', reason: 'tensorflow-gpu: @tensorflow/tfjs-node-gpu runs on the GPU', gpu: true, devices: ['GPU 0: NVIDIA A100-SXM4-40GB (40960 MiB)'] });
    expect(tf.getBackend()).toBe('tensorflow');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^backend tensorflow gpu=true devices=\[GPU 0: NVIDIA A100-SXM4-40GB \(40960 MiB\)\] reason: /);
  });
});

describe("initBackend('auto')", () => {
  it('nothing native installed: wasm, with the training kernels, and says why', async () => {
    const lines: string[] = [];
    const load = loader({});
    const info = await initBackend('auto', { loadModule: load, listGpus: noSmi, log: (l) => lines.push(l) });
    expect(info.backend).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    expect(info.gpu).toBe(false);
    expect(info.reason).toMatch(/^auto: @tensorflow\/tfjs-node-gpu not installed; @tensorflow\/tfjs-node not installed; wasm available \((no )?SIMD, \d+ threads?\); convolutions and matmuls on oneDNN \d+\.\d+\.\d+ \([a-z0-9_]+, 1 thread\)$/);
    expect(info.devices).toEqual([expect.stringMatching(/^wasm \(.*\) \+ oneDNN /)]);
    expect(info.kernels?.engine).toBe('oneDNN');
    expect(load.calls).toEqual(['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']);
    expect(lines).toEqual([expect.stringContaining(info.reason)]);
    // The training kernels, with the oneDNN ones over the convolutions and matmuls.
    for (const k of WASM_TRAINING_KERNELS) expect(tf.getKernel(k.kernelName, 'wasm')?.kernelFunc).toBe(NATIVE_KERNELS.find((n) => n.kernelName === k.kernelName)?.kernelFunc ?? k.kernelFunc);
  });

  it('nothing native installed and the oneDNN kernels off: wasm with the XNNPACK training kernels', async () => {
    const info = await initBackend('auto', { loadModule: loader({}), listGpus: noSmi, nativeKernels: false });
    expect(info.reason).toMatch(/; wasm available \((no )?SIMD, \d+ threads?\); convolutions and matmuls on XNNPACK \(nativeKernels: false\)$/);
    expect(info.devices).toEqual([expect.stringMatching(/^wasm \([^)]*\)$/)]);
    for (const k of WASM_TRAINING_KERNELS) expect(tf.getKernel(k.kernelName, 'wasm')?.kernelFunc).toBe(k.kernelFunc);
  });

  it('a required oneDNN that is missing is an error, not a fall back to cpu', async () => {
    const missing = () => ({ ok: false as const, path: '/x.node', reason: 'the oneDNN addon is not built' });
    await expect(initBackend('auto', { loadModule: loader({}), listGpus: noSmi, nativeKernels: true, loadNative: missing })).rejects.toThrow(UserInputError);
  });

  it('GPU binding present but CPU only: its libtensorflow on the CPU, not a GPU claim', async () => {
    const info = await initBackend('auto', { loadModule: loader({ '@tensorflow/tfjs-node-gpu': { gpu: false } }), listGpus: noSmi });
    expect(info).toMatchObject({ backend: 'tensorflow', gpu: false, devices: ['cpu (libtensorflow)'] });
    expect(info.reason).toContain('no GPU device');
  });

  it('GPU usable: picks it', async () => {
    const info = await initBackend('auto', { loadModule: loader({ '@tensorflow/tfjs-node-gpu': { gpu: true } }), listGpus: oneGpu });
    expect(info).toMatchObject({ requested: 'auto', backend: 'tensorflow', gpu: true });
  });

  it('only tfjs-node: tensorflow on the CPU', async () => {
    const info = await initBackend('auto', { loadModule: loader({ '@tensorflow/tfjs-node': { gpu: false } }), listGpus: noSmi });
    expect(info).toMatchObject({ backend: 'tensorflow', gpu: false });
    expect(info.reason).toBe('auto: @tensorflow/tfjs-node-gpu not installed; @tensorflow/tfjs-node loaded');
  });
});

describe('initBackend, other choices', () => {
  it("'tensorflow' without tfjs-node: BackendUnavailableError naming the package", async () => {
    await expect(initBackend('tensorflow', { loadModule: loader({}) })).rejects.toThrow(BackendUnavailableError);
    await expect(initBackend('tensorflow', { loadModule: loader({}) })).rejects.toThrow("@tensorflow/tfjs-node is not installed");
  });

  it("'cpu' and 'wasm' activate what they name", async () => {
    expect(await initBackend('wasm')).toMatchObject({ requested: 'wasm', backend: 'wasm', gpu: false });
    expect(tf.getBackend()).toBe('wasm');
    expect(await initBackend('cpu')).toMatchObject({ requested: 'cpu', backend: 'cpu', gpu: false, devices: ['cpu (JavaScript)'] });
    expect(tf.getBackend()).toBe('cpu');
  });

  it('bad input names the value', async () => {
    await expect(initBackend('gpu' as never)).rejects.toThrow("backend must be one of auto, tensorflow-gpu, tensorflow, wasm, cpu, got 'gpu'");
    await expect(initBackend('wasm', { threads: 0 })).rejects.toThrow('threads must be a positive integer, got 0');
    await expect(initBackend('auto', { threads: 1.5, loadModule: loader({}) })).rejects.toThrow('threads must be a positive integer, got 1.5');
  });
});

describe('probeBackends', () => {
  it('nothing native: wasm and cpu available, auto = wasm, active backend untouched', async () => {
    const report = await probeBackends({ loadModule: loader({}), listGpus: noSmi });
    expect(report.backends.map((b) => [b.name, b.available])).toEqual([
      ['tensorflow-gpu', false],
      ['tensorflow', false],
      ['wasm', true],
      ['cpu', true],
    ]);
    expect(report.backends[0].detail).toBe('@tensorflow/tfjs-node-gpu not installed');
    expect(report.auto).toBe('wasm');
    expect(report.libtensorflowSeesGpu).toBeNull();
    expect(report.gpus).toEqual({ found: false, gpus: [], error: 'nvidia-smi not found' });
    expect(report.versions.tfjs).toBe(tf.version.tfjs);
    expect(tf.getBackend()).toBe('cpu');
  });

  it('GPU binding without a GPU device: tensorflow-gpu unavailable, libtensorflow does not see it, auto = tensorflow', async () => {
    const report = await probeBackends({ loadModule: loader({ '@tensorflow/tfjs-node-gpu': { gpu: false } }), listGpus: oneGpu });
    expect(report.backends.slice(0, 2).map((b) => [b.name, b.available])).toEqual([
      ['tensorflow-gpu', false],
      ['tensorflow', true],
    ]);
    expect(report.libtensorflowSeesGpu).toBe(false);
    expect(report.auto).toBe('tensorflow');
    expect(tf.getBackend()).toBe('cpu');
  });

  it('GPU binding on a GPU: auto = tensorflow-gpu', async () => {
    const report = await probeBackends({ loadModule: loader({ '@tensorflow/tfjs-node-gpu': { gpu: true } }), listGpus: oneGpu });
    expect(report.auto).toBe('tensorflow-gpu');
    expect(report.libtensorflowSeesGpu).toBe(true);
  });
});
