/**
 * Test helpers for the fused layers' specs: a fused op against its composed reference (values and
 * every gradient), central differences, and what a forward + backward pass allocates.
 */
import * as tf from '@tensorflow/tfjs';

export type ParamName = 'bias' | 'gamma' | 'beta';
export type ParamMap = Partial<Record<ParamName, tf.Tensor1D>>;
export type Layer = (x: tf.Tensor, p: ParamMap) => tf.Tensor;

const maxAbs = (t: tf.Tensor): number => tf.tidy(() => tf.max(tf.abs(t)).dataSync()[0]);

/** Seeded inputs: x ~ N(0.3, 1.7^2), gamma ~ N(1, 0.5^2), bias and beta ~ N(0, 0.5^2), dy ~ N(0, 1). */
function inputs(shape: number[], params: ParamName[], seed: number) {
  const C = shape[shape.length - 1];
  const x = tf.randomNormal(shape, 0.3, 1.7, 'float32', seed);
  const ps = params.map((name, i) => tf.randomNormal([C], name === 'gamma' ? 1 : 0, 0.5, 'float32', seed + 1 + i) as tf.Tensor1D);
  const dy = tf.randomNormal(shape, 0, 1, 'float32', seed + 9);
  return { x, ps, dy };
}

const asMap = (params: ParamName[], ps: tf.Tensor[]): ParamMap => Object.fromEntries(params.map((n, i) => [n, ps[i] as tf.Tensor1D]));

/**
 * Fused and composed agree: y to 1e-5 of its scale, dx, dgamma, dbeta to 1e-5 of each one's
 * largest value. A bias before a norm has a zero gradient; both must give rounding noise only.
 */
export function compareFusedWithComposed(shape: number[], params: ParamName[], fused: Layer, composed: Layer, seed = 3): void {
  tf.tidy(() => {
    const { x, ps, dy } = inputs(shape, params, seed);
    const what = `[${shape.join(', ')}] with ${params.join(', ') || 'no parameters'}`;
    const yF = fused(x, asMap(params, ps));
    const yC = composed(x, asMap(params, ps));
    expect(yF.shape).toEqual(yC.shape);
    const yErr = maxAbs(tf.sub(yF, yC));
    if (!(yErr <= 1e-5 * Math.max(1, maxAbs(yC)))) throw new Error(`${what}: y differs by ${yErr}`);
    const grads = (layer: Layer) => tf.grads((xx: tf.Tensor, ...pp: tf.Tensor[]) => layer(xx, asMap(params, pp)))([x, ...ps], dy);
    const gF = grads(fused);
    const gC = grads(composed);
    const dxScale = Math.max(1, maxAbs(gC[0]));
    ['x', ...params].forEach((name, i) => {
      if (name === 'bias') {
        for (const [which, g] of [['fused', gF[i]], ['composed', gC[i]]] as const) {
          const noise = maxAbs(g);
          if (!(noise <= 1e-4 * dxScale)) throw new Error(`${what}: the ${which} bias gradient ${noise} is more than rounding noise`);
        }
        return;
      }
      const err = maxAbs(tf.sub(gF[i], gC[i]));
      const tol = 1e-5 * Math.max(1, maxAbs(gC[i]));
      if (!(err <= tol)) throw new Error(`${what}: d${name} differs by ${err} (tolerance ${tol})`);
    });
  });
}

/** Central differences (h = 1e-2) of sum(layer(x, p) * w) at a few entries of x and of each parameter. */
export function finiteDifferenceCheck(shape: number[], params: ParamName[], layer: Layer, seed = 5): void {
  tf.tidy(() => {
    const { x, ps, dy: w } = inputs(shape, params, seed);
    const loss = (xx: tf.Tensor, ...pp: tf.Tensor[]) => tf.sum(tf.mul(layer(xx, asMap(params, pp)), w));
    const analytic = tf.grads(loss)([x, ...ps]).map((g) => g.dataSync());
    const values = [x, ...ps].map((t) => Float64Array.from(t.dataSync()));
    const at = (k: number, v: Float64Array) =>
      tf.tidy(() => {
        const args = [x, ...ps].map((t, j) => (j === k ? tf.tensor(Float32Array.from(v), t.shape) : t));
        return loss(args[0], ...args.slice(1)).dataSync()[0];
      });
    const h = 1e-2;
    values.forEach((v, k) => {
      const picks = k === 0 ? [0, 7, Math.floor(v.length / 2), v.length - 1] : [0, v.length - 1];
      for (const i of picks) {
        const up = Float64Array.from(v);
        const down = Float64Array.from(v);
        up[i] += h;
        down[i] -= h;
        const numeric = (at(k, up) - at(k, down)) / (2 * h);
        const name = k === 0 ? 'x' : params[k - 1];
        if (!(Math.abs(numeric - analytic[k][i]) <= 1e-2 * Math.max(1, Math.abs(numeric)))) {
          throw new Error(`[${shape.join(', ')}] d${name}[${i}]: analytic ${analytic[k][i]}, central difference ${numeric}`);
        }
      }
    });
  });
}

/**
 * Bytes a forward + backward pass of `layer(x, v)` allocates above what existed before, at its peak,
 * and the kernels it ran (tf.profile); v is a per-channel vector, dy has the shape `outShape`.
 */
export async function tapeBytes(shape: number[], outShape: number[], layer: (x: tf.Tensor, v: tf.Tensor1D) => tf.Tensor): Promise<{ extraPeak: number; kernels: string[] }> {
  const x = tf.randomNormal(shape, 0, 1, 'float32', 1);
  const v = tf.randomNormal([shape[shape.length - 1]], 0, 1, 'float32', 2) as tf.Tensor1D;
  const dy = tf.randomNormal(outShape, 0, 1, 'float32', 3);
  const start = tf.memory().numBytes;
  const info = await tf.profile(() => {
    tf.dispose(tf.grad((xx: tf.Tensor) => layer(xx, v))(x, dy));
  });
  tf.dispose([x, v, dy]);
  return { extraPeak: info.peakBytes - start, kernels: info.kernels.map((k) => k.name) };
}
