/**
 * Metrics on hard predictions: accuracy, confusion matrix, per-class precision/recall/F1, balanced
 * accuracy. Labels and predictions are class indices 0..nClasses-1. Definitions follow
 * scikit-learn (accuracy_score, confusion_matrix, precision_recall_fscore_support with
 * zero_division=0, balanced_accuracy_score); the spec compares them with a scikit-learn fixture.
 */
import { MetricsInputError, assertFinite, assertLabels, assertSameLength } from './errors';

/** Precision, recall and F1 of one class, one-vs-rest, with its support (true count). */
export interface ClassMetrics {
  precision: number;
  recall: number;
  f1: number;
  support: number;
}

/** Fraction of predictions equal to the label. */
export function accuracy(yTrue: ArrayLike<number>, yPred: ArrayLike<number>): number {
  assertSameLength(yTrue, yPred, 'labels', 'predictions');
  if (yTrue.length === 0) throw new MetricsInputError('labels are empty');
  let hits = 0;
  for (let i = 0; i < yTrue.length; i++) if (yTrue[i] === yPred[i]) hits++;
  return hits / yTrue.length;
}

/**
 * Confusion matrix as in scikit-learn: `cm[t][p]` counts examples of true class t predicted as p
 * (rows are true classes, columns predicted classes).
 */
export function confusionMatrix(yTrue: ArrayLike<number>, yPred: ArrayLike<number>, nClasses: number): number[][] {
  assertSameLength(yTrue, yPred, 'labels', 'predictions');
  assertLabels(yTrue, nClasses, 'labels');
  assertLabels(yPred, nClasses, 'predictions');
  const cm = Array.from({ length: nClasses }, () => new Array<number>(nClasses).fill(0));
  for (let i = 0; i < yTrue.length; i++) cm[yTrue[i]][yPred[i]]++;
  return cm;
}

/**
 * Per-class precision = tp/(tp+fp), recall = tp/(tp+fn), F1 = 2tp/(2tp+fp+fn), each one-vs-rest.
 * A 0/0 ratio is 0, as scikit-learn with `zero_division=0` (a class never predicted has precision
 * 0; a class absent from the labels has recall 0 and support 0).
 */
export function perClassFromConfusion(cm: number[][]): ClassMetrics[] {
  const k = cm.length;
  const out: ClassMetrics[] = [];
  for (let c = 0; c < k; c++) {
    const tp = cm[c][c];
    let support = 0;
    let predicted = 0;
    for (let j = 0; j < k; j++) {
      support += cm[c][j];
      predicted += cm[j][c];
    }
    const fp = predicted - tp;
    const fn = support - tp;
    out.push({
      precision: ratio(tp, tp + fp),
      recall: ratio(tp, tp + fn),
      f1: ratio(2 * tp, 2 * tp + fp + fn),
      support,
    });
  }
  return out;
}

/** Per-class precision, recall, F1 and support from labels and predictions (see perClassFromConfusion). */
export function perClassMetrics(yTrue: ArrayLike<number>, yPred: ArrayLike<number>, nClasses: number): ClassMetrics[] {
  return perClassFromConfusion(confusionMatrix(yTrue, yPred, nClasses));
}

/**
 * Balanced accuracy: the mean recall over the classes present in the labels (scikit-learn
 * balanced_accuracy_score, adjusted=False; a class with no true examples is left out of the mean,
 * as scikit-learn does after its warning).
 */
export function balancedAccuracyFromConfusion(cm: number[][]): number {
  let sum = 0;
  let present = 0;
  for (let c = 0; c < cm.length; c++) {
    let support = 0;
    for (let j = 0; j < cm.length; j++) support += cm[c][j];
    if (support === 0) continue;
    sum += cm[c][c] / support;
    present++;
  }
  if (present === 0) throw new MetricsInputError('labels are empty');
  return sum / present;
}

/** Balanced accuracy from labels and predictions (see balancedAccuracyFromConfusion). */
export function balancedAccuracy(yTrue: ArrayLike<number>, yPred: ArrayLike<number>, nClasses: number): number {
  return balancedAccuracyFromConfusion(confusionMatrix(yTrue, yPred, nClasses));
}

/**
 * Predicted class per row: the index of the largest probability; on a tie the lowest index wins
 * (numpy argmax). For two classes given as [1 - s, s] this predicts class 1 iff s > 0.5.
 */
export function argmaxPredictions(probs: ReadonlyArray<ArrayLike<number>>): number[] {
  const out = new Array<number>(probs.length);
  for (let i = 0; i < probs.length; i++) {
    const row = probs[i];
    if (row.length === 0) throw new MetricsInputError(`probability row ${i} is empty`);
    assertFinite(row, `probabilities of row ${i}`);
    let best = 0;
    for (let c = 1; c < row.length; c++) if (row[c] > row[best]) best = c;
    out[i] = best;
  }
  return out;
}

function ratio(num: number, den: number): number {
  return den === 0 ? 0 : num / den;
}
