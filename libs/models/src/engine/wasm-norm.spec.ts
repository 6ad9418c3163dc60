/**
 * The heap kernels behind the fused layers, called directly: the SIMD loops against the JavaScript
 * loops against float64 arithmetic on the host. (layers/*.spec.ts check the layers built on them
 * against the composed tfjs ops and finite differences, on cpu and wasm.)
 */
import * as tf from '@tensorflow/tfjs';
import { initBackend } from './backend';
import { CHANNEL_NORM, REFLECTION_PAD, channelNormGradHeap, channelNormHeap, reflectionPadGradHeap, reflectionPadHeap, registerWasmNormKernels, runWasmNormKernel } from './wasm-norm';
import type { ChannelNormAttrs, ChannelParams } from './wasm-norm';
import { normSimd } from './wasm-norm-simd';

beforeAll(async () => {
  await initBackend('wasm');
});

/** Forward and backward in float64 on the host, straight from the definitions in wasm-norm.ts. */
function reference(x: Float32Array, dy: Float32Array, C: number, G: number, p: { bias?: Float32Array; gamma?: Float32Array; beta?: Float32Array }, a: ChannelNormAttrs) {
  const R = x.length / G / C;
  const y = new Float64Array(x.length);
  const dx = new Float64Array(x.length);
  const dgamma = new Float64Array(C);
  const dbeta = new Float64Array(C);
  for (let g = 0; g < G; g++) {
    for (let c = 0; c < C; c++) {
      const idx = Array.from({ length: R }, (_, r) => (g * R + r) * C + c);
      const xb = idx.map((i) => x[i] + (p.bias?.[c] ?? 0));
      const mean = xb.reduce((s, v) => s + v, 0) / R;
      const variance = xb.reduce((s, v) => s + (v - mean) ** 2, 0) / R;
      const rstd = 1 / Math.sqrt(variance + a.eps);
      const ga = p.gamma?.[c] ?? 1;
      const be = p.beta?.[c] ?? 0;
      const xh = xb.map((v) => (v - mean) * rstd);
      const gv = idx.map((i, r) => {
        const v = xh[r] * ga + be;
        y[i] = v > 0 ? v : a.slope * v;
        return v > 0 ? dy[i] : a.slope * dy[i];
      });
      const m1 = gv.reduce((s, v) => s + v, 0) / R;
      const m2 = gv.reduce((s, v, r) => s + v * xh[r], 0) / R;
      idx.forEach((i, r) => (dx[i] = ga * rstd * (gv[r] - m1 - xh[r] * m2)));
      dbeta[c] += m1 * R;
      dgamma[c] += m2 * R;
    }
  }
  return { y, dx, dgamma, dbeta };
}

const maxErr = (got: ArrayLike<number>, want: ArrayLike<number>) => Math.max(...Array.from(want, (w, i) => Math.abs(got[i] - w) / Math.max(1, Math.abs(w))));

describe('ChannelNorm heap kernels', () => {
  it('has the SIMD module on this backend', () => {
    expect(normSimd()).not.toBeNull();
  });

  // Rows per group: 3 (less than a block), 32 (one block), 77 (two blocks and a partial one).
  const cases: Array<[string, number[], number, Partial<Record<'bias' | 'gamma' | 'beta', true>>, number]> = [
    ['instance, bias, relu', [2, 3, 1, 8], 2, { bias: true }, 0],
    ['instance, affine, leaky 0.2', [3, 8, 4, 12], 3, { gamma: true, beta: true }, 0.2],
    ['batch, affine, linear', [7, 11, 1, 16], 1, { gamma: true, beta: true }, 1],
    ['batch, all three, leaky 0.01', [7, 11, 1, 4], 1, { bias: true, gamma: true, beta: true }, 0.01],
  ];

  it.each(cases)('SIMD and JavaScript loops give the float64 result: %s', (_, shape, groups, which, slope) => {
    const C = shape[3];
    tf.tidy(() => {
      const x = tf.randomNormal(shape, 0.5, 2, 'float32', 31);
      const dy = tf.randomNormal(shape, 0, 1, 'float32', 32);
      const p: ChannelParams = {
        bias: which.bias ? tf.randomNormal([C], 0, 1, 'float32', 33) : undefined,
        gamma: which.gamma ? tf.randomNormal([C], 1, 0.5, 'float32', 34) : undefined,
        beta: which.beta ? tf.randomNormal([C], 0, 0.5, 'float32', 35) : undefined,
      };
      const a: ChannelNormAttrs = { groups, eps: 1e-5, slope };
      const host = (t?: tf.Tensor) => (t ? (t.dataSync() as Float32Array) : undefined);
      const want = reference(host(x) as Float32Array, host(dy) as Float32Array, C, groups, { bias: host(p.bias), gamma: host(p.gamma), beta: host(p.beta) }, a);
      for (const simd of [true, false]) {
        const [y, mean, variance] = channelNormHeap(x, p, a, simd);
        expect(maxErr(y.dataSync(), want.y)).toBeLessThan(2e-6);
        const [dx, ...rest] = channelNormGradHeap(dy, x, false, mean, variance, p, a, simd);
        expect(maxErr(dx.dataSync(), want.dx)).toBeLessThan(1e-5);
        let k = 0;
        if (p.bias) expect(Math.max(...Array.from(rest[k++].dataSync(), Math.abs))).toBeLessThan(1e-4);
        if (p.gamma) expect(maxErr(rest[k++].dataSync(), want.dgamma)).toBeLessThan(1e-5);
        if (p.beta) expect(maxErr(rest[k++].dataSync(), want.dbeta)).toBeLessThan(1e-5);
        expect(rest.length).toBe(k);
      }
    });
  });

  it('reads xhat from y when there is neither activation nor gamma/beta, the same as from x', () => {
    for (const C of [8, 6]) {
      tf.tidy(() => {
        const x = tf.randomNormal([2, 5, 5, C], 1, 3, 'float32', 41);
        const dy = tf.randomNormal([2, 5, 5, C], 0, 1, 'float32', 42);
        const bias = tf.randomNormal([C], 0, 1, 'float32', 43);
        const a: ChannelNormAttrs = { groups: 2, eps: 1e-5, slope: 1 };
        const [y, mean, variance] = channelNormHeap(x, { bias }, a);
        const [fromY] = channelNormGradHeap(dy, y, true, mean, variance, { bias }, a);
        const [fromX] = channelNormGradHeap(dy, x, false, mean, variance, { bias }, a);
        expect(maxErr(fromY.dataSync(), fromX.dataSync())).toBeLessThan(1e-5);
        expect(() => channelNormGradHeap(dy, y, true, mean, variance, { bias }, { ...a, slope: 0 })).toThrow('xhat can be read from y only without activation, gamma and beta');
      });
    }
  });

  it('agrees with itself at v = 0: the forward gives slope * 0 = 0 and the backward the slope', () => {
    // A channel of two values, -1 and 1, normalized to -1 and 1 (eps 0 is not allowed; tiny eps),
    // then beta = 1 puts the first exactly at 0.
    tf.tidy(() => {
      const x = tf.tensor4d([-1, -1, -1, -1, 1, 1, 1, 1], [1, 1, 2, 4]);
      const beta = tf.tensor1d([1, 1, 1, 1]);
      const gamma = tf.tensor1d([1, 1, 1, 1]);
      for (const simd of [true, false]) {
        const a = { groups: 1, eps: 0, slope: 0.5 };
        const [y, mean, variance] = channelNormHeap(x, { gamma, beta }, a, simd);
        expect(Array.from(y.dataSync())).toEqual([0, 0, 0, 0, 2, 2, 2, 2]);
        const [, , dbeta] = channelNormGradHeap(tf.onesLike(x), x, false, mean, variance, { gamma, beta }, a, simd);
        // dbeta = sum of g: 0.5 from the value at 0 (not positive), 1 from the other.
        expect(Array.from(dbeta.dataSync())).toEqual([1.5, 1.5, 1.5, 1.5]);
      }
    });
  });

  it('rejects groups that do not split the input, and non-float32 inputs, naming the kernel', () => {
    registerWasmNormKernels();
    registerWasmNormKernels(); // idempotent
    const x = tf.zeros([2, 3, 4]);
    expect(() => channelNormHeap(x, {}, { groups: 5, eps: 1e-5, slope: 1 })).toThrow('ChannelNorm: 5 groups do not divide x [2, 3, 4] into whole rows of 4 channels');
    const ints = tf.zeros([2, 4], 'int32');
    expect(() => runWasmNormKernel(CHANNEL_NORM, { x: ints }, { groups: 1, eps: 1e-5, slope: 1 })).toThrow("ChannelNorm: input 'x' must be float32, got int32");
    expect(() => runWasmNormKernel(REFLECTION_PAD, { x: tf.zeros([1, 2, 2, 1]) }, { pad: 2 })).toThrow('ReflectionPad2D: pad 2 must be an integer in [1, min(H, W) - 1] for a 2x2 map');
    tf.dispose([x, ints]);
  });
});

describe('ReflectionPad2D heap kernels', () => {
  it('pads like torch and folds the gradient back, against a host loop', () => {
    const [N, H, W, C, pad] = [2, 4, 6, 3, 3];
    const reflect = (i: number, n: number) => {
      const k = i - pad;
      return k < 0 ? -k : k >= n ? 2 * (n - 1) - k : k;
    };
    tf.tidy(() => {
      const x = tf.randomNormal([N, H, W, C], 0, 1, 'float32', 51) as tf.Tensor4D;
      const xs = x.dataSync();
      const y = reflectionPadHeap(x, pad).dataSync();
      const dy = tf.randomNormal([N, H + 2 * pad, W + 2 * pad, C], 0, 1, 'float32', 52) as tf.Tensor4D;
      const dys = dy.dataSync();
      const want = new Float64Array(x.size);
      let k = 0;
      for (let n = 0; n < N; n++) {
        for (let i = 0; i < H + 2 * pad; i++) {
          for (let j = 0; j < W + 2 * pad; j++) {
            for (let c = 0; c < C; c++, k++) {
              const src = ((n * H + reflect(i, H)) * W + reflect(j, W)) * C + c;
              expect(y[k]).toBe(xs[src]);
              want[src] += dys[k];
            }
          }
        }
      }
      expect(maxErr(reflectionPadGradHeap(dy, pad).dataSync(), want)).toBeLessThan(1e-6);
    });
  });
});
