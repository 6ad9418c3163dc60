import * as tf from '@tensorflow/tfjs';
import { Rng } from '@gan-study/core';
import { initBackend } from './engine';
import { CLASSIFIER_DEFAULTS, classifierFeatureWidth, createClassifier, describeClassifier, PAIR_STEP_POINTS, resolveClassifierConfig, restoreClassifier, type VectorSwap } from './classifier';
import { countTransfers } from './testing';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

// Training tests run at 8 px (the cpu backend's backward convolutions are slow); shapes at 16 px.
const TINY = { inputSize: 8, filters: [4, 8], hidden: [16], batchSize: 8, lr: 3e-3 };
const S = 8;
const PER = S * S * 3;

/** Toy task: class 1 has a bright 2x2 square in the left half, class 0 in the right half, on noise. */
function toyBatch(rng: Rng, n: number): { x: Float32Array; labels: Int32Array } {
  const x = new Float32Array(n * PER);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const label = rng.int(2);
    labels[i] = label;
    const x0 = label === 1 ? rng.int(3) : 4 + rng.int(3);
    const y0 = rng.int(7);
    for (let p = 0; p < S * S * 3; p++) x[i * PER + p] = rng.uniform(-1, -0.5);
    for (let yy = y0; yy < y0 + 2; yy++) for (let xx = x0; xx < x0 + 2; xx++) for (let c = 0; c < 3; c++) x[i * PER + (yy * S + xx) * 3 + c] = 1;
  }
  return { x, labels };
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('classifier', () => {
  it('gives class probabilities and features of the right shapes, and summaries with the layer shapes', async () => {
    const model = createClassifier({ ...TINY, inputSize: 16 }, 1);
    const x = new Rng(2).fillUniform(new Float32Array(5 * 16 * 16 * 3), -1, 1);
    const p = await model.predict(x, 5, 2);
    expect(p.length).toBe(10);
    for (let i = 0; i < 5; i++) expect(p[2 * i] + p[2 * i + 1]).toBeCloseTo(1, 5);
    const f = await model.features(x, 5);
    expect(model.featureWidth).toBe(16);
    expect(classifierFeatureWidth(TINY)).toBe(16);
    expect(f.length).toBe(5 * 16);
    expect(f.every((v) => v >= 0)).toBe(true); // after ReLU
    const [summary] = model.summary();
    expect(summary.layers.map((l) => [l.name, l.outputShape])).toEqual([
      ['conv1+relu', [1, 16, 16, 4]],
      ['pool1', [1, 8, 8, 4]],
      ['conv2+relu', [1, 8, 8, 8]],
      ['pool2', [1, 4, 4, 8]],
      ['flatten', [1, 128]],
      ['fc1+relu', [1, 16]],
      ['out', [1, 2]],
    ]);
    // conv1 3*4*9+4, conv2 4*8*9+8, fc1 128*16+16, out 16*2+2
    const expected = 112 + 296 + 2064 + 34;
    expect(summary.params).toBe(expected);
    expect(model.paramCount).toBe(expected);
    expect(summary.layers.reduce((s, l) => s + l.params, 0)).toBe(expected);
    model.dispose();
  });

  it('counts the paper-profile widths by hand (at 64 px to stay fast; 224 px only changes fc1)', () => {
    const [s] = describeClassifier({ inputSize: 64 });
    const conv1 = 3 * 32 * 9 + 32;
    const conv2 = 32 * 64 * 9 + 64;
    const fc1 = 16 * 16 * 64 * 128 + 128;
    const out = 128 * 2 + 2;
    expect(s.params).toBe(conv1 + conv2 + fc1 + out);
    expect(s.layers.find((l) => l.name === 'pool2')?.outputShape).toEqual([1, 16, 16, 64]);
    // Odd sizes floor like torch's MaxPool2d(2): 18 -> 9 -> 4.
    expect(describeClassifier({ inputSize: 18, filters: [2, 2], hidden: [3] })[0].layers.find((l) => l.name === 'pool2')?.outputShape).toEqual([1, 4, 4, 2]);
  });

  it('initializes like PyTorch: weights and biases within +-1/sqrt(fanIn)', () => {
    const model = createClassifier(TINY, 3);
    const w = model.weightsFlat();
    // conv1.w is first: fanIn = 3*3*3 = 27; its 108 values span most of the bound.
    const conv1 = w.subarray(0, 108);
    const bound = 1 / Math.sqrt(27);
    expect(Math.max(...conv1.map(Math.abs))).toBeLessThanOrEqual(bound);
    expect(Math.max(...conv1.map(Math.abs))).toBeGreaterThan(0.8 * bound);
    model.dispose();
  });

  it('sums half-batch gradients with the global denominator to the full-batch gradient, and data-parallel steps match', () => {
    const B = 8;
    const { x, labels } = toyBatch(new Rng(5), B);
    const model = createClassifier(TINY, 7);
    const full = model.gradients(x, labels, B, B);
    const a = model.gradients(x.subarray(0, 4 * PER), labels.subarray(0, 4), 4, B);
    const b = model.gradients(x.subarray(4 * PER), labels.subarray(4), 4, B);
    const summed = a.grads.map((g, i) => g + b.grads[i]);
    expect(maxAbsDiff(summed, full.grads)).toBeLessThan(1e-5);
    expect(a.lossSum + b.lossSum).toBeCloseTo(full.lossSum, 4);
    expect(Math.max(...full.grads.map(Math.abs))).toBeGreaterThan(1e-4); // not trivially zero

    // Two replicas: one takes whole-batch steps, the other sums two shards' gradients.
    const single = createClassifier(TINY, 7);
    const sharded = createClassifier(TINY, 7);
    const rng = new Rng(9);
    for (let s = 0; s < 5; s++) {
      const batch = toyBatch(rng, B);
      single.trainStep(batch.x, batch.labels, B);
      const g1 = sharded.gradients(batch.x.subarray(0, 3 * PER), batch.labels.subarray(0, 3), 3, B);
      const g2 = sharded.gradients(batch.x.subarray(3 * PER), batch.labels.subarray(3), 5, B);
      sharded.applyGradients(g1.grads.map((g, i) => g + g2.grads[i]));
    }
    expect(single.step).toBe(5);
    expect(maxAbsDiff(single.weightsFlat(), sharded.weightsFlat())).toBeLessThan(1e-5);
    for (const m of [model, single, sharded]) m.dispose();
  });

  it('pairStep: two replicas end where the host-side sum of their gradients ends, bit for bit (cpu)', async () => {
    await checkPairStep();
  });

  it('reports each parameter\'s gradient as soon as the backward pass finishes it, with the same values (cpu)', () => {
    checkGradientsAsReady();
  });

  it('exchangeGradients: a shard\'s rows of the factored layers, zeros elsewhere, each range reported once as it is written (cpu)', () => {
    checkExchangeAsReady();
  });

  it('exchanges a dense layer as its factors only where they are smaller than its gradient', () => {
    // 64 px, batch 32: fc1 (16384 x 128) as 32 x (16384 + 128) floats; the output layer (128 x 2) as its gradient.
    const big = createClassifier({ inputSize: 64, batchSize: 32 }, 1);
    expect(big.exchange.factored.map((f) => [f.layer, f.nin, f.nout])).toEqual([['fc1', 16384, 128]]);
    expect(big.exchange.length).toBe(big.paramCount - 16384 * 128 + 32 * (16384 + 128));
    expect(big.exchange.length / big.paramCount).toBeLessThan(0.3);
    // Two replicas sharing memory send their own 16 rows of fc1's factors only, then their loss, pass time and row count.
    expect(big.exchange.pairLength).toBe(big.exchange.length - 16 * (16384 + 128) + 3);
    big.dispose();
    // A batch as large as fc1's widths: nothing factored, the vector is the gradient.
    const wide = createClassifier({ ...TINY, batchSize: 64 }, 1);
    expect(wide.exchange.factored).toEqual([]);
    expect(wide.exchange.length).toBe(wide.paramCount);
    expect(wide.exchange.gradients.map((g) => g.offset + g.size).pop()).toBe(wide.paramCount);
    wide.dispose();
  });

  it('gives the same weights for the same seed and different ones for another seed', () => {
    const run = (seed: number) => {
      const m = createClassifier(TINY, seed);
      const rng = new Rng(4);
      for (let s = 0; s < 3; s++) {
        const { x, labels } = toyBatch(rng, 8);
        m.trainStep(x, labels, 8);
      }
      const w = m.weightsFlat();
      m.dispose();
      return w;
    };
    expect(Array.from(run(21))).toEqual(Array.from(run(21)));
    expect(maxAbsDiff(run(21), run(22))).toBeGreaterThan(1e-3);
  });

  it('round-trips a checkpoint and resumes exactly', async () => {
    const rng = new Rng(31);
    const batches = Array.from({ length: 4 }, () => toyBatch(rng, 8));
    const straight = createClassifier(TINY, 30);
    const stopped = createClassifier(TINY, 30);
    for (let s = 0; s < 3; s++) {
      straight.trainStep(batches[s].x, batches[s].labels, 8);
      stopped.trainStep(batches[s].x, batches[s].labels, 8);
    }
    const bytes = await stopped.checkpoint();
    stopped.dispose();
    const resumed = restoreClassifier(bytes);
    expect(resumed.step).toBe(3);
    expect(resumed.config).toEqual(straight.config);
    expect(Array.from(resumed.weightsFlat())).toEqual(Array.from(straight.weightsFlat()));
    const a = straight.trainStep(batches[3].x, batches[3].labels, 8).loss;
    const b = resumed.trainStep(batches[3].x, batches[3].labels, 8).loss;
    expect(Math.abs(a - b)).toBeLessThan(1e-6);
    expect(maxAbsDiff(straight.weightsFlat(), resumed.weightsFlat())).toBeLessThan(1e-6);
    // Replica sync: copying weights makes predictions equal.
    const other = createClassifier(TINY, 77);
    other.setWeightsFlat(straight.weightsFlat());
    const probe = toyBatch(new Rng(1), 3).x;
    expect(Array.from(await other.predict(probe, 3))).toEqual(Array.from(await straight.predict(probe, 3)));
    for (const m of [straight, resumed, other]) m.dispose();
    expect(() => restoreClassifier(new Uint8Array([1, 2]))).toThrow();
  }, 60_000);

  it('rejects bad config and bad input with the value', () => {
    expect(() => resolveClassifierConfig({ inputSze: 16 })).toThrow("unknown classifier config key 'inputSze'");
    expect(() => resolveClassifierConfig({ filters: [8] })).toThrow('classifier filters must be two positive integers (one per conv block), got [8]');
    expect(() => resolveClassifierConfig({ kernelSize: 4 })).toThrow('got 4');
    expect(() => resolveClassifierConfig({ numClasses: 1 })).toThrow('classifier numClasses must be an integer >= 2, got 1');
    expect(() => resolveClassifierConfig({ lr: 0 })).toThrow('classifier lr must be a positive number, got 0');
    expect(resolveClassifierConfig({}).inputSize).toBe(CLASSIFIER_DEFAULTS.inputSize);
    const m = createClassifier(TINY, 1);
    expect(() => m.gradients(new Float32Array(10), new Int32Array(1), 1, 1)).toThrow('got 10');
    expect(() => m.gradients(new Float32Array(PER), new Int32Array([2]), 1, 1)).toThrow('classifier label #0 must be in [0, 2), got 2');
    expect(() => m.applyGradients(new Float32Array(3))).toThrow(`classifier gradient must be a Float32Array of ${m.paramCount} values, got 3`);
    m.dispose();
  });
});

/**
 * gradients() with onReady: the same values as without, every parameter's range reported once, in
 * backward order (the output layer first, the first convolution last), each range filled in before
 * it is reported (a data-parallel job sends it at once).
 */
/**
 * Two VectorSwaps joined in this process: each side's n-th call gets a copy of the other's n-th
 * vector. With `offerNow`, each call also has `now`, which gives the other's vector when the other
 * has made its n-th call already (as PeerLink.swap, from the file's mark); `taken` counts those.
 */
function pairOfSwaps(offerNow = false): [VectorSwap, VectorSwap] & { taken: number } {
  const sent: Array<Array<(v: Float32Array) => void>> = [[], []];
  const waiting: Array<Array<Promise<Float32Array>>> = [[], []];
  const made: Array<Array<Float32Array>> = [[], []];
  const slot = (side: number, call: number): Promise<Float32Array> => {
    while (waiting[side].length <= call) waiting[side].push(new Promise((resolve) => sent[side].push(resolve)));
    return waiting[side][call];
  };
  const calls = [0, 0];
  const reader = (theirs: Float32Array) => ({
    readInto: (segments: readonly Float32Array[]) => {
      let k = 0;
      for (const s of segments) {
        s.set(theirs.subarray(k, k + s.length));
        k += s.length;
      }
      expect(k).toBe(theirs.length);
    },
  });
  const swap =
    (side: number): VectorSwap =>
    (ours) => {
      const call = calls[side]++;
      const copy = new Float32Array(ours.reduce((n, s) => n + s.length, 0));
      let at = 0;
      for (const s of ours) {
        copy.set(s, at);
        at += s.length;
      }
      slot(side, call);
      sent[side][call](copy);
      made[side][call] = copy;
      const pending = slot(1 - side, call).then(reader);
      if (!offerNow) return pending;
      return Object.assign(pending, {
        now: () => {
          const theirs = made[1 - side][call];
          if (!theirs) return null;
          pair.taken++;
          return reader(theirs);
        },
      });
    };
  const pair = Object.assign([swap(0), swap(1)] as [VectorSwap, VectorSwap], { taken: 0 });
  return pair;
}

/**
 * pairStep on two replicas ends bit for bit where `exchangeGradients` of both shards, summed on the
 * host (in float32), then `applyExchanged` ends, with the same loss sums, and close to one trainer's
 * trainStep on the whole batch (fc1 goes as its factors); a short last batch (fewer rows than
 * batchSize) alike; an empty shard adds zeros (the other replica's step equals a trainStep on the
 * whole batch, bit for bit); no tensor is left behind.
 */
async function checkPairStep(offerNow = false): Promise<void> {
  const B = 8;
  const cfg = { ...TINY, hidden: [32] };
  const [a, b, viaHost, single] = [0, 1, 2, 3].map(() => createClassifier(cfg, 17));
  const L = viaHost.exchange;
  expect(L.factored.map((f) => f.layer)).toEqual(['fc1']); // 8 x (32 + 32) < 32 x 32; out (32 x 2) is not worth it
  expect(L.length).toBe(viaHost.paramCount - 32 * 32 + B * (32 + 32));
  const swaps = pairOfSwaps(offerNow);
  const [swapA, swapB] = swaps;
  const rng = new Rng(18);
  let tensors = -1;
  for (let s = 0; s < 5; s++) {
    const g = s === 4 ? 6 : B; // the last: a short batch
    const { x, labels } = toyBatch(rng, g);
    const rowsA = { offset: 0, total: g };
    const rowsB = { offset: 3, total: g };
    const [ra, rb] = await Promise.all([
      a.pairStep(x.subarray(0, 3 * PER), labels.subarray(0, 3), 3, g, rowsA, swapA),
      b.pairStep(x.subarray(3 * PER), labels.subarray(3), g - 3, g, rowsB, swapB),
    ]);
    const [v1, v2] = [0, 1].map(() => new Float32Array(L.length).fill(NaN));
    const g1 = viaHost.exchangeGradients(x.subarray(0, 3 * PER), labels.subarray(0, 3), 3, g, rowsA, v1);
    const g2 = viaHost.exchangeGradients(x.subarray(3 * PER), labels.subarray(3), g - 3, g, rowsB, v2);
    expect(v1.some(Number.isNaN) || v2.some(Number.isNaN)).toBe(false); // every value written, zeros included
    viaHost.applyExchanged(v1.map((v, i) => v + v2[i]), g);
    single.trainStep(x, labels, g);
    const fr = Math.fround;
    expect(ra.lossSum).toBe(fr(fr(g1.lossSum) + fr(g2.lossSum)));
    expect(rb.lossSum).toBe(ra.lossSum);
    // Each holds both passes' times, float32, its own as `ours`: the same two numbers on both.
    expect(ra.passMs.ours).toBeGreaterThan(0);
    expect(ra.passMs.theirs).toBeGreaterThan(0);
    expect(Math.fround(ra.passMs.ours)).toBe(ra.passMs.ours);
    expect(rb.passMs).toEqual({ ours: ra.passMs.theirs, theirs: ra.passMs.ours });
    if (s === 0) tensors = tf.memory().numTensors;
    else expect(tf.memory().numTensors).toBe(tensors);
  }
  const w = viaHost.weightsFlat();
  expect(a.step).toBe(5);
  expect(maxAbsDiff(w, createClassifier(cfg, 17).weightsFlat())).toBeGreaterThan(1e-4); // the steps moved the weights
  expect(Array.from(a.weightsFlat())).toEqual(Array.from(w));
  expect(Array.from(b.weightsFlat())).toEqual(Array.from(w));
  expect(maxAbsDiff(single.weightsFlat(), w)).toBeLessThan(1e-5);
  // Replica b runs after a's first wait: it takes both of a's vectors at once; a waits for b's first,
  // which comes with b's second: a takes that one at once. Three a step.
  if (offerNow) expect(swaps.taken).toBe(5 * 3);

  // An empty shard on one replica: the other's whole-batch gradient plus zeros, i.e. a trainStep.
  const [c, d, whole] = [0, 1, 2].map(() => createClassifier(cfg, 19));
  const [swapC, swapD] = pairOfSwaps();
  const { x, labels } = toyBatch(rng, B);
  const all = { offset: 0, total: B };
  const [empty, full] = await Promise.all([c.pairStep(null, labels.subarray(0, 0), 0, B, all, swapC), d.pairStep(x, labels, B, B, all, swapD)]);
  const loss = whole.trainStep(x, labels, B).loss;
  expect(empty.lossSum).toBe(full.lossSum);
  expect(full.lossSum / B).toBeCloseTo(loss, 5);
  expect(Array.from(c.weightsFlat())).toEqual(Array.from(whole.weightsFlat()));
  expect(Array.from(d.weightsFlat())).toEqual(Array.from(whole.weightsFlat()));
  await expect(c.pairStep(null, labels, 3, B, all, swapC)).rejects.toThrow('classifier input must be a Float32Array of 3 x 8x8x3 = 576 values, got 0');
  await expect(c.pairStep(x, labels, 3, B, { offset: 6, total: B }, swapC)).rejects.toThrow('classifier shard rows: 3 rows at offset 6 must lie within a global batch of 8 rows, at most batchSize 8');

  // Two replicas that cut the batch in different places (3 | 5 here, 5 | 3 there: rows 3-4 in neither shard) fail, both.
  const [e, f] = [0, 1].map(() => createClassifier(cfg, 19));
  const [swapE, swapF] = pairOfSwaps();
  const cutApart = await Promise.allSettled([e.pairStep(x.subarray(0, 3 * PER), labels.subarray(0, 3), 3, B, all, swapE), f.pairStep(x.subarray(5 * PER), labels.subarray(5), 3, B, { offset: 5, total: B }, swapF)]);
  expect(cutApart.map((r) => (r.status === 'rejected' ? (r.reason as Error).message : 'resolved'))).toEqual([
    'classifier pairStep: this replica took 3 rows at offset 0 of a global batch of 8, which leaves the other 5, but the other took 3: the two cut the batch in different places',
    'classifier pairStep: this replica took 3 rows at offset 5 of a global batch of 8, which leaves the other 5, but the other took 3: the two cut the batch in different places',
  ]);
  for (const m of [a, b, viaHost, single, c, d, whole, e, f]) m.dispose();
}

/** exchangeGradients reports every range of its vector once, the factors' x slot before any gradient, with the values it gives without reporting. */
function checkExchangeAsReady(): void {
  const B = 8;
  const { x, labels } = toyBatch(new Rng(16), B);
  const model = createClassifier(TINY, 3);
  const L = model.exchange;
  expect(L.factored.map((f) => f.layer)).toEqual(['fc1']);
  const rows = { offset: 2, total: B };
  const plain = new Float32Array(L.length);
  const p = model.exchangeGradients(x.subarray(2 * PER, 6 * PER), labels.subarray(2, 6), 4, B, rows, plain);
  const into = new Float32Array(L.length).fill(NaN);
  const ranges: Array<[number, number]> = [];
  const early = model.exchangeGradients(x.subarray(2 * PER, 6 * PER), labels.subarray(2, 6), 4, B, rows, into, (from, to) => {
    for (let i = from; i < to; i++) if (Number.isNaN(into[i])) throw new Error(`value ${i} reported before it was written`);
    ranges.push([from, to]);
  });
  expect(Buffer.from(into.buffer).equals(Buffer.from(plain.buffer))).toBe(true);
  expect(early.lossSum).toBe(p.lossSum);
  const sorted = [...ranges].sort((r, q) => r[0] - q[0]);
  expect(sorted[0][0]).toBe(0);
  for (let i = 1; i < sorted.length; i++) expect(sorted[i][0]).toBe(sorted[i - 1][1]); // no gap, no overlap
  expect(sorted[sorted.length - 1][1]).toBe(L.length);
  const f = L.factored[0];
  expect(ranges[0]).toEqual([f.x, f.x + B * f.nin]); // the layer's input, during the forward pass
  // This shard's rows of the x slot hold fc1's input, the others zeros.
  expect(into.subarray(f.x, f.x + 2 * f.nin).every((v) => v === 0)).toBe(true);
  expect(into.subarray(f.x + 6 * f.nin, f.x + B * f.nin).every((v) => v === 0)).toBe(true);
  expect(into.subarray(f.x + 2 * f.nin, f.x + 6 * f.nin).some((v) => v !== 0)).toBe(true);
  expect(() => model.exchangeGradients(x, labels, B, B, rows, into)).toThrow('classifier shard rows: 8 rows at offset 2 must lie within a global batch of 8 rows');
  expect(() => model.exchangeGradients(x, labels, B, B, { offset: 0, total: B }, new Float32Array(3))).toThrow(`'into' must be a Float32Array of ${L.length} values (exchange.length), got 3`);
  expect(() => model.applyExchanged(new Float32Array(3), B)).toThrow(`exchanged vector must be a Float32Array of ${L.length} values`);
  model.dispose();
}

function checkGradientsAsReady(): void {
  const B = 8;
  const { x, labels } = toyBatch(new Rng(15), B);
  const model = createClassifier(TINY, 3);
  const plain = model.gradients(x, labels, B, B);
  const into = new Float32Array(model.paramCount).fill(NaN);
  const ranges: Array<[number, number]> = [];
  const early = model.gradients(x, labels, B, B, into, (from, to) => {
    for (let i = from; i < to; i++) if (Number.isNaN(into[i])) throw new Error(`value ${i} reported before it was written`);
    ranges.push([from, to]);
  });
  expect(early.grads).toBe(into);
  expect(Buffer.from(into.buffer).equals(Buffer.from(plain.grads.buffer))).toBe(true);
  expect(early.lossSum).toBe(plain.lossSum);
  // Parameters in creation order: conv1.w, conv1.b, conv2.w, conv2.b, fc1.w, fc1.b, out.w, out.b.
  const sizes = [3 * 3 * 3 * 4, 4, 3 * 3 * 4 * 8, 8, 2 * 2 * 8 * 16, 16, 16 * 2, 2];
  const starts = sizes.map((_, i) => sizes.slice(0, i).reduce((a, b) => a + b, 0));
  const params = sizes.map((n, i): [number, number] => [starts[i], starts[i] + n]);
  expect([...ranges].sort((a, b) => a[0] - b[0])).toEqual(params);
  const order = ranges.map(([from]) => starts.indexOf(from));
  expect(order.slice(0, 2).sort()).toEqual([6, 7]); // the output layer's, first
  expect(order.slice(-2).sort()).toEqual([0, 1]); // conv1's, last
  model.dispose();
}

describe('classifier on wasm', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  it('reports each parameter\'s gradient as soon as the backward pass finishes it, with the same values (wasm)', () => {
    checkGradientsAsReady();
  });

  it('pairStep: two replicas end where the host-side sum of their gradients ends, bit for bit (wasm)', async () => {
    await checkPairStep();
  });

  it('pairStep takes a vector that has come at once (the swap\'s now), with the same bits (wasm)', async () => {
    await checkPairStep(true);
  });

  it('exchangeGradients: a shard\'s rows of the factored layers, zeros elsewhere, each range reported once as it is written (wasm)', () => {
    checkExchangeAsReady();
  });

  it('pairStep on wasm reads the gradient from the heap and writes the other replica\'s onto it: no upload of the gradient', async () => {
    const cfg = { ...TINY, hidden: [256] };
    const [a, b] = [0, 1].map(() => createClassifier(cfg, 43));
    const [swapA, swapB] = pairOfSwaps();
    const { x, labels } = toyBatch(new Rng(44), 8);
    const xa = tf.tensor4d(x.subarray(0, 4 * PER), [4, S, S, 3]);
    const xb = tf.tensor4d(x.subarray(4 * PER), [4, S, S, 3]);
    const n = a.paramCount;
    const L = a.exchange;
    let other: Promise<unknown> = Promise.resolve();
    const t = await countTransfers(async () => {
      other = b.pairStep(xb, labels.subarray(4), 4, 8, { offset: 4, total: 8 }, swapB);
      await a.pairStep(xa, labels.subarray(0, 4), 4, 8, { offset: 0, total: 8 }, swapA);
    });
    await other;
    expect(n).toBeGreaterThan(9000);
    expect(L.factored.map((f) => f.layer)).toEqual(['fc1']);
    // Read (heap views), by both replicas (they ran inside): each gradient, the loss, and the shard's
    // 4 rows of fc1's factors twice (sent, then added into the merged slots).
    const gradients = L.gradients.reduce((sum, g) => sum + g.size, 0);
    const rows = L.factored.reduce((sum, f) => sum + 4 * (f.nin + f.nout), 0);
    expect(t.read).toBe(2 * (gradients + 1 + 2 * rows));
    // Written: labels and the ops' scalar constants only; the other's vector went straight onto the heap.
    expect(t.written).toBeLessThan(n / 10);
    expect(Array.from(a.weightsFlat())).toEqual(Array.from(b.weightsFlat()));
    tf.dispose([xa, xb]);
    a.dispose();
    b.dispose();
  });

  it('pairStep swaps twice: the factored layers\' rows first, then the gradients and the loss, and reads the first only once both are sent; it marks each of its points in turn', async () => {
    const [a, b] = [0, 1].map(() => createClassifier(TINY, 45));
    const events: string[][] = [[], []];
    const recording = (swap: VectorSwap, side: number): VectorSwap => (ours) => {
      const n = ours.reduce((k, o) => k + o.length, 0);
      const call = events[side].filter((e) => e.startsWith('send')).length;
      events[side].push(`send ${n}`);
      return swap(ours).then((incoming) => ({
        readInto: (segments) => {
          events[side].push(`read ${call}`);
          incoming.readInto(segments);
        },
      }));
    };
    const [swapA, swapB] = pairOfSwaps();
    const { x, labels } = toyBatch(new Rng(46), 8);
    await Promise.all([
      a.pairStep(x.subarray(0, 4 * PER), labels.subarray(0, 4), 4, 8, { offset: 0, total: 8 }, recording(swapA, 0), (p) => events[0].push(p)),
      b.pairStep(x.subarray(4 * PER), labels.subarray(4), 4, 8, { offset: 4, total: 8 }, recording(swapB, 1), (p) => events[1].push(p)),
    ]);
    const L = a.exchange;
    const factorRows = L.factored.reduce((k, f) => k + 4 * (f.nin + f.nout), 0);
    const gradients = L.gradients.reduce((k, g) => k + g.size, 0);
    expect(factorRows).toBeGreaterThan(0);
    for (const e of events) {
      // The second: the gradients, then the loss sum, the pass's time and the shard's rows.
      expect(e).toEqual(['rows-ready', `send ${factorRows}`, 'rows-sent', 'pass-done', `send ${gradients + 3}`, 'gradients-sent', 'rows-in', 'read 0', 'rows-merged', 'rows-applied', 'gradients-in', 'read 1', 'done']);
      expect(e.filter((p) => !/^(send|read) /.test(p))).toEqual([...PAIR_STEP_POINTS]);
    }
    expect(Array.from(a.weightsFlat())).toEqual(Array.from(b.weightsFlat()));
    a.dispose();
    b.dispose();
  });

  it('is deterministic on wasm: same seed, same weights after N steps', () => {
    const run = (seed: number) => {
      const m = createClassifier(TINY, seed);
      const rng = new Rng(4);
      for (let s = 0; s < 3; s++) {
        const { x, labels } = toyBatch(rng, 8);
        m.trainStep(x, labels, 8);
      }
      const w = m.weightsFlat();
      m.dispose();
      return w;
    };
    expect(Array.from(run(21))).toEqual(Array.from(run(21)));
    expect(maxAbsDiff(run(21), run(22))).toBeGreaterThan(1e-3);
  });

  it('trainStep keeps the gradient on the device (one value read back per step) and ends with the weights of gradients + applyGradients', async () => {
    // A wider hidden layer (~9k parameters), so the gradient dwarfs the per-step constants.
    const cfg = { ...TINY, hidden: [256] };
    const device = createClassifier(cfg, 41);
    const viaHost = createClassifier(cfg, 41);
    const rng = new Rng(42);
    const batches = Array.from({ length: 4 }, () => toyBatch(rng, 8));
    // The batches are on the device already, as the jobs gather them, so the counts are the steps' own.
    const xs = batches.map((b) => tf.tensor4d(b.x, [8, S, S, 3]));
    const deviceLosses: number[] = [];
    const hostLosses: number[] = [];
    const onDevice = await countTransfers(() => batches.forEach((b, i) => deviceLosses.push(device.trainStep(xs[i], b.labels, 8).loss)));
    const roundTrip = await countTransfers(() =>
      batches.forEach((b, i) => {
        const { lossSum, grads } = viaHost.gradients(xs[i], b.labels, 8, 8);
        viaHost.applyGradients(grads);
        hostLosses.push(lossSum / 8);
      }),
    );
    const n = device.paramCount;
    expect(onDevice.reads).toEqual([1, 1, 1, 1]); // the loss, once per step
    expect(roundTrip.reads).toEqual([n + 1, n + 1, n + 1, n + 1]); // gradient + loss
    // Up: labels and the ops' scalar constants only (~100 a step, whatever the model's size); the
    // flat path uploads the gradient again.
    expect(n).toBeGreaterThan(9000);
    expect(onDevice.written).toBeLessThan(n / 10);
    expect(roundTrip.written).toBeGreaterThan(4 * n);
    expect(device.step).toBe(4);
    expect(Array.from(device.weightsFlat())).toEqual(Array.from(viaHost.weightsFlat()));
    // With the addon's Adam (initBackend registers it here), fc1 (factored at this batch) goes to
    // the update as its factors: the tape makes one product fewer than for the flat gradient.
    expect(device.exchange.factored.map((f) => f.layer)).toEqual(['fc1']);
    const products = async (f: () => void) => (await tf.profile(f)).kernels.filter((k) => k.name === 'BatchMatMul').length;
    const inStep = await products(() => device.trainStep(xs[0], batches[0].labels, 8));
    expect(inStep).toBe((await products(() => viaHost.gradients(xs[0], batches[0].labels, 8, 8))) - 1);
    deviceLosses.forEach((l, i) => expect(l).toBeCloseTo(hostLosses[i], 6));
    // The caller's batch tensors are not disposed.
    expect(xs.every((x) => !x.isDisposed)).toBe(true);
    expect(() => device.trainStep(xs[0], batches[0].labels, 7)).toThrow('classifier input tensor must be float32 [7, 8, 8, 3], got float32 [8, 8, 8, 3]');
    tf.dispose(xs);
    device.dispose();
    viaHost.dispose();
  });

  it('learns a toy problem, without leaking tensors per step', async () => {
    const model = createClassifier(TINY, 11);
    const rng = new Rng(12);
    const test = toyBatch(new Rng(99), 64);
    const accuracy = async () => {
      const p = await model.predict(test.x, 64);
      let right = 0;
      for (let i = 0; i < 64; i++) if ((p[2 * i + 1] > p[2 * i] ? 1 : 0) === test.labels[i]) right++;
      return right / 64;
    };
    const before = await accuracy();
    const losses: number[] = [];
    let tensors = 0;
    for (let s = 0; s < 40; s++) {
      const { x, labels } = toyBatch(rng, 8);
      losses.push(model.trainStep(x, labels, 8).loss);
      if (s === 0) tensors = tf.memory().numTensors;
      if (s === 1) expect(tf.memory().numTensors).toBe(tensors);
    }
    expect(losses.every(Number.isFinite)).toBe(true);
    const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
    expect(mean(losses.slice(-10))).toBeLessThan(0.5 * mean(losses.slice(0, 10)));
    const after = await accuracy();
    expect(after).toBeGreaterThanOrEqual(0.9);
    expect(after).toBeGreaterThan(before);
    model.dispose();
  }, 120_000);
});
