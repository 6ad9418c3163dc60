import * as tf from '@tensorflow/tfjs';
import { Rng } from '@gan-study/core';
import { decodeCheckpoint, encodeCheckpoint } from './common/checkpoint';
import { initBackend } from './engine';
import { ParamStore } from './common/params';
import { recordingTracer } from './common/summary';
import type { GanTrainingData } from './gan';
import {
  CYCLEGAN_DEFAULTS,
  ImagePool,
  buildPatchDiscriminator,
  buildResnetGenerator,
  createCyclegan,
  cycleganActivationFloats,
  cycleganLrFactor,
  cycleganMicroBatch,
  cycleganStepBytes,
  describeCyclegan,
  resolveCycleganConfig,
  restoreCyclegan,
  torchConv2d,
  torchConvTranspose2d,
  WASM_STEP_BUDGET_BYTES,
  type CycleganSettings,
} from './cyclegan';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** CPU-sized: 8 px, 2 filters, one residual block, a one-layer PatchGAN, pools of 2. */
const TINY: Partial<CycleganSettings> = { resolution: 8, ngf: 2, ndf: 2, nBlocks: 1, nLayersD: 1, steps: 40, decaySteps: 20, poolSize: 2 };

/** Domain A: dark images around -0.7; domain B: bright images around +0.7 (with texture). */
function toyData(resolution: number, n: number): GanTrainingData {
  const per = resolution * resolution * 3;
  const source = new Float32Array(n * per);
  const target = new Float32Array(n * per);
  for (let i = 0; i < n * per; i++) {
    source[i] = -0.7 + 0.2 * Math.sin(i * 0.37);
    target[i] = 0.7 + 0.2 * Math.cos(i * 0.53);
  }
  return { source, sourceCount: n, target, targetCount: n };
}

const mean = (a: Float32Array) => a.reduce((s, v) => s + v, 0) / a.length;

async function weights(bytes: Uint8Array): Promise<Map<string, Float32Array>> {
  return new Map(decodeCheckpoint(bytes, 'cyclegan').arrays.map((a) => [a.name, a.data]));
}

describe('CycleGAN config', () => {
  it('resolves defaults (6 blocks below 256 px, 9 from 256) and rejects bad values with the value', () => {
    expect(resolveCycleganConfig().nBlocks).toBe(6);
    expect(resolveCycleganConfig({ resolution: 256 }).nBlocks).toBe(9);
    expect(resolveCycleganConfig({ resolution: 256, nBlocks: 3 }).nBlocks).toBe(3);
    expect(CYCLEGAN_DEFAULTS).toMatchObject({ lr: 2e-4, beta1: 0.5, beta2: 0.999, lambdaA: 10, lambdaB: 10, lambdaIdentity: 0.5, poolSize: 50, batchSize: 1 });
    expect(() => resolveCycleganConfig({ ngff: 3 } as Partial<CycleganSettings>)).toThrow("unknown CycleGAN config key 'ngff'");
    expect(() => resolveCycleganConfig({ ngf: 0 })).toThrow('ngf must be an integer >= 1, got 0');
    expect(() => resolveCycleganConfig({ resolution: 30 })).toThrow('resolution must be a multiple of 4 (two stride-2 stages), got 30');
    expect(() => resolveCycleganConfig({ resolution: 16 })).toThrow('resolution 16 is too small for nLayersD 3');
    expect(() => resolveCycleganConfig({ steps: 10, decaySteps: 11 })).toThrow('decaySteps must be at most steps (10), got 11');
    expect(() => resolveCycleganConfig({ beta1: 1 })).toThrow('beta1 must be in [0, 1), got 1');
    expect(() => resolveCycleganConfig({ lr: -1 })).toThrow('lr must be a positive number, got -1');
    expect(() => resolveCycleganConfig({ nBlocks: 1.5 })).toThrow('nBlocks must be an integer >= 0, got 1.5');
  });

  it('takes microBatch as auto or a positive integer dividing the batch, naming the batch in the error', () => {
    expect(resolveCycleganConfig().microBatch).toBe('auto');
    expect(resolveCycleganConfig({ batchSize: 32, microBatch: 4 }).microBatch).toBe(4);
    expect(resolveCycleganConfig({ batchSize: 32, microBatch: 32 }).microBatch).toBe(32);
    const msg = (v: string) => `microBatch must be 'auto' or a positive integer dividing batchSize (32), got ${v}`;
    expect(() => resolveCycleganConfig({ batchSize: 32, microBatch: 5 })).toThrow(msg('5'));
    expect(() => resolveCycleganConfig({ batchSize: 32, microBatch: 64 })).toThrow(msg('64'));
    expect(() => resolveCycleganConfig({ batchSize: 32, microBatch: 0 })).toThrow(msg('0'));
    expect(() => resolveCycleganConfig({ batchSize: 32, microBatch: 2.5 })).toThrow(msg('2.5'));
    expect(() => resolveCycleganConfig({ batchSize: 32, microBatch: 'half' } as Record<string, unknown>)).toThrow(msg('"half"'));
  });

  it("picks the whole batch for microBatch 'auto' except where the wasm step would not fit, and an explicit value as given", () => {
    // The bench's step: batch 32 at 64 px, 64 filters, 6 blocks, 64 + 64 images uploaded.
    const bench = resolveCycleganConfig({ resolution: 64, batchSize: 32 });
    const params = describeCyclegan({ resolution: 64 }).reduce((sum, n) => sum + n.params, 0);
    expect(cycleganMicroBatch(bench, 'cpu', params, 128)).toBe(32);
    expect(cycleganMicroBatch(bench, 'tensorflow', params, 128)).toBe(32);
    // Measured on wasm: 250 MiB of tensors per image in a pass, 0.6 GiB besides: eight images per pass
    // fit the 4 GiB heap, sixteen do not (the largest divisor of 32 within the budget).
    expect(cycleganMicroBatch(bench, 'wasm', params, 128)).toBe(8);
    expect(cycleganStepBytes(bench, 8, params, 128)).toBeLessThanOrEqual(WASM_STEP_BUDGET_BYTES);
    expect(cycleganStepBytes(bench, 16, params, 128)).toBeGreaterThan(WASM_STEP_BUDGET_BYTES);
    expect(cycleganMicroBatch({ ...bench, microBatch: 4 }, 'wasm', params, 128)).toBe(4);
    // At 128 px (the default) an image's pass takes four times as much: two per pass.
    expect(cycleganMicroBatch(resolveCycleganConfig({ resolution: 128, batchSize: 32 }), 'wasm', params, 128)).toBe(2);
    // At 32 px with 32 filters the whole batch fits.
    const small = resolveCycleganConfig({ resolution: 32, batchSize: 32, ngf: 32, ndf: 32 });
    const smallParams = describeCyclegan({ resolution: 32, ngf: 32, ndf: 32 }).reduce((sum, n) => sum + n.params, 0);
    expect(cycleganMicroBatch(small, 'wasm', smallParams, 128)).toBe(32);
    expect(cycleganStepBytes(small, 32, smallParams, 128)).toBeLessThanOrEqual(WASM_STEP_BUDGET_BYTES);
    // The quick profile's CycleGAN (batch 4 at 16 px, 8 filters) keeps its whole batch on wasm.
    const quick = resolveCycleganConfig({ resolution: 16, batchSize: 4, ngf: 8, ndf: 8, nBlocks: 2, nLayersD: 2 });
    expect(cycleganMicroBatch(quick, 'wasm', 50_000, 2000)).toBe(4);
    // The G phase's conv outputs per image: 6 generator passes and 2 discriminator passes.
    const tiny = { resolution: 8, ngf: 2, ndf: 2, nBlocks: 1, nLayersD: 1 };
    const g = 64 * 2 + 16 * 4 + 4 * 8 * 3 + 25 * 4 + 81 * 2 + 64 * 3;
    const d = 16 * 2 + 9 * 4 + 4;
    expect(cycleganActivationFloats(tiny)).toBe(6 * g + 2 * d);
  });

  it('keeps the lr constant, then decays it linearly as the reference linear policy does', () => {
    // Reference (epoch_count 1): factor(e) = 1 - max(0, e + 1 - n_epochs) / (n_epochs_decay + 1), 100 + 100 epochs.
    const ref = { steps: 200, decaySteps: 100 };
    expect(cycleganLrFactor(0, ref)).toBe(1);
    expect(cycleganLrFactor(99, ref)).toBe(1);
    expect(cycleganLrFactor(100, ref)).toBeCloseTo(1 - 1 / 101, 12);
    expect(cycleganLrFactor(150, ref)).toBeCloseTo(1 - 51 / 101, 12);
    expect(cycleganLrFactor(199, ref)).toBeCloseTo(1 / 101, 12);
    // Small: 6 constant steps, then 4 decaying ones, falling by 1/5 a step.
    const small = { steps: 10, decaySteps: 4 };
    expect([5, 6, 7, 8, 9].map((s) => cycleganLrFactor(s, small))).toEqual([1, 0.8, 0.6, 0.4, 0.19999999999999996]);
    expect(cycleganLrFactor(3, { steps: 5, decaySteps: 0 })).toBe(1);
  });
});

describe('CycleGAN networks', () => {
  it('maps images to images and images to a patch map, and the plan matches a traced forward pass', () => {
    const store = new ParamStore(new Rng(1));
    const g = buildResnetGenerator({ ngf: 4, nBlocks: 2, initStd: 0.02 }, store, 'G');
    const d2 = buildPatchDiscriminator({ ndf: 4, nLayersD: 2, initStd: 0.02 }, store, 'D2');
    const d3 = buildPatchDiscriminator({ ndf: 4, nLayersD: 3, initStd: 0.02 }, store, 'D3');
    tf.tidy(() => {
      const x = tf.randomUniform([2, 16, 16, 3], -1, 1, 'float32', 1);
      const { tracer, layers } = recordingTracer();
      const y = g.apply(x, { tracer });
      expect(y.shape).toEqual([2, 16, 16, 3]);
      const v = y.dataSync();
      expect(Math.max(...Array.from(v, Math.abs))).toBeLessThan(1);
      expect(layers.map((l) => ({ ...l, outputShape: [1, ...l.outputShape.slice(1)] }))).toEqual(g.plan(16));
      expect(layers.map((l) => l.name)).toEqual(['c7s1-4', 'd8', 'd16', 'R16.1', 'R16.2', 'u8', 'u4', 'c7s1-3']);
      expect(layers.reduce((s, l) => s + l.params, 0)).toBe(store.count('G.'));

      for (const [d, r, patch] of [[d2, 16, 2], [d3, 32, 2]] as const) {
        const t = recordingTracer();
        const out = d.apply(tf.zeros([1, r, r, 3]), { tracer: t.tracer });
        expect(out.shape).toEqual([1, patch, patch, 1]);
        expect(t.layers).toEqual(d.plan(r));
        expect(t.layers.reduce((s, l) => s + l.params, 0)).toBe(store.count(`${d.prefix}.`));
      }
    });
    store.dispose();
  });

  it('places strided and transposed convolutions as torch does (padding 1; padding 1 + output_padding 1)', () => {
    tf.tidy(() => {
      // Separable hand case: a = [1, 10, 100] along both axes, so each 2-D output is the outer product
      // of the 1-D results. torch Conv2d(k3, s2, p1) on [1 2 3 4]: [0*1 + 1*10 + 2*100, 2*1 + 3*10 + 4*100].
      const a = [1, 10, 100];
      const outer = (u: number[], v: number[]) => u.flatMap((p) => v.map((q) => p * q));
      const w = tf.tensor4d(outer(a, a), [3, 3, 1, 1]);
      const zero = tf.zeros([1]) as tf.Tensor1D;
      const down = torchConv2d(tf.tensor4d(outer([1, 2, 3, 4], [1, 2, 3, 4]), [1, 4, 4, 1]), w, zero, 2, 1);
      expect(down.shape).toEqual([1, 2, 2, 1]);
      expect(Array.from(down.dataSync())).toEqual(outer([210, 432], [210, 432]));
      // torch ConvTranspose2d(k3, s2, p1, op1) on [1 2]: input i feeds outputs 2i - 1 + k, k = 0..2,
      // cropped to 0..3: [1*10, 1*100 + 2*1, 2*10, 2*100].
      const up = torchConvTranspose2d(tf.tensor4d(outer([1, 2], [1, 2]), [1, 2, 2, 1]), w, tf.tensor1d([0.5]));
      expect(up.shape).toEqual([1, 4, 4, 1]);
      expect(Array.from(up.dataSync())).toEqual(outer([10, 102, 20, 200], [10, 102, 20, 200]).map((v) => v + 0.5));
    });
  });

  it('has the authors\' trainable parameter counts at the reference configuration (256 px, 9 blocks, 64 filters)', () => {
    const before = tf.memory().numTensors;
    const nets = describeCyclegan({ resolution: 256 });
    expect(tf.memory().numTensors).toBe(before);
    const byName = Object.fromEntries(nets.map((n) => [n.name, n]));
    // pytorch-CycleGAN-and-pix2pix: ResnetGenerator(3, 3, 64, n_blocks=9) and NLayerDiscriminator(3, 64, 3), norm instance.
    expect(byName.G_A.params).toBe(11378179);
    expect(byName.G_B.params).toBe(11378179);
    expect(byName.D_A.params).toBe(2764737);
    expect(byName.D_B.params).toBe(2764737);
    expect(byName.G_A.layers.filter((l) => l.name.startsWith('R256.')).length).toBe(9);
    expect(byName.G_A.layers.at(-1)).toEqual({ name: 'c7s1-3', outputShape: [1, 256, 256, 3], params: 64 * 49 * 3 + 3 });
    // The 70x70 PatchGAN scores a 30x30 grid of patches of a 256 px image.
    expect(byName.D_A.layers.map((l) => l.outputShape)).toEqual([[1, 128, 128, 64], [1, 64, 64, 128], [1, 32, 32, 256], [1, 31, 31, 512], [1, 30, 30, 1]]);
    // At 128 px the paper's 6 blocks: 3 fewer blocks of 2 x (3*3*256*256 + 256).
    expect(describeCyclegan({ resolution: 128 })[0].params).toBe(11378179 - 3 * 2 * (9 * 256 * 256 + 256));
  });
});

describe('ImagePool', () => {
  const image = (v: number) => tf.fill([1, 1, 1, 1], v) as tf.Tensor4D;
  const run = (seed: number, queries: number) => {
    const pool = new ImagePool(50, new Rng(seed));
    const returned: number[] = [];
    for (let i = 0; i < queries; i++) {
      const x = image(i);
      const y = pool.query(x);
      returned.push(y.dataSync()[0]);
      tf.dispose([x, y]);
    }
    return { pool, returned };
  };

  it('fills to 50 returning each image, then swaps with a stored one half of the time', async () => {
    const before = tf.memory().numTensors;
    const { pool, returned } = run(5, 2050);
    expect(pool.count).toBe(50);
    expect(tf.memory().numTensors).toBe(before + 50);
    expect(returned.slice(0, 50)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    // Afterwards each query returns either itself or an older image, which the new one replaces.
    let fromHistory = 0;
    const stored = new Set(Array.from({ length: 50 }, (_, i) => i));
    returned.slice(50).forEach((v, k) => {
      const i = k + 50;
      if (v === i) return;
      fromHistory++;
      expect(stored.has(v)).toBe(true);
      stored.delete(v);
      stored.add(i);
    });
    // Binomial(2000, 0.5): the fraction lies within 0.5 +- 0.05 (4.5 standard deviations).
    expect(Math.abs(fromHistory / 2000 - 0.5)).toBeLessThan(0.05);
    const snap = await pool.snapshot('p');
    expect(new Set(Array.from(snap?.data ?? []))).toEqual(stored);
    pool.dispose();
    expect(tf.memory().numTensors).toBe(before);
  }, 120_000);

  it('draws from its seeded Rng: same seed, same choices; and round-trips through a snapshot', async () => {
    const a = run(9, 120);
    const b = run(9, 120);
    const c = run(10, 120);
    expect(a.returned).toEqual(b.returned);
    expect(a.returned).not.toEqual(c.returned);
    const snap = await a.pool.snapshot('p');
    const copy = new ImagePool(50, new Rng(0));
    copy.load(snap ?? undefined, [1, 1, 1]);
    expect((await copy.snapshot('p'))?.data).toEqual(snap?.data);
    expect(() => copy.load({ name: 'p', shape: [51, 1, 1, 1], data: new Float32Array(51) }, [1, 1, 1])).toThrow("pool 'p' has shape [51,1,1,1], expected [<=50, 1, 1, 1]");
    const none = new ImagePool(0, new Rng(0));
    const x = image(3);
    const y = none.query(x);
    expect(y.dataSync()[0]).toBe(3);
    expect(none.count).toBe(0);
    for (const p of [a.pool, b.pool, c.pool, copy]) p.dispose();
    tf.dispose([x, y]);
  });
});

describe('CycleGAN training', () => {
  const data = toyData(8, 6);

  it('trains with finite losses, leaks no tensors, resumes exactly from a checkpoint, and is seeded', async () => {
    // Batches of 2 and pools of 4: the pools are full after two steps, so step 3 draws from them.
    const cfg = { ...TINY, batchSize: 2, poolSize: 4 };
    const gan = createCyclegan(cfg, data, 7);
    expect(gan.kind).toBe('cyclegan');
    expect(gan.totalSteps).toBe(40);
    const first = gan.trainStep();
    expect(Object.keys(first).sort()).toEqual(['cycle_A', 'cycle_B', 'd_A', 'd_B', 'g', 'idt_A', 'idt_B']);
    for (const v of Object.values(first)) expect(Number.isFinite(v)).toBe(true);
    // The generator total holds the cycle and identity terms plus two non-negative LSGAN terms.
    expect(first.g).toBeGreaterThan(first.cycle_A + first.cycle_B + first.idt_A + first.idt_B);
    gan.trainStep();
    const bytes = await gan.checkpoint();
    const c = decodeCheckpoint(bytes, 'cyclegan');
    expect(c.step).toBe(2);
    expect(c.arrays.find((a) => a.name === 'pool.fake_A')?.shape).toEqual([4, 8, 8, 3]);
    expect(c.arrays.find((a) => a.name === 'pool.fake_B')?.shape).toEqual([4, 8, 8, 3]);
    expect(c.arrays.some((a) => a.name.startsWith('adam_G.m.G_A.'))).toBe(true);
    expect(c.arrays.some((a) => a.name.startsWith('adam_D.v.D_B.'))).toBe(true);
    expect(Object.keys(c.rng).sort()).toEqual(['data', 'init', 'pool']);
    const beforeStep = tf.memory().numTensors;
    const straight = gan.trainStep();
    expect(tf.memory().numTensors).toBe(beforeStep);
    for (const v of Object.values(straight)) expect(Number.isFinite(v)).toBe(true);
    const after = await weights(await gan.checkpoint());

    const resumed = restoreCyclegan(bytes, data);
    expect(resumed.step).toBe(2);
    const again = resumed.trainStep();
    for (const k of Object.keys(straight)) expect(again[k]).toBeCloseTo(straight[k], 6);
    const afterResumed = await weights(await resumed.checkpoint());
    expect([...afterResumed.keys()]).toEqual([...after.keys()]);
    for (const [name, w] of after) {
      const r = afterResumed.get(name) as Float32Array;
      const maxDiff = Math.max(0, ...Array.from(w, (v, i) => Math.abs(v - r[i])));
      if (maxDiff > 1e-6) throw new Error(`'${name}' differs by ${maxDiff} after resuming`);
    }

    // The same seed gives the same weights after two steps; another seed, other weights.
    const atTwo = new Map(c.arrays.map((a) => [a.name, a.data]));
    const twin = createCyclegan(cfg, data, 7);
    twin.trainStep();
    twin.trainStep();
    const twinW = await weights(await twin.checkpoint());
    for (const name of ['G_A.res0.conv1.w', 'G_B.up1.w', 'D_B.conv1.w', 'adam_G.m.G_A.c7s1_out.w', 'pool.fake_B']) {
      expect(twinW.get(name)).toEqual(atTwo.get(name));
    }
    const other = createCyclegan(cfg, data, 8);
    const fresh = createCyclegan(cfg, data, 7);
    const [otherW, freshW] = [await weights(await other.checkpoint()), await weights(await fresh.checkpoint())];
    expect(otherW.get('G_A.c7s1_in.w')).not.toEqual(freshW.get('G_A.c7s1_in.w'));
    expect(otherW.get('D_A.conv0.w')).not.toEqual(freshW.get('D_A.conv0.w'));

    // A checkpoint of another model, or other data, is refused with the reason.
    const foreign = encodeCheckpoint({ model: 'dcgan', config: {}, step: 0, meta: {}, rng: {}, arrays: [] });
    expect(() => restoreCyclegan(foreign, data)).toThrow("checkpoint is for model 'dcgan', expected 'cyclegan'");
    expect(() => restoreCyclegan(bytes, toyData(16, 6))).toThrow('CycleGAN source (domain A) images: 4608 values for 6 images of 8x8x3 (expected 1152)');
    for (const g of [gan, resumed, twin, other, fresh]) g.dispose();
  }, 120_000);

  it('takes the full batch\'s step in micro-batches: same losses, gradients (Adam moments), pools and weights', async () => {
    // Batch 4 with pools of 2: from the third image of the first step on, each pool query draws from
    // the pool stream, so the pools (and D's inputs) match only if the images meet them in the full
    // batch's order. Adam's moments carry the gradients' scale, which its update would hide.
    const cfg = { ...TINY, batchSize: 4, poolSize: 2 };
    const data6 = toyData(8, 6);
    const run = async (microBatch: number | 'auto') => {
      const gan = createCyclegan({ ...cfg, microBatch }, data6, 21);
      const losses = [gan.trainStep(), gan.trainStep()];
      const before = tf.memory().numTensors;
      losses.push(gan.trainStep());
      expect(tf.memory().numTensors).toBe(before);
      const state = await weights(await gan.checkpoint());
      gan.dispose();
      return { losses, state };
    };
    const full = await run('auto');
    // A conv bias followed by instance norm (affine=False) has a zero gradient: the norm subtracts
    // every per-channel constant. What reaches it is rounding noise (|m| ~1e-7 here), which Adam
    // scales up to steps of up to lr in a direction set by the noise, in any implementation (torch
    // too): those biases are compared by their moments being noise-sized, not by their values.
    // In TINY (nLayersD 1) that is every generator bias but c7s1_out's, and D's conv1.
    const normed = (param: string) => /^G_[AB]\.(?!c7s1_out\.).*\.b$/.test(param) || /^D_[AB]\.conv1\.b$/.test(param);
    const scale = (a: Float32Array) => Math.max(...Array.from(a, Math.abs));
    for (const microBatch of [1, 2]) {
      const micro = await run(microBatch);
      micro.losses.forEach((losses, i) => {
        for (const [k, v] of Object.entries(full.losses[i])) {
          // oneDNN picks its blocking (so its float32 summation order) by the batch size, and two Adam
          // steps carry that rounding into the third step's losses: 1.02e-5 seen once, so 5e-5.
          if (Math.abs(losses[k] - v) > 5e-5 * Math.max(1, Math.abs(v))) throw new Error(`microBatch ${microBatch}, step ${i + 1}: loss ${k} is ${losses[k]}, full batch ${v}`);
        }
      });
      expect([...micro.state.keys()]).toEqual([...full.state.keys()]);
      let compared = 0;
      for (const [name, w] of full.state) {
        const x = micro.state.get(name) as Float32Array;
        const param = name.replace(/^adam_[GD]\.[mv]\./, '');
        if (normed(param)) {
          if (name.startsWith('adam_') && name.includes('.m.')) {
            for (const a of [w, x]) if (!(scale(a) < 1e-5)) throw new Error(`'${name}' is ${scale(a)}: not the rounding noise of a zero gradient`);
          }
          continue;
        }
        // Weights and pools to 1e-5; Adam's moments to 1e-4 of each array's largest value.
        const tol = name.startsWith('adam_') ? 1e-4 * scale(w) : 1e-5;
        const maxDiff = Math.max(0, ...Array.from(w, (v, i) => Math.abs(v - x[i])));
        if (!(maxDiff <= tol)) throw new Error(`microBatch ${microBatch}: '${name}' differs from the full batch's by ${maxDiff} (tolerance ${tol})`);
        compared++;
      }
      // Values, m and v of each generator's 8 weights and c7s1_out bias and each D's 3 weights and 2 biases; the 2 pools.
      expect(compared).toBe(3 * (2 * 9 + 2 * 5) + 2);
    }
  }, 120_000);

  it('restores a checkpoint written before microBatch existed, and resumes with whole-batch steps', async () => {
    const gan = createCyclegan({ ...TINY, batchSize: 2 }, data, 4);
    gan.trainStep();
    const c = decodeCheckpoint(await gan.checkpoint(), 'cyclegan');
    const config = { ...c.config };
    delete config.microBatch;
    const old = encodeCheckpoint({ ...c, config });
    const resumed = restoreCyclegan(old, data);
    expect(resumed.config.microBatch).toBe('auto');
    const [a, b] = [gan.trainStep(), resumed.trainStep()];
    for (const k of Object.keys(a)) expect(b[k]).toBe(a[k]);
    // A checkpoint that does record it must match it.
    expect(() => restoreCyclegan(encodeCheckpoint({ ...c, config: { ...config, microBatch: 3 } }), data)).toThrow(
      "microBatch must be 'auto' or a positive integer dividing batchSize (2), got 3",
    );
    gan.dispose();
    resumed.dispose();
  }, 120_000);

  it('translates given source images in batches, and refuses a missing or miscounted source', async () => {
    const gan = createCyclegan(TINY, data, 3);
    expect(gan.summary()).toEqual(describeCyclegan(TINY));
    expect(gan.summary().map((n) => n.name)).toEqual(['G_A', 'G_B', 'D_A', 'D_B']);
    const per = 8 * 8 * 3;
    const many = toyData(8, 11).source as Float32Array;
    const before = tf.memory().numTensors;
    const out = await gan.generate(11, many);
    expect(tf.memory().numTensors).toBe(before);
    expect(out.length).toBe(11 * per);
    expect(Math.max(...Array.from(out, Math.abs))).toBeLessThanOrEqual(1);
    // Instance norm is per image, so a batch of 11 (split 8 + 3) gives each image what it gives alone.
    const last = await gan.generate(1, many.subarray(10 * per));
    Array.from(last).forEach((v, i) => expect(v).toBeCloseTo(out[10 * per + i], 5));
    await expect(gan.generate(2)).rejects.toThrow('CycleGAN generate(n, source) translates source images');
    await expect(gan.generate(2, many)).rejects.toThrow(`generate(2, source): source holds ${11 * per} values, expected ${2 * per}`);
    expect(() => createCyclegan(TINY, { target: data.target, targetCount: 6 }, 1)).toThrow('CycleGAN needs source (domain A) images as a Float32Array');
    gan.dispose();
  }, 120_000);
});

describe('CycleGAN on wasm', () => {
  const data = toyData(8, 6);

  it('takes the same steps as on cpu from the same seed, and leaks no tensors', async () => {
    await initBackend('cpu');
    const cpu = createCyclegan(TINY, data, 5);
    const onCpu = [cpu.trainStep(), cpu.trainStep()];
    cpu.dispose();
    await initBackend('wasm');
    expect(tf.getBackend()).toBe('wasm');
    const gan = createCyclegan(TINY, data, 5);
    const onWasm = [gan.trainStep(), gan.trainStep()];
    // Pools of 2 are full after two steps of batch 1.
    const before = tf.memory().numTensors;
    onWasm.push(gan.trainStep());
    expect(tf.memory().numTensors).toBe(before);
    onCpu.forEach((losses, i) => {
      for (const [k, v] of Object.entries(losses)) expect(Math.abs(onWasm[i][k] - v)).toBeLessThan(1e-4 * Math.max(1, Math.abs(v)));
    });
    gan.dispose();
  }, 120_000);

  it('learns a toy translation on wasm: dark images (A) come out brighter, towards the bright domain (B)', async () => {
    await initBackend('wasm');
    const gan = createCyclegan({ ...TINY, lr: 5e-3 }, data, 11);
    const source = data.source as Float32Array;
    const before = mean(await gan.generate(6, source));
    for (let i = 0; i < 6; i++) gan.trainStep();
    const after = mean(await gan.generate(6, source));
    // A's mean is -0.7 and B's +0.7; an untrained G_A outputs about 0 (tanh of small weights).
    expect(Math.abs(before)).toBeLessThan(0.2);
    expect(after).toBeGreaterThan(before + 0.3);
    expect(after).toBeGreaterThan(0.3);
    gan.dispose();
  }, 120_000);
});
