import * as tf from '@tensorflow/tfjs';
import { Rng } from '@gan-study/core';
import { Adam } from './adam';
import { decodeCheckpoint, encodeCheckpoint } from './checkpoint';
import { initBackend } from '../engine';
import { DeviceImages } from './device-images';
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

describe('DeviceImages', () => {
  // Three 2x2 RGB images; image k holds k*100 + its element index.
  const host = Float32Array.from({ length: 3 * 12 }, (_, i) => Math.floor(i / 12) * 100 + (i % 12));

  it('gathers a batch by index on the device, in index order and with repeats, equal to the host copy', async () => {
    const set = new DeviceImages(host, 3, [2, 2, 3], 'test set');
    const before = tf.memory().numTensors;
    const batch = set.gather([2, 0, 2]);
    expect(batch.shape).toEqual([3, 2, 2, 3]);
    expect(Array.from(await batch.data())).toEqual([...host.subarray(24, 36), ...host.subarray(0, 12), ...host.subarray(24, 36)]);
    batch.dispose();
    expect(tf.memory().numTensors).toBe(before);
    expect(set.bytes).toBe(3 * 12 * 4);
    set.dispose();
    expect(tf.memory().numTensors).toBe(before - 1);
    expect(() => set.gather([0])).toThrow('test set: images were disposed');
  });

  it('survives an enclosing tidy, and derives a downscaled copy on the device', async () => {
    let set: DeviceImages | undefined;
    let small: DeviceImages | undefined;
    tf.tidy(() => {
      set = new DeviceImages(host, 3, [2, 2, 3], 'test set');
      small = set.map((x) => tf.mean(tf.reshape(x, [3, 1, 2, 1, 2, 3]), [2, 4]) as tf.Tensor4D, 'test set at 1x1');
    });
    expect(set!.tensor.isDisposed).toBe(false);
    expect(small!.tensor.shape).toEqual([3, 1, 1, 3]);
    // Image 1 at 1x1: the mean of its four pixels, per channel: 100 + (0+3+6+9)/4 + c.
    const one = small!.gather([1]);
    expect(Array.from(await one.data())).toEqual([104.5, 105.5, 106.5]);
    one.dispose();
    set!.dispose();
    small!.dispose();
  });

  it('rejects indices outside the set and images of the wrong size, naming the set', () => {
    const set = new DeviceImages(host, 3, [2, 2, 3], 'test set');
    expect(() => set.gather([0, 3])).toThrow('test set: batch index #1 is 3, outside [0, 3)');
    expect(() => set.gather([1.5])).toThrow('test set: batch index #0 is 1.5, outside [0, 3)');
    expect(() => set.gather([])).toThrow('test set: a batch needs at least one index');
    set.dispose();
    expect(() => new DeviceImages(host, 4, [2, 2, 3], 'other set')).toThrow('other set: expected 4 images of 2x2x3 = 48 values, got 36');
    expect(() => new DeviceImages(host, 0, [2, 2, 3], 'other set')).toThrow('other set: need at least one image, got count 0');
  });
});

describe('DeviceImages on wasm (batches copied on the heap)', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  it('gathers the same images as on cpu, and a tidy frees the batch', async () => {
    const per = 4 * 4 * 3;
    const host = Float32Array.from({ length: 7 * per }, (_, i) => Math.sin(i) * 0.9);
    const set = new DeviceImages(host, 7, [4, 4, 3], 'wasm set');
    const idx = [6, 0, 3, 3, 5];
    const before = tf.memory().numTensors;
    const batch = set.gather(idx);
    expect(batch.shape).toEqual([5, 4, 4, 3]);
    const expected = new Float32Array(idx.length * per);
    idx.forEach((k, j) => expected.set(host.subarray(k * per, (k + 1) * per), j * per));
    expect(Array.from(await batch.data())).toEqual(Array.from(expected));
    // Usable in ops like any tensor, and owned by an enclosing tidy.
    expect(tf.tidy(() => tf.sum(set.gather([1, 2])).dataSync()[0])).toBeCloseTo(host.subarray(per, 3 * per).reduce((a, b) => a + b, 0), 4);
    batch.dispose();
    expect(tf.memory().numTensors).toBe(before);
    set.dispose();
  });
});
