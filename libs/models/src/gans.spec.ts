import * as tf from '@tensorflow/tfjs';
import { createClassifier, describeClassifier } from './classifier';
import { describeDcgan } from './dcgan';
import { GAN_KINDS } from './gan';
import { GANS, MODEL_NAMES, REFERENCE_SIZES, SIZE_KEY, createGan, describeModel, isModelName, restoreGan } from './gans';

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

  it("resolves each landed GAN's defaults to themselves and rejects unknown keys", () => {
    for (const kind of ['dcgan'] as const) {
      const e = GANS[kind];
      expect(e.resolve({})).toEqual(e.defaults);
      expect(() => e.resolve({ nonsense: 1 })).toThrow("'nonsense'");
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

  it('describes a model by name with the same summaries as its own describe', () => {
    expect(describeModel('classifier', { inputSize: 16 })).toEqual(describeClassifier({ inputSize: 16 }));
    expect(describeModel('dcgan', { resolution: 16 })).toEqual(describeDcgan({ resolution: 16 }));
    expect(() => describeModel('resnet' as never)).toThrow("unknown model 'resnet'");
  });
});
