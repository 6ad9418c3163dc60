import { PermanentJobError } from '@gan-study/core';
import { initBackend, restoreClassifier } from '@gan-study/models';
import { countTransfers } from '@gan-study/models/testing';
import { buildPlan, decodeGenerated, encodeGenerated, profileDefaults } from '@gan-study/protocol';
import type { ClassifierJobResult, ClassifierJobSpec, StudyConfig } from '@gan-study/protocol';
import { runJob } from './index';
import { InProcessAllReduce, InProcessPairExchange, MemoryJobContext, fakeDataset } from './testing';
import { JobAbortedError } from './util';

const SIZE = 8;
const dataset = fakeDataset({ train: [24, 20], test: [8, 8] });
const config: StudyConfig = {
  ...profileDefaults('smoke'),
  imageSize: SIZE,
  budgets: [4],
  gans: ['dcgan'],
  ganResolution: { dcgan: SIZE, pggan: SIZE, cyclegan: SIZE },
  classifier: { filters: [2, 4], hidden: [8], epochs: 2, batchSize: 8 },
  checkpointEvery: 3,
};
const plan = buildPlan(config, { classes: ['benign', 'malignant'], train: { benign: 24, malignant: 20 }, test: { benign: 8, malignant: 8 } });
const spec = (id: string) => plan.jobs.find((j) => j.id === id) as ClassifierJobSpec;

jest.setTimeout(120_000);

beforeAll(async () => {
  // The engine's wasm backend (with its training kernels): what trainers without a GPU use, and
  // several times faster than plain JavaScript kernels on these convolutions.
  await initBackend('wasm', { threads: 1 });
});

describe('classifier job', () => {
  it('trains the baseline on majority + budget and evaluates on the test split', async () => {
    const ctx = new MemoryJobContext({ spec: spec('clf-baseline-b4-r0'), dataset });
    const r = (await runJob(ctx)) as ClassifierJobResult;
    expect(r.kind).toBe('classifier');
    expect(r.counts).toEqual({ benign: { real: 24, generated: 0 }, malignant: { real: 4, generated: 0 } });
    expect(r.testCounts).toEqual({ benign: 8, malignant: 8 });
    // 28 examples, batch 8: 4 steps per epoch, 2 epochs.
    expect(r.steps).toBe(8);
    expect(r.metrics.n).toBe(16);
    expect(r.metrics.confusionMatrix.flat().reduce((a, b) => a + b, 0)).toBe(16);
    expect(r.metrics.auc).toBeGreaterThanOrEqual(0);
    expect(Number.isFinite(r.finalLoss)).toBe(true);
    expect(r.cis?.accuracy.confidence).toBe(0.95);
    expect(r.backend).toBe('memory-test');
    expect(ctx.checkpoints.map((c) => c.step)).toEqual([3, 6, 8]);
    expect(ctx.progressEvents.at(-1)).toMatchObject({ step: 8, total: 8 });
    const csv = new TextDecoder().decode(ctx.artifacts.get('clf-baseline-b4-r0/predictions.csv'));
    expect(csv.split('\n')[0]).toBe('label,p_benign,p_malignant');
    expect(csv.trimEnd().split('\n')).toHaveLength(17);
    const model = restoreClassifier(ctx.artifacts.get('clf-baseline-b4-r0/model.bin')!);
    expect(model.config.inputSize).toBe(SIZE);
    model.dispose();
  });

  it('the reference trains on every real image and learns the easy fake classes', async () => {
    const ctx = new MemoryJobContext({ spec: { ...spec('clf-reference-r0'), overrides: { ...config.classifier, epochs: 6 } }, dataset });
    const r = (await runJob(ctx)) as ClassifierJobResult;
    expect(r.counts).toEqual({ benign: { real: 24, generated: 0 }, malignant: { real: 20, generated: 0 } });
    expect(r.metrics.auc).toBeGreaterThan(0.9);
  });

  it('adds the generated images of the GAN jobs it depends on', async () => {
    const s = spec('clf-gan-dcgan-b4-r0');
    expect(s.generated).toEqual([{ job: 'gan-dcgan-b4-malignant', artifact: 'generated.bin', className: 'malignant', count: 16 }]);
    const artifacts = new Map<string, Uint8Array>();
    const images = new Float32Array(16 * SIZE * SIZE * 3).map((_, i) => Math.sin(i) * 0.9);
    artifacts.set('gan-dcgan-b4-malignant/generated.bin', encodeGenerated({ count: 16, size: SIZE, images }));
    const r = (await runJob(new MemoryJobContext({ spec: s, dataset, artifacts }))) as ClassifierJobResult;
    expect(r.counts).toEqual({ benign: { real: 24, generated: 0 }, malignant: { real: 4, generated: 16 } });
    expect(r.steps).toBe(2 * Math.ceil(44 / 8));

    const wrong = new Map([['gan-dcgan-b4-malignant/generated.bin', encodeGenerated({ count: 15, size: SIZE, images: images.subarray(0, 15 * SIZE * SIZE * 3) })]]);
    await expect(runJob(new MemoryJobContext({ spec: s, dataset, artifacts: wrong }))).rejects.toThrow(PermanentJobError);
    await expect(runJob(new MemoryJobContext({ spec: s, dataset, artifacts: wrong }))).rejects.toThrow(/holds 15 images, the plan expects 16/);
    expect(decodeGenerated(artifacts.get('gan-dcgan-b4-malignant/generated.bin')!).count).toBe(16);
  });

  it('multi-class: cuts every minority class to the budget and adds each one\'s generated images', async () => {
    const classes = ['bcc', 'melanoma', 'nevus'];
    const multi = buildPlan({ ...config, minorityClasses: null }, { classes, train: { bcc: 10, melanoma: 12, nevus: 20 }, test: { bcc: 4, melanoma: 4, nevus: 4 } });
    const s = multi.jobs.find((j) => j.id === 'clf-gan-dcgan-b4-r0') as ClassifierJobSpec;
    expect(s.dependsOn).toEqual(['gan-dcgan-b4-bcc', 'gan-dcgan-b4-melanoma']);
    const artifacts = new Map<string, Uint8Array>();
    for (const g of s.generated) {
      artifacts.set(`${g.job}/${g.artifact}`, encodeGenerated({ count: g.count, size: SIZE, images: new Float32Array(g.count * SIZE * SIZE * 3).fill(0.1) }));
    }
    const ds = fakeDataset({ classes, train: [10, 12, 20], test: [4, 4, 4] });
    const r = (await runJob(new MemoryJobContext({ spec: s, dataset: ds, artifacts }))) as ClassifierJobResult;
    expect(r.counts).toEqual({ bcc: { real: 4, generated: 6 }, melanoma: { real: 4, generated: 8 }, nevus: { real: 20, generated: 0 } });
    expect(r.metrics.aucMethod).toBe('macro-ovr');
    expect(Object.keys(r.metrics.rocCurves)).toEqual(classes);
  });

  it('resumed from a checkpoint ends exactly where an uninterrupted run ends', async () => {
    const s = spec('clf-baseline-b4-r0');
    const full = new MemoryJobContext({ spec: s, dataset });
    const a = (await runJob(full)) as ClassifierJobResult;

    const lost = new MemoryJobContext({ spec: s, dataset, abortAfterCheckpoints: 1 });
    await expect(runJob(lost)).rejects.toThrow(JobAbortedError);
    expect(lost.checkpoints.map((c) => c.step)).toEqual([3]);
    const resumed = new MemoryJobContext({ spec: s, dataset, resumeFrom: lost.checkpoints[0].bytes });
    const b = (await runJob(resumed)) as ClassifierJobResult;
    expect(b.resumed).toBe(true);
    expect(b.steps).toBe(a.steps);
    expect(b.metrics).toEqual(a.metrics);
    expect(b.finalLoss).toBeCloseTo(a.finalLoss, 6);
    expect(Buffer.from(resumed.artifacts.get(`${s.id}/model.bin`)!).equals(Buffer.from(full.artifacts.get(`${s.id}/model.bin`)!))).toBe(true);
    expect(resumed.checkpoints.map((c) => c.step)).toEqual([6, 8]);
  });

  it('one trainer keeps the gradients on the device: nothing as large as the gradient is read back', async () => {
    const s = spec('clf-baseline-b4-r0');
    const ctx = new MemoryJobContext({ spec: s, dataset });
    let r: ClassifierJobResult | undefined;
    const t = await countTransfers(async () => (r = (await runJob(ctx)) as ClassifierJobResult));
    const model = restoreClassifier(ctx.artifacts.get(`${s.id}/model.bin`)!);
    const n = model.paramCount;
    model.dispose();
    // Per step the loss (one value); besides, checkpoints read each weight and moment array, and
    // evaluation its probabilities: all smaller than the flat gradient.
    expect(t.reads.filter((k) => k === 1).length).toBeGreaterThanOrEqual(r!.steps);
    expect(Math.max(...t.reads)).toBeLessThan(n);
  });

  it('fails permanently (no retry) on a bad classifier override, naming the key', async () => {
    const s = { ...spec('clf-reference-r0'), overrides: { ...config.classifier, filterz: [2, 4] } };
    const err = await runJob(new MemoryJobContext({ spec: s, dataset })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PermanentJobError);
    expect((err as Error).message).toMatch(/clf-reference-r0: unknown classifier config key 'filterz'/);
  });

  it('refuses a checkpoint of another job', async () => {
    const lost = new MemoryJobContext({ spec: spec('clf-baseline-b4-r0'), dataset, abortAfterCheckpoints: 1 });
    await expect(runJob(lost)).rejects.toThrow(JobAbortedError);
    const other = new MemoryJobContext({ spec: spec('clf-reference-r0'), dataset, resumeFrom: lost.checkpoints[0].bytes });
    await expect(runJob(other)).rejects.toThrow(/belongs to "clf-baseline-b4-r0"/);
  });

  it('two data-parallel replicas end with the weights of one', async () => {
    // Batch 7 over 28 examples: every global batch splits unevenly (3 + 4). hidden 64: fc1 (16 x 64)
    // travels as its factors, 7 x (16 + 64) floats (Classifier.exchange).
    const s = { ...spec('clf-baseline-b4-r0'), replicas: 2, overrides: { ...config.classifier, batchSize: 7, hidden: [64] } };
    const single = new MemoryJobContext({ spec: s, dataset });
    const one = (await runJob(single)) as ClassifierJobResult;
    const reduce = new InProcessAllReduce(2);
    const artifacts = new Map<string, Uint8Array>();
    const ctxs = [0, 1].map((rank) => new MemoryJobContext({ spec: s, dataset, rank, worldSize: 2, allReduce: reduce.forRank(rank), artifacts }));
    let two: ClassifierJobResult[] = [];
    const t = await countTransfers(async () => (two = (await Promise.all(ctxs.map((c) => runJob(c)))) as ClassifierJobResult[]));
    const w1 = restoreClassifier(single.artifacts.get(`${s.id}/model.bin`)!);
    const w2 = restoreClassifier(artifacts.get(`${s.id}/model.bin`)!);
    const a = w1.weightsFlat();
    const b = w2.weightsFlat();
    expect(b.length).toBe(a.length);
    let maxDiff = 0;
    for (let i = 0; i < a.length; i++) maxDiff = Math.max(maxDiff, Math.abs(a[i] - b[i]));
    expect(maxDiff).toBeLessThan(1e-5);
    expect(w2.step).toBe(w1.step);
    // With a peer, each replica reads its shard's vector once per step for the exchange, parameter
    // by parameter as the backward pass finishes them (each range readied at once), then the loss.
    const L = w2.exchange;
    expect(L.factored.map((f) => f.layer)).toEqual(['fc1']);
    for (const c of ctxs) {
      expect(c.readied).toHaveLength(one.steps);
      for (const ranges of c.readied) {
        expect(ranges).toHaveLength(10); // 3 layers' weights and biases, fc1's bias, fc1's x and dz slots, then the loss
        expect(ranges[0]).toEqual([L.factored[0].x, L.factored[0].dz]); // fc1's input, in the forward pass
        expect(ranges[ranges.length - 1]).toEqual([L.length, L.length + 1]);
        expect(ranges.reduce((sum, [from, to]) => sum + to - from, 0)).toBe(L.length + 1);
      }
    }
    const largest = Math.max(...L.gradients.map((g) => g.size)); // the largest parameter exchanged as its gradient
    // (Checkpoints read the same parameter and its Adam moments too: at least, not exactly.)
    expect(t.reads.filter((k) => k === largest).length).toBeGreaterThanOrEqual(2 * one.steps);
    expect(t.reads.filter((k) => k === L.length || k === L.length + 1 || k >= a.length).length).toBe(0); // never the whole vector (or gradient) at once
    expect(L.length).toBeLessThan(a.length); // and it is smaller than the gradient
    w1.dispose();
    w2.dispose();
    expect(two[0].replicas).toBe(2);
    expect(two[0].metrics.accuracy).toBe(one.metrics.accuracy);
    expect(two[1].metrics).toEqual(two[0].metrics);
    expect(two[0].finalLoss).toBeCloseTo(one.finalLoss, 5);
    expect(ctxs[1].checkpoints).toEqual([]);
  });

  it('data-parallel with pairExchange: the bits of the all-reduce path, an empty shard included, without uploading the gradient', async () => {
    // 28 examples in batches of 9: the last batch has one image, so rank 0's shard of it is empty.
    // hidden 64: fc1 travels as its factors (Classifier.exchange).
    const s = { ...spec('clf-baseline-b4-r0'), replicas: 2, overrides: { ...config.classifier, batchSize: 9, hidden: [64] } };
    const run = async (how: 'all-reduce' | 'swap') => {
      const reduce = new InProcessAllReduce(2);
      const pairs = new InProcessPairExchange();
      const artifacts = new Map<string, Uint8Array>();
      const ctxs = [0, 1].map((rank) => new MemoryJobContext({ spec: s, dataset, rank, worldSize: 2, allReduce: reduce.forRank(rank), pairExchange: how === 'swap' ? pairs.forRank(rank) : null, artifacts }));
      let results: ClassifierJobResult[] = [];
      const t = await countTransfers(async () => (results = (await Promise.all(ctxs.map((c) => runJob(c)))) as ClassifierJobResult[]));
      const model = restoreClassifier(artifacts.get(`${s.id}/model.bin`)!);
      const w = model.weightsFlat();
      const layout = model.exchange;
      model.dispose();
      return { w, results, t, calls: pairs.calls, layout, logs: ctxs[0].logs.map((l) => l.msg) };
    };
    const reduced = await run('all-reduce');
    const swapped = await run('swap');
    expect(swapped.results[0].steps).toBe(8);
    // Two replicas, two swaps a step each (fc1's factor rows during the pass, the rest after it).
    expect(swapped.layout.factored.length).toBeGreaterThan(0);
    expect(swapped.calls).toBe(2 * 2 * 8);
    expect(reduced.calls).toBe(0);
    expect(Buffer.from(swapped.w.buffer).equals(Buffer.from(reduced.w.buffer))).toBe(true);
    expect(swapped.results[0].finalLoss).toBe(reduced.results[0].finalLoss);
    expect(swapped.results[1].metrics).toEqual(reduced.results[0].metrics);
    // The all-reduce path uploads the summed vector every step (empty shard or not): the gradients,
    // and the factored layer's x and dz rows of the global batch (9, 9, 9, 1 per epoch). The swap
    // reads the other's onto the heap.
    const L = swapped.layout;
    expect(L.factored.map((f) => f.layer)).toEqual(['fc1']);
    const gradients = L.gradients.reduce((sum, g) => sum + g.size, 0);
    const perRow = L.factored.reduce((sum, f) => sum + f.nin + f.nout, 0);
    const uploaded = 2 * 2 * (4 * gradients + (9 + 9 + 9 + 1) * perRow); // 2 replicas, 2 epochs
    expect(swapped.t.written).toBe(reduced.t.written - uploaded); // the rest (training sets, labels, constants) alike
    // The pair sends its own rows only, 5 of the 9 (the larger shard's), then its loss, pass time and row count.
    expect(L.pairLength).toBe(gradients + 5 * perRow + 3);
    expect(swapped.logs).toContain(`rank 0 of 2, gradients swapped with the other replica through shared memory and summed on the device: ${L.pairLength} floats per step (fc1 as factors)`);
    expect(reduced.logs).toContain(`rank 0 of 2, gradients all-reduced on the host: ${L.length + 1} floats per step (fc1 as factors)`);
    // The trainer and the coordinator put "job <id>: " before a job's lines; the job does not repeat it.
    expect([...swapped.logs, ...reduced.logs].filter((m) => m.startsWith('job '))).toEqual([]);
  });

  it('data-parallel pair with balanceShards: rows move to the faster replica, both replicas cut alike, and the weights are the even cut\'s up to summation order', async () => {
    // 28 examples in batches of 4: 28 whole batches over 4 epochs. Rank 1 spins 15 ms in each
    // swap call, so its pass (which holds the first swap) is far slower than rank 0's.
    const spin = (ms: number) => {
      const until = performance.now() + ms;
      while (performance.now() < until);
    };
    const run = async (balanceShards: boolean) => {
      const s: ClassifierJobSpec = { ...spec('clf-baseline-b4-r0'), replicas: 2, overrides: { ...config.classifier, batchSize: 4, hidden: [64], epochs: 4 }, ...(balanceShards ? { balanceShards: true as const } : {}) };
      const pairs = new InProcessPairExchange();
      const slow = pairs.forRank(1);
      // Floats of each of rank 1's swaps: the first of a step holds fc1's rows, as many as the larger shard's.
      const sent: number[] = [];
      const exchanges = [pairs.forRank(0), (ours: readonly Float32Array[]) => (sent.push(ours.reduce((n, a) => n + a.length, 0)), spin(15), slow(ours))];
      const artifacts = new Map<string, Uint8Array>();
      const reduce = new InProcessAllReduce(2);
      const ctxs = [0, 1].map((rank) => new MemoryJobContext({ spec: s, dataset, rank, worldSize: 2, allReduce: reduce.forRank(rank), pairExchange: exchanges[rank], artifacts }));
      const results = (await Promise.all(ctxs.map((c) => runJob(c)))) as ClassifierJobResult[];
      const model = restoreClassifier(artifacts.get(`${s.id}/model.bin`)!);
      const w = model.weightsFlat();
      model.dispose();
      return { w, results, logs: ctxs.map((c) => c.logs.map((l) => l.msg)), rowsSent: sent.filter((_, i) => i % 2 === 0).map((n) => n / (model.exchange.factored[0].nin + model.exchange.factored[0].nout)) };
    };
    const even = await run(false);
    const balanced = await run(true);
    expect(balanced.results[0].steps).toBe(28);
    expect(balanced.logs[0].some((m) => m.endsWith(', each batch cut where both passes take as long'))).toBe(true);
    // 8 steps to learn the costs, then rank 0 takes 3 of 4 (the most it may: rank 1 keeps a quarter).
    const line = balanced.logs[0].find((m) => m.startsWith('shards balanced: '));
    expect(line).toMatch(/^shards balanced: rank 0 took 2-3 of each batch's 4 rows, the cut moved 1 time; per row, the last passes took [\d.]+ ms on rank 0, [\d.]+ ms on rank 1$/);
    expect(balanced.logs[1].some((m) => m.startsWith('shards balanced: '))).toBe(false); // rank 0 speaks for the job
    // Rank 1's shard went from 2 rows to 1 (its slot of fc1's rows: the larger shard's, 2 then 3).
    expect(even.rowsSent).toEqual(new Array(28).fill(2));
    expect(balanced.rowsSent).toEqual([...new Array(8).fill(2), ...new Array(20).fill(3)]);
    expect(even.logs[0].some((m) => m.startsWith('shards balanced: '))).toBe(false);
    // Both replicas summed the same losses (a replica that cut elsewhere would have failed the step's checks).
    expect(balanced.results[1].finalLoss).toBe(balanced.results[0].finalLoss);
    expect(balanced.results[0].finalLoss).toBeCloseTo(even.results[0].finalLoss, 4);
    // The same gradient, its sum over the batch taken in other pieces: the same weights up to summation order.
    let worst = 0;
    for (let i = 0; i < even.w.length; i++) worst = Math.max(worst, Math.abs(balanced.w[i] - even.w[i]));
    expect(worst).toBeLessThan(1e-5);
  });

  it('data-parallel: two all-reduce arrays per job used in turn, unchanged while a call is in flight, the sum in place or not', async () => {
    const s = { ...spec('clf-baseline-b4-r0'), replicas: 2, overrides: { ...config.classifier, batchSize: 7 } };
    const single = new MemoryJobContext({ spec: s, dataset });
    await runJob(single);
    const reduce = new InProcessAllReduce(2);
    const sent: Float32Array[][] = [[], []];
    const changedInFlight: number[] = [];
    const artifacts = new Map<string, Uint8Array>();
    const ctxs = [0, 1].map(
      (rank) =>
        new MemoryJobContext({
          spec: s,
          dataset,
          rank,
          worldSize: 2,
          artifacts,
          allReduce: async (flat) => {
            sent[rank].push(flat);
            const before = flat.slice();
            const sum = await reduce.forRank(rank)(flat);
            // Another turn or two, as a transport would take: the job must leave flat alone meanwhile.
            await new Promise((r) => setTimeout(r, 1));
            if (flat.some((v, i) => !Object.is(v, before[i]))) changedInFlight.push(rank);
            // Rank 0 gets the sum in place (as from the ring), rank 1 in a new array (as through the coordinator).
            if (rank === 1) return sum;
            flat.set(sum);
            return flat;
          },
        }),
    );
    const two = (await Promise.all(ctxs.map((c) => runJob(c)))) as ClassifierJobResult[];
    expect(changedInFlight).toEqual([]);
    for (const calls of sent) {
      expect(calls).toHaveLength(two[0].steps);
      expect(new Set(calls).size).toBe(2); // two arrays for the whole job, used in turn
      calls.forEach((c, i) => expect(c === calls[i + 1]).toBe(false));
      calls.forEach((c, i) => i >= 2 && expect(c).toBe(calls[i - 2]));
    }
    const w1 = restoreClassifier(single.artifacts.get(`${s.id}/model.bin`)!);
    const w2 = restoreClassifier(artifacts.get(`${s.id}/model.bin`)!);
    const a = w1.weightsFlat();
    const b = w2.weightsFlat();
    let maxDiff = 0;
    for (let i = 0; i < a.length; i++) maxDiff = Math.max(maxDiff, Math.abs(a[i] - b[i]));
    expect(maxDiff).toBeLessThan(1e-5);
    w1.dispose();
    w2.dispose();
  });
});
