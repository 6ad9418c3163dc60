import * as tf from '@tensorflow/tfjs';
import { Rng } from '@gan-study/core';
import { ParamStore } from '../common';
import { createEqualizedConv2d, createEqualizedDense, effectiveWeights, equalizedConv2d, equalizedDense, heScale } from './equalized';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('equalized learning rate layers', () => {
  it('stores N(0,1) weights and applies them scaled by gain / sqrt(fanIn)', async () => {
    const store = new ParamStore(new Rng(1));
    const conv = createEqualizedConv2d(store, 'c', 3, 16, 32);
    expect(conv.fanIn).toBe(3 * 3 * 16);
    expect(conv.scale).toBeCloseTo(Math.SQRT2 / 12, 12);
    const raw = (await conv.w.data()) as Float32Array;
    const mean = raw.reduce((a, b) => a + b, 0) / raw.length;
    const std = Math.sqrt(raw.reduce((a, b) => a + (b - mean) ** 2, 0) / raw.length);
    // 4608 draws: the sample std is within a few percent of 1.
    expect(Math.abs(mean)).toBeLessThan(0.05);
    expect(Math.abs(std - 1)).toBeLessThan(0.05);
    const eff = (await effectiveWeights(conv).data()) as Float32Array;
    eff.forEach((v, i) => expect(v).toBeCloseTo(raw[i] * conv.scale, 6));
    expect(Array.from(await conv.b!.data()).every((v) => v === 0)).toBe(true);
    const linear = createEqualizedDense(store, 'd', 8, 1, { gain: 1, bias: false });
    expect(linear.scale).toBeCloseTo(1 / Math.sqrt(8), 12);
    expect(linear.b).toBeNull();
    expect(() => heScale(0)).toThrow('fanIn must be positive, got 0');
    store.dispose();
  });

  it('conv and dense compute x * (w * scale) + b', async () => {
    const store = new ParamStore(new Rng(2));
    const conv = createEqualizedConv2d(store, 'c', 1, 2, 1, { gain: 2 });
    conv.w.assign(tf.tensor4d([3, -1], [1, 1, 2, 1]));
    conv.b!.assign(tf.tensor1d([0.5]));
    // scale = 2 / sqrt(2): out = sqrt(2) * (3 x0 - x1) + 0.5
    const y = equalizedConv2d(tf.tensor4d([1, 2, 0, -1], [1, 1, 2, 2]), conv);
    const got = Array.from(await y.data());
    expect(got[0]).toBeCloseTo(Math.SQRT2 * (3 * 1 - 2) + 0.5, 5);
    expect(got[1]).toBeCloseTo(Math.SQRT2 * (0 + 1) + 0.5, 5);
    const dense = createEqualizedDense(store, 'd', 4, 1, { gain: 1 });
    dense.w.assign(tf.tensor2d([1, 2, 3, 4], [4, 1]));
    const z = equalizedDense(tf.tensor2d([1, 1, 1, 1], [1, 4]), dense);
    expect((await z.data())[0]).toBeCloseTo(10 / 2, 5);
    store.dispose();
  });

  it('rejects an even kernel', () => {
    const store = new ParamStore(new Rng(3));
    expect(() => createEqualizedConv2d(store, 'G.c', 2, 1, 1)).toThrow('G.c: kernel must be an odd positive integer, got 2');
    store.dispose();
  });
});
