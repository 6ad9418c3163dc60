import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../engine';
import { batchNorm, batchNormComposed } from './batch-norm';
import type { BatchNormOptions } from './batch-norm';
import { compareFusedWithComposed, finiteDifferenceCheck, tapeBytes } from './norm-testing';

describe.each(['cpu', 'wasm'] as const)('batchNorm (fused op) on %s', (backend) => {
  beforeAll(async () => {
    await initBackend(backend);
  });

  it('normalizes each channel over N, H, W with the biased variance, then scales and shifts (hand case)', () => {
    // Channel 0 holds 0, 2, 4, 6 across two images: mean 3, biased var 5; channel 1 is constant.
    const x = tf.tensor4d([0, 1, 2, 1, 4, 1, 6, 1], [2, 1, 2, 2]);
    const gamma = tf.tensor1d([2, 3]);
    const beta = tf.tensor1d([0.5, -1]);
    const y = batchNorm(x, { gamma, beta }).dataSync();
    const s = Math.sqrt(5 + 1e-5);
    [-3, -1, 1, 3].forEach((d, i) => {
      expect(y[2 * i]).toBeCloseTo((2 * d) / s + 0.5, 5);
      expect(y[2 * i + 1]).toBeCloseTo(-1, 6);
    });
    tf.dispose([x, gamma, beta]);
  });

  // 8 channels (wasm: the SIMD loops), 6 channels (wasm: the JavaScript loops), 4 x 5 x 9 = 180 rows
  // (several row blocks and a partial one), and a 2-D input ([rows, channels], as after a dense layer).
  const shapes = [
    [4, 3, 5, 8],
    [3, 2, 5, 6],
    [4, 5, 9, 16],
    [40, 12],
  ];
  const options: Array<[string, Omit<BatchNormOptions, 'gamma' | 'beta' | 'onStats'> & { params: Array<'gamma' | 'beta'> }]> = [
    ['affine (DCGAN)', { params: ['gamma', 'beta'] }],
    ['affine + relu (DCGAN G)', { activation: 'relu', params: ['gamma', 'beta'] }],
    ['affine + leaky 0.2 (DCGAN D)', { activation: 'leakyRelu', leakyreluAlpha: 0.2, params: ['gamma', 'beta'] }],
    ['no affine, eps 1e-2', { eps: 1e-2, params: [] }],
    ['gamma only + relu, eps 1e-3', { eps: 1e-3, activation: 'relu', params: ['gamma'] }],
  ];

  it.each(options)('matches the composed ops, values and gradients (x, gamma, beta): %s', (_, o) => {
    for (const shape of shapes) {
      const { params, ...opts } = o;
      compareFusedWithComposed(shape, params, (x, p) => batchNorm(x, { ...opts, ...p }), (x, p) => batchNormComposed(x, { ...opts, ...p }));
    }
  });

  it('has the finite-difference gradient with gamma and beta, and with a ReLU', () => {
    for (const shape of [[3, 2, 3, 8], [2, 3, 2, 3]]) {
      finiteDifferenceCheck(shape, ['gamma', 'beta'], (x, p) => batchNorm(x, p));
      finiteDifferenceCheck(shape, [], (x) => batchNorm(x, { activation: 'relu' }));
    }
  });

  it('hands the batch mean and biased variance to onStats, as tf.moments gives them', () => {
    for (const shape of [[4, 3, 5, 8], [3, 2, 5, 6]]) {
      const x = tf.randomNormal(shape, 2, 3, 'float32', 8);
      const seen: number[][] = [];
      tf.tidy(() => {
        batchNorm(x, { onStats: (mean, variance) => seen.push(Array.from(mean.dataSync()), Array.from(variance.dataSync())) });
      });
      const { mean, variance } = tf.moments(x, [0, 1, 2]);
      expect(seen.length).toBe(2);
      seen[0].forEach((v, i) => expect(v).toBeCloseTo(mean.dataSync()[i], 5));
      seen[1].forEach((v, i) => expect(v).toBeCloseTo(variance.dataSync()[i], 4));
      tf.dispose([x, mean, variance]);
    }
  });

  it('computes the variance from shifted sums: exact for a large mean with a small spread', () => {
    // 1000 + U(-0.01, 0.01): E[x^2] - E[x]^2 in float32 would lose every digit.
    for (const C of [8, 6]) {
      const x = tf.add(tf.randomUniform([4, 8, 8, C], -0.01, 0.01, 'float32', 22), 1000);
      const values = x.dataSync();
      let got: Float32Array | undefined;
      tf.tidy(() => {
        batchNorm(x, { onStats: (_, variance) => (got = variance.dataSync() as Float32Array) });
      });
      for (let c = 0; c < C; c++) {
        const col = Array.from({ length: values.length / C }, (_, r) => values[r * C + c]);
        const mean = col.reduce((a, b) => a + b, 0) / col.length;
        const variance = col.reduce((a, b) => a + (b - mean) ** 2, 0) / col.length;
        expect(Math.abs((got as Float32Array)[c] - variance)).toBeLessThan(1e-4 * variance);
      }
      x.dispose();
    }
  });

  it('leaks no tensors, forward or backward', () => {
    const x = tf.randomNormal([4, 3, 3, 8]);
    const gamma = tf.ones([8]) as tf.Tensor1D;
    const before = tf.memory().numTensors;
    tf.tidy(() => {
      tf.grads((a: tf.Tensor, g: tf.Tensor) => batchNorm(a, { gamma: g as tf.Tensor1D, activation: 'relu', onStats: () => undefined }).sum())([x, gamma]);
    });
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, gamma]);
  });
});

describe('batchNorm on wasm', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  it('keeps one activation-sized tensor for the backward pass and copies none (the composed ops: several)', async () => {
    const shape = [16, 16, 16, 32];
    const size = 4 * shape.reduce((a, b) => a * b, 1);
    const fused = await tapeBytes(shape, shape, (x, g) => batchNorm(x, { gamma: g, beta: g, activation: 'leakyRelu' }));
    const composed = await tapeBytes(shape, shape, (x, g) => tf.leakyRelu(batchNormComposed(x, { gamma: g, beta: g }), 0.2));
    // y, dx and the backward's handle on x (counted again by tf.memory, which counts per tensor).
    expect(fused.extraPeak).toBeLessThanOrEqual(3 * size + 64 * 1024);
    expect(fused.kernels).not.toContain('Identity');
    expect(composed.extraPeak).toBeGreaterThan(5 * size);
  });
});
