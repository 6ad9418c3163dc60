import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../engine';
import { instanceNorm, instanceNormComposed } from './instance-norm';
import type { InstanceNormOptions } from './instance-norm';
import { compareFusedWithComposed, finiteDifferenceCheck, tapeBytes } from './norm-testing';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** Per sample and channel: (x - mean) / sqrt(biased var + eps), in float64. */
function reference(x: number[][][][], eps: number): number[][][][] {
  const out = x.map((s) => s.map((r) => r.map((c) => c.slice())));
  const [h, w, ch] = [x[0].length, x[0][0].length, x[0][0][0].length];
  for (let b = 0; b < x.length; b++) {
    for (let c = 0; c < ch; c++) {
      let mean = 0;
      for (let i = 0; i < h; i++) for (let j = 0; j < w; j++) mean += x[b][i][j][c] / (h * w);
      let v = 0;
      for (let i = 0; i < h; i++) for (let j = 0; j < w; j++) v += (x[b][i][j][c] - mean) ** 2 / (h * w);
      for (let i = 0; i < h; i++) for (let j = 0; j < w; j++) out[b][i][j][c] = (x[b][i][j][c] - mean) / Math.sqrt(v + eps);
    }
  }
  return out;
}

describe('instanceNorm', () => {
  it('normalizes each sample and channel over H, W with the biased variance and eps 1e-5', () => {
    // A hand case: one sample, one channel [0 2; 4 6]: mean 3, biased var 5.
    const y = instanceNorm(tf.tensor4d([0, 2, 4, 6], [1, 2, 2, 1]));
    const s = Math.sqrt(5 + 1e-5);
    Array.from(y.dataSync()).forEach((v, i) => expect(v).toBeCloseTo([-3 / s, -1 / s, 1 / s, 3 / s][i], 6));

    // Random: two samples with different statistics per channel, so a batch-wide norm would differ.
    const x = tf.tidy(() => tf.randomNormal([2, 3, 4, 3], 0, 1, 'float32', 5).mul(tf.tensor1d([1, 3, 0.1])).add(tf.tensor4d([0, 5], [2, 1, 1, 1]))) as tf.Tensor4D;
    const got = instanceNorm(x).arraySync();
    const want = reference(x.arraySync(), 1e-5);
    got.forEach((s1, b) => s1.forEach((r, i) => r.forEach((c, j) => c.forEach((v, k) => expect(v).toBeCloseTo(want[b][i][j][k], 4)))));
    // A constant channel maps to zeros (eps keeps it finite).
    const flat = instanceNorm(tf.fill([1, 2, 2, 1], 7) as tf.Tensor4D);
    expect(Array.from(flat.dataSync())).toEqual([0, 0, 0, 0]);
    tf.dispose([y, x, flat]);
  });

  it('has the analytic and finite-difference gradient', () => {
    const x = tf.randomNormal([2, 3, 3, 2], 0, 1, 'float32', 11) as tf.Tensor4D;
    const w = tf.randomNormal([2, 3, 3, 2], 0, 1, 'float32', 12);
    const loss = (t: tf.Tensor) => instanceNorm(t as tf.Tensor4D).mul(w).sum();
    const got = Array.from(tf.grad(loss)(x).dataSync());
    // Closed form per (sample, channel) group of n values: dx = (dy - mean(dy) - y mean(dy y)) / sqrt(var + eps).
    const xs = x.arraySync();
    const ws = w.arraySync() as number[][][][];
    const ys = reference(xs, 1e-5);
    const analytic: number[] = [];
    for (let b = 0; b < 2; b++) {
      for (let i = 0; i < 3; i++) {
        for (let j = 0; j < 3; j++) {
          for (let c = 0; c < 2; c++) {
            const vals: number[] = [], dys: number[] = [], yv: number[] = [];
            for (let a = 0; a < 3; a++) for (let d = 0; d < 3; d++) {
              vals.push(xs[b][a][d][c]);
              dys.push(ws[b][a][d][c]);
              yv.push(ys[b][a][d][c]);
            }
            const mean = vals.reduce((p, q) => p + q, 0) / 9;
            const variance = vals.reduce((p, q) => p + (q - mean) ** 2, 0) / 9;
            const mdy = dys.reduce((p, q) => p + q, 0) / 9;
            const mdyy = dys.reduce((p, q, k) => p + q * yv[k], 0) / 9;
            analytic.push((ws[b][i][j][c] - mdy - ys[b][i][j][c] * mdyy) / Math.sqrt(variance + 1e-5));
          }
        }
      }
    }
    got.forEach((g, i) => expect(g).toBeCloseTo(analytic[i], 3));
    // Central differences on a few entries.
    const flat = Float64Array.from(x.dataSync());
    const at = (v: Float64Array) => tf.tidy(() => loss(tf.tensor4d(Float32Array.from(v), x.shape)).dataSync()[0]);
    for (const i of [0, 7, 20, 35]) {
      const up = Float64Array.from(flat);
      const down = Float64Array.from(flat);
      up[i] += 1e-2;
      down[i] -= 1e-2;
      expect(Math.abs((at(up) - at(down)) / 2e-2 - got[i])).toBeLessThan(5e-3);
    }
    tf.dispose([x, w]);
  });

  it('applies an affine scale and shift, and rejects ones of the wrong shape', () => {
    const x = tf.tensor4d([0, 1, 2, 3, 4, 5, 6, 7], [1, 2, 2, 2]);
    const gamma = tf.tensor1d([2, 3]);
    const beta = tf.tensor1d([1, -1]);
    const plain = instanceNorm(x).dataSync();
    const affine = instanceNorm(x, { gamma, beta }).dataSync();
    Array.from(affine).forEach((v, i) => expect(v).toBeCloseTo(plain[i] * [2, 3][i % 2] + [1, -1][i % 2], 5));
    expect(() => instanceNorm(x, { gamma: tf.tensor1d([1, 2, 3]) })).toThrow('instance norm gamma must have shape [2], got [3]');
    tf.dispose([x, gamma, beta]);
  });
});

describe.each(['cpu', 'wasm'] as const)('instanceNorm (fused op) on %s', (backend) => {
  beforeAll(async () => {
    await initBackend(backend);
  });

  // Shapes: 8 channels (wasm: the SIMD loops), 6 channels (wasm: the JavaScript loops), 33 x 3 = 99
  // rows per instance (three row blocks and a partial one), and a single row of 12 channels.
  const shapes: Array<[number, number, number, number]> = [
    [2, 3, 5, 8],
    [3, 5, 7, 6],
    [2, 33, 3, 8],
    [1, 1, 9, 12],
  ];
  const options: Array<[string, Omit<InstanceNormOptions, 'gamma' | 'beta' | 'bias'> & { params: Array<'gamma' | 'beta' | 'bias'> }]> = [
    ['plain', { params: [] }],
    ['eps 0.5', { eps: 0.5, params: [] }],
    ['conv bias', { params: ['bias'] }],
    ['affine', { params: ['gamma', 'beta'] }],
    ['gamma only + relu', { activation: 'relu', params: ['gamma'] }],
    ['beta only + leaky 0.1', { activation: 'leakyRelu', leakyreluAlpha: 0.1, params: ['beta'] }],
    ['bias + affine + relu, eps 1e-3', { eps: 1e-3, activation: 'relu', params: ['bias', 'gamma', 'beta'] }],
    ['bias + leaky 0.2', { activation: 'leakyRelu', params: ['bias'] }],
  ];

  it.each(options)('matches the composed ops, values and gradients (x, bias, gamma, beta): %s', (_, o) => {
    for (const shape of shapes) {
      const { params, ...opts } = o;
      compareFusedWithComposed(shape, params, (x, p) => instanceNorm(x as tf.Tensor4D, { ...opts, ...p }), (x, p) => instanceNormComposed(x as tf.Tensor4D, { ...opts, ...p }));
    }
  });

  it('has the finite-difference gradient with a bias, gamma and beta, and with a leaky ReLU', () => {
    for (const shape of [[2, 4, 3, 8], [2, 3, 4, 5]] as const) {
      finiteDifferenceCheck([...shape], ['bias', 'gamma', 'beta'], (x, p) => instanceNorm(x as tf.Tensor4D, p));
      // With the activation only x is moved: a step in gamma or beta moves a whole channel and would
      // carry some values across the kink.
      finiteDifferenceCheck([...shape], [], (x) => instanceNorm(x as tf.Tensor4D, { activation: 'leakyRelu', leakyreluAlpha: 0.3 }));
    }
  });

  it('maps a constant channel to zeros, not NaN, and a large mean as well as float32 can', () => {
    const flat = instanceNorm(tf.fill([1, 3, 3, 4], 7) as tf.Tensor4D);
    expect(Array.from(flat.dataSync())).toEqual(new Array(36).fill(0));
    // 1000 + a spread of 1e-2: the mean rounded to float32 (half an ulp of 1000 is 3e-5) bounds the
    // error of x - mean; the variance comes from shifted sums and loses nothing (batch-norm.spec.ts).
    const base = tf.randomUniform([2, 16, 16, 8], -0.01, 0.01, 'float32', 21);
    const x = tf.add(base, 1000) as tf.Tensor4D;
    const got = instanceNorm(x).arraySync();
    const want = reference(x.arraySync(), 1e-5);
    let err = 0;
    got.forEach((s1, b) => s1.forEach((r, i) => r.forEach((c, j) => c.forEach((v, k) => (err = Math.max(err, Math.abs(v - want[b][i][j][k])))))));
    const halfUlp = 2 ** -14;
    expect(err).toBeLessThan(halfUlp / (0.02 / Math.sqrt(12)) + 1e-4);
    tf.dispose([base, x, flat]);
  });

  it('rejects bad options by name', () => {
    const x = tf.zeros([1, 2, 2, 3]) as tf.Tensor4D;
    expect(() => instanceNorm(x, { eps: 0 })).toThrow('instance norm eps must be positive, got 0');
    expect(() => instanceNorm(x, { bias: tf.zeros([2]) as tf.Tensor1D })).toThrow('instance norm bias must have shape [3], got [2]');
    expect(() => instanceNorm(x, { activation: 'gelu' as never })).toThrow(`instance norm activation must be 'linear', 'relu' or 'leakyRelu', got "gelu"`);
    expect(() => instanceNorm(tf.zeros([2, 3]) as unknown as tf.Tensor4D)).toThrow('instance norm needs x [batch, H, W, C], got [2, 3]');
    x.dispose();
  });
});

describe('instanceNorm on wasm', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  it('keeps one activation-sized tensor for the backward pass and copies none (the composed ops: several)', async () => {
    const shape = [4, 32, 32, 32];
    const size = 4 * shape.reduce((a, b) => a * b, 1);
    const fused = await tapeBytes(shape, shape, (x, b) => instanceNorm(x as tf.Tensor4D, { bias: b, activation: 'relu' }));
    const composed = await tapeBytes(shape, shape, (x, b) => tf.relu(instanceNormComposed(tf.add(x, b) as tf.Tensor4D)));
    // y, dx and the backward's handle on x (tf.memory counts bytes per tensor, so a handle sharing x's
    // buffer counts again), plus per-channel vectors; no copies (Identity) of anything.
    expect(fused.extraPeak).toBeLessThanOrEqual(3 * size + 64 * 1024);
    expect(fused.kernels).not.toContain('Identity');
    expect(composed.extraPeak).toBeGreaterThan(6 * size);
  });
});
