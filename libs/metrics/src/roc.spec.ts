import { macroOvrAuc, ovrAucPerClass, rocAuc, rocCurve } from './roc';
import { mulberry32 } from './stats';

/** The Mann-Whitney definition, O(P*N): every positive/negative pair, a tie counting 1/2. */
function pairwiseAuc(y: number[], s: number[]): number {
  let sum = 0;
  let pairs = 0;
  for (let i = 0; i < y.length; i++) {
    if (y[i] !== 1) continue;
    for (let j = 0; j < y.length; j++) {
      if (y[j] !== 0) continue;
      pairs++;
      sum += s[i] > s[j] ? 1 : s[i] === s[j] ? 0.5 : 0;
    }
  }
  return sum / pairs;
}

describe('ROC AUC (Mann-Whitney, ties 1/2)', () => {
  it.each([
    { y: [0, 0, 1, 1], s: [0.1, 0.4, 0.35, 0.8], expected: 3 / 4 },
    { y: [0, 1], s: [0.5, 0.5], expected: 1 / 2 },
    { y: [0, 1], s: [0.9, 0.1], expected: 0 },
    // positives .4 .8 .8 vs negatives .1 .4 .8: (1 + .5 + 0) + 2 * (1 + 1 + .5) = 6.5 of 9
    { y: [0, 0, 1, 1, 0, 1], s: [0.1, 0.4, 0.4, 0.8, 0.8, 0.8], expected: 6.5 / 9 },
    // every score tied
    { y: [1, 0, 0, 1, 0], s: [3, 3, 3, 3, 3], expected: 1 / 2 },
    // unnormalized scores work too: ranking is all that matters
    { y: [0, 1, 0, 1], s: [-5, 12, 7, 7], expected: (1 + 1 + 1 + 0.5) / 4 },
  ])('case $#: $expected', ({ y, s, expected }) => {
    expect(rocAuc(y, s)).toBeCloseTo(expected, 15);
    expect(pairwiseAuc(y, s)).toBeCloseTo(expected, 15);
  });

  it('equals the pairwise definition on random tied data', () => {
    const rng = mulberry32(7);
    for (let trial = 0; trial < 20; trial++) {
      const n = 5 + Math.floor(rng() * 60);
      const y = Array.from({ length: n }, (_, i) => (i < 2 ? i : rng() < 0.4 ? 1 : 0));
      const s = y.map((v) => Math.round((rng() + 0.3 * v) * 6) / 6);
      expect(rocAuc(y, s)).toBeCloseTo(pairwiseAuc(y, s), 12);
    }
  });

  it.each([
    { y: [1, 1, 1], s: [0.1, 0.2, 0.3], message: 'labels contain one class only (every label is 1)' },
    { y: [0, 1, 0], s: [0.1, 0.2], message: 'labels and scores differ in length: 3 vs 2' },
    { y: [0, 1, 0], s: [0.1, NaN, 0.3], message: 'scores must be finite numbers; index 1 is NaN' },
    { y: [0, 1, 0], s: [0.1, 0.2, Infinity], message: 'scores must be finite numbers; index 2 is Infinity' },
    { y: [0, 2, 1], s: [0.1, 0.2, 0.3], message: 'labels must be class indices in 0..1; index 1 is 2' },
  ])('rejects bad input: $message', ({ y, s, message }) => {
    expect(() => rocAuc(y, s)).toThrow(message);
  });
});

describe('ROC curve (scikit-learn roc_curve, drop_intermediate=False)', () => {
  it('one point per distinct score, highest first, from (0,0) to (1,1)', () => {
    const c = rocCurve([0, 0, 1, 1, 0, 1], [0.1, 0.4, 0.4, 0.8, 0.8, 0.8]);
    expect(c.thresholds).toEqual([Infinity, 0.8, 0.4, 0.1]);
    // score >= .8: tp 2 of 3, fp 1 of 3; >= .4: tp 3, fp 2; >= .1: everything
    expect(c.tpr).toEqual([0, 2 / 3, 1, 1]);
    expect(c.fpr).toEqual([0, 1 / 3, 2 / 3, 1]);
  });

  it('its trapezoidal area equals rocAuc', () => {
    const y = [1, 0, 1, 1, 0, 0, 1, 0];
    const s = [0.9, 0.9, 0.7, 0.3, 0.3, 0.2, 0.1, 0.05];
    const c = rocCurve(y, s);
    let area = 0;
    for (let i = 1; i < c.fpr.length; i++) area += ((c.fpr[i] - c.fpr[i - 1]) * (c.tpr[i] + c.tpr[i - 1])) / 2;
    expect(area).toBeCloseTo(rocAuc(y, s), 15);
  });
});

describe('macro one-vs-rest AUC', () => {
  it('is the mean of the per-class one-vs-rest AUCs (hand-computed)', () => {
    const labels = [0, 1, 2, 0, 1, 2];
    const probs = [
      [0.6, 0.3, 0.1], // 0
      [0.2, 0.5, 0.3], // 1
      [0.1, 0.3, 0.6], // 2
      [0.3, 0.4, 0.3], // 0
      [0.4, 0.3, 0.3], // 1
      [0.3, 0.3, 0.4], // 2
    ];
    // class 0: pos .6 .3 vs neg .2 .1 .4 .3 -> (1+1+1+1) + (1+1+0+.5) = 6.5 of 8
    // class 1: pos .5 .3 vs neg .3 .3 .4 .3 -> (1+1+1+1) + (.5+.5+0+.5) = 5.5 of 8
    // class 2: pos .6 .4 vs neg .1 .3 .3 .3 -> 4 + 4 = 8 of 8
    expect(ovrAucPerClass(labels, probs, 3)).toEqual([6.5 / 8, 5.5 / 8, 1]);
    expect(macroOvrAuc(labels, probs, 3)).toBeCloseTo((6.5 / 8 + 5.5 / 8 + 1) / 3, 15);
  });

  it('rejects a class with no examples, and a row of the wrong width', () => {
    expect(() => macroOvrAuc([0, 1, 0], [[0.5, 0.3, 0.2], [0.2, 0.5, 0.3], [0.6, 0.2, 0.2]], 3)).toThrow(
      'one-vs-rest AUC of class 2 is undefined: no label is class 2',
    );
    expect(() => macroOvrAuc([0, 1, 2], [[0.5, 0.5], [0.2, 0.5, 0.3], [0.6, 0.2, 0.2]], 3)).toThrow(
      'probability row 0 has 2 values, expected 3',
    );
  });
});
