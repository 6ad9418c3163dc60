/**
 * A classifier job: assemble the scenario's training set, train the study's CNN (data-parallel
 * aware), evaluate on the test split.
 *
 * Training set: every image of the classes kept whole; for each minority class the budget's real
 * images (selectBudget, seeded by the study seed, so every scenario and repeat sees the same real
 * images for a budget); for GAN scenarios the generated images of the GAN jobs it depends on. The
 * reference takes every real training image.
 *
 * The training set goes to the backend once, as one [n, S, S, 3] tensor in example order; each step
 * gathers its batch there by index (the indices come from the seeded permutation below), so only the
 * indices and labels (4 B each per image) cross to the device per step.
 *
 * One replica (worldSize 1) has nobody to exchange gradients with: `trainStep` keeps them on the
 * device and reads back only the batch's loss. Data parallelism (K = worldSize replicas): every
 * replica walks the same seeded permutation of the training set each epoch
 * (Rng(seed).fork('epoch/<e>')), cuts the same global batches of `batchSize`, and takes its
 * contiguous shard [floor(G*r/K), floor(G*(r+1)/K)) of each. It computes the gradient of its shard's
 * summed loss divided by the GLOBAL batch size G and reads it back (the step's one read-back), the
 * replicas' vectors are summed (ctx.allReduce), and each applies the sum: the full-batch mean
 * gradient, so K replicas end with the weights of K=1 up to float summation order. A large dense
 * layer (fc1) travels as its factors, the shard's rows of its input and output gradient, from which
 * each replica makes the whole batch's weight gradient (Classifier.exchange): 0.55 M floats (2.2 MB)
 * per step instead of 2.1 M (8.5 MB) at 64 px. The batch's loss sum rides along as the last element of the reduced
 * array. Both paths apply the same float32 gradient with the same Adam ops: K=1 gives the same
 * weights either way.
 *
 * Checkpoints (rank 0, every spec.checkpointEvery steps and at the end of training): the classifier's
 * full state (weights, Adam moments, step) plus the loop position; the permutation of an epoch is a
 * pure function of (seed, epoch), so resuming mid-epoch continues exactly.
 */
import { PermanentJobError, Rng } from '@gan-study/core';
import { classIndices, selectBudget, selectBudgetFiles } from '@gan-study/data';
import type { Dataset, ImageSet } from '@gan-study/data';
import { bootstrapEvaluation, evaluate } from '@gan-study/metrics';
import { DeviceImages, PairBalance, createClassifier, resolveClassifierConfig, restoreClassifier } from '@gan-study/models';
import type { Classifier, ClassifierConfig } from '@gan-study/models';
import { CLASSIFIER_ARTIFACTS, classifierResultHead, decodeGenerated } from '@gan-study/protocol';
import type { ClassCount, ClassifierJobResult, ClassifierJobSpec, JobContext } from '@gan-study/protocol';
import { decodeEnvelope, encodeEnvelope, headerInt } from './envelope';
import { ProgressThrottle, throwIfAborted } from './util';
import { nextTurn } from './turn';

/** Where each training example comes from: a real training image or a generated one. */
interface TrainingSet {
  /** Per example: index into `pools`, and the image's index in it. */
  pool: Int32Array;
  index: Int32Array;
  labels: Int32Array;
  pools: Float32Array[];
  size: number;
  counts: Record<string, ClassCount>;
  /** Real files used, by class (minority classes: the budget). */
  budgetFiles: Record<string, string[]>;
}

/** Training examples of a scenario (see the module doc). */
export async function assembleTrainingSet(ctx: JobContext, spec: ClassifierJobSpec, ds: Dataset): Promise<TrainingSet> {
  const train = ds.train;
  const counts: Record<string, ClassCount> = {};
  const budgetFiles: Record<string, string[]> = {};
  const realIdx: number[] = [];
  for (const c of ds.classes) {
    if (!spec.minorityClasses.includes(c)) {
      const idx = classIndices(train, c);
      realIdx.push(...idx);
      counts[c] = { real: idx.length, generated: 0 };
      continue;
    }
    if (spec.budget === null) throw new Error(`job ${spec.id}: minority class "${c}" but no budget`);
    const idx = selectBudget(train, c, spec.budget, spec.budgetSeed);
    realIdx.push(...idx);
    counts[c] = { real: idx.length, generated: 0 };
    budgetFiles[c] = selectBudgetFiles(train, c, spec.budget, spec.budgetSeed);
  }
  for (const c of spec.minorityClasses) {
    if (!ds.classes.includes(c)) throw new Error(`job ${spec.id}: minority class "${c}" is not in the dataset (classes: ${ds.classes.join(', ')})`);
  }
  const pools: Float32Array[] = [train.images];
  const pool: number[] = realIdx.map(() => 0);
  const index: number[] = [...realIdx];
  const labels: number[] = realIdx.map((i) => train.labels[i]);
  for (const g of spec.generated) {
    const label = ds.classes.indexOf(g.className);
    if (label < 0) throw new Error(`job ${spec.id}: generated class "${g.className}" is not in the dataset`);
    const gen = decodeGenerated(await ctx.artifact(g.job, g.artifact), `${g.job}/${g.artifact}`);
    if (gen.size !== train.size) throw new PermanentJobError(`job ${spec.id}: ${g.job}/${g.artifact} holds ${gen.size} px images, the classifier needs ${train.size} px`);
    if (gen.count !== g.count) throw new PermanentJobError(`job ${spec.id}: ${g.job}/${g.artifact} holds ${gen.count} images, the plan expects ${g.count}`);
    const p = pools.length;
    pools.push(gen.images);
    for (let i = 0; i < gen.count; i++) {
      pool.push(p);
      index.push(i);
      labels.push(label);
    }
    counts[g.className].generated += gen.count;
  }
  return { pool: Int32Array.from(pool), index: Int32Array.from(index), labels: Int32Array.from(labels), pools, size: train.size, counts, budgetFiles };
}

/** Every example's image in example order (NHWC), for the one upload of the training set. */
function exampleImages(set: TrainingSet): Float32Array {
  const stride = set.size * set.size * 3;
  const n = set.labels.length;
  const out = new Float32Array(n * stride);
  for (let e = 0; e < n; e++) {
    const i = set.index[e];
    out.set(set.pools[set.pool[e]].subarray(i * stride, (i + 1) * stride), e * stride);
  }
  return out;
}

/** The labels of the examples at `order[from..to)`. */
function labelsOf(set: TrainingSet, order: Int32Array, from: number, to: number): Int32Array {
  const y = new Int32Array(to - from);
  for (let j = 0; j < y.length; j++) y[j] = set.labels[order[from + j]];
  return y;
}

/** The seeded permutation of epoch `epoch`: the same on every replica and after a resume. */
export function epochOrder(seed: number, epoch: number, n: number): Int32Array {
  const order = Array.from({ length: n }, (_, i) => i);
  new Rng(seed).fork(`epoch/${epoch}`).shuffle(order);
  return Int32Array.from(order);
}

/** The classifier config of a job: the study's overrides, with the input size and class count of the data. */
export function classifierConfigFor(spec: ClassifierJobSpec, classes: number): ClassifierConfig {
  try {
    return resolveClassifierConfig({ ...spec.overrides, inputSize: spec.imageSize, numClasses: classes });
  } catch (err) {
    // A bad config fails the same way on every attempt: do not retry.
    throw new PermanentJobError(`job ${spec.id}: ${(err as Error).message}`);
  }
}

/** Test-split probabilities as a predictions CSV (`study metrics --input` reads it). */
export function predictionsCsv(set: ImageSet, probs: Float32Array): string {
  const k = set.classes.length;
  const lines = [['label', ...set.classes.map((c) => `p_${c}`)].join(',')];
  for (let i = 0; i < set.labels.length; i++) {
    const row = [set.classes[set.labels[i]]];
    for (let c = 0; c < k; c++) row.push(String(probs[i * k + c]));
    lines.push(row.join(','));
  }
  return lines.join('\n') + '\n';
}

export async function runClassifierJob(ctx: JobContext, spec: ClassifierJobSpec): Promise<ClassifierJobResult> {
  const t0 = Date.now();
  const { rank, worldSize } = ctx;
  if (!Number.isInteger(worldSize) || worldSize < 1 || !Number.isInteger(rank) || rank < 0 || rank >= worldSize) {
    throw new Error(`job ${spec.id}: rank ${rank} of worldSize ${worldSize} is not a valid replica`);
  }
  for (const key of ['inputSize', 'numClasses'] as const) {
    if (key in spec.overrides) ctx.log('warn', `classifier override '${key}' ignored: the job sets it from the data`, { job: spec.id, value: spec.overrides[key] });
  }
  const ds = await ctx.dataset(spec.imageSize);
  if (ds.train.size !== spec.imageSize) throw new Error(`job ${spec.id}: dataset came at ${ds.train.size} px, asked for ${spec.imageSize}`);
  const set = await assembleTrainingSet(ctx, spec, ds);
  const n = set.labels.length;
  const cfg = classifierConfigFor(spec, ds.classes.length);
  const tLoaded = Date.now();

  let model: Classifier;
  let startStep = 0;
  let epochLossSum = 0;
  let epochCount = 0;
  let lastEpochLoss = NaN;
  if (ctx.resumeFrom) {
    const { header, model: bytes } = decodeEnvelope(ctx.resumeFrom, { job: spec.id, kind: 'classifier' });
    startStep = headerInt(header, 'step');
    epochLossSum = typeof header.epochLossSum === 'number' ? header.epochLossSum : 0;
    epochCount = headerInt(header, 'epochCount');
    lastEpochLoss = typeof header.lastEpochLoss === 'number' ? header.lastEpochLoss : NaN;
    model = restoreClassifier(bytes);
    ctx.log('info', `resumed at step ${startStep}`, { job: spec.id, step: startStep });
  } else {
    model = createClassifier({ ...cfg }, spec.seed);
  }

  // Two replicas that share memory may cut each batch where both passes take as long (PairBalance):
  // both feed theirs the same two pass times, so both cut alike.
  const balance = worldSize === 2 && ctx.pairExchange && spec.balanceShards === true ? new PairBalance(cfg.batchSize) : null;
  if (worldSize > 1) {
    const pair = Boolean(ctx.pairExchange);
    const exchange = pair ? 'swapped with the other replica through shared memory and summed on the device' : 'all-reduced on the host';
    const L = model.exchange;
    const layers = L.factored.map((f) => f.layer);
    // A pair sends only its own rows of the factors (Classifier.pairStep), its loss, pass time and row count.
    const floats = pair ? L.pairLength : L.length + 1;
    const cut = balance ? ', each batch cut where both passes take as long' : '';
    ctx.log('info', `rank ${rank} of ${worldSize}, gradients ${exchange}: ${floats} floats per step${layers.length > 0 ? ` (${layers.join(', ')} as factors)` : ''}${cut}`, {
      job: spec.id,
      rank,
      worldSize,
      exchange: pair ? 'pair-shared' : 'all-reduce',
      floats,
      factored: layers,
      balanced: balance !== null,
    });
    if (spec.balanceShards === true && !balance) ctx.log('info', `balanceShards is set, but only two replicas that share memory balance their shards: each batch is cut evenly`, { job: spec.id });
  }
  let images: DeviceImages | undefined;
  try {
    // Uploaded once; batches are gathered from it on the device (see the module doc).
    images = new DeviceImages(exampleImages(set), n, [set.size, set.size, 3], `job ${spec.id} training set`);
    const batch = cfg.batchSize;
    const stepsPerEpoch = Math.ceil(n / batch);
    const total = stepsPerEpoch * cfg.epochs;
    const throttle = new ProgressThrottle();
    let step = startStep;
    let imagesSince = 0;
    let since = Date.now();
    // The exchanged arrays (this shard's vector, then its loss sum), allocated once per job: a
    // fresh one per step costs 4 B per value of new memory (8.4 MB for the default classifier's gradient:
    // ~35 ms of page faults per step on our VM). Two, used in turn: the gradient's ranges go on the
    // wire while the backward pass still runs (beginAllReduce), and a slower peer may still be
    // receiving one step's array when this replica's sum is done, but never two steps' (it cannot
    // send its next step's gradient, which this replica needs, before it has all of this one's).
    const flats = worldSize > 1 && !ctx.pairExchange ? [new Float32Array(model.exchange.length + 1), new Float32Array(model.exchange.length + 1)] : [];
    const checkpoint = async (s: number) => {
      if (rank !== 0) return;
      const bytes = encodeEnvelope({ job: spec.id, kind: 'classifier', step: s, epochLossSum, epochCount, lastEpochLoss: Number.isFinite(lastEpochLoss) ? lastEpochLoss : null }, await model.checkpoint());
      await ctx.checkpoint(s, bytes);
    };
    for (let epoch = Math.floor(step / stepsPerEpoch); epoch < cfg.epochs; epoch++) {
      const order = epochOrder(spec.seed, epoch, n);
      for (let b = step - epoch * stepsPerEpoch; b < stepsPerEpoch; b++) {
        throwIfAborted(ctx.signal, spec.id);
        const from = b * batch;
        const to = Math.min(n, from + batch);
        const g = to - from;
        // Contiguous shards; a balanced pair cuts where its PairBalance says (rank 0 first).
        const first = balance?.first(g);
        const lo = from + (first === undefined ? Math.floor((g * rank) / worldSize) : rank === 0 ? 0 : first);
        const hi = from + (first === undefined ? Math.floor((g * (rank + 1)) / worldSize) : rank === 0 ? first : g);
        const shard = hi - lo;
        // The shard's place in the global batch (a factored layer's rows, Classifier.exchange).
        const rows = { offset: lo - from, total: g };
        const badLoss = (v: number) => new PermanentJobError(`job ${spec.id}: training loss is ${v} at step ${step + 1} (epoch ${epoch + 1})`);
        let lossSum: number;
        if (worldSize === 1) {
          const x = images.gather(order.subarray(from, to));
          try {
            // Rounded to float32 as the loss sum is when it rides in the exchanged array (and was here before).
            lossSum = Math.fround(model.trainStep(x, labelsOf(set, order, from, to), g).loss * g);
          } finally {
            x.dispose();
          }
          await nextTurn();
        } else if (ctx.pairExchange) {
          // Two replicas sharing memory: the gradients stay on the device, go to the other replica
          // from there, and its come back there, where the two are added (Classifier.pairStep).
          const x = shard > 0 ? images.gather(order.subarray(lo, hi)) : null;
          try {
            const result = await model.pairStep(x, labelsOf(set, order, lo, hi), shard, g, rows, ctx.pairExchange);
            lossSum = result.lossSum;
            if (balance && first !== undefined && g === cfg.batchSize && first > 0 && first < g) {
              const { ours, theirs } = result.passMs;
              balance.observe(first, rank === 0 ? ours : theirs, rank === 0 ? theirs : ours);
            }
          } finally {
            x?.dispose();
          }
        } else {
          const flat = flats[step % 2];
          const last = flat.length - 1;
          const pending = ctx.beginAllReduce(flat);
          if (shard > 0) {
            const x = images.gather(order.subarray(lo, hi));
            try {
              // Each parameter's gradient (and a factored layer's rows, see Classifier.exchange) is
              // read straight into the job's array (no copy) as the pass makes it, and goes on the
              // wire at once; the loss sum rides last.
              const { lossSum: shardLoss } = model.exchangeGradients(x, labelsOf(set, order, lo, hi), shard, g, rows, flat.subarray(0, last), (from, to) => pending.ready(from, to));
              flat[last] = shardLoss;
            } finally {
              x.dispose();
            }
            pending.ready(last, last + 1);
          } else {
            flat.fill(0); // an empty shard (global batch smaller than worldSize) contributes nothing
            pending.ready(0, last + 1);
          }
          const reduced = await pending.finish();
          if (reduced.length !== flat.length) throw new Error(`job ${spec.id}: all-reduce returned ${reduced.length} values, sent ${flat.length}`);
          lossSum = reduced[reduced.length - 1];
          if (!Number.isFinite(lossSum)) throw badLoss(lossSum);
          model.applyExchanged(reduced.subarray(0, reduced.length - 1), g);
        }
        // One trainer learns the loss after its step: the job fails before any checkpoint of that step.
        if (!Number.isFinite(lossSum)) throw badLoss(lossSum);
        epochLossSum += lossSum;
        epochCount += g;
        imagesSince += g;
        step++;
        const endOfEpoch = b === stepsPerEpoch - 1;
        if (throttle.due() || step === total) {
          const now = Date.now();
          ctx.progress({ step, total, losses: { loss: epochLossSum / Math.max(1, epochCount) }, imagesPerSec: (imagesSince * 1000) / Math.max(1, now - since), epoch: epoch + 1 });
          imagesSince = 0;
          since = now;
        }
        if (endOfEpoch) {
          lastEpochLoss = epochLossSum / Math.max(1, epochCount);
          epochLossSum = 0;
          epochCount = 0;
        }
        if (step % spec.checkpointEvery === 0 || step === total) await checkpoint(step);
      }
    }
    const tTrained = Date.now();
    const history = rank === 0 ? balance?.history : null;
    if (balance && history) {
      const [min, max] = history.firstRows;
      const range = min === max ? `${min}` : `${min}-${max}`;
      const ms = balance.msPerRow;
      const costs = ms ? `; per row, the last passes took ${ms[0].toFixed(2)} ms on rank 0, ${ms[1].toFixed(2)} ms on rank 1` : '';
      ctx.log('info', `shards balanced: rank 0 took ${range} of each batch's ${cfg.batchSize} rows, the cut moved ${history.moves} time${history.moves === 1 ? '' : 's'}${costs}`, { job: spec.id, firstRows: [min, max], moves: history.moves, msPerRow: ms });
    }

    const test = ds.test;
    const probs = await model.predict(test.images, test.labels.length);
    const k = ds.classes.length;
    const rows: Float32Array[] = [];
    for (let i = 0; i < test.labels.length; i++) rows.push(probs.subarray(i * k, (i + 1) * k));
    const input = { labels: test.labels, classNames: ds.classes, probs: rows };
    const metrics = evaluate(input);
    let cis: ClassifierJobResult['cis'] = null;
    try {
      const b = bootstrapEvaluation(input);
      const pick = (c: { lower: number; upper: number; confidence: number }) => ({ lower: c.lower, upper: c.upper, confidence: c.confidence });
      cis = { accuracy: pick(b.accuracy), auc: pick(b.auc), balancedAccuracy: pick(b.balancedAccuracy), macroF1: pick(b.macroF1) };
    } catch (err) {
      ctx.log('warn', `no bootstrap intervals (${(err as Error).message})`, { job: spec.id });
    }
    if (rank === 0) {
      await ctx.putArtifact(CLASSIFIER_ARTIFACTS.model, await model.checkpoint());
      await ctx.putArtifact(CLASSIFIER_ARTIFACTS.predictions, new TextEncoder().encode(predictionsCsv(test, probs)));
    }
    const testCounts: Record<string, number> = {};
    for (const c of ds.classes) testCounts[c] = 0;
    for (const l of test.labels) testCounts[ds.classes[l]]++;
    const tEnd = Date.now();
    return {
      ...classifierResultHead(spec),
      counts: set.counts,
      testCounts,
      epochs: cfg.epochs,
      steps: step,
      finalLoss: lastEpochLoss,
      metrics,
      cis,
      durations: { loadMs: tLoaded - t0, trainMs: tTrained - tLoaded, evalMs: tEnd - tTrained, totalMs: tEnd - t0 },
      backend: ctx.backend,
      replicas: worldSize,
      resumed: ctx.resumeFrom !== null,
    };
  } finally {
    model.dispose();
    images?.dispose();
  }
}
