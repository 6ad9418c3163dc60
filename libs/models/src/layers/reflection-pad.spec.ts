import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../engine';
import { reflectionPad2d, reflectionPad2dComposed } from './reflection-pad';
import { tapeBytes } from './norm-testing';

describe.each(['cpu', 'wasm'] as const)('reflectionPad2d on %s', (backend) => {
  beforeAll(async () => {
    await initBackend(backend);
  });

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

  it('matches the composition of slice, reverse and concat: values exactly, gradients to float rounding', () => {
    const cases: Array<[[number, number, number, number], number]> = [
      [[2, 4, 5, 3], 1],
      [[2, 4, 5, 3], 3],
      [[1, 7, 3, 8], 2],
      [[3, 2, 2, 1], 1],
      [[1, 6, 9, 16], 4],
    ];
    for (const [shape, pad] of cases) {
      tf.tidy(() => {
        const x = tf.randomNormal(shape, 0, 1, 'float32', 13) as tf.Tensor4D;
        const y = reflectionPad2d(x, pad);
        expect(Array.from(y.dataSync())).toEqual(Array.from(reflectionPad2dComposed(x, pad).dataSync()));
        const dy = tf.randomNormal(y.shape, 0, 1, 'float32', 14);
        const got = tf.grad((t: tf.Tensor) => reflectionPad2d(t as tf.Tensor4D, pad))(x, dy).dataSync();
        const want = tf.grad((t: tf.Tensor) => reflectionPad2dComposed(t as tf.Tensor4D, pad))(x, dy).dataSync();
        // Each dx is a sum of 1 to 9 dy values; only the order of the additions may differ.
        want.forEach((w, i) => expect(Math.abs(got[i] - w)).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(w))));
      });
    }
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

describe('reflectionPad2d on wasm', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  it('keeps nothing for the backward pass: one output and one dx at most (the composed ops: several)', async () => {
    const shape = [4, 32, 32, 16];
    const out = [4, 38, 38, 16];
    const size = (s: number[]) => 4 * s.reduce((a, b) => a * b, 1);
    const fused = await tapeBytes(shape, out, (x) => reflectionPad2d(x as tf.Tensor4D, 3));
    const composed = await tapeBytes(shape, out, (x) => reflectionPad2dComposed(x as tf.Tensor4D, 3));
    expect(fused.extraPeak).toBeLessThanOrEqual(size(out) + size(shape) + 1024);
    expect(fused.kernels).not.toContain('Identity');
    expect(composed.extraPeak).toBeGreaterThan(2 * size(out) + size(shape));
  });
});
