import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { countTransfers } from '../testing';
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
