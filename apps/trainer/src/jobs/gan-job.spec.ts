import { PermanentJobError } from '@gan-study/core';
import { createClassifier, initBackend } from '@gan-study/models';
import { buildPlan, decodeGenerated, profileDefaults } from '@gan-study/protocol';
import type { GanJobResult, GanJobSpec, StudyConfig } from '@gan-study/protocol';
import sharp from 'sharp';
import { runJob } from './index';
import { MemoryJobContext, fakeDataset } from './testing';
import { JobAbortedError } from './util';

const dataset = fakeDataset({ train: [12, 10], test: [4, 4] });
const config: StudyConfig = {
  ...profileDefaults('smoke'),
  imageSize: 8,
  budgets: [4],
  gans: ['dcgan', 'pggan', 'cyclegan'],
  ganResolution: { dcgan: 16, pggan: 8, cyclegan: 8 },
  fillTo: 9,
  classifier: { filters: [2, 4], hidden: [8], epochs: 1, batchSize: 8 },
  dcgan: { steps: 4, batchSize: 4, ngf: 4, ndf: 4, latentDim: 8 },
  pggan: { width: 1 / 64, batchSize: 4, stableImages: 8, fadeImages: 8, finalStableImages: 8 },
  cyclegan: { steps: 3, decaySteps: 1, batchSize: 1, ngf: 4, ndf: 4, nBlocks: 1, nLayersD: 1, poolSize: 2 },
  checkpointEvery: 2,
};
const counts = { classes: ['benign', 'malignant'], train: { benign: 12, malignant: 10 }, test: { benign: 4, malignant: 4 } };
const plan = buildPlan(config, counts);
const spec = (id: string) => plan.jobs.find((j) => j.id === id) as GanJobSpec;

/** The artifacts a reference classifier job would have put (an untrained one is enough for features). */
async function referenceArtifacts(): Promise<Map<string, Uint8Array>> {
  const m = new Map<string, Uint8Array>();
  const c = createClassifier({ ...config.classifier, inputSize: 8, numClasses: 2 }, 7);
  m.set('clf-reference-r0/model.bin', await c.checkpoint());
  c.dispose();
  return m;
}

jest.setTimeout(120_000);

beforeAll(async () => {
  // The engine's wasm backend (with its training kernels): what trainers without a GPU use, and
  // several times faster than plain JavaScript kernels on these convolutions.
  await initBackend('wasm', { threads: 1 });
});

describe('GAN job', () => {
  it('gives the event loop a turn after every training step (the trainer must stay responsive)', async () => {
    const base = spec('gan-dcgan-b4-malignant');
    const s: GanJobSpec = { ...base, overrides: { ...base.overrides, steps: 12 }, checkpointEvery: 12 };
    const ctx = new MemoryJobContext({ spec: s, dataset, artifacts: await referenceArtifacts() });
    let turns = 0;
    let running = true;
    const count = () => {
      turns++;
      if (running) setImmediate(count);
    };
    // Turns taken before the first checkpoint (after step 12) can only come from the training loop.
    let turnsAtCheckpoint = -1;
    const checkpoint = ctx.checkpoint.bind(ctx);
    ctx.checkpoint = (step, bytes) => {
      if (turnsAtCheckpoint < 0) turnsAtCheckpoint = turns;
      return checkpoint(step, bytes);
    };
    setImmediate(count);
    try {
      await runJob(ctx);
    } finally {
      running = false;
    }
    expect(turnsAtCheckpoint).toBeGreaterThanOrEqual(12);
  });

  it('DCGAN: trains, generates the fill-up at the classifier size, puts grid and samples, scores with the reference features', async () => {
    const s = spec('gan-dcgan-b4-malignant');
    expect(s).toMatchObject({ budget: 4, generate: 5, resolution: 16, imageSize: 8, featureJob: 'clf-reference-r0' });
    const ctx = new MemoryJobContext({ spec: s, dataset, artifacts: await referenceArtifacts() });
    const r = (await runJob(ctx)) as GanJobResult;
    expect(r.kind).toBe('gan');
    expect(r.steps).toBe(4);
    expect(r.generated).toBe(5);
    expect(r.budgetFiles).toHaveLength(4);
    expect(r.budgetFiles.every((f) => f.startsWith('train/malignant/'))).toBe(true);
    const gen = decodeGenerated(ctx.artifacts.get(`${s.id}/generated.bin`)!);
    expect(gen).toMatchObject({ count: 5, size: 8 });
    expect(gen.images.every((v) => v >= -1 && v <= 1)).toBe(true);
    const grid = await sharp(Buffer.from(ctx.artifacts.get(`${s.id}/grid.png`)!)).metadata();
    expect(grid.format).toBe('png');
    // 8 columns of 16 px + 9 gaps of 2 px; real row, gap row, generated row.
    expect(grid.width).toBe(8 * 16 + 9 * 2);
    expect(grid.height).toBe(3 * 16 + 4 * 2);
    expect(r.artifacts).toEqual(['generated.bin', 'grid.png', 'samples/000.png', 'samples/001.png', 'samples/002.png', 'samples/003.png', 'samples/004.png']);
    expect(r.quality?.featureNetwork).toMatch(/^classifier clf-reference-r0 \(all real images\), penultimate layer \(8-d, 8 px\)$/);
    expect(r.quality).toMatchObject({ realCount: 4, generatedCount: 5 });
    expect(Number.isFinite(r.quality!.fid)).toBe(true);
    expect(ctx.checkpoints.map((c) => c.step)).toEqual([2, 4]);
    expect(ctx.progressEvents.at(-1)).toMatchObject({ step: 4, total: 4 });
    expect(Object.keys(r.finalLosses).length).toBeGreaterThan(0);
  });

  it('fails permanently (no retry) on a bad GAN override', async () => {
    const s = { ...spec('gan-dcgan-b4-malignant'), overrides: { ...config.dcgan, ngff: 4 } };
    const err = await runJob(new MemoryJobContext({ spec: s, dataset, artifacts: await referenceArtifacts() })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PermanentJobError);
    expect((err as Error).message).toMatch(/gan-dcgan-b4-malignant: unknown dcgan config key 'ngff'/);
  });

  it('resumed from a checkpoint generates the same images as an uninterrupted run', async () => {
    const s = spec('gan-dcgan-b4-malignant');
    const full = new MemoryJobContext({ spec: s, dataset, artifacts: await referenceArtifacts() });
    const a = (await runJob(full)) as GanJobResult;
    const lost = new MemoryJobContext({ spec: s, dataset, artifacts: await referenceArtifacts(), abortAfterCheckpoints: 1 });
    await expect(runJob(lost)).rejects.toThrow(JobAbortedError);
    const resumed = new MemoryJobContext({ spec: s, dataset, artifacts: await referenceArtifacts(), resumeFrom: lost.checkpoints[0].bytes });
    const b = (await runJob(resumed)) as GanJobResult;
    expect(b.resumed).toBe(true);
    expect(resumed.checkpoints.map((c) => c.step)).toEqual([4]);
    expect(Buffer.from(resumed.artifacts.get(`${s.id}/generated.bin`)!).equals(Buffer.from(full.artifacts.get(`${s.id}/generated.bin`)!))).toBe(true);
    expect(b.quality).toEqual(a.quality);
  });

  it('CycleGAN translates majority images; PGGAN runs its schedule; both without a reference use random features', async () => {
    const noRef = buildPlan(config, counts, { featureNetwork: 'random' });
    for (const id of ['gan-cyclegan-b4-malignant', 'gan-pggan-b4-malignant']) {
      const s = noRef.jobs.find((j) => j.id === id) as GanJobSpec;
      const ctx = new MemoryJobContext({ spec: s, dataset });
      const r = (await runJob(ctx)) as GanJobResult;
      expect(r.generated).toBe(5);
      expect(r.steps).toBeGreaterThan(0);
      expect(decodeGenerated(ctx.artifacts.get(`${id}/generated.bin`)!)).toMatchObject({ count: 5, size: 8 });
      expect(r.quality?.featureNetwork).toMatch(/^randomly initialised classifier \(seed \d+\), penultimate layer/);
    }
    expect((noRef.jobs.find((j) => j.id === 'gan-cyclegan-b4-malignant') as GanJobSpec).sourceClass).toBe('benign');
  });
});
