import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import type { AdamConstants } from '@gan-study/native';
import { adamStepWasm } from './wasm-adam';

const K: AdamConstants = { beta1: 0.9, beta2: 0.999, eps: 1e-8, lr: 0.1, c1: 0.1, c2: 0.001 };

/** One element by the op sequence of common/adam.ts, with float32 rounding after each op. */
function reference(p: number, m: number, v: number, g: number): [number, number, number] {
  const f = Math.fround;
  const m1 = f(f(m * f(K.beta1)) + f(g * f(1 - K.beta1)));
  const v1 = f(f(v * f(K.beta2)) + f(f(g * g) * f(1 - K.beta2)));
  const step = f(f(f(m1 / f(K.c1)) / f(f(Math.sqrt(f(v1 / f(K.c2)))) + f(K.eps))) * f(K.lr));
  return [f(p - step), m1, v1];
}

describe('adamStepWasm', () => {
  beforeAll(async () => {
    await tf.setBackend('wasm');
  });

  it('computes each element as the ops round it, for 100,003 elements of mixed magnitudes, and leaves its inputs as they were', () => {
    const n = 100_003; // n % 4 = 3: the scalar loop takes the last three
    let x = 7;
    const u = () => {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      return (x >>> 0) / 4294967296;
    };
    const mixed = (lo: number, hi: number) => Float32Array.from({ length: n }, () => (u() < 0.5 ? -1 : 1) * Math.pow(10, lo + (hi - lo) * u()));
    const host = { p: mixed(-3, 0), m: mixed(-12, -1), v: Float32Array.from(mixed(-40, -2), Math.abs), g: mixed(-22, 2) };
    const [p, m, v, g] = [host.p, host.m, host.v, host.g].map((a) => tf.tensor(a));
    const out = adamStepWasm('w', p, m, v, g, K);
    expect([p, m, v, g].map((t) => t.dataSync())).toEqual([host.p, host.m, host.v, host.g]);
    const [P, M, V] = [out.p, out.m, out.v].map((t) => t.dataSync());
    let wrong = 0;
    for (let i = 0; i < n; i++) {
      const [pe, me, ve] = reference(host.p[i], host.m[i], host.v[i], host.g[i]);
      if (!Object.is(P[i], pe) || !Object.is(M[i], me) || !Object.is(V[i], ve)) wrong++;
    }
    expect(wrong).toBe(0);
    tf.dispose([p, m, v, g, out.p, out.m, out.v]);
  });

  it('with a second gradient, updates with g + g2 as tf.add then the update gives it, bit for bit', () => {
    const n = 50_001;
    let x = 11;
    const u = () => {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      return (x >>> 0) / 4294967296;
    };
    const mixed = (lo: number, hi: number) => Float32Array.from({ length: n }, () => (u() < 0.5 ? -1 : 1) * Math.pow(10, lo + (hi - lo) * u()));
    const [p, m, v, g, g2] = [mixed(-3, 0), mixed(-12, -1), Float32Array.from(mixed(-40, -2), Math.abs), mixed(-22, 2), mixed(-22, 2)].map((a) => tf.tensor(a));
    const sum = tf.add(g, g2);
    const fused = adamStepWasm('w', p, m, v, g, K, g2);
    const twoSteps = adamStepWasm('w', p, m, v, sum, K);
    for (const k of ['p', 'm', 'v'] as const) expect(Buffer.from(fused[k].dataSync().buffer).equals(Buffer.from(twoSteps[k].dataSync().buffer))).toBe(true);
    // ...and not the update of g alone.
    const alone = adamStepWasm('w', p, m, v, g, K);
    expect(Buffer.from(alone.p.dataSync().buffer).equals(Buffer.from(fused.p.dataSync().buffer))).toBe(false);
    expect(() => adamStepWasm('w', p, m, v, g, K, tf.zeros([3]))).toThrow("Adam on wasm: second gradient of 'w' has shape [3], the parameter [50001]");
    tf.dispose([p, m, v, g, g2, sum, fused.p, fused.m, fused.v, twoSteps.p, twoSteps.m, twoSteps.v, alone.p, alone.m, alone.v]);
  });

  it('reads an input that still lives on the cpu backend (moved to the heap first)', async () => {
    await tf.setBackend('cpu');
    const gCpu = tf.tensor([0.25, -0.5, 1, 2, -4, 8, 0.125], [7]);
    await tf.setBackend('wasm');
    const gWasm = tf.tensor([0.25, -0.5, 1, 2, -4, 8, 0.125], [7]);
    const [p, m, v] = [tf.fill([7], 0.5), tf.fill([7], 0.01), tf.fill([7], 0.001)];
    const a = adamStepWasm('w', p, m, v, gCpu, K);
    const b = adamStepWasm('w', p, m, v, gWasm, K);
    for (const k of ['p', 'm', 'v'] as const) expect(Array.from(a[k].dataSync())).toEqual(Array.from(b[k].dataSync()));
    tf.dispose([gCpu, gWasm, p, m, v, a.p, a.m, a.v, b.p, b.m, b.v]);
  });

  it('rejects a gradient of another dtype or shape, naming the parameter', () => {
    const p = tf.zeros([2, 3]);
    const ok = tf.zeros([2, 3]);
    const int = tf.zeros([2, 3], 'int32');
    const flat = tf.zeros([6]);
    expect(() => adamStepWasm('fc1.w', p, ok, ok, int, K)).toThrow("Adam on wasm: gradient of 'fc1.w' must be float32, got int32");
    expect(() => adamStepWasm('fc1.w', p, ok, ok, flat, K)).toThrow("Adam on wasm: gradient of 'fc1.w' has shape [6], the parameter [2, 3]");
    tf.dispose([p, ok, int, flat]);
  });

  it('refuses to run off the wasm backend', async () => {
    await tf.setBackend('cpu');
    const t = tf.zeros([2]);
    try {
      expect(() => adamStepWasm('b', t, t, t, t, K)).toThrow(/wasm backend is not active/);
    } finally {
      t.dispose();
      await tf.setBackend('wasm');
    }
  });
});
