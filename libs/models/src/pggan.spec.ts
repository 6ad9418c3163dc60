import * as tf from '@tensorflow/tfjs';
import { Rng } from '@gan-study/core';
import { ParamStore, decodeCheckpoint } from './common';
import { initBackend } from './engine';
import {
  PGGAN_DEFAULTS,
  buildPgganDiscriminator,
  buildPgganGenerator,
  countPgganParams,
  createPggan,
  describePggan,
  downscale2d,
  pgganBatchSize,
  pgganGradientPenalty,
  pgganPhase,
  pgganTotalSteps,
  pgganTotalImages,
  resolvePgganConfig,
  restorePggan,
  upscale2d,
} from './pggan';
import type { PgganConfig } from './pggan';

// 8 channels everywhere (512 / 64), 8 px target: two stages (4x4, 8x8), 2 steps of 2 images per phase.
const TINY: Partial<PgganConfig> = { resolution: 8, width: 1 / 64, batchSize: 2, stableImages: 4, fadeImages: 4, finalStableImages: 4 };

function images(count: number, res: number, seed: number): Float32Array {
  return new Rng(seed).fillUniform(new Float32Array(count * res * res * 3), -1, 1);
}

async function useBackend(name: 'cpu' | 'wasm'): Promise<void> {
  await initBackend(name);
}

beforeAll(async () => {
  await useBackend('cpu');
});

describe('pggan config and schedule', () => {
  it('resolves defaults and rejects unknown keys and bad values with the value', () => {
    expect(resolvePgganConfig({})).toEqual(PGGAN_DEFAULTS);
    expect(PGGAN_DEFAULTS).toMatchObject({ lr: 1e-3, beta1: 0, beta2: 0.99, adamEps: 1e-8, gpLambda: 10, driftEpsilon: 0.001, mbstdGroupSize: 4 });
    expect(() => resolvePgganConfig({ resolutoin: 8 })).toThrow("unknown key 'resolutoin'");
    expect(() => resolvePgganConfig({ resolution: 12 })).toThrow('resolution must be a power of two >= 8, got 12');
    expect(() => resolvePgganConfig({ resolution: 4 })).toThrow('resolution must be a power of two >= 8, got 4');
    expect(() => resolvePgganConfig({ batchSize: 6 })).toThrow('batchSize must be divisible by the minibatch-std group size 4, got 6');
    expect(() => resolvePgganConfig({ width: 0 })).toThrow('width must be a positive number, got 0');
    expect(() => resolvePgganConfig({ fadeImages: 1.5 })).toThrow('fadeImages must be a non-negative integer, got 1.5');
    expect(() => resolvePgganConfig({ gEmaBeta: 1 })).toThrow('gEmaBeta must be in [0, 1), got 1');
    expect(resolvePgganConfig({ batchSize: 2 }).batchSize).toBe(2);
    expect(() => resolvePgganConfig({ resolution: 16, batchSizes: { 32: 4 } })).toThrow("batchSizes key must be a stage resolution (a power of two from 4 to 16), got '32'");
    expect(() => resolvePgganConfig({ batchSizes: { 8: 6 } })).toThrow('batchSizes.8 must be divisible by the minibatch-std group size 4, got 6');
    expect(() => resolvePgganConfig({ batchSizes: { 8: 0 } })).toThrow('batchSizes.8 must be a positive integer, got 0');
  });

  it('grows 4x4 -> 8x8 -> 16x16 at the configured image counts, alpha linear over each fade', () => {
    const cfg = resolvePgganConfig({ resolution: 16, stableImages: 10, fadeImages: 20, finalStableImages: 30 });
    expect(pgganTotalImages(cfg)).toBe(10 + 20 + 10 + 20 + 30);
    const at = (n: number) => {
      const p = pgganPhase(cfg, n);
      return [p.index, p.resolution, p.fading, p.alpha];
    };
    expect(at(0)).toEqual([0, 4, false, 1]);
    expect(at(9)).toEqual([0, 4, false, 1]);
    expect(at(10)).toEqual([1, 8, true, 0]);
    expect(at(15)).toEqual([1, 8, true, 0.25]);
    expect(at(29)).toEqual([1, 8, true, 0.95]);
    expect(at(30)).toEqual([2, 8, false, 1]);
    expect(at(40)).toEqual([3, 16, true, 0]);
    expect(at(50)).toEqual([3, 16, true, 0.5]);
    expect(at(60)).toEqual([4, 16, false, 1]);
    expect(at(1000)).toEqual([4, 16, false, 1]);
    // Steps: 10 / 4 -> 3 steps (12 shown), fade at 8 from 12: 18 / 2 -> 9 (30), stable 10 / 2 -> 5 (40),
    // fade at 16: 20 / 4 -> 5 (60), final 30 / 4 -> 8 (92).
    const perRes = resolvePgganConfig({ resolution: 16, stableImages: 10, fadeImages: 20, finalStableImages: 30, batchSize: 4, batchSizes: { 8: 2 } });
    expect([pgganBatchSize(perRes, 4), pgganBatchSize(perRes, 8), pgganBatchSize(perRes, 16)]).toEqual([4, 2, 4]);
    expect(pgganTotalSteps(perRes)).toBe(3 + 9 + 5 + 5 + 8);
    // Batch 8: 2 steps (16 shown), 2 (32), 1 (40), 3 (64), 4 (96): phases end mid-step, as train.py counts.
    expect(pgganTotalSteps(resolvePgganConfig({ resolution: 16, stableImages: 10, fadeImages: 20, finalStableImages: 30, batchSize: 8 }))).toBe(12);
  });
});

describe('pggan reference parameter counts', () => {
  it('1024x1024, width 1: the official networks (23.1M each, paper Table 2), counted from networks.py', () => {
    // Transcription of networks.py G_paper / D_paper (fmap_base 8192, fmap_decay 1, fmap_max 512,
    // latent_size nf(0), 3 channels, no labels, mbstd group 4), counting every weight and bias.
    const nf = (stage: number) => Math.min(Math.floor(8192 / 2 ** stage), 512);
    const log2 = 10;
    let g = nf(0) * nf(1) * 16 + nf(1); // 4x4/Dense (bias per feature map, after the reshape)
    g += 9 * nf(1) * nf(1) + nf(1); // 4x4/Conv
    for (let res = 3; res <= log2; res++) g += 9 * nf(res - 2) * nf(res - 1) + nf(res - 1) + 9 * nf(res - 1) * nf(res - 1) + nf(res - 1); // Conv0_up, Conv1
    for (let res = 2; res <= log2; res++) g += nf(res - 1) * 3 + 3; // ToRGB_lod*, all built
    let d = 0;
    for (let res = 2; res <= log2; res++) d += 3 * nf(res - 1) + nf(res - 1); // FromRGB_lod*
    for (let res = 3; res <= log2; res++) d += 9 * nf(res - 1) * nf(res - 1) + nf(res - 1) + 9 * nf(res - 1) * nf(res - 2) + nf(res - 2); // Conv0, Conv1_down
    d += 9 * (nf(1) + 1) * nf(1) + nf(1); // 4x4/Conv after minibatch stddev
    d += 16 * nf(1) * nf(0) + nf(0) + nf(0) * 1 + 1; // Dense0, Dense1
    expect([g, d]).toEqual([23079115, 23087249]);
    expect(countPgganParams({ resolution: 1024, width: 1 })).toEqual({ generator: g, discriminator: d });
    expect((g / 1e6).toFixed(1)).toBe('23.1');
    expect((d / 1e6).toFixed(1)).toBe('23.1');
  });

  it('describe lists every parameter once, with output shapes at the target resolution', () => {
    const cfg = { ...TINY, resolution: 16 };
    const [gs, ds] = describePggan(cfg);
    const counts = countPgganParams(cfg);
    expect(gs.name).toBe('generator');
    expect(gs.params).toBe(counts.generator);
    expect(ds.params).toBe(counts.discriminator);
    expect(gs.layers.reduce((a, l) => a + l.params, 0)).toBe(gs.params);
    expect(ds.layers.reduce((a, l) => a + l.params, 0)).toBe(ds.params);
    expect(gs.layers[gs.layers.length - 1]).toEqual({ name: '16x16.toRGB', outputShape: [1, 16, 16, 3], params: 8 * 3 + 3 });
    expect(ds.layers.find((l) => l.name === '4x4.minibatchStddev')!.outputShape).toEqual([1, 4, 4, 9]);
    expect(ds.layers[ds.layers.length - 1].outputShape).toEqual([1, 1]);
  });
});

describe.each(['cpu', 'wasm'] as const)('pggan networks on %s', (backend) => {
  beforeAll(async () => {
    await useBackend(backend);
  });

  it('gives the stage resolution at every stage and during fade-in, and fades exactly between the paths', async () => {
    const cfg = resolvePgganConfig({ ...TINY, resolution: 16 });
    const store = new ParamStore(new Rng(1));
    const G = buildPgganGenerator(cfg, store);
    const D = buildPgganDiscriminator(cfg, store);
    const before = tf.memory().numTensors;
    const z = tf.tensor2d(new Rng(2).fillNormal(new Float32Array(4 * 8)), [4, 8]);
    for (let stage = 0; stage < 3; stage++) {
      const r = 4 * 2 ** stage;
      for (const alpha of stage === 0 ? [1] : [0, 0.3, 1]) {
        const img = G.applyAt(z, stage, alpha);
        expect(img.shape).toEqual([4, r, r, 3]);
        const score = D.applyAt(img, stage, alpha);
        expect(score.shape).toEqual([4, 1]);
        expect(Array.from(await score.data()).every(Number.isFinite)).toBe(true);
        tf.dispose([img, score]);
      }
      if (stage > 0) {
        // alpha = 0: the new block contributes nothing; G is the previous stage upscaled, D sees the downscaled image.
        const [g0, prev, x, d0, dPrev] = tf.tidy(() => {
          const g = G.applyAt(z, stage, 0) as tf.Tensor4D;
          const p = upscale2d(G.applyAt(z, stage - 1, 1) as tf.Tensor4D);
          return [g, p, g, D.applyAt(g, stage, 0), D.applyAt(downscale2d(g), stage - 1, 1)];
        });
        const a = await g0.data(), b = await prev.data();
        a.forEach((v, i) => expect(v).toBeCloseTo(b[i], 5));
        const c = await d0.data(), e = await dPrev.data();
        c.forEach((v, i) => expect(v).toBeCloseTo(e[i], 4));
        tf.dispose([g0, prev, x, d0, dPrev]);
      }
    }
    expect(() => tf.tidy(() => D.applyAt(tf.zeros([4, 8, 8, 3]), 0, 1))).toThrow('discriminator stage 0 takes [batch, 4, 4, 3] images, got [4, 8, 8, 3]');
    expect(() => G.applyAt(z, 3, 1)).toThrow('stage must be an integer in [0, 2], got 3');
    z.dispose();
    expect(tf.memory().numTensors).toBe(before);
    store.dispose();
  });

});

describe('pggan training (wasm: its convolution gradients are much faster than cpu JavaScript)', () => {
  beforeAll(async () => {
    await useBackend('wasm');
  });

  it('trains through a stage transition at the configured image counts, finite losses, no leaked tensors', async () => {
    // 4x4 at batch 4 (one step), 8x8 at batch 2.
    const gan = createPggan({ ...TINY, batchSizes: { 4: 4 } }, { target: images(6, 8, 3), targetCount: 6 }, 11);
    expect(gan.totalSteps).toBe(1 + 2 + 2);
    const seen: Array<[number, number]> = [];
    let tensors = -1;
    for (let s = 0; s < gan.totalSteps; s++) {
      const l = gan.trainStep();
      seen.push([l.resolution, l.alpha]);
      for (const k of ['d', 'g', 'gp', 'wdist']) expect(Number.isFinite(l[k])).toBe(true);
      if (s === 0) tensors = tf.memory().numTensors;
      else expect(tf.memory().numTensors).toBe(tensors);
    }
    // 4 images stable at 4x4 (1 step of 4), 4 fading in 8x8 (alpha 0, 0.5), 4 stable at 8x8.
    expect(seen).toEqual([[4, 1], [8, 0], [8, 0.5], [8, 1], [8, 1]]);
    expect(gan.step).toBe(5);
    expect(gan.progress.imagesShown).toBe(12);
    const out = await gan.generate(5);
    expect(out.length).toBe(5 * 8 * 8 * 3);
    expect(out.every((v) => v >= -1 && v <= 1)).toBe(true);
    expect(tf.memory().numTensors).toBe(tensors);
    gan.dispose();
  });
});

describe('pggan gradient penalty', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });

  it('measures the input-gradient norm (checked by finite differences) and differentiates it w.r.t. D weights', () => {
    const cfg = resolvePgganConfig({ ...TINY, resolution: 8 });
    const store = new ParamStore(new Rng(4));
    const D = buildPgganDiscriminator(cfg, store);
    const stage = 1;
    const alpha = 0.5;
    const b = 4;
    const x0 = images(b, 8, 5);
    const sumD = (x: Float32Array) => tf.tidy(() => tf.sum(D.applyAt(tf.tensor4d(x, [b, 8, 8, 3]), stage, alpha)).dataSync()[0]);
    const { norm, grad } = tf.tidy(() => {
      const x = tf.tensor4d(x0, [b, 8, 8, 3]);
      return { norm: pgganGradientPenalty(D, x, stage, alpha, 1).norm.dataSync(), grad: tf.grad((t: tf.Tensor) => tf.sum(D.applyAt(t, stage, alpha)))(x).dataSync() };
    });
    const per = 8 * 8 * 3;
    const h = 1e-2;
    for (let i = 0; i < b; i++) {
      // Directional derivative along sample i's own gradient direction = that sample's gradient norm.
      const dir = new Float32Array(b * per);
      for (let j = 0; j < per; j++) dir[i * per + j] = grad[i * per + j] / norm[i];
      const plus = x0.map((v, j) => v + h * dir[j]);
      const minus = x0.map((v, j) => v - h * dir[j]);
      const fd = (sumD(plus) - sumD(minus)) / (2 * h);
      expect(Math.abs(fd - norm[i]) / norm[i]).toBeLessThan(1e-2);
    }
    // And along a random direction over the whole batch (checks the cross-sample minibatch-std terms too).
    const v = new Rng(6).fillNormal(new Float32Array(b * per));
    const vNorm = Math.sqrt(v.reduce((a, t) => a + t * t, 0));
    v.forEach((t, j) => (v[j] = t / vNorm));
    const fdv = (sumD(x0.map((a, j) => a + h * v[j])) - sumD(x0.map((a, j) => a - h * v[j]))) / (2 * h);
    let dot = 0;
    for (let j = 0; j < v.length; j++) dot += grad[j] * v[j];
    // The projection is small next to the gradient (v is random), so the tolerance is relative to ||grad||.
    let gradNorm = 0;
    for (let j = 0; j < grad.length; j++) gradNorm += grad[j] * grad[j];
    gradNorm = Math.sqrt(gradNorm);
    expect(Math.abs(fdv - dot)).toBeLessThan(1e-2 * gradNorm);
    // normScale divides the norm (the target-resolution measurement).
    const halved = tf.tidy(() => pgganGradientPenalty(D, tf.tensor4d(x0, [b, 8, 8, 3]), stage, alpha, 2).norm.dataSync());
    halved.forEach((n, i) => expect(n).toBeCloseTo(norm[i] / 2, 4));

    // Second order: d mean(penalty) / d w against finite differences on single weights.
    const vars = store.trainableMap('D.');
    const penalty = () => tf.tidy(() => tf.mean(pgganGradientPenalty(D, tf.tensor4d(x0, [b, 8, 8, 3]), stage, alpha, 1).penalty) as tf.Scalar);
    const analytic = tf.tidy(() => {
      const { grads } = tf.variableGrads(penalty, Object.values(vars));
      const out: Record<string, Float32Array> = {};
      for (const [name, w] of Object.entries(vars)) if (grads[w.name]) out[name] = grads[w.name].dataSync() as Float32Array;
      return out;
    });
    // The penalty jumps wherever a pre-activation crosses a leaky-ReLU kink (D's input gradient
    // switches slope), so the differences use a small step (1e-3) on weights whose perturbation moves
    // few pre-activations across zero; the tolerance covers float32 rounding (~1e-7 / 1e-3).
    for (const [name, idx] of [['D.8x8.conv0.w', 17], ['D.8x8.conv1_down.w', 200], ['D.4x4.conv.w', 31], ['D.4x4.dense0.w', 5], ['D.4x4.dense1.w', 2]] as const) {
      const w = vars[name];
      const base = w.dataSync().slice() as Float32Array;
      const at = (delta: number) => {
        const p = base.slice();
        p[idx] += delta;
        tf.tidy(() => w.assign(tf.tensor(p, w.shape)));
        return penalty().dataSync()[0];
      };
      const eps = 1e-3;
      const fd = (at(eps) - at(-eps)) / (2 * eps);
      tf.tidy(() => w.assign(tf.tensor(base, w.shape)));
      expect(Math.abs(fd - analytic[name][idx])).toBeLessThan(0.05 * Math.abs(fd) + 5e-5);
    }
    // The output layer's weights move the penalty most: a strong check, not a near-zero one.
    expect(Math.abs(analytic['D.4x4.dense1.w'][2])).toBeGreaterThan(1e-2);
    store.dispose();
  });

  it('gives the same penalty gradients on wasm as on cpu', async () => {
    const grads = async (backend: 'cpu' | 'wasm') => {
      await useBackend(backend);
      const cfg = resolvePgganConfig({ ...TINY, resolution: 8 });
      const store = new ParamStore(new Rng(4));
      const D = buildPgganDiscriminator(cfg, store);
      const vars = store.trainableMap('D.');
      const out = tf.tidy(() => {
        const x = tf.tensor4d(images(4, 8, 5), [4, 8, 8, 3]);
        const { grads: g } = tf.variableGrads(() => tf.mean(pgganGradientPenalty(D, x, 1, 0.5, 2).penalty) as tf.Scalar, Object.values(vars));
        // Parameters the input gradient does not depend on (the output bias) have no gradient.
        return Object.values(vars).map((v) => (g[v.name] ? Array.from(g[v.name].dataSync()) : []));
      });
      store.dispose();
      return out;
    };
    const wasm = await grads('wasm');
    const cpu = await grads('cpu');
    expect(wasm.map((g) => g.length)).toEqual(cpu.map((g) => g.length));
    expect(cpu.filter((g) => g.length > 0).length).toBeGreaterThan(10);
    cpu.forEach((g, k) => g.forEach((v, i) => expect(wasm[k][i]).toBeCloseTo(v, 4)));
  });
});

describe('pggan checkpoints and determinism (cpu)', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });
  const cfg = TINY;
  const data = () => ({ target: images(6, 8, 9), targetCount: 6 });

  it('resumes mid-fade exactly: the same losses as without stopping', async () => {
    const straight = createPggan(cfg, data(), 21);
    const expected: Array<Record<string, number>> = [];
    for (let s = 0; s < 5; s++) expected.push(straight.trainStep());
    const expectedImages = await straight.generate(3);
    straight.dispose();

    const first = createPggan(cfg, data(), 21);
    for (let s = 0; s < 3; s++) first.trainStep();
    // 2 stable steps, then fading with alpha 0: the next step is at alpha 0.5.
    expect(first.progress.phase).toMatchObject({ resolution: 8, fading: true, alpha: 0.5 });
    const bytes = await first.checkpoint();
    first.dispose();
    const meta = decodeCheckpoint(bytes, 'pggan').meta;
    // Both Adams restarted when the fade began (train.py reset_opt_for_new_lod): one step since.
    expect(meta).toMatchObject({ imagesShown: 6, stage: 1, alpha: 0.5, optGStep: 1, optDStep: 1 });

    const resumed = restorePggan(bytes, data());
    expect(resumed.step).toBe(3);
    // Step 4 mid-fade, step 5 the first stable step (optimizer reset) after the restore.
    for (let s = 3; s < 5; s++) {
      const l = resumed.trainStep();
      for (const k of Object.keys(expected[s])) expect(l[k]).toBeCloseTo(expected[s][k], 5);
    }
    const images2 = await resumed.generate(3);
    images2.forEach((v, i) => expect(v).toBeCloseTo(expectedImages[i], 5));
    resumed.dispose();
    expect(() => restorePggan(bytes, { target: images(2, 4, 1), targetCount: 2 })).toThrow('pggan: target holds 96 values, expected 2 images x 8x8x3 = 384');
  });

  it('keeps Gs as the running average of G, updated between the D and the G step (train.py Gs_update_op)', async () => {
    const gan = createPggan({ ...cfg, gEmaBeta: 0.9 }, data(), 8);
    const arrays = async () => new Map(decodeCheckpoint(await gan.checkpoint()).arrays.map((a) => [a.name, a.data]));
    const g0 = await arrays();
    gan.trainStep();
    const g1 = await arrays();
    gan.trainStep();
    const g2 = await arrays();
    gan.dispose();
    const name = 'G.4x4.conv.w';
    // Step 1: Gs = lerp(G0, G0, beta) = G0 (G has not moved yet); step 2: Gs = G1 + (G0 - G1) * beta.
    expect(Array.from(g1.get(`Gs${name.slice(1)}`)!)).toEqual(Array.from(g0.get(name)!));
    expect(Array.from(g1.get(name)!)).not.toEqual(Array.from(g0.get(name)!));
    const gs2 = g2.get(`Gs${name.slice(1)}`)!;
    g1.get(name)!.forEach((v, i) => expect(gs2[i]).toBeCloseTo(v + (g0.get(name)![i] - v) * 0.9, 6));
  });

  it('the same seed gives the same weights after two steps, another seed different ones', async () => {
    const weights = async (seed: number) => {
      const gan = createPggan(cfg, data(), seed);
      gan.trainStep();
      gan.trainStep();
      const arrays = decodeCheckpoint(await gan.checkpoint()).arrays.filter((a) => a.name.startsWith('G.') || a.name.startsWith('D.'));
      gan.dispose();
      return arrays.map((a) => Array.from(a.data));
    };
    const a = await weights(5);
    expect(await weights(5)).toEqual(a);
    expect(await weights(6)).not.toEqual(a);
  });
});

describe('pggan on a toy problem (wasm)', () => {
  beforeAll(async () => {
    await useBackend('wasm');
  });

  it('moves generated images toward a constant-colour training set; mid-growth samples are upscaled', async () => {
    const colour = [0.6, -0.4, 0.2];
    const count = 8;
    const target = new Float32Array(count * 8 * 8 * 3).map((_, i) => colour[i % 3]);
    // 30 steps at the 4x4 stage with a 10x step size (a toy: the paper's 1e-3 needs thousands of steps).
    const gan = createPggan({ ...TINY, batchSize: 4, stableImages: 200, gEmaBeta: 0, lr: 1e-2 }, { target, targetCount: count }, 3);
    const distance = async () => {
      const out = await gan.generate(32);
      return out.reduce((a, v, i) => a + Math.abs(v - colour[i % 3]), 0) / out.length;
    };
    const start = await distance();
    for (let s = 0; s < 30; s++) gan.trainStep();
    const end = await distance();
    expect(end).toBeLessThan(0.8 * start);
    // Mid-growth (4x4 stage) samples are nearest-upsampled to 8x8: every 2x2 block is one pixel.
    expect(gan.progress.phase.resolution).toBe(4);
    const early = await gan.generate(1);
    for (let y = 0; y < 8; y += 2) for (let x = 0; x < 8; x += 2) for (let c = 0; c < 3; c++) {
      const v = early[(y * 8 + x) * 3 + c];
      expect([early[(y * 8 + x + 1) * 3 + c], early[((y + 1) * 8 + x) * 3 + c], early[((y + 1) * 8 + x + 1) * 3 + c]]).toEqual([v, v, v]);
    }
    gan.dispose();
  });
});
