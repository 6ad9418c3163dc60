/**
 * The oneDNN kernels as the engine registers them on wasm, proven against the cpu backend through
 * tf ops (so tfjs's own attrs, padInfo and dimRoundingMode reach them): forward values and
 * gradients equal to 1e-4 (|wasm - cpu| <= 1e-4 * (1 + |cpu|)). They fail, not skip, when the
 * addon is not built: `npm ci` builds it when libdnnl-dev is installed, as CI and the README do.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { Rng, UserInputError } from '@gan-study/core';
import { loadNative, requireNative } from '@gan-study/native';
import { initBackend, NATIVE_KERNELS_ENV, nativeKernelsChoice } from './backend';
import { LEAKY, NATIVE_KERNELS, nativeLeakyCovers, registeredNativeKernels } from './native-kernels';
import { shippedWasmKernel, WASM_TRAINING_KERNELS } from './wasm-kernels';

type Op = (...xs: tf.Tensor[]) => tf.Tensor;
type Pad = 'same' | 'valid' | number | [[0, 0], [number, number], [number, number], [0, 0]];
type Rounding = 'floor' | 'round' | 'ceil' | undefined;

const TOL = 1e-4;
const NAMES = NATIVE_KERNELS.map((k) => k.kernelName);

beforeAll(async () => {
  const l = loadNative();
  if (!l.ok) throw new Error(`oneDNN addon not available: ${l.reason}`);
  delete process.env[NATIVE_KERNELS_ENV];
  await initBackend('wasm', { nativeKernels: true });
});

afterEach(() => {
  delete process.env[NATIVE_KERNELS_ENV];
});

/** Gradients of sum(op(xs) * w) with respect to every input, on one backend, as plain arrays. */
function gradsOn(backend: string, op: Op, shapes: number[][], data: Float32Array[], weights: Float32Array): { out: Float32Array; grads: Float32Array[] } {
  const prev = tf.getBackend();
  tf.setBackend(backend);
  try {
    return tf.tidy(() => {
      const xs = data.map((d, i) => tf.tensor(d, shapes[i]));
      const out = op(...xs);
      const w = tf.tensor(weights, out.shape);
      const grads = tf.grads((...a: tf.Tensor[]) => tf.sum(tf.mul(op(...a), w)))(xs);
      return { out: out.dataSync() as Float32Array, grads: grads.map((g) => g.dataSync() as Float32Array) };
    });
  } finally {
    tf.setBackend(prev);
  }
}

function maxRelErr(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]) / (1 + Math.abs(expected[i])));
  return worst;
}

/** op's forward and backward on wasm (oneDNN) and cpu with the same seeded inputs. */
function expectNativeMatchesCpu(op: Op, shapes: number[][], seed: number): void {
  const rng = new Rng(seed);
  const data = shapes.map((s) => rng.fillNormal(new Float32Array(s.reduce((a, b) => a * b, 1))));
  const outSize = tf.tidy(() => op(...shapes.map((s) => tf.zeros(s))).size);
  const weights = rng.fillNormal(new Float32Array(outSize));
  const cpu = gradsOn('cpu', op, shapes, data, weights);
  const wasm = gradsOn('wasm', op, shapes, data, weights);
  const outErr = maxRelErr(wasm.out, cpu.out);
  if (!(outErr <= TOL)) throw new Error(`forward differs from cpu by ${outErr.toExponential(2)}`);
  cpu.grads.forEach((g, i) => {
    const err = maxRelErr(wasm.grads[i], g);
    if (!(err <= TOL)) throw new Error(`gradient of input ${i} (shape [${shapes[i].join(', ')}]) differs from cpu by ${err.toExponential(2)}`);
  });
}

/** op's forward only on wasm (oneDNN) and cpu, for ops whose tfjs gradient is wrong on every backend. */
function expectNativeForwardMatchesCpu(op: Op, shapes: number[][], seed: number): void {
  const rng = new Rng(seed);
  const data = shapes.map((s) => rng.fillNormal(new Float32Array(s.reduce((a, b) => a * b, 1))));
  const on = (backend: string) => {
    tf.setBackend(backend);
    return tf.tidy(() => op(...data.map((d, i) => tf.tensor(d, shapes[i]))).dataSync() as Float32Array);
  };
  const cpu = on('cpu');
  const wasm = on('wasm');
  const err = maxRelErr(wasm, cpu);
  if (!(err <= TOL)) throw new Error(`forward differs from cpu by ${err.toExponential(2)}`);
}

/** Geometries the native kernels created primitives for, as the addon describes them. */
const primitiveGeometries = () => requireNative().info().primitives.map((p) => `${p.kernel} ${p.geometry}`);

/** The convolution kernels that ran on oneDNN since its cache was cleared. */
const kernelsRun = () => [...new Set(requireNative().info().primitives.map((p) => p.kernel))].sort();

describe('registration', () => {
  it("initBackend('wasm') registers the oneDNN kernels and says so", async () => {
    const lines: string[] = [];
    const info = await initBackend('wasm', { log: (l) => lines.push(l) });
    expect(registeredNativeKernels()).toEqual(NAMES);
    for (const k of NATIVE_KERNELS) expect(tf.getKernel(k.kernelName, 'wasm')?.kernelFunc).toBe(k.kernelFunc);
    const native = requireNative().info();
    expect(info.kernels).toEqual({ engine: 'oneDNN', detail: `oneDNN ${native.version} (${native.isa}, 1 thread)` });
    expect(info.devices).toEqual([`wasm (SIMD, 1 thread) + oneDNN ${native.version} (${native.isa}, 1 thread)`]);
    expect(info.reason).toContain(`convolutions and matmuls on oneDNN ${native.version}`);
    expect(lines).toEqual([expect.stringContaining('oneDNN')]);
    // The training kernels the oneDNN ones do not replace stay registered.
    for (const k of WASM_TRAINING_KERNELS.filter((t) => !NAMES.includes(t.kernelName))) expect(tf.getKernel(k.kernelName, 'wasm')?.kernelFunc).toBe(k.kernelFunc);
  });

  it(`${NATIVE_KERNELS_ENV}=0 gives the XNNPACK kernels, and =1 brings oneDNN back`, async () => {
    process.env[NATIVE_KERNELS_ENV] = '0';
    const off = await initBackend('wasm');
    expect(registeredNativeKernels()).toEqual([]);
    expect(off.kernels).toEqual({ engine: 'XNNPACK', detail: `XNNPACK (${NATIVE_KERNELS_ENV}=0)` });
    expect(off.reason).toContain(`convolutions and matmuls on XNNPACK (${NATIVE_KERNELS_ENV}=0)`);
    expect(off.devices).toEqual(['wasm (SIMD, 1 thread)']);
    expect(tf.getKernel('Conv2D', 'wasm')?.kernelFunc).toBe(shippedWasmKernel('Conv2D')?.kernelFunc);
    for (const name of ['Conv2DBackpropInput', 'Conv2DBackpropFilter', 'BatchMatMul', '_FusedMatMul']) {
      expect(tf.getKernel(name, 'wasm')?.kernelFunc).toBe(WASM_TRAINING_KERNELS.find((k) => k.kernelName === name)?.kernelFunc);
    }
    process.env[NATIVE_KERNELS_ENV] = '1';
    const on = await initBackend('wasm');
    expect(on.kernels?.engine).toBe('oneDNN');
    expect(registeredNativeKernels()).toEqual(NAMES);
  });

  it('nativeKernels: false overrides the environment; bad values are named', async () => {
    process.env[NATIVE_KERNELS_ENV] = '1';
    expect((await initBackend('wasm', { nativeKernels: false })).kernels).toEqual({ engine: 'XNNPACK', detail: 'XNNPACK (nativeKernels: false)' });
    process.env[NATIVE_KERNELS_ENV] = 'yes';
    await expect(initBackend('wasm')).rejects.toThrow(`${NATIVE_KERNELS_ENV} must be 0 (convolutions on XNNPACK) or 1 (on oneDNN, an error if its addon is missing), got 'yes'`);
    expect(() => nativeKernelsChoice('on' as never)).toThrow(UserInputError);
    delete process.env[NATIVE_KERNELS_ENV];
    await initBackend('wasm');
    expect(registeredNativeKernels()).toEqual(NAMES);
  });

  it('addon missing: auto warns why and how to build it and uses XNNPACK; required is an error', async () => {
    const missing = () => ({ ok: false as const, path: '/x/gan_study_native.node', reason: 'the oneDNN addon is not built (/x/gan_study_native.node does not exist); install oneDNN (`apt-get install -y libdnnl-dev` on Debian/Ubuntu) and run `npm run build:native`' });
    const warnings: string[] = [];
    const info = await initBackend('wasm', { loadNative: missing, warn: (l) => warnings.push(l) });
    expect(info.kernels?.engine).toBe('XNNPACK');
    expect(info.reason).toContain('XNNPACK (oneDNN addon not loaded: install oneDNN (`apt-get install -y libdnnl-dev` on Debian/Ubuntu) and run `npm run build:native`)');
    expect(registeredNativeKernels()).toEqual([]);
    expect(warnings).toHaveLength(1);
    for (const part of ['WARNING', 'XNNPACK', '4-8x slower', 'is not built', 'apt-get install -y libdnnl-dev', 'npm run build:native', `${NATIVE_KERNELS_ENV}=0`]) expect(warnings[0]).toContain(part);
    const err = await initBackend('wasm', { loadNative: missing, nativeKernels: true }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserInputError);
    expect((err as Error).message).toContain('oneDNN kernels required (nativeKernels: true), but the oneDNN addon is not built');
    await initBackend('wasm');
    expect(registeredNativeKernels()).toEqual(NAMES);
  });

  it('passes threads through to oneDNN', async () => {
    try {
      const info = await initBackend('wasm', { threads: 2 });
      expect(info.kernels?.detail).toMatch(/, 2 threads\)$/);
      expect(requireNative().info().threads).toBe(2);
    } finally {
      await initBackend('wasm');
    }
    expect(requireNative().info().threads).toBe(1);
  });
});

describe('convolutions against cpu', () => {
  type Case = { x: number[]; f: number[]; s: number | [number, number]; pad: Pad; rounding?: Rounding };
  const cases: Case[] = [];
  for (const k of [1, 3, 4, 5, 7]) for (const s of [1, 2]) for (const pad of ['same', 'valid'] as const) cases.push({ x: [2, 11, 10, 3], f: [k, k, 3, 6], s, pad });
  cases.push(
    { x: [1, 9, 9, 1], f: [3, 3, 1, 4], s: 1, pad: 'same' }, // C = 1, batch 1
    { x: [1, 13, 13, 3], f: [4, 4, 3, 8], s: 2, pad: 'same' }, // odd size, stride 2
    { x: [2, 7, 9, 20], f: [3, 3, 20, 18], s: [2, 1], pad: 'same' },
    { x: [2, 8, 8, 4], f: [3, 3, 4, 5], s: 1, pad: 2 },
    {
      x: [2, 9, 8, 5],
      f: [3, 3, 5, 7],
      s: [1, 2],
      pad: [
        [0, 0],
        [0, 2],
        [3, 1],
        [0, 0],
      ],
    },
    { x: [2, 4, 4, 16], f: [4, 4, 16, 1], s: 1, pad: 'valid' }, // DCGAN D's logit
  );
  it.each(cases.map((c) => [`conv2d x [${c.x}] filter [${c.f}] strides ${JSON.stringify(c.s)} pad ${JSON.stringify(c.pad)} ${c.rounding ?? ''}`, c] as const))('%s', (_n, c) => {
    requireNative().clearCache();
    expectNativeMatchesCpu((x, f) => tf.conv2d(x as tf.Tensor4D, f as tf.Tensor4D, c.s, c.pad as never, 'NHWC', 1, c.rounding), [c.x, c.f], 11);
    expect(kernelsRun()).toEqual(['conv2d', 'conv2dBackwardData', 'conv2dBackwardWeights']);
  });

  // tfjs's conv2d gradient drops dimRoundingMode (on every backend), so these run the three kernels directly.
  const rounded: Case[] = [
    { x: [2, 9, 9, 4], f: [3, 3, 4, 5], s: 2, pad: 1, rounding: 'ceil' },
    { x: [2, 10, 10, 4], f: [3, 3, 4, 5], s: 2, pad: 0, rounding: 'ceil' }, // the last window reads past the input
    { x: [2, 9, 9, 4], f: [3, 3, 4, 5], s: 2, pad: 1, rounding: 'round' },
    { x: [2, 10, 10, 4], f: [3, 3, 4, 5], s: 2, pad: 0, rounding: 'floor' },
  ];
  it.each(rounded.map((c) => [`kernels x [${c.x}] filter [${c.f}] strides ${c.s} pad ${c.pad} ${c.rounding}`, c] as const))('%s', (_n, c) => {
    const info = tf.backend_util.computeConv2DInfo(c.x as [number, number, number, number], c.f as [number, number, number, number], c.s, 1, c.pad as never, c.rounding, false, 'channelsLast');
    const rng = new Rng(20);
    const [x, f, dy] = [c.x, c.f, info.outShape].map((s) => rng.fillNormal(new Float32Array(s.reduce((a, b) => a * b, 1))));
    const attrs = { strides: c.s, pad: c.pad, dataFormat: 'NHWC', dimRoundingMode: c.rounding as string } as tf.NamedAttrMap;
    const run = (backend: string) => {
      tf.setBackend(backend);
      return tf.tidy(() => {
        const [tx, tf_, tdy] = [tf.tensor(x, c.x), tf.tensor(f, c.f), tf.tensor(dy, info.outShape)];
        const e = tf.engine();
        return [
          e.runKernel('Conv2D', { x: tx, filter: tf_ }, { ...attrs, dilations: 1 }),
          e.runKernel('Conv2DBackpropInput', { dy: tdy, filter: tf_ }, { ...attrs, inputShape: c.x }),
          e.runKernel('Conv2DBackpropFilter', { x: tx, dy: tdy }, { ...attrs, filterShape: c.f }),
        ].map((t) => (t as tf.Tensor).dataSync() as Float32Array);
      });
    };
    requireNative().clearCache();
    const cpu = run('cpu');
    const wasm = run('wasm');
    expect(requireNative().info().primitives.map((p) => p.kernel)).toEqual(['conv2d', 'conv2dBackwardData', 'conv2dBackwardWeights']); // all three on oneDNN
    ['Conv2D', 'Conv2DBackpropInput', 'Conv2DBackpropFilter'].forEach((name, i) => {
      const err = maxRelErr(wasm[i], cpu[i]);
      if (!(err <= TOL)) throw new Error(`${name} differs from cpu by ${err.toExponential(2)}`);
    });
  });

  type TCase = { x: number[]; f: number[]; out: number[]; s: number; pad: 'same' | 'valid' | number };
  const transposed: TCase[] = [
    { x: [2, 4, 4, 16], f: [4, 4, 8, 16], out: [2, 8, 8, 8], s: 2, pad: 'same' }, // DCGAN G's up-blocks
    { x: [2, 8, 8, 8], f: [4, 4, 3, 8], out: [2, 16, 16, 3], s: 2, pad: 'same' }, // DCGAN G's toRGB
    { x: [2, 5, 5, 8], f: [3, 3, 4, 8], out: [2, 11, 11, 4], s: 2, pad: 'valid' }, // CycleGAN's up-sampling (2h + 1)
    { x: [1, 6, 5, 3], f: [3, 3, 2, 3], out: [1, 6, 5, 2], s: 1, pad: 'same' },
    { x: [1, 4, 4, 3], f: [5, 5, 2, 3], out: [1, 9, 9, 2], s: 2, pad: 1 },
  ];
  it.each(transposed.map((c) => [`conv2dTranspose x [${c.x}] filter [${c.f}] -> [${c.out}] stride ${c.s} pad ${c.pad}`, c] as const))('%s', (_n, c) => {
    requireNative().clearCache();
    expectNativeMatchesCpu((x, f) => tf.conv2dTranspose(x as tf.Tensor4D, f as tf.Tensor4D, c.out as [number, number, number, number], c.s, c.pad as never), [c.x, c.f], 12);
    expect(kernelsRun()).toEqual(['conv2d', 'conv2dBackwardData', 'conv2dBackwardWeights']);
  });

  it('gradients through a small conv net (conv, relu, strided conv, conv2dTranspose, dense)', () => {
    const net: Op = (x, w1, w2, w3, d) => {
      let h = tf.relu(tf.conv2d(x as tf.Tensor4D, w1 as tf.Tensor4D, 1, 'same'));
      h = tf.leakyRelu(tf.conv2d(h, w2 as tf.Tensor4D, 2, 'same'), 0.2);
      h = tf.conv2dTranspose(h, w3 as tf.Tensor4D, [2, 10, 10, 5], 2, 'same');
      return tf.matMul(tf.reshape(h, [2, -1]), d as tf.Tensor2D);
    };
    expectNativeMatchesCpu(net, [[2, 10, 10, 3], [3, 3, 3, 8], [4, 4, 8, 12], [4, 4, 5, 12], [500, 7]], 13);
  });

  it('dilation 2 falls back to XNNPACK, with the same values as cpu and no oneDNN primitive', () => {
    const before = primitiveGeometries().length;
    const rng = new Rng(14);
    const x = rng.fillNormal(new Float32Array(2 * 9 * 9 * 3));
    const f = rng.fillNormal(new Float32Array(3 * 3 * 3 * 4));
    const on = (b: string) => {
      tf.setBackend(b);
      return tf.tidy(() => tf.conv2d(tf.tensor4d(x, [2, 9, 9, 3]), tf.tensor4d(f, [3, 3, 3, 4]), 1, 'same', 'NHWC', 2).dataSync() as Float32Array);
    };
    const cpu = on('cpu');
    const wasm = on('wasm');
    expect(maxRelErr(wasm, cpu)).toBeLessThanOrEqual(TOL);
    expect(primitiveGeometries().length).toBe(before);
  });

  it('records which oneDNN implementation each geometry runs', () => {
    tf.tidy(() => tf.conv2d(tf.ones([2, 16, 16, 32]) as tf.Tensor4D, tf.ones([3, 3, 32, 64]) as tf.Tensor4D, 1, 'same').dataSync());
    const p = requireNative().info().primitives.find((q) => q.kernel === 'conv2d' && q.geometry.startsWith('x [2, 16, 16, 32], filter [3, 3, 32, 64]'));
    expect(p?.impl).toMatch(/:/);
  });
});

describe('matmuls against cpu', () => {
  const cases: Array<{ a: number[]; b: number[]; ta: boolean; tb: boolean }> = [];
  for (const ta of [false, true]) for (const tb of [false, true]) cases.push({ a: ta ? [13, 7] : [7, 13], b: tb ? [5, 13] : [13, 5], ta, tb });
  cases.push(
    { a: [3, 7, 13], b: [3, 13, 5], ta: false, tb: false }, // batched
    { a: [2, 3, 13, 7], b: [2, 3, 5, 13], ta: true, tb: true },
    { a: [32, 300], b: [300, 64], ta: false, tb: false }, // the classifier's dense layer, small
  );
  it.each(cases.map((c) => [`matMul a [${c.a}]${c.ta ? '^T' : ''} b [${c.b}]${c.tb ? '^T' : ''}`, c] as const))('%s', (_n, c) => {
    expectNativeMatchesCpu((a, b) => tf.matMul(a, b, c.ta, c.tb), [c.a, c.b], 15);
  });

  // tfjs's matMul gradient does not sum over broadcast batches (on every backend): forward only.
  const broadcasts: Array<{ a: number[]; b: number[]; ta: boolean; tb: boolean }> = [
    { a: [3, 13, 7], b: [13, 5], ta: true, tb: false }, // b shared
    { a: [7, 13], b: [2, 3, 5, 13], ta: false, tb: true }, // a shared
    { a: [2, 1, 4, 6], b: [1, 3, 6, 5], ta: false, tb: false }, // [2, 1] x [1, 3] batches: not covered, falls back
  ];
  it.each(broadcasts.map((c) => [`matMul a [${c.a}]${c.ta ? '^T' : ''} b [${c.b}]${c.tb ? '^T' : ''}, forward`, c] as const))('%s', (_n, c) => {
    expectNativeForwardMatchesCpu((a, b) => tf.matMul(a, b, c.ta, c.tb), [c.a, c.b], 16);
  });

  const activations = ['linear', 'relu', 'relu6', 'elu', 'sigmoid', 'leakyrelu'] as const;
  it.each(activations)('fused matMul with bias and %s', (activation) => {
    expectNativeMatchesCpu((a, b, bias) => tf.fused.matMul({ a, b, bias, activation, leakyreluAlpha: 0.3 }), [[6, 9], [9, 5], [5]], 17);
  });

  it('fused matMul with a full [m, n] bias, or prelu', () => {
    expectNativeMatchesCpu((a, b, bias) => tf.fused.matMul({ a, b, bias, activation: 'relu' }), [[6, 9], [9, 5], [6, 5]], 18);
    expectNativeMatchesCpu((a, b, p) => tf.fused.matMul({ a, b, activation: 'prelu', preluActivationWeights: p }), [[6, 9], [9, 5], [5]], 19);
  });
});

describe('the leaky ReLU kernel (PGGAN): x * step(x, 0.2) to the bit, with first- and second-order gradients', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });
  const composed = (x: tf.Tensor) => tf.mul(x, tf.step(x, 0.2));
  const fused = (x: tf.Tensor) => tf.engine().runKernel(LEAKY, { x }, { alpha: 0.2 }) as tf.Tensor;
  // A function with a nonzero second derivative through the activation: sum(w * act(x)^2 * x), then
  // the gradient penalty's pattern, the gradient of ||d/dx||^2 with respect to w.
  const secondOrder = (act: (x: tf.Tensor) => tf.Tensor, x: tf.Tensor, w: tf.Tensor) =>
    tf.grad((wv: tf.Tensor) => {
      const dx = tf.grad((xv: tf.Tensor) => tf.sum(tf.mul(wv, tf.mul(tf.square(act(tf.mul(xv, wv))), xv))))(x);
      return tf.sum(tf.square(dx));
    })(w);

  it('equals the composition in values, gradients and the gradient of a gradient, and leaks nothing', () => {
    const rng = new Rng(5);
    const shape = [2, 5, 5, 7];
    const x = tf.tensor(rng.fillNormal(new Float32Array(2 * 5 * 5 * 7)), shape);
    const w = tf.tensor(rng.fillNormal(new Float32Array(2 * 5 * 5 * 7)), shape);
    expect(nativeLeakyCovers(x)).toBe(true);
    const before = tf.memory().numTensors;
    const values = (f: (x: tf.Tensor) => tf.Tensor) =>
      tf.tidy(() => [f(x), tf.grad((v: tf.Tensor) => tf.sum(tf.mul(f(v), w)))(x), secondOrder(f, x, w)].map((t) => Array.from(t.dataSync())));
    const [y, g, gg] = values(fused);
    const [y0, g0, gg0] = values(composed);
    expect(y).toEqual(y0);
    expect(g).toEqual(g0);
    gg.forEach((v, i) => expect(Math.abs(v - gg0[i])).toBeLessThanOrEqual(1e-5 * (1 + Math.abs(gg0[i]))));
    expect(gg0.some((v) => v !== 0)).toBe(true);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, w]);
  });

  it('runs one kernel forward and one backward', async () => {
    const x = tf.randomNormal([4, 8]);
    const kernels = async (f: (x: tf.Tensor) => tf.Tensor) => (await tf.profile(() => tf.dispose(tf.grad((v: tf.Tensor) => tf.sum(f(v)))(x)))).kernels.map((k) => k.name);
    const k = await kernels(fused);
    expect(k.filter((n) => n.startsWith('LeakyRelu'))).toEqual(['LeakyReluScaled', 'LeakyReluScale']);
    expect(k).not.toContain('Step');
    expect((await kernels(composed)).filter((n) => n === 'Multiply' || n === 'Cast' || n === 'Step').length).toBeGreaterThan(3);
    x.dispose();
  });
});
