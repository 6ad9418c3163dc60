/**
 * ROC analysis on scores: exact binary ROC AUC, ROC curve points, and macro one-vs-rest AUC for
 * more than two classes.
 *
 * AUC is the Mann-Whitney statistic: the probability that a random positive scores above a random
 * negative, a tie counting 1/2. It is computed exactly from mid-ranks, O(n log n), and equals the
 * trapezoidal area under the ROC curve (scikit-learn roc_auc_score).
 */
import { MetricsInputError, assertFinite, assertLabels, assertSameLength, assertTwoClassesPresent } from './errors';

/** ROC curve points, highest threshold first. */
export interface RocCurve {
  /** False positive rate at each threshold, non-decreasing, from 0 to 1. */
  fpr: number[];
  /** True positive rate at each threshold, non-decreasing, from 0 to 1. */
  tpr: number[];
  /**
   * Scores at which the points are taken (predict positive iff score >= threshold), decreasing.
   * The first is +Infinity (the (0, 0) point), as in scikit-learn >= 1.3 (older versions wrote
   * max score + 1). JSON.stringify writes it as null.
   */
  thresholds: number[];
}

function checkBinary(yTrue: ArrayLike<number>, scores: ArrayLike<number>): void {
  assertSameLength(yTrue, scores, 'labels', 'scores');
  assertLabels(yTrue, 2);
  assertTwoClassesPresent(yTrue);
  assertFinite(scores, 'scores');
}

/** Indices 0..n-1 sorted by score, ascending. */
function orderBy(scores: ArrayLike<number>): number[] {
  const idx = Array.from({ length: scores.length }, (_, i) => i);
  idx.sort((a, b) => scores[a] - scores[b]);
  return idx;
}

/**
 * Binary ROC AUC of scores for the positive class (label 1) against label 0, ties counted 1/2.
 * Throws if lengths differ, a label is not 0/1, only one class is present, or a score is not finite.
 */
export function rocAuc(yTrue: ArrayLike<number>, scores: ArrayLike<number>): number {
  checkBinary(yTrue, scores);
  const n = yTrue.length;
  const order = orderBy(scores);
  // Sum of mid-ranks (1-based) of the positives; a tie group of ranks r+1..r+g gets r + (g+1)/2.
  let rankSumPos = 0;
  let nPos = 0;
  for (let start = 0; start < n; ) {
    let end = start + 1;
    while (end < n && scores[order[end]] === scores[order[start]]) end++;
    const midRank = (start + 1 + end) / 2;
    for (let j = start; j < end; j++) {
      if (yTrue[order[j]] === 1) {
        rankSumPos += midRank;
        nPos++;
      }
    }
    start = end;
  }
  const nNeg = n - nPos;
  const u = rankSumPos - (nPos * (nPos + 1)) / 2;
  return u / (nPos * nNeg);
}

/**
 * ROC curve as scikit-learn `roc_curve(y, s, drop_intermediate=False)`: one point per distinct
 * score, plus the (0, 0) start.
 */
export function rocCurve(yTrue: ArrayLike<number>, scores: ArrayLike<number>): RocCurve {
  checkBinary(yTrue, scores);
  const n = yTrue.length;
  const order = orderBy(scores).reverse();
  let nPos = 0;
  for (let i = 0; i < n; i++) nPos += yTrue[i];
  const nNeg = n - nPos;
  const fpr = [0];
  const tpr = [0];
  const thresholds = [Infinity];
  let tp = 0;
  let fp = 0;
  for (let start = 0; start < n; ) {
    const s = scores[order[start]];
    let end = start;
    while (end < n && scores[order[end]] === s) {
      if (yTrue[order[end]] === 1) tp++;
      else fp++;
      end++;
    }
    fpr.push(fp / nNeg);
    tpr.push(tp / nPos);
    thresholds.push(s);
    start = end;
  }
  return { fpr, tpr, thresholds };
}

/** Binary labels for class c against the rest: 1 where label === c. */
export function oneVsRest(labels: ArrayLike<number>, c: number): number[] {
  return Array.from(labels, (y) => (y === c ? 1 : 0));
}

/** Column c of a row-major probability table. */
export function column(probs: ReadonlyArray<ArrayLike<number>>, c: number): number[] {
  return probs.map((row) => row[c]);
}

function checkProbs(labels: ArrayLike<number>, probs: ReadonlyArray<ArrayLike<number>>, nClasses: number): void {
  assertSameLength(labels, probs, 'labels', 'probability rows');
  assertLabels(labels, nClasses);
  for (let i = 0; i < probs.length; i++) {
    if (probs[i].length !== nClasses) {
      throw new MetricsInputError(`probability row ${i} has ${probs[i].length} values, expected ${nClasses} (one per class)`);
    }
    assertFinite(probs[i], `probabilities of row ${i}`);
  }
}

/**
 * One-vs-rest AUC of each class: class c's probability column against (label === c). Throws if a
 * class has no examples (or every example), since its AUC is undefined, as scikit-learn does.
 */
export function ovrAucPerClass(labels: ArrayLike<number>, probs: ReadonlyArray<ArrayLike<number>>, nClasses: number): number[] {
  checkProbs(labels, probs, nClasses);
  const out: number[] = [];
  for (let c = 0; c < nClasses; c++) {
    const y = oneVsRest(labels, c);
    const pos = y.reduce((a, b) => a + b, 0);
    if (pos === 0 || pos === y.length) {
      throw new MetricsInputError(
        `one-vs-rest AUC of class ${c} is undefined: ${pos === 0 ? 'no label is' : 'every label is'} class ${c}`,
      );
    }
    out.push(rocAuc(y, column(probs, c)));
  }
  return out;
}

/**
 * Macro one-vs-rest AUC: the unweighted mean of the per-class one-vs-rest AUCs, as scikit-learn
 * `roc_auc_score(y, P, multi_class='ovr', average='macro')`. Unlike scikit-learn, rows are not
 * required to sum to 1 (each class's AUC only ranks its own column).
 */
export function macroOvrAuc(labels: ArrayLike<number>, probs: ReadonlyArray<ArrayLike<number>>, nClasses: number): number {
  const per = ovrAucPerClass(labels, probs, nClasses);
  return per.reduce((a, b) => a + b, 0) / per.length;
}
