import { bootstrapEvaluation, evaluate } from './evaluate';

describe('evaluate', () => {
  it('binary hand-computed case (positive = classNames[1])', () => {
    // scores of "malignant": labels b b m m b m; predictions (s > 0.5): b b b m m m
    const s = [0.1, 0.4, 0.4, 0.8, 0.8, 0.8];
    const ev = evaluate({ labels: [0, 0, 1, 1, 0, 1], classNames: ['benign', 'malignant'], probs: s.map((v) => [1 - v, v]) });
    expect(ev.positiveClass).toBe('malignant');
    expect(ev.aucMethod).toBe('binary');
    expect(ev.n).toBe(6);
    expect(ev.auc).toBeCloseTo(6.5 / 9, 15);
    expect(ev.accuracy).toBeCloseTo(4 / 6, 15);
    expect(ev.confusionMatrix).toEqual([
      [2, 1],
      [1, 2],
    ]);
    expect(ev.balancedAccuracy).toBeCloseTo(2 / 3, 15);
    expect(ev.perClass.malignant).toEqual({ precision: 2 / 3, recall: 2 / 3, f1: 2 / 3, support: 3 });
    expect(ev.macroF1).toBeCloseTo(2 / 3, 15);
    expect(ev.aucPerClass).toBeNull();
    expect(Object.keys(ev.rocCurves)).toEqual(['malignant']);
    expect(ev.rocCurves.malignant.tpr).toEqual([0, 2 / 3, 1, 1]);
  });

  it('multi-class: macro one-vs-rest AUC and one curve per class', () => {
    const ev = evaluate({
      labels: [0, 1, 2, 0, 1, 2],
      classNames: ['bcc', 'melanoma', 'nevus'],
      probs: [
        [0.6, 0.3, 0.1],
        [0.2, 0.5, 0.3],
        [0.1, 0.3, 0.6],
        [0.3, 0.4, 0.3],
        [0.4, 0.3, 0.3],
        [0.3, 0.3, 0.4],
      ],
    });
    expect(ev.positiveClass).toBeNull();
    expect(ev.aucMethod).toBe('macro-ovr');
    expect(ev.aucPerClass).toEqual({ bcc: 6.5 / 8, melanoma: 5.5 / 8, nevus: 1 });
    expect(ev.auc).toBeCloseTo((6.5 / 8 + 5.5 / 8 + 1) / 3, 15);
    // predictions: 0 1 2 1 0 2
    expect(ev.accuracy).toBeCloseTo(4 / 6, 15);
    expect(Object.keys(ev.rocCurves)).toEqual(['bcc', 'melanoma', 'nevus']);
  });

  it.each([
    [{ labels: [1, 1], classNames: ['a', 'b'], probs: [[0.2, 0.8], [0.3, 0.7]] }, 'labels contain one class only'],
    [{ labels: [0, 1], classNames: ['a'], probs: [[1], [1]] }, 'need at least two class names'],
    [{ labels: [0, 1], classNames: ['a', 'a'], probs: [[0.5, 0.5], [0.5, 0.5]] }, "class name 'a' appears twice"],
    [{ labels: [0, 1, 0], classNames: ['a', 'b'], probs: [[0.5, 0.5], [0.5, 0.5]] }, 'labels and probability rows differ in length: 3 vs 2'],
    [{ labels: [0, 1], classNames: ['a', 'b'], probs: [[0.5, 0.5], [0.5, Infinity]] }, 'probabilities of row 1 must be finite numbers; index 1 is Infinity'],
    [{ labels: [0, 1], classNames: ['a', 'b'], probs: [[0.5, 0.5], [1]] }, 'probability row 1 has 1 values, expected 2'],
  ])('rejects bad input %#', (input, message) => {
    expect(() => evaluate(input)).toThrow(message);
  });
});

describe('bootstrapEvaluation', () => {
  const labels = Array.from({ length: 60 }, (_, i) => (i % 3 === 0 ? 1 : 0));
  const probs = labels.map((y, i) => {
    const s = Math.min(1, Math.max(0, 0.3 + 0.3 * y + ((i * 37) % 11) / 25 - 0.2));
    return [1 - s, s];
  });
  const input = { labels, classNames: ['benign', 'malignant'], probs };

  it('gives intervals around the point estimates, reproducible from the seed', () => {
    const ev = evaluate(input);
    const cis = bootstrapEvaluation(input, { resamples: 300, seed: 5 });
    for (const key of ['accuracy', 'auc', 'balancedAccuracy', 'macroF1'] as const) {
      expect(cis[key].lower).toBeLessThanOrEqual(ev[key]);
      expect(cis[key].upper).toBeGreaterThanOrEqual(ev[key]);
      expect(cis[key].upper).toBeGreaterThan(cis[key].lower);
      expect(cis[key].resamples).toBe(300);
    }
    expect(bootstrapEvaluation(input, { resamples: 300, seed: 5 })).toEqual(cis);
    expect(bootstrapEvaluation(input, { resamples: 300, seed: 6 }).auc).not.toEqual(cis.auc);
  });

  it('skips and counts resamples where AUC is undefined', () => {
    // two examples: a resample holds one class with probability 1/2
    const tiny = { labels: [0, 1], classNames: ['a', 'b'], probs: [[0.9, 0.1], [0.2, 0.8]] };
    const cis = bootstrapEvaluation(tiny, { resamples: 200 });
    expect(cis.auc.skipped).toBeGreaterThan(50);
    expect(cis.auc.skipped).toBeLessThan(150);
    expect(cis.auc).toMatchObject({ lower: 1, upper: 1 });
    expect(cis.accuracy.skipped).toBe(0);
  });
});
