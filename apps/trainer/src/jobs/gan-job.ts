/**
 * A GAN job: train one GAN on a budget of real minority images, generate the fill-up, and score it.
 *
 * 1. Data at the GAN's resolution: the budget's real images of the class (selectBudget with the
 *    study seed: the same images every classifier of the budget sees); CycleGAN also gets every
 *    training image of its source class (the largest), which it translates from.
 * 2. Train `totalSteps` steps (the model's config), checkpointing every spec.checkpointEvery steps;
 *    the GAN's checkpoint holds its own random streams, so a resumed job generates the same images.
 * 3. Generate spec.generate images (CycleGAN: translations of source images drawn at random, without
 *    replacement while they last, with Rng(seed).fork('translate')), resize them to the classifier's
 *    size, and put them as `generated.bin` (uint8 GIMG, see libs/protocol jobs.ts), a sample grid
 *    `grid.png` (the budget's real images above generated ones, at the GAN's resolution) and a few
 *    `samples/NNN.png`.
 * 4. FID, KID, precision and recall of the generated images against the budget's real images, at the
 *    classifier's size, on the penultimate layer of the feature network: the all-real reference
 *    classifier (spec.featureJob's model.bin) or, without one, a randomly initialised classifier
 *    seeded from the job; the result names which.
 */
import { PermanentJobError, Rng } from '@gan-study/core';
import { classIndices, encodePng, selectBudget, selectBudgetFiles } from '@gan-study/data';
import type { ImageSet } from '@gan-study/data';
import { fid, kid, precisionRecall } from '@gan-study/metrics';
import { createClassifier, createGan, restoreClassifier, restoreGan } from '@gan-study/models';
import type { Classifier, Gan, GanTrainingData } from '@gan-study/models';
import { CLASSIFIER_ARTIFACTS, GAN_ARTIFACTS, encodeGenerated, ganResultHead } from '@gan-study/protocol';
import type { GanJobResult, GanJobSpec, GanQuality, JobContext } from '@gan-study/protocol';
import { decodeEnvelope, encodeEnvelope } from './envelope';
import { gather, gridPng, resizeImages } from './images';
import { LossWindow, ProgressThrottle, throwIfAborted } from './util';
import { nextTurn } from './turn';

/** Images generated per call (bounded memory; the GANs' outputs do not depend on it). */
const GENERATE_CHUNK = 64;
/** Generated images in the grid and as PNG files. */
const GRID_REAL = 8;
const GRID_GENERATED = 24;
const SAMPLE_PNGS = 8;
/** Nearest neighbours for precision/recall (Kynkaanniemi et al. use 3). */
const PR_K = 3;

/** The GAN's training data for a job (see the module doc). */
export function ganTrainingData(spec: GanJobSpec, train: ImageSet): { data: GanTrainingData; budgetIdx: number[]; sourceIdx: number[] } {
  const budgetIdx = selectBudget(train, spec.className, spec.budget, spec.budgetSeed);
  const data: GanTrainingData = { target: gather(train.images, train.size, budgetIdx), targetCount: budgetIdx.length };
  let sourceIdx: number[] = [];
  if (spec.gan === 'cyclegan') {
    if (spec.sourceClass === null) throw new Error(`job ${spec.id}: CycleGAN needs a source class`);
    sourceIdx = classIndices(train, spec.sourceClass);
    data.source = gather(train.images, train.size, sourceIdx);
    data.sourceCount = sourceIdx.length;
  }
  return { data, budgetIdx, sourceIdx };
}

/** n images from the trained GAN at its resolution (CycleGAN: translations of random source images). */
export async function generateImages(gan: Gan, spec: GanJobSpec, data: GanTrainingData, n: number): Promise<Float32Array> {
  const r = gan.resolution;
  const stride = r * r * 3;
  const out = new Float32Array(n * stride);
  let picks: number[] = [];
  if (spec.gan === 'cyclegan') {
    const count = data.sourceCount ?? 0;
    if (count === 0 || !data.source) throw new Error(`job ${spec.id}: CycleGAN has no source images to translate`);
    const rng = new Rng(spec.seed).fork('translate');
    while (picks.length < n) {
      const round = Array.from({ length: count }, (_, i) => i);
      rng.shuffle(round);
      picks = picks.concat(round.slice(0, n - picks.length));
    }
  }
  for (let from = 0; from < n; from += GENERATE_CHUNK) {
    const m = Math.min(GENERATE_CHUNK, n - from);
    const imgs = spec.gan === 'cyclegan' ? await gan.generate(m, gather(data.source!, r, picks.slice(from, from + m))) : await gan.generate(m);
    if (imgs.length !== m * stride) throw new Error(`job ${spec.id}: the GAN returned ${imgs.length} values for ${m} images of ${r} px`);
    out.set(imgs, from * stride);
  }
  return out;
}

function rowsOf(flat: Float32Array, n: number): Float32Array[] {
  const d = flat.length / n;
  return Array.from({ length: n }, (_, i) => flat.subarray(i * d, (i + 1) * d));
}

/** Feature rows of the real budget and the generated images, and the feature network's name. */
async function qualityOf(ctx: JobContext, spec: GanJobSpec, real: Float32Array, nReal: number, generated: Float32Array, nGen: number, classes: number): Promise<GanQuality> {
  let net: Classifier;
  let name: string;
  if (spec.featureJob !== null) {
    net = restoreClassifier(await ctx.artifact(spec.featureJob, CLASSIFIER_ARTIFACTS.model));
    name = `classifier ${spec.featureJob} (all real images), penultimate layer`;
  } else {
    net = createClassifier({ inputSize: spec.imageSize, numClasses: classes }, spec.seed);
    name = `randomly initialised classifier (seed ${spec.seed}), penultimate layer`;
  }
  try {
    if (net.config.inputSize !== spec.imageSize) throw new Error(`job ${spec.id}: feature network takes ${net.config.inputSize} px, images are ${spec.imageSize} px`);
    const featureNetwork = `${name} (${net.featureWidth}-d, ${spec.imageSize} px)`;
    const fr = rowsOf(await net.features(real, nReal), nReal);
    const fg = rowsOf(await net.features(generated, nGen), nGen);
    const f = fid(fr, fg, featureNetwork);
    const kd = kid(fr, fg, featureNetwork, { subsets: 100, subsetSize: Math.min(1000, nReal, nGen) });
    const pr = precisionRecall(fr, fg, featureNetwork, Math.min(PR_K, nReal - 1, nGen - 1));
    return { featureNetwork, fid: f.fid, kid: kd.kid, precision: pr.precision, recall: pr.recall, realCount: nReal, generatedCount: nGen };
  } finally {
    net.dispose();
  }
}

export async function runGanJob(ctx: JobContext, spec: GanJobSpec): Promise<GanJobResult> {
  const t0 = Date.now();
  if (ctx.worldSize !== 1) throw new Error(`job ${spec.id}: GAN jobs run on one trainer, got worldSize ${ctx.worldSize}`);
  if ('resolution' in spec.overrides && spec.overrides.resolution !== spec.resolution) {
    ctx.log('warn', `${spec.gan} override 'resolution' ignored: the plan trains at ${spec.resolution} px (config ganResolution)`, { job: spec.id });
  }
  const ds = await ctx.dataset(spec.resolution);
  if (ds.train.size !== spec.resolution) throw new Error(`job ${spec.id}: dataset came at ${ds.train.size} px, asked for ${spec.resolution}`);
  const { data, budgetIdx } = ganTrainingData(spec, ds.train);
  const budgetFiles = selectBudgetFiles(ds.train, spec.className, spec.budget, spec.budgetSeed);
  const tLoaded = Date.now();

  let gan: Gan;
  if (ctx.resumeFrom) {
    const { model } = decodeEnvelope(ctx.resumeFrom, { job: spec.id, kind: 'gan' });
    gan = restoreGan(spec.gan, model, data);
    ctx.log('info', `resumed at step ${gan.step}`, { job: spec.id, step: gan.step });
  } else {
    try {
      gan = createGan(spec.gan, { ...spec.overrides, resolution: spec.resolution }, data, spec.seed);
    } catch (err) {
      // A bad config fails the same way on every attempt: do not retry.
      throw new PermanentJobError(`job ${spec.id}: ${(err as Error).message}`);
    }
  }
  try {
    const throttle = new ProgressThrottle();
    const window = new LossWindow();
    let since = Date.now();
    let stepsSince = 0;
    const batch = typeof gan.config.batchSize === 'number' ? gan.config.batchSize : 1;
    const total = gan.totalSteps;
    while (gan.step < total) {
      throwIfAborted(ctx.signal, spec.id);
      const losses = gan.trainStep();
      await nextTurn();
      for (const [k, v] of Object.entries(losses)) {
        // Deterministic from the last checkpoint, so a retry would diverge again.
        if (!Number.isFinite(v)) throw new PermanentJobError(`job ${spec.id}: ${spec.gan} loss '${k}' is ${v} at step ${gan.step}`);
      }
      window.push(losses);
      stepsSince++;
      const step = gan.step;
      if (throttle.due() || step === total) {
        const now = Date.now();
        ctx.progress({ step, total, losses, imagesPerSec: (stepsSince * batch * 1000) / Math.max(1, now - since) });
        since = now;
        stepsSince = 0;
      }
      if (step % spec.checkpointEvery === 0 || step === total) {
        await ctx.checkpoint(step, encodeEnvelope({ job: spec.id, kind: 'gan', step }, await gan.checkpoint()));
      }
    }
    const tTrained = Date.now();

    throwIfAborted(ctx.signal, spec.id);
    const generated = await generateImages(gan, spec, data, spec.generate);
    const r = gan.resolution;
    const atClassifier = resizeImages(generated, spec.generate, r, spec.imageSize);
    const artifacts: string[] = [];
    const put = async (name: string, bytes: Uint8Array) => {
      await ctx.putArtifact(name, bytes);
      artifacts.push(name);
    };
    await put(GAN_ARTIFACTS.generated, encodeGenerated({ count: spec.generate, size: spec.imageSize, images: atClassifier }));
    const nReal = Math.min(GRID_REAL, budgetIdx.length);
    const nGrid = Math.min(GRID_GENERATED, spec.generate);
    await put(GAN_ARTIFACTS.grid, await gridPng(data.target, nReal, generated, nGrid, r));
    const stride = r * r * 3;
    for (let i = 0; i < Math.min(SAMPLE_PNGS, spec.generate); i++) {
      await put(`${GAN_ARTIFACTS.samplePrefix}${String(i).padStart(3, '0')}.png`, await encodePng(generated.subarray(i * stride, (i + 1) * stride), r, r));
    }

    let quality: GanQuality | null = null;
    let realAtClassifier = data.target;
    if (spec.imageSize !== spec.resolution) {
      const train = (await ctx.dataset(spec.imageSize)).train;
      realAtClassifier = gather(train.images, spec.imageSize, selectBudget(train, spec.className, spec.budget, spec.budgetSeed));
    }
    if (budgetIdx.length >= 2 && spec.generate >= 2) {
      quality = await qualityOf(ctx, spec, realAtClassifier, budgetIdx.length, atClassifier, spec.generate, ds.classes.length);
    } else {
      ctx.log('warn', `no image-quality metrics with ${budgetIdx.length} real and ${spec.generate} generated images (need 2 each)`, { job: spec.id });
    }
    const tEnd = Date.now();
    return {
      ...ganResultHead(spec),
      resolution: r,
      steps: gan.step,
      finalLosses: window.mean(),
      generated: spec.generate,
      artifacts,
      budgetFiles,
      quality,
      durations: { loadMs: tLoaded - t0, trainMs: tTrained - tLoaded, evalMs: tEnd - tTrained, totalMs: tEnd - t0 },
      backend: ctx.backend,
      resumed: ctx.resumeFrom !== null,
    };
  } finally {
    gan.dispose();
  }
}
