import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { countTransfers } from '../testing';
import { initBackend } from './backend';
import { registerTfjsFixes } from './fixes';

/** The gradients of mean/sum over `axes` of x, by tf.grad. */
function reductionGrads(x: tf.Tensor, axes: number | number[]): { mean: Float32Array; sum: Float32Array } {
  const mean = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.mean(t, axes, true), tf.range(1, 1 + tf.mean(t, axes, true).size).reshape(tf.mean(t, axes, true).shape))))(x);
  const sum = tf.grad((t: tf.Tensor) => tf.sum(tf.square(tf.sum(t, axes))))(x);
  const out = { mean: mean.dataSync() as Float32Array, sum: sum.dataSync() as Float32Array };
  tf.dispose([mean, sum]);
  return out;
}

describe('Mean/Sum gradients made on the backend (fixes.ts)', () => {
  const cases: Array<[number[], number | number[]]> = [
    [[2, 3, 4, 5], [0, 1, 2]],
    [[2, 3, 4, 5], [1, 2]],
    [[2, 3, 4, 5], 3],
    [[6, 7], 0],
    [[6, 7], [0, 1]],
  ];

  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it.each(cases)('x %j, axes %j: the same values as the analytic gradient', (shape, axes) => {
    registerTfjsFixes();
    tf.tidy(() => {
      const x = tf.randomNormal(shape, 0, 1, 'float32', 7);
      const { mean, sum } = reductionGrads(x, axes);
      const ax = tf.util.parseAxisParam(axes, shape);
      const reduce = ax.reduce((a, i) => a * shape[i], 1);
      // d/dx of sum(mean(x) * k) = k / reduce, k numbering the reduced cells 1..m; of sum(sum(x)^2) = 2 * sum(x).
      const keep = shape.map((d, i) => (ax.includes(i) ? 1 : d));
      const k = tf.broadcastTo(tf.range(1, 1 + keep.reduce((a, b) => a * b, 1)).reshape(keep), shape);
      const wantMean = tf.div(k, reduce).dataSync();
      const wantSum = tf.broadcastTo(tf.mul(2, tf.sum(x, ax, true)), shape).dataSync();
      expect(Array.from(mean)).toEqual(Array.from(wantMean).map((v) => Math.fround(v)));
      for (let i = 0; i < sum.length; i++) expect(sum[i]).toBeCloseTo(wantSum[i], 5);
    });
  });

  it('uploads no full-size ones (tfjs 4.22 uploads x.size values per backward pass)', async () => {
    await tf.setBackend('wasm');
    registerTfjsFixes();
    const x = tf.randomNormal([8, 16, 16, 32]);
    const t = await countTransfers(() => tf.tidy(() => tf.grad((v: tf.Tensor) => tf.add(tf.mean(v, [0, 1, 2]).sum(), tf.sum(v, [1, 2]).sum()))(x)));
    expect(t.written).toBeLessThan(x.size / 10);
    x.dispose();
    await tf.setBackend('cpu');
  });
});

describe('tensors saved for the backward pass share their buffers on wasm (fixes.ts)', () => {
  afterAll(async () => {
    await tf.setBackend('cpu');
  });

  it('no Identity copy on wasm, the same gradients as cpu (first and second order), nothing leaked', async () => {
    registerTfjsFixes();
    const run = async (backend: 'cpu' | 'wasm') => {
      if (backend === 'wasm') await initBackend('wasm');
      else await tf.setBackend('cpu');
      const before = tf.memory().numTensors;
      const x = tf.tensor4d(Array.from({ length: 2 * 4 * 4 * 8 }, (_, i) => Math.sin(i) * 3), [2, 4, 4, 8]);
      const w = tf.tensor4d(Array.from({ length: 3 * 3 * 8 * 4 }, (_, i) => Math.cos(i) / 4), [3, 3, 8, 4]);
      const f = (t: tf.Tensor) => tf.sum(tf.square(tf.maxPool(tf.relu(tf.conv2d(t as tf.Tensor4D, w, 1, 'same')), 2, 2, 'valid')));
      let first: Float32Array = new Float32Array();
      const profile = await tf.profile(() => {
        const g = tf.grad(f)(x);
        first = g.dataSync() as Float32Array;
        g.dispose();
      });
      // Second order: the gradient of |df/dx|^2 with respect to w (as WGAN-GP's penalty needs).
      const second = tf.tidy(() => tf.grad((ww: tf.Tensor) => tf.sum(tf.square(tf.grad((t: tf.Tensor) => tf.sum(tf.square(tf.relu(tf.conv2d(t as tf.Tensor4D, ww as tf.Tensor4D, 1, 'same')))))(x))))(w).dataSync() as Float32Array);
      tf.dispose([x, w]);
      return { first, second, kernels: profile.kernelNames, leaked: tf.memory().numTensors - before };
    };
    const cpu = await run('cpu');
    const wasm = await run('wasm');
    expect(cpu.kernels).toContain('Identity');
    expect(wasm.kernels).not.toContain('Identity');
    const close = (a: Float32Array, b: Float32Array) => a.every((v, i) => Math.abs(v - b[i]) <= 1e-4 * Math.max(1, Math.abs(b[i])));
    expect(close(wasm.first, cpu.first)).toBe(true);
    expect(close(wasm.second, cpu.second)).toBe(true);
    expect(wasm.first.some((v) => v !== 0)).toBe(true);
    expect([cpu.leaked, wasm.leaked]).toEqual([0, 0]);
  });
});
