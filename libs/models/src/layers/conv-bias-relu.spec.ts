import * as tf from '@tensorflow/tfjs';
import { initBackend, registerNativeKernels, registeredNativeKernels, unregisterNativeKernels } from '../engine';
import { requireNative } from '@gan-study/native';
import { convBiasRelu } from './conv-bias-relu';

type Case = { x: [number, number, number, number]; w: [number, number, number, number]; strides: number; pad: 'same' | 'valid' };
const CASES: Case[] = [
  { x: [2, 8, 8, 3], w: [3, 3, 3, 16], strides: 1, pad: 'same' }, // the classifier's first layer, small
  { x: [3, 6, 6, 16], w: [3, 3, 16, 8], strides: 1, pad: 'same' },
  { x: [2, 9, 7, 4], w: [4, 4, 4, 5], strides: 2, pad: 'valid' },
  { x: [1, 5, 5, 2], w: [1, 1, 2, 3], strides: 1, pad: 'valid' },
];

const reference = (x: tf.Tensor4D, w: tf.Tensor4D, b: tf.Tensor1D, c: Case) => tf.relu(tf.add(tf.conv2d(x, w, c.strides, c.pad), b)) as tf.Tensor4D;

/** Value and gradients (dx, dw, db) of sum(f(x, w, b) * weights) for a fixed random weighting. */
function valueAndGrads(f: (x: tf.Tensor4D, w: tf.Tensor4D, b: tf.Tensor1D) => tf.Tensor4D, c: Case, seed: number) {
  return tf.tidy(() => {
    const x = tf.randomUniform(c.x, -1, 1, 'float32', seed) as tf.Tensor4D;
    const w = tf.randomUniform(c.w, -0.5, 0.5, 'float32', seed + 1) as tf.Tensor4D;
    const b = tf.randomUniform([c.w[3]], -0.3, 0.3, 'float32', seed + 2) as tf.Tensor1D;
    const y = f(x, w, b);
    const weights = tf.randomUniform(y.shape, -1, 1, 'float32', seed + 3);
    const [dx, dw, db] = tf.grads((a: tf.Tensor, bw: tf.Tensor, bb: tf.Tensor) => tf.sum(tf.mul(f(a as tf.Tensor4D, bw as tf.Tensor4D, bb as tf.Tensor1D), weights)))([x, w, b]);
    return { y: Array.from(y.dataSync()), dx: Array.from(dx.dataSync()), dw: Array.from(dw.dataSync()), db: Array.from(db.dataSync()) };
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

describe.each(['cpu', 'wasm'] as const)('convBiasRelu on %s', (backend) => {
  beforeAll(async () => {
    await initBackend(backend);
  });

  it.each(CASES.map((c) => [`x [${c.x}] w [${c.w}] strides ${c.strides} ${c.pad}`, c] as const))('equals relu(conv2d + b) in value and in dx, dw, db: %s', (_name, c) => {
    const got = valueAndGrads((x, w, b) => convBiasRelu(x, w, b, { strides: c.strides, pad: c.pad }), c, 11);
    const want = valueAndGrads((x, w, b) => reference(x, w, b, c), c, 11);
    expect(got.y.filter((v) => v === 0).length).toBeGreaterThan(0); // the ReLU clamps somewhere
    expectClose(got.y, want.y, 1e-5, 'y');
    expectClose(got.dx, want.dx, 1e-5, 'dx');
    expectClose(got.dw, want.dw, 1e-5, 'dw');
    expectClose(got.db, want.db, 1e-5, 'db');
  });

  it('with inputGradient false: the same dw and db, no dx computed, no tensors leaked', async () => {
    const c = CASES[0];
    const x = tf.randomUniform(c.x, -1, 1, 'float32', 5) as tf.Tensor4D;
    const w = tf.variable(tf.randomUniform(c.w, -0.5, 0.5, 'float32', 6));
    const b = tf.variable(tf.randomUniform([c.w[3]], -0.3, 0.3, 'float32', 7));
    const loss = (f: () => tf.Tensor) => () => tf.sum(tf.square(f())) as tf.Scalar;
    const before = tf.memory().numTensors;
    let grads: tf.NamedTensorMap = {};
    const info = await tf.profile(() => {
      const r = tf.variableGrads(loss(() => convBiasRelu(x, w as tf.Variable<tf.Rank.R4>, b as tf.Variable<tf.Rank.R1>, { inputGradient: false })), [w, b]);
      r.value.dispose();
      grads = r.grads;
    });
    const r = tf.variableGrads(loss(() => reference(x, w as tf.Variable<tf.Rank.R4>, b as tf.Variable<tf.Rank.R1>, c)), [w, b]);
    r.value.dispose();
    const ref = r.grads;
    expectClose(Array.from(grads[w.name].dataSync()), Array.from(ref[w.name].dataSync()), 1e-5, 'dw');
    expectClose(Array.from(grads[b.name].dataSync()), Array.from(ref[b.name].dataSync()), 1e-5, 'db');
    expect(info.kernels.map((k) => k.name)).not.toContain('Conv2DBackpropInput');
    tf.dispose([ref[w.name], ref[b.name], grads[w.name], grads[b.name]]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, w, b]);
  });

  it('rejects a bias that does not match the filter', () => {
    const x = tf.zeros([1, 4, 4, 2]) as tf.Tensor4D;
    const w = tf.zeros([3, 3, 2, 4]) as tf.Tensor4D;
    const b = tf.zeros([3]) as tf.Tensor1D;
    expect(() => convBiasRelu(x, w, b)).toThrow('convBiasRelu: bias [3] must have one value per output channel of the filter [3,3,2,4]');
    tf.dispose([x, w, b]);
  });
});

describe('convBiasRelu on wasm with and without the oneDNN kernels', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });
  afterAll(() => {
    registerNativeKernels(requireNative());
  });

  const kernelsOf = async (f: () => tf.TensorContainer) =>
    (
      await tf.profile(() => {
        tf.dispose(f());
      })
    ).kernels.map((k) => k.name);
  const step = (c: Case) => () =>
    tf.tidy(() => {
      const x = tf.randomUniform(c.x, -1, 1, 'float32', 1) as tf.Tensor4D;
      const w = tf.randomUniform(c.w, -0.5, 0.5, 'float32', 2) as tf.Tensor4D;
      const b = tf.randomUniform([c.w[3]], -0.3, 0.3, 'float32', 3) as tf.Tensor1D;
      return tf.grads((a: tf.Tensor, bw: tf.Tensor, bb: tf.Tensor) => tf.sum(convBiasRelu(a as tf.Tensor4D, bw as tf.Tensor4D, bb as tf.Tensor1D, { strides: c.strides, pad: c.pad })))([x, w, b]);
    });

  it('runs the fused kernels when the oneDNN set is registered, the tfjs ops when it is not, with the same results', async () => {
    expect(registeredNativeKernels()).toContain('Conv2DBiasRelu');
    const c = CASES[1];
    const fusedKernels = await kernelsOf(step(c));
    expect(fusedKernels).toEqual(expect.arrayContaining(['Conv2DBiasRelu', 'ReluBiasGrad']));
    expect(fusedKernels).not.toContain('Relu');
    expect(fusedKernels).not.toContain('Step');
    const fused = valueAndGrads((x, w, b) => convBiasRelu(x, w, b, { strides: c.strides, pad: c.pad }), c, 21);

    unregisterNativeKernels();
    expect(registeredNativeKernels()).toEqual([]);
    const plainKernels = await kernelsOf(step(c));
    expect(plainKernels).not.toContain('Conv2DBiasRelu');
    expect(plainKernels).toEqual(expect.arrayContaining(['Conv2D', 'Relu', 'Step']));
    const plain = valueAndGrads((x, w, b) => convBiasRelu(x, w, b, { strides: c.strides, pad: c.pad }), c, 21);
    expectClose(fused.y, plain.y, 1e-5, 'y');
    expectClose(fused.dx, plain.dx, 1e-5, 'dx');
    expectClose(fused.dw, plain.dw, 1e-5, 'dw');
    expectClose(fused.db, plain.db, 1e-5, 'db');
  });
});
