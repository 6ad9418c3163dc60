import * as tf from '@tensorflow/tfjs';
import { minibatchStddev } from './minibatch-std';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('minibatchStddev', () => {
  it('appends the group-averaged standard deviation as one feature map (hand case)', async () => {
    // Batch 4, group 2 -> M = 2 slots: slot 0 = samples {0, 2}, slot 1 = samples {1, 3}.
    // 1x2 pixels, 1 channel.
    const x = tf.tensor4d([0, 2, 10, 10, 4, 2, 10, 14], [4, 1, 2, 1]);
    const y = minibatchStddev(x, 2);
    expect(y.shape).toEqual([4, 1, 2, 2]);
    const v = Array.from(await y.data());
    // Slot 0: pixel 0 values {0, 4} -> std 2; pixel 1 values {2, 2} -> std 0 (sqrt(1e-8) = 1e-4). Mean 1.00005.
    // Slot 1: pixel 0 {10, 10} -> 1e-4; pixel 1 {10, 14} -> 2. Mean 1.00005.
    const s0 = (2 + 1e-4) / 2;
    const expected = [0, s0, 2, s0, 10, s0, 10, s0, 4, s0, 2, s0, 10, s0, 14, s0];
    v.forEach((a, i) => expect(a).toBeCloseTo(expected[i], 5));
    tf.dispose([x, y]);
  });

  it('uses groups of min(groupSize, batch), slot i mod M, and rejects an indivisible batch', async () => {
    const x = tf.tensor4d([1, 3, 5, 100, 200, 300], [6, 1, 1, 1]);
    expect(() => minibatchStddev(x, 4)).toThrow('minibatch std: batch 6 is not divisible by the group size 4');
    // Group 3, M = 2: the reshape to [3, 2] puts samples (0, 1), (2, 3), (4, 5) in rows, so
    // slot 0 = samples {0, 2, 4} = {1, 5, 200} and slot 1 = samples {1, 3, 5} = {3, 100, 300}.
    const y = minibatchStddev(x, 3);
    const v = Array.from(await y.data());
    const std = (a: number[]) => {
      const m = a.reduce((s, t) => s + t, 0) / a.length;
      return Math.sqrt(a.reduce((s, t) => s + (t - m) ** 2, 0) / a.length + 1e-8);
    };
    const s0 = std([1, 5, 200]);
    const s1 = std([3, 100, 300]);
    expect(v.filter((_, i) => i % 2 === 1).map((t) => Math.round(t * 1000) / 1000)).toEqual([s0, s1, s0, s1, s0, s1].map((t) => Math.round(t * 1000) / 1000));
    const single = minibatchStddev(tf.ones([1, 2, 2, 3]) as tf.Tensor4D, 4);
    expect(single.shape).toEqual([1, 2, 2, 4]);
    expect((await single.data())[3]).toBeCloseTo(1e-4, 8);
    tf.dispose([x, y, single]);
  });
});
