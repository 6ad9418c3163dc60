import * as tf from '@tensorflow/tfjs';
import { Rng } from '@gan-study/core';
import { pixelNorm } from './pixel-norm';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('pixelNorm', () => {
  it('gives every pixel unit mean square over channels and keeps directions', async () => {
    const values = new Rng(5).fillNormal(new Float32Array(2 * 3 * 3 * 8), 0.7, 3);
    const x = tf.tensor4d(values, [2, 3, 3, 8]);
    const y = (await pixelNorm(x).data()) as Float32Array;
    for (let p = 0; p < 2 * 3 * 3; p++) {
      let ms = 0;
      for (let c = 0; c < 8; c++) ms += y[p * 8 + c] ** 2 / 8;
      expect(ms).toBeCloseTo(1, 5);
      // Same direction: y / x is one positive constant over the pixel's channels.
      const ratio = y[p * 8] / values[p * 8];
      for (let c = 1; c < 8; c++) expect(y[p * 8 + c] / values[p * 8 + c]).toBeCloseTo(ratio, 4);
      expect(ratio).toBeGreaterThan(0);
    }
    x.dispose();
  });

  it('normalises a latent vector [batch, features] and leaves zeros at zero', async () => {
    const z = tf.tensor2d([3, 4, 0, 0], [2, 2]);
    const y = Array.from(await pixelNorm(z).data());
    const k = 1 / Math.sqrt((9 + 16) / 2);
    expect(y[0]).toBeCloseTo(3 * k, 5);
    expect(y[1]).toBeCloseTo(4 * k, 5);
    expect(y.slice(2)).toEqual([0, 0]);
    z.dispose();
  });
});
