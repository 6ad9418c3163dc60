import {
  accuracy,
  argmaxPredictions,
  balancedAccuracy,
  confusionMatrix,
  perClassMetrics,
} from './classification';
import { MetricsInputError } from './errors';

describe('accuracy', () => {
  it.each([
    { yTrue: [0, 1, 1, 0], yPred: [0, 1, 0, 0], expected: 3 / 4 },
    { yTrue: [2, 2, 1], yPred: [2, 2, 1], expected: 1 },
    { yTrue: [0, 1], yPred: [1, 0], expected: 0 },
  ])('$yTrue vs $yPred = $expected', ({ yTrue, yPred, expected }) => {
    expect(accuracy(yTrue, yPred)).toBe(expected);
  });

  it('rejects mismatched lengths, naming both', () => {
    expect(() => accuracy([0, 1], [0])).toThrow('labels and predictions differ in length: 2 vs 1');
  });
});

describe('confusion matrix (rows true, columns predicted)', () => {
  it.each([
    { yTrue: [0, 0, 1, 1], yPred: [0, 1, 1, 1], k: 2, expected: [[1, 1], [0, 2]] },
    { yTrue: [0, 1, 2, 2, 1], yPred: [0, 2, 2, 1, 1], k: 3, expected: [[1, 0, 0], [0, 1, 1], [0, 1, 1]] },
    { yTrue: [0, 0], yPred: [0, 0], k: 3, expected: [[2, 0, 0], [0, 0, 0], [0, 0, 0]] },
  ])('case $#', ({ yTrue, yPred, k, expected }) => {
    expect(confusionMatrix(yTrue, yPred, k)).toEqual(expected);
  });

  it('rejects a label outside 0..k-1 with its index', () => {
    expect(() => confusionMatrix([0, 1, 3], [0, 1, 1], 2)).toThrow('labels must be class indices in 0..1; index 2 is 3');
    expect(() => confusionMatrix([0, 1], [0, 1.5], 2)).toThrow(MetricsInputError);
  });
});

describe('per-class precision, recall, F1 (zero_division = 0)', () => {
  it('hand-computed three-class case', () => {
    // true 0: predicted 0,0,1 ; true 1: predicted 1,2 ; true 2: predicted 2
    const m = perClassMetrics([0, 0, 0, 1, 1, 2], [0, 0, 1, 1, 2, 2], 3);
    // class 0: tp 2 fp 0 fn 1 -> P 1, R 2/3, F1 4/5
    expect(m[0].precision).toBe(1);
    expect(m[0].recall).toBeCloseTo(2 / 3, 15);
    expect(m[0].f1).toBeCloseTo(4 / 5, 15);
    expect(m[0].support).toBe(3);
    // class 1: tp 1 fp 1 fn 1 -> 1/2, 1/2, 1/2
    expect(m[1]).toEqual({ precision: 0.5, recall: 0.5, f1: 0.5, support: 2 });
    // class 2: tp 1 fp 1 fn 0 -> P 1/2, R 1, F1 2/3
    expect(m[2].precision).toBe(0.5);
    expect(m[2].recall).toBe(1);
    expect(m[2].f1).toBeCloseTo(2 / 3, 15);
  });

  it('a class never predicted has precision 0; a class absent from the labels has recall 0 and support 0', () => {
    const m = perClassMetrics([0, 0, 1], [0, 0, 0], 3);
    expect(m[1]).toEqual({ precision: 0, recall: 0, f1: 0, support: 1 });
    expect(m[2]).toEqual({ precision: 0, recall: 0, f1: 0, support: 0 });
  });
});

describe('balanced accuracy', () => {
  it.each([
    // recalls 1/2 and 1 -> 3/4
    { yTrue: [0, 0, 1, 1], yPred: [0, 1, 1, 1], k: 2, expected: 0.75 },
    // imbalanced: all predicted 0 -> recalls 1 and 0
    { yTrue: [0, 0, 0, 0, 1], yPred: [0, 0, 0, 0, 0], k: 2, expected: 0.5 },
    // class 2 absent from labels is left out of the mean (recalls 1, 1/2)
    { yTrue: [0, 1, 1], yPred: [0, 1, 2], k: 3, expected: 0.75 },
  ])('case $#: $expected', ({ yTrue, yPred, k, expected }) => {
    expect(balancedAccuracy(yTrue, yPred, k)).toBe(expected);
  });
});

describe('argmax predictions', () => {
  it('takes the largest probability, the lowest index on a tie', () => {
    expect(argmaxPredictions([[0.2, 0.8], [0.5, 0.5], [0.1, 0.3, 0.3], [0.7, 0.2, 0.1]])).toEqual([1, 0, 1, 0]);
  });

  it('rejects a non-finite probability naming the row and index', () => {
    expect(() => argmaxPredictions([[0.2, 0.8], [0.5, NaN]])).toThrow('probabilities of row 1 must be finite numbers; index 1 is NaN');
  });
});
