import * as tf from '@tensorflow/tfjs';
import { initBackend, registerNativeKernels, registeredNativeKernels, unregisterNativeKernels } from '../engine';
import { requireNative } from '@gan-study/native';
import { convAct, convActPool, type ConvPad } from './conv-act';

type Case = { x: [number, number, number, number]; w: [number, number, number, number]; strides: number; pad: ConvPad; bias: boolean; alpha: number | null };
const CASES: Case[] = [
  { x: [2, 8, 8, 3], w: [3, 3, 3, 16], strides: 1, pad: 'same', bias: true, alpha: 0 }, // the classifier's first layer, small
  { x: [3, 6, 6, 16], w: [3, 3, 16, 8], strides: 1, pad: 'same', bias: true, alpha: 0 },
  { x: [2, 8, 8, 3], w: [4, 4, 3, 8], strides: 2, pad: 'same', bias: false, alpha: 0.2 }, // DCGAN D's first layer
  { x: [2, 8, 8, 3], w: [4, 4, 3, 8], strides: 2, pad: [[0, 0], [1, 1], [1, 1], [0, 0]], bias: true, alpha: 0.2 }, // CycleGAN D's
  { x: [2, 9, 7, 4], w: [4, 4, 4, 5], strides: 2, pad: 'valid', bias: true, alpha: null },
  { x: [1, 5, 5, 2], w: [1, 1, 2, 3], strides: 1, pad: 'valid', bias: false, alpha: null },
];
const describeCase = (c: Case) => `x [${c.x}] w [${c.w}] strides ${c.strides} pad ${JSON.stringify(c.pad)} bias ${c.bias} alpha ${c.alpha}`;

type Fn = (x: tf.Tensor4D, w: tf.Tensor4D, b: tf.Tensor1D | undefined) => tf.Tensor4D;
const fused = (c: Case): Fn => (x, w, b) => convAct(x, w, b, { strides: c.strides, pad: c.pad, alpha: c.alpha });
/** The ops the layer stands for. */
const reference = (c: Case): Fn => (x, w, b) => {
  let y = tf.conv2d(x, w, c.strides, c.pad as 'same');
  if (b) y = tf.add(y, b);
  return c.alpha === null ? y : c.alpha === 0 ? tf.relu(y) : tf.leakyRelu(y, c.alpha);
};

/** Value and gradients (dx, dw, db) of sum(f(x, w, b) * weights) for a fixed random weighting. */
function valueAndGrads(f: Fn, c: Case, seed: number) {
  return tf.tidy(() => {
    const x = tf.randomUniform(c.x, -1, 1, 'float32', seed) as tf.Tensor4D;
    const w = tf.randomUniform(c.w, -0.5, 0.5, 'float32', seed + 1) as tf.Tensor4D;
    const b = c.bias ? (tf.randomUniform([c.w[3]], -0.3, 0.3, 'float32', seed + 2) as tf.Tensor1D) : undefined;
    const y = f(x, w, b);
    const weights = tf.randomUniform(y.shape, -1, 1, 'float32', seed + 3);
    const loss = (a: tf.Tensor, bw: tf.Tensor, bb?: tf.Tensor) => tf.sum(tf.mul(f(a as tf.Tensor4D, bw as tf.Tensor4D, bb as tf.Tensor1D | undefined), weights));
    const g = b ? tf.grads(loss)([x, w, b]) : tf.grads((a: tf.Tensor, bw: tf.Tensor) => loss(a, bw))([x, w]);
    return { y: Array.from(y.dataSync()), dx: Array.from(g[0].dataSync()), dw: Array.from(g[1].dataSync()), db: g[2] ? Array.from(g[2].dataSync()) : [] };
  });
}

function expectClose(got: number[], want: number[], tol: number, what: string): void {
  expect(got.length).toBe(want.length);
  let scale = 1e-6;
  for (const v of want) scale = Math.max(scale, Math.abs(v));
  got.forEach((g, i) => {
    if (!(Math.abs(g - want[i]) <= tol * scale)) throw new Error(`${what}[${i}]: got ${g}, expected ${want[i]} (scale ${scale})`);
  });
}

function expectSame(got: ReturnType<typeof valueAndGrads>, want: ReturnType<typeof valueAndGrads>): void {
  expectClose(got.y, want.y, 1e-5, 'y');
  expectClose(got.dx, want.dx, 1e-5, 'dx');
  expectClose(got.dw, want.dw, 1e-5, 'dw');
  expectClose(got.db, want.db, 1e-5, 'db');
}

describe.each(['cpu', 'wasm'] as const)('convAct on %s', (backend) => {
  beforeAll(async () => {
    await initBackend(backend);
  });

  it.each(CASES.map((c) => [describeCase(c), c] as const))('equals its ops in value and in dx, dw, db: %s', (_name, c) => {
    const got = valueAndGrads(fused(c), c, 11);
    if (c.alpha !== null) expect(got.y.filter((v) => v <= 0).length).toBeGreaterThan(0); // the activation acts somewhere
    expectSame(got, valueAndGrads(reference(c), c, 11));
  });

  it('computes no dx when only the weights are trained, and leaks no tensors', async () => {
    const c = CASES[0];
    const x = tf.randomUniform(c.x, -1, 1, 'float32', 5) as tf.Tensor4D;
    const w = tf.variable(tf.randomUniform(c.w, -0.5, 0.5, 'float32', 6)) as tf.Variable<tf.Rank.R4>;
    const b = tf.variable(tf.randomUniform([c.w[3]], -0.3, 0.3, 'float32', 7)) as tf.Variable<tf.Rank.R1>;
    const before = tf.memory().numTensors;
    let grads: tf.NamedTensorMap = {};
    const info = await tf.profile(() => {
      const r = tf.variableGrads(() => tf.sum(tf.square(convAct(x, w, b, { alpha: 0 }))) as tf.Scalar, [w, b]);
      r.value.dispose();
      grads = r.grads;
    });
    const r = tf.variableGrads(() => tf.sum(tf.square(reference(c)(x, w, b))) as tf.Scalar, [w, b]);
    r.value.dispose();
    expectClose(Array.from(grads[w.name].dataSync()), Array.from(r.grads[w.name].dataSync()), 1e-5, 'dw');
    expectClose(Array.from(grads[b.name].dataSync()), Array.from(r.grads[b.name].dataSync()), 1e-5, 'db');
    expect(info.kernels.map((k) => k.name)).not.toContain('Conv2DBackpropInput');
    tf.dispose([r.grads[w.name], r.grads[b.name], grads[w.name], grads[b.name]]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, w, b]);
  });

  it('rejects a bias that does not match the filter, and a bad alpha', () => {
    const x = tf.zeros([1, 4, 4, 2]) as tf.Tensor4D;
    const w = tf.zeros([3, 3, 2, 4]) as tf.Tensor4D;
    const b = tf.zeros([3]) as tf.Tensor1D;
    expect(() => convAct(x, w, b)).toThrow('convAct: bias [3] must have one value per output channel of the filter [3,3,2,4]');
    expect(() => convAct(x, w, undefined, { alpha: -1 })).toThrow('convAct: alpha must be a number in [0, 1] or null, got -1');
    tf.dispose([x, w, b]);
  });
});

describe('convAct on wasm with and without the oneDNN kernels', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });
  afterAll(() => {
    registerNativeKernels(requireNative());
  });

  const kernelsOf = async (c: Case) =>
    (
      await tf.profile(() => {
        valueAndGrads(fused(c), c, 1);
      })
    ).kernels.map((k) => k.name);

  it.each([CASES[1], CASES[3]].map((c) => [describeCase(c), c] as const))('runs the fused kernels when the oneDNN set is registered, the tfjs ops when it is not, with the same results: %s', async (_name, c) => {
    const act = c.alpha === 0 ? ['Relu', 'Step'] : ['LeakyRelu', 'Select'];
    expect(registeredNativeKernels()).toContain('Conv2DBiasAct');
    const fusedKernels = await kernelsOf(c);
    expect(fusedKernels).toEqual(expect.arrayContaining(['Conv2DBiasAct', 'ActBiasGrad']));
    for (const k of act) expect(fusedKernels).not.toContain(k);
    const withAddon = valueAndGrads(fused(c), c, 21);
    try {
      unregisterNativeKernels();
      expect(registeredNativeKernels()).toEqual([]);
      const plainKernels = await kernelsOf(c);
      expect(plainKernels).not.toContain('Conv2DBiasAct');
      expect(plainKernels).toEqual(expect.arrayContaining(['Conv2D', ...act]));
      expectSame(withAddon, valueAndGrads(fused(c), c, 21));
    } finally {
      registerNativeKernels(requireNative());
    }
  });
});

describe('convActPool: convAct, then a 2x2 max pool', () => {
  const POOL_CASES: Case[] = [
    { x: [2, 8, 8, 3], w: [3, 3, 3, 16], strides: 1, pad: 'same', bias: true, alpha: 0 }, // the classifier's first block, small
    { x: [3, 6, 6, 16], w: [3, 3, 16, 8], strides: 1, pad: 'same', bias: true, alpha: 0 },
    { x: [2, 7, 9, 4], w: [3, 3, 4, 5], strides: 1, pad: 'same', bias: true, alpha: 0.2 }, // odd sizes: a row and a column in no window
    { x: [1, 6, 6, 2], w: [1, 1, 2, 3], strides: 1, pad: 'valid', bias: true, alpha: null },
  ];
  const pooledOf = (c: Case): Fn => (x, w, b) => convActPool(x, w, b, { strides: c.strides, pad: c.pad, alpha: c.alpha }).pooled;
  const opsOf = (c: Case): Fn => (x, w, b) => tf.maxPool(reference(c)(x, w, b), 2, 2, 'valid');

  beforeAll(async () => {
    await initBackend('wasm');
  });
  afterAll(() => {
    registerNativeKernels(requireNative());
  });

  const kernelsOf = async (f: () => void) => (await tf.profile(f)).kernels.map((k) => k.name);

  it.each(POOL_CASES.map((c) => [describeCase(c), c] as const))('equals the ops (conv, bias, activation, maxPool) in value and in dx, dw, db, with one kernel each way for the rest: %s', async (_name, c) => {
    expect(registeredNativeKernels()).toContain('BiasActPool');
    const kernels = await kernelsOf(() => void valueAndGrads(pooledOf(c), c, 3));
    expect(kernels).toEqual(expect.arrayContaining(['Conv2D', 'BiasActPool', 'PoolActBiasGrad', 'Conv2DBackpropFilter']));
    for (const k of ['MaxPool', 'MaxPoolGrad', 'ActBiasGrad', 'Conv2DBiasAct']) expect(kernels).not.toContain(k);
    expectSame(valueAndGrads(pooledOf(c), c, 3), valueAndGrads(opsOf(c), c, 3));
    // The same without the addon (convAct and tf.maxPool).
    const withAddon = valueAndGrads(pooledOf(c), c, 4);
    try {
      unregisterNativeKernels();
      expect(await kernelsOf(() => void valueAndGrads(pooledOf(c), c, 4))).not.toContain('BiasActPool');
      expectSame(withAddon, valueAndGrads(pooledOf(c), c, 4));
    } finally {
      registerNativeKernels(requireNative());
    }
  });

  it('sends a tied window\'s gradient to its first value, as MaxPoolGrad does', () => {
    // x = 0: every value of a channel is its bias, so every window is a four-way tie.
    const c = POOL_CASES[0];
    const grads = (f: Fn) =>
      tf.tidy(() => {
        const x = tf.zeros(c.x) as tf.Tensor4D;
        const w = tf.randomUniform(c.w, -0.5, 0.5, 'float32', 8) as tf.Tensor4D;
        const b = tf.randomUniform([c.w[3]], 0.1, 0.3, 'float32', 9) as tf.Tensor1D;
        const weights = tf.randomUniform([c.x[0], c.x[1] / 2, c.x[2] / 2, c.w[3]], -1, 1, 'float32', 10);
        // dx: where in each window the gradient lands shows in the image's gradient.
        const [dx] = tf.grads((a: tf.Tensor) => tf.sum(tf.mul(f(a as tf.Tensor4D, w, b), weights)))([x]);
        return Array.from(dx.dataSync());
      });
    const fusedDx = grads(pooledOf(c));
    expect(fusedDx.some((v) => v !== 0)).toBe(true);
    expectClose(fusedDx, grads(opsOf(c)), 1e-5, 'dx');
  });

  it('gives the activation\'s shape; without a bias, the ops; rejects a bias that does not match', async () => {
    const x = tf.zeros([1, 6, 6, 2]) as tf.Tensor4D;
    const w = tf.zeros([3, 3, 2, 4]) as tf.Tensor4D;
    let r = convActPool(x, w, undefined, { alpha: 0 });
    const kernels = await kernelsOf(() => {
      r = convActPool(x, w, undefined, { alpha: 0 });
    });
    expect(kernels).toEqual(['Conv2DBiasAct', 'MaxPool']);
    expect([r.activationShape, r.pooled.shape]).toEqual([[1, 6, 6, 4], [1, 3, 3, 4]]);
    const b = tf.zeros([3]) as tf.Tensor1D;
    expect(() => convActPool(x, w, b)).toThrow('convActPool: bias [3] must have one value per output channel of the filter [3,3,2,4]');
    tf.dispose([x, w, b, r.pooled]);
  });
});
