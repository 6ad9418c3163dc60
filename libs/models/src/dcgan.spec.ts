import * as tf from '@tensorflow/tfjs';
import { Rng } from '@gan-study/core';
import { ParamStore } from './common';
import { DCGAN_DEFAULTS, buildDiscriminator, createDcgan, describeDcgan, resolveDcganConfig, restoreDcgan } from './dcgan';
import { initBackend } from './engine';
import type { GanTrainingData } from './gan';

const TINY = { resolution: 16, latentDim: 8, ngf: 8, ndf: 8, batchSize: 8, steps: 100 };
/** Smaller still for the cpu backend, whose backward convolutions are plain JavaScript loops. */
const CPU_TINY = { ...TINY, ngf: 4, ndf: 4, batchSize: 4 };
const R = 16;
const PER = R * R * 3;
const COLOR = [0.6, -0.4, 0.2];

/** A constant-colour image set: the trivially learnable toy. */
function toyData(count: number): GanTrainingData {
  const target = new Float32Array(count * PER);
  for (let i = 0; i < target.length; i++) target[i] = COLOR[i % 3];
  return { target, targetCount: count };
}

/** Mean absolute distance of images to the toy colour. */
function distanceToToy(images: Float32Array): number {
  let e = 0;
  for (let i = 0; i < images.length; i++) e += Math.abs(images[i] - COLOR[i % 3]);
  return e / images.length;
}

describe('dcgan at the reference configuration', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  it('has exactly the trainable parameters of pytorch/examples dcgan (64x64x3, nz 100, ngf = ndf = 64)', () => {
    const [g, d] = describeDcgan({});
    expect(g.name).toBe('generator');
    expect(g.params).toBe(3_576_704);
    expect(d.name).toBe('discriminator');
    expect(d.params).toBe(2_765_568);
    expect(g.layers.map((l) => l.outputShape)).toEqual([
      [1, 4, 4, 512],
      [1, 8, 8, 256],
      [1, 16, 16, 128],
      [1, 32, 32, 64],
      [1, 64, 64, 3],
    ]);
    expect(d.layers.map((l) => l.outputShape)).toEqual([
      [1, 32, 32, 64],
      [1, 16, 16, 128],
      [1, 8, 8, 256],
      [1, 4, 4, 512],
      [1, 1, 1, 1],
    ]);
    expect(g.layers.reduce((s, l) => s + l.params, 0)).toBe(g.params);
    expect(d.layers.reduce((s, l) => s + l.params, 0)).toBe(d.params);
  }, 120_000);

  it('learns a constant-colour image set on wasm: generated images approach it', async () => {
    const gan = createDcgan({ ...TINY, lr: 2e-3 }, toyData(16), 1);
    const before = distanceToToy(await gan.generate(16));
    const losses: number[] = [];
    for (let s = 0; s < 60; s++) {
      const l = gan.trainStep();
      losses.push(l.d, l.g);
    }
    expect(losses.every(Number.isFinite)).toBe(true);
    const after = distanceToToy(await gan.generate(16));
    expect(before).toBeGreaterThan(0.3);
    expect(after).toBeLessThan(0.6 * before);
    expect(gan.step).toBe(60);
    gan.dispose();
  }, 120_000);
});

describe('dcgan on wasm', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  it('generates NHWC images in [-1, 1] in batches and summarises both networks', async () => {
    const gan = createDcgan(TINY, toyData(4), 2);
    expect(gan.kind).toBe('dcgan');
    expect(gan.resolution).toBe(16);
    expect(gan.totalSteps).toBe(100);
    const images = await gan.generate(11); // one full batch of 8 and a partial one
    expect(images.length).toBe(11 * PER);
    expect(images.every((v) => v >= -1 && v <= 1)).toBe(true);
    expect(new Set(Array.from(images.subarray(0, 50))).size).toBeGreaterThan(10);
    const [g, d] = gan.summary();
    expect(g.layers.map((l) => [l.name, l.outputShape])).toEqual([
      ['proj+bn+relu', [1, 4, 4, 16]],
      ['up1+bn+relu', [1, 8, 8, 8]],
      ['out+tanh', [1, 16, 16, 3]],
    ]);
    // G: 8*16*16 + bn 32, 4*4*16*8 + bn 16, 4*4*8*3; D: 4*4*3*8, 4*4*8*16 + bn 32, 4*4*16*1.
    expect(g.params).toBe(2048 + 32 + 2048 + 16 + 384);
    expect(d.params).toBe(384 + 2048 + 32 + 256);
    expect(await gan.generate(0)).toHaveLength(0);
    gan.dispose();
  });

  it('gives the same state for the same seed and a different one for another seed', async () => {
    const run = async (seed: number) => {
      const gan = createDcgan(TINY, toyData(4), seed);
      gan.trainStep();
      gan.trainStep();
      const bytes = await gan.checkpoint();
      const images = await gan.generate(4);
      gan.dispose();
      return { bytes, images };
    };
    const a = await run(11);
    const b = await run(11);
    const c = await run(12);
    expect(Buffer.from(a.bytes).equals(Buffer.from(b.bytes))).toBe(true);
    expect(Array.from(a.images)).toEqual(Array.from(b.images));
    expect(Array.from(a.images)).not.toEqual(Array.from(c.images));
  });

  it('samples with batch statistics like the reference, or with running statistics when asked', async () => {
    const batch = createDcgan(TINY, toyData(4), 13);
    const running = createDcgan({ ...TINY, sampleBatchNorm: 'running' }, toyData(4), 13);
    const a = await batch.generate(8);
    const b = await running.generate(8);
    // Same weights, same latents: only the normalization differs.
    let diff = 0;
    for (let i = 0; i < a.length; i++) diff = Math.max(diff, Math.abs(a[i] - b[i]));
    expect(diff).toBeGreaterThan(1e-3);
    batch.dispose();
    running.dispose();
  });

  it('rejects bad config and data with the value', () => {
    expect(() => resolveDcganConfig({ resolution: 48 })).toThrow('dcgan resolution must be a power of two >= 16, got 48');
    expect(() => resolveDcganConfig({ resolution: 8 })).toThrow('got 8');
    expect(() => resolveDcganConfig({ latentDim: 0 })).toThrow('dcgan latentDim must be a positive integer, got 0');
    expect(() => resolveDcganConfig({ beta1: 1 })).toThrow('dcgan beta1 must be in [0, 1), got 1');
    expect(() => resolveDcganConfig({ sampleBatchNorm: 'eval' })).toThrow(`dcgan sampleBatchNorm must be 'batch' or 'running', got "eval"`);
    expect(() => resolveDcganConfig({ latent: 100 })).toThrow("unknown dcgan config key 'latent'");
    expect(resolveDcganConfig({})).toEqual(DCGAN_DEFAULTS);
    expect(() => createDcgan(TINY, { target: new Float32Array(10), targetCount: 1 }, 1)).toThrow('got 10');
    expect(() => createDcgan(TINY, { target: new Float32Array(0), targetCount: 0 }, 1)).toThrow('targetCount=0');
  });
});

describe('dcgan on cpu', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('takes finite steps without leaking tensors', () => {
    const gan = createDcgan(CPU_TINY, toyData(5), 3);
    const first = gan.trainStep();
    for (const v of Object.values(first)) expect(Number.isFinite(v)).toBe(true);
    expect(first.dReal).toBeGreaterThan(0);
    expect(first.dReal).toBeLessThan(1);
    const tensors = tf.memory().numTensors;
    gan.trainStep();
    expect(tf.memory().numTensors).toBe(tensors);
    gan.dispose();
  }, 60_000);

  it('keeps torch running statistics: momentum 0.1, unbiased variance', async () => {
    const cfg = resolveDcganConfig(TINY);
    const store = new ParamStore(new Rng(5));
    const d = buildDiscriminator(cfg, store, 'D');
    const x = tf.tensor4d(new Rng(6).fillUniform(new Float32Array(4 * PER), -1, 1), [4, R, R, 3]);
    const [mean, unbiased] = tf.tidy(() => {
      const h1 = tf.leakyRelu(tf.conv2d(x, store.get('D.conv1.w') as tf.Tensor4D, 2, 'same'), 0.2);
      const h2 = tf.conv2d(h1, store.get('D.conv2.w') as tf.Tensor4D, 2, 'same'); // [4, 4, 4, 16]
      const m = tf.moments(h2, [0, 1, 2]);
      const n = 4 * 4 * 4;
      return [m.mean, m.variance.mul(n / (n - 1))];
    });
    tf.tidy(() => {
      d.apply(x, { training: true, updateStats: true });
    });
    const rm = await store.get('D.conv2.bn.runningMean').data();
    const rv = await store.get('D.conv2.bn.runningVar').data();
    const m = await mean.data();
    const v = await unbiased.data();
    for (let c = 0; c < 16; c++) {
      expect(rm[c]).toBeCloseTo(0.1 * m[c], 6);
      expect(rv[c]).toBeCloseTo(0.9 + 0.1 * v[c], 6);
    }
    // Without updateStats, or in eval mode, the running statistics stay put.
    tf.tidy(() => {
      d.apply(x, { training: true });
      d.apply(x, { training: false });
    });
    expect(Array.from(await store.get('D.conv2.bn.runningMean').data())).toEqual(Array.from(rm));
    tf.dispose([x, mean, unbiased]);
    store.dispose();
  });

  it('resumes from a checkpoint exactly, and generating does not change the training state', async () => {
    const data = toyData(6); // batches of 4 cross epoch boundaries
    const straight = createDcgan(CPU_TINY, data, 7);
    const stopped = createDcgan(CPU_TINY, data, 7);
    for (let s = 0; s < 2; s++) {
      straight.trainStep();
      stopped.trainStep();
    }
    const before = await stopped.checkpoint();
    // Same seed, same steps: the same state to the byte on cpu too.
    expect(Buffer.from(before).equals(Buffer.from(await straight.checkpoint()))).toBe(true);
    await stopped.generate(3);
    const bytes = await stopped.checkpoint();
    stopped.dispose();
    const resumed = restoreDcgan(bytes, data);
    expect(resumed.step).toBe(2);
    expect(resumed.config).toEqual(straight.config);
    const a = straight.trainStep();
    const b = resumed.trainStep();
    for (const key of Object.keys(a)) expect(Math.abs(a[key] - b[key])).toBeLessThan(1e-6);
    // The sample stream moved, nothing else: a fresh restore of `before` continues identically too.
    const fromBefore = restoreDcgan(before, data);
    const c = fromBefore.trainStep();
    for (const key of Object.keys(a)) expect(Math.abs(a[key] - c[key])).toBeLessThan(1e-6);
    expect(() => restoreDcgan(bytes, toyData(2))).toThrow('does not fit 2 real images');
    for (const g of [straight, resumed, fromBefore]) g.dispose();
  }, 120_000);

});
