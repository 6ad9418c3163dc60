import * as tf from '@tensorflow/tfjs';
import { reflectionPad2d } from './reflection-pad';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('reflectionPad2d', () => {
  it('reflects about the border entries, as torch ReflectionPad2d (hand case) and tf.mirrorPad reflect', () => {
    // One row [1 2 3 4] padded by 2 along W: [3 2 1 2 3 4 3 2]; along H (3 rows) the middle row mirrors the first.
    const x = tf.tensor4d([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], [1, 3, 4, 1]);
    const y = reflectionPad2d(x, 2);
    expect(y.shape).toEqual([1, 7, 8, 1]);
    const rows = y.arraySync()[0].map((r) => r.map((c) => c[0]));
    expect(rows[2]).toEqual([3, 2, 1, 2, 3, 4, 3, 2]);
    expect(rows[0]).toEqual([11, 10, 9, 10, 11, 12, 11, 10]);
    expect(rows[1]).toEqual([7, 6, 5, 6, 7, 8, 7, 6]);
    expect(rows[6]).toEqual([3, 2, 1, 2, 3, 4, 3, 2]);

    const r = tf.randomUniform([2, 5, 6, 3], -1, 1, 'float32', 7) as tf.Tensor4D;
    const ours = reflectionPad2d(r, 3);
    const ref = tf.mirrorPad(r, [[0, 0], [3, 3], [3, 3], [0, 0]], 'reflect');
    expect(Array.from(ours.dataSync())).toEqual(Array.from(ref.dataSync()));
    tf.dispose([x, y, r, ours, ref]);
  });

  it('folds the gradient of each reflected copy back onto its source entry (hand case)', () => {
    // Along W, [a b c d] padded by 2 is [c b a b c d c b]: with column weights w, d/da = w2,
    // d/db = w1 + w3 + w7, d/dc = w0 + w4 + w6, d/dd = w5. Along H, rows [r0 r1 r2] become
    // [r2 r1 r0 r1 r2 r1 r0], so with unit row weights r0, r1, r2 collect 2, 3 and 2 copies.
    const w = [1, 2, 4, 8, 16, 32, 64, 128];
    const perColumn = [w[2], w[1] + w[3] + w[7], w[0] + w[4] + w[6], w[5]];
    const perRow = [2, 3, 2];
    const grad = tf.tidy(() => {
      const x = tf.zeros([1, 3, 4, 1]);
      const weights = tf.tensor4d(w, [1, 1, 8, 1]);
      return tf.grad((t: tf.Tensor) => reflectionPad2d(t as tf.Tensor4D, 2).mul(weights).sum())(x).arraySync() as number[][][][];
    });
    expect(grad[0].map((row) => row.map((c) => c[0]))).toEqual(perRow.map((r) => perColumn.map((c) => r * c)));
  });

  it('has the finite-difference gradient on a nonlinear loss', () => {
    const x = tf.randomUniform([1, 4, 5, 2], -1, 1, 'float32', 3) as tf.Tensor4D;
    const w = tf.randomUniform([1, 8, 9, 2], -1, 1, 'float32', 4);
    const loss = (t: tf.Tensor) => reflectionPad2d(t as tf.Tensor4D, 2).square().mul(w).sum();
    const analytic = tf.grad(loss)(x);
    const xs = Float64Array.from(x.dataSync());
    const h = 1e-2;
    const at = (v: Float64Array) => tf.tidy(() => loss(tf.tensor4d(Float32Array.from(v), x.shape)).dataSync()[0]);
    const numeric = Array.from(xs, (_, i) => {
      const up = Float64Array.from(xs);
      const down = Float64Array.from(xs);
      up[i] += h;
      down[i] -= h;
      return (at(up) - at(down)) / (2 * h);
    });
    const got = Array.from(analytic.dataSync());
    got.forEach((g, i) => expect(Math.abs(g - numeric[i])).toBeLessThan(2e-3 * Math.max(1, Math.abs(numeric[i]))));
    tf.dispose([x, w, analytic]);
  });

  it('rejects a pad the input cannot reflect and leaks no tensors', () => {
    const x = tf.zeros([1, 3, 4, 1]) as tf.Tensor4D;
    expect(() => reflectionPad2d(x, 3)).toThrow('reflection pad 3 needs an input larger than 3 on both axes, got 3x4');
    expect(() => reflectionPad2d(x, -1)).toThrow('reflection pad must be a non-negative integer, got -1');
    const before = tf.memory().numTensors;
    const y = reflectionPad2d(x, 1);
    expect(tf.memory().numTensors).toBe(before + 1);
    tf.dispose([x, y]);
  });
});
