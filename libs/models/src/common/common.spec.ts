import * as tf from '@tensorflow/tfjs';
import { Rng } from '@gan-study/core';
import { Adam } from './adam';
import { decodeCheckpoint, encodeCheckpoint } from './checkpoint';
import { ParamStore } from './params';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('ParamStore', () => {
  it('draws the same weights for the same seed and counts trainable parameters only', async () => {
    const make = (seed: number) => {
      const p = new ParamStore(new Rng(seed));
      p.add('w', [3, 4], { kind: 'normal', mean: 0, std: 0.02 });
      p.add('b', [4], { kind: 'zeros' });
      p.addBuffer('runningMean', [4], { kind: 'zeros' });
      return p;
    };
    const a = make(1), b = make(1), c = make(2);
    expect(Array.from(await a.get('w').data())).toEqual(Array.from(await b.get('w').data()));
    expect(Array.from(await a.get('w').data())).not.toEqual(Array.from(await c.get('w').data()));
    expect(a.count()).toBe(16);
    expect(() => a.add('w', [1], { kind: 'zeros' })).toThrow("parameter 'w' is defined twice");
    for (const p of [a, b, c]) p.dispose();
  });
});

describe('Adam', () => {
  it('matches the closed form of two steps of torch.optim.Adam', async () => {
    const p = tf.variable(tf.tensor1d([1, -2]));
    const opt = new Adam({ p }, { lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8 });
    const g1 = tf.tensor1d([0.5, -1]);
    const g2 = tf.tensor1d([0.25, 2]);
    opt.apply({ p: g1 });
    opt.apply({ p: g2 });
    // Hand computation of the two steps per element.
    const expected = [1, -2].map((x0, i) => {
      const gs = [[0.5, -1][i], [0.25, 2][i]];
      let m = 0, v = 0, x = x0;
      gs.forEach((g, t) => {
        m = 0.9 * m + 0.1 * g;
        v = 0.999 * v + 0.001 * g * g;
        x -= (0.1 * (m / (1 - 0.9 ** (t + 1)))) / (Math.sqrt(v / (1 - 0.999 ** (t + 1))) + 1e-8);
      });
      return x;
    });
    const got = Array.from(await p.data());
    got.forEach((x, i) => expect(x).toBeCloseTo(expected[i], 6));
    expect(opt.step).toBe(2);
    tf.dispose([p, g1, g2]);
    opt.dispose();
  });

  it('resumes from a snapshot exactly', async () => {
    const run = async (stopAfter: number | null) => {
      const p = tf.variable(tf.tensor1d([1, 2, 3]));
      let opt = new Adam({ p }, { lr: 0.01, beta1: 0.5, beta2: 0.99, eps: 1e-8 });
      for (let s = 0; s < 4; s++) {
        if (s === stopAfter) {
          const snap = await opt.snapshot('opt');
          const weights = await p.data();
          opt.dispose();
          p.assign(tf.tensor1d(weights as Float32Array));
          opt = new Adam({ p }, { lr: 0.01, beta1: 0.5, beta2: 0.99, eps: 1e-8 });
          opt.load('opt', snap.step, snap.arrays);
        }
        const g = tf.tidy(() => p.square());
        opt.apply({ p: g });
        g.dispose();
      }
      const out = Array.from(await p.data());
      p.dispose();
      opt.dispose();
      return out;
    };
    expect(await run(2)).toEqual(await run(null));
  });

  it('leaves exactly its two moments per parameter behind, and nothing after dispose', () => {
    const p = tf.variable(tf.zeros([3, 2]));
    const before = tf.memory().numTensors;
    const opt = new Adam({ p }, { lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8 });
    expect(tf.memory().numTensors).toBe(before + 2);
    opt.dispose();
    expect(tf.memory().numTensors).toBe(before);
    p.dispose();
  });

  it('rejects a bad configuration with the value', () => {
    expect(() => new Adam({}, { lr: -1, beta1: 0.5, beta2: 0.99, eps: 1e-8 })).toThrow('Adam lr must be positive, got -1');
  });
});

describe('checkpoint bytes', () => {
  it('round-trips arrays, meta and rng state, and rejects foreign bytes', () => {
    const data = new Float32Array([1.5, -2, 3.25, 0]);
    const bytes = encodeCheckpoint({
      model: 'dcgan', config: { size: 64 }, step: 7, meta: { alpha: 0.5 }, rng: { noise: new Rng(3).getState() },
      arrays: [{ name: 'g.w', shape: [2, 2], data }],
    });
    const c = decodeCheckpoint(bytes, 'dcgan');
    expect(c.step).toBe(7);
    expect(c.meta).toEqual({ alpha: 0.5 });
    expect(c.rng.noise).toEqual(new Rng(3).getState());
    expect(Array.from(c.arrays[0].data)).toEqual(Array.from(data));
    expect(() => decodeCheckpoint(bytes, 'pggan')).toThrow("checkpoint is for model 'dcgan', expected 'pggan'");
    expect(() => decodeCheckpoint(new Uint8Array([1, 2, 3]))).toThrow();
  });
});
