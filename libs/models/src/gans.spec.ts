import * as tf from '@tensorflow/tfjs';
import { createClassifier, describeClassifier } from './classifier';
import { describeCyclegan } from './cyclegan';
import { describeDcgan } from './dcgan';
import { GAN_KINDS } from './gan';
import { initBackend } from './engine';
import { describePggan } from './pggan';
import { GANS, MODEL_NAMES, REFERENCE_SIZES, SIZE_KEY, createGan, describeModel, isModelName, restoreGan } from './gans';
import { countTransfers } from './testing';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const R = 16;
const TINY_DCGAN = { resolution: R, latentDim: 4, ngf: 4, ndf: 4, batchSize: 2, steps: 3 };
const data = { target: new Float32Array(3 * R * R * 3).fill(0.5), targetCount: 3 };

describe('GAN registry', () => {
  it('maps every GAN kind, and names the four models with their size keys', () => {
    expect(Object.keys(GANS).sort()).toEqual([...GAN_KINDS].sort());
    expect(MODEL_NAMES).toEqual(['classifier', 'dcgan', 'pggan', 'cyclegan']);
    expect(REFERENCE_SIZES).toMatchObject({ classifier: 224, dcgan: 64, cyclegan: 256 });
    expect(SIZE_KEY.classifier).toBe('inputSize');
    expect(isModelName('dcgan')).toBe(true);
    expect(isModelName('stylegan')).toBe(false);
  });

  it('resolves every GAN from its defaults and rejects unknown keys by name', () => {
    for (const kind of GAN_KINDS) {
      const e = GANS[kind];
      // Defaults given back as overrides resolve to the same config as none (CycleGAN turns nBlocks 'auto' into a number).
      expect(e.resolve({ ...e.defaults })).toEqual(e.resolve({}));
      expect(e.resolve({})).toMatchObject({ resolution: (e.defaults as { resolution: number }).resolution });
      expect(() => e.resolve({ nonsense: 1 })).toThrow('nonsense');
    }
  });

  it('creates, checkpoints and restores a GAN by kind, and refuses a checkpoint of another model', async () => {
    const gan = createGan('dcgan', TINY_DCGAN, data, 1);
    expect(gan.kind).toBe('dcgan');
    const losses = gan.trainStep();
    expect(Number.isFinite(losses.d) && Number.isFinite(losses.g)).toBe(true);
    const bytes = await gan.checkpoint();
    const back = restoreGan('dcgan', bytes, data);
    expect(back.step).toBe(1);
    expect(Array.from(await back.generate(2))).toHaveLength(2 * R * R * 3);
    const clf = createClassifier({ inputSize: 8, filters: [2, 2], hidden: [2] }, 1);
    const clfBytes = await clf.checkpoint();
    expect(() => restoreGan('dcgan', clfBytes, data)).toThrow("checkpoint is for model 'classifier', expected 'dcgan'");
    expect(() => createGan('stylegan' as never, {}, data, 1)).toThrow("unknown GAN 'stylegan' (known: dcgan, pggan, cyclegan)");
    for (const m of [gan, back, clf]) m.dispose();
  });

  it('creates every kind through the registry, and a checkpoint only restores as its own kind', async () => {
    const tiny = {
      dcgan: TINY_DCGAN,
      pggan: { resolution: 8, width: 1 / 64, batchSize: 2, stableImages: 4, fadeImages: 4, finalStableImages: 4 },
      cyclegan: { resolution: R, ngf: 2, ndf: 2, nBlocks: 1, nLayersD: 2, steps: 2, decaySteps: 1, poolSize: 2 },
    };
    const both = { ...data, target: new Float32Array(3 * R * R * 3).fill(0.5), source: new Float32Array(3 * R * R * 3).fill(-0.5), sourceCount: 3 };
    const small = { target: new Float32Array(3 * 8 * 8 * 3).fill(0.5), targetCount: 3 };
    const bytes: Partial<Record<(typeof GAN_KINDS)[number], Uint8Array>> = {};
    for (const kind of GAN_KINDS) {
      const gan = createGan(kind, tiny[kind], kind === 'pggan' ? small : both, 1);
      expect(gan.kind).toBe(kind);
      bytes[kind] = await gan.checkpoint();
      gan.dispose();
    }
    const back = restoreGan('cyclegan', bytes.cyclegan as Uint8Array, both);
    expect(back.kind).toBe('cyclegan');
    back.dispose();
    expect(() => restoreGan('pggan', bytes.dcgan as Uint8Array, small)).toThrow("checkpoint is for model 'dcgan', expected 'pggan'");
    expect(() => restoreGan('dcgan', bytes.cyclegan as Uint8Array, data)).toThrow("checkpoint is for model 'cyclegan', expected 'dcgan'");
  }, 60_000);

  it('describes a model by name with the same summaries as its own describe', () => {
    expect(describeModel('classifier', { inputSize: 16 })).toEqual(describeClassifier({ inputSize: 16 }));
    expect(describeModel('dcgan', { resolution: 16 })).toEqual(describeDcgan({ resolution: 16 }));
    expect(describeModel('pggan', { resolution: 16, width: 1 / 64 })).toEqual(describePggan({ resolution: 16, width: 1 / 64 }));
    expect(describeModel('cyclegan', { resolution: 16, ngf: 2, ndf: 2, nLayersD: 2 })).toEqual(describeCyclegan({ resolution: 16, ngf: 2, ndf: 2, nLayersD: 2 }));
    expect(() => describeModel('resnet' as never)).toThrow("unknown model 'resnet'");
  });
});

describe('GAN training steps on wasm', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  it('a training step gathers its real images on the device and reads back only its losses', async () => {
    // Marker pixel values that nothing else uploads (latents are normal draws, constants are round).
    const TARGET = 0.3125;
    const SOURCE = -0.6875;
    const marked = { target: new Float32Array(5 * R * R * 3).fill(TARGET), targetCount: 5, source: new Float32Array(5 * R * R * 3).fill(SOURCE), sourceCount: 5 };
    const tiny = {
      dcgan: { ...TINY_DCGAN, batchSize: 4 },
      // Stages 4, 8 and 16 px within six steps: the downscaled copy of the set is made per stage.
      pggan: { resolution: R, width: 1 / 64, batchSize: 4, stableImages: 4, fadeImages: 4, finalStableImages: 4 },
      cyclegan: { resolution: R, ngf: 2, ndf: 2, nBlocks: 1, nLayersD: 2, steps: 6, decaySteps: 1, poolSize: 2, batchSize: 2 },
    };
    const lossCount = { dcgan: 5, pggan: 4, cyclegan: 7 };
    for (const kind of GAN_KINDS) {
      const start = tf.memory().numTensors;
      const gan = createGan(kind, tiny[kind], marked, 1);
      let tensors = 0;
      for (let s = 0; s < 6; s++) {
        const t = await countTransfers(() => gan.trainStep());
        expect(t.reads).toEqual([lossCount[kind]]);
        const carriesImages = t.uploads.some((u) => Array.prototype.some.call(u, (v: unknown) => v === TARGET || v === SOURCE));
        expect({ kind, step: s, carriesImages }).toEqual({ kind, step: s, carriesImages: false });
        if (s === 0) tensors = tf.memory().numTensors;
        else if (kind !== 'pggan') expect(tf.memory().numTensors).toBe(tensors);
      }
      gan.dispose();
      // The uploaded set (and PGGAN's per-stage copy) go with the model.
      expect({ kind, tensors: tf.memory().numTensors }).toEqual({ kind, tensors: start });
    }
  }, 120_000);
});
