/**
 * Everything the study reports for one classifier job, from labels, class names and per-class
 * probabilities: accuracy, AUC, balanced accuracy, confusion matrix, per-class precision/recall/F1,
 * ROC curves; and bootstrap confidence intervals of the headline numbers.
 *
 * Conventions: labels are indices into `classNames`; `probs[i][c]` is the probability of class c
 * for example i; the prediction is the argmax (lowest index on a tie). With two classes the
 * positive class is classNames[1] (the study passes class names in sorted order, so "malignant"
 * after "benign") and `auc` is the binary AUC of its probability; with more, `auc` is the macro
 * one-vs-rest AUC.
 */
import {
  ClassMetrics,
  accuracy,
  argmaxPredictions,
  balancedAccuracyFromConfusion,
  confusionMatrix,
  perClassFromConfusion,
} from './classification';
import { MetricsInputError, assertFinite, assertLabels, assertSameLength } from './errors';
import { RocCurve, column, oneVsRest, ovrAucPerClass, rocAuc, rocCurve } from './roc';
import { BootstrapOptions, ConfidenceInterval, bootstrapResamples, percentileCi } from './stats';

export interface EvaluationInput {
  /** True class index of each example. */
  labels: ArrayLike<number>;
  /** Class names, index = class index; at least two, distinct. */
  classNames: readonly string[];
  /** Per-example probabilities, one value per class. */
  probs: ReadonlyArray<ArrayLike<number>>;
}

export interface Evaluation {
  classNames: string[];
  /** Number of examples. */
  n: number;
  /** Binary: classNames[1], whose probability `auc` ranks; null with more than two classes. */
  positiveClass: string | null;
  aucMethod: 'binary' | 'macro-ovr';
  accuracy: number;
  auc: number;
  balancedAccuracy: number;
  /** Unweighted mean of the per-class F1. */
  macroF1: number;
  /** Rows true class, columns predicted class, in classNames order. */
  confusionMatrix: number[][];
  perClass: Record<string, ClassMetrics>;
  /** One-vs-rest AUC per class (more than two classes only; null for binary). */
  aucPerClass: Record<string, number> | null;
  /** Binary: one curve, for the positive class. More classes: one one-vs-rest curve per class. */
  rocCurves: Record<string, RocCurve>;
}

function checkInput(input: EvaluationInput): number {
  const { labels, classNames, probs } = input;
  const k = classNames.length;
  if (k < 2) throw new MetricsInputError(`need at least two class names, got ${JSON.stringify(classNames)}`);
  const seen = new Set<string>();
  for (const name of classNames) {
    if (seen.has(name)) throw new MetricsInputError(`class name '${name}' appears twice in ${JSON.stringify(classNames)}`);
    seen.add(name);
  }
  assertSameLength(labels, probs, 'labels', 'probability rows');
  assertLabels(labels, k);
  for (let i = 0; i < probs.length; i++) {
    if (probs[i].length !== k) {
      throw new MetricsInputError(`probability row ${i} has ${probs[i].length} values, expected ${k} (one per class)`);
    }
    assertFinite(probs[i], `probabilities of row ${i}`);
  }
  return k;
}

function aucOf(labels: ArrayLike<number>, probs: ReadonlyArray<ArrayLike<number>>, k: number): number {
  if (k === 2) return rocAuc(labels, column(probs, 1));
  const per = ovrAucPerClass(labels, probs, k);
  return per.reduce((a, b) => a + b, 0) / k;
}

/** Evaluates one classifier's probabilities. Throws MetricsInputError on bad input (see module doc). */
export function evaluate(input: EvaluationInput): Evaluation {
  const k = checkInput(input);
  const { labels, classNames, probs } = input;
  const preds = argmaxPredictions(probs);
  const cm = confusionMatrix(labels, preds, k);
  const per = perClassFromConfusion(cm);
  const perClass: Record<string, ClassMetrics> = {};
  per.forEach((m, c) => (perClass[classNames[c]] = m));
  const rocCurves: Record<string, RocCurve> = {};
  let auc: number;
  let aucPerClass: Record<string, number> | null = null;
  if (k === 2) {
    auc = rocAuc(labels, column(probs, 1));
    rocCurves[classNames[1]] = rocCurve(labels, column(probs, 1));
  } else {
    const aucs = ovrAucPerClass(labels, probs, k);
    auc = aucs.reduce((a, b) => a + b, 0) / k;
    aucPerClass = {};
    for (let c = 0; c < k; c++) {
      aucPerClass[classNames[c]] = aucs[c];
      rocCurves[classNames[c]] = rocCurve(oneVsRest(labels, c), column(probs, c));
    }
  }
  return {
    classNames: [...classNames],
    n: labels.length,
    positiveClass: k === 2 ? classNames[1] : null,
    aucMethod: k === 2 ? 'binary' : 'macro-ovr',
    accuracy: accuracy(labels, preds),
    auc,
    balancedAccuracy: balancedAccuracyFromConfusion(cm),
    macroF1: per.reduce((a, m) => a + m.f1, 0) / k,
    confusionMatrix: cm,
    perClass,
    aucPerClass,
    rocCurves,
  };
}

/** Bootstrap intervals of the headline metrics of one evaluation. */
export interface EvaluationCis {
  accuracy: ConfidenceInterval;
  auc: ConfidenceInterval;
  balancedAccuracy: ConfidenceInterval;
  macroF1: ConfidenceInterval;
}

/**
 * Bootstrap percentile CIs of accuracy, AUC, balanced accuracy and macro F1: examples resampled
 * with replacement (not stratified). Resamples where AUC is undefined (a class missing) are skipped
 * for AUC and counted in `skipped`. All four metrics use the same resamples.
 */
export function bootstrapEvaluation(input: EvaluationInput, options: Partial<BootstrapOptions> = {}): EvaluationCis {
  const k = checkInput(input);
  const { labels, probs } = input;
  const n = labels.length;
  const preds = argmaxPredictions(probs);
  const { draws, options: o } = bootstrapResamples(n, options);
  const fromDraws = (stat: (idx: Int32Array) => number): ConfidenceInterval => percentileCi(draws.map(stat), o.confidence);
  const cmOf = (idx: Int32Array): number[][] => {
    const cm = Array.from({ length: k }, () => new Array<number>(k).fill(0));
    for (const i of idx) cm[labels[i]][preds[i]]++;
    return cm;
  };
  return {
    accuracy: fromDraws((idx) => {
      let hits = 0;
      for (const i of idx) if (labels[i] === preds[i]) hits++;
      return hits / idx.length;
    }),
    auc: fromDraws((idx) => {
      const y = Array.from(idx, (i) => labels[i]);
      const counts = new Array<number>(k).fill(0);
      for (const v of y) counts[v]++;
      if (counts.some((c) => c === 0)) return NaN;
      return aucOf(y, Array.from(idx, (i) => probs[i]), k);
    }),
    balancedAccuracy: fromDraws((idx) => balancedAccuracyFromConfusion(cmOf(idx))),
    macroF1: fromDraws((idx) => perClassFromConfusion(cmOf(idx)).reduce((a, m) => a + m.f1, 0) / k),
  };
}
